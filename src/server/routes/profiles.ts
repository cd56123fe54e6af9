import { basename } from 'node:path';
import { Router } from 'express';
import type { Profile } from '../../gates/load-profiles.js';

/** One profile as GET /profiles lists it: what it constrains and its gates, in the words a worker reads. */
export interface ProfileSummary {
  url: string;
  type: string;
  file: string;
  gates: { key: string; human: string; expression: string; recordFields: string[] }[];
}

/** The loaded profiles with their gate keys and human text (profiles/ hold no PHI). */
export function profileSummaries(profiles: ReadonlyMap<string, Profile>): ProfileSummary[] {
  return [...profiles.values()].map((p) => ({
    url: p.url,
    type: p.type,
    file: `profiles/${basename(p.file)}`,
    gates: p.gates.map((g) => ({ key: g.key, human: g.human, expression: g.expression, recordFields: g.recordFields })),
  }));
}

/** GET /profiles: every profile the adapter validates against, with its gates (public). */
export function profilesRouter(profiles: ReadonlyMap<string, Profile>): Router {
  const router = Router();
  router.get('/profiles', (_req, res) => {
    res.json({ profiles: profileSummaries(profiles) });
  });
  return router;
}
