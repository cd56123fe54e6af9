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
