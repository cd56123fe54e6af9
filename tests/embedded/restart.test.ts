import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { afterAll, describe, expect, it } from 'vitest';
import { startHarness } from './harness.js';

const dataDir = mkdtempSync(join(tmpdir(), 'embedded-fhir-'));
afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe('durability across a restart', () => {
  it('keeps data, versions and history, and does not reload the demo directory', async () => {
    const first = await startHarness({ dataDir });
    const demoCount = first.fhir.repo.count();
    const created = (await (
      await first.request('POST', 'Patient', { resourceType: 'Patient', identifier: [{ system: 'urn:example:mrn', value: 'MRN-0500' }] })
    ).json()) as Patient;
    const updated = (await (await first.request('PUT', `Patient/${created.id}`, { ...created, gender: 'other' })).json()) as Patient;
    const failed = await first.request('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Patient', gender: 'female' }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Patient', gender: 7 }, request: { method: 'POST', url: 'Patient' } },
      ],
    });
    expect(failed.status).toBe(400);
    const versionsBefore = first.fhir.repo.versionCount();
    await first.stop();

    const second = await startHarness({ dataDir });
    try {
      expect(second.fhir.repo.count()).toBe(demoCount + 1);
      expect(second.fhir.repo.versionCount()).toBe(versionsBefore);
      const read = await second.request('GET', `Patient/${created.id}`);
      expect(read.headers.get('etag')).toBe(`W/"${updated.meta?.versionId}"`);
      expect(((await read.json()) as Patient).gender).toBe('other');
      const history = (await (await second.request('GET', `Patient/${created.id}/_history`)).json()) as Bundle;
      expect(history.entry?.map((e) => e.resource?.meta?.versionId)).toEqual([updated.meta?.versionId, created.meta?.versionId]);
      const vread = await second.request('GET', `Patient/${created.id}/_history/${created.meta?.versionId}`);
      expect(((await vread.json()) as Patient).gender).toBeUndefined();
      const found = (await (await second.request('GET', 'Patient?identifier=urn:example:mrn|MRN-0500')).json()) as Bundle;
      expect(found.total).toBe(1);
      const demo = (await (await second.request('GET', 'Patient?identifier=urn:example:mrn|MRN-0001')).json()) as Bundle;
      expect(demo.total).toBe(1);
      expect((await second.request('GET', 'Patient/example-person/_history')).ok).toBe(true);
      const demoHistory = (await (await second.request('GET', 'Patient/example-person/_history')).json()) as Bundle;
      expect(demoHistory.entry).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });

  it('writes nothing to disk with :memory:', async () => {
    const h = await startHarness({ dataDir: ':memory:', loadDemoDirectory: false, conformanceResources: [] });
    expect(h.fhir.repo.count()).toBe(0);
    await h.stop();
  });
});
