import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess, type ServiceProcess } from './server/process.js';

const root = join(import.meta.dirname, '..');

/** A shell example of the README: where it starts, and its text (dedented when it sits in a list). */
interface Example {
  line: number;
  text: string;
}

/** Every ```bash / ```sh block of the README, in order. */
export function shellExamples(markdown: string): Example[] {
  const lines = markdown.split('\n');
  const found: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(bash|sh)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(indent));
    found.push({ line: i + 1, text: body.join('\n') });
    i = j;
  }
  return found;
}

/**
 * The examples not run here, by their first line, each with the reason. Everything else in the README
 * runs, in order, in one shell against a service started as the README starts it.
 */
const notRun: Record<string, string> = {
  'npm ci && npm start': 'installs and runs the whole suite: what CI (.ci/run) does',
  'API_TOKEN=devtoken npm start': 'how this test starts the service the examples run against',
  'npm start': 'a first start without API_TOKEN: the generated token is tested in tests/security/startup.test.ts',
  'WORKERS=2 PORT=8080 API_TOKEN=devtoken npm start':
    'a service in cluster mode: started as written (bin/… serve, WORKERS=2) in tests/server/cluster.test.ts',
  '# on every replica (Medplum)':
    'needs a Medplum or HAPI server; replicas against one FHIR server run in tests/reliability/replicas.test.ts',
  'npm ci && npm run build': 'a deployment: the build and npm start are what this test itself runs',
  'npm run typecheck     # tsc, strict': 'the development checks: what CI (.ci/run) runs',
  [`umask 077 && mkdir -p backups && sqlite3 data/fhir.sqlite ".backup 'backups/fhir.sqlite'"`]:
    "needs Debian's sqlite3 tool and a store on disk (this test's service keeps DATA_DIR=:memory:); the same online backup through node:sqlite runs as written in tests/embedded/store.test.ts",
  [`umask 077 && npx node -e "const { DatabaseSync, backup } = require('node:sqlite'); const db = new DatabaseSync('data/fhir.sqlite', { readOnly: true }); backup(db, 'fhir-backup.sqlite').then(() => db.close())"`]:
    "needs a store on disk (this test's service keeps DATA_DIR=:memory:): run as written against a running store in tests/embedded/store.test.ts",
};

/** Where the README's placeholders point in the test: the service started here, and folders of its own. */
function localised(text: string, url: string, dir: string): string {
  return text
    .replaceAll('http://localhost:8080', url)
    .replaceAll('https://fhir.site-a.example/fhir/R4', `${url}/fhir/R4`)
    .replaceAll('https://adapter.site-a.example', url)
    .replaceAll('/etc/peer-pathways', join(dir, 'etc/peer-pathways'))
    .replaceAll('/tmp/', `${dir}/`);
}

let service: ServiceProcess | undefined;
let dir: string | undefined;
afterAll(async () => {
  service?.child.kill('SIGTERM');
  await service?.exited;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('README', () => {
  it('every shell example runs as written, on a copy of the repository', async () => {
    const examples = shellExamples(readFileSync(join(root, 'README.md'), 'utf8'));
    const skipped = (e: Example) =>
      Object.keys(notRun).some(
        (first) =>
          e.text
            .split('\n')[0]!
            .trimEnd()
            .replace(/\s+#.*$/, '') === first.replace(/\s+#.*$/, ''),
      );
    const run = examples.filter((e) => !skipped(e));
    expect(examples.length - run.length).toBe(Object.keys(notRun).length);

    // A fresh checkout: the project's files, with node_modules and the build shared.
    dir = mkdtempSync(join(tmpdir(), 'ppf-readme-'));
    const clone = join(dir, 'repo');
    cpSync(root, clone, {
      recursive: true,
      preserveTimestamps: true,
      filter: (from) => !/\/(node_modules|dist|data|\.git|test-output)$/.test(from) && !/\/dist\.\d+\.tmp$/.test(from),
    });
    symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'));
    symlinkSync(join(root, 'dist'), join(clone, 'dist'));

    const env = { API_TOKEN: 'devtoken', DATA_DIR: ':memory:', ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0', HOME: dir };
    service = await startProcess('npm', ['start', '--silent'], { ...env, PORT: '0' }, 60_000, clone);
    const script = [
      'set -euo pipefail',
      ...run.map((e) => `echo "### README.md line ${e.line}" >&2\n${localised(e.text, service!.url, dir!)}`),
    ].join('\n');
    const result = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(
        'bash',
        ['-c', script],
        {
          cwd: clone,
          timeout: 120_000,
          env: {
            PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH}`,
            ...env,
            FHIR_ACCESS_TOKEN: 'devtoken',
            LOG_LEVEL: 'silent',
          },
        },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` }),
      );
    });
    expect(result.code, result.out.slice(-3000)).toBe(0);
    // What the examples say they do, they did.
    expect(result.out).toMatch(/crisis-transition 20[01]/);
    expect(result.out).toMatch(/^OK: site-a\//m);
    expect(result.out).toMatch(/Imported 5 line\(s\) from backlog\.ndjson/);

    service.child.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    service = undefined;
  }, 180_000);
});
