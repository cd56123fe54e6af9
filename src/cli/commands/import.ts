import { rm, writeFile } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import pLimit from 'p-limit';
import { readBatch, type BatchLine } from '../import/batch-lines.js';
import { sendRecord, type SendOptions, type SendResult } from '../import/send-record.js';
import { emptyTally, failedLine, localOutcome, summaryLines, verdictOf, type FailedLine } from '../import/tally.js';
import { exitCodes, processIo, UsageError, type CommandIo } from '../io.js';
import { check, runCommand, type CliCommand } from '../program.js';

/** Records in flight at once: enough to keep the adapter busy, few enough not to trip its rate limit or FHIR server. */
const defaultConcurrency = 4;
/** The most records in flight a caller may ask for: beyond it the FHIR server, not the import, is the bottleneck. */
const maxConcurrency = 32;

/** Options a test may inject. */
export interface ImportHooks {
  sleep?: SendOptions['sleep'];
}

/** The options as commander parsed them. */
interface ImportValues {
  url?: string;
  token?: string;
  concurrency: number;
  source?: string;
  progress: boolean;
}

function options(file: string, values: ImportValues) {
  const token = values.token ?? process.env.API_TOKEN;
  if (!token) throw new UsageError("--token: give the adapter's token with --token or API_TOKEN.");
  return {
    file,
    token,
    concurrency: values.concurrency,
    url: values.url ?? `http://127.0.0.1:${process.env.PORT ?? 8080}`,
    source: values.source,
    progress: values.progress,
  };
}

/**
 * `import <file.ndjson>`: sends each line to POST /pathway-records of a running adapter, a few at a time
 * (updates of the same record in file order), retrying 503/429 as Retry-After says; prints a summary and
 * writes every line that was not written, with its status and OperationOutcome, to <file>.failed.ndjson.
 */
function importCommand(hooks: ImportHooks): CliCommand {
  return {
    name: 'import',
    define: (cmd) =>
      cmd
        .description(
          'send each line of an NDJSON file to POST /pathway-records of a running adapter; lines not written go to <file>.failed.ndjson (exit 0 all written, 1 some not)',
        )
        .argument('<file.ndjson>', 'one record per line')
        .option('--url <url>', 'the adapter (default: http://127.0.0.1:$PORT)', check.httpUrl)
        .option('--token <token>', "the adapter's bearer token (default: API_TOKEN)", check.text)
        .option(
          '--concurrency <n>',
          `records in flight at once (1..${maxConcurrency})`,
          check.integer(1, maxConcurrency),
          defaultConcurrency,
        )
        .option('--source <name>', 'the source mapping to apply (mappings/sources/<name>.json)', check.text)
        .option('--no-progress', 'no progress bar (there is none unless stderr is a terminal)'),
    run: (opts, operands, io) => runImport(operands[0] as string, opts as unknown as ImportValues, io, hooks),
  };
}

/** The `import` command, for the CLI. */
export const importCommandLine: CliCommand = importCommand({});

/** `import <file.ndjson> [options]` on an argument list; tests pass their own sleep. */
export function importBatch(args: string[], io: CommandIo = processIo, hooks: ImportHooks = {}): Promise<number | undefined> {
  return runCommand(importCommand(hooks), args, io);
}

async function runImport(file: string, values: ImportValues, io: CommandIo, hooks: ImportHooks): Promise<number> {
  const opts = options(file, values);
  const lines = await readBatch(opts.file).catch(() => {
    throw new UsageError(`Cannot read ${opts.file}.`);
  });
  const tally = emptyTally();
  const failed: FailedLine[] = [];
  const bar =
    opts.progress && io.interactive
      ? new cliProgress.SingleBar(
          {
            format:
              ' {bar} {value}/{total} | written {written} unchanged {unchanged} blocked {blocked} rejected {rejected} failed {failed}',
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(lines.length, 0, tally);
  const send: SendOptions = { url: opts.url, token: opts.token, sourceMapping: opts.source, sleep: hooks.sleep };
  const limit = pLimit(opts.concurrency);
  const tails = new Map<string, Promise<void>>();
  let refused = false;
  const started = Date.now();

  const handle = async (entry: BatchLine): Promise<void> => {
    const result: SendResult =
      entry.record === undefined
        ? {
            status: 400,
            attempts: 0,
            body: (entry.issues
              ? { resourceType: 'OperationOutcome', issue: entry.issues }
              : localOutcome('invalid-json', 'The line is not valid JSON: fix it and resend.')) as SendResult['body'],
          }
        : refused
          ? { status: 0, attempts: 0, error: 'not sent: the adapter refused the token (401) for an earlier line' }
          : await sendRecord(entry.record, send, entry.text);
    if (result.status === 401) refused = true;
    const verdict = verdictOf(result);
    tally[verdict]++;
    if (verdict !== 'written' && verdict !== 'unchanged') failed.push(failedLine(entry, result, verdict));
    bar?.increment(1, tally);
  };
  await Promise.all(
    lines.map((entry) => {
      const run = (tails.get(entry.key) ?? Promise.resolve()).then(() => limit(() => handle(entry)));
      tails.set(entry.key, run);
      return run;
    }),
  );
  bar?.stop();

  const failedFile = `${opts.file.replace(/\.failed\.ndjson$/, '')}.failed.ndjson`;
  failed.sort((a, b) => a.line - b.line);
  if (failed.length) {
    // Holds the records as sent: readable by the operator only.
    await writeFile(failedFile, failed.map((f) => JSON.stringify(f)).join('\n') + '\n', { mode: 0o600 });
  } else {
    await rm(failedFile, { force: true });
  }
  io.err(`Imported ${lines.length} line(s) from ${opts.file} to ${opts.url} in ${((Date.now() - started) / 1000).toFixed(1)} s:`);
  io.err(summaryLines(tally).join('\n'));
  if (failed.length)
    io.err(
      `Not written: ${failed.length} line(s), each with its status and OperationOutcome, in ${failedFile}. Fix them there and run: import ${failedFile}`,
    );
  // The README's exit codes: 3 when every line not written was rejected by the schema, 1 when any was blocked or failed.
  if (!failed.length) return exitCodes.ok;
  return tally.blocked + tally.failed === 0 ? exitCodes.rejected : exitCodes.blocked;
}
