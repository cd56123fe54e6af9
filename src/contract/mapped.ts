import type { Resource } from '@medplum/fhirtypes';

/** One mapped resource, with the slot that makes its identifier (`<recordId>/<slot>`, spec §5). */
export interface MappedResource {
  slot: string;
  resource: Resource;
}

/** A record reference resolved on the FHIR server: its literal `Type/id` and the resource found. */
export interface ResolvedReference {
  literal: string;
  resource: Resource;
}
