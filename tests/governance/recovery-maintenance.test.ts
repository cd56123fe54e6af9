import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StructureDefinition, Task } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import type { Facts } from '../../src/governance/digest.js';
import type { Case, PeerContact, PersonEvent, RecoveryMaintenanceFacts, TaskFacts } from '../../src/governance/facts.js';
import { recoveryMaintenance } from '../../src/governance/measures/recovery-maintenance.js';
import { escalationRouteGates } from '../../src/governance/measures/role-integrity.js';

/** Hand-made facts, one small case each (spec §3.6 governance): the measure's windows and "instead" rule. */
const c = (ref: string, value = `${ref.split('/')[1]}/careplan`): Case => ({ reference: ref, identifier: { system: 'urn:test', value } });
/** A record `id`'s CarePlan (identifier `<id>/careplan`). */
const plan = (id: string, patient: string, startDate: string, missedCheckIns = 0, recorded = startDate): RecoveryMaintenanceFacts => ({
  case: c(`CarePlan/${id}`),
  pathway: 'recovery-maintenance',
  patient,
  startDate,
  recorded,
  hasEscalationRoute: true,
  missedCheckIns,
});
/** Record `record`'s re-entry review, raised on `authored` and (when completed) completed on `at`. */
const reEntry = (
  id: string,
  record: string,
  patient: string,
  status: Task['status'],
  at: string,
  authored = at.slice(0, 10),
): TaskFacts => ({
  case: c(`Task/${id}`, `${record}/task/re-entry-review/2026-01-01`),
  task: { resourceType: 'Task', status, intent: 'order' },
  code: 're-entry-review',
  patient,
  authored,
  actedAt: at,
  ...(status === 'completed' ? { completed: at.slice(0, 10) } : {}),
});
const event = (ref: string, patient: string, date: string): PersonEvent => ({ patient, date, case: c(ref) });
/** A finished peer contact on a day. */
const contact = (ref: string, patient: string, date: string): PeerContact => ({
  ...event(ref, patient, date),
  start: date,
  finished: true,
});

function facts(part: Partial<Facts>): Facts {
  return { recoveryMaintenance: [], tasks: [], crisisEvents: new Map(), peerContacts: new Map(), ...part } as unknown as Facts;
}

const period = { start: '2026-01-01', end: '2026-01-31', timeZone: 'UTC' };
const today = '2026-12-31';

function counts(result: ReturnType<typeof recoveryMaintenance>, group: string) {
  const g = result.groups.find((x) => x.code === group);
  return Object.fromEntries((g?.populations ?? []).map((p) => [p.code, p.cases.length]));
}

describe('recovery-maintenance measure', () => {
  it('re-entered through the route within 90 days: a completed re-entry review on day 90 counts, day 91 and an accepted one do not', () => {
    const result = recoveryMaintenance({
      today,
      period,
      facts: facts({
        recoveryMaintenance: [
          plan('a', 'Patient/a', '2026-01-01'),
          plan('b', 'Patient/b', '2026-01-01'),
          plan('c', 'Patient/c', '2026-01-01'),
          plan('out', 'Patient/d', '2026-02-01'),
        ],
        tasks: [
          reEntry('ta', 'a', 'Patient/a', 'completed', '2026-04-01T10:00:00Z'),
          reEntry('tb', 'b', 'Patient/b', 'completed', '2026-04-02T10:00:00Z'),
          reEntry('tc', 'c', 'Patient/c', 'accepted', '2026-01-05T10:00:00Z'),
        ],
      }),
    });
    expect(counts(result, 're-entered-90-days')).toMatchObject({
      'initial-population': 3,
      denominator: 3,
      'denominator-exclusion': 0,
      numerator: 1,
    });
  });

  it("re-entry is the record's own review, dated by its completion: another record of the same person, or a review raised early but completed on day 181, does not count", () => {
    const result = recoveryMaintenance({
      today,
      period,
      facts: facts({
        recoveryMaintenance: [
          plan('a', 'Patient/same', '2026-01-01'),
          plan('b', 'Patient/same', '2026-01-01'),
          plan('k', 'Patient/k', '2026-01-01'),
        ],
        tasks: [
          reEntry('ta', 'a', 'Patient/same', 'completed', '2026-01-20T10:00:00Z'),
          // Raised on day 1, completed on day 181: not re-entered within 90 days.
          reEntry('tk', 'k', 'Patient/k', 'completed', '2026-07-01T10:00:00Z', '2026-01-02'),
        ],
      }),
    });
    expect(counts(result, 're-entered-90-days')).toMatchObject({ denominator: 3, numerator: 1 });
    expect(result.evidence.map((e) => e.reference)).toEqual(['Task/ta']);
  });

  it('crisis re-contact instead: only when no completed re-entry review came before it', () => {
    const result = recoveryMaintenance({
      today,
      period,
      facts: facts({
        recoveryMaintenance: [plan('a', 'Patient/a', '2026-01-01'), plan('b', 'Patient/b', '2026-01-01')],
        tasks: [reEntry('tb', 'b', 'Patient/b', 'completed', '2026-01-10T10:00:00Z')],
        crisisEvents: new Map([
          ['Patient/a', [event('Encounter/ca', 'Patient/a', '2026-02-01')]],
          ['Patient/b', [event('Encounter/cb', 'Patient/b', '2026-02-01')]],
        ]),
      }),
    });
    expect(counts(result, 'crisis-instead-90-days')).toMatchObject({ denominator: 2, numerator: 1 });
    expect(result.evidence.map((e) => e.reference)).toEqual(expect.arrayContaining(['Encounter/ca', 'Task/tb']));
    expect(result.evidence.map((e) => e.reference)).not.toContain('Encounter/cb');
  });

  it('missed check-ins followed by a completed check-in within 14 days; an open window with no check-in yet is excluded', () => {
    const result = recoveryMaintenance({
      today: '2026-01-20',
      period,
      facts: facts({
        recoveryMaintenance: [
          plan('a', 'Patient/a', '2025-12-01', 2, '2026-01-02'),
          plan('b', 'Patient/b', '2025-12-01', 3, '2026-01-02'),
          plan('c', 'Patient/c', '2025-12-01', 2, '2026-01-15'),
          plan('none', 'Patient/e', '2025-12-01', 0, '2026-01-02'),
        ],
        peerContacts: new Map([
          ['Patient/a', [contact('Encounter/pa', 'Patient/a', '2026-01-16')]],
          ['Patient/b', [contact('Encounter/pb', 'Patient/b', '2026-01-17')]],
        ]),
      }),
    });
    expect(counts(result, 'check-in-after-missed-14-days')).toMatchObject({ denominator: 3, 'denominator-exclusion': 1, numerator: 1 });
  });
});

describe('role integrity: records without an escalation route', () => {
  it("counts the escalation-route gate of every pathway profile (recovery-maintenance's rm-escalation-route included)", () => {
    const dir = join(import.meta.dirname, '../../profiles');
    const keys = readdirSync(dir)
      .filter((f) => f.endsWith('-bundle.json'))
      .flatMap(
        (f) =>
          (JSON.parse(readFileSync(join(dir, f), 'utf8')) as StructureDefinition).differential?.element.flatMap(
            (e) => e.constraint ?? [],
          ) ?? [],
      )
      .map((c) => c.key as string)
      .filter((k) => /escalation-(route|instructions)$/.test(k));
    expect(keys).toContain('rm-escalation-route');
    expect([...escalationRouteGates].sort()).toEqual([...new Set(keys)].sort());
  });
});
