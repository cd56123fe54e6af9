import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { map } from '../../src/cli/commands/map.js';
import { schemas } from '../../src/cli/commands/schemas.js';
import { validate } from '../../src/cli/commands/validate.js';
import { UsageError } from '../../src/cli/io.js';
import { fixture } from '../harness.js';
import { captureIo } from './capture.js';

const dir = mkdtempSync(join(tmpdir(), 'ppf-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function recordFile(name: string, record: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof record === 'string' ? record : JSON.stringify(record));
  return file;
}

const navigatorFile = join(import.meta.dirname, '../fixtures/sources/recovery-navigator/early-engagement.json');

describe('validate <record.json>', () => {
  it('prints every gate result and what a write would send; exit 0 when accepted', async () => {
    const io = captureIo();
    expect(await validate([recordFile('ok.json', fixture('early-engagement'))], io)).toBe(0);
    const text = io.text();
    expect(text).toContain('ok.json: accepted (references resolved against in-memory embedded FHIR server with the demo directory)');
    for (const key of ['ee-consent', 'ee-appointment-owner', 'ee-escalation-route']) expect(text).toContain(`✓ ${key}`);
    expect(text).toMatch(/A write would send one transaction of \d+ entries: POST Consent, POST Encounter, POST CarePlan/);
  });

  it('a blocked record: exit 1, each failed gate with its record fields, profile, location and FHIRPath', async () => {
    const record = fixture('step-down');
    record.receivingPathway.confirmed = false;
    const io = captureIo();
    expect(await validate([recordFile('blocked.json', record)], io)).toBe(1);
    const text = io.text();
    expect(text).toContain('blocked.json: blocked');
    expect(text).toContain('✗ sd-receiving-confirmed  [receivingPathway.confirmed]');
    expect(text).toMatch(
      /gate sd-receiving-confirmed \(profile http:\/\/peer-pathways\.example\.org\/fhir\/StructureDefinition\/step-down-bundle\) failed at Bundle: /,
    );
  });

  it('a record that breaks the schema: exit 3, each field named', async () => {
    const record = fixture('crisis-transition');
    delete record.recordedAt;
    const io = captureIo();
    expect(await validate([recordFile('rejected.json', record)], io)).toBe(3);
    expect(io.text()).toContain('✗ required  [recordedAt]');
  });

  it('--json prints the same Parameters as POST /pathway-records/$validate', async () => {
    const io = captureIo();
    await validate([recordFile('json.json', fixture('concern-routing')), '--json'], io);
    const parameters = JSON.parse(io.stdout.join('\n'));
    expect(parameters.resourceType).toBe('Parameters');
    expect(parameters.parameter.map((p: any) => p.name)).toEqual(['result', 'outcome', 'bundle']);
  });

  it("a second source's record is validated through its source mapping, in its own field names", async () => {
    const record = JSON.parse(readFileSync(navigatorFile, 'utf8'));
    delete record.nextAppt.with;
    const io = captureIo();
    expect(await validate([recordFile('nav.json', record)], io)).toBe(1);
    expect(io.text()).toContain('✗ ee-appointment-owner  [nextAppt.with]');
  });

  it('a file that is not JSON is rejected as HTTP rejects it (exit 3, invalid-json); no file is a usage error', async () => {
    const io = captureIo();
    expect(await validate([recordFile('bad.json', '{')], io)).toBe(3);
    expect(io.text()).toContain('invalid-json');
    await expect(validate([], captureIo())).rejects.toBeInstanceOf(UsageError);
    await expect(validate(['x.json', '--nope'], captureIo())).rejects.toThrow(/unknown option '--nope'/);
  });
});

describe('map <record.json>', () => {
  it('prints the transaction Bundle a write would send, with the same entries the dry run shows', async () => {
    const io = captureIo();
    expect(await map([navigatorFile], io)).toBe(0);
    const bundle = JSON.parse(io.stdout.join('\n'));
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.type).toBe('transaction');
    expect(bundle.entry.map((e: any) => e.resource.resourceType)).toEqual([
      'Consent',
      'Encounter',
      'CarePlan',
      'Communication',
      'Task',
      'Task',
      'AuditEvent',
      'Provenance',
    ]);
    expect(bundle.entry[0].resource.identifier[0].system).toBe('urn:example:recovery-navigator');
    expect(io.stderr).toEqual([]);
  });

  it('for a blocked record prints what would still be sent, and why it is blocked on stderr', async () => {
    const record = fixture('early-engagement');
    delete record.escalationRoute;
    record.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-12T10:00:00Z' };
    const io = captureIo();
    expect(await map([recordFile('map-blocked.json', record)], io)).toBe(1);
    expect(JSON.parse(io.stdout.join('\n')).entry.map((e: any) => e.resource.resourceType)).toEqual(['Task', 'AuditEvent']);
    expect(io.stderr.join('\n')).toContain('✗ ee-escalation-route  [escalationRoute.clinicalOwner]');
  });
});

describe('schemas --out <dir>', () => {
  it('writes one JSON Schema per pathway and openapi.json', async () => {
    const out = join(dir, 'schemas');
    const io = captureIo();
    expect(await schemas(['--out', out], io)).toBe(0);
    for (const p of ['early-engagement', 'step-down', 'crisis-transition', 'concern-routing']) {
      expect(JSON.parse(readFileSync(join(out, `${p}.json`), 'utf8')).$id).toBe(`http://peer-pathways.example.org/schemas/${p}.json`);
    }
    expect(JSON.parse(readFileSync(join(out, 'openapi.json'), 'utf8')).openapi).toBe('3.1.0');
  });
});
