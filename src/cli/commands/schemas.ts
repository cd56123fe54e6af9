import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathwayCodes } from '../../records/index.js';
import { recordJsonSchema } from '../../records/json-schema.js';
import { openApiDocument, packageVersion } from '../../server/routes/openapi.js';
import { exitCodes, parseCommandArgs, processIo, UsageError, type CommandIo } from '../io.js';

const usage = 'peer-pathways-fhir schemas --out <dir>';

/** `schemas --out dir`: writes one JSON Schema per pathway record (and openapi.json) for source-system vendors. */
export async function schemas(args: string[], io: CommandIo = processIo): Promise<number> {
  const { values } = parseCommandArgs(args, { out: { type: 'string' } }, usage);
  if (!values.out) throw new UsageError(`Name the folder to write to.\nUsage: ${usage}`);
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
