import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Router } from 'express';
import type { Measure } from '@medplum/fhirtypes';
import type { GovernanceConfig } from '../config/governance-schema.js';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import type { Adapter } from '../pipeline/process-record.js';
import { computeMeasureReports } from './compute.js';
import { measureBundle } from './definitions.js';
import { renderGovernancePage } from './page.js';
import { daysBetween, parsePeriod, today } from './period.js';

/** The page's default period when none is picked: the last 90 days, the longest follow-up window. */
export const defaultPageDays = 90;

// chart.js's UMD file is served from node_modules as published: no build step, no CDN (no internet here).
const assets: Record<string, string> = {
  'chart.umd.min.js': join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js'),
  'governance-page.js': join(import.meta.dirname, 'assets', 'governance-page.js'),
};

function defaultPeriod(timeZone: string): { start: string; end: string } {
  const end = today(timeZone);
  const start = new Date(Date.parse(`${end}T00:00:00Z`) - defaultPageDays * 86_400_000).toISOString().slice(0, 10);
  return daysBetween(start, end) >= 0 ? { start, end } : { start: end, end };
}

/** GET /governance (the page), /governance/measures (the MeasureReports), /governance/Measure (their definitions). */
export function governanceRouter(adapter: Adapter, governance: GovernanceConfig, measures: Measure[]): Router {
  const router = Router();
  const deps = () => ({ fhir: adapter.fhir, mappings: adapter.mappings, governance });
  const tz = () => adapter.mappings.site.timeZone;

  router.get('/governance/measures', async (req, res) => {
    const period = parsePeriod(req.query.start, req.query.end, tz());
    res.type('application/fhir+json').json(await computeMeasureReports(deps(), period));
  });
  router.get('/governance/Measure', (_req, res) => {
    res.type('application/fhir+json').json(measureBundle(measures));
  });
  router.get('/governance/Measure/:id', (req, res) => {
    const measure = measures.find((m) => m.id === req.params.id);
    if (!measure)
      throw new AdapterError(
        404,
        outcome([issue('not-found', 'not-found', `No Measure "${req.params.id}"; GET /governance/Measure lists them.`)]),
      );
    res.type('application/fhir+json').json(measure);
  });
  router.get('/governance', async (req, res) => {
    const picked = req.query.start || req.query.end ? { start: req.query.start, end: req.query.end } : defaultPeriod(tz());
    const period = parsePeriod(picked.start, picked.end, tz());
    const bundle = await computeMeasureReports(deps(), period);
    res.type('text/html').send(renderGovernancePage(bundle, measures, period));
  });
  router.get('/governance/assets/:name', (req, res, next) => {
    const file = assets[req.params.name];
    if (!file) {
      next();
      return;
    }
    res.type('text/javascript').sendFile(file, { maxAge: '1h' });
  });
  return router;
}
