import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Where a command writes: stdout for results, stderr for reports; tests pass their own. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  /** True when stderr is a terminal (progress bars, colours). */
  interactive: boolean;
}

/** The process's own streams. */
export const processIo: CommandIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  interactive: Boolean(process.stderr.isTTY),
};

/** Exit codes shared by the commands, so that scripts can tell a blocked record from a broken call. */
export const exitCodes = { ok: 0, blocked: 1, usage: 2, rejected: 3 } as const;

/** Raised for a command line that cannot be run; main prints the message and exits with `usage`. */
export class UsageError extends Error {}

/** Parses a command's options strictly: an unknown option is a UsageError naming it. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nUsage: ${usage}`);
  }
}
