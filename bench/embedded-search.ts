// Timings of the embedded repository's indexed searches (not a test: run with `npx tsx bench/embedded-search.ts`).
import { parseSearchRequest } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Task } from '@medplum/fhirtypes';
import { createEmbeddedFhirServer } from '../src/embedded/index.js';

const STORED = 10_000;
const RUNS = 200;

const task = (n: number): Task => ({
  resourceType: 'Task',
  status: 'requested',
  intent: 'order',
  identifier: [{ system: 'urn:example:task', value: `T-${n}` }],
  for: { reference: `Patient/p-${n % 500}` },
  owner: { reference: 'PractitionerRole/example-peer' },
});

async function time(label: string, fn: (i: number) => Promise<unknown>, runs = RUNS): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < runs; i++) await fn(i);
  console.log(`${label}: ${((performance.now() - start) / runs).toFixed(3)} ms/op`);
}

const { repo, close } = await createEmbeddedFhirServer({
  dataDir: ':memory:',
  accessTokens: [],
  clientId: 'c',
  clientSecret: 's',
  loadDemoDirectory: false,
});
const plain = new MemoryRepository();
const load = performance.now();
for (let n = 0; n < STORED; n++) await repo.createResource(task(n));
console.log(`loaded ${STORED} Tasks into EmbeddedRepository in ${(performance.now() - load).toFixed(0)} ms`);
for (let n = 0; n < STORED; n++) await plain.createResource(task(n));

await time('EmbeddedRepository Task?identifier=', (i) => repo.search(parseSearchRequest(`Task?identifier=urn:example:task|T-${i * 37}`)));
await time(
  'MemoryRepository  Task?identifier=',
  (i) => plain.search(parseSearchRequest(`Task?identifier=urn:example:task|T-${i * 37}`)),
  20,
);
await time('EmbeddedRepository Task?patient=&status= (20 hits)', (i) =>
  repo.search(parseSearchRequest(`Task?patient=Patient/p-${i % 500}&status=requested`)),
);
await time('EmbeddedRepository conditional create (match)', (i) =>
  repo.conditionalCreate(task(i), parseSearchRequest(`Task?identifier=urn:example:task|T-${i}`)),
);
await time('EmbeddedRepository conditional create (new)', (i) =>
  repo.conditionalCreate(task(STORED + i), parseSearchRequest(`Task?identifier=urn:example:task|T-${STORED + i}`)),
);
await time(
  'MemoryRepository  conditional create (new)',
  (i) => plain.conditionalCreate(task(STORED + i), parseSearchRequest(`Task?identifier=urn:example:task|T-${STORED + i}`)),
  20,
);
await close();
