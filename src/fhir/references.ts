/** A literal reference's parts (FHIR R4 references.html §2.3.0.1): `[base/]Type/id[/_history/version]`. */
export interface LiteralReference {
  type: string;
  id: string;
  /** The service base of an absolute reference (`https://ehr.example.org/fhir/`), with its trailing slash. */
  base?: string;
  version?: string;
}

/**
 * FHIR R4's regex for a literal reference (references.html#literal), with any resource type name: a relative
 * `Type/id` or an absolute URL ending in one, either with a version (`/_history/<version>`).
 */
const literal =
  /^(https?:\/\/(?:[A-Za-z0-9\-\\.:%$]*\/)+)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;

/**
 * The parts of a literal reference, or undefined for anything else: a contained reference (`#id`), an
 * identifier-only (logical) reference, a search (`Patient?identifier=…`), a `urn:uuid:`, a malformed one.
 */
export function literalReference(reference: string | undefined): LiteralReference | undefined {
  const m = reference === undefined ? null : literal.exec(reference);
  if (!m) return undefined;
  const [, base, type, id, version] = m as unknown as [string, string | undefined, string, string, string | undefined];
  return { type, id, ...(base ? { base } : {}), ...(version ? { version } : {}) };
}

/**
 * `Type/id` of the resource a literal reference names, whatever its form: relative, versioned or absolute.
 * An absolute reference is taken as naming the resource of that type and id on the server it is read from.
 */
export function localReference(reference: string | undefined): string | undefined {
  const parts = literalReference(reference);
  return parts && `${parts.type}/${parts.id}`;
}
