import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { DestinationStream } from 'pino';
import { afterAll } from 'vitest';
import { readEnv } from '../src/config/env.js';
import { tokenSearchValue } from '../src/fhir/lookup/search-values.js';
import { startService, type RunningService } from '../src/server/start.js';

/** The source system of the fixture records. */
export const exampleSource = 'urn:example:peer-platform';

/** The bearer token every test service accepts. */
export const testToken = 'test-token-0123456789';

/** A running adapter on a fresh in-memory embedded FHIR server, and helpers to talk to it over HTTP. */
export interface TestService {
  url: string;
  service: RunningService;
  post(record: unknown, path?: string): Promise<{ status: number; body: any; headers: Headers }>;
  fhir<T extends Resource = Resource>(query: string): Promise<T[]>;
  /** Every match of a search, following its `next` links (a page holds at most 1,000, as on a Medplum server). */
  fhirAll<T extends Resource = Resource>(query: string): Promise<T[]>;
  fhirRaw(path: string, init?: RequestInit): Promise<Response>;
  /** The resources a record wrote in one slot, found by their business identifier `<recordId>/<slot>`. */
  bySlot<T extends Resource = Resource>(type: string, recordId: string, slot: string, sourceSystem?: string): Promise<T[]>;
  /** The one resource of a slot; fails when there is not exactly one. */
  one<T extends Resource = Resource>(type: string, recordId: string, slot: string): Promise<T>;
  close(): Promise<void>;
}

/**
 * Starts a service for one test file; extra environment variables override the defaults, and
 * `logDestination` receives every log line (LOG_LEVEL still applies).
 */
export async function startTestService(
  env: Record<string, string> = {},
  opts: { logDestination?: DestinationStream } = {},
): Promise<TestService> {
  const service = await startService(readEnv({ PORT: '0', DATA_DIR: ':memory:', API_TOKEN: testToken, LOG_LEVEL: 'silent', ...env }), {
    host: '127.0.0.1',
    ...opts,
  });
  const auth = { Authorization: `Bearer ${testToken}` };
  const fhirRaw = (path: string, init: RequestInit = {}) =>
    fetch(`${service.url}/fhir/R4/${path}`, {
      ...init,
      headers: { ...auth, 'Content-Type': 'application/fhir+json', ...(init.headers ?? {}) },
    });
  const fhir = async <T extends Resource = Resource>(query: string): Promise<T[]> => {
    const res = await fhirRaw(query);
    if (!res.ok) throw new Error(`FHIR ${query}: ${res.status}`);
    const bundle = (await res.json()) as Bundle<T>;
    return (bundle.entry ?? []).map((e) => e.resource as T);
  };
  const fhirAll = <T extends Resource = Resource>(query: string): Promise<T[]> =>
    searchAllPages<T>(`${service.url}/fhir/R4/${query}`, testToken);
  const bySlot = <T extends Resource = Resource>(
    type: string,
    recordId: string,
    slot: string,
    sourceSystem = exampleSource,
  ): Promise<T[]> => fhir<T>(`${type}?identifier=${encodeURIComponent(tokenSearchValue(sourceSystem, `${recordId}/${slot}`))}`);
  return {
    url: service.url,
    service,
    async post(record, path = '/pathway-records') {
      const res = await fetch(`${service.url}${path}`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        // Bytes as they are (raw text tests), a string as it is, anything else as JSON.
        body: record instanceof Uint8Array ? new Uint8Array(record) : typeof record === 'string' ? record : JSON.stringify(record),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    fhir,
    fhirAll,
    fhirRaw,
    bySlot,
    async one<T extends Resource = Resource>(type: string, recordId: string, slot: string): Promise<T> {
      const found = await bySlot<T>(type, recordId, slot);
      if (found.length !== 1) throw new Error(`${type} ${recordId}/${slot}: expected exactly one, found ${found.length}`);
      return found[0] as T;
    },
    close: () => service.close(),
  };
}

/**
 * Every match of a FHIR search at `url` (absolute), following its `next` links: a page of the embedded
 * server holds at most 1,000 resources, as on a Medplum server.
 */
export async function searchAllPages<T extends Resource = Resource>(url: string, token: string): Promise<T[]> {
  const found: T[] = [];
  for (let next: string | undefined = url; next;) {
    const res: Response = await fetch(next, { headers: { Authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`FHIR ${url}: ${res.status}`);
    const bundle = (await res.json()) as Bundle<T>;
    found.push(...(bundle.entry ?? []).map((e) => e.resource as T));
    next = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return found;
}

/** A fresh deep copy of a fixture record (tests/fixtures/<name>.json), optionally with a new recordId and a change. */
export function fixture(name: string, recordId?: string, change: (record: any) => void = () => undefined): any {
  const record = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', `${name}.json`), 'utf8'));
  if (recordId) record.recordId = recordId;
  change(record);
  return record;
}

/** The gate keys of an OperationOutcome's failed gates. */
export function failedGates(outcome: any): string[] {
  return (outcome?.issue ?? [])
    .filter((i: any) => i.severity === 'error')
    .flatMap((i: any) => i.details?.coding ?? [])
    .filter((c: any) => c.system?.endsWith('/CodeSystem/gate'))
    .map((c: any) => c.code)
    .sort();
}

/** The gate keys an accepted answer reports as passed. */
export function passedGates(answer: any): string[] {
  return (answer.operationOutcome?.issue ?? [])
    .flatMap((i: any) => i.details?.coding ?? [])
    .filter((c: any) => c.system?.endsWith('/CodeSystem/gate'))
    .map((c: any) => c.code)
    .sort();
}

/** Temporary DATA_DIRs for one test file (call at its top level): each call makes one; all are removed after the file's tests. */
export function dataDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
}
