import { processIo, type CommandIo } from '../io.js';
import { dryRunFile, exitCodeOf, formatIssue } from './validate.js';

const usage = 'peer-pathways-fhir map <record.json> [--server <FHIR base URL>] [--mappings <dir>] [--source <name>]';

/** `map <record.json>`: prints the transaction Bundle a write would send (stdout); issues go to stderr. */
export async function map(args: string[], io: CommandIo = processIo): Promise<number> {
  const { run, file } = await dryRunFile(args, usage);
  if (run.bundle) io.out(JSON.stringify(run.bundle, null, 2));
  const problems = (run.outcome.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (run.result !== 'accepted') {
    io.err(`${file}: ${run.result}${run.bundle ? ' (the Bundle above is what a write would still send: the safety review and audit only)' : ''}`);
    for (const i of problems) io.err(formatIssue(i));
  }
  return exitCodeOf(run);
}
