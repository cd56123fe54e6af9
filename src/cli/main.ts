import { MappingsError } from '../config/mappings.js';
import { checkConfig } from './commands/check-config.js';
import { governance } from './commands/governance.js';
import { importBatch } from './commands/import.js';
import { map } from './commands/map.js';
import { schemas } from './commands/schemas.js';
import { serve } from './commands/serve.js';
import { validate } from './commands/validate.js';
import { exitCodes, UsageError } from './io.js';

/** A CLI command: resolves to an exit code, or undefined for a long-running command. */
type Command = (args: string[]) => Promise<number | undefined>;

/** The CLI's commands, one file each under commands/. */
const commands: Record<string, { run: Command; help: string }> = {
  serve: { run: serve, help: 'run the adapter (embedded FHIR server unless FHIR_BASE_URL is set)' },
  validate: { run: (a) => validate(a), help: 'validate <record.json>: gate results and issues of a record, nothing written (exit 0 accepted, 1 blocked, 3 rejected)' },
  map: { run: (a) => map(a), help: 'map <record.json>: print the transaction Bundle a write would send' },
  'check-config': { run: (a) => checkConfig(a), help: 'check mappings/ and profiles/ as start-up does [--resolve: site.json references exist]' },
  import: { run: (a) => importBatch(a), help: 'import <file.ndjson> --url --token: send a batch to a running adapter; failures to <file>.failed.ndjson' },
  governance: { run: (a) => governance(a), help: 'governance --start --end [--format json|csv] [--out file]: the governance MeasureReports of a period' },
  schemas: { run: (a) => schemas(a), help: 'schemas --out <dir>: JSON Schema of each pathway record, and openapi.json' },
};

function usage(): string {
  return `Usage: peer-pathways-fhir <command> [options]\n\n${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.help}`).join('\n')}`;
}

const [name = 'serve', ...args] = process.argv.slice(2);
if (name === '--help' || name === 'help' || name === '-h') {
  console.log(usage());
  process.exit(0);
}
const command = commands[name];
if (!command) {
  console.error(`Unknown command "${name}".\n${usage()}`);
  process.exit(2);
}
command.run(args).then(
  (code) => { if (code !== undefined) process.exit(code); },
  (err: Error) => {
    console.error(err.message);
    process.exit(err instanceof UsageError || err instanceof MappingsError ? exitCodes.usage : 1);
  },
);
