import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathwayCodes } from '../../records/index.js';
import { recordJsonSchema } from '../../records/json-schema.js';
import { openApiDocument, packageVersion } from '../../server/routes/openapi.js';
import { exitCodes, processIo, type CommandIo } from '../io.js';
import { check, runCommand, type CliCommand } from '../program.js';

/** `schemas --out dir`: writes one JSON Schema per pathway record (and openapi.json) for source-system vendors. */
export const schemasCommand: CliCommand = {
  name: 'schemas',
  define: (cmd) =>
    cmd
      .description('write <pathway>.json JSON Schemas of the records and openapi.json into a folder (created when missing)')
      .requiredOption('--out <dir>', 'the folder to write to', check.text),
  run: (opts, _operands, io) => writeSchemas(opts as { out: string }, io),
};

/** `schemas --out <dir>` on an argument list. */
export function schemas(args: string[], io: CommandIo = processIo): Promise<number | undefined> {
  return runCommand(schemasCommand, args, io);
}

async function writeSchemas(values: { out: string }, io: CommandIo): Promise<number> {
  await mkdir(values.out, { recursive: true });
  const written: string[] = [];
  for (const pathway of pathwayCodes) {
    const file = join(values.out, `${pathway}.json`);
    await writeFile(file, `${JSON.stringify(recordJsonSchema(pathway), null, 2)}\n`);
    written.push(file);
  }
  const openapi = join(values.out, 'openapi.json');
  await writeFile(openapi, `${JSON.stringify(openApiDocument(packageVersion), null, 2)}\n`);
  io.out(`Wrote ${[...written, openapi].join(', ')}`);
  return exitCodes.ok;
}
