// Cluster mode (issue 13): end-to-end records/s with WORKERS=2 ÷ WORKERS=1, and p99 at 50 and 5 clients,
// measured in one run on fresh on-disk stores. Part of `npm run bench`; alone: `npx tsx bench/cluster.ts`.
// BENCH_CLUSTER_ROOT runs another checkout's service (the "before" figures: a tree without cluster mode).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild } from './child-service.js';
import { recordText } from './in-process.js';
import { runLoad } from './load.js';

const token = 'bench-token-0123456789abcdef';
const records = Number(process.env.BENCH_CLUSTER_RECORDS ?? 1_000);

/** What one WORKERS setting measured. */
export interface ClusterRow {
  workers: number;
  perSecond: number;
  p99At50: number;
  p99At5: number;
  p50At5: number;
}

export async function measure(workers: number, port: number): Promise<ClusterRow> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-cluster-'));
  const service = await startChild(
    port,
    { API_TOKEN: token, DATA_DIR: dataDir, WORKERS: String(workers), ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0' },
    true,
    process.env.BENCH_CLUSTER_ROOT,
  );
  try {
    // Every worker up and warm (JIT, connection pool): each new connection may land on any worker.
    await new Promise((r) => setTimeout(r, 1_500 * workers));
    const url = `${service.url}/pathway-records`;
    await runLoad(
      url,
      token,
      Array.from({ length: 200 }, (_, i) => recordText('crisis-transition', `w${workers}-warm-${i}`)),
      50,
    );
    const at50 = await runLoad(
      url,
      token,
      Array.from({ length: records }, (_, i) => recordText('crisis-transition', `w${workers}-50-${i}`)),
      50,
    );
    const at5 = await runLoad(
      url,
      token,
      Array.from({ length: Math.ceil(records / 2) }, (_, i) => recordText('crisis-transition', `w${workers}-5-${i}`)),
      5,
    );
    for (const run of [at50, at5]) {
      if ((run.statuses.get(201) ?? 0) !== run.bodies.length)
        throw new Error(`WORKERS=${workers}: not every record was written: ${JSON.stringify([...run.statuses])}`);
    }
    return { workers, perSecond: at50.perSecond, p99At50: at50.p99, p99At5: at5.p99, p50At5: at5.p50 };
  } finally {
    await service.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Runs WORKERS=1 then WORKERS=2 on `port`; returns both rows and the ratio. */
export async function clusterBench(port: number): Promise<{ one: ClusterRow; two: ClusterRow; ratio: number }> {
  const one = await measure(1, port);
  const two = await measure(2, port);
  return { one, two, ratio: two.perSecond / one.perSecond };
}

/** The rows of the targets table. */
export function clusterRows(r: { one: ClusterRow; two: ClusterRow; ratio: number }, fmt: (n: number, d?: number) => string): string[][] {
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  return [
    [
      `e2e rec/s WORKERS=2 ÷ WORKERS=1 (${fmt(r.two.perSecond)} ÷ ${fmt(r.one.perSecond)}, 50 clients, on disk)`,
      '≥ 1.6',
      fmt(r.ratio, 2),
      verdict(r.ratio >= 1.6),
    ],
    ...[r.one, r.two].flatMap((row) => [
      [`p99 at 50 clients, WORKERS=${row.workers}`, '≤ 50 ms', `${fmt(row.p99At50, 1)} ms`, verdict(row.p99At50 <= 50)],
      [
        `p99 at 5 clients, WORKERS=${row.workers}`,
        '≤ 15 ms',
        `${fmt(row.p99At5, 1)} ms (p50 ${fmt(row.p50At5, 1)} ms)`,
        verdict(row.p99At5 <= 15),
      ],
    ]),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const result = await clusterBench(Number(process.env.BENCH_PORT ?? 18_750));
  for (const row of clusterRows(result, fmt)) console.log(row.join(' | '));
}
