import { OperationOutcomeError } from '@medplum/core';
import type { Bundle, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { issue } from '../outcomes/index.js';
import { systems } from '../contract/vocabulary.js';
import type { Gate, Profile } from './load-profiles.js';
import { StructureCache } from './structure-cache.js';

/** Base-R4 verdicts by resource shape: the mapper's output per slot has few shapes, and validation is most of a record's CPU. */
const baseR4 = new StructureCache();

/** The result of one gate on one Bundle. */
export interface GateResult {
  key: string;
  passed: boolean;
  profile: string;
  expression: string;
  human: string;
  recordFields: string[];
  /** FHIRPath locations in the Bundle where the gate failed (`Bundle`, `Bundle.entry[2].resource`); empty when it passed. */
  failedAt: string[];
}

/** Inputs that gates read besides the Bundle: the references that are peer roles (spec §3.5). */
export interface GateEnvironment {
  peerRoles: readonly string[];
}

function passes(gate: Pick<Gate, 'evaluate'>, resource: Resource, root: Resource, env: GateEnvironment): boolean {
  const result = gate.evaluate(resource, { resource, rootResource: root, peerRoles: [...env.peerRoles] });
  // An invariant holds only when it evaluates to exactly true; empty or false is a failure.
  return result.length === 1 && result[0] === true;
}

/**
 * Evaluates every gate of every profile named in the Bundle's and its resources' `meta.profile`.
 * A gate on a resource profile fails when it fails on any resource claiming that profile.
 */
export function evaluateGates(bundle: Bundle, profiles: ReadonlyMap<string, Profile>, env: GateEnvironment): GateResult[] {
  const results = new Map<string, GateResult>();
  const subjects: { resource: Resource; at: string }[] = [
    { resource: bundle, at: 'Bundle' },
    ...(bundle.entry ?? []).flatMap((e, i) => (e.resource ? [{ resource: e.resource, at: `Bundle.entry[${i}].resource` }] : [])),
  ];
  // A gate with field checks names only the fields that failed; collected over every resource it judged.
  const failedFields = new Map<string, Set<string>>();
  for (const { resource, at } of subjects) {
    for (const url of resource.meta?.profile ?? []) {
      for (const gate of profiles.get(url)?.gates ?? []) {
        const ok = passes(gate, resource, bundle, env);
        if (!ok && gate.fieldChecks.length) {
          const fields = failedFields.get(gate.key) ?? new Set<string>();
          for (const check of gate.fieldChecks) if (!passes(check, resource, bundle, env)) fields.add(check.field);
          failedFields.set(gate.key, fields);
        }
        const prior = results.get(gate.key);
        // Where a gate sits on several profiles, the diagnostics show the first one it failed on.
        const shown = prior && (ok || !prior.passed) ? prior : gate;
        results.set(gate.key, {
          key: gate.key,
          profile: shown.profile,
          expression: shown.expression,
          human: gate.human,
          recordFields: [...new Set([...(prior?.recordFields ?? []), ...gate.recordFields])],
          passed: (prior?.passed ?? true) && ok,
          failedAt: [...(prior?.failedAt ?? []), ...(ok ? [] : [at])],
        });
      }
    }
  }
  return [...results.values()].map((r) => {
    const fields = failedFields.get(r.key);
    return fields?.size ? { ...r, recordFields: [...fields] } : r;
  });
}

/** Where a gate stands: its profile, where it failed in the Bundle (if it did), and its FHIRPath. */
function gateDiagnostics(result: GateResult): string {
  const where = result.failedAt.length ? ` failed at ${result.failedAt.join(', ')}` : ' passed';
  return `gate ${result.key} (profile ${result.profile})${where}: ${result.expression}`;
}

/**
 * One OperationOutcome issue for a failed gate: its key in details.coding, the record fields it is about
 * in expression, the text a worker can act on, and profile + Bundle location + FHIRPath in diagnostics.
 */
export function gateIssue(result: GateResult): OperationOutcomeIssue {
  const base = issue('gate-failed', 'business-rule', result.human, result.recordFields);
  return {
    ...base,
    details: { coding: [...(base.details?.coding ?? []), { system: systems.gate, code: result.key }], text: result.human },
    diagnostics: gateDiagnostics(result),
  };
}

/** The same for a gate that passed (severity information), so that a dry run lists every gate result. */
export function gatePassedIssue(result: GateResult): OperationOutcomeIssue {
  const text = `Gate ${result.key} passed.`;
  const base = issue('gate-passed', 'informational', text, result.recordFields, 'information');
  return {
    ...base,
    details: { coding: [...(base.details?.coding ?? []), { system: systems.gate, code: result.key }], text },
    diagnostics: gateDiagnostics(result),
  };
}

/**
 * Medplum warns on a typed Reference (CarePlan.goal → Goal) that is a urn:uuid, as it cannot see the
 * target's type; inside a transaction the target is another entry, which the server resolves.
 */
function isBundleInternalReference(issue: OperationOutcomeIssue): boolean {
  return issue.severity === 'warning' && /^Invalid reference: got "urn:uuid:/.test(issue.details?.text ?? '');
}

/** Base-R4 issues of one resource: Medplum's validator throws on errors; they are returned here like its warnings. */
function baseR4Issues(resource: Resource): OperationOutcomeIssue[] {
  try {
    return baseR4.validate(resource);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return err.outcome.issue ?? [];
    throw err;
  }
}

/**
 * Structural checks before anything is written: base R4 (Medplum's validator) and the cardinalities of
 * each resource's profile. A failure here is a mapping or configuration bug, never the worker's input.
 */
export function structuralIssues(bundle: Bundle, profiles: ReadonlyMap<string, Profile>): OperationOutcomeIssue[] {
  const found: OperationOutcomeIssue[] = [];
  (bundle.entry ?? []).forEach((entry, i) => {
    const resource = entry.resource;
    if (!resource) return;
    const where = `Bundle.entry[${i}].resource(${resource.resourceType})`;
    for (const base of baseR4Issues(resource).filter((b) => !isBundleInternalReference(b))) {
      found.push({ ...base, expression: [`${where}.${(base.expression?.[0] ?? '').replace(/^[A-Za-z]+\./, '')}`] });
    }
    for (const url of resource.meta?.profile ?? []) {
      for (const card of profiles.get(url)?.cardinalities ?? []) {
        const counts = card.counts(resource, { resource, rootResource: bundle }) as number[];
        const bad =
          counts.length === 0
            ? card.min > 0 && card.path.split('.').length === 2
            : counts.some((n) => n < card.min || (card.max !== '*' && n > card.max));
        if (bad) {
          found.push(
            issue('internal', 'structure', `${card.path} must occur ${card.min}..${card.max} times (profile ${url}).`, [
              `${where}.${card.path.split('.').slice(1).join('.')}`,
            ]),
          );
        }
      }
    }
  });
  return found;
}
