import type { Bundle, MeasureReport, MeasureReportGroupPopulation } from '@medplum/fhirtypes';
import type { PopulationCode } from './result.js';
import { groupScoringExtension } from './vocabulary.js';

/** The population columns of a row, in the order a reader meets them. */
export const populationColumns: readonly PopulationCode[] = [
  'initial-population',
  'denominator',
  'denominator-exclusion',
  'numerator',
  'measure-population',
  'measure-observation',
];

/** One line of a report: a group, or one stratum of it, with its counts and score. */
export interface ReportRow {
  measure: string;
  group: string;
  scoring: string;
  stratifier: string;
  stratum: string;
  counts: Partial<Record<PopulationCode, number>>;
  score?: number;
}

function counts(pops: MeasureReportGroupPopulation[] | undefined): ReportRow['counts'] {
  return Object.fromEntries((pops ?? []).map((p) => [p.code?.coding?.[0]?.code, p.count ?? 0]));
}

/** Flattens a Bundle of MeasureReports into rows: what the CLI's CSV, the page and the tests read. */
export function reportRows(bundle: Bundle<MeasureReport>): ReportRow[] {
  return (bundle.entry ?? []).flatMap((e) => {
    const r = e.resource as MeasureReport;
    return (r.group ?? []).flatMap((g) => {
      const base = {
        measure: r.id as string,
        group: g.code?.coding?.[0]?.code ?? '',
        scoring: g.extension?.find((x) => x.url === groupScoringExtension)?.valueCodeableConcept?.coding?.[0]?.code ?? '',
      };
      return [
        {
          ...base,
          stratifier: '',
          stratum: '',
          counts: counts(g.population),
          ...(g.measureScore?.value !== undefined ? { score: g.measureScore.value } : {}),
        },
        ...(g.stratifier ?? []).flatMap((s) =>
          (s.stratum ?? []).map((st) => ({
            ...base,
            stratifier: s.code?.[0]?.coding?.[0]?.code ?? '',
            stratum: st.value?.coding?.[0]?.code ?? st.value?.text ?? '',
            counts: counts(st.population),
            ...(st.measureScore?.value !== undefined ? { score: st.measureScore.value } : {}),
          })),
        ),
      ];
    });
  });
}

function csvCell(value: string | number | undefined): string {
  const text = value === undefined ? '' : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The rows as CSV (RFC 4180), one header line then one line per row. */
export function rowsToCsv(rows: ReportRow[]): string {
  const header = ['measure', 'group', 'scoring', 'stratifier', 'stratum', ...populationColumns, 'score'];
  const lines = rows.map((r) =>
    [r.measure, r.group, r.scoring, r.stratifier, r.stratum, ...populationColumns.map((c) => r.counts[c]), r.score].map(csvCell).join(','),
  );
  return `${[header.join(','), ...lines].join('\n')}\n`;
}
