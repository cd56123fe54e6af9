import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument, packageVersion } from '../../src/server/routes/openapi.js';
import { startTestService, testToken, type TestService } from '../harness.js';
import { root } from './process.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
});
afterAll(async () => {
  await svc?.close();
});

const document = openApiDocument(packageVersion) as { paths: Record<string, Record<string, unknown>> };
const methods = ['get', 'post', 'put', 'patch', 'delete'];

describe('the OpenAPI document', () => {
  it("passes Redocly's recommended rules (@redocly/cli lint, offline)", async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ppf-openapi-')), 'openapi.json');
    writeFileSync(file, JSON.stringify(document));
    const run = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(
        'node',
        [join(root, 'node_modules/@redocly/cli/bin/cli.js'), 'lint', '--extends=recommended', '--format=stylish', file],
        {
          cwd: root,
          timeout: 60_000,
          env: {
            PATH: `${root}/node_modules/.bin:${process.env.PATH}`,
            HOME: tmpdir(),
            REDOCLY_TELEMETRY: 'off',
            REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
          },
        },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });
    expect(run.out).toContain('Your API description is valid');
    expect(run.out).not.toMatch(/warning|error/i);
    expect(run.code).toBe(0);
  });

  it('covers every endpoint the service serves', () => {
    expect(Object.keys(document.paths).sort()).toEqual([
      '/fhir/R4',
      '/fhir/R4/.well-known/smart-configuration',
      '/fhir/R4/Measure/$evaluate-measure',
      '/fhir/R4/Measure/{id}/$evaluate-measure',
      '/fhir/R4/Patient/{id}/{compartmentType}',
      '/fhir/R4/metadata',
      '/fhir/R4/{resourceType}',
      '/fhir/R4/{resourceType}/{id}',
      '/governance',
      '/governance/Measure',
      '/governance/Measure/{id}',
      '/governance/assets/{name}',
      '/governance/measures',
      '/health',
      '/oauth2/token',
      '/openapi.json',
      '/pathway-records',
      '/pathway-records/$validate',
      '/pathway-records/{recordId}',
      '/profiles',
      '/ready',
      '/schemas',
      '/schemas/{pathway}.json',
    ]);
  });

  it('describes nothing the service does not serve: every documented operation reaches a handler', async () => {
    const values: Record<string, string> = {
      resourceType: 'Patient',
      id: 'example',
      recordId: 'unknown-record',
      pathway: 'crisis-transition',
      name: 'governance-page.js',
      compartmentType: 'Task',
    };
    for (const [template, operations] of Object.entries(document.paths)) {
      const path = template.replace(/\{(\w+)\}/g, (_m, name: string) => values[name] ?? 'x');
      for (const method of methods.filter((m) => m in operations)) {
        const res = await fetch(`${svc.url}${path}?source=urn:example:peer-platform`, {
          method: method.toUpperCase(),
          headers: {
            Authorization: `Bearer ${testToken}`,
            'Content-Type': method === 'patch' ? 'application/json-patch+json' : 'application/json',
          },
          body: method === 'get' || method === 'delete' ? undefined : method === 'patch' ? '[]' : '{}',
        });
        const body = await res.text();
        // The adapter's catch-all answers "No endpoint …": a documented path must never reach it.
        expect(body, `${method.toUpperCase()} ${path}`).not.toContain('No endpoint');
      }
    }
  });
});
