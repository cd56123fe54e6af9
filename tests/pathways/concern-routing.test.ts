import type { CarePlan, Communication, Encounter, Resource, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedGates, fixture, startTestService, type TestService } from '../harness.js';

const pathway = 'http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway';
const sd = 'http://peer-pathways.example.org/fhir/StructureDefinition/';
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.close();
});

const record = (id: string, change?: (r: any) => void): any => fixture('concern-routing', id, change);

/** Every Communication written for a record, found as an EHR would: by the person. */
async function communicationsOf(recordId: string): Promise<Communication[]> {
  return (await svc.fhir<Communication>('Communication?subject=Patient/example-person&_count=500')).filter((c) =>
    c.identifier?.[0]?.value?.startsWith(`${recordId}/`),
  );
}

const extValue = (r: { extension?: any[] } | undefined, url: string) => r?.extension?.find((e) => e.url === url);
const hours = (from: string, to: string | undefined) => (Date.parse(to ?? '') - Date.parse(from)) / 3_600_000;

describe('concern-routing: the opening case (quieter, missed group, sleeping in their car)', () => {
  it('is written whole: one clinical-review and one care-coordination-review Task, each with one Communication', async () => {
    const res = await svc.post(record('cr-e2e-1'));
    expect(res.status).toBe(201);
    expect(res.body.outcome).toBe('created');
    expect(res.body.tasks.map((t: any) => t.code).sort()).toEqual(['care-coordination-review', 'clinical-review']);

    const clinical = (
      await svc.fhir<Task>(
        `Task?code=${encodeURIComponent(`${pathway}|clinical-review`)}&owner=PractitionerRole/example-clinician&status=requested`,
      )
    ).filter((t) => t.identifier?.[0]?.value?.startsWith('cr-e2e-1/'));
    expect(clinical).toHaveLength(1);
    expect(clinical[0]?.priority).toBe('urgent');
    expect(hours('2026-11-21T11:00:00Z', clinical[0]?.restriction?.period?.end)).toBe(24);
    expect(clinical[0]?.reasonCode?.coding?.map((c) => c.code)).toEqual(['clinical-deterioration']);
    expect(clinical[0]?.description).toContain('Much quieter than usual');
    expect(clinical[0]?.requester?.reference).toBe('PractitionerRole/example-peer');

    const coordination = (
      await svc.fhir<Task>(
        `Task?code=${encodeURIComponent(`${pathway}|care-coordination-review`)}&owner=PractitionerRole/example-case-manager`,
      )
    ).filter((t) => t.identifier?.[0]?.value?.startsWith('cr-e2e-1/'));
    expect(coordination).toHaveLength(1);
    expect(coordination[0]?.priority).toBe('routine');
    expect(hours('2026-11-21T11:00:00Z', coordination[0]?.restriction?.period?.end)).toBe(72);
    expect(coordination[0]?.description).toContain('sleeping in their car');

    const comms = await communicationsOf('cr-e2e-1');
    expect(comms.map((c) => c.identifier?.[0]?.value).sort()).toEqual([
      'cr-e2e-1/communication/care-coordination-review',
      'cr-e2e-1/communication/clinical-review',
    ]);
    const toTeam = comms.find((c) => c.identifier?.[0]?.value?.endsWith('/clinical-review'));
    expect(toTeam?.recipient?.[0]?.reference).toBe('CareTeam/example-outpatient-team');
    expect(extValue(toTeam, `${sd}recipient-kind`)?.valueCoding?.code).toBe('care-team');
    expect(toTeam?.payload?.map((p) => extValue(p, `${sd}information-category`)?.valueCoding?.code)).toEqual(['clinical-concerns']);
    const toCaseManager = comms.find((c) => c.identifier?.[0]?.value?.endsWith('/care-coordination-review'));
    expect(toCaseManager?.recipient?.[0]?.reference).toBe('PractitionerRole/example-case-manager');
    expect(toCaseManager?.payload?.map((p) => p.contentString)).toEqual(['Mentioned sleeping in their car this week.']);
  });

  it("records engagement and the person's awareness on one CarePlan, and the contact as an Encounter without reasons", async () => {
    await svc.post(record('cr-e2e-2'));
    const plan = await svc.one<CarePlan>('CarePlan', 'cr-e2e-2', 'careplan');
    expect(plan.category?.[1]?.coding?.[0]?.code).toBe('concern-routing');
    expect(extValue(plan, `${sd}escalation-route`)).toBeDefined();
    const engagement = extValue(plan, `${sd}engagement`);
    expect(engagement.extension).toEqual([
      { url: 'missedContacts', valueInteger: 1 },
      { url: 'lastEngagedAt', valueDateTime: '2026-11-12' },
    ]);
    const aware = extValue(plan, `${sd}person-aware`);
    expect(aware.extension).toEqual([
      { url: 'informed', valueBoolean: true },
      { url: 'agreesToSharing', valueBoolean: true },
    ]);
    expect(plan.partOf).toBeUndefined();
    const encounter = await svc.one<Encounter>('Encounter', 'cr-e2e-2', 'encounter/peer-contact/2026-11-21');
    expect(encounter.class?.code).toBe('AMB');
    expect(encounter.reasonCode).toBeUndefined();
  });
});

describe('concern-routing gates', () => {
  const cases: { key: string; pass: (r: any) => void; fail: (r: any) => void }[] = [
    {
      key: 'cr-transparent',
      pass: (r) => {
        r.personAware = { informed: true, agreesToSharing: true };
      },
      fail: (r) => {
        r.personAware = { informed: false, agreesToSharing: false };
      },
    },
    {
      key: 'cr-consent-aligned',
      pass: (r) => {
        r.consent.categories = ['clinical-concerns', 'housing'];
      },
      fail: (r) => {
        r.consent.categories = ['clinical-concerns'];
      },
    },
    {
      key: 'cr-escalation-route',
      pass: (r) => {
        r.escalationRoute.clinicalOwner = { reference: 'PractitionerRole/example-on-call' };
      },
      fail: (r) => {
        r.escalationRoute.clinicalOwner = { reference: 'PractitionerRole/example-peer' };
      },
    },
  ];

  for (const c of cases) {
    it(`${c.key}: passes when satisfied`, async () => {
      const res = await svc.post(record(`cr-${c.key}-pass`, c.pass));
      expect(res.status).toBe(201);
    });
    it(`${c.key}: blocks with 422 naming only that gate, and writes nothing routine`, async () => {
      const res = await svc.post(record(`cr-${c.key}-fail`, c.fail));
      expect(res.status).toBe(422);
      expect(failedGates(res.body)).toEqual([c.key]);
      const gateIssue = res.body.issue.find((i: any) => i.severity === 'error');
      expect(gateIssue.diagnostics).toContain(c.key);
      expect(gateIssue.details.text.length).toBeGreaterThan(20);
      expect(await svc.bySlot('CarePlan', `cr-${c.key}-fail`, 'careplan')).toHaveLength(0);
      expect(await svc.bySlot('Task', `cr-${c.key}-fail`, 'task/clinical-review')).toHaveLength(0);
      expect(await communicationsOf(`cr-${c.key}-fail`)).toHaveLength(0);
    });
  }

  it('cr-consent-aligned: sharing declined with a housing concern routed is blocked', async () => {
    const res = await svc.post(
      record('cr-declined-housing', (r) => {
        r.consent = { informationSharing: 'declined', categories: [], recipients: [] };
        r.concerns = [{ category: 'housing', summary: 'Sleeping in the car.' }];
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['cr-consent-aligned']);
  });

  it('cr-consent-aligned: the case manager not a consented recipient is blocked', async () => {
    const res = await svc.post(
      record('cr-no-case-manager', (r) => {
        r.consent.recipients = ['care-team'];
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['cr-consent-aligned']);
  });

  it('cr-escalation-route: a missing route is that gate, not a schema error', async () => {
    const res = await svc.post(
      record('cr-no-route', (r) => {
        delete r.escalationRoute;
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['cr-escalation-route']);
  });
});

describe('transparency and duty of care', () => {
  it('not informed but an immediate safety concern disclosed: accepted, the exception recorded on the Task', async () => {
    const res = await svc.post(
      record('cr-not-informed-safety', (r) => {
        r.personAware = { informed: false, agreesToSharing: false };
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-21T10:30:00Z' };
      }),
    );
    expect(res.status).toBe(201);
    for (const slot of ['task/clinical-review', 'task/care-coordination-review']) {
      const task = await svc.one<Task>('Task', 'cr-not-informed-safety', slot);
      expect(extValue(task, `${sd}transparency-exception`)?.valueBoolean).toBe(true);
    }
    const safety = await svc.one<Task>('Task', 'cr-not-informed-safety', 'task/safety-review');
    expect(safety.priority).toBe('stat');
    // The person did not agree to sharing: only the categories travel, never the summaries.
    const written = JSON.stringify([
      ...(await communicationsOf('cr-not-informed-safety')),
      ...(await svc.bySlot('Task', 'cr-not-informed-safety', 'task/clinical-review')),
    ]);
    expect(written).not.toContain('Much quieter');
    expect(written).not.toContain('sleeping in their car');
  });

  it('an informed person leaves no transparency exception', async () => {
    await svc.post(record('cr-informed'));
    const task = await svc.one<Task>('Task', 'cr-informed', 'task/clinical-review');
    expect(extValue(task, `${sd}transparency-exception`)).toBeUndefined();
  });

  it('a safety concern with consent declined is still routed, stat, with the duty-of-care exception and without its summary', async () => {
    const canary = 'SAFETY-CONCERN-CANARY-91b';
    const res = await svc.post(
      record('cr-safety-declined', (r) => {
        r.consent = { informationSharing: 'declined', categories: [], recipients: [] };
        r.concerns = [{ category: 'safety', summary: canary }];
      }),
    );
    expect(res.status).toBe(201);
    // One event, one Task (spec §4): the routed safety concern is the safety review, not a second stat Task.
    expect(await svc.bySlot('Task', 'cr-safety-declined', 'task/clinical-review')).toHaveLength(0);
    const task = await svc.one<Task>('Task', 'cr-safety-declined', 'task/safety-review');
    expect(task.priority).toBe('stat');
    expect(hours('2026-11-21T11:00:00Z', task.restriction?.period?.end)).toBe(1);
    expect(task.owner?.reference).toBe('PractitionerRole/example-clinician');
    expect(extValue(task, `${sd}duty-of-care-exception`)?.valueBoolean).toBe(true);
    expect(task.description).toContain('safety');
    const comms = await communicationsOf('cr-safety-declined');
    expect(comms).toHaveLength(1);
    expect(extValue(comms[0], `${sd}duty-of-care-exception`)?.valueBoolean).toBe(true);
    expect(extValue(comms[0]?.payload?.[0], `${sd}concern-category`)?.valueCoding?.code).toBe('safety');
    expect(JSON.stringify([task, ...comms])).not.toContain(canary);
    expect(await svc.bySlot('Task', 'cr-safety-declined', 'task/care-coordination-review')).toHaveLength(0);
  });

  it('one Task per channel takes the most urgent priority and the soonest due time of its concerns', async () => {
    const res = await svc.post(
      record('cr-mixed', (r) => {
        r.consent.categories.push('substance-use', 'safety-concerns');
        r.concerns.push(
          { category: 'substance-use', summary: 'Drinking more.' },
          { category: 'safety', summary: 'Said they feel unsafe at night.' },
        );
      }),
    );
    expect(res.status).toBe(201);
    const task = await svc.one<Task>('Task', 'cr-mixed', 'task/clinical-review');
    // The safety concern is carried by the one stat safety review (spec §4): this channel Task has the rest.
    expect(task.priority).toBe('urgent');
    expect(hours('2026-11-21T11:00:00Z', task.restriction?.period?.end)).toBe(24);
    expect(task.reasonCode?.coding?.map((c) => c.code)).toEqual(['clinical-deterioration', 'substance-use']);
    const safety = await svc.one<Task>('Task', 'cr-mixed', 'task/safety-review');
    expect(safety.priority).toBe('stat');
    expect(hours('2026-11-21T11:00:00Z', safety.restriction?.period?.end)).toBe(1);
    // Consent covers safety concerns to the care team: the summary may travel, so no exception.
    expect(safety.description).toContain('Said they feel unsafe at night.');
    expect(extValue(safety, `${sd}duty-of-care-exception`)).toBeUndefined();
    const comm = (await communicationsOf('cr-mixed')).find((c) => c.identifier?.[0]?.value?.endsWith('/clinical-review'));
    expect(comm?.payload).toHaveLength(3);
  });
});

describe('safety first', () => {
  it('a disclosed immediate safety concern raises a stat clinical-review Task even when a gate fails', async () => {
    const res = await svc.post(
      record('cr-safety-blocked', (r) => {
        delete r.escalationRoute;
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-21T10:30:00Z' };
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['cr-escalation-route']);
    const task = await svc.one<Task>('Task', 'cr-safety-blocked', 'task/safety-review');
    expect(task.priority).toBe('stat');
    expect(task.code?.coding?.[0]?.code).toBe('clinical-review');
    expect(task.owner?.reference).toBe('PractitionerRole/example-on-call');
    expect(await svc.bySlot('Task', 'cr-safety-blocked', 'task/clinical-review')).toHaveLength(0);
  });
});

describe('an existing pathway CarePlan', () => {
  it("Tasks focus it, Communications are about it, and the record's CarePlan is part of it", async () => {
    const base = await svc.post(record('cr-plan-base'));
    const planRef = base.body.resources.find((r: any) => r.slot === 'careplan').reference;
    const res = await svc.post(
      record('cr-plan-child', (r) => {
        r.carePlan = { reference: planRef };
      }),
    );
    expect(res.status).toBe(201);
    for (const slot of ['task/clinical-review', 'task/care-coordination-review']) {
      expect((await svc.one<Task>('Task', 'cr-plan-child', slot)).focus?.reference).toBe(planRef);
    }
    for (const c of await communicationsOf('cr-plan-child')) expect(c.about?.map((a) => a.reference)).toEqual([planRef]);
    const own = await svc.one<CarePlan>('CarePlan', 'cr-plan-child', 'careplan');
    expect(own.partOf?.[0]?.reference).toBe(planRef);
  });

  it('a carePlan that does not resolve is a 422 on carePlan', async () => {
    const res = await svc.post(
      record('cr-plan-missing', (r) => {
        r.carePlan = { reference: 'CarePlan/does-not-exist' };
      }),
    );
    expect(res.status).toBe(422);
    expect(res.body.issue.some((i: any) => i.expression?.includes('carePlan'))).toBe(true);
  });
});

describe('resend', () => {
  it('the same record twice gives one set of resources; the second answer is 200 unchanged', async () => {
    const first = await svc.post(record('cr-resend'));
    const second = await svc.post(record('cr-resend'));
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.outcome).toBe('unchanged');
    for (const [type, slot] of [
      ['CarePlan', 'careplan'],
      ['Task', 'task/clinical-review'],
      ['Task', 'task/care-coordination-review'],
      ['Communication', 'communication/clinical-review'],
      ['Encounter', 'encounter/peer-contact/2026-11-21'],
    ] as const) {
      expect(await svc.bySlot(type, 'cr-resend', slot)).toHaveLength(1);
    }
  });

  it('a corrected resend updates the same resources in place', async () => {
    const first = await svc.post(record('cr-correct'));
    const second = await svc.post(
      record('cr-correct', (r) => {
        r.concerns[1].summary = 'Has been sleeping in their car for a week.';
      }),
    );
    expect(second.status).toBe(200);
    expect(second.body.outcome).toBe('updated');
    const comm = (b: any) => b.resources.find((r: any) => r.slot === 'communication/care-coordination-review');
    expect(comm(second.body).reference).toBe(comm(first.body).reference);
    expect(comm(second.body).versionId).not.toBe(comm(first.body).versionId);
    const stored = await svc.one<Communication>('Communication', 'cr-correct', 'communication/care-coordination-review');
    expect(stored.payload?.[0]?.contentString).toBe('Has been sleeping in their car for a week.');
  });

  it('never resets a Task a clinician has moved on', async () => {
    const first = await svc.post(record('cr-clinician'));
    const ref = first.body.tasks.find((t: any) => t.code === 'clinical-review').reference;
    const task = (await (await svc.fhirRaw(ref)).json()) as Task;
    const put = await svc.fhirRaw(ref, { method: 'PUT', body: JSON.stringify({ ...task, status: 'in-progress' }) });
    expect(put.status).toBe(200);
    const again = await svc.post(
      record('cr-clinician', (r) => {
        r.concerns[0].summary = 'Quieter still; missed two groups.';
      }),
    );
    expect(again.status).toBe(200);
    const after = (await (await svc.fhirRaw(ref)).json()) as Task;
    expect(after.status).toBe('in-progress');
    expect(after.description).toBe(task.description);
    expect(await svc.bySlot('Task', 'cr-clinician', 'task/clinical-review')).toHaveLength(1);
  });
});

describe('consent', () => {
  it('a category not consented never appears in any Communication: the record is blocked and nothing is sent', async () => {
    const res = await svc.post(
      record('cr-consent-narrow', (r) => {
        r.consent.categories = ['clinical-concerns'];
      }),
    );
    expect(res.status).toBe(422);
    expect(await communicationsOf('cr-consent-narrow')).toHaveLength(0);
  });

  it('what is sent stays within the consented categories and recipients', async () => {
    await svc.post(record('cr-consent-within'));
    const comms = await communicationsOf('cr-consent-within');
    expect(comms).toHaveLength(2);
    for (const c of comms) {
      expect(['care-team', 'case-manager']).toContain(extValue(c, `${sd}recipient-kind`)?.valueCoding?.code);
      for (const p of c.payload ?? [])
        expect(['clinical-concerns', 'housing']).toContain(extValue(p, `${sd}information-category`)?.valueCoding?.code);
    }
  });
});

describe('anti-surveillance: observations and notes stay with the peer', () => {
  /** Every string value of a record, with its path. */
  function strings(value: unknown, path = ''): { path: string; value: string }[] {
    if (typeof value === 'string') return [{ path, value }];
    if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${path}[${i}]`));
    if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => strings(v, path ? `${path}.${k}` : k));
    return [];
  }
  // What the mapping deliberately carries: ids, references, codes, dates, consent, the route and each routed concern.
  const mapped = [
    /^recordId$/,
    /^pathway$/,
    /^recordedAt$/,
    /^source\./,
    /^person\./,
    /^peerSpecialist\./,
    /^consent\./,
    /^escalationRoute\./,
    /^concerns\[\d+\]\.(category|summary)$/,
    /^lastEngagedAt$/,
    /^peerContact\./,
  ];

  it('observedChanges, observedChangesText and peerNotes appear in no stored resource and no response', async () => {
    const r = record('cr-canary', (x) => {
      x.observedChanges = [
        'withdrawn-or-quieter',
        'missed-group-session',
        'housing-instability',
        'substance-use-change',
        'physical-health-change',
      ];
      x.observedChangesText = 'OBSERVED-CANARY-5d2e wore the same clothes three days';
      x.peerNotes = 'PEERNOTES-CANARY-a83f talked about their brother';
    });
    const leftWithPeer = strings(r).filter((s) => !mapped.some((m) => m.test(s.path)));
    expect(leftWithPeer.map((s) => s.path).sort()).toEqual([
      'observedChangesText',
      'observedChanges[0]',
      'observedChanges[1]',
      'observedChanges[2]',
      'observedChanges[3]',
      'observedChanges[4]',
      'peerNotes',
    ]);

    const res = await svc.post(r);
    expect(res.status).toBe(201);
    const preview = await svc.post(r, '/pathway-records/$validate');
    expect(preview.status).toBe(200);
    const stored: Resource[] = [];
    for (const query of [
      'CarePlan?subject=Patient/example-person',
      'Task?patient=Patient/example-person',
      'Communication?subject=Patient/example-person',
      'Consent?patient=Patient/example-person',
      'Encounter?subject=Patient/example-person',
      'AuditEvent?_count=1000',
      'Provenance?_count=1000',
    ]) {
      stored.push(...(await svc.fhir(`${query}${query.includes('_count') ? '' : '&_count=1000'}`)));
    }
    const mine = stored.filter((s) => JSON.stringify(s).includes('cr-canary'));
    expect(mine.map((s) => s.resourceType).sort()).toEqual([
      'AuditEvent',
      'AuditEvent',
      'CarePlan',
      'Communication',
      'Communication',
      'Consent',
      'Encounter',
      'Provenance',
      'Task',
      'Task',
    ]);
    const everything = [JSON.stringify(stored), JSON.stringify(res.body), JSON.stringify(preview.body)];
    for (const s of leftWithPeer) {
      for (const text of everything) expect(text, s.path).not.toContain(s.value);
    }
  });
});
