import { Router } from 'express';
import { AdapterError, issue, outcome } from '../../outcomes/index.js';
import { pathwayCodes, type PathwayCode } from '../../records/index.js';
import { recordJsonSchema } from '../../records/json-schema.js';

/** GET /schemas/<pathway>.json: the JSON Schema of a pathway record, for sending systems to validate against (public: no PHI). */
export function schemasRouter(): Router {
  const router = Router();
  // Generated once: the schemas are fixed for the life of the process.
  const schemas = new Map(pathwayCodes.map((p) => [p, JSON.stringify(recordJsonSchema(p))]));
  router.get('/schemas', (_req, res) => {
    res.json({ schemas: pathwayCodes.map((p) => ({ pathway: p, href: `/schemas/${p}.json` })) });
  });
  router.get('/schemas/:name', (req, res) => {
    const pathway = req.params.name.replace(/\.json$/, '') as PathwayCode;
    const schema = schemas.get(pathway);
    if (!schema) {
      throw new AdapterError(
        404,
        outcome([
          issue(
            'not-found',
            'not-found',
            `No schema "${req.params.name.slice(0, 64)}": one of ${pathwayCodes.map((p) => `${p}.json`).join(', ')}.`,
          ),
        ]),
      );
    }
    res.type('application/schema+json').send(schema);
  });
  return router;
}
