// Memory of the embedded store at a real site's size (not a test):
//   npx node --expose-gc --import tsx bench/embedded-memory.ts
// The governance cohort is posted through the adapter once, then copied into the repository until it holds
// BENCH_MEMORY_RESOURCES resources; one Task in ten is then updated (a second version in history), as
// reviews get completed. RSS and heap are read after a full GC, then the write path's lookups are timed.
import { parseSearchRequest } from '@medplum/core';
import type { Task } from '@medplum/fhirtypes';
import { readEnv } from '../src/config/env.js';
import { startService } from '../src/server/start.js';
import { copyCohort, postCohort } from './cohort-store.js';

const target = Number(process.env.BENCH_MEMORY_RESOURCES ?? 100_000);
const runs = 200;
const token = 'bench-memory-token-0123456789abcd';
const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(0)} MiB`;

function settled(): NodeJS.MemoryUsage {
  if (!global.gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) global.gc();
  return process.memoryUsage();
}

const service = await startService(
  readEnv({ PORT: '0', DATA_DIR: ':memory:', API_TOKEN: token, LOG_LEVEL: 'silent', ESCALATION_INTERVAL_MS: '0' }),
  { host: '127.0.0.1' },
);
const repo = service.embedded!.repo;
const empty = settled();
console.log(`service started, store empty: rss ${mib(empty.rss)}, heap ${mib(empty.heapUsed)}`);

const template = await postCohort(service, token);
const load = performance.now();
for (let n = 1; repo.count() < target; n++) await copyCohort(service, template, n);
const tasks = (await repo.search<Task>(parseSearchRequest('Task?_count=1000000'))).entry ?? [];
let updated = 0;
for (let i = 0; i < tasks.length; i += 10) {
  const task = tasks[i]!.resource!;
  await repo.updateResource({ ...task, status: task.status === 'completed' ? 'cancelled' : 'completed' });
  updated++;
}
console.log(
  `loaded ${repo.count().toLocaleString('en-US')} resources (${updated.toLocaleString('en-US')} Tasks updated; ${repo.versionCount().toLocaleString('en-US')} versions) in ${((performance.now() - load) / 1000).toFixed(1)} s`,
);

const full = settled();
const perResource = (full.rss - empty.rss) / repo.count();
console.log(
  `after GC: rss ${mib(full.rss)} (store ${mib(full.rss - empty.rss)}, ${(perResource / 1024).toFixed(1)} KiB/resource), heap ${mib(full.heapUsed)}`,
);

async function time(label: string, fn: (i: number) => Promise<unknown>): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < runs; i++) await fn(i);
  console.log(`${label}: ${((performance.now() - start) / runs).toFixed(3)} ms/op`);
}
const withIdentifier = tasks.map((e) => e.resource!).filter((t) => t.identifier?.[0]?.system && t.identifier[0].value);
const idQuery = (t: Task) => `Task?identifier=${t.identifier![0]!.system}|${t.identifier![0]!.value}`;
await time(`Task?identifier= over ${tasks.length.toLocaleString('en-US')} Tasks`, (i) =>
  repo.search(parseSearchRequest(idQuery(withIdentifier[(i * 37) % withIdentifier.length]!))),
);
await time('conditional create (match)', (i) => {
  const t = withIdentifier[(i * 37) % withIdentifier.length]!;
  return repo.conditionalCreate({ ...t, id: undefined, meta: undefined }, parseSearchRequest(idQuery(t)));
});
await time('conditional create (new)', (i) => {
  const t: Task = {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    identifier: [{ system: 'urn:bench:memory', value: `new-${i}` }],
  };
  return repo.conditionalCreate(t, parseSearchRequest(`Task?identifier=urn:bench:memory|new-${i}`));
});
await service.close();
