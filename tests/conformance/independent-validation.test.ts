import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { Fhir } from 'fhir';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, testToken, type TestService } from '../harness.js';
import { period } from '../governance/cohort.js';
import { loadCohort } from '../governance/load-cohort.js';
import { writeVariants } from './written.js';

/**
 * Everything the project ships or writes, checked by a validator nobody here wrote: FHIR.js (npm `fhir`),
 * which validates R4 structure, cardinality, primitive formats, required bindings and unknown properties,
 * nested resources included (Bundle entries, contained, Parameters). Only error and fatal messages count.
 */
const fhir = new Fhir();
const root = new URL('../../', import.meta.url).pathname;

function errorsOf(resource: unknown, where: string): string[] {
  const result = fhir.validate(resource as object, { errorOnUnexpected: true });
  return result.messages
    .filter((m) => m.severity === 'error' || m.severity === 'fatal')
    .map((m) => `${where}: ${m.resourceId ?? ''} ${m.location}: ${m.message}`);
}

function jsonFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return jsonFiles(path);
    return name.endsWith('.json') ? [path] : [];
  });
}

describe('FHIR.js finds no error', () => {
  it('in any FHIR resource in profiles/ and mappings/', () => {
    const files = [...jsonFiles('profiles'), ...jsonFiles('mappings')];
    const resources = files.map((f) => ({ f, json: JSON.parse(readFileSync(join(root, f), 'utf8')) as { resourceType?: string } })).filter((x) => x.json.resourceType);
    expect(resources.filter((x) => x.f.startsWith('profiles/')).length).toBe(jsonFiles('profiles').length);
    expect(resources.map((x) => x.json.resourceType)).toEqual(expect.arrayContaining(['StructureDefinition', 'CodeSystem', 'ValueSet', 'Measure', 'ConceptMap']));
    expect(resources.flatMap((x) => errorsOf(x.json, x.f))).toEqual([]);
  });

  it('catches what it should (so that 0 errors means something)', () => {
    const measure = JSON.parse(readFileSync(join(root, 'profiles/measures/crisis-recontact.json'), 'utf8'));
    delete measure.group[0].population[0].criteria;
    expect(errorsOf(measure, 'measure').join()).toContain('criteria');
    expect(errorsOf({ resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Task', status: 'bogus', intent: 'order' } }] }, 'bundle').length).toBe(1);
  });

  describe('in every resource the adapter writes and every answer it gives, on the embedded server', () => {
    let svc: TestService;
    let written: Awaited<ReturnType<typeof writeVariants>>;
    beforeAll(async () => {
      svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
      written = await writeVariants(svc);
      await loadCohort(svc, 7);
    }, 180_000);
    afterAll(async () => {
      await svc.close();
    });

    it('the mapped transaction Bundle of every fixture and variant, and each $validate and write answer', () => {
      expect(written.bundles.length).toBeGreaterThan(30);
      const errors = written.bundles.flatMap((b, i) => errorsOf(b, `bundle ${i}`));
      const answers = written.answers.filter((a): a is Resource => typeof (a as Resource)?.resourceType === 'string');
      expect(answers.length).toBeGreaterThan(30);
      expect([...errors, ...answers.flatMap((a, i) => errorsOf(a, `answer ${i} ${a.resourceType}`))]).toEqual([]);
    });

    it('every resource on the server (records, the governance cohort, the EHR side, the directory, conformance resources)', async () => {
      const types = ['CarePlan', 'Consent', 'Encounter', 'Task', 'Communication', 'Goal', 'Provenance', 'AuditEvent', 'Patient', 'Practitioner',
        'PractitionerRole', 'Organization', 'CareTeam', 'CodeSystem', 'ValueSet', 'StructureDefinition', 'Measure'];
      const all: Resource[] = [];
      for (const type of types) all.push(...await svc.fhir(`${type}?_count=1000`));
      expect(all.length).toBeGreaterThan(500);
      expect(all.flatMap((r) => errorsOf(r, `${r.resourceType}/${r.id}`))).toEqual([]);
    });

    it('the CapabilityStatement, the governance MeasureReports and $evaluate-measure', async () => {
      const auth = { Authorization: `Bearer ${testToken}` };
      const metadata = await (await fetch(`${svc.url}/fhir/R4/metadata`)).json();
      const reports = (await (await fetch(`${svc.url}/governance/measures?start=${period.start}&end=${period.end}`, { headers: auth })).json()) as Bundle;
      const evaluated = await (await fetch(`${svc.url}/fhir/R4/Measure/step-down-stability/$evaluate-measure?periodStart=${period.start}&periodEnd=${period.end}`, { headers: auth })).json();
      const definitions = await (await fetch(`${svc.url}/governance/Measure`, { headers: auth })).json();
      expect(reports.entry?.length).toBe(10);
      expect([...errorsOf(metadata, 'metadata'), ...errorsOf(reports, 'measures'), ...errorsOf(evaluated, '$evaluate-measure'), ...errorsOf(definitions, 'Measure bundle')]).toEqual([]);
    });
  });
});
