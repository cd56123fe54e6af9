import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { governance } from '../../src/cli/commands/governance.js';
import { UsageError } from '../../src/cli/io.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';

let svc: TestService;
const out: string[] = [];
const err: string[] = [];
const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), interactive: false };
const period = ['--start', '2026-11-01', '--end', '2026-11-30'];

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
  for (const name of ['early-engagement', 'step-down', 'crisis-transition', 'concern-routing']) {
    expect((await svc.post(fixture(name))).status).toBe(201);
  }
});
afterAll(async () => {
  await svc?.close();
});

async function endpoint(): Promise<any> {
  const res = await fetch(`${svc.url}/governance/measures?start=2026-11-01&end=2026-11-30`, {
    headers: { Authorization: `Bearer ${testToken}` },
  });
  return res.json();
}

describe('CLI governance', () => {
  it('prints the same MeasureReports as GET /governance/measures (JSON)', async () => {
    out.length = 0;
    expect(await governance([...period, '--url', svc.url, '--token', testToken], io)).toBe(0);
    const printed = JSON.parse(out.join('\n'));
    const served = await endpoint();
    const strip = (b: any) => JSON.stringify(b, (k, v) => (k === 'date' || k === 'timestamp' ? undefined : v));
    expect(strip(printed)).toBe(strip(served));
  });

  it('writes CSV: one row per group and stratum, with the same counts and scores', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gov-')), 'measures.csv');
    expect(await governance([...period, '--format', 'csv', '--out', file, '--url', svc.url, '--token', testToken], io)).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines[0]).toBe(
      'measure,group,scoring,stratifier,stratum,initial-population,denominator,denominator-exclusion,numerator,measure-population,measure-observation,score',
    );
    expect(lines).toContain('engagement-after-intake,engaged-after-accepted-offer,proportion,,,1,1,0,1,,,1');
    expect(lines).toContain('engagement-after-intake,engaged-after-accepted-offer,proportion,,,1,1,0,1,,,1');
    expect(err.at(-1)).toMatch(/Wrote 12 MeasureReports \(csv\)/);
  });

  it('refuses a bad period or format with a usage error', async () => {
    await expect(governance(['--start', '2026-11-01'], io)).rejects.toBeInstanceOf(UsageError);
    await expect(governance([...period, '--format', 'xml'], io)).rejects.toBeInstanceOf(UsageError);
    await expect(governance(['--start', '2026-13-01', '--end', '2026-11-30', '--url', svc.url, '--token', testToken], io)).rejects.toThrow(
      /400/,
    );
  });
});
