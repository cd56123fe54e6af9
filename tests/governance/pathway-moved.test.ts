import type { Bundle, CarePlan } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernanceConfig } from '../../src/config/governance.js';
import { loadMappings } from '../../src/config/mappings.js';
import { systems } from '../../src/contract/vocabulary.js';
import type { DerivedReads, FhirClient } from '../../src/fhir/client.js';
import { readSources } from '../../src/governance/fetch.js';
import { pathwayCodes } from '../../src/records/envelope.js';
import { startTestService, type TestService } from '../harness.js';
import { fromToday, newPatient, sourcedRecord } from './service.js';

/**
 * A report reads each pathway's CarePlans by searches of their own. A record resent under another pathway
 * while a report reads changes its CarePlan's category between those searches; it must still count once,
 * under the pathway it now holds (an outside tester saw person-feedback list one CarePlan twice).
 */
const source = 'urn:example:governance-moved';
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc?.close();
});

const day = fromToday;

describe('a CarePlan whose pathway changes while a report reads', () => {
  // Read as the embedded server's kept facts (stored-facts.ts), and from the resources as from a remote server.
  it.each(['kept facts', 'whole resources'])('is read once, under the pathway it holds when the report ends (%s)', async (how) => {
    const recordId = `moved-${how.replace(' ', '-')}`;
    const patient = await newPatient(svc);
    const record = sourcedRecord(source, 'early-engagement', recordId, patient, `${day(-5)}T10:00:00Z`, (r) => {
      r.intake = { ...r.intake, date: day(-6) };
    });
    const res = await svc.post(record);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const found = (await (
      await svc.fhirRaw(`CarePlan?identifier=${encodeURIComponent(`${source}|${recordId}/careplan`)}`)
    ).json()) as Bundle<CarePlan>;
    const plan = found.entry?.[0]?.resource as CarePlan;
    const reference = `CarePlan/${plan.id}`;

    // The client of the report: right after the first early-engagement search is answered, the CarePlan is
    // rewritten as a step-down one, as a resend under that pathway would (the step-down searches come later).
    const client = svc.service.adapter.fhir;
    let moved = false;
    const moveAfter = async (type: string, category: string) => {
      if (!moved && type === 'CarePlan' && category.endsWith('|early-engagement')) {
        moved = true;
        const stepDown = {
          ...plan,
          category: [{ coding: [{ system: systems.pathway, code: 'step-down' }] }],
        } satisfies CarePlan;
        const put = await svc.fhirRaw(reference, { method: 'PUT', body: JSON.stringify(stepDown) });
        expect(put.status, await put.clone().text()).toBe(200);
      }
    };
    const derived = client.derivedReads as DerivedReads;
    const moving = {
      wholeResultReads: client.wholeResultReads,
      page: (...a: Parameters<FhirClient['page']>) => client.page(...a),
      search: async (...a: Parameters<FhirClient['search']>) => {
        const answer = await client.search(...a);
        await moveAfter(a[0], new URLSearchParams(a[1] as Record<string, string>).get('category') ?? '');
        return answer;
      },
      ...(how === 'kept facts'
        ? {
            derivedReads: {
              key: derived.key,
              visitAll: async (...a: Parameters<DerivedReads['visitAll']>) => {
                await derived.visitAll(...a);
                await moveAfter(a[0], String(a[1].category ?? ''));
              },
            } satisfies DerivedReads,
          }
        : {}),
    } as unknown as FhirClient;

    const mappings = loadMappings();
    const { timeZone } = mappings.site;
    const period = { start: day(-30), end: day(0), timeZone };
    const sources = await readSources(moving, mappings.codes, loadGovernanceConfig(), period, timeZone);
    expect(moved).toBe(true);
    const under = pathwayCodes.filter((p) => sources.carePlans[p].some((f) => f.case.reference === reference));
    expect(under).toEqual(['step-down']);
    expect(sources.carePlans['step-down'].filter((f) => f.case.reference === reference)).toHaveLength(1);
  });
});
