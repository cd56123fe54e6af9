// Governance report time for one month of a store of 100,000 resources (not a test: `npx tsx bench/governance.ts`).
// The generated cohort of tests/governance is posted once through POST /pathway-records; its resources
// are then copied straight into the embedded repository under new ids and recordIds, each copy's dates
// BENCH_GOVERNANCE_SHIFT_DAYS (default 28) days after the one before, so that the store holds years of
// history as a site's does, until it holds BENCH_GOVERNANCE_RESOURCES resources (default 100,000; or
// BENCH_GOVERNANCE_RECORDS records); GET /governance/measures is then timed over HTTP, as a client sees it.
import { readEnv } from '../src/config/env.js';
import { startService } from '../src/server/start.js';
import { cohortSource, period } from '../tests/governance/cohort.js';
import { copyCohort, postCohort } from './cohort-store.js';

const targetResources = Number(process.env.BENCH_GOVERNANCE_RESOURCES ?? 100_000);
const targetRecords = process.env.BENCH_GOVERNANCE_RECORDS ? Number(process.env.BENCH_GOVERNANCE_RECORDS) : undefined;
const shiftDays = Number(process.env.BENCH_GOVERNANCE_SHIFT_DAYS ?? 28);
const runs = 3;
const token = 'bench-governance-token-0123456789';
const auth = { Authorization: `Bearer ${token}` };

const service = await startService(
  readEnv({ PORT: '0', DATA_DIR: ':memory:', API_TOKEN: token, LOG_LEVEL: 'silent', ESCALATION_INTERVAL_MS: '0' }),
  { host: '127.0.0.1' },
);

const template = await postCohort(service, token);
const { recordsPerCopy } = template;
const copies = targetRecords ? Math.ceil(targetRecords / recordsPerCopy) - 1 : Math.ceil(targetResources / template.resources.length) - 1;
const load = performance.now();
for (let n = 1; n <= copies; n++) await copyCohort(service, template, n, shiftDays);
const records = recordsPerCopy * (copies + 1);
console.log(
  `store: ${records.toLocaleString('en-US')} records, ${(template.resources.length * (copies + 1)).toLocaleString('en-US')} resources (copied in ${((performance.now() - load) / 1000).toFixed(1)} s; copies ${shiftDays} days apart, ${((copies * shiftDays) / 365).toFixed(1)} years)`,
);

/** fetch, once more on a reset connection: the store load blocks the event loop past the server's keep-alive timeout. */
async function get(url: string): Promise<Response> {
  try {
    return await fetch(url, { headers: auth });
  } catch {
    return fetch(url, { headers: auth });
  }
}

// The first run computes every search; later ones (store unchanged) page from the search result cache.
async function time(label: string, path: string): Promise<void> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const res = await get(`${service.url}${path}`);
    bytes = (await res.text()).length;
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    times.push(performance.now() - start);
  }
  const first = times[0]!;
  times.sort((a, b) => a - b);
  console.log(
    `${label}: first ${(first / 1000).toFixed(2)} s, median ${(times[Math.floor(runs / 2)]! / 1000).toFixed(2)} s (min ${(times[0]! / 1000).toFixed(2)} s, max ${(times[runs - 1]! / 1000).toFixed(2)} s), ${(bytes / 1_048_576).toFixed(1)} MiB`,
  );
}
if (process.env.BENCH_GOVERNANCE_STAGES) {
  // Where the time goes: each search of readSources alone, one after the other.
  const { reportReader, searchAll } = await import('../src/governance/fetch.js');
  const p = 'http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway';
  for (const [type, query] of [
    ['CarePlan', { category: `${p}|step-down` }],
    ['Goal', { _profile: 'http://peer-pathways.example.org/fhir/StructureDefinition/peer-pathway-goal' }],
    [
      'Task',
      {
        code: `${p}|clinical-review,${p}|care-coordination-review,${p}|scheduled-clinical-review,${p}|outcome-review`,
        _include: 'Task:owner',
      },
    ],
    ['Encounter', { type: `${p}|peer-support-contact` }],
    ['AuditEvent', { type: `${p}|record-blocked` }],
  ] as const) {
    const start = performance.now();
    const found = await searchAll(reportReader(service.adapter.fhir, 'UTC'), type, { ...query });
    console.log(
      `  ${type}?${Object.keys(query).join('&')}: ${found.matches.length} in ${((performance.now() - start) / 1000).toFixed(2)} s`,
    );
  }
}
await time(
  `GET /governance/measures, one month (${period.start} – ${period.end})`,
  `/governance/measures?start=${period.start}&end=${period.end}`,
);
await time('GET /governance/measures (empty period: reading only)', '/governance/measures?start=2024-01-01&end=2024-01-31');
await time('GET /governance (page)', `/governance?start=${period.start}&end=${period.end}`);
console.log(`rss ${(process.memoryUsage().rss / 1_048_576).toFixed(0)} MiB; source ${cohortSource}`);
await service.close();
