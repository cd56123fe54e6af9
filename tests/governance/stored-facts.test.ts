import type { Bundle, MeasureReport, Resource } from '@medplum/fhirtypes';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadGovernanceConfig } from '../../src/config/governance.js';
import { loadMappings } from '../../src/config/mappings.js';
import type { DerivedReads, FhirClient } from '../../src/fhir/client.js';
import { computeMeasureReports } from '../../src/governance/compute.js';
import { reportReader } from '../../src/governance/fetch.js';
import { factsKey, resourceFacts } from '../../src/governance/stored-facts.js';
import { startTestService, type TestService } from '../harness.js';
import { period } from './cohort.js';
import { loadCohort } from './load-cohort.js';
import { comparableReports, fromToday, measureReports, newPatient, readingAs, sourcedRecord } from './service.js';

/**
 * The embedded store keeps each resource's governance facts beside it when it is written, and a report reads
 * those instead of parsing every resource. A remote server keeps none: the report makes the same facts from
 * the resources. The two must give the same report.
 */
let svc: TestService;
const mappings = loadMappings();
const { timeZone } = mappings.site;

beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
  await loadCohort(svc, 20250311);
}, 60_000);
afterAll(async () => {
  await svc?.close();
});

/** The service's client as a report reads it, counting what its kept facts gave; or without them, as against a remote server. */
function reading(kept: boolean) {
  const client = svc.service.adapter.fhir;
  const seen = { derived: 0, whole: 0 };
  const derived = client.derivedReads as DerivedReads;
  const derivedReads: DerivedReads = {
    key: derived.key,
    visitAll: (type, query, visit) =>
      derived.visitAll(type, query, (m) => {
        seen['derived' in m ? 'derived' : 'whole']++;
        visit(m);
      }),
  };
  return { fhir: readingAs(client, kept ? derivedReads : undefined), seen };
}

function report(fhir: FhirClient): Promise<Bundle<MeasureReport>> {
  const now = new Date('2025-04-15T12:00:00Z');
  return computeMeasureReports({ fhir, mappings, governance: loadGovernanceConfig() }, { ...period, timeZone }, now);
}

describe('the governance facts the embedded store keeps beside each resource', () => {
  it('give the same report as the resources read whole (as from a remote server)', async () => {
    const kept = reading(true);
    const fromKept = await report(kept.fhir);
    // Every match of the report's searches came as its kept facts: the cohort was written by this code.
    expect(kept.seen.derived).toBeGreaterThan(100);
    expect(kept.seen.whole).toBe(0);
    const whole = await report(reading(false).fhir);
    expect(comparableReports(fromKept)).toBe(comparableReports(whole));
    // Not an empty report read twice.
    const counts = fromKept.entry?.flatMap((e) => e.resource?.group?.flatMap((g) => g.population?.map((p) => p.count ?? 0) ?? []) ?? []);
    expect(counts?.some((n) => n > 0)).toBe(true);
  });

  it("are each resource's facts, as a report makes them from the resource as it is now", async () => {
    const client = svc.service.adapter.fhir;
    const derived = client.derivedReads as DerivedReads;
    for (const type of ['CarePlan', 'Task', 'Encounter', 'Communication', 'AuditEvent']) {
      const stored: unknown[] = [];
      await derived.visitAll(type, {}, (m) => stored.push('derived' in m ? m.derived : { whole: m.resource.id }));
      const resources: Resource[] = [];
      for (let offset = 0; ; offset += 1000) {
        const page = await client.search(type, { _count: '1000', _offset: String(offset) });
        resources.push(...(page.entry ?? []).map((e) => e.resource as Resource));
        if ((page.entry ?? []).length < 1000) break;
      }
      expect(resources.length, type).toBeGreaterThan(0);
      // JSON drops undefined keys, as the store's text does.
      expect(stored, type).toEqual(resources.map((r) => JSON.parse(JSON.stringify(resourceFacts(r, timeZone)))));
    }
  });

  it('are used only by a report in the time zone they were made in', () => {
    const client = svc.service.adapter.fhir;
    expect(client.derivedReads?.key).toBe(factsKey(timeZone));
    expect(reportReader(client, timeZone).derived).toBeDefined();
    const elsewhere = timeZone === 'Pacific/Auckland' ? 'America/Chicago' : 'Pacific/Auckland';
    expect(factsKey(elsewhere)).not.toBe(factsKey(timeZone));
    expect(reportReader(client, elsewhere).derived).toBeUndefined();
  });

  it('a store written by an older release gains them after the service starts, and its reports are the same meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facts-upgrade-'));
    try {
      const first = await startTestService({ ESCALATION_INTERVAL_MS: '0', DATA_DIR: dir });
      const patient = await newPatient(first);
      const res = await first.post(
        sourcedRecord('urn:example:facts-upgrade', 'crisis-transition', 'up-1', patient, `${fromToday(-2)}T10:00:00Z`),
      );
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const today = { start: fromToday(-30), end: fromToday(0) };
      const before = await measureReports(first, today.start, today.end);
      // As an older release left the store: no kept facts, no mark.
      const db = first.service.embedded?.repo.database;
      db?.exec("DELETE FROM derived; DELETE FROM store_meta WHERE name = 'derived-through'");
      await first.close();

      const again = await startTestService({ ESCALATION_INTERVAL_MS: '0', DATA_DIR: dir });
      try {
        const repo = again.service.embedded?.repo as NonNullable<typeof again.service.embedded>['repo'];
        const kinds = async () => {
          const seen = new Set<string>();
          await repo.visitDerived('CarePlan', {}, (m) => seen.add('derived' in m ? 'derived' : 'whole'));
          return [...seen];
        };
        expect(comparableReports(await measureReports(again, today.start, today.end))).toBe(comparableReports(before));
        await vi.waitFor(async () => expect(await kinds()).toEqual(['derived']), { timeout: 10_000, interval: 50 });
        expect(comparableReports(await measureReports(again, today.start, today.end))).toBe(comparableReports(before));
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
