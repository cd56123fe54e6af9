// A burst of records through a loopback fault proxy, then a count of what is on the server: nothing lost, nothing doubled.
import type { Bundle } from '@medplum/fhirtypes';
import { isRollbackProbe } from '../src/fhir/rollback-probe.js';
import { startFaultProxy, type FaultAction } from '../tests/fhir/fault-proxy.js';
import { startChild } from './child-service.js';
import { recordText, pathways } from './in-process.js';
import { runLoad } from './load.js';

/** Share of record transactions answered 503, reset before reaching the server, and reset after it committed. */
const transactionFaults = { status503: 0.05, resetBefore: 0.05, resetAfter: 0.05 };
/** Share of reads (batches of searches) answered 503. */
const readFaults = 0.03;
/** Rounds of resending what was answered 503, as a caller honouring Retry-After does. */
const maxResendRounds = 8;

/** What the burst found. */
export interface BurstResult {
  records: number;
  faults: number;
  resent: number;
  lost: number;
  doubled: number;
  unanswered: number;
  seconds: number;
}

function decide(body: { type?: string; entry?: unknown[] } | undefined, method: string, counts: { faults: number }): FaultAction {
  const r = Math.random();
  if (body?.type === 'transaction' && !isRollbackProbe(body as Bundle)) {
    const { status503, resetBefore, resetAfter } = transactionFaults;
    if (r < status503) return (counts.faults++, { status: 503 });
    if (r < status503 + resetBefore) return (counts.faults++, 'reset-before');
    if (r < status503 + resetBefore + resetAfter) return (counts.faults++, 'reset-after');
    return 'forward';
  }
  if (body?.type === 'batch' && method === 'POST' && r < readFaults) return (counts.faults++, { status: 503 });
  return 'forward';
}

/** Sends `records` records (all four pathways) with `clients` callers through an adapter whose FHIR traffic meets faults. */
export async function faultBurst(fhirUrl: string, token: string, port: number, records: number, clients: number): Promise<BurstResult> {
  const counts = { faults: 0 };
  const proxy = await startFaultProxy(fhirUrl, (body, req) => decide(body, req.method ?? 'GET', counts));
  const adapter = await startChild(port, {
    FHIR_BASE_URL: `${proxy.url}/fhir/R4`,
    FHIR_ACCESS_TOKEN: token,
    API_TOKEN: token,
    DATA_DIR: ':memory:',
  });
  const started = performance.now();
  try {
    const ids = Array.from({ length: records }, (_, i) => ({ id: `burst-${i}`, pathway: pathways[i % pathways.length]! }));
    let pending = ids;
    let resent = 0;
    for (let round = 0; round <= maxResendRounds && pending.length; round++) {
      if (round > 0) {
        resent += pending.length;
        await new Promise((r) => setTimeout(r, 300));
      }
      const result = await runLoad(
        `${adapter.url}/pathway-records`,
        token,
        pending.map((p) => recordText(p.pathway, p.id)),
        clients,
      );
      // Re-send exactly those not answered 200/201: a 503 means "nothing confirmed, send again".
      pending = pending.filter((_, i) => result.codes[i] !== 200 && result.codes[i] !== 201);
    }
    const seconds = (performance.now() - started) / 1000;
    const { lost, doubled } = await countOnServer(
      fhirUrl,
      token,
      ids.map((i) => i.id),
    );
    return { records, faults: counts.faults, resent, lost, doubled, unanswered: pending.length, seconds };
  } finally {
    await adapter.stop();
    await proxy.close();
  }
}

/** Records without their CarePlan (lost) and identifiers held by more than one resource (doubled). */
async function countOnServer(fhirUrl: string, token: string, recordIds: string[]): Promise<{ lost: number; doubled: number }> {
  const wanted = new Set(recordIds);
  const copies = new Map<string, number>();
  for (const type of ['CarePlan', 'Consent', 'Encounter', 'Task', 'Communication', 'Goal']) {
    // Page by page (a page holds at most 1,000 resources, as on a Medplum server).
    for (let next: string | undefined = `${fhirUrl}/fhir/R4/${type}?_count=1000&_elements=identifier`; next;) {
      const res = await fetch(next, { headers: { Authorization: `Bearer ${token}` } });
      const bundle = (await res.json()) as {
        entry?: { resource: { identifier?: { value?: string }[] } }[];
        link?: { relation: string; url: string }[];
      };
      for (const e of bundle.entry ?? []) {
        const value = e.resource.identifier?.[0]?.value;
        if (value && wanted.has(value.split('/')[0]!)) copies.set(`${type}|${value}`, (copies.get(`${type}|${value}`) ?? 0) + 1);
      }
      next = bundle.link?.find((l) => l.relation === 'next')?.url;
    }
  }
  const lost = recordIds.filter((id) => !copies.has(`CarePlan|${id}/careplan`)).length;
  const doubled = [...copies.values()].filter((n) => n > 1).length;
  return { lost, doubled };
}
