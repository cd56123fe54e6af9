/** Code systems and URLs of governance evidence: the standard ones, and the project's own beside them. */
const base = 'http://peer-pathways.example.org/fhir';

export const governanceSystems = {
  measurePopulation: 'http://terminology.hl7.org/CodeSystem/measure-population',
  measureScoring: 'http://terminology.hl7.org/CodeSystem/measure-scoring',
  improvementNotation: 'http://terminology.hl7.org/CodeSystem/measure-improvement-notation',
  measureGroup: `${base}/CodeSystem/measure-group`,
  stratifier: `${base}/CodeSystem/measure-stratifier`,
  stratum: `${base}/CodeSystem/measure-stratum`,
} as const;

/** R4 MeasureReport.group has no scoring (R5 puts it on Measure.group): this extension says it per group. */
export const groupScoringExtension = `${base}/StructureDefinition/measure-group-scoring`;

/** The canonical URL of one of our Measures. */
export function measureUrl(id: string): string {
  return `${base}/Measure/${id}`;
}
