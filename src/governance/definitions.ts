import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Bundle, Measure } from '@medplum/fhirtypes';
import { measureIds } from './compute.js';
import { measureUrl } from './vocabulary.js';

/** Where the Measure resources live: one JSON file per measure, defining it in words. */
export const measuresDir = resolve(import.meta.dirname, '../../profiles/measures');

/** Raised at start-up when a measure has no definition, or a definition does not match its measure. */
export class MeasureDefinitionError extends Error {}

/** Reads profiles/measures/<id>.json for every measure computed; a missing or mismatched file stops start-up. */
export function loadMeasureDefinitions(dir: string = measuresDir): Measure[] {
  return measureIds.map((id) => {
    const file = join(dir, `${id}.json`);
    let measure: Measure;
    try {
      measure = JSON.parse(readFileSync(file, 'utf8')) as Measure;
    } catch (err) {
      throw new MeasureDefinitionError(`${file}: cannot be read as JSON (${(err as Error).message})`);
    }
    if (measure.resourceType !== 'Measure' || measure.id !== id || measure.url !== measureUrl(id)) {
      throw new MeasureDefinitionError(`${file}: must be a Measure with id "${id}" and url ${measureUrl(id)}`);
    }
    return measure;
  });
}

/** The Measures as a searchset Bundle (GET /governance/Measure). */
export function measureBundle(measures: Measure[]): Bundle<Measure> {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: measures.length,
    entry: measures.map((resource) => ({ resource, search: { mode: 'match' } })),
  };
}
