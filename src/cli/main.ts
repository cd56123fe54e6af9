import { Command } from 'commander';
import { EnvError } from '../config/env.js';
import { MappingsError } from '../config/mappings.js';
import { AuthConfigError } from '../server/auth/config.js';
import { packageVersion } from '../server/routes/openapi.js';
import { checkConfigCommand } from './commands/check-config.js';
import { governanceCommand } from './commands/governance.js';
import { importCommandLine } from './commands/import.js';
import { mapCommand } from './commands/map.js';
import { schemasCommand } from './commands/schemas.js';
import { serveCommand } from './commands/serve.js';
import { validateCommand } from './commands/validate.js';
import { exitCodes, processIo, UsageError } from './io.js';
import { commanderOf, fromCommanderError } from './program.js';

const exitCodeHelp = `
Exit codes: 0 OK / accepted, 1 blocked or failures, 2 bad command line, environment or configuration,
3 rejected (schema). Configuration comes from environment variables (PORT, HOST, FHIR_BASE_URL…): see
the README's Configuration section.`;

/** Errors whose message is the whole story for an operator: printed as one line, with exit code 2. */
function isUsage(err: unknown): boolean {
  return err instanceof UsageError || err instanceof EnvError || err instanceof MappingsError || err instanceof AuthConfigError;
}

function fail(err: unknown): never {
  // Messages of these errors are written for people and never hold record content.
  const message = err instanceof Error ? err.message : String(err);
  processIo.err(message);
  process.exit(isUsage(err) ? exitCodes.usage : 1);
}

const io = processIo;
const program = new Command('peer-pathways-fhir')
  .description('FHIR R4 adapter for peer support in community mental health pathways.')
  .version(packageVersion)
  .exitOverride()
  .configureOutput({ writeOut: (t) => io.out(t.trimEnd()), writeErr: (t) => io.err(t.trimEnd()), outputError: () => undefined })
  .addHelpText('after', exitCodeHelp);

const finish = (code: number | undefined) => {
  if (code !== undefined) process.exit(code);
};
for (const c of [serveCommand, checkConfigCommand, validateCommand, mapCommand, importCommandLine, governanceCommand, schemasCommand]) {
  program.addCommand(commanderOf(c, io, finish));
}

const args = process.argv.slice(2);
if (args.length === 0) {
  // No command: say what there is (never start a server by default).
  io.err(program.helpInformation().trimEnd());
  process.exit(exitCodes.usage);
}
program.parseAsync(process.argv).catch((err: unknown) => {
  let code: number;
  try {
    code = fromCommanderError(err);
  } catch (usage) {
    fail(usage);
  }
  process.exit(code);
});
