import type { Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from './fault-proxy.js';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';

/** One lookup round trip per record (fhir/lookup/record-lookup.ts): references and what was written before, in one batch. */
let real: TestService;
let adapter: TestService;
let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
let batches: { url: string }[][] = [];

beforeAll(async () => {
  real = await startTestService({ RATE_LIMIT_PER_MINUTE: '0' });
  proxy = await startFaultProxy(real.url, (body) => {
    if (body?.resourceType === 'Bundle' && body.type === 'batch') batches.push(body.entry.map((e: any) => e.request));
    return 'forward';
  });
  adapter = await startTestService({
    FHIR_BASE_URL: `${proxy.url}/fhir/R4`,
    FHIR_ACCESS_TOKEN: testToken,
    RATE_LIMIT_PER_MINUTE: '0',
    ESCALATION_INTERVAL_MS: '0',
  });
});
afterAll(async () => {
  await adapter.close();
  await proxy.close();
  await real.close();
});

/** The batches one send made: directory reads cached from earlier sends are answered without a request. */
async function send(record: unknown) {
  batches = [];
  const answer = await adapter.post(record);
  return { answer, batches };
}

describe('one lookup round trip per record', () => {
  it("a first send and an unchanged resend each read the FHIR server in one batch: references and the record's tagged resources together", async () => {
    const first = await send(fixture('concern-routing', 'rt-1'));
    expect(first.answer.status).toBe(201);
    expect(first.batches).toHaveLength(1);
    const urls = first.batches[0]!.map((r) => r.url);
    expect(urls.some((u) => u.startsWith('Task?_tag='))).toBe(true);
    expect(urls.some((u) => u.startsWith('Patient/') || u.startsWith('Patient?'))).toBe(true);
    const again = await send(fixture('concern-routing', 'rt-1'));
    expect(again.answer.status).toBe(200);
    expect(again.answer.body.outcome).toBe('unchanged');
    expect(again.batches).toHaveLength(1);
  });

  it('a Task whose tag a client dropped on update (Medplum replaces tags on PUT) is still found by its identifier: a resend never doubles it', async () => {
    expect((await send(fixture('concern-routing', 'rt-2'))).answer.status).toBe(201);
    const [task] = await real.bySlot<Task>('Task', 'rt-2', 'task/clinical-review');
    const { meta: _meta, ...untagged } = task!;
    const put = await real.fhirRaw(`Task/${task!.id}`, { method: 'PUT', body: JSON.stringify({ ...untagged, status: 'accepted' }) });
    expect(put.status).toBe(200);
    expect((await real.bySlot<Task>('Task', 'rt-2', 'task/clinical-review'))[0]?.meta?.tag ?? []).toEqual([]);
    const resend = await send(fixture('concern-routing', 'rt-2'));
    expect(resend.answer.status).toBe(200);
    // The tag searches found the record's other resources, so the missing Task was asked for by identity.
    expect(resend.batches).toHaveLength(2);
    const tasks = await real.bySlot<Task>('Task', 'rt-2', 'task/clinical-review');
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.status).toBe('accepted');
  });
});
