import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** A service started by store-child.ts in its own process, and the JSON line it printed. */
export interface ChildService {
  process: ChildProcess;
  /** The first JSON line the child printed (`{url}` or `{ready}`). */
  line: Record<string, unknown>;
  /** The next JSON line it prints. */
  nextLine(): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Spawns tests/reliability/store-child.ts under this Node with `env` added; resolves on its first JSON line. */
export function startChild(env: Record<string, string>): Promise<ChildService> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'store-child.ts')], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const nextLine = () =>
      new Promise<Record<string, unknown>>((ok, fail) => {
        lines.once('line', (text) => {
          try {
            ok(JSON.parse(text) as Record<string, unknown>);
          } catch (err) {
            fail(err as Error);
          }
        });
      });
    nextLine().then((line) => resolve({ process: child, line, nextLine, exited }), reject);
    void exited.then((code) => reject(new Error(`child exited with ${code} before answering`)));
  });
}
