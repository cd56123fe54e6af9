// Governance report time over 10,000 pathway records (not a test: `npx tsx bench/governance.ts`).
// The generated cohort of tests/governance is posted once through POST /pathway-records; its resources
// are then copied straight into the embedded repository under new ids and recordIds until the store
// holds BENCH_GOVERNANCE_RECORDS records, and GET /governance/measures is timed over HTTP, as a client sees it.
import type { Patient, Resource } from '@medplum/fhirtypes';
import { readEnv } from '../src/config/env.js';
import { startService } from '../src/server/start.js';
import { cohortPersons, cohortSource, generateCohort, period } from '../tests/governance/cohort.js';

const targetRecords = Number(process.env.BENCH_GOVERNANCE_RECORDS ?? 10_000);
const runs = 3;
const token = 'bench-governance-token-0123456789';
const auth = { Authorization: `Bearer ${token}` };
const types = ['CarePlan', 'Consent', 'Goal', 'Encounter', 'Task', 'Communication', 'AuditEvent', 'Provenance'];

const service = await startService(readEnv({ PORT: '0', DATA_DIR: ':memory:', API_TOKEN: token, LOG_LEVEL: 'silent', ESCALATION_INTERVAL_MS: '0' }), { host: '127.0.0.1' });
const fhir = (path: string, init: RequestInit = {}) => fetch(`${service.url}/fhir/R4/${path}`, { ...init, headers: { ...auth, 'Content-Type': 'application/fhir+json' } });

const patients = new Map<string, string>();
for (const key of cohortPersons) {
  const res = await fhir('Patient', { method: 'POST', body: JSON.stringify({ resourceType: 'Patient' } satisfies Patient) });
  patients.set(key, `Patient/${((await res.json()) as Patient).id}`);
}
const cohort = generateCohort(1, (k) => patients.get(k) as string);
for (const r of [...cohort.records, ...cohort.resends]) {
  await fetch(`${service.url}/pathway-records`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify(r) });
}
for (const r of [...cohort.encounters, ...cohort.tasks]) await fhir(r.resourceType, { method: 'POST', body: JSON.stringify(r) });

// Everything the cohort wrote, to be copied.
const template: Resource[] = [];
for (const type of types) {
  const res = await fhir(`${type}?_count=1000`);
  template.push(...((await res.json()).entry ?? []).map((e: { resource: Resource }) => e.resource));
}
const recordsPerCopy = new Set(cohort.records.map((r) => r.recordId)).size;
const ids = [...new Set([...template.map((r) => r.id as string), ...[...patients.values()].map((p) => p.split('/')[1] as string)])];
const idPattern = new RegExp(ids.map((id) => id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
const copies = Math.ceil(targetRecords / recordsPerCopy) - 1;
const load = performance.now();
for (let n = 1; n <= copies; n++) {
  for (const r of template) {
    let text = JSON.stringify(r).replaceAll('"gov-', `"c${n}-gov-`).replaceAll('"legacy-import-1/', `"c${n}-legacy-import-1/`);
    text = text.replace(idPattern, (id) => `${id.slice(0, 24)}c${n}`);
    await service.embedded!.repo.createResource(JSON.parse(text) as Resource, { assignedId: true } as never);
  }
}
const records = recordsPerCopy * (copies + 1);
console.log(`store: ${records.toLocaleString('en-US')} records, ${(template.length * (copies + 1)).toLocaleString('en-US')} resources (copied in ${((performance.now() - load) / 1000).toFixed(1)} s)`);

async function time(label: string, path: string): Promise<void> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const res = await fetch(`${service.url}${path}`, { headers: auth });
    bytes = (await res.text()).length;
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  console.log(`${label}: median ${(times[Math.floor(runs / 2)]! / 1000).toFixed(2)} s (min ${(times[0]! / 1000).toFixed(2)} s, max ${(times[runs - 1]! / 1000).toFixed(2)} s), ${(bytes / 1_048_576).toFixed(1)} MiB`);
}
if (process.env.BENCH_GOVERNANCE_STAGES) {
  // Where the time goes: each search of readSources alone, one after the other.
  const { searchAll } = await import('../src/governance/fetch.js');
  const p = 'http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway';
  for (const [type, query] of [
    ['CarePlan', { category: `${p}|step-down` }], ['Goal', { _profile: 'http://peer-pathways.example.org/fhir/StructureDefinition/peer-pathway-goal' }],
    ['Task', { code: `${p}|clinical-review,${p}|care-coordination-review,${p}|scheduled-clinical-review,${p}|outcome-review`, _include: 'Task:owner' }],
    ['Encounter', { type: `${p}|peer-support-contact` }], ['AuditEvent', { type: `${p}|record-blocked` }],
  ] as const) {
    const start = performance.now();
    const found = await searchAll(service.adapter.fhir, type, { ...query });
    console.log(`  ${type}?${Object.keys(query).join('&')}: ${found.matches.length} in ${((performance.now() - start) / 1000).toFixed(2)} s`);
  }
}
await time('GET /governance/measures (period holding every record)', `/governance/measures?start=${period.start}&end=${period.end}`);
await time('GET /governance/measures (empty period: reading only)', '/governance/measures?start=2024-01-01&end=2024-01-31');
await time('GET /governance (page)', `/governance?start=${period.start}&end=${period.end}`);
console.log(`rss ${(process.memoryUsage().rss / 1_048_576).toFixed(0)} MiB; source ${cohortSource}`);
await service.close();
