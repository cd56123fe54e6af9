import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { root } from '../server/process.js';

/** Runs the CLI as an operator does (bin → dist/, plain node); resolves with exit code and output. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'node',
      ['bin/peer-pathways-fhir.mjs', ...args],
      {
        cwd: root,
        timeout: 30_000,
        env: {
          PATH: `${root}/node_modules/.bin:${process.env.PATH}`,
          HOME: process.env.HOME ?? '/tmp',
          DATA_DIR: ':memory:',
          LOG_LEVEL: 'silent',
          ...env,
        },
      },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

const lines = (text: string) => text.trim().split('\n').filter(Boolean);

describe('the command line', () => {
  it('with no command prints the usage and exits 2, without starting a server', async () => {
    const run = await cli([], { PORT: '0' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^Usage: peer-pathways-fhir \[options\] \[command\]/);
    for (const name of ['serve', 'check-config', 'validate', 'map', 'import', 'governance', 'schemas']) expect(run.stderr).toContain(name);
    expect(run.stdout + run.stderr).not.toContain('listening');
  });

  it("prints each command's help with --help (exit 0), and serve --help starts nothing", async () => {
    const [serve, validate, importHelp, governance] = await Promise.all([
      cli(['serve', '--help'], { PORT: '0' }),
      cli(['validate', '--help']),
      cli(['import', '--help']),
      cli(['governance', '--help']),
    ]);
    expect(serve).toMatchObject({ code: 0 });
    expect(serve.stdout).toMatch(/^Usage: peer-pathways-fhir serve/);
    expect(serve.stdout).not.toContain('listening');
    expect(validate.stdout).toMatch(/^Usage: peer-pathways-fhir validate \[options\] <record\.json>/);
    expect(validate.stdout).toContain('--server <url>');
    expect(importHelp.stdout).toContain('--concurrency <n>');
    expect(governance.stdout).toContain('--start <date>');
  });

  it('refuses a bad option value or an unknown option in one line naming it (exit 2)', async () => {
    const runs = await Promise.all([
      cli(['import', 'x.ndjson', '--concurrency', 'abc', '--token', 't']),
      cli(['governance', '--start', '2026-11-01', '--end', 'soon']),
      cli(['governance', '--start', '2026-11-01', '--end', '2026-11-30', '--format', 'xml']),
      cli(['validate', 'x.json', '--server', 'not a url']),
      cli(['check-config', '--nope']),
      cli(['frobnicate']),
    ]);
    const expected = [
      /--concurrency <n>.*'abc'.*1 to 32/,
      /--end <date>.*'soon'.*YYYY-MM-DD/,
      /--format <format>.*'xml'.*json, csv/,
      /--server <url>.*'not a url'/,
      /unknown option '--nope'/,
      /unknown command 'frobnicate'/,
    ];
    runs.forEach((run, i) => {
      expect(run.code, run.stderr).toBe(2);
      expect(lines(run.stderr), run.stderr).toHaveLength(1);
      expect(run.stderr).toMatch(expected[i]!);
    });
  });

  it('refuses an unusable environment value in one line naming the variable (exit 2)', async () => {
    const runs = await Promise.all([
      cli(['serve'], { PORT: 'abc' }),
      cli(['serve'], { PORT: '0', HOST: 'every interface' }),
      cli(['serve'], { PORT: '0', SHUTDOWN_GRACE_MS: '-1' }),
      cli(['serve'], { PORT: '0', FHIR_BASE_URL: 'fhir.example.org/fhir' }),
    ]);
    const named = ['PORT', 'HOST', 'SHUTDOWN_GRACE_MS', 'FHIR_BASE_URL'];
    runs.forEach((run, i) => {
      expect(run.code, run.stderr).toBe(2);
      expect(lines(run.stderr), run.stderr).toHaveLength(1);
      expect(run.stderr).toMatch(new RegExp(`^${named[i]}=`));
    });
    expect(runs[0]!.stderr.trim()).toBe('PORT="abc" is not valid: expected a whole number from 0 to 65535.');
  });

  it('governance without a reachable adapter names the URL it tried and why (exit 1)', async () => {
    // A port that was just free: nothing listens there.
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await new Promise((resolve) => server.close(resolve));
    const run = await cli(['governance', '--start', '2026-11-01', '--end', '2026-11-30', '--url', url, '--token', 't']);
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr.trim()).toBe(
      `Cannot reach the adapter at ${url} (ECONNREFUSED): start it (npm start) or name a running one with --url.`,
    );
  });

  it("check-config exits 2 on a configuration problem (the README's exit-code table)", async () => {
    const run = await cli(['check-config', '--mappings', '/nonexistent/site-a']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('the service would not start');
  });
});
