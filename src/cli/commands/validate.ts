import { readFile } from 'node:fs/promises';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { outcome } from '../../outcomes/index.js';
import { parseJsonText, type JsonTextResult } from '../../records/json-text.js';
import { dryRun, dryRunParameters, type DryRun } from '../../pipeline/dry-run.js';
import { openDryRunAdapter } from '../dry-run-adapter.js';
import type { Command } from 'commander';
import { exitCodes, processIo, UsageError, type CommandIo } from '../io.js';
import { check, runCommand, type CliCommand } from '../program.js';

/** The options validate and map share. */
export interface DryRunOptions {
  server?: string;
  mappings?: string;
  source?: string;
  json?: boolean;
}

/** Adds the record argument and the options validate and map share. */
export function defineDryRun(cmd: Command, description: string): Command {
  return cmd
    .description(description)
    .argument('<record.json>', 'one pathway record (JSON)')
    .option(
      '--server <url>',
      'the FHIR base to resolve references against (default: FHIR_BASE_URL, else an in-memory embedded server with the demo directory)',
      check.httpUrl,
    )
    .option('--mappings <dir>', 'the site configuration folder (default: MAPPINGS_DIR or ./mappings)', check.text)
    .option(
      '--source <name>',
      "the source mapping to apply (mappings/sources/<name>.json); none: the record is in the contract's shape",
      check.text,
    );
}

/**
 * Reads one record file through the one input-cleaning step of every way in (records/json-text.ts), as
 * bytes: text HTTP would refuse (duplicate keys, broken Unicode…) is refused here too, as a rejection.
 */
export async function readRecordFile(file: string): Promise<JsonTextResult> {
  const bytes = await readFile(file).catch(() => {
    throw new UsageError(`Cannot read ${file}.`);
  });
  return parseJsonText(bytes);
}

/** Runs the same dry run as POST /pathway-records/$validate on a record file. */
export async function dryRunFile(file: string, values: DryRunOptions): Promise<{ run: DryRun; file: string; json: boolean; fhir: string }> {
  const text = await readRecordFile(file);
  if (!text.ok)
    return {
      run: { result: 'rejected', outcome: outcome(text.issues) },
      file,
      json: values.json ?? false,
      fhir: 'no FHIR server: the text was refused first',
    };
  const record = text.value;
  const local = await openDryRunAdapter({ server: values.server, mappingsDir: values.mappings });
  try {
    return { run: await dryRun(local.adapter, record, values.source), file, json: values.json ?? false, fhir: local.fhir };
  } finally {
    await local.close();
  }
}

/** The code of an issue: the gate key for a gate, else the adapter's issue code. */
function codeOf(i: OperationOutcomeIssue): string {
  const codings = i.details?.coding ?? [];
  return (codings.find((c) => c.system?.endsWith('/CodeSystem/gate')) ?? codings[0])?.code ?? i.code;
}

/** One issue as a few readable lines: mark, code, record fields, then (unless it passed) text and profile/location/FHIRPath. */
export function formatIssue(i: OperationOutcomeIssue): string {
  const mark = i.severity === 'error' || i.severity === 'fatal' ? '✗' : i.severity === 'warning' ? '!' : '✓';
  const fields = i.expression?.length ? `  [${i.expression.join(', ')}]` : '';
  if (i.details?.coding?.[0]?.code === 'gate-passed') return `  ${mark} ${codeOf(i)}${fields}`;
  return [`  ${mark} ${codeOf(i)}${fields}`, `      ${i.details?.text ?? ''}`, ...(i.diagnostics ? [`      ${i.diagnostics}`] : [])].join(
    '\n',
  );
}

/** The exit code of a dry run's verdict. */
export function exitCodeOf(run: DryRun): number {
  return run.result === 'accepted' ? exitCodes.ok : run.result === 'blocked' ? exitCodes.blocked : exitCodes.rejected;
}

/** `validate <record.json>`: every issue and gate result of a record, and what the write would send; writes nothing. */
export const validateCommand: CliCommand = {
  name: 'validate',
  define: (cmd) =>
    defineDryRun(
      cmd,
      'the dry run of POST /pathway-records/$validate: verdict, every issue and gate result, the entries a write would send; nothing written (exit 0 accepted, 1 blocked, 3 rejected)',
    ).option('--json', 'print the FHIR Parameters (result, outcome, bundle) instead'),
  run: (opts, operands, io) => runValidate(operands[0] as string, opts as DryRunOptions, io),
};

/** `validate <record.json> [options]` on an argument list. */
export function validate(args: string[], io: CommandIo = processIo): Promise<number | undefined> {
  return runCommand(validateCommand, args, io);
}

async function runValidate(recordFile: string, opts: DryRunOptions, io: CommandIo): Promise<number> {
  const { run, file, json, fhir } = await dryRunFile(recordFile, opts);
  if (json) {
    io.out(JSON.stringify(dryRunParameters(run), null, 2));
    return exitCodeOf(run);
  }
  io.out(`${file}: ${run.result} (references resolved against ${fhir})`);
  for (const i of run.outcome.issue ?? []) io.out(formatIssue(i));
  if (run.bundle) {
    const entries = (run.bundle.entry ?? []).map((e) => `${e.request?.method} ${e.resource?.resourceType}`);
    io.out(
      `A write would send one transaction of ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}: ${entries.join(', ') || 'nothing'} (see: map ${file})`,
    );
  }
  return exitCodeOf(run);
}
