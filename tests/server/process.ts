import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** The repository root. */
export const root = join(import.meta.dirname, '../..');

/** A service running in a child process, as an operator starts it. */
export interface ServiceProcess {
  child: ChildProcess;
  /** The URL from the start-up line (`listening on …`). */
  url: string;
  /** Everything written so far to stdout and stderr. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
}

/**
 * Starts `command args` in the repository (or `cwd`) with `env` added to a minimal environment, and waits for the
 * start-up line that names where it listens.
 */
export function startProcess(
  command: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
  cwd = root,
): Promise<ServiceProcess> {
  const child = spawn(command, args, {
    cwd,
    env: { PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH}`, HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start-up line within ${timeoutMs} ms:\n${text}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const found = /listening on (http:\/\/\S+?)[\s"]/.exec(text);
      if (found?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: found[1], output: () => text, exited });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before listening:\n${text}`));
    });
  });
}
