import { processIo, type CommandIo } from '../io.js';
import { runCommand, type CliCommand } from '../program.js';
import { defineDryRun, dryRunFile, exitCodeOf, formatIssue, type DryRunOptions } from './validate.js';

/** `map <record.json>`: prints the transaction Bundle a write would send (stdout); issues go to stderr. */
export const mapCommand: CliCommand = {
  name: 'map',
  define: (cmd) => defineDryRun(cmd, 'print the transaction Bundle a write would send (stdout); issues go to stderr'),
  run: (opts, operands, io) => runMap(operands[0] as string, opts as DryRunOptions, io),
};

/** `map <record.json> [options]` on an argument list. */
export function map(args: string[], io: CommandIo = processIo): Promise<number | undefined> {
  return runCommand(mapCommand, args, io);
}

async function runMap(recordFile: string, opts: DryRunOptions, io: CommandIo): Promise<number> {
  const { run, file } = await dryRunFile(recordFile, opts);
  if (run.bundle) io.out(JSON.stringify(run.bundle, null, 2));
  const problems = (run.outcome.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (run.result !== 'accepted') {
    io.err(
      `${file}: ${run.result}${run.bundle ? ' (the Bundle above is what a write would still send: the safety review and audit only)' : ''}`,
    );
    for (const i of problems) io.err(formatIssue(i));
  }
  return exitCodeOf(run);
}
