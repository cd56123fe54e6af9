import type { Resource, Task } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/config/mappings.js';
import { loadFhirDefinitions } from '../../src/contract/definitions.js';
import { collectReferences, type Resolution } from '../../src/fhir/lookup/resolve.js';
import { loadProfiles, type Profile } from '../../src/gates/load-profiles.js';
import { slotFullUrl } from '../../src/contract/identity.js';
import { assess, mapOnce } from '../../src/pipeline/process-record.js';
import { parseRecord, pathwayCodes } from '../../src/records/index.js';
import { fixture } from '../harness.js';

/** The pure core in process: no server, the lookups made by hand (each literal reference resolves to itself). */
const peerRoles = ['PractitionerRole/example-peer'];
let profiles: Map<string, Profile>;
beforeAll(() => {
  loadFhirDefinitions();
  profiles = loadProfiles();
});

function resolutionOf(record: unknown): Resolution {
  return {
    resolved: new Map(
      collectReferences(record).map(({ path, ref }) => [
        path,
        { literal: ref.reference as string, resource: { resourceType: ref.reference?.split('/')[0] } as Resource },
      ]),
    ),
    problems: [],
    unresolved: [],
    peerRoles,
  };
}

function parsed(name: string) {
  const result = parseRecord(fixture(name));
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.record;
}

describe('assess: the pure core (record, lookups, site, profiles) → verdict, plan, bundle', () => {
  for (const pathway of pathwayCodes) {
    it(`${pathway}: the example is accepted, and assessing twice gives byte-identical Bundles`, () => {
      const record = parsed(pathway);
      const lookups = { resolution: resolutionOf(record), existing: new Map<string, Resource>() };
      const mappings = loadMappings();
      const first = assess(mapOnce(record, lookups.resolution, mappings), lookups, profiles);
      const second = assess(mapOnce(record, lookups.resolution, mappings), lookups, profiles);
      expect(first.blockers).toEqual([]);
      expect(JSON.stringify(first.bundle)).toBe(JSON.stringify(second.bundle));
      expect(first.plan.every((p) => p.action === 'create')).toBe(true);
    });
  }

  it('a resend: references to slots already written point at their Type/id, without mapping again', () => {
    const record = parsed('recovery-maintenance');
    const resolution = resolutionOf(record);
    const mapped = mapOnce(record, resolution, loadMappings());
    const urn = slotFullUrl(record.source.system, record.recordId, 'careplan');
    const existing = new Map<string, Resource>([
      [
        'careplan',
        { resourceType: 'CarePlan', id: 'cp-1', status: 'active', intent: 'plan', subject: { reference: 'Patient/example-person' } },
      ],
    ]);
    const ev = assess(mapped, { resolution, existing }, profiles);
    const review = ev.bundle.entry
      ?.map((e) => e.resource)
      .find((r): r is Task => r?.resourceType === 'Task' && r.code?.coding?.[0]?.code === 're-entry-review');
    expect(review?.focus?.reference).toBe('CarePlan/cp-1');
    expect(JSON.stringify(ev.bundle)).not.toContain(urn);
    // The mapping itself was not changed: it still names the CarePlan by its urn:uuid.
    expect(JSON.stringify(mapped.resources)).toContain(urn);
  });
});
