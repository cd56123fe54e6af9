import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkMappings, loadMappings, MappingsError } from '../../src/config/mappings.js';
import { readEnv } from '../../src/config/env.js';
import { startService } from '../../src/server/start.js';
import { tempMappings, type TempMappings } from './temp-mappings.js';

let temp: TempMappings | undefined;
afterEach(() => {
  temp?.remove();
  temp = undefined;
});

/** The problems of a broken copy, as `file-name at path: message` strings. */
function problemsAfter(edit: (t: TempMappings) => void): { file: string; path: string; message: string }[] {
  temp = tempMappings();
  edit(temp);
  const dir = temp.dir;
  return checkMappings(dir).problems.map((p) => ({ ...p, file: p.file.slice(dir.length + 1) }));
}

describe('mappings/ is checked at start-up', () => {
  it("the project's own mappings/ pass, with the example source mapping and its ConceptMaps", () => {
    const m = loadMappings();
    expect(m.sources.map((s) => s.name)).toEqual(['recovery-navigator']);
    expect(m.conceptMaps.map((c) => c.url).sort()).toEqual([
      'http://peer-pathways.example.org/fhir/ConceptMap/engagement-barriers-snomed',
      'http://peer-pathways.example.org/fhir/ConceptMap/recovery-navigator-barriers',
      'http://peer-pathways.example.org/fhir/ConceptMap/recovery-navigator-concerns',
    ]);
    // A source names a ConceptMap by file name; once loaded it names it by url.
    expect(m.sources[0]?.codes['concerns[].category']).toBe('http://peer-pathways.example.org/fhir/ConceptMap/recovery-navigator-concerns');
  });

  it('every problem names its file, the path inside it and what is expected — all of them, not the first', () => {
    const problems = problemsAfter((t) => {
      t.edit('routing.json', (j) => {
        j.concerns.housing.priority = 'soon';
        delete j.concerns.safety.dueHours;
      });
      t.edit('site.json', (j) => {
        j.defaultClinicalRoute = { reference: 'on call' };
        j.recipent = {};
      });
      t.write('thresholds.json', '{ "missedTherapySessions": 1,, }');
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        {
          file: 'routing.json',
          path: 'concerns.housing.priority',
          message: expect.stringMatching(/expected one of "routine"\|"urgent"\|"asap"\|"stat" \(found "soon"\)/),
        },
        { file: 'routing.json', path: 'concerns.safety.dueHours', message: 'is missing: expected number' },
        { file: 'site.json', path: 'defaultClinicalRoute.reference', message: expect.stringContaining('(found "on call")') },
        { file: 'site.json', path: 'recipent', message: expect.stringContaining('not a setting of this file') },
        { file: 'thresholds.json', path: '', message: expect.stringContaining('is not valid JSON') },
      ]),
    );
    expect(problems).toHaveLength(5);
  });

  it('a missing file is named, with where to get it', () => {
    const problems = problemsAfter((t) => rmSync(join(t.dir, 'codes.json')));
    expect(problems).toEqual([
      { file: 'codes.json', path: '', message: expect.stringMatching(/^is missing: every mappings folder needs it/) },
    ]);
  });

  it('a source mapping must rename onto real contract fields, map onto allowed values and name existing ConceptMaps', () => {
    const problems = problemsAfter((t) =>
      t.edit('sources/recovery-navigator.json', (j) => {
        j.fields[0].to = 'recordID';
        j.fields.push({ from: 'a[]', to: 'recordId' });
        j.values.personPreference.yes = 'acepted';
        j.codes['concerns[].category'] = 'no-such-map';
      }),
    );
    expect(problems).toEqual([
      { file: 'sources/recovery-navigator.json', path: 'fields[34]', message: 'from and to need the same number of "[]" (array levels)' },
    ]);
    const later = problemsAfter((t) =>
      t.edit('sources/recovery-navigator.json', (j) => {
        j.fields[0].to = 'recordID';
        j.values.personPreference.yes = 'acepted';
        j.codes['concerns[].category'] = 'no-such-map';
      }),
    );
    expect(later).toEqual([
      {
        file: 'sources/recovery-navigator.json',
        path: 'fields[0].to',
        message: expect.stringContaining('"recordID" is not a field of any pathway record'),
      },
      {
        file: 'sources/recovery-navigator.json',
        path: 'values."personPreference"."yes"',
        message: '"acepted" is not a value of personPreference: expected one of accepted, declined, undecided',
      },
      {
        file: 'sources/recovery-navigator.json',
        path: 'codes."concerns[].category"',
        message: 'no ConceptMap in conceptmaps/ has url or file name "no-such-map"',
      },
    ]);
  });

  it('a ConceptMap must translate into codes the field accepts, and be valid FHIR R4', () => {
    const problems = problemsAfter((t) =>
      t.edit('conceptmaps/recovery-navigator-concerns.json', (j) => {
        j.group[0].element[0].target[0].code = 'deterioration';
        j.group[0].element[1].target[0].equivalence = 'same';
      }),
    );
    expect(problems).toEqual([
      {
        file: 'conceptmaps/recovery-navigator-concerns.json',
        path: 'group[0].element[1].target[0].equivalence',
        message: expect.stringContaining('found "same"'),
      },
    ]);
    const bad = problemsAfter((t) =>
      t.edit('conceptmaps/recovery-navigator-concerns.json', (j) => {
        j.group[0].element[0].target[0].code = 'deterioration';
        j.date = 'yesterday';
      }),
    );
    expect(bad).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          file: 'conceptmaps/recovery-navigator-concerns.json',
          message: expect.stringContaining('translates to "deterioration", which concerns[].category does not accept'),
        }),
        expect.objectContaining({
          file: 'conceptmaps/recovery-navigator-concerns.json',
          path: 'date',
          message: expect.stringContaining('not valid FHIR R4'),
        }),
      ]),
    );
  });

  it('two source mappings cannot claim the same source system', () => {
    const problems = problemsAfter((t) =>
      t.write('sources/copy.json', { appliesTo: { sourceSystems: ['urn:example:recovery-navigator'] }, fields: [] }),
    );
    // Files load in name order: the second to claim the system is the one reported.
    expect(problems).toEqual([
      {
        file: 'sources/recovery-navigator.json',
        path: 'appliesTo.sourceSystems[0]',
        message: '"urn:example:recovery-navigator" is already claimed by sources/copy.json: one source mapping per system',
      },
    ]);
  });

  it('the service does not start on a bad mappings folder, and says why', async () => {
    temp = tempMappings();
    temp.edit('thresholds.json', (j) => {
      j.missedTherapySessions = 0;
    });
    const start = startService(
      readEnv({ PORT: '0', DATA_DIR: ':memory:', API_TOKEN: 'x'.repeat(24), LOG_LEVEL: 'silent', MAPPINGS_DIR: temp.dir }),
      { host: '127.0.0.1' },
    );
    await expect(start).rejects.toBeInstanceOf(MappingsError);
    await expect(start).rejects.toThrow(/thresholds\.json at missedTherapySessions: Too small: expected number to be >=1 \(found 0\)/);
  });
});
