import { writeFile } from 'node:fs/promises';
import type { Bundle, MeasureReport } from '@medplum/fhirtypes';
import { readEnv } from '../../config/env.js';
import { loadGovernanceConfig } from '../../config/governance.js';
import { loadMappings } from '../../config/mappings.js';
import { FhirClient } from '../../fhir/client.js';
import { computeMeasureReports } from '../../governance/compute.js';
import { parsePeriod } from '../../governance/period.js';
import { reportRows, rowsToCsv } from '../../governance/rows.js';
import { AdapterError } from '../../outcomes/index.js';
import { fhirCredentialsFromEnv } from '../../server/auth/config.js';
import { exitCodes, parseCommandArgs, processIo, UsageError, type CommandIo } from '../io.js';

const usage = 'peer-pathways-fhir governance --start YYYY-MM-DD --end YYYY-MM-DD [--format json|csv] [--out <file>] [--url <adapter URL>] [--token <token>] [--direct]';

/**
 * The MeasureReports of a period, from a running adapter (GET /governance/measures), or with --direct
 * straight from the FHIR server at FHIR_BASE_URL — the same computation either way.
 */
async function reports(values: Record<string, string | boolean | undefined>, start: string, end: string): Promise<Bundle<MeasureReport>> {
  const env = readEnv();
  if (values.direct) {
    if (!env.fhirBaseUrl) throw new UsageError('--direct reads the FHIR server at FHIR_BASE_URL, which is not set; without --direct the running adapter is asked.');
    const mappings = loadMappings(env.mappingsDir);
    const fhir = new FhirClient({ baseUrl: env.fhirBaseUrl, ...fhirCredentialsFromEnv(env), timeoutMs: env.fhirTimeoutMs });
    return computeMeasureReports({ fhir, mappings, governance: loadGovernanceConfig(env.mappingsDir) }, parsePeriod(start, end, mappings.site.timeZone));
  }
  const token = (values.token as string | undefined) ?? process.env.API_TOKEN;
  if (!token) throw new UsageError('Give the adapter\'s token with --token or API_TOKEN.');
  const url = (values.url as string | undefined) ?? `http://127.0.0.1:${process.env.PORT ?? 8080}`;
  const res = await fetch(`${url.replace(/\/$/, '')}/governance/measures?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`, {
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/fhir+json' },
  });
  const body = await res.json() as Bundle<MeasureReport> & { issue?: { details?: { text?: string } }[] };
  if (!res.ok) throw new Error(`The adapter answered ${res.status}: ${(body.issue ?? []).map((i) => i.details?.text).join(' ')}`);
  return body;
}

/** `governance --start --end`: prints (or writes) the governance measures of a period as JSON (the Bundle) or CSV (one row per group and stratum). */
export async function governance(args: string[], io: CommandIo = processIo): Promise<number> {
  const { values } = parseCommandArgs(args, {
    start: { type: 'string' }, end: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' },
    url: { type: 'string' }, token: { type: 'string' }, direct: { type: 'boolean' },
  }, usage);
  if (!values.start || !values.end) throw new UsageError(`--start and --end are required.\nUsage: ${usage}`);
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'csv') throw new UsageError(`--format is json or csv.\nUsage: ${usage}`);
  let bundle: Bundle<MeasureReport>;
  try {
    bundle = await reports(values, values.start, values.end);
  } catch (err) {
    if (err instanceof AdapterError) throw new UsageError((err.outcome.issue ?? []).map((i) => i.details?.text).join(' '));
    throw err;
  }
  const text = format === 'csv' ? rowsToCsv(reportRows(bundle)) : `${JSON.stringify(bundle, null, 2)}\n`;
  if (values.out) {
    await writeFile(values.out, text);
    io.err(`Wrote ${(bundle.entry ?? []).length} MeasureReports (${format}) to ${values.out}.`);
  } else {
    io.out(text.trimEnd());
  }
  return exitCodes.ok;
}
