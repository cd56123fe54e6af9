import type { Bundle, Encounter } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernanceConfig } from '../../src/config/governance.js';
import { loadMappings } from '../../src/config/mappings.js';
import { remoteWholeResultReads, type FhirClient, type WholeResultReads } from '../../src/fhir/client.js';
import { readSources, reportReader, searchAll } from '../../src/governance/fetch.js';
import { daysBetween, localDate } from '../../src/governance/period.js';
import { windowOutcome } from '../../src/governance/result.js';
import { startTestService, type TestService } from '../harness.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc?.close();
});

describe('searchAll reads every page', () => {
  it('When the embedded server gives no next link, it pages with _offset until total, with _include', async () => {
    for (let i = 0; i < 7; i++) {
      const res = await svc.fhirRaw('Encounter', {
        method: 'POST',
        body: JSON.stringify({
          resourceType: 'Encounter',
          status: 'finished',
          class: { system: 'urn:test', code: 'paging' },
          subject: { reference: 'Patient/example-person' },
        } satisfies Encounter),
      });
      expect(res.status).toBe(201);
    }
    const found = await searchAll(
      reportReader(svc.service.adapter.fhir, 'UTC'),
      'Encounter',
      { class: 'urn:test|paging', _include: 'Encounter:subject' },
      3,
    );
    expect(found.matches).toHaveLength(7);
    expect(new Set(found.matches.map((e) => e.id)).size).toBe(7);
    expect([...found.included.keys()]).toEqual(['Patient/example-person']);
  });

  it('When a server gives next links (Medplum, HAPI), it follows them and ignores total', async () => {
    const page = (ids: string[], next?: string): Bundle => ({
      resourceType: 'Bundle',
      type: 'searchset',
      entry: ids.map((id) => ({
        resource: { resourceType: 'Encounter', id, status: 'finished', class: { code: 'x' } },
        search: { mode: 'match' },
      })),
      ...(next ? { link: [{ relation: 'next', url: next }] } : {}),
    });
    const asked: string[] = [];
    const fake = {
      search: async () => page(['a', 'b'], 'http://fhir.example/next-1'),
      page: async (url: string) => {
        asked.push(url);
        return url.endsWith('1') ? page(['c'], 'http://fhir.example/next-2') : page(['d']);
      },
    };
    const found = await searchAll(reportReader({ ...fake, wholeResultReads: remoteWholeResultReads } as never, 'UTC'), 'Encounter', {});
    expect(found.matches.map((e) => e.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(asked).toEqual(['http://fhir.example/next-1', 'http://fhir.example/next-2']);
  });
});

describe('how a report reads', () => {
  /** The client's searches and pages, counting the requests in flight at once and the page sizes asked. */
  function counted(client: FhirClient, wholeResultReads: WholeResultReads) {
    const seen = { open: 0, most: 0, requests: 0, counts: new Set<string>() };
    const count = async <T>(request: () => Promise<T>): Promise<T> => {
      seen.open++;
      seen.requests++;
      seen.most = Math.max(seen.most, seen.open);
      try {
        return await request();
      } finally {
        seen.open--;
      }
    };
    const fhir = {
      wholeResultReads,
      search: (...a: Parameters<FhirClient['search']>) => {
        seen.counts.add(String(new URLSearchParams(a[1] as Record<string, string>).get('_count')));
        return count(() => client.search(...a));
      },
      page: (...a: Parameters<FhirClient['page']>) => count(() => client.page(...a)),
    };
    return { fhir: fhir as unknown as FhirClient, seen };
  }

  it('On the embedded server a report runs its searches one at a time in pages of 250; against a remote server, together in pages of 1,000', async () => {
    const client = svc.service.adapter.fhir;
    // In process, on this thread: searches side by side would only hold more parsed pages at once.
    expect(client.wholeResultReads).toEqual({ concurrentSearches: 1, pageSize: 250 });
    const mappings = loadMappings();
    const { timeZone } = mappings.site;
    const period = { start: '2025-03-01', end: '2025-03-31', timeZone };
    const read = (fhir: FhirClient) => readSources(fhir, mappings.codes, loadGovernanceConfig(), period, timeZone);
    const one = counted(client, client.wholeResultReads);
    await read(one.fhir);
    expect(one.seen.requests).toBeGreaterThan(10);
    expect(one.seen.most).toBe(1);
    expect([...one.seen.counts]).toEqual(['250']);
    const all = counted(client, remoteWholeResultReads);
    await read(all.fhir);
    expect(all.seen.most).toBeGreaterThan(1);
    // No search includes (the Tasks' owners are read by _id), so no page is cut to Medplum's include cap.
    expect([...all.seen.counts]).toEqual(['1000']);
  });
});

describe('dates in the site time zone', () => {
  it('an instant late in the UTC day is the next local day east of UTC, and a bare date stays as it is', () => {
    expect(localDate('2025-03-31T23:30:00Z', 'Europe/London')).toBe('2025-04-01');
    expect(localDate('2025-03-31T23:30:00Z', 'UTC')).toBe('2025-03-31');
    expect(localDate('2025-03-01T02:00:00+01:00', 'America/New_York')).toBe('2025-02-28');
    expect(localDate('2025-03-31', 'Pacific/Auckland')).toBe('2025-03-31');
  });

  it('windows count whole local days, across a daylight-saving change, the last day included', () => {
    expect(daysBetween('2025-03-20', '2025-04-19')).toBe(30);
    expect(windowOutcome([30], 30, 200)).toBe('event');
    expect(windowOutcome([31], 30, 200)).toBe('none');
    expect(windowOutcome([], 30, 12)).toBe('pending');
    expect(windowOutcome([-3], 30, 40)).toBe('none');
  });
});
