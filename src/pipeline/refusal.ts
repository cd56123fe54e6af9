import { createHash } from 'node:crypto';
import type { AuditEvent, Bundle, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { hasTag, tokenSearchValue } from '../fhir/lookup/search-values.js';
import { searchsetResources } from '../fhir/lookup/existing.js';
import { profileUrl, recordMonthSystem, recordMonthTag, systems } from '../contract/vocabulary.js';
import { envelopeShape, pathwayCodes } from '../records/envelope.js';
import { allRecordJsonSchemas } from '../records/json-schema.js';
import type { Adapter } from './process-record.js';

/** What a field path becomes when a segment is not a field of the contract: a sender's own key may be content. */
export const unknownSegment = '(unknown)';
/** The path of an issue that names no field (the body is not JSON, a control character…). */
export const bodyPath = '(body)';
/** A refused record's source system when its `source.system` is missing or invalid. */
export const unknownSource = 'unknown';

let contractFields: ReadonlySet<string> | undefined;

/** Every property name of every pathway's record schema: the only words a recorded field path may hold. */
function knownFields(): ReadonlySet<string> {
  if (contractFields) return contractFields;
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const props = (node as { properties?: unknown }).properties;
      if (props && typeof props === 'object') Object.keys(props).forEach((k) => names.add(k));
      Object.values(node).forEach(walk);
    }
  };
  walk(allRecordJsonSchemas());
  contractFields = names;
  return names;
}

/**
 * The field paths of a 400's issues, as documentation burden counts them (spec §6: by field path, never
 * content): list positions dropped (`concerns[].category`), and any segment that is not a field name of the
 * contract — a misspelt or invented key is the sender's text and may hold anything — replaced by `(unknown)`.
 */
export function refusedFieldPaths(issues: OperationOutcomeIssue[]): string[] {
  const known = knownFields();
  const paths = issues.map((i) => {
    const path = i.expression?.[0];
    if (!path) return bodyPath;
    return path
      .split('.')
      .map((segment) => {
        const name = segment.replace(/\[\d*\]/g, '');
        const lists = '[]'.repeat((segment.match(/\[\d*\]/g) ?? []).length);
        return known.has(name) ? `${name}${lists}` : unknownSegment;
      })
      .join('.');
  });
  return [...new Set(paths)].sort();
}

/**
 * The AuditEvent of a refused record (`400`): the field paths refused, the source system and recordId when
 * the record gave valid ones, and when the record was made (`period.start` = its recordedAt, when valid) —
 * no value of the record, ever. Identified, when it names its record, by a tag
 * `{source.system, <recordId>/audit/refused/<hash of the paths>}`: the same refusal again is one event;
 * it also carries `{source.system, <recordId>/audit/refused}`, which finds the record's earlier refusals. `firstMade` is the `period.start`
 * of the record's first refusal, which a later one keeps (spec §6 "a record is dated by its first send").
 */
export function buildRefusalAudit(value: unknown, issues: OperationOutcomeIssue[], now: Date, firstMade?: string): AuditEvent {
  const v = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  const source = envelopeShape.source.safeParse(v.source);
  const system = source.success ? source.data.system : undefined;
  const recordId = envelopeShape.recordId.safeParse(v.recordId);
  const recordedAt = envelopeShape.recordedAt.safeParse(v.recordedAt);
  const pathway = typeof v.pathway === 'string' && (pathwayCodes as readonly string[]).includes(v.pathway) ? v.pathway : undefined;
  const fields = refusedFieldPaths(issues);
  const hash = createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 16);
  const identity = system && recordId.success ? { system, code: `${recordId.data}/audit/refused/${hash}` } : undefined;
  const sent =
    recordedAt.success && !Number.isNaN(Date.parse(recordedAt.data)) ? new Date(Date.parse(recordedAt.data)).toISOString() : undefined;
  // A record is dated by its first send (spec §6): a refusal of a record refused before keeps that date.
  const made = firstMade ?? sent;
  const month = recordMonthTag(made ?? now.toISOString());
  // Identity first (the conditional create reads it), then the tag of the record's refusals (its earlier
  // refusals are found by it; not the record's own tag, which marks what was written for an accepted record), then the month.
  const record = identity && recordId.success && system ? { system, code: `${recordId.data}/audit/refused` } : undefined;
  const tags = [...(identity ? [identity] : []), ...(record ? [record] : []), ...(month ? [month] : [])];
  return {
    resourceType: 'AuditEvent',
    meta: { profile: [profileUrl('peer-pathway-audit-event')], ...(tags.length ? { tag: tags } : {}) },
    type: { system: systems.pathway, code: 'record-refused', display: 'Pathway record refused (schema)' },
    action: 'C',
    ...(made ? { period: { start: made } } : {}),
    recorded: now.toISOString(),
    outcome: '4',
    outcomeDesc: `Refused: ${fields.length} field${fields.length === 1 ? '' : 's'}`,
    agent: [
      {
        who: system ? { identifier: { system: 'urn:ietf:rfc:3986', value: system } } : { display: `${unknownSource} source` },
        requestor: true,
      },
    ],
    source: { observer: { display: 'peer-pathways-fhir adapter' } },
    entity: [
      {
        // The record's identifier when it gave one; without a valid source system, its source reads `unknown`.
        what:
          recordId.success || system
            ? { identifier: { ...(system ? { system } : {}), ...(recordId.success ? { value: recordId.data } : {}) } }
            : { display: 'refused record' },
        ...(pathway ? { name: pathway } : {}),
        detail: fields.map((f) => ({ type: 'field', valueString: f })),
      },
    ],
  };
}

/**
 * When the record was first refused (`period.start` of its earliest refusal, found by the tag of its refusals):
 * a record refused again later — with other faults, a later recordedAt — stays in the month it was first
 * refused in, as a blocked record does (spec §6 "a record is dated by its first send"). Undefined when
 * the record names no valid recordId, or was not refused before.
 */
async function firstRefusal(adapter: Pick<Adapter, 'fhir'>, audit: AuditEvent): Promise<string | undefined> {
  const [identity, record] = audit.meta?.tag ?? [];
  if (!identity || !record?.system || !record.code || record.system === recordMonthSystem) return undefined;
  const found = await adapter.fhir.search('AuditEvent', {
    _tag: tokenSearchValue(record.system, record.code),
    type: tokenSearchValue(systems.pathway, 'record-refused'),
    _count: '1000',
  });
  const starts = (searchsetResources(found, 'AuditEvent') as AuditEvent[])
    .filter((a) => hasTag(a, record.system!, record.code!))
    .flatMap((a) => (a.period?.start && !Number.isNaN(Date.parse(a.period.start)) ? [a.period.start] : []));
  return starts.sort((a, b) => Date.parse(a) - Date.parse(b))[0];
}

/**
 * Records a refusal (spec §6 documentation burden) on the FHIR server: one conditional create, so a
 * refused record sent again with the same faults is one event. Never fails the answer: the sender still
 * hears its 400 whatever the FHIR server says; the caller logs a failure.
 */
export async function recordRefusal(
  adapter: Pick<Adapter, 'fhir'>,
  value: unknown,
  issues: OperationOutcomeIssue[],
  now = new Date(),
): Promise<void> {
  const first = buildRefusalAudit(value, issues, now);
  const audit = buildRefusalAudit(value, issues, now, await firstRefusal(adapter, first));
  // Its identity, when it names its record (the first tag then); never the month tag alone.
  const tag = audit.meta?.tag?.find((t) => t.system !== recordMonthSystem);
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        resource: audit,
        request: {
          method: 'POST',
          url: 'AuditEvent',
          ...(tag?.system && tag.code ? { ifNoneExist: `_tag=${encodeURIComponent(tokenSearchValue(tag.system, tag.code))}` } : {}),
        },
      },
    ],
  };
  await adapter.fhir.transaction(bundle);
}
