import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pathwayCodes } from '../../src/records/index.js';
import { fixture, startTestService, type TestService } from '../harness.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.close();
});

/** GET without a token: self-description is public. */
async function get(path: string) {
  const res = await fetch(`${svc.url}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as any };
}

describe('GET /schemas/<pathway>.json: what a sending system validates against', () => {
  for (const pathway of pathwayCodes) {
    it(`${pathway}: accepts the fixture and refuses what the adapter refuses`, async () => {
      const res = await get(`/schemas/${pathway}.json`);
      expect(res.status).toBe(200);
      expect(res.type).toContain('application/schema+json');
      expect(res.body.$id).toBe(`http://peer-pathways.example.org/schemas/${pathway}.json`);
      const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(res.body);
      expect(validate(fixture(pathway)), JSON.stringify(validate.errors)).toBe(true);
      const misspelt = fixture(pathway);
      misspelt.saftey = misspelt.safety;
      delete misspelt.safety;
      expect(validate(misspelt)).toBe(false);
      const noPerson = fixture(pathway);
      noPerson.person = { display: 'someone' };
      expect(validate(noPerson)).toBe(false);
    });
  }

  it('an unknown pathway is a 404 OperationOutcome', async () => {
    const res = await get('/schemas/nope.json');
    expect(res.status).toBe(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});

describe('GET /openapi.json', () => {
  it('is generated from the record schemas and lists every endpoint', async () => {
    const res = await get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining([
        '/pathway-records',
        '/pathway-records/$validate',
        '/governance/measures',
        '/health',
        '/ready',
        '/openapi.json',
        '/profiles',
        '/schemas/{pathway}.json',
      ]),
    );
    for (const pathway of pathwayCodes) {
      const schema = res.body.components.schemas[`record-${pathway}`];
      expect(schema.properties.pathway).toEqual({ type: 'string', const: pathway });
      expect(schema.additionalProperties).toBe(false);
    }
    expect(res.body.paths['/pathway-records'].post.responses).toHaveProperty('422');
  });
});

describe('GET /profiles', () => {
  it('lists every profile with its gate keys, human text and record fields', async () => {
    const res = await get('/profiles');
    expect(res.status).toBe(200);
    const gates = res.body.profiles.flatMap((p: any) => p.gates);
    expect(gates.map((g: any) => g.key)).toEqual(
      expect.arrayContaining([
        'cr-consent-aligned',
        'cr-escalation-route',
        'cr-transparent',
        'ct-consent-aligned',
        'ct-escalation-route',
        'ct-not-peer-only',
        'ct-receiving-team',
        'ee-appointment-owner',
        'ee-consent',
        'ee-escalation-route',
        'peer-not-clinical-owner',
        'sd-escalation-instructions',
        'sd-goals-documented',
        'sd-person-agreement',
        'sd-receiving-confirmed',
        'sd-time-limited',
      ]),
    );
    for (const g of gates) {
      expect(g.human.length).toBeGreaterThan(20);
      expect(g.recordFields.length).toBeGreaterThan(0);
    }
    expect(res.body.profiles.find((p: any) => p.url.endsWith('/early-engagement-bundle')).file).toBe(
      'profiles/early-engagement-bundle.json',
    );
  });
});
