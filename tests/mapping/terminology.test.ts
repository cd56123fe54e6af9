import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CarePlan, Encounter } from '@medplum/fhirtypes';
import { systems } from '../../src/contract/vocabulary.js';
import { tempMappings, type TempMappings } from '../config/temp-mappings.js';
import { fixture, startTestService, type TestService } from '../harness.js';

// Test-only targets: the shipped map leaves SNOMED CT targets to the site's terminologist.
const TEST_SNOMED = 'TEST-ONLY-1';

let temp: TempMappings;
let svc: TestService;
beforeAll(async () => {
  temp = tempMappings();
  temp.edit('conceptmaps/engagement-barriers-snomed.json', (map) => {
    const element = (code: string) => map.group[0].element.find((e: any) => e.code === code);
    element('overwhelmed-by-process').target = [{ code: TEST_SNOMED, display: 'Test target', equivalence: 'equivalent' }];
    element('mistrust-of-services').target = [{ code: 'TEST-ONLY-2', equivalence: 'narrower', comment: 'narrower: must not be applied' }];
  });
  svc = await startTestService({ MAPPINGS_DIR: temp.dir });
});
afterAll(async () => {
  await svc.close();
  temp.remove();
});

describe('engagement barriers get their standard codes from mappings/conceptmaps/', () => {
  it('a barrier with an equivalent target carries the standard coding after the contract coding, on the Encounter and the CarePlan', async () => {
    const record = fixture('early-engagement', 'term-1');
    record.engagementBarriers = ['overwhelmed-by-process', 'mistrust-of-services', 'practical-barrier'];
    expect((await svc.post(record)).status).toBe(201);
    const [encounter] = await svc.fhir<Encounter>(
      `Encounter?identifier=${encodeURIComponent('urn:example:peer-platform|term-1/encounter/peer-contact/2026-11-12')}`,
    );
    const codings = encounter?.reasonCode?.map((r) =>
      r.coding?.map((c) => `${c.system === systems.pathway ? 'pathway' : c.system}|${c.code}`),
    );
    expect(codings).toEqual([
      ['pathway|overwhelmed-by-process', `http://snomed.info/sct|${TEST_SNOMED}`],
      // narrower: would assert more than the peer recorded; unmatched: nothing to add. The contract coding stays.
      ['pathway|mistrust-of-services'],
      ['pathway|practical-barrier'],
    ]);
    const [plan] = await svc.fhir<CarePlan>(`CarePlan?identifier=${encodeURIComponent('urn:example:peer-platform|term-1/careplan')}`);
    const contact = plan?.activity?.find((a) => a.detail?.reasonCode);
    expect(contact?.detail?.reasonCode?.[0]?.coding?.[1]).toEqual({
      system: 'http://snomed.info/sct',
      code: TEST_SNOMED,
      display: 'Test target',
    });
  });
});
