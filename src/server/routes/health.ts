import { Router } from 'express';
import type { Adapter } from '../../pipeline/process-record.js';

/** GET /health (the process is alive) and GET /ready (the FHIR server answers). */
export function healthRouter(adapter: Adapter): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/ready', async (_req, res) => {
    await adapter.fhir.metadata();
    res.json({ status: 'ready' });
  });
  return router;
}
