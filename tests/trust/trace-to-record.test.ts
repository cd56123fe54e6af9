import type { Bundle } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { loadFhirDefinitions } from '../../src/contract/definitions.js';
import { structuralIssues } from '../../src/gates/evaluate.js';
import { loadProfiles } from '../../src/gates/load-profiles.js';
import { traceToRecord } from '../../src/pipeline/process-record.js';
import type { PathwayRecord } from '../../src/records/index.js';
import { fixture } from '../harness.js';

/**
 * Issue 11 kind 2: were a record ever to map to invalid FHIR (the schema follows FHIR's types, so none is
 * known to), the answer names the record's field, traced from the failing FHIR element — never a 500.
 */
describe('a FHIR element that fails base R4 is traced back to the record field it came from', () => {
  loadFhirDefinitions();
  const profiles = loadProfiles();

  it('names followUpAction.due for a Task due time FHIR refuses, and never peerNotes', () => {
    const record = fixture('early-engagement', 'trace-1', (r) => {
      r.followUpAction.due = '2026-11-18T10:00:00+15:00';
      r.peerNotes = '2026-11-18T10:00:00+15:00';
    }) as PathwayRecord & { followUpAction: { due: string } };
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: {
            resourceType: 'Task',
            status: 'requested',
            intent: 'order',
            restriction: { period: { end: record.followUpAction.due } },
          },
          request: { method: 'POST', url: 'Task' },
        },
      ],
    };
    const structural = structuralIssues(bundle, profiles);
    expect(structural.length).toBeGreaterThan(0);
    const issues = traceToRecord(structural, bundle, record);
    expect(issues.flatMap((i) => i.expression ?? [])).toEqual(['followUpAction.due']);
    expect(issues[0]?.details?.coding?.[0]?.code).toBe('mapping-invalid');
  });
});
