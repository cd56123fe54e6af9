// Records/s through POST /pathway-records on the embedded server with 100 and with 10,000 records
// already stored (issue 2's measurement), and the size of a typical transaction Bundle.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEnv } from '../src/config/env.js';
import { startService } from '../src/server/start.js';

const token = 'bench-token-0123456789abcdef';
const sample = 300;
const fillConcurrency = 8;
const pathways = ['early-engagement', 'step-down', 'crisis-transition', 'concern-routing'];
const fixtures = pathways.map((p) => JSON.parse(readFileSync(join(import.meta.dirname, '../tests/fixtures', `${p}.json`), 'utf8')));

function record(n: number): string {
  const r = structuredClone(fixtures[n % fixtures.length]);
  r.recordId = `bench-${n}`;
  return JSON.stringify(r);
}

async function post(url: string, body: string, path = '/pathway-records'): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body,
  });
}

async function fill(url: string, from: number, to: number): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: fillConcurrency }, async () => {
      while (next < to) {
        const res = await post(url, record(next++));
        await res.arrayBuffer();
      }
    }),
  );
}

async function measure(url: string, from: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < sample; i++) {
    const res = await post(url, record(from + i));
    if (res.status !== 201) throw new Error(`record ${from + i}: ${res.status}`);
    await res.arrayBuffer();
  }
  return (sample / (performance.now() - started)) * 1000;
}

async function main(): Promise<void> {
  const service = await startService(
    readEnv({
      PORT: '0',
      DATA_DIR: ':memory:',
      API_TOKEN: token,
      LOG_LEVEL: 'silent',
      ESCALATION_INTERVAL_MS: '0',
      RATE_LIMIT_PER_MINUTE: '0',
    }),
    { host: '127.0.0.1' },
  );
  try {
    type Parameters = { parameter: { name: string; resource?: { entry?: unknown[] } }[] };
    const bundles = await Promise.all(
      fixtures.map(async (_f, i) => {
        const res = await post(service.url, record(i), '/pathway-records/$validate');
        const b = ((await res.json()) as Parameters).parameter.find((p) => p.name === 'bundle')?.resource;
        return { pathway: pathways[i], entries: b?.entry?.length ?? 0, bytes: Buffer.byteLength(JSON.stringify(b)) };
      }),
    );
    await fill(service.url, 0, 100);
    const at100 = await measure(service.url, 100);
    await fill(service.url, 100 + sample, 10_000);
    const at10k = await measure(service.url, 10_000 + sample);
    console.log('| records already stored | records/s (sequential, one client) |');
    console.log('|---|---|');
    console.log(`| 100 | ${at100.toFixed(0)} |`);
    console.log(`| 10,000 | ${at10k.toFixed(0)} |`);
    console.log('\n| pathway (example record) | Bundle entries | Bundle size |');
    console.log('|---|---|---|');
    for (const b of bundles) console.log(`| ${b.pathway} | ${b.entries} | ${(b.bytes / 1024).toFixed(1)} KiB |`);
  } finally {
    await service.close();
  }
}

await main();
