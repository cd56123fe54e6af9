import { recordIdOf, type BlockedFacts, type Case, type RefusedFacts } from '../facts.js';
import type { MeasureInput } from '../digest.js';
import { inPeriod } from '../period.js';
import { cohortGroup, strataValues, type CohortStratifier, type MeasureResult } from '../result.js';

/** One refused or blocked record: the first audit of it in the period, with every field or gate of its audits. */
interface Burden {
  case: Case;
  source: string;
  month: string;
  reasons: string[];
}

/**
 * One case per record (its source system and recordId), however often it was refused or blocked again:
 * dated by its first audit in the period, counted under every field or gate of its audits. A refusal that
 * named no valid recordId is a case of its own.
 */
function perRecord<T extends { case: Case; recorded?: string; source: string }>(
  items: T[],
  keyOf: (i: T) => string | undefined,
  reasonsOf: (i: T) => string[],
): Burden[] {
  const sorted = [...items].sort(
    (a, b) => (a.recorded ?? '').localeCompare(b.recorded ?? '') || a.case.reference.localeCompare(b.case.reference),
  );
  const byRecord = new Map<string, Burden>();
  for (const i of sorted) {
    const key = keyOf(i) ?? i.case.reference;
    const known = byRecord.get(key);
    if (known) {
      for (const r of reasonsOf(i)) if (!known.reasons.includes(r)) known.reasons.push(r);
    } else {
      byRecord.set(key, { case: i.case, source: i.source, month: (i.recorded as string).slice(0, 7), reasons: [...reasonsOf(i)] });
    }
  }
  return [...byRecord.values()];
}

function stratifiers(items: Burden[], reason: { code: string; coded: boolean }): CohortStratifier<Burden>[] {
  return [
    {
      code: 'source',
      values: strataValues(
        [],
        items.map((i) => i.source),
      ),
      of: (i) => [i.source],
      coded: false,
    },
    {
      code: 'month',
      values: strataValues(
        [],
        items.map((i) => i.month),
      ),
      of: (i) => [i.month],
      coded: false,
    },
    {
      code: reason.code,
      values: strataValues(
        [],
        items.flatMap((i) => i.reasons),
      ),
      of: (i) => i.reasons,
      coded: reason.coded,
    },
  ];
}

/**
 * Documentation burden (spec §6): records refused (`400`: the schema or FHIR's data types refused them;
 * by field path, never content — pipeline/refusal.ts) and records blocked (`422`, by gate), per source
 * system and month, each dated by the record's recordedAt (when it had a valid one; else when it was
 * refused). Lower is better: many refusals on one field, or blocks on one gate, from one source, say where
 * documentation expectations or a sender's form need a look.
 */
export function documentationBurden(input: MeasureInput): MeasureResult {
  const { facts, period } = input;
  const refusedInPeriod = facts.refused.filter((r) => inPeriod(r.recorded, period));
  const blockedInPeriod = facts.blocked.filter((b) => inPeriod(b.recorded, period));
  const refused = perRecord<RefusedFacts>(
    refusedInPeriod,
    (r) => r.record,
    (r) => r.fields,
  );
  const blocked = perRecord<BlockedFacts>(
    blockedInPeriod,
    (b) => {
      const recordId = recordIdOf(b.case);
      return recordId ? JSON.stringify([b.case.identifier?.system, recordId]) : undefined;
    },
    (b) => b.gates,
  );
  return {
    id: 'documentation-burden',
    groups: [
      cohortGroup('refused-records', refused, stratifiers(refused, { code: 'field', coded: false })),
      cohortGroup('blocked-records-by-source', blocked, stratifiers(blocked, { code: 'gate', coded: true })),
    ],
    evidence: [...refusedInPeriod, ...blockedInPeriod].map((i) => i.case),
  };
}
