import type { Task } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFollowUpConfig } from '../../src/config/followup.js';
import { loadMappings } from '../../src/config/mappings.js';
import { loadFhirDefinitions } from '../../src/contract/definitions.js';
import { escalationTask, type FollowUpRules } from '../../src/followup/escalation.js';
import { taskOrigin } from '../../src/followup/task-origin.js';
import { loadProfiles, type Profile } from '../../src/gates/load-profiles.js';
import { assessFollowUp, evaluationIssues } from '../../src/pipeline/process-record.js';
import { profileUrl, systems } from '../../src/contract/vocabulary.js';

/** The pure core judges the overdue escalation's Task as it judges a record's Tasks: same profiles, same gates. */
let profiles: Map<string, Profile>;
let rules: FollowUpRules;
const peer = 'PractitionerRole/example-peer';

beforeAll(() => {
  loadFhirDefinitions();
  profiles = loadProfiles();
  const { site, codes } = loadMappings();
  rules = { site, codes, escalation: loadFollowUpConfig().escalation, profiles };
});

/** A clinical review the peer raised, overdue: what the escalation job reads back from the server. */
const first: Task = {
  resourceType: 'Task',
  id: 'first-review',
  meta: { versionId: '1', profile: [profileUrl('peer-pathway-task')] },
  identifier: [{ system: 'urn:example:peer-platform', value: 'esc-core/task/safety-review' }],
  status: 'requested',
  intent: 'order',
  code: { coding: [{ system: systems.pathway, code: 'clinical-review' }] },
  for: { reference: 'Patient/example-person' },
  requester: { reference: peer },
  restriction: { period: { end: '2026-12-03T10:00:00Z' } },
};

const codesOf = (issues: { details?: { coding?: { code?: string }[] } }[]) =>
  issues.flatMap((i) => i.details?.coding?.map((c) => c.code) ?? []);

describe('assessFollowUp: the escalation Task through the pure core', () => {
  const now = new Date('2026-12-03T12:00:00Z');

  it('an escalation owned by the on-call route passes the Task profile and its gates, peer-not-clinical-owner among them', () => {
    const task = escalationTask(first, taskOrigin(first)!, now, rules);
    const verdict = assessFollowUp([task], { resolution: { problems: [], peerRoles: [peer] } }, profiles);
    expect(verdict.blockers).toEqual([]);
    expect(verdict.gates.map((g) => g.key)).toContain('peer-not-clinical-owner');
    expect(codesOf(evaluationIssues(verdict))).toContain('peer-not-clinical-owner');
  });

  it("owned by a peer role, it is blocked by peer-not-clinical-owner, as a record's Task would be", () => {
    const task = { ...escalationTask(first, taskOrigin(first)!, now, rules), owner: { reference: peer } };
    const verdict = assessFollowUp([task], { resolution: { problems: [], peerRoles: [peer] } }, profiles);
    expect(codesOf(verdict.blockers)).toEqual(expect.arrayContaining(['gate-failed', 'peer-not-clinical-owner']));
  });

  it('a Task the Task profile refuses (no intent, a status FHIR does not know) is blocked before any gate', () => {
    const { intent: _intent, ...broken } = escalationTask(first, taskOrigin(first)!, now, rules);
    const verdict = assessFollowUp(
      [{ ...broken, status: 'overdue' } as unknown as Task],
      { resolution: { problems: [], peerRoles: [peer] } },
      profiles,
    );
    expect(verdict.blockers.length).toBeGreaterThan(0);
    expect(verdict.gates).toEqual([]);
  });
});
