import type { Task } from '@medplum/fhirtypes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFollowUpConfig } from '../../src/config/followup.js';
import type { FollowUpRules } from '../../src/followup/escalation.js';
import { runFollowUp } from '../../src/followup/overdue.js';
import { tempMappings, type TempMappings } from '../config/temp-mappings.js';
import { safetyRecord, taskOf, tasksBySlot } from '../followup/helpers.js';
import { startFaultProxy } from '../fhir/fault-proxy.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';

/** Issue 11, safety independent of everything after it: the escalation job's Task gates, and /ready's directory check. */
const silent = pino({ level: 'silent' });

describe('the overdue-escalation Task passes the same gates as every Task', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
  });
  afterAll(async () => {
    await svc.close();
  });

  it('an on-call route that is a peer role is never the owner: the escalation goes to the site clinical route', async () => {
    const t0 = '2026-12-03T09:00:00Z';
    expect((await svc.post(safetyRecord('trust-esc-peer', t0))).status).toBe(201);
    const { site, codes } = svc.service.adapter.mappings;
    const escalation = loadFollowUpConfig().escalation;
    const rules: FollowUpRules = {
      site,
      codes,
      escalation: {
        ...escalation,
        clinicalReview: { ...escalation.clinicalReview, onCallRoute: { reference: 'PractitionerRole/example-peer' } },
      },
    };
    const result = await runFollowUp(svc.service.adapter.fhir, rules, new Date('2026-12-03T12:00:00Z'), silent);
    const review = await taskOf(svc, 'trust-esc-peer', 'task/safety-review');
    expect(result.escalated).toContain(`Task/${review.id}`);
    const [raised] = await tasksBySlot(svc, 'trust-esc-peer', 'task/safety-review/escalation');
    expect((raised as Task).owner?.reference).toBe('PractitionerRole/example-on-call');
  });

  it('a source.system holding | , $ \\ escalates exactly once: the conditional create finds its escaped identifier', async () => {
    const system = 'urn:test:esc|src,$\\';
    const t0 = '2026-12-05T09:00:00Z';
    const record = safetyRecord('trust-esc-nasty', t0);
    record.source.system = system;
    expect((await svc.post(record)).status).toBe(201);
    const { site, codes } = svc.service.adapter.mappings;
    const rules: FollowUpRules = { site, codes, escalation: loadFollowUpConfig().escalation };
    const [review] = await svc.bySlot<Task>('Task', 'trust-esc-nasty', 'task/safety-review', system);
    const first = await runFollowUp(svc.service.adapter.fhir, rules, new Date('2026-12-05T12:00:00Z'), silent);
    expect(first.escalated).toContain(`Task/${review!.id}`);
    const again = await runFollowUp(svc.service.adapter.fhir, rules, new Date('2026-12-05T13:00:00Z'), silent);
    expect(again.escalated).not.toContain(`Task/${review!.id}`);
    expect(await svc.bySlot('Task', 'trust-esc-nasty', 'task/safety-review/escalation', system)).toHaveLength(1);
  });

  it('when every route is a peer role nothing is escalated to a peer', async () => {
    const t0 = '2026-12-04T09:00:00Z';
    expect((await svc.post(safetyRecord('trust-esc-none', t0))).status).toBe(201);
    const { site, codes } = svc.service.adapter.mappings;
    const escalation = loadFollowUpConfig().escalation;
    const peer = { reference: 'PractitionerRole/example-peer' };
    const rules: FollowUpRules = {
      site: { ...site, defaultClinicalRoute: peer },
      codes,
      escalation: { ...escalation, clinicalReview: { ...escalation.clinicalReview, onCallRoute: peer } },
    };
    const result = await runFollowUp(svc.service.adapter.fhir, rules, new Date('2026-12-04T12:00:00Z'), silent);
    expect(result.escalated).toHaveLength(0);
    expect(await tasksBySlot(svc, 'trust-esc-none', 'task/safety-review/escalation')).toHaveLength(0);
  });
});

describe('/ready: every owner and recipient named in mappings/ resolves to an allowed type', () => {
  let svc: TestService;
  let mappings: TempMappings;
  beforeAll(async () => {
    mappings = tempMappings();
    mappings.edit('site.json', (site) => {
      site.defaultClinicalRoute = { reference: 'PractitionerRole/nobody-here' };
      site.recipients['care-team'] = { reference: 'Patient/example-person' };
    });
    mappings.edit('escalation.json', (e) => {
      e.clinicalReview.onCallRoute = { reference: 'PractitionerRole/example-peer' };
    });
    svc = await startTestService({ MAPPINGS_DIR: mappings.dir, ESCALATION_INTERVAL_MS: '0' });
  });
  afterAll(async () => {
    await svc.close();
    mappings.remove();
  });

  it('answers 503 naming each file and path', async () => {
    const res = await fetch(`${svc.url}/ready`);
    expect(res.status).toBe(503);
    const body: any = await res.json();
    const named = body.issue.flatMap((i: any) => i.expression ?? []);
    expect(named).toEqual(
      expect.arrayContaining([
        'site.json#defaultClinicalRoute',
        'site.json#recipients.care-team',
        'escalation.json#clinicalReview.onCallRoute',
      ]),
    );
    expect(JSON.stringify(body)).toContain('mappings/site.json defaultClinicalRoute');
  });

  it("the project's own mappings/ resolve: ready", async () => {
    const ok = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
    try {
      const res = await fetch(`${ok.url}/ready`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).directory).toBe('resolved');
    } finally {
      await ok.close();
    }
  });
});

describe('a transaction the FHIR server refuses: the safety review is written on its own', () => {
  let real: TestService;
  let adapter: TestService;
  let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  beforeAll(async () => {
    real = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
    // A fault a real server cannot be made to show on demand: it refuses the record's routine transaction (the one with a CarePlan).
    proxy = await startFaultProxy(real.url, (body) =>
      body?.type === 'transaction' && body.entry?.some((e: any) => e.resource?.resourceType === 'CarePlan') ? { status: 400 } : 'forward',
    );
    adapter = await startTestService({
      FHIR_BASE_URL: `${proxy.url}/fhir/R4`,
      FHIR_ACCESS_TOKEN: testToken,
      FHIR_TIMEOUT_MS: '5000',
      ESCALATION_INTERVAL_MS: '0',
    });
  });
  afterAll(async () => {
    await adapter.close();
    await proxy.close();
    await real.close();
  });

  it('the answer says the review was raised, and only the review is on the server', async () => {
    const res = await adapter.post(
      fixture('early-engagement', 'trust-refused-tx', (r) => {
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:30:00Z' };
      }),
    );
    expect(res.status).toBe(502);
    const codes = res.body.issue.flatMap((i: any) => i.details?.coding ?? []).map((c: any) => c.code);
    expect(codes, JSON.stringify(res.body)).toEqual(['fhir-rejected', 'safety-review-raised']);
    const [task] = await real.bySlot<Task>('Task', 'trust-refused-tx', 'task/safety-review');
    expect(task?.priority).toBe('stat');
    expect(await real.bySlot('CarePlan', 'trust-refused-tx', 'careplan')).toHaveLength(0);
  });
});

describe("the escalation's owners are looked up as a record's references are", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
  });
  afterAll(async () => {
    await svc.close();
  });

  it('an on-call route that does not exist on the FHIR server is never the owner: the escalation goes to the site clinical route', async () => {
    const t0 = '2026-12-06T09:00:00Z';
    expect((await svc.post(safetyRecord('trust-esc-gone', t0))).status).toBe(201);
    const { site, codes } = svc.service.adapter.mappings;
    const escalation = loadFollowUpConfig().escalation;
    const rules: FollowUpRules = {
      site,
      codes,
      escalation: {
        ...escalation,
        clinicalReview: { ...escalation.clinicalReview, onCallRoute: { reference: 'PractitionerRole/no-such-role' } },
      },
    };
    const result = await runFollowUp(svc.service.adapter.fhir, rules, new Date('2026-12-06T12:00:00Z'), silent);
    const review = await taskOf(svc, 'trust-esc-gone', 'task/safety-review');
    expect(result.escalated).toContain(`Task/${review.id}`);
    const [raised] = await tasksBySlot(svc, 'trust-esc-gone', 'task/safety-review/escalation');
    expect((raised as Task).owner?.reference).toBe(site.defaultClinicalRoute.reference);
  });
});
