import type { CommandIo } from '../../src/cli/io.js';

/** A CommandIo that keeps what a command printed. */
export function captureIo(interactive = false): CommandIo & { stdout: string[]; stderr: string[]; text(): string } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    interactive,
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    text: () => [...stdout, ...stderr].join('\n'),
  };
}
