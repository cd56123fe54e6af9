import type { Bundle, Measure, MeasureReport } from '@medplum/fhirtypes';
import type { Period } from './period.js';
import { populationColumns, reportRows, type ReportRow } from './rows.js';

/** A chart the page script draws: bars only, so that with and without peer support stand side by side. */
interface ChartSpec {
  id: string;
  unit: '%' | 'count' | 'mean';
  labels: string[];
  datasets: { label: string; data: (number | null)[] }[];
}

const strataLabels: Record<string, string> = { 'with-peer-support': 'With peer support', 'without-peer-support': 'Without peer support' };

function esc(text: string | number | undefined): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function scoreText(row: ReportRow): string {
  if (row.score === undefined) return '—';
  return row.scoring === 'continuous-variable' ? row.score.toFixed(2) : `${(row.score * 100).toFixed(1)}%`;
}

/** Proportion and mean groups: one bar per group, overall beside each peer-support stratum. */
function scoreChart(measure: string, rows: ReportRow[]): ChartSpec | undefined {
  const groups = rows.filter((r) => !r.stratifier && r.scoring !== 'cohort');
  if (!groups.length) return undefined;
  const mean = groups.every((g) => g.scoring === 'continuous-variable');
  const value = (r: ReportRow | undefined) => (r?.score === undefined ? null : mean ? r.score : Math.round(r.score * 1000) / 10);
  const strata = [...new Set(rows.filter((r) => r.stratifier === 'peer-support').map((r) => r.stratum))];
  return {
    id: `chart-${measure}`,
    unit: mean ? 'mean' : '%',
    labels: groups.map((g) => g.group),
    datasets: [
      { label: 'All', data: groups.map(value) },
      ...strata.map((s) => ({
        label: strataLabels[s] ?? s,
        data: groups.map((g) => value(rows.find((r) => r.group === g.group && r.stratum === s))),
      })),
    ],
  };
}

/** Cohort groups: counts, by stratum where the group has strata. */
function countChart(measure: string, rows: ReportRow[]): ChartSpec | undefined {
  const cohort = rows.filter((r) => r.scoring === 'cohort');
  if (!cohort.length) return undefined;
  const bars = cohort.filter((r) => r.stratifier || !cohort.some((s) => s.group === r.group && s.stratifier));
  return {
    id: `counts-${measure}`,
    unit: 'count',
    labels: bars.map((r) => (r.stratifier ? `${r.group}: ${r.stratum}` : r.group)),
    datasets: [{ label: 'Count', data: bars.map((r) => r.counts['initial-population'] ?? 0) }],
  };
}

function table(rows: ReportRow[]): string {
  const cols = populationColumns.filter((c) => rows.some((r) => r.counts[c] !== undefined));
  const head = `<tr><th>group</th><th>stratum</th>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}<th>score</th></tr>`;
  const body = rows
    .map(
      (r) =>
        `<tr data-measure="${esc(r.measure)}" data-group="${esc(r.group)}" data-stratifier="${esc(r.stratifier)}" data-stratum="${esc(r.stratum)}">` +
        `<td>${esc(r.group)}</td><td>${esc(r.stratum ? `${r.stratifier}: ${strataLabels[r.stratum] ?? r.stratum}` : 'all')}</td>` +
        cols.map((c) => `<td data-population="${esc(c)}">${esc(r.counts[c] ?? '')}</td>`).join('') +
        `<td data-score="${r.score ?? ''}">${esc(scoreText(r))}</td></tr>`,
    )
    .join('\n');
  return `<table>${head}\n${body}</table>`;
}

function section(measure: Measure | undefined, id: string, rows: ReportRow[], charts: ChartSpec[], extraClass = ''): string {
  const canvases = charts
    .map((c) => `<div class="chart"><canvas id="${esc(c.id)}" role="img" aria-label="${esc(`${id} (${c.unit})`)}"></canvas></div>`)
    .join('');
  return `<section class="measure ${extraClass}" id="measure-${esc(id)}" data-measure="${esc(id)}">
<h2>${esc(measure?.title ?? id)}</h2>
<p class="definition">${esc(measure?.description ?? '')}</p>
<div class="charts">${canvases}</div>
${table(rows)}
</section>`;
}

function roleIntegrityPanel(measure: Measure | undefined, rows: ReportRow[], charts: ChartSpec[]): string {
  const count = (group: string) => rows.find((r) => r.group === group && !r.stratifier)?.counts['initial-population'] ?? 0;
  const tile = (group: string, label: string, alarm: boolean) =>
    `<div class="tile${alarm && count(group) > 0 ? ' alarm' : ''}" data-tile="${esc(group)}"><span class="n">${count(group)}</span><span>${esc(label)}</span></div>`;
  return section(measure, 'role-integrity', rows, charts, 'role-integrity').replace(
    '<div class="charts">',
    `<div class="tiles">${tile(
      'clinical-tasks-owned-by-peer-role',
      'clinical Tasks owned by a peer role (target 0)',
      true,
    )}${tile('blocked-records', 'records blocked by a gate', false)}${tile(
      'records-without-escalation-route',
      'records without an escalation route',
      true,
    )}</div>\n<div class="charts">`,
  );
}

const style = `body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:1200px;color:#1d2733}
h1{margin-bottom:.2rem}form{margin:1rem 0;display:flex;gap:.8rem;align-items:end}label{display:flex;flex-direction:column;font-size:.85rem}
section{border-top:1px solid #ccd;padding:.8rem 0}.definition{color:#445;font-size:.9rem;max-width:80ch}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{width:520px;height:240px}
table{border-collapse:collapse;font-size:.85rem;margin-top:.6rem}td,th{border:1px solid #dde;padding:.2rem .5rem;text-align:right}td:first-child,td:nth-child(2),th{text-align:left}
.tiles{display:flex;gap:1rem;margin:.5rem 0}.tile{border:1px solid #ccd;border-radius:6px;padding:.6rem 1rem;display:flex;flex-direction:column;min-width:12rem}
.tile .n{font-size:2rem;font-weight:600}.tile.alarm{border-color:#b00020;background:#fdecee}.role-integrity{background:#f7f8fb;padding:.8rem}`;

/** The governance page: a period picker, one section per measure (chart + numbers), the role-integrity panel. */
export function renderGovernancePage(bundle: Bundle<MeasureReport>, measures: Measure[], period: Period): string {
  const rows = reportRows(bundle);
  const ids = (bundle.entry ?? []).map((e) => e.resource?.id as string);
  const charts: ChartSpec[] = [];
  const sections = ids.map((id) => {
    const mine = rows.filter((r) => r.measure === id);
    const own = [scoreChart(id, mine), countChart(id, mine)].filter((c): c is ChartSpec => c !== undefined);
    charts.push(...own);
    const def = measures.find((m) => m.id === id);
    return id === 'role-integrity' ? roleIntegrityPanel(def, mine, own) : section(def, id, mine, own);
  });
  // The role-integrity panel comes first: it is what a service lead checks before reading outcomes.
  const ordered = [
    ...sections.filter((s) => s.includes('class="measure role-integrity"')),
    ...sections.filter((s) => !s.includes('class="measure role-integrity"')),
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Peer support governance evidence</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${style}</style></head>
<body>
<h1>Peer support governance evidence</h1>
<p>Period <strong data-period-start="${esc(period.start)}">${esc(period.start)}</strong> to <strong data-period-end="${esc(period.end)}">${esc(period.end)}</strong>, whole days in ${esc(period.timeZone)}. Every number is a population of a FHIR MeasureReport (GET /governance/measures); its cases trace back to source recordIds.</p>
<form method="get" action="/governance"><label>Start<input type="date" name="start" value="${esc(period.start)}" required></label>
<label>End<input type="date" name="end" value="${esc(period.end)}" required></label><button type="submit">Show</button></form>
${ordered.join('\n')}
<script type="application/json" id="governance-charts">${JSON.stringify(charts).replace(/</g, '\\u003c')}</script>
<script src="/governance/assets/chart.umd.min.js"></script>
<script src="/governance/assets/governance-page.js"></script>
</body></html>`;
}
