import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { processIo, UsageError, type CommandIo } from './io.js';

/**
 * One CLI command: its commander definition (arguments, options with their checks, help) and what it
 * does with the parsed line. Parsing is commander's (https://github.com/tj/commander.js): usage,
 * `--help` per command and one-line errors naming the option, rather than our own parser.
 */
export interface CliCommand {
  name: string;
  /** Adds the description, arguments and options to `cmd`. */
  define(cmd: Command): Command;
  /** Resolves to an exit code, or undefined for a long-running command (serve). */
  run(options: Record<string, unknown>, operands: string[], io: CommandIo): Promise<number | undefined>;
}

/** Where commander writes help (stdout) and errors (never: the caller prints the UsageError once). */
function quiet(cmd: Command, io: CommandIo): Command {
  return cmd.exitOverride().configureOutput({
    writeOut: (text) => io.out(text.trimEnd()),
    writeErr: (text) => io.err(text.trimEnd()),
    outputError: () => undefined,
  });
}

/** The commander Command of a CliCommand; `done` receives its exit code once it has run. */
export function commanderOf(c: CliCommand, io: CommandIo, done: (code: number | undefined) => void): Command {
  const cmd = quiet(c.define(new Command(c.name)), io);
  cmd.action(async (...received: unknown[]) => {
    const self = received.at(-1) as Command;
    done(
      await c.run(
        self.opts(),
        self.processedArgs.filter((a): a is string => typeof a === 'string'),
        io,
      ),
    );
  });
  return cmd;
}

/** The exit code for a help or version request (0), or a UsageError with commander's one-line message. */
export function fromCommanderError(err: unknown): number {
  if (!(err instanceof CommanderError)) throw err;
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return 0;
  throw new UsageError(err.message.replace(/^error: /, ''));
}

/** Runs one command on the arguments after its name (tests call each command so). */
export async function runCommand(c: CliCommand, args: string[], io: CommandIo = processIo): Promise<number | undefined> {
  let code: number | undefined;
  try {
    await commanderOf(c, io, (x) => {
      code = x;
    }).parseAsync(args, { from: 'user' });
  } catch (err) {
    return fromCommanderError(err);
  }
  return code;
}

/** Option value checks: each throws InvalidArgumentError, which commander reports naming the option. */
export const check = {
  /** A whole number in [min, max]. */
  integer(min: number, max: number) {
    return (value: string): number => {
      const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
      return n;
    };
  },
  /** An absolute http(s) URL. */
  httpUrl(value: string): string {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidArgumentError('expected an absolute http(s) URL, e.g. http://127.0.0.1:8080.');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new InvalidArgumentError('expected an absolute http(s) URL, e.g. http://127.0.0.1:8080.');
    return value;
  },
  /** A calendar date YYYY-MM-DD. */
  date(value: string): string {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) throw new InvalidArgumentError('expected a date YYYY-MM-DD.');
    return value;
  },
  /** Anything but empty text. */
  text(value: string): string {
    if (!value.trim()) throw new InvalidArgumentError('expected a value, found nothing.');
    return value;
  },
};
