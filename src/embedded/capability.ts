import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { getResourceTypes, globalSchema } from '@medplum/core';
import type {
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceSearchParam,
  SearchParameter,
} from '@medplum/fhirtypes';

/**
 * The search parameter types the embedded store can answer: it filters candidates with Medplum's matcher
 * (`matchesSearchRequest`), which evaluates reference, string, uri, token and date parameters and refuses
 * every other type (number, quantity, composite, special) by matching nothing. Only these are declared.
 */
export const matchableSearchParamTypes: readonly string[] = ['reference', 'string', 'uri', 'token', 'date'];

/**
 * Parameters of every resource (R4 §3.1.1.4.2 "Parameters for all resources") that the store answers.
 * Medplum also indexes `_compartment` and `_project`, its own bookkeeping: not R4, not declared.
 */
const commonParams: Record<string, string> = {
  _id: 'http://hl7.org/fhir/SearchParameter/Resource-id',
  _lastUpdated: 'http://hl7.org/fhir/SearchParameter/Resource-lastUpdated',
  _profile: 'http://hl7.org/fhir/SearchParameter/Resource-profile',
  _security: 'http://hl7.org/fhir/SearchParameter/Resource-security',
  _source: 'http://hl7.org/fhir/SearchParameter/Resource-source',
  _tag: 'http://hl7.org/fhir/SearchParameter/Resource-tag',
};

/**
 * Interactions of Medplum's FhirRouter (@medplum/fhir-router 5.2.13 `FhirRouter` routes) on every type:
 * no `history-type` (the router has no such route).
 */
const typeInteractions = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'] as const;

/** SMART App Launch 1.0 "oauth-uris" extension: where a client gets a token (client_credentials here). */
export const oauthUrisExtension = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

/** The patient compartment definition this server answers `Patient/{id}/{type}` for (see compartment.ts). */
export const patientCompartment = 'http://hl7.org/fhir/CompartmentDefinition/patient';

/** What the CapabilityStatement is built from besides the FHIR definitions. */
export interface CapabilityInput {
  /** The project's profiles (StructureDefinition url and constrained type): `supportedProfile`. */
  profiles: readonly { url: string; type: string }[];
}

const packageJson = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as {
  name: string;
  version: string;
};

/** The search parameters of one type that the store really evaluates, sorted by name. */
export function declaredSearchParams(type: string): CapabilityStatementRestResourceSearchParam[] {
  const params = (globalSchema.types[type]?.searchParams ?? {}) as Record<string, SearchParameter>;
  return Object.entries(params)
    .filter(
      ([code, sp]) =>
        sp.expression && matchableSearchParamTypes.includes(sp.type as string) && (!code.startsWith('_') || code in commonParams),
    )
    .map(([code, sp]) => ({ name: code, definition: sp.url ?? commonParams[code], type: sp.type }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** `Type:param` for each reference parameter of a type (what `_include` accepts). */
function includesOf(type: string, declared: CapabilityStatementRestResourceSearchParam[]): string[] {
  return declared.filter((p) => p.type === 'reference' && !p.name.startsWith('_')).map((p) => `${type}:${p.name}`);
}

/**
 * Types Medplum's definitions add that are not R4 4.0.1 resources (SubscriptionStatus is R4B, 4.3.0):
 * an R4 client would reject them in `rest.resource.type` (required binding to resource-types).
 */
const notR4Types = new Set(['SubscriptionStatus']);

/** Builds the per-type part once: it depends only on the FHIR definitions and the project's profiles. */
function restResources(input: CapabilityInput): CapabilityStatementRestResource[] {
  const types = getResourceTypes()
    .filter((t) => globalSchema.types[t]?.searchParams && !notR4Types.has(t))
    .sort();
  const declared = new Map(types.map((t) => [t, declaredSearchParams(t)]));
  // Reverse includes: every reference parameter of any type that may point at this type.
  const revIncludes = new Map<string, string[]>(types.map((t) => [t, []]));
  for (const source of types) {
    const params = (globalSchema.types[source]?.searchParams ?? {}) as Record<string, SearchParameter>;
    for (const p of declared.get(source) ?? []) {
      if (p.type !== 'reference' || p.name.startsWith('_')) continue;
      for (const target of params[p.name]?.target ?? []) revIncludes.get(target)?.push(`${source}:${p.name}`);
    }
  }
  return types.map((type): CapabilityStatementRestResource => {
    const profiles = input.profiles
      .filter((p) => p.type === type)
      .map((p) => p.url)
      .sort();
    const searchParam = declared.get(type) ?? [];
    const include = includesOf(type, searchParam);
    const revInclude = [...new Set(revIncludes.get(type))].sort();
    return {
      type,
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      ...(profiles.length ? { supportedProfile: profiles } : {}),
      interaction: typeInteractions.map((code) => ({ code })),
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'not-supported',
      conditionalUpdate: true,
      conditionalDelete: 'multiple',
      ...(include.length ? { searchInclude: include } : {}),
      ...(revInclude.length ? { searchRevInclude: revInclude } : {}),
      searchParam,
    };
  });
}

/**
 * The embedded server's CapabilityStatement (R4 `kind: instance`, so `implementation` is given: cpb-14),
 * generated from the FHIR definitions Medplum's router and the store really use. URLs that depend on where
 * the server is reached (implementation.url, the token endpoint) are filled in per request by `forBase`.
 */
export class CapabilityStatementBuilder {
  /** Built on first use (~35 ms): a process that is never asked for metadata does not pay for it. */
  private resources: CapabilityStatementRestResource[] | undefined;
  private readonly cache = new Map<string, string>();
  private readonly operations: { type: string; name: string; definition: string }[] = [];

  private readonly date = new Date().toISOString().slice(0, 10);

  constructor(private readonly input: CapabilityInput) {}

  /**
   * Declares an operation that another layer answers beside this server (e.g. Measure/$evaluate-measure,
   * mounted by the server layer ahead of the FHIR router): `name` without `$`, `definition` its
   * OperationDefinition's canonical URL.
   */
  declareOperation(type: string, name: string, definition: string): void {
    this.operations.push({ type, name, definition });
    this.cache.clear();
  }

  /** The statement for a FHIR base (`http://host/fhir/R4`) and service root (`http://host`). */
  build(fhirBase: string, serviceRoot: string): CapabilityStatement {
    this.resources ??= restResources(this.input);
    const resources = this.resources.map((r) => {
      const ops = this.operations.filter((o) => o.type === r.type).map((o) => ({ name: o.name, definition: o.definition }));
      return ops.length ? { ...r, operation: ops } : r;
    });
    return {
      resourceType: 'CapabilityStatement',
      name: 'PeerPathwaysEmbeddedFhirServer',
      title: `${packageJson.name} embedded FHIR R4 server`,
      status: 'active',
      date: this.date,
      publisher: packageJson.name,
      kind: 'instance',
      software: { name: packageJson.name, version: packageJson.version },
      implementation: { description: `${packageJson.name} embedded FHIR R4 server (Medplum FHIR router)`, url: fhirBase },
      fhirVersion: '4.0.1',
      format: ['json'],
      rest: [
        {
          mode: 'server',
          security: {
            extension: [{ url: oauthUrisExtension, extension: [{ url: 'token', valueUri: `${serviceRoot}/oauth2/token` }] }],
            service: [
              {
                coding: [
                  { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' },
                  { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'OAuth' },
                ],
              },
            ],
            description:
              'Bearer token: the static API token, or an OAuth 2.0 client_credentials token from the token endpoint (SMART backend services). GET metadata is public.',
          },
          resource: resources,
          interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }],
          compartment: [patientCompartment],
        },
      ],
    };
  }

  /** The statement serialized, cached per base (it is large: every R4 type with its search parameters). */
  json(fhirBase: string, serviceRoot: string): string {
    const key = `${fhirBase} ${serviceRoot}`;
    let text = this.cache.get(key);
    if (!text) {
      text = JSON.stringify(this.build(fhirBase, serviceRoot));
      if (this.cache.size > 16) this.cache.clear();
      this.cache.set(key, text);
    }
    return text;
  }
}
