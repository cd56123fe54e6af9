import { validateResource } from '@medplum/core';
import type { Resource, Task } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/config/mappings.js';
import { loadFhirDefinitions } from '../../src/contract/definitions.js';
import { tokenSearchValue } from '../../src/fhir/lookup/search-values.js';
import { structuralIssues } from '../../src/gates/evaluate.js';
import { loadProfiles } from '../../src/gates/load-profiles.js';
import { MappingContext, type ResolvedReference } from '../../src/mapping/context.js';
import { gateBundle, mapRecord } from '../../src/mapping/index.js';
import { buildSafetyTask } from '../../src/mapping/triggers/safety.js';
import { AdapterError } from '../../src/outcomes/index.js';
import { parseRecord, type PathwayCode } from '../../src/records/index.js';
import { allowedTypes, collectReferences } from '../../src/records/references.js';
import { fixture, startTestService, type TestService } from '../harness.js';

/**
 * Issue 11's property: whatever a sender sends, (A) a record the schema accepts maps to resources that
 * pass base R4 validation (Medplum's validateResource) — or, for the few rules that need the site's time
 * zone, to a 400 naming the record's field —; and (B) over HTTP against the embedded server, with an
 * immediate safety concern disclosed, the answer is never a 5xx and exactly one stat clinical-review Task
 * with a clinical owner exists afterwards; without a disclosure, a refused record writes nothing.
 * A new pathway is one more entry in `pathways` (its example record in tests/fixtures/).
 */
const pathways: Record<PathwayCode, { fixture: string }> = {
  'early-engagement': { fixture: 'early-engagement' },
  'step-down': { fixture: 'step-down' },
  'crisis-transition': { fixture: 'crisis-transition' },
  'concern-routing': { fixture: 'concern-routing' },
  'recovery-maintenance': { fixture: 'recovery-maintenance' },
};
const pathwayNames = Object.keys(pathways) as PathwayCode[];
/** Runs per pathway: A is in-process (fast), B goes over HTTP. */
const runsA = Number(process.env.PROPERTY_RUNS ?? 60);
const runsB = Number(process.env.PROPERTY_HTTP_RUNS ?? 15);

const source = 'urn:test:property|src,$\\';
const peer = 'PractitionerRole/example-peer';
const actorTypes = ['PractitionerRole', 'Practitioner', 'CareTeam', 'Organization'];

// ---- generators -------------------------------------------------------------------------------

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const year = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 2020, max: 2030 }) },
  { weight: 1, arbitrary: fc.constantFrom(1, 9, 999, 1000, 9999) },
);
const calendarDate = fc
  .record({ y: year, m: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 28 }) })
  .map(({ y, m, d }) => `${pad(y, 4)}-${pad(m)}-${pad(d)}`);
const offset = fc.constantFrom('Z', '+00:00', '+14:00', '-14:00', '+05:30', '-12:00', '+13:59', '-09:30');
const dateTime = fc
  .record({
    date: calendarDate,
    h: fc.integer({ min: 0, max: 23 }),
    mi: fc.integer({ min: 0, max: 59 }),
    s: fc.integer({ min: 0, max: 59 }),
    ms: fc.option(fc.integer({ min: 0, max: 999_999_999 })),
    off: offset,
  })
  .map(({ date, h, mi, s, ms, off }) => `${date}T${pad(h)}:${pad(mi)}:${pad(s)}${ms === null ? '' : `.${ms}`}${off}`);
/** Dates FHIR refuses: offsets past ±14:00, year 0000, impossible days and times, partial or local. */
const badDate = fc.constantFrom(
  '2026-11-12T10:00:00+15:00',
  '2026-11-12T10:00:00-14:01',
  '0000-01-01',
  '2026-02-30',
  '2026-02-29',
  '2026-11-12T24:00:00Z',
  '2026-11-12T10:00:60Z',
  '2026-11',
  '2026-11-12T10:00Z',
  '2026-11-12T10:00:00',
  '10000-01-01',
  '2026-13-01',
  ' 2026-11-12',
);
const anyDate = fc.oneof({ weight: 3, arbitrary: calendarDate }, { weight: 3, arbitrary: dateTime }, { weight: 2, arbitrary: badDate });
const text = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
  fc.constantFrom(' ', ' padded ', 'a\u00a0b', '😀 emoji', 'tab\tand\nnewline', 'x'.repeat(4001), 'ünïcödé', '<b>html</b>', 'a|b,c$d\\e'),
);
const referenceValue = fc.oneof(
  fc
    .constantFrom(
      'Patient/example-person',
      'CareTeam/example-outpatient-team',
      'Organization/example-provider',
      'PractitionerRole/example-clinician',
      peer,
      'PractitionerRole/example-on-call',
      'PractitionerRole/example-case-manager',
      'PractitionerRole/does-not-exist',
    )
    .map((reference) => ({ reference })),
  fc.record({
    identifier: fc.record({
      system: fc.constantFrom('urn:x', 'urn:x|y', 'urn:a,b$c\\'),
      value: fc.constantFrom('A-7', 'A-7|B', 'a-7', '$', '\\'),
    }),
  }),
  fc.constantFrom(
    { reference: 'Patient/example-person', type: 'PractitionerRole' },
    { display: 'no reference' },
    { reference: 'not a reference' },
  ),
);

type Path = (string | number)[];
function leaves(value: unknown, path: Path = []): Path[] {
  if (Array.isArray(value)) return [path, ...value.flatMap((v, i) => leaves(v, [...path, i]))];
  if (value && typeof value === 'object')
    return [...(path.length ? [path] : []), ...Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, k]))];
  return [path];
}
/** Spec §4's envelope (and the discriminator): kept schema-valid, so that safety first applies; only its references' targets vary. */
const envelopeKeys = new Set(['recordId', 'source', 'person', 'peerSpecialist', 'safety', 'pathway']);

type Mutation = { at: number; pick: number; grow: number };
const mutation: fc.Arbitrary<Mutation> = fc.record({ at: fc.nat(), pick: fc.nat(), grow: fc.integer({ min: 2, max: 40 }) });

/** Applies generated changes to non-envelope fields, by the kind of value found there. */
function mutate(record: any, mutations: Mutation[], values: { date: string[]; text: string[]; ref: unknown[]; num: number[] }): void {
  for (const m of mutations) {
    const all = leaves(record).filter((p) => p.length > 0 && !envelopeKeys.has(String(p[0])));
    if (!all.length) return;
    const path = all[m.at % all.length]!;
    const parent = path.slice(0, -1).reduce<any>((o, k) => o?.[k], record);
    const key = path.at(-1)!;
    const current = parent?.[key];
    if (!parent || typeof parent !== 'object') continue;
    if (Array.isArray(current)) {
      if (current.length) parent[key] = Array.from({ length: m.grow }, (_, i) => structuredClone(current[i % current.length]));
    } else if (current && typeof current === 'object' && ('reference' in current || 'identifier' in current)) {
      parent[key] = values.ref[m.pick % values.ref.length];
    } else if (typeof current === 'string' && /^\d{4}-\d{2}-\d{2}/.test(current)) {
      parent[key] = values.date[m.pick % values.date.length];
    } else if (typeof current === 'string') {
      parent[key] = values.text[m.pick % values.text.length];
    } else if (typeof current === 'number') {
      parent[key] = values.num[m.pick % values.num.length];
    } else if (typeof current === 'boolean') {
      parent[key] = !current;
    }
  }
}

const generated = fc.record({
  pathway: fc.integer({ min: 0, max: pathwayNames.length - 1 }),
  mutations: fc.array(mutation, { maxLength: 6 }),
  values: fc.record({
    date: fc.array(anyDate, { minLength: 1, maxLength: 4 }),
    text: fc.array(text, { minLength: 1, maxLength: 4 }),
    ref: fc.array(referenceValue, { minLength: 1, maxLength: 4 }),
    num: fc.array(fc.oneof(fc.integer({ min: -3, max: 10 }), fc.constantFrom(2 ** 31, 1e308, 0.5)), { minLength: 1, maxLength: 3 }),
  }),
  recordedAt: fc.oneof(dateTime, calendarDate),
  disclosedAt: fc.option(fc.oneof(dateTime, calendarDate)),
  consentTimes: fc.record({ recordedAt: fc.option(dateTime), expires: fc.option(fc.oneof(calendarDate, dateTime)) }),
  /** The peer specialist swapped for another kind of resource (a 422 on peerSpecialist), or not. */
  peerSpecialist: fc.option(
    fc.constantFrom(
      'CareTeam/example-outpatient-team',
      'Patient/example-person',
      'PractitionerRole/example-clinician',
      'PractitionerRole/does-not-exist',
      'Organization/example-provider',
    ),
  ),
});

type Generated = typeof generated extends fc.Arbitrary<infer T> ? T : never;

function build(g: Generated, recordId: string, disclosed: boolean): any {
  const record = fixture(pathways[pathwayNames[g.pathway]!].fixture, recordId);
  record.source = { system: source };
  mutate(record, g.mutations, g.values);
  record.recordedAt = g.recordedAt;
  if (g.peerSpecialist) record.peerSpecialist = { reference: g.peerSpecialist };
  if (g.consentTimes.recordedAt === null) delete record.consent.recordedAt;
  else record.consent.recordedAt = g.consentTimes.recordedAt;
  if (g.consentTimes.expires !== null) record.consent.expires = g.consentTimes.expires;
  record.safety = {
    immediateConcernDisclosed: disclosed,
    summary: 'Said they feel unsafe.',
    ...(g.disclosedAt ? { disclosedAt: g.disclosedAt } : {}),
  };
  return record;
}

// ---- A: the pure core -------------------------------------------------------------------------

describe('A: any record the schema accepts maps to valid R4 (or a 400 naming its field)', () => {
  loadFhirDefinitions();
  const mappings = loadMappings();
  const profiles = loadProfiles();

  /** Resolution as the FHIR server would give it for the demo directory: literal references of an allowed type. */
  function stubResolution(record: unknown): { resolved: Map<string, ResolvedReference>; complete: boolean; peerRoles: string[] } {
    const resolved = new Map<string, ResolvedReference>();
    let complete = true;
    for (const { path, ref } of collectReferences(record)) {
      const [type, id] = ref.reference?.split('/') ?? [];
      if (type && id && id !== 'does-not-exist' && allowedTypes(path).includes(type) && (!ref.type || ref.type === type)) {
        resolved.set(path, { literal: ref.reference!, resource: { resourceType: type, id } as Resource });
      } else complete = false;
    }
    return { resolved, complete, peerRoles: [peer] };
  }

  function validR4(resources: Resource[]): void {
    for (const r of resources) {
      expect(() => validateResource(r), `${r.resourceType}: ${JSON.stringify(r).slice(0, 300)}`).not.toThrow();
    }
  }

  it(`${runsA} generated records per pathway`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(generated, fc.boolean(), (g, disclosed) => {
        const parsed = parseRecord(build(g, 'prop-a', disclosed));
        if (!parsed.ok) {
          for (const i of parsed.issues) expect(i.expression?.length, JSON.stringify(i)).toBeGreaterThan(0);
          return;
        }
        accepted++;
        const { resolved, complete, peerRoles } = stubResolution(parsed.record);
        const ctx = new MappingContext(parsed.record, mappings, resolved, peerRoles);
        try {
          if (!complete) {
            // Blocked on a reference: only the safety review (and the audit) can be written.
            if (parsed.record.safety.immediateConcernDisclosed) validR4([buildSafetyTask(ctx, { blocked: true }).resource]);
            return;
          }
          const bundle = gateBundle(ctx, mapRecord(ctx));
          validR4((bundle.entry ?? []).map((e) => e.resource as Resource));
          expect(structuralIssues(bundle, profiles)).toEqual([]);
        } catch (err) {
          if (!(err instanceof AdapterError)) throw err;
          expect(err.status).toBe(400);
          const named = (err.outcome.issue ?? []).flatMap((i) => i.expression ?? []);
          expect(named.length).toBeGreaterThan(0);
          for (const field of named) expect(field).toMatch(/^(recordedAt|safety\.disclosedAt|consent\.(expires|recordedAt))$/);
        }
      }),
      { numRuns: runsA * pathwayNames.length, seed: Number(process.env.PROPERTY_SEED ?? 1107) },
    );
    // The generators must reach the mapping, not only the schema's refusals.
    expect(accepted).toBeGreaterThan(runsA / 2);
  });
});

// ---- B: over HTTP, against the embedded FHIR server -------------------------------------------

describe('B: over HTTP, never a 5xx; a disclosure always ends in one stat review; a refusal without one writes nothing', () => {
  let svc: TestService;
  let sequence = 0;
  beforeAll(async () => {
    svc = await startTestService({ RATE_LIMIT_PER_MINUTE: '0', ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' });
  });
  afterAll(async () => {
    await svc.close();
  });

  /** Text-level changes outside the envelope: a duplicated key, a lone surrogate, a control character. */
  const textChange = fc.constantFrom('none', 'none', 'duplicate-key', 'lone-surrogate', 'control-character');
  function asText(record: any, change: string): string {
    const json = JSON.stringify(record);
    const key = Object.keys(record).find(
      (k) => !envelopeKeys.has(k) && typeof record[k] === 'object' && record[k] !== null && !Array.isArray(record[k]),
    );
    if (change === 'none' || !key) return json;
    const inner =
      change === 'duplicate-key'
        ? `"${key}":${JSON.stringify(record[key])},`
        : `"${key}":{"x":"${change === 'lone-surrogate' ? '\\uDC00' : '\\u0007'}"},`;
    return json.replace(`"${key}":`, `${inner}"${key}":`);
  }

  async function recordResources(recordId: string): Promise<Resource[]> {
    const tag = encodeURIComponent(tokenSearchValue(source, recordId));
    const types = ['Task', 'CarePlan', 'Communication', 'Consent', 'AuditEvent', 'Provenance', 'Encounter', 'Goal'];
    return (await Promise.all(types.map((t) => svc.fhir(`${t}?_tag=${tag}`)))).flat();
  }

  it(`${runsB} generated records per pathway, with and without a disclosure`, async () => {
    await fc.assert(
      fc.asyncProperty(generated, fc.boolean(), textChange, async (g, disclosed, change) => {
        const recordId = `prop-b-${++sequence}`;
        const res = await svc.post(asText(build(g, recordId, disclosed), change));
        expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBeLessThan(500);
        const written = await recordResources(recordId);
        if (disclosed) {
          const stat = written.filter(
            (r): r is Task => r.resourceType === 'Task' && r.priority === 'stat' && r.code?.coding?.[0]?.code === 'clinical-review',
          );
          expect(stat, `${res.status} ${JSON.stringify(res.body).slice(0, 500)}`).toHaveLength(1);
          const owner = stat[0]!.owner?.reference ?? '';
          expect(actorTypes).toContain(owner.split('/')[0]);
          expect(owner).not.toBe(peer);
        } else if (res.status === 400) {
          expect(written).toEqual([]);
        }
      }),
      { numRuns: runsB * pathwayNames.length, seed: Number(process.env.PROPERTY_SEED ?? 1107) },
    );
  });
});
