import { Operator, parseSearchRequest, type SearchRequest } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Resource } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFhirDefinitions } from '../../src/contract/definitions.js';
import { MONTH_ENDS_MARK, openDatabase, SYSTEM_KEYS_MARK } from '../../src/embedded/database.js';
import { filterCondition } from '../../src/embedded/indexes.js';
import { EmbeddedRepository } from '../../src/embedded/repository.js';

// The lookup conditions that decide a filter without Medplum's matcher (indexes.ts SqlCondition.exact:
// dates by every prefix, `[code]`, `[system]|[code]` and `|[code]` tokens, each also negated by `:not`) against Medplum's own
// MemoryRepository holding the same resources in the same order: every search must answer the same ids
// and total. Dates at the edges a time zone moves (midnight, ±14:00, year, month, day precision), tokens
// in mixed case, with and without a system. A store of an older version (no system|value rows) must
// answer the same through the matcher.

const systems = ['urn:example:sys-a', 'URN:Example:SYS-A', 'urn:example:sys-b', undefined] as const;
const codes = ['clinical-review', 'Clinical-Review', 'outcome-review', 'step-down'] as const;
const pad = (n: number) => String(n).padStart(2, '0');

/** A FHIR date or dateTime around the end of February / March 2025, at any precision and offset. */
const dateValue = fc
  .record({
    precision: fc.constantFrom('year', 'month', 'day', 'time', 'time', 'time'),
    month: fc.constantFrom(2, 3, 4, 12),
    day: fc.constantFrom(1, 28, 31),
    hour: fc.constantFrom(0, 12, 23),
    minute: fc.constantFrom(0, 30, 59),
    zone: fc.constantFrom('Z', '+14:00', '-12:00', '+01:00', '-05:00'),
    year: fc.constantFrom(2024, 2025),
  })
  .map(({ precision, year, month, day, hour, minute, zone }) => {
    const d = Math.min(day, month === 2 ? 28 : month === 4 ? 30 : 31);
    if (precision === 'year') return String(year);
    // Months of 31 days only: Medplum ends a shorter month on its day 31, rolled over into the next month, where
    // the embedded server reads FHIR's last day (indexes.ts datePeriod; tested on its own below).
    if (precision === 'month') return `${year}-${pad(month === 2 || month === 4 ? month + 1 : month)}`;
    if (precision === 'day') return `${year}-${pad(month)}-${pad(d)}`;
    return `${year}-${pad(month)}-${pad(d)}T${pad(hour)}:${pad(minute)}:00${zone}`;
  });
/** An instant (AuditEvent.recorded): always a full time with an offset. */
const instantValue = dateValue.map((v) =>
  v.includes('T') ? v : `${v.length === 4 ? `${v}-03` : v}${v.length <= 7 ? '-01' : ''}T00:00:00+14:00`,
);

const coding = fc
  .record({ system: fc.constantFrom(...systems), code: fc.constantFrom(...codes) })
  .map(({ system, code }) => (system ? { system, code } : { code }));
const period = fc
  .record({ start: fc.option(dateValue, { nil: undefined }), end: fc.option(dateValue, { nil: undefined }) })
  .map((p) => (p.start || p.end ? Object.fromEntries(Object.entries(p).filter(([, v]) => v)) : { start: '2025-03-15' }));

const resource: fc.Arbitrary<Resource> = fc.oneof(
  fc
    .record({
      authoredOn: fc.option(dateValue, { nil: undefined }),
      code: coding,
      tag: coding,
      status: fc.constantFrom('requested', 'completed'),
    })
    .map(
      ({ authoredOn, code, tag, status }) =>
        ({
          resourceType: 'Task',
          status,
          intent: 'order',
          code: { coding: [code] },
          meta: { tag: [tag] },
          ...(authoredOn ? { authoredOn } : {}),
        }) as Resource,
    ),
  fc.record({ period, category: fc.array(coding, { minLength: 1, maxLength: 2 }) }).map(
    ({ period, category }) =>
      ({
        resourceType: 'CarePlan',
        status: 'active',
        intent: 'plan',
        subject: { reference: 'Patient/p' },
        period,
        category: [{ coding: category }],
      }) as Resource,
  ),
  fc
    .record({ period, type: coding, cls: coding })
    .map(
      ({ period, type, cls }) =>
        ({ resourceType: 'Encounter', status: 'finished', class: cls, type: [{ coding: [type] }], period }) as Resource,
    ),
  fc
    .record({ sent: fc.option(dateValue, { nil: undefined }) })
    .map(({ sent }) => ({ resourceType: 'Communication', status: 'completed', ...(sent ? { sent } : {}) }) as Resource),
  fc.record({ recorded: instantValue, type: coding, tag: coding }).map(
    ({ recorded, type, tag }) =>
      ({
        resourceType: 'AuditEvent',
        type,
        recorded,
        meta: { tag: [tag] },
        agent: [{ requestor: true, who: { display: 'adapter' } }],
        source: { observer: { display: 'adapter' } },
      }) as Resource,
  ),
);

const dateParams: Record<string, string[]> = {
  Task: ['authored-on'],
  CarePlan: ['date'],
  Encounter: ['date'],
  Communication: ['sent'],
  AuditEvent: ['date'],
};
const tokenParams: Record<string, string[]> = {
  Task: ['code', '_tag', 'status'],
  CarePlan: ['category'],
  Encounter: ['type', 'class'],
  Communication: [],
  AuditEvent: ['type', '_tag'],
};
// Not `ne`: Medplum's matcher takes a resource without the value for it, FHIR does not (tested on its own below).
const prefixes = ['eq', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];
const tokenValue = fc
  .record({ system: fc.constantFrom(...systems, ''), code: coding.map((c) => c.code), bare: fc.boolean() })
  .map(({ system, code, bare }) => (bare ? code : `${system ?? ''}|${code}`));

/** A search of one type: one or two date filters and up to two token filters, each maybe a list. */
const search = fc.constantFrom(...Object.keys(dateParams)).chain((type) =>
  fc
    .record({
      dates: fc.array(
        fc.record({ code: fc.constantFrom(...(dateParams[type] as string[])), prefix: fc.constantFrom(...prefixes), value: dateValue }),
        { maxLength: 2 },
      ),
      tokens: (tokenParams[type] as string[]).length
        ? fc.array(
            fc.record({
              code: fc.constantFrom(...(tokenParams[type] as string[])),
              values: fc.array(tokenValue, { minLength: 1, maxLength: 3 }),
              not: fc.boolean(),
            }),
            { maxLength: 2 },
          )
        : fc.constant([]),
    })
    .map(({ dates, tokens }) => {
      const query = new URLSearchParams();
      for (const d of dates) query.append(d.code, `${d.prefix}${d.value}`);
      for (const t of tokens) query.append(t.not ? `${t.code}:not` : t.code, t.code === 'status' ? 'requested' : t.values.join(','));
      query.append('_count', '1000');
      return parseSearchRequest(`${type}?${query.toString()}`);
    }),
);

let current: EmbeddedRepository;
let older: EmbeddedRepository;
const oracle = new MemoryRepository();

async function ids(repo: { search: MemoryRepository['search'] }, request: SearchRequest): Promise<{ ids: string[]; total?: number }> {
  const bundle = await repo.search(request);
  return { ids: (bundle.entry ?? []).map((e) => e.resource?.id as string), total: bundle.total };
}

beforeAll(async () => {
  loadFhirDefinitions();
  current = new EmbeddedRepository(openDatabase(undefined));
  const olderDb = openDatabase(undefined);
  olderDb.prepare('DELETE FROM store_meta WHERE name = ?').run(SYSTEM_KEYS_MARK);
  older = new EmbeddedRepository(olderDb);
  for (const r of fc.sample(resource, { numRuns: 200, seed: 12 })) {
    const stored = await current.createResource(r);
    await older.withSeeding(() => older.createResource(stored, undefined, true));
    await oracle.withSeeding(() => oracle.createResource(stored, undefined, true));
  }
});
afterAll(async () => {
  await current?.close();
  await older?.close();
});

describe("searches decided by the lookup tables answer what Medplum's matcher answers", () => {
  it('date prefixes and tokens at every precision and offset, on both kinds of store', async () => {
    let decided = 0;
    let negatedDecided = 0;
    await fc.assert(
      fc.asyncProperty(search, async (request) => {
        const expected = await ids(oracle, request);
        expect(await ids(current, request)).toEqual(expected);
        expect(await ids(older, request)).toEqual(expected);
        const conditions = (request.filters ?? []).map((f) => filterCondition(request.resourceType, f, true));
        if (conditions.every((c) => c?.exact)) decided++;
        if (conditions.every((c) => c?.exact) && conditions.some((c) => c?.negated)) negatedDecided++;
      }),
      { numRuns: 200, seed: 12 },
    );
    // The property exercises the decided path, not only the matcher.
    expect(decided).toBeGreaterThan(50);
    expect(negatedDecided).toBeGreaterThan(20);
  });

  it("paging a decided search gives the pages of Medplum's result", async () => {
    const request = parseSearchRequest(
      'Task?authored-on=ge2025-02-01&authored-on=lt2025-05-01&code=urn:example:sys-a|clinical-review,urn:example:sys-b|outcome-review',
    );
    expect(request.filters?.every((f) => filterCondition('Task', f, true)?.exact)).toBe(true);
    const all = await ids(oracle, { ...request, count: 1000 });
    expect(all.ids.length).toBeGreaterThan(5);
    for (const [offset, count] of [
      [0, 3],
      [3, 3],
      [all.ids.length - 2, 5],
      [all.ids.length, 5],
      [0, 0],
    ] as const) {
      expect(await ids(current, { ...request, offset, count })).toEqual(await ids(oracle, { ...request, offset, count }));
    }
  });

  it('a month is its first to its last day, on the resource and in the filter (FHIR R4 search.html#date; Medplum rolled day 31 into the next month)', async () => {
    const repo = new EmbeddedRepository(openDatabase(undefined));
    try {
      const authored = {
        febLast: '2025-02-28T23:00:00Z',
        marFirst: '2025-03-01T00:00:00Z',
        marThird: '2025-03-03T17:28:00Z',
        aprLast: '2025-04-30T12:00:00Z',
        mayFirst: '2025-05-01T12:24:00Z',
        febMonth: '2025-02',
        aprMonth: '2025-04',
        marMilli: '2025-03-01T00:00:00.000Z',
      };
      const byId = new Map<string, string>();
      for (const [name, authoredOn] of Object.entries(authored)) {
        const task = await repo.createResource({ resourceType: 'Task', status: 'requested', intent: 'order', authoredOn } as Resource);
        byId.set(task.id as string, name);
      }
      // Without a value: no date comparison takes it, `ne` included (FHIR: that is :missing's).
      const none = await repo.createResource({ resourceType: 'Task', status: 'requested', intent: 'order' } as Resource);
      byId.set(none.id as string, 'none');
      const found = async (query: string) => {
        const bundle = await repo.search(parseSearchRequest(`Task?${query}&_count=100`));
        return (bundle.entry ?? []).map((e) => byId.get(e.resource?.id as string)).sort();
      };
      expect(await found('authored-on=2025-02')).toEqual(['febLast', 'febMonth']);
      // An instant to the millisecond falls in the day and the second that contain it.
      expect(await found('authored-on=2025-03-01')).toEqual(['marFirst', 'marMilli']);
      expect(await found('authored-on=2025-03-01T00:00:00Z')).toEqual(['marFirst', 'marMilli']);
      expect(await found('authored-on=2025-03-01T00:00:00.000Z')).toEqual(['marFirst', 'marMilli']);
      // A search value to the minute (FHIR allows it) is that minute, in its zone.
      expect(await found('authored-on=2025-03-01T00:00Z')).toEqual(['marFirst', 'marMilli']);
      expect(await found('authored-on=2025-03-03T18:28%2B01:00')).toEqual(['marThird']);
      expect(await found('authored-on=ge2025-03-03T17:29Z')).toEqual(['aprLast', 'aprMonth', 'mayFirst']);
      expect(await found('authored-on=ne2025-03-01')).toEqual(['aprLast', 'aprMonth', 'febLast', 'febMonth', 'marThird', 'mayFirst']);
      expect(await found('authored-on:missing=true')).toEqual(['none']);
      expect(await found('authored-on=2025-04')).toEqual(['aprLast', 'aprMonth']);
      expect(await found('authored-on=sa2025-02')).toEqual(['aprLast', 'aprMonth', 'marFirst', 'marMilli', 'marThird', 'mayFirst']);
      expect(await found('authored-on=le2025-04')).toEqual([
        'aprLast',
        'aprMonth',
        'febLast',
        'febMonth',
        'marFirst',
        'marMilli',
        'marThird',
      ]);
      expect(await found('authored-on=gt2025-04')).toEqual(['mayFirst']);
      expect(await found('authored-on=eb2025-03')).toEqual(['febLast', 'febMonth']);
      // A stored month ends on its last day: February holds no 3 March.
      expect(await found('authored-on=2025-03-03')).toEqual(['marThird']);
      expect(await found('authored-on=ne2025-02')).toEqual(['aprLast', 'aprMonth', 'marFirst', 'marMilli', 'marThird', 'mayFirst']);
      // A date parameter without lookup rows (birthdate), and a chain's end, are read the same way by the matcher.
      const born = new Map<string, string>();
      for (const [name, birthDate] of Object.entries({
        feb29: '1980-02-29',
        marFirst: '1980-03-01',
        febMonth: '1980-02',
        aprMonth: '1980-04',
      })) {
        const patient = await repo.createResource({ resourceType: 'Patient', birthDate } as Resource);
        born.set(patient.id as string, name);
        const task = await repo.createResource({
          resourceType: 'Task',
          status: 'draft',
          intent: 'order',
          for: { reference: `Patient/${patient.id}` },
        } as Resource);
        born.set(task.id as string, `task-${name}`);
      }
      const of = async (path: string) =>
        ((await repo.search(parseSearchRequest(path))).entry ?? []).map((e) => born.get(e.resource?.id as string)).sort();
      expect(await of('Patient?birthdate=1980-02')).toEqual(['feb29', 'febMonth']);
      expect(await of('Patient?birthdate=1980-03-01')).toEqual(['marFirst']);
      expect(await of('Patient?birthdate=1980-05-01')).toEqual([]);
      expect(await of('Patient?birthdate=sa1980-02')).toEqual(['aprMonth', 'marFirst']);
      expect(await of('Patient?birthdate=ne1980-02')).toEqual(['aprMonth', 'marFirst']);
      expect(await of('Patient?death-date=ne1980-02')).toEqual([]);
      expect(await of('Task?patient.birthdate=1980-02')).toEqual(['task-feb29', 'task-febMonth']);
    } finally {
      await repo.close();
    }
  });

  it('a store of an older version has its month rows rewritten once, at open', async () => {
    const db = openDatabase(undefined);
    const first = new EmbeddedRepository(db);
    const task = await first.createResource({
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      authoredOn: '2025-02',
    } as Resource);
    const other = await first.createResource({
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      authoredOn: '2025-03-03',
    } as Resource);
    // As the older version wrote them: February ending on 3 March, and no mark.
    db.prepare(
      "UPDATE search_date SET high = '2025-03-03T23:59:59.999Z' WHERE rid = (SELECT rid FROM resources WHERE id = ?) AND code = 'Task.authored-on'",
    ).run(task.id as string);
    db.prepare('DELETE FROM store_meta WHERE name = ?').run(MONTH_ENDS_MARK);
    const onThird = async (repo: EmbeddedRepository) =>
      ((await repo.search(parseSearchRequest('Task?authored-on=2025-03-03'))).entry ?? []).map((e) => e.resource?.id).sort();
    expect(await onThird(first)).toEqual([task.id, other.id].sort());
    const reopened = new EmbeddedRepository(db);
    expect(await onThird(reopened)).toEqual([other.id]);
    expect(db.prepare('SELECT 1 AS one FROM store_meta WHERE name = ?').get(MONTH_ENDS_MARK)).toBeDefined();
    // The row of a day-precision value ending on the 3rd is the same after the rewrite.
    const high = db
      .prepare("SELECT high FROM search_date WHERE rid = (SELECT rid FROM resources WHERE id = ?) AND code = 'Task.authored-on'")
      .get(other.id as string) as { high: string };
    expect(high.high).toBe('2025-03-03T23:59:59.999Z');
    await reopened.close();
  });

  it("what stays with the matcher: `system|` alone, references, an older store's system filters", () => {
    const exact = (path: string, systemKeys = true) =>
      parseSearchRequest(path).filters?.map((f) => filterCondition(path.split('?')[0] as string, f, systemKeys)?.exact);
    expect(exact('Task?code=urn:example:sys-a|')).toEqual([undefined]);
    expect(exact('Task?authored-on=ne2025-03-01')).toEqual([true]);
    expect(exact('Task?owner=PractitionerRole/x')).toEqual([false]);
    expect(exact('Task?code=urn:example:sys-a|clinical-review', false)).toEqual([false]);
    expect(exact('Task?code=clinical-review', false)).toEqual([true]);
    // A negation is decided only where the equality it negates is exact.
    expect(exact('Task?_tag:not=urn:example:sys-a|clinical-review')).toEqual([true]);
    expect(exact('Task?_tag:not=urn:example:sys-a|clinical-review', false)).toEqual([undefined]);
    expect(exact('Task?code:not=urn:example:sys-a|')).toEqual([undefined]);
    expect(exact('Task?owner:not=PractitionerRole/x')).toEqual([undefined]);
    expect(parseSearchRequest('Task?authored-on=ge2025-03-01').filters?.[0]?.operator).toBe(Operator.GREATER_THAN_OR_EQUALS);
  });
});
