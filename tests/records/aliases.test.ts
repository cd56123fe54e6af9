import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConceptMap } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/config/mappings.js';
import type { SourceMapping } from '../../src/config/source-schema.js';
import { applySourceMapping } from '../../src/records/aliases/apply.js';
import { parseSourceRecord, senderPath } from '../../src/records/aliases/index.js';
import { parseRecord } from '../../src/records/index.js';
import { translateCode } from '../../src/contract/terminology.js';
import { fixture } from '../harness.js';

const mappings = loadMappings();
const navigator = mappings.sources.find((s) => s.name === 'recovery-navigator') as SourceMapping;

function navigatorRecord(pathway: string): any {
  return JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/sources/recovery-navigator', `${pathway}.json`), 'utf8'));
}

/** The canonical fixture as the navigator's system would send it in the contract's own shape. */
function canonical(pathway: string): any {
  const record = fixture(pathway);
  record.source.system = 'urn:example:recovery-navigator';
  return record;
}

function source(partial: Partial<SourceMapping>): SourceMapping {
  return { name: 'test', file: 'sources/test.json', fields: [], values: {}, codes: {}, ...partial };
}

describe('a source mapping brings a differently shaped record onto the contract', () => {
  for (const pathway of ['early-engagement', 'concern-routing']) {
    it(`${pathway}: the navigator's record parses to exactly the canonical record`, () => {
      const parsed = parseSourceRecord(navigatorRecord(pathway), mappings);
      const expected = parseRecord(canonical(pathway));
      expect(parsed.ok && expected.ok).toBe(true);
      expect(parsed.ok && parsed.record).toEqual(expected.ok && expected.record);
      expect(parsed.source?.name).toBe('recovery-navigator');
    });

    it(`${pathway}: renames and value maps leave a record already in the contract's shape unchanged`, () => {
      const record = canonical(pathway);
      // Its codes are the contract's, which the navigator's ConceptMaps (rightly) do not list.
      expect(applySourceMapping(record, { ...navigator, codes: {} }, mappings.conceptMaps)).toEqual({ value: record, issues: [] });
    });
  }

  it('renames inside arrays element by element, and leaves no emptied container behind', () => {
    const s = source({
      fields: [
        { from: 'items[].a', to: 'list[].x' },
        { from: 'items[].b.c', to: 'list[].y' },
        { from: 'items', to: 'list' },
      ],
    });
    const out = applySourceMapping(
      {
        items: [
          { a: 1, b: { c: 2 }, d: 3 },
          { a: 4, b: { c: 5 } },
        ],
        keep: true,
      },
      s,
      [],
    );
    expect(out.value).toEqual({
      list: [
        { x: 1, y: 2, d: 3 },
        { x: 4, y: 5 },
      ],
      keep: true,
    });
  });

  it('maps values after renaming, element by element in arrays, and leaves unlisted values for the schema to judge', () => {
    const s = source({
      fields: [{ from: 'p', to: 'personPreference' }],
      values: { personPreference: { yes: 'accepted' }, 'tags[]': { a: 'A' } },
    });
    expect(applySourceMapping({ p: 'yes', tags: ['a', 'b'] }, s, []).value).toEqual({ personPreference: 'accepted', tags: ['A', 'b'] });
    expect(applySourceMapping({ p: 'perhaps' }, s, []).value).toEqual({ personPreference: 'perhaps' });
  });

  it('maps a contract path back to the path the sender used, indices kept', () => {
    expect(senderPath(navigator, ['informationShared', 2, 'category'])).toEqual(['shared', 2, 'what']);
    expect(senderPath(navigator, ['escalationRoute', 'clinicalOwner', 'reference'])).toEqual(['escalation', 'owner', 'reference']);
    expect(senderPath(navigator, ['escalationRoute', 'instructions'])).toEqual(['escalation', 'instructions']);
    expect(senderPath(navigator, ['intake', 'date'])).toEqual(['intake', 'date']);
  });
});

describe('errors name the field the sender used', () => {
  it('a missing field is reported under its sender name, with the contract name beside it', () => {
    const record = navigatorRecord('early-engagement');
    delete record.nextAppt.when;
    const parsed = parseSourceRecord(record, mappings);
    expect(parsed.ok).toBe(false);
    const issue = !parsed.ok ? parsed.issues[0] : undefined;
    expect(issue?.expression).toEqual(['nextAppt.when']);
    expect(issue?.details?.coding?.[0]?.code).toBe('required');
    expect(issue?.details?.text).toContain(
      '"nextAppt.when" (nextAppointment.date in the record contract, renamed by mappings/sources/recovery-navigator.json)',
    );
  });

  it("a bad value and an unknown field are reported under the sender's paths", () => {
    const record = navigatorRecord('early-engagement');
    record.contact.how = 'carrier-pigeon';
    record.nextAppt.whenn = '2026-11-19';
    const parsed = parseSourceRecord(record, mappings);
    const paths = !parsed.ok ? parsed.issues.map((i) => [i.expression?.[0], i.details?.coding?.[0]?.code]) : [];
    expect(paths).toEqual(
      expect.arrayContaining([
        ['contact.how', 'schema-invalid'],
        ['nextAppt.whenn', 'unknown-field'],
      ]),
    );
  });

  it('an unmapped local code is an issue naming the field, the ConceptMap and the code — never dropped', () => {
    const record = navigatorRecord('early-engagement');
    record.barriers = ['OVW', 'BUS-STRIKE'];
    const parsed = parseSourceRecord(record, mappings);
    expect(parsed.ok).toBe(false);
    const issues = !parsed.ok ? parsed.issues : [];
    expect(issues).toHaveLength(1);
    expect(issues[0]?.expression).toEqual(['barriers[1]']);
    expect(issues[0]?.details?.coding?.[0]?.code).toBe('unmapped-code');
    expect(issues[0]?.details?.text).toContain(
      '"BUS-STRIKE" has no translation in ConceptMap http://peer-pathways.example.org/fhir/ConceptMap/recovery-navigator-barriers',
    );
  });

  it('free text sent in a coded field is never quoted back', () => {
    const record = navigatorRecord('concern-routing');
    record.concerns[0].type = 'Sleeping in their car since Tuesday';
    const parsed = parseSourceRecord(record, mappings);
    expect(JSON.stringify(parsed)).not.toContain('Sleeping');
    expect(!parsed.ok && parsed.issues[0]?.expression).toEqual(['concerns[0].type']);
  });

  it('an unknown source mapping named by the caller is refused', () => {
    const parsed = parseSourceRecord(navigatorRecord('early-engagement'), mappings, 'nope');
    expect(!parsed.ok && parsed.issues[0]?.details?.coding?.[0]?.code).toBe('source-mapping-unknown');
  });
});

describe('ConceptMap translation ($translate, one direction)', () => {
  const map = (group: any): ConceptMap => ({ resourceType: 'ConceptMap', status: 'active', url: 'urn:test', group: [group] });
  const element = (code: string, target: string, equivalence: string) => ({ code, target: [{ code: target, equivalence }] });

  it('uses equivalent, equal, wider, subsumes and relatedto targets; never narrower, inexact or unmatched ones', () => {
    const m = map({
      source: 'urn:s',
      target: 'urn:t',
      element: [
        element('a', 'A', 'wider'),
        element('b', 'B', 'narrower'),
        element('c', 'C', 'inexact'),
        { code: 'd', target: [{ equivalence: 'unmatched' }] },
      ],
    });
    expect(translateCode(m, 'a')).toEqual({ ok: true, code: 'A' });
    for (const code of ['b', 'c', 'd'])
      expect(translateCode(m, code)).toMatchObject({ ok: false, reason: expect.stringContaining('no usable target') });
    expect(translateCode(m, 'z')).toEqual({ ok: false, reason: 'it is not listed' });
  });

  it('honours group.unmapped: provided keeps the code, fixed gives one', () => {
    expect(translateCode(map({ source: 'urn:s', element: [], unmapped: { mode: 'provided' } }), 'x')).toEqual({ ok: true, code: 'x' });
    expect(translateCode(map({ source: 'urn:s', element: [], unmapped: { mode: 'fixed', code: 'other' } }), 'x')).toEqual({
      ok: true,
      code: 'other',
    });
  });
});
