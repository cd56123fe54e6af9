import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ MAX_BODY_BYTES: '20000' });
});
afterAll(async () => {
  await svc.close();
});

async function raw(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  const res = await fetch(`${svc.url}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${testToken}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) },
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

function codes(outcome: any): string[] {
  return outcome.issue.map((i: any) => i.details.coding[0].code);
}

describe('records in: what a sender gets for bad input', () => {
  it('answers 400 invalid-json for a body that is not JSON', async () => {
    const res = await raw('/pathway-records', { method: 'POST', body: '{"recordId": ' });
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(codes(res.body)).toEqual(['invalid-json']);
  });

  it('answers 415 for a body that is not JSON by content type', async () => {
    const res = await raw('/pathway-records', { method: 'POST', body: 'recordId=1', headers: { 'Content-Type': 'text/plain' } });
    expect(res.status).toBe(415);
    expect(codes(res.body)).toEqual(['unsupported-media-type']);
  });

  it('answers 413 for a record larger than the limit', async () => {
    const record = fixture('crisis-transition', 'big');
    record.peerNotes = 'x'.repeat(30_000);
    const res = await raw('/pathway-records', { method: 'POST', body: JSON.stringify(record) });
    expect(res.status).toBe(413);
    expect(codes(res.body)).toEqual(['payload-too-large']);
  });

  it('answers 401 without a bearer token and with a wrong one', async () => {
    const none = await fetch(`${svc.url}/pathway-records`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await raw('/pathway-records', { method: 'POST', body: '{}', headers: { Authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.resourceType).toBe('OperationOutcome');
  });

  it('answers 400 with one issue per field, each with its path', async () => {
    const record = fixture('crisis-transition', 'schema-1');
    delete record.recordedAt;
    record.firstAppointment.status = 'maybe';
    record.peerContact.completed = 'yes';
    const res = await raw('/pathway-records', { method: 'POST', body: JSON.stringify(record) });
    expect(res.status).toBe(400);
    const byPath = Object.fromEntries(res.body.issue.map((i: any) => [i.expression[0], i.details.coding[0].code]));
    expect(byPath).toEqual({
      recordedAt: 'required',
      'firstAppointment.status': 'schema-invalid',
      'peerContact.completed': 'schema-invalid',
    });
  });

  it('refuses unknown fields by name: a misspelled safety is never ignored', async () => {
    const record = fixture('crisis-transition', 'schema-2');
    record.saftey = record.safety;
    delete record.safety;
    const res = await raw('/pathway-records', { method: 'POST', body: JSON.stringify(record) });
    expect(res.status).toBe(400);
    const issues = res.body.issue.map((i: any) => [i.expression[0], i.details.coding[0].code]);
    expect(issues).toContainEqual(['saftey', 'unknown-field']);
    expect(issues).toContainEqual(['safety', 'required']);
  });

  it('names a field that belongs to another pathway', async () => {
    const record = fixture('crisis-transition', 'schema-3');
    record.warningSigns = ['Sleeping badly'];
    const res = await raw('/pathway-records', { method: 'POST', body: JSON.stringify(record) });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].expression).toEqual(['warningSigns']);
    expect(res.body.issue[0].details.coding[0].code).toBe('wrong-pathway-field');
    expect(res.body.issue[0].details.text).toContain('step-down');
  });

  it('answers 400 naming pathway when it is missing or unknown', async () => {
    const res = await raw('/pathway-records', { method: 'POST', body: JSON.stringify({ recordId: 'x', pathway: 'nope' }) });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].expression).toEqual(['pathway']);
  });

  it('never echoes the record or a stack trace in an error', async () => {
    const record = fixture('crisis-transition', 'schema-4');
    record.peerNotes = 'ECHO-CANARY';
    record.firstAppointment.status = 'ECHO-CANARY-STATUS';
    const res = await raw('/pathway-records', { method: 'POST', body: JSON.stringify(record) });
    const text = JSON.stringify(res.body);
    expect(text).not.toContain('ECHO-CANARY');
    expect(text).not.toMatch(/at .*\.ts:\d+/);
  });
});

describe('dry run', () => {
  it('$validate returns the Bundle that would be written and every gate result, and writes nothing', async () => {
    const res = await raw('/pathway-records/$validate', { method: 'POST', body: JSON.stringify(fixture('crisis-transition', 'dry-1')) });
    expect(res.status).toBe(200);
    expect(res.body.resourceType).toBe('Parameters');
    const param = (name: string) => res.body.parameter.find((p: any) => p.name === name);
    expect(param('result').valueCode).toBe('accepted');
    const bundle = param('bundle').resource;
    expect(bundle.type).toBe('transaction');
    expect(bundle.entry.map((e: any) => e.resource.resourceType)).toContain('CarePlan');
    const gates = param('outcome').resource.issue.map((i: any) => i.details.coding[0].code);
    // The four crisis-transition gates, peer-not-clinical-owner and peer-not-clinician.
    expect(gates).toHaveLength(6);
    expect(await svc.fhir(`CarePlan?identifier=${encodeURIComponent('urn:example:peer-platform|dry-1/careplan')}`)).toHaveLength(0);
  });

  it('$validate reports schema issues with 200 and result rejected', async () => {
    const res = await raw('/pathway-records/$validate', { method: 'POST', body: JSON.stringify({ pathway: 'crisis-transition' }) });
    expect(res.status).toBe(200);
    expect(res.body.parameter[0].valueCode).toBe('rejected');
  });

  it('what $validate previews is exactly what is written', async () => {
    const record = fixture('crisis-transition', 'dry-2');
    const preview = await raw('/pathway-records/$validate', { method: 'POST', body: JSON.stringify(record) });
    const bundle = preview.body.parameter.find((p: any) => p.name === 'bundle').resource;
    const written = await svc.post(record);
    expect(written.status).toBe(201);
    for (const entry of bundle.entry) {
      const slot = written.body.resources.find(
        (r: any) =>
          r.reference.startsWith(`${entry.resource.resourceType}/`) &&
          (entry.resource.identifier?.[0]?.value ?? entry.resource.meta?.tag?.[0]?.code)?.endsWith(r.slot),
      );
      expect(slot, entry.fullUrl).toBeDefined();
      const stored = await (await svc.fhirRaw(slot.reference)).json();
      const { id: _id, meta, ...rest } = stored;
      const { meta: previewMeta, ...expected } = entry.resource;
      expect(rest).toEqual(
        JSON.parse(
          JSON.stringify(expected).replaceAll(/urn:uuid:[0-9a-f-]+/g, (u) => {
            const target = bundle.entry.find((e: any) => e.fullUrl === u).resource;
            const hit = written.body.resources.find(
              (r: any) =>
                r.reference.startsWith(`${target.resourceType}/`) &&
                (target.identifier?.[0]?.value ?? target.meta?.tag?.[0]?.code)?.endsWith(r.slot),
            );
            return hit.reference;
          }),
        ),
      );
      expect(meta.profile).toEqual(previewMeta.profile);
    }
  });
});

describe('health', () => {
  it('GET /health and GET /ready answer without a token', async () => {
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
    const ready = await fetch(`${svc.url}/ready`);
    expect(ready.status).toBe(200);
  });

  it('unknown paths are a 404 OperationOutcome', async () => {
    const res = await raw('/nope');
    expect(res.status).toBe(404);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });

  it('every answer carries a correlation id, and errors quote it', async () => {
    const res = await raw('/pathway-records', { method: 'POST', body: 'nope' });
    expect(res.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.id).toBe(res.headers.get('x-correlation-id'));
  });
});
