import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMappings } from '../../src/config/mappings.js';
import { loadFhirDefinitions } from '../../src/contract/definitions.js';
import { evaluateGates } from '../../src/gates/evaluate.js';
import { loadProfiles, type Profile } from '../../src/gates/load-profiles.js';
import { MappingContext, type ResolvedReference } from '../../src/mapping/context.js';
import { gateBundle, mapRecord } from '../../src/mapping/index.js';
import { parseRecord } from '../../src/records/index.js';
import { collectReferences } from '../../src/fhir/lookup/resolve.js';
import { fixture } from '../harness.js';

/** Rows of {gate, expect, fixture, set, site, fields, desc}: the gates' behaviour as data (fhirpath.js style). */
interface GateCase {
  gate: string;
  expect: 'pass' | 'fail';
  fixture: string;
  set?: Record<string, unknown>;
  site?: Record<string, unknown>;
  /** For a failing case: exactly the record fields the gate's issue names. */
  fields?: string[];
  desc: string;
}

const cases: GateCase[] = JSON.parse(readFileSync(join(import.meta.dirname, 'gate-cases.json'), 'utf8'));
/** The demo directory's peer role: every other reference in a fixture resolves as a non-peer. */
const peerRoles = ['PractitionerRole/example-peer', 'Practitioner/example-peer-practitioner'];
let profiles: Map<string, Profile>;

beforeAll(() => {
  loadFhirDefinitions();
  profiles = loadProfiles();
});

function setPath(target: any, path: string, value: unknown): void {
  const parts = path.split('.');
  const last = parts.pop() as string;
  const parent = parts.reduce((o, p) => (o[p] ??= {}), target);
  if (value === null) delete parent[last];
  else parent[last] = value;
}

function evaluate(c: GateCase) {
  const record = fixture(c.fixture);
  for (const [path, value] of Object.entries(c.set ?? {})) setPath(record, path, value);
  const parsed = parseRecord(record);
  if (!parsed.ok) throw new Error(`${c.desc}: fixture does not parse: ${JSON.stringify(parsed.issues)}`);
  const mappings = loadMappings();
  Object.assign(mappings.site, c.site ?? {});
  // Resolution without a server: each literal reference resolves to itself.
  const resolved = new Map<string, ResolvedReference>(
    collectReferences(parsed.record).map(({ path, ref }) => [
      path,
      { literal: ref.reference as string, resource: { resourceType: ref.reference?.split('/')[0] } as Resource },
    ]),
  );
  const ctx = new MappingContext(parsed.record, mappings, resolved, peerRoles);
  const results = evaluateGates(gateBundle(ctx, mapRecord(ctx)), profiles, { peerRoles });
  return results.find((r) => r.key === c.gate);
}

describe('gate cases', () => {
  for (const c of cases) {
    it(`${c.gate} ${c.expect}s: ${c.desc}`, () => {
      const result = evaluate(c);
      expect(result, `gate ${c.gate} was not evaluated`).toBeDefined();
      expect(result?.passed).toBe(c.expect === 'pass');
      if (c.fields) expect(result?.recordFields).toEqual(c.fields);
    });
  }

  it('every gate key in profiles/ has at least one passing and one failing case', () => {
    const keys = [...loadProfiles().values()].flatMap((p) => p.gates.map((g) => g.key));
    expect(keys.length).toBeGreaterThan(0);
    const missing = keys.filter(
      (k) => !cases.some((c) => c.gate === k && c.expect === 'pass') || !cases.some((c) => c.gate === k && c.expect === 'fail'),
    );
    expect(missing).toEqual([]);
  });
});
