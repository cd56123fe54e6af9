import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { checkConfig } from '../../src/cli/commands/check-config.js';
import { tempMappings, type TempMappings } from '../config/temp-mappings.js';
import { captureIo } from './capture.js';

let temp: TempMappings | undefined;
afterEach(() => {
  temp?.remove();
  temp = undefined;
});

describe('check-config', () => {
  it("prints OK for the project's mappings/ and profiles/ and exits 0", async () => {
    const io = captureIo();
    expect(await checkConfig([], io)).toBe(0);
    expect(io.stdout[0]).toMatch(
      /^OK: mappings\/ \(site, routing, thresholds, codes, 1 source mapping\(s\), 3 ConceptMap\(s\)\) and profiles\/ \(\d+ profiles, \d+ gates\)$/,
    );
  });

  it('prints every problem with file and path and exits non-zero', async () => {
    temp = tempMappings();
    temp.edit('routing.json', (j) => {
      j.concerns.housing.channel = 'case-management';
    });
    temp.edit('sources/recovery-navigator.json', (j) => {
      j.fields.push({ from: 'when', to: 'nextAppointment.when' });
    });
    const io = captureIo();
    expect(await checkConfig(['--mappings', temp.dir], io)).not.toBe(0);
    const text = io.stderr.join('\n');
    expect(text).toMatch(/^2 problems; the service would not start:/);
    expect(text).toMatch(
      /routing\.json at concerns\.housing\.channel: Invalid option: expected one of "clinical-review"\|"care-coordination-review" \(found "case-management"\)/,
    );
    expect(text).toMatch(
      /sources\/recovery-navigator\.json at fields\[34\]\.to: "nextAppointment\.when" is not a field of any pathway record/,
    );
  });

  it('with --resolve, a site whose clinical route is a peer role is refused', async () => {
    temp = tempMappings();
    temp.edit('site.json', (j) => {
      j.defaultClinicalRoute = { reference: 'PractitionerRole/example-peer' };
      j.recipients['case-manager'] = { reference: 'PractitionerRole/nobody' };
    });
    const io = captureIo();
    expect(await checkConfig(['--mappings', temp.dir, '--resolve'], io)).not.toBe(0);
    const text = io.stderr.join('\n');
    expect(text).toContain(
      'site.json at defaultClinicalRoute.reference: PractitionerRole/example-peer is a peer role: a peer role never owns clinical review',
    );
    expect(text).toMatch(
      /site\.json at recipients\.case-manager\.reference: PractitionerRole\/nobody does not exist on the FHIR server \(404/,
    );
  });

  it('runs from the command line with an exit code scripts can use', async () => {
    temp = tempMappings();
    temp.write('thresholds.json', '{');
    const run = promisify(execFile)('npx', ['tsx', 'src/cli/main.ts', 'check-config', '--mappings', temp.dir], {
      cwd: `${import.meta.dirname}/../..`,
    });
    await expect(run).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('thresholds.json: is not valid JSON') });
  });
});
