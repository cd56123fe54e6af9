import { basename, join } from 'node:path';
import { readEnv } from '../../config/env.js';
import { clientsFilePath, loadClients } from '../../config/clients.js';
import { formatProblems, type ConfigProblem } from '../../config/config-problems.js';
import { loadFollowUpConfig } from '../../config/followup.js';
import { loadGovernanceConfig } from '../../config/governance.js';
import { checkMappings, defaultMappingsDir, MappingsError } from '../../config/mappings.js';
import { defaultProfilesDir, loadProfiles } from '../../gates/load-profiles.js';
import { loadMeasureDefinitions } from '../../governance/definitions.js';
import { openDryRunAdapter } from '../dry-run-adapter.js';
import { exitCodes, processIo, type CommandIo } from '../io.js';
import { check, runCommand, type CliCommand } from '../program.js';
import { checkSiteReferences } from '../site-references.js';

/** Runs one loader of another concern (follow-up, governance, clients) and turns its failure into problems. */
function problemsOf(load: () => unknown, file: string): ConfigProblem[] {
  try {
    load();
    return [];
  } catch (err) {
    return err instanceof MappingsError ? err.problems : [{ file, path: '', message: (err as Error).message }];
  }
}

/**
 * `check-config`: checks mappings/ (every file, with the path inside it and what is expected) and
 * profiles/ (they compile and pass their smoke tests) exactly as start-up does; with --resolve, also
 * that site.json's references exist on the FHIR server and no clinical route is a peer role. A problem
 * is a configuration the service would refuse to start with: exit code 2 (`usage`: bad command line
 * or configuration, as the README's table says).
 */
export const checkConfigCommand: CliCommand = {
  name: 'check-config',
  define: (cmd) =>
    cmd
      .description('check mappings/ and profiles/ as start-up does; exit 0 OK, 2 with every problem listed')
      .option('--mappings <dir>', 'the site configuration folder (default: MAPPINGS_DIR or ./mappings)', check.text)
      .option('--profiles <dir>', 'the profiles folder (default: ./profiles)', check.text)
      .option('--resolve', 'also read the references in site.json on the FHIR server')
      .option(
        '--server <url>',
        'with --resolve: the FHIR base to read them from (default: FHIR_BASE_URL, else the embedded demo directory)',
        check.httpUrl,
      ),
  run: (opts, _operands, io) => runCheckConfig(opts as { mappings?: string; profiles?: string; resolve?: boolean; server?: string }, io),
};

/** `check-config [options]` on an argument list (what the tests call). */
export function checkConfig(args: string[], io: CommandIo = processIo): Promise<number | undefined> {
  return runCommand(checkConfigCommand, args, io);
}

async function runCheckConfig(
  values: { mappings?: string; profiles?: string; resolve?: boolean; server?: string },
  io: CommandIo,
): Promise<number> {
  const env = readEnv(values.mappings ? { ...process.env, MAPPINGS_DIR: values.mappings } : process.env);
  const dir = env.mappingsDir ?? defaultMappingsDir;
  const profilesDir = values.profiles ?? defaultProfilesDir;
  const { mappings, problems } = checkMappings(dir);
  problems.push(
    ...problemsOf(() => loadFollowUpConfig(dir), join(dir, 'escalation.json')),
    ...problemsOf(() => loadGovernanceConfig(dir), join(dir, 'governance.json')),
    ...problemsOf(() => loadClients(clientsFilePath(env.authClientsFile, dir), false), join(dir, 'clients.json')),
  );
  problems.push(...problemsOf(() => loadMeasureDefinitions(join(profilesDir, 'measures')), join(profilesDir, 'measures')));
  let gates = 0;
  let profiles = 0;
  try {
    const loaded = loadProfiles(profilesDir);
    profiles = loaded.size;
    gates = [...loaded.values()].reduce((n, p) => n + p.gates.length, 0);
  } catch (err) {
    problems.push({ file: profilesDir, path: '', message: (err as Error).message });
  }
  if (mappings && values.resolve) {
    const local = await openDryRunAdapter({ server: values.server, mappingsDir: dir });
    try {
      problems.push(...(await checkSiteReferences(local.adapter.fhir, mappings.site, join(dir, 'site.json'))));
    } finally {
      await local.close();
    }
  }
  if (problems.length) {
    io.err(`${problems.length} problem${problems.length === 1 ? '' : 's'}; the service would not start:\n${formatProblems(problems)}`);
    return exitCodes.usage;
  }
  io.out(
    `OK: ${basename(dir)}/ (site, routing, thresholds, codes, ${mappings?.sources.length} source mapping(s), ${mappings?.conceptMaps.length} ConceptMap(s)) and ${basename(profilesDir)}/ (${profiles} profiles, ${gates} gates)${values.resolve ? '; site.json references resolve' : ''}`,
  );
  return exitCodes.ok;
}
