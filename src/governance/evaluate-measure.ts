import express, { type RequestHandler, Router } from 'express';
import type { Measure, MeasureReport, Parameters } from '@medplum/fhirtypes';
import type { GovernanceConfig } from '../config/governance-schema.js';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import type { Adapter } from '../pipeline/process-record.js';
import { computeMeasureReports } from './compute.js';
import { parsePeriod } from './period.js';

/**
 * FHIR R4 `$evaluate-measure` (http://hl7.org/fhir/R4/measure-operation-evaluate-measure.html) on the
 * governance Measures, mounted beside the embedded FHIR server at /fhir/R4 (ahead of its router, so that
 * the store itself knows nothing of governance):
 * - `GET|POST Measure/{id}/$evaluate-measure?periodStart=YYYY-MM-DD&periodEnd=YYYY-MM-DD`
 * - `GET|POST Measure/$evaluate-measure?measure=<id or canonical url>&periodStart=…&periodEnd=…`
 * Parameters come from the query, a form body, or a `Parameters` body (POST). `reportType` may only be
 * `summary` (the default here): the answer is the same summary MeasureReport (DEQM shape) that
 * `GET /governance/measures` gives for that measure and period. Errors are 400/404 OperationOutcomes
 * naming the parameter.
 */
export function evaluateMeasureRouter(
  adapter: Adapter,
  governance: GovernanceConfig,
  measures: Measure[],
  guard: RequestHandler[],
): Router {
  const router = Router();
  const body = [
    express.json({ type: ['application/json', 'application/fhir+json'], limit: '64kb' }),
    express.urlencoded({ extended: false, limit: '64kb' }),
  ];
  const answer: RequestHandler = async (req, res) => {
    const params = operationParameters(req.query, req.method === 'POST' ? req.body : undefined);
    const id = typeof req.params.id === 'string' ? req.params.id : undefined;
    const measure = findMeasure(measures, id ?? params.measure, id ? 'id' : 'measure');
    if (params.reportType !== undefined && params.reportType !== 'summary') {
      throw new AdapterError(
        400,
        outcome([
          issue(
            'schema-invalid',
            'not-supported',
            'Only reportType "summary" is supported: individual and subject-list reports are not produced.',
            ['reportType'],
          ),
        ]),
      );
    }
    const timeZone = adapter.mappings.site.timeZone;
    const period = parsePeriodParameters(params.periodStart, params.periodEnd, timeZone);
    const bundle = await computeMeasureReports({ fhir: adapter.fhir, mappings: adapter.mappings, governance }, period);
    const report = bundle.entry?.map((e) => e.resource).find((r): r is MeasureReport => r?.measure === measure.url);
    if (!report)
      throw new AdapterError(404, outcome([issue('not-found', 'not-found', `Measure ${measure.id} is not computed by this adapter.`)]));
    res.status(200).type('application/fhir+json').json(report);
  };
  for (const path of ['/Measure/:id/\\$evaluate-measure', '/Measure/\\$evaluate-measure']) {
    router.get(path, ...guard, answer);
    router.post(path, ...guard, ...body, answer);
  }
  return router;
}

type OperationParams = Partial<Record<'periodStart' | 'periodEnd' | 'measure' | 'reportType', string>>;

/** The operation's parameters from the query string and, on POST, a form or `Parameters` body (the body wins). */
function operationParameters(query: unknown, body: unknown): OperationParams {
  const out: OperationParams = {};
  const names = ['periodStart', 'periodEnd', 'measure', 'reportType'] as const;
  const take = (source: Record<string, unknown>) => {
    for (const name of names) {
      const v = source[name];
      if (typeof v === 'string') out[name] = v;
      else if (v !== undefined)
        throw new AdapterError(400, outcome([issue('schema-invalid', 'invalid', `"${name}" must be given once, as a string.`, [name])]));
    }
  };
  if (query && typeof query === 'object') take(query as Record<string, unknown>);
  if (body && typeof body === 'object' && (body as Parameters).resourceType === 'Parameters') {
    for (const p of (body as Parameters).parameter ?? []) {
      if ((names as readonly string[]).includes(p.name ?? '')) {
        out[p.name as (typeof names)[number]] =
          p.valueDate ?? p.valueDateTime ?? p.valueString ?? p.valueCode ?? p.valueCanonical ?? p.valueUri;
      }
    }
  } else if (body && typeof body === 'object') {
    take(body as Record<string, unknown>);
  }
  return out;
}

/** A Measure by its id or canonical url (`url|version` accepted); 400 without one, 404 for an unknown one. */
function findMeasure(measures: Measure[], wanted: string | undefined, parameter: 'id' | 'measure'): Measure {
  if (!wanted)
    throw new AdapterError(
      400,
      outcome([
        issue('required', 'required', 'Name the Measure: "measure" (its id or canonical url) or Measure/{id}/$evaluate-measure.', [
          'measure',
        ]),
      ]),
    );
  const url = wanted.split('|')[0];
  const found = measures.find((m) => m.id === wanted || m.url === url);
  if (!found)
    throw new AdapterError(
      404,
      outcome([issue('not-found', 'not-found', `No Measure "${wanted}"; GET /fhir/R4/Measure lists them.`, [parameter])]),
    );
  return found;
}

/**
 * periodStart/periodEnd as R4 `date`s: a whole day (YYYY-MM-DD), month (YYYY-MM) or year (YYYY), the
 * start taken from its first day and the end to its last; both are then checked as GET /governance/measures
 * checks start and end.
 */
function parsePeriodParameters(start: string | undefined, end: string | undefined, timeZone: string) {
  const first = (v: string | undefined) => (v && /^\d{4}$/.test(v) ? `${v}-01-01` : v && /^\d{4}-\d{2}$/.test(v) ? `${v}-01` : v);
  const last = (v: string | undefined) => {
    if (v && /^\d{4}$/.test(v)) return `${v}-12-31`;
    if (v && /^\d{4}-\d{2}$/.test(v)) {
      const [y, m] = v.split('-').map(Number) as [number, number];
      return new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
    }
    return v;
  };
  return parsePeriod(first(start), last(end), timeZone, { start: 'periodStart', end: 'periodEnd' });
}
