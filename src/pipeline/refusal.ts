import { createHash } from 'node:crypto';
import type { AuditEvent, Bundle, OperationOutcomeIssue } from '@medplum/fhirtypes';
import { tokenSearchValue } from '../fhir/lookup/search-values.js';
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
    return path.split('.').map((segment) => {
      const name = segment.replace(/\[\d*\]/g, '');
      const lists = '[]'.repeat((segment.match(/\[\d*\]/g) ?? []).length);
      return known.has(name) ? `${name}${lists}` : unknownSegment;
    }).join('.');
  });
  return [...new Set(paths)].sort();
}

/**
 * The AuditEvent of a refused record (`400`): the field paths refused, the source system and recordId when
 * the record gave valid ones, and when the record was made (`period.start` = its recordedAt, when valid) —
 * no value of the record, ever. Identified, when it names its record, by a tag
 * `{source.system, <recordId>/audit/refused/<hash of the paths>}`: the same refusal again is one event.
 */
export function buildRefusalAudit(value: unknown, issues: OperationOutcomeIssue[], now: Date): AuditEvent {
  const v = value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  const source = envelopeShape.source.safeParse(v.source);
  const system = source.success ? source.data.system : undefined;
  const recordId = envelopeShape.recordId.safeParse(v.recordId);
  const recordedAt = envelopeShape.recordedAt.safeParse(v.recordedAt);
  const pathway = typeof v.pathway === 'string' && (pathwayCodes as readonly string[]).includes(v.pathway) ? v.pathway : undefined;
  const fields = refusedFieldPaths(issues);
  const hash = createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 16);
  const identity = system && recordId.success ? { system, code: `${recordId.data}/audit/refused/${hash}` } : undefined;
  const made = recordedAt.success && !Number.isNaN(Date.parse(recordedAt.data)) ? new Date(Date.parse(recordedAt.data)).toISOString() : undefined;
  const month = recordMonthTag(made ?? now.toISOString());
  const tags = [...(identity ? [identity] : []), ...(month ? [month] : [])];
  return {
    resourceType: 'AuditEvent',
    meta: { profile: [profileUrl('peer-pathway-audit-event')], ...(tags.length ? { tag: tags } : {}) },
    type: { system: systems.pathway, code: 'record-refused', display: 'Pathway record refused (schema)' },
    action: 'C',
    ...(made ? { period: { start: made } } : {}),
    recorded: now.toISOString(),
    outcome: '4',
    outcomeDesc: `Refused: ${fields.length} field${fields.length === 1 ? '' : 's'}`,
    agent: [{ who: system ? { identifier: { system: 'urn:ietf:rfc:3986', value: system } } : { display: `${unknownSource} source` }, requestor: true }],
    source: { observer: { display: 'peer-pathways-fhir adapter' } },
    entity: [{
      // The record's identifier when it gave one; without a valid source system, its source reads `unknown`.
      what: recordId.success || system ? { identifier: { ...(system ? { system } : {}), ...(recordId.success ? { value: recordId.data } : {}) } } : { display: 'refused record' },
      ...(pathway ? { name: pathway } : {}),
      detail: fields.map((f) => ({ type: 'field', valueString: f })),
    }],
  };
}

/**
 * Records a refusal (spec §6 documentation burden) on the FHIR server: one conditional create, so a
 * refused record sent again with the same faults is one event. Never fails the answer: the sender still
 * hears its 400 whatever the FHIR server says; the caller logs a failure.
 */
export async function recordRefusal(adapter: Pick<Adapter, 'fhir'>, value: unknown, issues: OperationOutcomeIssue[], now = new Date()): Promise<void> {
  const audit = buildRefusalAudit(value, issues, now);
  const tag = audit.meta?.tag?.find((t) => t.system !== recordMonthSystem);
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [{
      resource: audit,
      request: { method: 'POST', url: 'AuditEvent', ...(tag?.system && tag.code ? { ifNoneExist: `_tag=${encodeURIComponent(tokenSearchValue(tag.system, tag.code))}` } : {}) },
    }],
  };
  await adapter.fhir.transaction(bundle);
}
