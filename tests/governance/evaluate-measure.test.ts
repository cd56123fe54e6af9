import { readFileSync } from 'node:fs';
import type { Bundle, Measure, MeasureReport, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureIds } from '../../src/governance/compute.js';
import { loadMeasureDefinitions } from '../../src/governance/definitions.js';
import { startTestService, testToken, type TestService } from '../harness.js';
import { period } from './cohort.js';
import { loadCohort } from './load-cohort.js';

let svc: TestService;
let expected: Map<string, MeasureReport>;
const auth = { Authorization: `Bearer ${testToken}` };

/** A report without the instant it was generated: two computations of the same data differ only there. */
const comparable = (r: MeasureReport) => ({ ...r, date: undefined });

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
  await loadCohort(svc, 4242);
  const res = await fetch(`${svc.url}/governance/measures?start=${period.start}&end=${period.end}`, { headers: auth });
  expect(res.status).toBe(200);
  expected = new Map(
    ((await res.json()) as Bundle<MeasureReport>).entry?.map((e) => [e.resource?.id as string, e.resource as MeasureReport]),
  );
}, 120_000);
afterAll(async () => {
  await svc.close();
});

async function evaluate(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; body: MeasureReport & Pick<OperationOutcome, 'issue'> }> {
  const res = await fetch(`${svc.url}/fhir/R4/${path}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
  expect(res.headers.get('content-type')).toContain('application/fhir+json');
  return { status: res.status, body: (await res.json()) as MeasureReport & Pick<OperationOutcome, 'issue'> };
}

describe('FHIR $evaluate-measure answers what GET /governance/measures answers', () => {
  it('GET Measure/{id}/$evaluate-measure, for each of the twelve Measures of the seeded cohort', async () => {
    expect(expected.size).toBe(12);
    for (const id of measureIds) {
      const { status, body } = await evaluate(`Measure/${id}/$evaluate-measure?periodStart=${period.start}&periodEnd=${period.end}`);
      expect(status, id).toBe(200);
      expect(body).toMatchObject({
        resourceType: 'MeasureReport',
        type: 'summary',
        status: 'complete',
        measure: `http://peer-pathways.example.org/fhir/Measure/${id}`,
      });
      expect(comparable(body), id).toEqual(comparable(expected.get(id) as MeasureReport));
    }
    const counted = [...expected.values()].flatMap((r) => r.group?.flatMap((g) => g.population?.map((p) => p.count ?? 0) ?? []) ?? []);
    expect(counted.reduce((a, b) => a + b, 0)).toBeGreaterThan(50);
  }, 60_000);

  it('POST with a Parameters body, and Measure/$evaluate-measure with measure= (id or canonical url)', async () => {
    const expectedReport = comparable(expected.get('crisis-recontact') as MeasureReport);
    const parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'periodStart', valueDate: period.start },
        { name: 'periodEnd', valueDate: period.end },
      ],
    };
    const posted = await evaluate('Measure/crisis-recontact/$evaluate-measure', {
      method: 'POST',
      headers: { 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify(parameters),
    });
    expect(posted.status).toBe(200);
    expect(comparable(posted.body)).toEqual(expectedReport);
    const byUrl = await evaluate(
      `Measure/$evaluate-measure?measure=${encodeURIComponent('http://peer-pathways.example.org/fhir/Measure/crisis-recontact')}&periodStart=${period.start}&periodEnd=${period.end}`,
    );
    expect(comparable(byUrl.body)).toEqual(expectedReport);
    const byId = await evaluate('Measure/$evaluate-measure', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `measure=crisis-recontact&periodStart=${period.start}&periodEnd=${period.end}`,
    });
    expect(comparable(byId.body)).toEqual(expectedReport);
  });

  it('the Measure the operation runs on is the one the server holds (read by id and by url)', async () => {
    const [measure] = await svc.fhir<Measure>(
      `Measure?url=${encodeURIComponent('http://peer-pathways.example.org/fhir/Measure/role-integrity')}`,
    );
    expect(measure?.id).toBe('role-integrity');
    const { status, body } = await evaluate(`Measure/${measure?.id}/$evaluate-measure?periodStart=${period.start}&periodEnd=${period.end}`);
    expect(status).toBe(200);
    expect(body.measure).toBe(measure?.url);
  });

  it('a month or a year as the period, as R4 dates allow', async () => {
    const month = period.start.slice(0, 7);
    const { status, body } = await evaluate(`Measure/escalation-use/$evaluate-measure?periodStart=${month}&periodEnd=${month}`);
    expect(status).toBe(200);
    expect(body.period?.start).toBe(`${month}-01`);
    expect(body.period?.end?.startsWith(month)).toBe(true);
    expect(Number(body.period?.end?.slice(8))).toBeGreaterThanOrEqual(28);
  });

  it('bad input is a 400/404 OperationOutcome naming the parameter; no token is 401', async () => {
    const noEnd = await evaluate(`Measure/crisis-recontact/$evaluate-measure?periodStart=${period.start}`);
    expect(noEnd.status).toBe(400);
    expect(noEnd.body.issue?.[0]?.expression).toEqual(['periodEnd']);
    const unknown = await evaluate(`Measure/no-such-measure/$evaluate-measure?periodStart=${period.start}&periodEnd=${period.end}`);
    expect(unknown.status).toBe(404);
    const noMeasure = await evaluate(`Measure/$evaluate-measure?periodStart=${period.start}&periodEnd=${period.end}`);
    expect(noMeasure.status).toBe(400);
    expect(noMeasure.body.issue?.[0]?.expression).toEqual(['measure']);
    const subject = await evaluate(
      `Measure/crisis-recontact/$evaluate-measure?periodStart=${period.start}&periodEnd=${period.end}&reportType=subject`,
    );
    expect(subject.status).toBe(400);
    expect(subject.body.issue?.[0]?.expression).toEqual(['reportType']);
    const anonymous = await fetch(
      `${svc.url}/fhir/R4/Measure/crisis-recontact/$evaluate-measure?periodStart=${period.start}&periodEnd=${period.end}`,
    );
    expect(anonymous.status).toBe(401);
  });
});

describe('the Measures are valid R4 and say how they are computed', () => {
  it('every population and stratifier has a criteria naming a definition of the README\'s "How the numbers are computed"', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('### How the numbers are computed'), readme.indexOf('### Reading a report'));
    const defined = new Set(
      [...section.matchAll(/^\| (.+?) \| /gm)].flatMap((m) => [...(m[1] as string).matchAll(/`([^`]+)`/g)].map((n) => n[1])),
    );
    const named: string[] = [];
    for (const m of loadMeasureDefinitions()) {
      for (const g of m.group ?? []) {
        for (const c of [...(g.population ?? []).map((p) => p.criteria), ...(g.stratifier ?? []).map((st) => st.criteria)]) {
          expect(c?.language, m.id).toBe('text/cql-identifier');
          named.push(c?.expression as string);
        }
      }
    }
    expect(named.length).toBeGreaterThan(45);
    expect(named.filter((n) => !defined.has(n))).toEqual([]);
  });
});
