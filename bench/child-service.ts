// The service under test in its own process, so that the load generator does not share its core.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A spawned `serve`, its URL, and its resident memory. */
export interface ChildService {
  url: string;
  process: ChildProcess;
  /** Milliseconds from spawning the process until /health answered, and until /ready answered 200. */
  healthMs: number;
  readyMs: number;
  /** Current and peak resident set size in bytes (from /proc). */
  rss(): { current: number; peak: number };
  stop(): Promise<void>;
}

/**
 * Starts the compiled service (`bin/peer-pathways-fhir.mjs serve`, as `npm start` does) under this Node with
 * `env` added, and waits until /health answers (and, with `ready`, until /ready answers 200: the embedded
 * store opened, metadata read, rollback verified).
 */
export async function startChild(
  port: number,
  env: Record<string, string>,
  ready = false,
  root = join(import.meta.dirname, '..'),
): Promise<ChildService> {
  const spawned = performance.now();
  const child = spawn(process.execPath, [join(root, 'bin', 'peer-pathways-fhir.mjs'), 'serve'], {
    cwd: root,
    env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: '0', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}`);
    const ok = await fetch(`${url}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 1_500) throw new Error('service did not start in 30 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  const healthMs = performance.now() - spawned;
  for (let i = 0; ready; i++) {
    const ok = await fetch(`${url}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 1_500) throw new Error('service was not ready in 30 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  const readyMs = performance.now() - spawned;
  return {
    url,
    healthMs,
    readyMs,
    process: child,
    rss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
      return { current: kb('VmRSS'), peak: kb('VmHWM') };
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
