import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AuditEvent, Bundle, OperationOutcome, Provenance } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, testToken, type TestService } from '../harness.js';
import { createTestIdp, type TestIdp } from './idp.js';

let svc: TestService;
let idp: TestIdp;
const logs: string[] = [];

/** Registrations of this file: what each client's registration allows on the embedded FHIR server. */
const clients = [
  { clientId: 'task-reader', sourceSystems: [], scopes: ['system/Task.rs'] },
  { clientId: 'v1-reader', sourceSystems: [], scopes: ['system/Task.read'] },
  { clientId: 'ehr', sourceSystems: [], scopes: ['system/*.cruds'] },
  { clientId: 'adapter-only', sourceSystems: [], scopes: ['governance.read'] },
];

beforeAll(async () => {
  idp = await createTestIdp();
  const file = join(mkdtempSync(join(tmpdir(), 'ppf-fhir-authz-')), 'clients.json');
  writeFileSync(file, JSON.stringify({ clients }));
  const capture = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  svc = await startTestService(
    { ...idp.env, AUTH_CLIENTS_FILE: file, API_TOKEN: testToken, LOG_LEVEL: 'info', ESCALATION_INTERVAL_MS: '0' },
    { logDestination: capture },
  );
});
afterAll(async () => {
  await svc?.close();
});

async function as(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${svc.url}/fhir/R4/${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const auditEvent: AuditEvent = {
  resourceType: 'AuditEvent',
  type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106' },
  recorded: '2026-11-20T10:00:00Z',
  agent: [{ requestor: true, who: { display: 'someone' } }],
  source: { observer: { display: 'test' } },
};

function text(oo: OperationOutcome): string {
  return oo.issue?.map((i) => i.details?.text).join(' ') ?? '';
}

describe('the audit trail on the embedded FHIR server is append-only, for every caller', () => {
  let event: AuditEvent;
  let provenance: Provenance;
  beforeAll(async () => {
    const created = await as(testToken, 'POST', 'AuditEvent', auditEvent);
    expect(created.status).toBe(201);
    event = created.body;
    const prov = await as(testToken, 'POST', 'Provenance', {
      resourceType: 'Provenance',
      target: [{ reference: `AuditEvent/${event.id}` }],
      recorded: '2026-11-20T10:00:00Z',
      agent: [{ who: { display: 'x' } }],
    });
    expect(prov.status).toBe(201);
    provenance = prov.body;
  });

  it('refuses delete, update and patch of an AuditEvent or Provenance with 403, even with the static API_TOKEN', async () => {
    const ehr = await idp.mint('ehr', 'system/*.cruds');
    const attempts = [
      await as(testToken, 'DELETE', `AuditEvent/${event.id}`),
      await as(testToken, 'PUT', `AuditEvent/${event.id}`, { ...event, outcome: '0' }),
      await as(testToken, 'PATCH', `Provenance/${provenance.id}`, [{ op: 'replace', path: '/recorded', value: '2020-01-01T00:00:00Z' }]),
      await as(testToken, 'DELETE', 'AuditEvent?type=110106'),
      await as(ehr, 'DELETE', `Provenance/${provenance.id}`),
      await as(ehr, 'PUT', `Provenance/${provenance.id}`, { ...provenance, recorded: '2020-01-01T00:00:00Z' }),
    ];
    for (const a of attempts) {
      expect(a.status).toBe(403);
      expect(a.body.resourceType).toBe('OperationOutcome');
      expect(text(a.body)).toContain('append-only');
    }
    expect((await as(testToken, 'GET', `AuditEvent/${event.id}`)).body.meta.versionId).toBe(event.meta?.versionId);
    expect((await as(testToken, 'GET', `Provenance/${provenance.id}`)).body.recorded).toBe('2026-11-20T10:00:00Z');
  });

  it('refuses a transaction or batch with any such entry, naming it, and writes none of it', async () => {
    for (const type of ['transaction', 'batch'] as const) {
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type,
        entry: [
          {
            fullUrl: 'urn:uuid:0b8e6d4c-1a44-4b7e-9a8e-51d1c0b1e001',
            resource: { resourceType: 'Basic', code: { text: `authz-${type}` } },
            request: { method: 'POST', url: 'Basic' },
          },
          { request: { method: 'DELETE', url: `${svc.url}/fhir/R4/AuditEvent/${event.id}` } },
        ],
      };
      const res = await as(testToken, 'POST', '', bundle);
      expect(res.status).toBe(403);
      expect(res.body.issue[0].expression).toEqual(['Bundle.entry[1]']);
      expect((await as(testToken, 'GET', `Basic?code:text=authz-${type}`)).body.entry ?? []).toHaveLength(0);
    }
    expect((await as(testToken, 'GET', `AuditEvent/${event.id}`)).status).toBe(200);
  });

  it('still takes new audit records (append)', async () => {
    expect((await as(testToken, 'POST', 'AuditEvent', auditEvent)).status).toBe(201);
  });
});

describe("a caller's token gets the SMART system scopes it carries and its registration lists, and only those", () => {
  it('system/Task.rs reads and searches Tasks, and nothing else', async () => {
    const token = await idp.mint('task-reader', 'system/Task.rs');
    const created = await as(testToken, 'POST', 'Task', { resourceType: 'Task', status: 'requested', intent: 'order' });
    expect((await as(token, 'GET', `Task/${created.body.id}`)).status).toBe(200);
    expect((await as(token, 'GET', 'Task?status=requested')).status).toBe(200);
    const write = await as(token, 'POST', 'Task', { resourceType: 'Task', status: 'requested', intent: 'order' });
    expect(write.status).toBe(403);
    expect(text(write.body)).toContain('system/Task.c');
    expect((await as(token, 'PUT', `Task/${created.body.id}`, { ...created.body, status: 'accepted' })).status).toBe(403);
    expect((await as(token, 'GET', 'Patient')).status).toBe(403);
    expect((await as(token, 'GET', '')).status).toBe(403);
    // An operation may read across types: it needs system/*.rs, not only its own type's scope.
    const operation = await as(token, 'GET', `Task/${created.body.id}/$everything`);
    expect(operation.status).toBe(403);
    expect(text(operation.body)).toContain('system/*.r');
  });

  it('reads no other type through a compartment, _include, _revinclude, a chain or _has (scopes of every type the search reads)', async () => {
    const token = await idp.mint('task-reader', 'system/Task.rs');
    const patient = await as(testToken, 'POST', 'Patient', { resourceType: 'Patient' });
    const pid = patient.body.id as string;
    await as(testToken, 'POST', 'Communication', {
      resourceType: 'Communication',
      status: 'completed',
      subject: { reference: `Patient/${pid}` },
      payload: [{ contentString: 'canary-compartment' }],
    });
    await as(testToken, 'POST', 'Task', {
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      for: { reference: `Patient/${pid}` },
    });
    // Allowed: its own type, inside the compartment too.
    expect((await as(token, 'GET', `Patient/${pid}/Task`)).status).toBe(200);
    expect((await as(token, 'GET', `Task?patient=Patient/${pid}`)).status).toBe(200);
    for (const path of [
      `Patient/${pid}/Communication`,
      `Patient/${pid}/AuditEvent`,
      `Task?patient=Patient/${pid}&_include=Task:patient`,
      `Task?_include=Task:owner:PractitionerRole`,
      `Task?_revinclude=Provenance:target`,
      `Task?_include:iterate=Task:focus`,
      `Task?patient.name=x`,
      `Task?subject:Patient.name=x`,
      `Task?_has:Communication:subject:status=completed`,
    ]) {
      const res = await as(token, 'GET', path);
      expect(res.status, path).toBe(403);
      expect(JSON.stringify(res.body), path).not.toContain('canary-compartment');
    }
  });

  it('checks every entry of a batch: a read of Tasks passes, a create in the same batch does not', async () => {
    const token = await idp.mint('task-reader', 'system/Task.rs');
    const reads: Bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Task?status=requested' } }] };
    expect((await as(token, 'POST', '', reads)).status).toBe(200);
    const mixed: Bundle = {
      ...reads,
      entry: [
        ...reads.entry!,
        { resource: { resourceType: 'Task', status: 'requested', intent: 'order' }, request: { method: 'POST', url: 'Task' } },
      ],
    };
    const res = await as(token, 'POST', '', mixed);
    expect(res.status).toBe(403);
    expect(res.body.issue[0].expression).toEqual(['Bundle.entry[1]']);
  });

  it('takes SMART v1 scopes (system/Task.read = rs)', async () => {
    const token = await idp.mint('v1-reader', 'system/Task.read');
    expect((await as(token, 'GET', 'Task')).status).toBe(200);
    expect((await as(token, 'DELETE', 'Task/none')).status).toBe(403);
  });

  it('gets no more than its registration lists, whatever the token claims', async () => {
    const greedy = await idp.mint('task-reader', 'system/*.cruds');
    expect((await as(greedy, 'GET', 'Task')).status).toBe(200);
    expect((await as(greedy, 'GET', 'Patient')).status).toBe(403);
    const noFhirScopes = await idp.mint('adapter-only', 'governance.read system/*.cruds');
    expect((await as(noFhirScopes, 'GET', 'Task')).status).toBe(403);
  });

  it('refuses an unregistered client or a token from another issuer with 401', async () => {
    expect((await as(await idp.mint('nobody', 'system/*.cruds'), 'GET', 'Task')).status).toBe(401);
    expect((await as(await idp.mint('ehr', 'system/*.cruds', { foreignKey: true }), 'GET', 'Task')).status).toBe(401);
  });

  it('publishes its token endpoint in .well-known/smart-configuration, without a token', async () => {
    const res = await fetch(`${svc.url}/fhir/R4/.well-known/smart-configuration`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token_endpoint: string; grant_types_supported: string[] };
    expect(body.token_endpoint).toBe(`${svc.url}/oauth2/token`);
    expect(body.grant_types_supported).toEqual(['client_credentials']);
  });
});

describe('FHIR request log', () => {
  it('logs every FHIR request with the client that made it, never a query value or a body', async () => {
    const token = await idp.mint('task-reader', 'system/Task.rs');
    logs.length = 0;
    await as(token, 'GET', 'Task?identifier=urn:example:secret|canary-4711');
    await as(testToken, 'POST', 'AuditEvent', { ...auditEvent, outcomeDesc: 'canary-4712' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const lines = logs.map((l) => JSON.parse(l) as { msg: string; route?: string; clientId?: string; status?: number });
    const fhir = lines.filter((l) => l.msg === 'request' && l.route?.startsWith('/fhir/R4'));
    expect(fhir.map((l) => [l.route, l.clientId, l.status])).toEqual([
      ['/fhir/R4/Task', 'task-reader', 200],
      ['/fhir/R4/AuditEvent', 'api-token', 201],
    ]);
    expect(logs.join('')).not.toMatch(/canary-471/);
  });
});
