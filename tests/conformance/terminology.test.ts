import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, CodeSystem, Coding, Measure, Resource, StructureDefinition, Task, ValueSet } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preloadConformanceResources, readConformanceResources } from '../../src/embedded/conformance-preload.js';
import { EmbeddedRepository } from '../../src/embedded/index.js';
import { openDatabase } from '../../src/embedded/database.js';
import { startTestService, type TestService } from '../harness.js';
import { codingsIn, recordVariants, writeVariants } from './written.js';

const root = new URL('../../', import.meta.url).pathname;
const projectSystems = 'http://peer-pathways.example.org/fhir/CodeSystem/';

function jsonFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return jsonFiles(path);
    return name.endsWith('.json') ? [path] : [];
  });
}
const read = <T>(file: string) => JSON.parse(readFileSync(join(root, file), 'utf8')) as T;

const terminology = jsonFiles('profiles/terminology').map((f) => read<CodeSystem | ValueSet>(f));
const codeSystems = new Map(
  terminology.filter((r): r is CodeSystem => r.resourceType === 'CodeSystem').map((cs) => [cs.url as string, cs]),
);
const valueSets = new Map(terminology.filter((r): r is ValueSet => r.resourceType === 'ValueSet').map((vs) => [vs.url as string, vs]));
const profiles = jsonFiles('profiles')
  .filter((f) => !/\/(terminology|measures|extensions)\//.test(f))
  .map((f) => read<StructureDefinition>(f));
const measures = jsonFiles('profiles/measures').map((f) => read<Measure>(f));

function codesOf(cs: CodeSystem): Set<string> {
  const out = new Set<string>();
  const walk = (concepts: CodeSystem['concept']) =>
    concepts?.forEach((c) => {
      out.add(c.code as string);
      walk(c.concept);
    });
  walk(cs.concept);
  return out;
}

/** The project codings among `codings` that no shipped CodeSystem defines, as `system|code`. */
function undefinedCodes(codings: Coding[]): string[] {
  return [
    ...new Set(
      codings
        .filter((c) => c.system?.startsWith(projectSystems))
        .filter((c) => {
          const cs = codeSystems.get(c.system as string);
          return !cs || !codesOf(cs).has(c.code as string);
        })
        .map((c) => `${c.system}|${c.code}`),
    ),
  ].sort();
}

let svc: TestService;
let written: Awaited<ReturnType<typeof writeVariants>>;
beforeAll(async () => {
  svc = await startTestService();
  written = await writeVariants(svc);
}, 120_000);
afterAll(async () => {
  await svc.close();
});

describe('terminology: every code the project writes is defined', () => {
  it('every record variant is accepted or blocked (none refused), so each coded choice is really written', () => {
    expect(recordVariants().length).toBeGreaterThan(30);
    for (const [name, status] of Object.entries(written.statuses)) expect([201, 422], name).toContain(status);
  });

  it('each code system the adapter writes has a CodeSystem, complete, with its count and an all-codes ValueSet', () => {
    const systems = new Set(
      codingsIn([written.resources, written.bundles])
        .map((c) => c.system as string)
        .filter((s) => s.startsWith(projectSystems)),
    );
    expect([...systems].sort()).toEqual(
      expect.arrayContaining(
        ['peer-pathway', 'information-category', 'consent-recipient', 'concern-category', 'gate'].map((s) => projectSystems + s),
      ),
    );
    for (const [url, cs] of codeSystems) {
      expect(cs.content, url).toBe('complete');
      expect(cs.count, url).toBe(codesOf(cs).size);
      expect(codesOf(cs).size, url).toBe(cs.concept?.length);
      expect(valueSets.has(cs.valueSet as string), `${url} valueSet`).toBe(true);
    }
    for (const s of ['measure-group', 'measure-stratifier', 'measure-stratum', 'adapter-issue', 'peer-pathway'])
      expect(codeSystems.has(projectSystems + s), s).toBe(true);
  });

  it('every code in every written resource and mapped Bundle of every fixture and variant is defined', () => {
    expect(written.resources.length).toBeGreaterThan(200);
    expect(undefinedCodes(codingsIn([written.resources, written.bundles, written.answers]))).toEqual([]);
  });

  it('every code in mappings/ and in the Measures is defined', () => {
    const files = jsonFiles('mappings');
    expect(files.length).toBeGreaterThan(5);
    expect(undefinedCodes(codingsIn(files.map((f) => read(f))))).toEqual([]);
    // Codes that mappings/ name as plain strings in the project's system (e.g. a Task code to route to).
    expect(undefinedCodes(codingsIn(measures))).toEqual([]);
  });

  it('every MeasureReport code (groups, stratifiers, strata) is defined', async () => {
    const res = await fetch(`${svc.url}/governance/measures?start=2026-01-01&end=2026-12-31`, {
      headers: { Authorization: 'Bearer test-token-0123456789' },
    });
    expect(res.status).toBe(200);
    const reports = (await res.json()) as Bundle;
    const codings = codingsIn(reports);
    expect(codings.filter((c) => c.system === `${projectSystems}measure-stratum`).length).toBeGreaterThan(10);
    expect(undefinedCodes(codings)).toEqual([]);
  });

  it("every gate key of the profiles and every adapter issue code is defined, with the gate's own words", () => {
    const gates = codeSystems.get(`${projectSystems}gate`) as CodeSystem;
    const constraints = profiles.flatMap((p) => p.differential?.element.flatMap((e) => e.constraint ?? []) ?? []);
    expect(constraints.length).toBeGreaterThan(15);
    for (const c of constraints) expect(gates.concept?.find((g) => g.code === c.key)?.definition, c.key).toBe(c.human);
    // Blocked records are stratified by gate key: each is a stratum too.
    const strata = codesOf(codeSystems.get(`${projectSystems}measure-stratum`) as CodeSystem);
    expect(constraints.filter((c) => !strata.has(c.key as string)).map((c) => c.key)).toEqual([]);
    const source = readFileSync(join(root, 'src/outcomes/index.ts'), 'utf8');
    const union = source.slice(
      source.indexOf('export type AdapterIssueCode'),
      source.indexOf(';', source.indexOf('export type AdapterIssueCode')),
    );
    const issueCodes = [...union.matchAll(/'([a-z-]+)'/g)].map((m) => m[1]);
    expect(issueCodes.length).toBeGreaterThan(20);
    expect(undefinedCodes(issueCodes.map((code) => ({ system: `${projectSystems}adapter-issue`, code })))).toEqual([]);
  });

  it('ValueSets include only defined codes, and every binding and ConceptMap source points at a shipped ValueSet', () => {
    for (const [url, vs] of valueSets) {
      for (const inc of vs.compose?.include ?? []) {
        const cs = codeSystems.get(inc.system as string);
        expect(cs, `${url} includes ${inc.system}`).toBeDefined();
        for (const c of inc.concept ?? []) expect(codesOf(cs as CodeSystem).has(c.code as string), `${url} ${c.code}`).toBe(true);
      }
    }
    const bindings = profiles.flatMap(
      (p) => p.differential?.element.filter((e) => e.binding).map((e) => ({ path: e.path, vs: e.binding?.valueSet as string })) ?? [],
    );
    expect(bindings.map((b) => b.path)).toEqual(
      expect.arrayContaining(['Task.code', 'Task.businessStatus', 'Consent.provision.actor.role', 'Consent.provision.class']),
    );
    for (const b of bindings) expect(valueSets.has(b.vs), `${b.path} → ${b.vs}`).toBe(true);
    for (const f of jsonFiles('mappings/conceptmaps')) {
      const map = read<{ sourceCanonical?: string; sourceUri?: string }>(f);
      const source = map.sourceCanonical ?? map.sourceUri;
      if (source?.startsWith('http://peer-pathways.example.org/')) expect(valueSets.has(source), `${f} source ${source}`).toBe(true);
    }
  });

  it('every written Task meets its required Task.code binding and its extensible Task.businessStatus binding', () => {
    const members = (id: string) =>
      new Set(
        valueSets
          .get(`http://peer-pathways.example.org/fhir/ValueSet/${id}`)
          ?.compose?.include.flatMap((i) => i.concept?.map((c) => c.code) ?? []),
      );
    const tasks = written.resources.filter((r): r is Task => r.resourceType === 'Task');
    expect(tasks.length).toBeGreaterThan(20);
    for (const t of tasks) {
      expect(
        t.code?.coding?.some((c) => members('task-code').has(c.code as string)),
        t.code?.coding?.[0]?.code,
      ).toBe(true);
      expect(
        t.businessStatus?.coding?.some((c) => members('task-business-status').has(c.code as string)),
        t.businessStatus?.coding?.[0]?.code,
      ).toBe(true);
    }
  });
});

/** Every project extension instance in a value: the element path it sits on (`CarePlan`, `Communication.payload`…) and the extension. */
function extensionsIn(
  value: unknown,
  path: string,
  found: { path: string; ext: Record<string, any> }[] = [],
): { path: string; ext: Record<string, any> }[] {
  if (Array.isArray(value)) value.forEach((v) => extensionsIn(v, path, found));
  else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'extension' && Array.isArray(v)) {
        for (const e of v)
          if (typeof e?.url === 'string' && e.url.startsWith('http://peer-pathways.example.org/')) found.push({ path, ext: e });
      } else if (key !== 'resource' && key !== 'contained') {
        extensionsIn(v, `${path}.${key}`, found);
      }
    }
    // A nested resource starts its own path.
    if (typeof (value as Resource).resourceType === 'string' && path.includes('.'))
      extensionsIn({ ...(value as object), resourceType: undefined }, (value as Resource).resourceType, found);
  }
  return found;
}

describe('extensions: every project extension written is defined in profiles/extensions/, and used as defined', () => {
  const definitions = new Map(
    jsonFiles('profiles/extensions')
      .map((f) => read<StructureDefinition>(f))
      .map((sd) => [sd.url as string, sd]),
  );
  const valueKey = (e: Record<string, any>) => Object.keys(e).find((k) => k.startsWith('value'));

  it('in written resources, MeasureReports and the profiles (context, value type, sub-extensions)', async () => {
    const res = await fetch(`${svc.url}/governance/measures?start=2026-01-01&end=2026-12-31`, {
      headers: { Authorization: 'Bearer test-token-0123456789' },
    });
    const reports = ((await res.json()) as Bundle).entry?.map((e) => e.resource as Resource) ?? [];
    const found = [...written.resources, ...reports].flatMap((r) => extensionsIn(r, r.resourceType));
    for (const p of profiles)
      for (const el of p.differential?.element ?? []) found.push(...extensionsIn(el.constraint ?? [], 'ElementDefinition.constraint'));
    expect(new Set(found.map((f) => f.ext.url)).size).toBeGreaterThan(15);
    const problems: string[] = [];
    for (const { path, ext } of found) {
      const sd = definitions.get(ext.url);
      if (!sd) {
        problems.push(`${ext.url}: no definition`);
        continue;
      }
      // The path of an element inside a resource, without array positions: CarePlan, Communication.payload.
      if (!sd.context?.some((c) => c.expression === path))
        problems.push(`${ext.url} used on ${path}, defined for ${sd.context?.map((c) => c.expression).join()}`);
      const elements = sd.differential?.element ?? [];
      const value = elements.find((e) => e.id === 'Extension.value[x]');
      if (value?.max === '0') {
        for (const sub of ext.extension ?? []) {
          const slice = elements.find((e) => e.id === `Extension.extension:${sub.url}`);
          const type = elements.find((e) => e.id === `Extension.extension:${sub.url}.value[x]`)?.type?.[0]?.code;
          if (!slice) problems.push(`${ext.url}: undefined sub-extension ${sub.url}`);
          else if (valueKey(sub) !== `value${type?.[0]?.toUpperCase()}${type?.slice(1)}`)
            problems.push(`${ext.url}#${sub.url}: ${valueKey(sub)} but defined ${type}`);
          else if (slice.max !== '*' && (ext.extension ?? []).filter((x: any) => x.url === sub.url).length > Number(slice.max))
            problems.push(`${ext.url}#${sub.url}: more than ${slice.max}`);
        }
      } else {
        const type = value?.type?.[0]?.code as string;
        if (ext.extension?.length || valueKey(ext) !== `value${type[0]?.toUpperCase()}${type.slice(1)}`)
          problems.push(`${ext.url}: ${valueKey(ext)} but defined ${type}`);
      }
    }
    expect([...new Set(problems)]).toEqual([]);
  });
});

describe('the embedded server holds the conformance resources from start-up', () => {
  const all = readConformanceResources();
  const byUrl = async (s: TestService, r: Resource & { url?: string }) =>
    s.fhir(`${r.resourceType}?url=${encodeURIComponent(r.url as string)}`);

  it('a client reads every CodeSystem, ValueSet, profile and Measure by canonical URL', async () => {
    expect(new Set(all.map((r) => r.resourceType))).toEqual(new Set(['StructureDefinition', 'CodeSystem', 'ValueSet', 'Measure']));
    expect(all.length).toBe(profiles.length + jsonFiles('profiles/extensions').length + terminology.length + measures.length);
    for (const r of all) {
      const found = await byUrl(svc, r);
      expect(
        found.map((f) => f.id),
        (r as { url?: string }).url,
      ).toEqual([r.id]);
    }
    const cs = (await svc.fhir<CodeSystem>(`CodeSystem?url=${encodeURIComponent(`${projectSystems}peer-pathway`)}`))[0];
    expect(cs?.concept?.map((c) => c.code)).toContain('clinical-review');
  });

  it('restarting over a kept DATA_DIR adds no duplicate and no version; a changed definition becomes a new version', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'conformance-'));
    try {
      const first = await startTestService({ DATA_DIR: dataDir });
      const before = await Promise.all(all.map((r) => byUrl(first, r)));
      await first.close();
      const second = await startTestService({ DATA_DIR: dataDir });
      const after = await Promise.all(all.map((r) => byUrl(second, r)));
      expect(after.map((found) => found.length)).toEqual(all.map(() => 1));
      expect(after.map((found) => found[0]?.meta?.versionId)).toEqual(before.map((found) => found[0]?.meta?.versionId));
      await second.close();
      // A changed definition is written again, as a new version of the same resource.
      const repo = new EmbeddedRepository(openDatabase(undefined));
      expect(await preloadConformanceResources(repo, all)).toBe(all.length);
      expect(await preloadConformanceResources(repo, all)).toBe(0);
      const changed = { ...all[0], description: 'changed' } as Resource;
      expect(await preloadConformanceResources(repo, [changed])).toBe(1);
      expect(((await repo.readHistory(changed.resourceType, changed.id as string)).entry ?? []).length).toBe(2);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
