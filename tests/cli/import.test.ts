import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importBatch } from '../../src/cli/commands/import.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';
import { captureIo } from './capture.js';

let svc: TestService;
const dir = mkdtempSync(join(tmpdir(), 'ppf-import-'));
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.close();
  rmSync(dir, { recursive: true, force: true });
});

function batchFile(name: string, lines: (unknown | string)[]): string {
  const file = join(dir, name);
  writeFileSync(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n'));
  return file;
}

const readFailed = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const navigator = () =>
  JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/sources/recovery-navigator/early-engagement.json'), 'utf8'));

describe('import <file.ndjson> into a running adapter', () => {
  it('sends every line, summarises written / unchanged / blocked / rejected / failed, and keeps the failures to fix and resend', async () => {
    const blocked = fixture('crisis-transition', 'imp-3');
    blocked.receivingTeam.responsibilityConfirmed = false;
    const rejected = fixture('concern-routing', 'imp-5');
    rejected.personAware.informed = 'yes';
    const nav = navigator();
    nav.id = 'imp-7';
    const file = batchFile('backlog.ndjson', [
      fixture('early-engagement', 'imp-1'),
      fixture('step-down', 'imp-2'),
      blocked,
      '{"recordId": ',
      rejected,
      fixture('early-engagement', 'imp-1'),
      nav,
      '',
    ]);
    const io = captureIo();
    expect(await importBatch([file, '--url', svc.url, '--token', testToken], io)).toBe(1);
    const summary = io.stderr.join('\n');
    expect(summary).toMatch(/Imported 7 line\(s\) from .*backlog\.ndjson/);
    expect(summary).toMatch(/written\s+3\n/);
    expect(summary).toMatch(/unchanged\s+1 {3}already on the server/);
    expect(summary).toMatch(/blocked\s+1 {3}a gate failed/);
    expect(summary).toMatch(/rejected\s+2 {3}not valid/);
    expect(summary).toMatch(/failed\s+0\n/);

    const failedFile = `${file}.failed.ndjson`;
    expect(summary).toContain(`Not written: 3 line(s), each with its status and OperationOutcome, in ${failedFile}`);
    expect(statSync(failedFile).mode & 0o777).toBe(0o600);
    const failed = readFailed(failedFile);
    expect(failed.map((f) => [f.line, f.status, f.verdict])).toEqual([
      [3, 422, 'blocked'],
      [4, 400, 'rejected'],
      [5, 400, 'rejected'],
    ]);
    expect(failed[0].outcome.issue[0].details.coding[1].code).toBe('ct-receiving-team');
    expect(failed[1].raw).toBe('{"recordId": ');
    expect(failed[2].outcome.issue[0].expression).toEqual(['personAware.informed']);
    expect(failed[2].record.recordId).toBe('imp-5');

    // Fix each line in the failed file and import that file: everything lands and the failed file goes.
    failed[0].record.receivingTeam.responsibilityConfirmed = true;
    failed[1].record = fixture('step-down', 'imp-4');
    delete failed[1].raw;
    failed[2].record.personAware.informed = true;
    writeFileSync(failedFile, failed.map((f) => JSON.stringify(f)).join('\n'));
    const again = captureIo();
    expect(await importBatch([failedFile, '--url', svc.url, '--token', testToken], again)).toBe(0);
    expect(again.stderr.join('\n')).toMatch(/written\s+3\n/);
    expect(existsSync(failedFile)).toBe(false);
  });

  it('a refused token stops sending: the rest are reported failed, not sent', async () => {
    const file = batchFile('auth.ndjson', [fixture('early-engagement', 'imp-auth-1'), fixture('step-down', 'imp-auth-2')]);
    const io = captureIo();
    expect(await importBatch([file, '--url', svc.url, '--token', 'wrong', '--concurrency', '1'], io)).toBe(1);
    const failed = readFailed(`${file}.failed.ndjson`);
    expect(failed.map((f) => [f.status, f.verdict])).toEqual([
      [401, 'failed'],
      [0, 'failed'],
    ]);
    expect(failed[1].outcome.issue[0].details.text).toContain('refused the token');
  });
});

describe('import against an adapter that is briefly unavailable (a stub that answers like one)', () => {
  let stub: Server;
  let url: string;
  const seen: { id: string; at: number }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let plan: ((id: string, attempt: number) => { status: number; headers?: Record<string, string> }) | undefined;
  const attempts = new Map<string, number>();
  beforeAll(async () => {
    stub = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const record = JSON.parse(body);
        const n = (attempts.get(record.recordId) ?? 0) + 1;
        attempts.set(record.recordId, n);
        seen.push({ id: record.recordId, at: record.seq ?? 0 });
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const answer = plan?.(record.recordId, n) ?? { status: 201 };
        setTimeout(() => {
          inFlight--;
          res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
          res.end(
            JSON.stringify(
              answer.status < 300
                ? { outcome: 'created' }
                : { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] },
            ),
          );
        }, 15);
      });
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => stub.close(() => resolve())));

  it('retries a 503 after the Retry-After it was given', async () => {
    plan = (_id, attempt) => (attempt === 1 ? { status: 503, headers: { 'Retry-After': '7' } } : { status: 201 });
    const waits: number[] = [];
    const file = batchFile('retry.ndjson', [{ recordId: 'r-1' }]);
    const io = captureIo();
    expect(
      await importBatch([file, '--url', url, '--token', 't'], io, {
        sleep: async (ms) => {
          waits.push(ms);
        },
      }),
    ).toBe(0);
    expect(waits).toEqual([7000]);
    expect(attempts.get('r-1')).toBe(2);
  });

  it('does not wait for a Retry-After beyond its limit: the line is reported failed to resend later', async () => {
    plan = () => ({ status: 503, headers: { 'Retry-After': '3600' } });
    const waits: number[] = [];
    const file = batchFile('long-wait.ndjson', [{ recordId: 'r-2' }]);
    expect(
      await importBatch([file, '--url', url, '--token', 't'], captureIo(), {
        sleep: async (ms) => {
          waits.push(ms);
        },
      }),
    ).toBe(1);
    expect(waits).toEqual([]);
    expect(readFailed(`${file}.failed.ndjson`)[0]).toMatchObject({ line: 1, status: 503, verdict: 'failed' });
  });

  it('keeps at most --concurrency records in flight, and sends updates of one record in file order', async () => {
    plan = undefined;
    seen.length = 0;
    maxInFlight = 0;
    const lines = [1, 2, 3, 4, 5, 6].flatMap((i) => [
      { recordId: `c-${i}`, seq: 1 },
      { recordId: `c-${i}`, seq: 2 },
    ]);
    const file = batchFile('concurrency.ndjson', lines);
    expect(await importBatch([file, '--url', url, '--token', 't', '--concurrency', '3'], captureIo())).toBe(0);
    expect(maxInFlight).toBeLessThanOrEqual(3);
    expect(maxInFlight).toBeGreaterThan(1);
    for (let i = 1; i <= 6; i++) expect(seen.filter((s) => s.id === `c-${i}`).map((s) => s.at)).toEqual([1, 2]);
  });
});
