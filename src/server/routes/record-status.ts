import { Router, type Request, type Response } from 'express';
import { recordStatus } from '../../followup/record-status.js';
import { AdapterError, issue, outcome } from '../../outcomes/index.js';
import type { Adapter } from '../../pipeline/process-record.js';
import { envelopeShape } from '../../records/envelope.js';
import { assertSourceAllowed } from '../auth/authorize.js';
import { callerOf } from '../auth/caller.js';

/**
 * The source system a status request is about: `?source=` when given (the caller must be registered
 * for it), else the caller's only registered source. A caller registered for several sources (or the
 * static API_TOKEN, which may use any) must say which.
 */
function scopedSource(req: Request, res: Response): string {
  const asked = req.query.source;
  if (asked !== undefined && (typeof asked !== 'string' || !asked.trim())) {
    throw new AdapterError(
      400,
      outcome([issue('schema-invalid', 'invalid', 'Give one source system: ?source=<source.system>.', ['source'])]),
    );
  }
  if (typeof asked === 'string') {
    assertSourceAllowed(res, asked);
    return asked;
  }
  const own = callerOf(res)?.sourceSystems;
  if (own !== undefined && own !== 'any' && own.size === 1) return [...own][0] as string;
  throw new AdapterError(
    400,
    outcome([
      issue('required', 'required', 'Say whose record this is: add ?source=<source.system> (the source.system the record was sent with).', [
        'source',
      ]),
    ]),
  );
}

/** GET /pathway-records/{recordId}: the record's status view for the system that sent it. */
export function recordStatusRouter(adapter: Adapter): Router {
  const router = Router();
  router.get('/pathway-records/:recordId', async (req, res) => {
    const recordId = envelopeShape.recordId.safeParse(req.params.recordId);
    if (!recordId.success) {
      throw new AdapterError(
        400,
        outcome([issue('schema-invalid', 'invalid', 'A recordId has 1 to 64 letters, digits and - . _ : only.', ['recordId'])]),
      );
    }
    const source = scopedSource(req, res);
    const status = await recordStatus(adapter.fhir, source, recordId.data);
    if (!status) {
      throw new AdapterError(
        404,
        outcome([issue('not-found', 'not-found', `No record ${recordId.data} from source ${source} is known here.`)]),
      );
    }
    // A status changes as clinicians work: never served from a cache.
    res.set('Cache-Control', 'no-store').json(status);
  });
  return router;
}
