import type { Coding, Extension, Meta } from '@medplum/fhirtypes';
import { profileUrl, systems } from '../../contract/vocabulary.js';
import type { EnvelopeRecord } from '../../records/envelope.js';
import type { MappingContext } from '../context.js';
import { recordTag } from '../../contract/identity.js';

/** identifier + meta.profile (spec §5) and the record tag, which every resource written for a record carries. */
export function recordIdentity(
  ctx: MappingContext<EnvelopeRecord>,
  slot: string,
  profileId: string,
): { identifier: [ReturnType<MappingContext['identifier']>]; meta: Meta } {
  return {
    identifier: [ctx.identifier(slot)],
    meta: { profile: [profileUrl(profileId)], tag: [recordTag(ctx.record.source.system, ctx.record.recordId)] },
  };
}

/** A coding of the pathway CodeSystem. */
export function pathwayCoding(code: string, display?: string): Coding {
  return { system: systems.pathway, code, ...(display ? { display } : {}) };
}

/** A simple extension, skipped when the value is undefined. */
export function ext(url: string, value: Omit<Extension, 'url'> | undefined): Extension[] {
  return value === undefined ? [] : [{ url, ...value }];
}

/** A record reference as a (sub-)extension `valueReference`, when it resolved; nothing otherwise. */
export function refExt(ctx: MappingContext, url: string, ref: Parameters<MappingContext['ref']>[0]): Extension[] {
  const resolved = ctx.ref(ref);
  return ext(url, resolved && { valueReference: resolved });
}

/**
 * Text as a sentence for a worklist: trimmed, ending in exactly one mark — its own `?` or `!` kept, else
 * one full stop, which also replaces a trailing `,` `;` or `:` (a summary that ends with a full stop never
 * reads "..", "Call them:" never "Call them:.").
 */
export function sentence(text: string): string {
  const t = clause(text);
  return /[?!]$/.test(t) ? t : `${t}.`;
}

/**
 * Text to go inside a sentence (a summary in a list): trimmed, without its closing full stops, commas,
 * semicolons or colons (a closing `?` or `!` is the writer's and stays).
 */
export function clause(text: string): string {
  return text.trim().replace(/[\s.,;:]+$/, '');
}

/** Texts joined as sentences (empty and undefined parts left out). */
export function sentences(...parts: (string | undefined | false)[]): string {
  return parts
    .filter((p): p is string => typeof p === 'string' && p.trim() !== '')
    .map(sentence)
    .join(' ');
}
