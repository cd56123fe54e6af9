import type { Basic, Bundle, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClaimBusyError, withRecordClaim } from '../../src/fhir/record-claim.js';
import { tokenSearchValue } from '../../src/fhir/lookup/search-values.js';
import { exampleSource, fixture, startTestService, type TestService } from '../harness.js';

/**
 * The record claim's release travels in the record's own transaction (src/fhir/record-claim.ts
 * RecordClaim): a first send commits the record and the release once, and a send whose claim another
 * replica took over writes nothing.
 */
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.close();
});

const claimQuery = (recordId: string) => `Basic?identifier=${encodeURIComponent(tokenSearchValue(exampleSource, `${recordId}/claim`))}`;

/** The transactions the adapter sends while `run` runs. */
async function transactionsDuring(run: () => Promise<unknown>): Promise<Bundle[]> {
  const fhir = svc.service.adapter.fhir;
  const original = fhir.transaction.bind(fhir);
  const sent: Bundle[] = [];
  fhir.transaction = (bundle: Bundle) => {
    sent.push(structuredClone(bundle));
    return original(bundle);
  };
  try {
    await run();
  } finally {
    fhir.transaction = original;
  }
  return sent;
}

describe('the record claim', () => {
  it('a first send writes its claim, then the record with the claim released in the same transaction', async () => {
    const sent = await transactionsDuring(async () => {
      expect((await svc.post(fixture('crisis-transition', 'claim-fold-1'))).status).toBe(201);
    });
    expect(sent.map((b) => b.entry?.length)).toEqual([1, expect.any(Number)]);
    const last = sent[1]!.entry!.at(-1)!;
    expect(last.request).toMatchObject({ method: 'PUT', url: expect.stringMatching(/^Basic\//), ifMatch: expect.stringMatching(/^W\/"/) });
    const [claim] = await svc.fhir<Basic>(claimQuery('claim-fold-1'));
    const holder = claim!.extension?.find((e) => e.url.endsWith('record-claim-holder'));
    expect(holder).toBeUndefined();
    const history = await (await svc.fhirRaw(`Basic/${claim!.id}/_history`)).json();
    expect((history as Bundle).entry).toHaveLength(2);

    // A resend that changes nothing writes no record transaction: the claim is taken and released on its own.
    const again = await transactionsDuring(async () => {
      expect((await svc.post(fixture('crisis-transition', 'claim-fold-1'))).body.outcome).toBe('unchanged');
    });
    expect(again).toHaveLength(2);
    expect(again.every((b) => b.entry?.length === 1 && b.entry[0]!.resource?.resourceType === 'Basic')).toBe(true);
  });

  it('a send whose claim another replica took over is refused (409) and writes nothing', async () => {
    const fhir = svc.service.adapter.fhir;
    const recordId = 'claim-fenced-1';
    const error = await withRecordClaim(fhir, { source: { system: exampleSource }, recordId }, async (claim) => {
      const entry = await claim.releaseEntry();
      // Another replica takes the claim over (as after an expiry): a new version with its own holder.
      const [held] = await svc.fhir<Basic>(claimQuery(recordId));
      const other = {
        ...held!,
        extension: [
          { url: held!.extension!.find((e) => e.url.endsWith('record-claim-holder'))!.url, valueString: 'another-replica' },
          ...held!.extension!.filter((e) => !e.url.endsWith('record-claim-holder')),
        ],
      };
      expect((await svc.fhirRaw(`Basic/${held!.id}`, { method: 'PUT', body: JSON.stringify(other) })).status).toBe(200);
      const task: Task = {
        resourceType: 'Task',
        status: 'requested',
        intent: 'order',
        identifier: [{ system: 'urn:test:fence', value: recordId }],
      };
      try {
        await fhir.transaction({
          resourceType: 'Bundle',
          type: 'transaction',
          entry: [
            { fullUrl: 'urn:uuid:2f0a3c64-6a42-4a51-9b0e-3d8c8f1f0a11', resource: task, request: { method: 'POST', url: 'Task' } },
            entry,
          ],
        });
      } catch (err) {
        return claim.notReleased(true).then(
          () => err,
          (fenced: unknown) => fenced,
        );
      }
      return undefined;
    });
    expect(error).toBeInstanceOf(ClaimBusyError);
    expect((error as ClaimBusyError).status).toBe(409);
    expect(await svc.fhir(`Task?identifier=${encodeURIComponent('urn:test:fence|claim-fenced-1')}`)).toEqual([]);
    // The other replica's hold is left alone.
    const [claim] = await svc.fhir<Basic>(claimQuery(recordId));
    expect(claim!.extension?.find((e) => e.url.endsWith('record-claim-holder'))?.valueString).toBe('another-replica');
  });
});
