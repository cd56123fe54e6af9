import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../harness.js';
import { renderWorklist, worklistMarkers } from './render.js';

// The README shows each example's Tasks as a worklist lists them; this test keeps that section the
// service's real output. `UPDATE_README=1 npx vitest run tests/worklist` rewrites the section.

const readmePath = join(import.meta.dirname, '..', '..', 'README.md');
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.close();
});

describe('README: the examples as a worklist', () => {
  it('is what a fresh service raises for each example (each posts 201), item by item', async () => {
    const rendered = await renderWorklist(svc);
    const readme = readFileSync(readmePath, 'utf8');
    const start = readme.indexOf(worklistMarkers.start);
    const end = readme.indexOf(worklistMarkers.end);
    expect(start).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    const current = readme.slice(start + worklistMarkers.start.length, end).trim();
    if (process.env.UPDATE_README && current !== rendered) {
      writeFileSync(readmePath, `${readme.slice(0, start + worklistMarkers.start.length)}\n${rendered}\n${readme.slice(end)}`);
      return;
    }
    expect(current).toBe(rendered);
  });
});
