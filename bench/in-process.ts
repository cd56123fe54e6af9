// Schema + mapping + gates in process, per pathway: what one core does without any FHIR round trip.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMappings } from '../src/config/mappings.js';
import { loadFhirDefinitions } from '../src/contract/definitions.js';
import { resolveReferences, type Resolution } from '../src/fhir/lookup/resolve.js';
import { planWrite, transactionOf } from '../src/fhir/write/write-plan.js';
import { evaluateGates, structuralIssues } from '../src/gates/evaluate.js';
import { loadProfiles } from '../src/gates/load-profiles.js';
import { slotFullUrl } from '../src/contract/identity.js';
import { MappingContext } from '../src/mapping/context.js';
import { gateBundle, mapRecord } from '../src/mapping/index.js';
import { parseRecord } from '../src/records/index.js';
import type { FhirClient } from '../src/fhir/client.js';

/** The pathways, in the order the bench reports them. */
export const pathways = ['early-engagement', 'step-down', 'crisis-transition', 'concern-routing'] as const;

/** A fixture record as JSON text with its own recordId. */
export function recordText(pathway: string, recordId: string): string {
  const record = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'tests', 'fixtures', `${pathway}.json`), 'utf8'));
  record.recordId = recordId;
  return JSON.stringify(record);
}

/** Records/s and µs/record for parse + schema + mapping + gates + Bundle building, references resolved once beforehand. */
export async function measureInProcess(
  fhir: FhirClient,
  pathway: string,
  runs: number,
): Promise<{ perSecond: number; microsPerRecord: number }> {
  loadFhirDefinitions();
  const mappings = loadMappings();
  const profiles = loadProfiles();
  const first = parseRecord(JSON.parse(recordText(pathway, 'bench-resolve')));
  if (!first.ok) throw new Error(`fixture ${pathway} does not parse`);
  const resolution: Resolution = await resolveReferences(fhir, first.record, mappings.site);
  const texts = Array.from({ length: runs }, (_, i) => recordText(pathway, `bench-ip-${i}`));
  const once = (text: string) => {
    const parsed = parseRecord(JSON.parse(text));
    if (!parsed.ok) throw new Error('schema');
    const ctx = new MappingContext(parsed.record, mappings, resolution.resolved, resolution.peerRoles);
    const mapped = mapRecord(ctx);
    const full = gateBundle(ctx, mapped);
    if (structuralIssues(full, profiles).length) throw new Error('structure');
    const gates = evaluateGates(full, profiles, { peerRoles: resolution.peerRoles });
    if (gates.some((g) => !g.passed)) throw new Error(`gate failed in the fixture of ${pathway}`);
    return transactionOf(planWrite(mapped, new Map()), (slot) => slotFullUrl(parsed.record.source.system, parsed.record.recordId, slot));
  };
  for (let i = 0; i < Math.min(200, runs); i++) once(texts[i]!);
  const started = process.hrtime.bigint();
  for (const t of texts) once(t);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { perSecond: runs / seconds, microsPerRecord: (seconds * 1e6) / runs };
}
