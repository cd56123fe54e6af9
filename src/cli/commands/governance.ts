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
import { Option } from 'commander';
import { exitCodes, processIo, UsageError, type CommandIo } from '../io.js';
import { check, runCommand, type CliCommand } from '../program.js';

/** The options as commander parsed them. */
interface GovernanceValues {
  start: string;
  end: string;
  format: 'json' | 'csv';
  out?: string;
  url?: string;
  token?: string;
  direct?: boolean;
}

/** How long the adapter may take to compute a period's reports before the CLI gives up. */
const requestTimeoutMs = 120_000;

/**
 * The MeasureReports of a period, from a running adapter (GET /governance/measures), or with --direct
 * straight from the FHIR server at FHIR_BASE_URL — the same computation either way.
 */
async function reports(values: GovernanceValues, start: string, end: string): Promise<Bundle<MeasureReport>> {
  const env = readEnv();
  if (values.direct) {
    if (!env.fhirBaseUrl)
      throw new UsageError(
        '--direct reads the FHIR server at FHIR_BASE_URL, which is not set; without --direct the running adapter is asked.',
      );
    const mappings = loadMappings(env.mappingsDir);
    const fhir = new FhirClient({ baseUrl: env.fhirBaseUrl, ...fhirCredentialsFromEnv(env), timeoutMs: env.fhirTimeoutMs });
    return computeMeasureReports(
      { fhir, mappings, governance: loadGovernanceConfig(env.mappingsDir) },
      parsePeriod(start, end, mappings.site.timeZone),
    );
  }
  const token = values.token ?? process.env.API_TOKEN;
  if (!token) throw new UsageError("--token: give the adapter's token with --token or API_TOKEN.");
  const url = values.url ?? `http://127.0.0.1:${process.env.PORT ?? 8080}`;
  const endpoint = `${url.replace(/\/$/, '')}/governance/measures`;
  const res = await fetch(`${endpoint}?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`, {
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/fhir+json' },
    signal: AbortSignal.timeout(requestTimeoutMs),
  }).catch((err: Error & { cause?: { code?: string; message?: string } }) => {
    // fetch says only "fetch failed"; the cause (ECONNREFUSED, ENOTFOUND, a timeout) is what to act on.
    const why =
      err.name === 'TimeoutError'
        ? `no answer within ${requestTimeoutMs / 1000} s`
        : (err.cause?.code ?? err.cause?.message ?? err.message);
    throw new Error(`Cannot reach the adapter at ${url} (${why}): start it (npm start) or name a running one with --url.`);
  });
  const body = (await res.json().catch(() => ({}))) as Bundle<MeasureReport> & { issue?: { details?: { text?: string } }[] };
  if (!res.ok)
    throw new Error(`The adapter at ${endpoint} answered ${res.status}: ${(body.issue ?? []).map((i) => i.details?.text).join(' ')}`);
  return body;
}

/** `governance --start --end`: prints (or writes) the governance measures of a period as JSON (the Bundle) or CSV (one row per group and stratum). */
export const governanceCommand: CliCommand = {
  name: 'governance',
  define: (cmd) =>
    cmd
      .description('the governance MeasureReports of a period, from a running adapter (or --direct from the FHIR server)')
      .requiredOption('--start <date>', 'first day of the period (YYYY-MM-DD, site time zone)', check.date)
      .requiredOption('--end <date>', 'last day of the period (YYYY-MM-DD)', check.date)
      .addOption(
        new Option('--format <format>', 'json (the Bundle) or csv (one row per group and stratum)')
          .choices(['json', 'csv'])
          .default('json'),
      )
      .option('--out <file>', 'write to this file instead of stdout', check.text)
      .option('--url <url>', 'the adapter (default: http://127.0.0.1:$PORT)', check.httpUrl)
      .option('--token <token>', "the adapter's bearer token (default: API_TOKEN)", check.text)
      .option('--direct', 'compute from the FHIR server at FHIR_BASE_URL instead of asking the adapter'),
  run: (opts, _operands, io) => runGovernance(opts as unknown as GovernanceValues, io),
};

/** `governance [options]` on an argument list. */
export function governance(args: string[], io: CommandIo = processIo): Promise<number | undefined> {
  return runCommand(governanceCommand, args, io);
}

async function runGovernance(values: GovernanceValues, io: CommandIo): Promise<number> {
  const format = values.format;
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
