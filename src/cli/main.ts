import { serve } from './commands/serve.js';

/** A CLI command: resolves to an exit code, or undefined for a long-running command. */
type Command = (args: string[]) => Promise<number | undefined>;

/** The CLI's commands, one file each under commands/. */
const commands: Record<string, { run: Command; help: string }> = {
  serve: { run: serve, help: 'run the adapter (embedded FHIR server unless FHIR_BASE_URL is set)' },
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
    process.exit(1);
  },
);
