import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle } from '@medplum/fhirtypes';
import { evaluateGates, gateIssue } from '../../src/gates/evaluate.js';
import { loadProfiles } from '../../src/gates/load-profiles.js';
import { profileUrl, systems } from '../../src/contract/vocabulary.js';
import { fixture, startTestService, type TestService } from '../harness.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.close();
});

const param = (body: any, name: string) => body.parameter.find((p: any) => p.name === name);
// A resource's slot: from its identifier, or (audit resources) from its first meta.tag: `<recordId>/<slot>`.
const slotOf = (r: any) => (r.identifier?.[0]?.value ?? r.meta?.tag?.[0]?.code ?? '').replace(/^[^/]*\//, '');

/**
 * Checks that each entry of a previewed Bundle is, field for field, the resource the write stored:
 * urn:uuid references of the preview are replaced by the ids the server gave their targets.
 */
async function expectPreviewWasWritten(bundle: any, written: any, ignore: (r: any) => any = (r) => r) {
  const refBySlot = new Map<string, string>(written.resources.map((r: any) => [r.slot, r.reference]));
  const refByFullUrl = new Map<string, string>(bundle.entry.map((e: any) => [e.fullUrl, refBySlot.get(slotOf(e.resource))]));
  expect(bundle.entry.map((e: any) => slotOf(e.resource)).sort()).toEqual(
    written.resources
      .filter((r: any) => r.action === 'created' || r.action === 'updated')
      .map((r: any) => r.slot)
      .sort(),
  );
  for (const entry of bundle.entry) {
    const reference = refBySlot.get(slotOf(entry.resource));
    expect(reference, entry.fullUrl).toBeDefined();
    const { id: _id, meta, ...stored } = await (await svc.fhirRaw(reference as string)).json();
    const { meta: previewMeta, id: _previewId, ...preview } = entry.resource;
    const resolved = JSON.parse(JSON.stringify(preview).replaceAll(/urn:uuid:[0-9a-f-]+/g, (u) => refByFullUrl.get(u) ?? u));
    expect(ignore(stored), entry.fullUrl).toEqual(ignore(resolved));
    expect(meta.profile).toEqual(previewMeta.profile);
    expect(meta.tag ?? []).toEqual(previewMeta.tag ?? []);
  }
}

describe('$validate previews exactly what POST /pathway-records writes', () => {
  for (const pathway of ['early-engagement', 'step-down', 'crisis-transition', 'concern-routing']) {
    it(`${pathway}: the previewed Bundle is what the write stores, entry by entry`, async () => {
      const record = fixture(pathway, `preview-${pathway}`);
      const preview = await svc.post(record, '/pathway-records/$validate');
      expect(param(preview.body, 'result').valueCode).toBe('accepted');
      const written = await svc.post(record);
      expect(written.status).toBe(201);
      await expectPreviewWasWritten(param(preview.body, 'bundle').resource, written.body);
    });
  }

  it('a resend previews the updates (PUT with If-Match) the write then makes', async () => {
    const record = fixture('step-down', 'preview-resend');
    expect((await svc.post(record)).status).toBe(201);
    record.monitoring.missedTherapySessions = 2;
    const preview = await svc.post(record, '/pathway-records/$validate');
    const bundle = param(preview.body, 'bundle').resource;
    expect(bundle.entry.length).toBeGreaterThan(0);
    const written = await svc.post(record);
    expect(written.status).toBe(200);
    expect(bundle.entry.map((e: any) => e.request.method)).toContain('PUT');
    await expectPreviewWasWritten(bundle, written.body);
  });

  it('a blocked record with a safety disclosure previews the safety review and audit the write raises', async () => {
    const record = fixture('early-engagement', 'preview-blocked');
    delete record.escalationRoute;
    record.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-12T10:00:00Z' };
    const preview = await svc.post(record, '/pathway-records/$validate');
    expect(param(preview.body, 'result').valueCode).toBe('blocked');
    const codes = param(preview.body, 'outcome').resource.issue.map((i: any) => i.details.coding[0].code);
    expect(codes).toContain('safety-review-raised');
    const written = await svc.post(record);
    expect(written.status).toBe(422);
    const stored = await svc.fhir(`Task?identifier=${encodeURIComponent('urn:example:peer-platform|preview-blocked/task/safety-review')}`);
    expect(stored).toHaveLength(1);
    const previewTask = param(preview.body, 'bundle').resource.entry.find((e: any) => e.resource.resourceType === 'Task').resource;
    const { id: _id, meta: _meta, ...storedTask } = stored[0] as any;
    const { meta: _previewMeta, ...expectedTask } = previewTask;
    expect(storedTask).toEqual(expectedTask);
    // The audit of a block records when it happened: the only field that may differ from the preview.
    const bundle = param(preview.body, 'bundle').resource;
    expect(bundle.entry.map((e: any) => e.resource.resourceType).sort()).toEqual(['AuditEvent', 'Task']);
  });
});

describe('every issue of a dry run says where', () => {
  it('a failed gate carries its key, the record fields, the profile, the Bundle location and the FHIRPath', async () => {
    const record = fixture('early-engagement', 'where-1');
    delete record.nextAppointment.owner;
    const res = await svc.post(record, '/pathway-records/$validate');
    const issues = param(res.body, 'outcome').resource.issue;
    const failed = issues.find((i: any) => i.severity === 'error');
    expect(failed.details.coding.map((c: any) => c.code)).toEqual(['gate-failed', 'ee-appointment-owner']);
    expect(failed.expression).toEqual(['nextAppointment.owner']);
    expect(failed.diagnostics).toMatch(
      /^gate ee-appointment-owner \(profile http:\/\/peer-pathways\.example\.org\/fhir\/StructureDefinition\/early-engagement-bundle\) failed at Bundle: entry\.resource/,
    );
  });

  it('a passed gate is listed too, with its key and record fields', async () => {
    const res = await svc.post(fixture('step-down', 'where-2'), '/pathway-records/$validate');
    const passed = param(res.body, 'outcome').resource.issue.filter((i: any) => i.details.coding[0].code === 'gate-passed');
    expect(passed.map((i: any) => i.details.coding[1].code).sort()).toEqual([
      'peer-not-clinical-owner',
      'peer-not-clinician',
      'sd-escalation-instructions',
      'sd-goals-documented',
      'sd-person-agreement',
      'sd-receiving-confirmed',
      'sd-time-limited',
    ]);
    for (const i of passed) {
      expect(i.severity).toBe('information');
      expect(i.expression.length).toBeGreaterThan(0);
      expect(i.diagnostics).toContain('(profile http://peer-pathways.example.org/fhir/StructureDefinition/');
    }
  });

  it('a gate of a resource profile names the entry it failed on', () => {
    const profiles = loadProfiles();
    const task = {
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      meta: { profile: [profileUrl('peer-pathway-task')] },
      code: { coding: [{ system: systems.pathway, code: 'clinical-review' }] },
      owner: { reference: 'PractitionerRole/example-peer' },
    };
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: { resourceType: 'Basic', code: {} } as never }, { resource: task as never }],
    };
    const [result] = evaluateGates(bundle, profiles, { peerRoles: ['PractitionerRole/example-peer'] });
    expect(result?.failedAt).toEqual(['Bundle.entry[1].resource']);
    expect(gateIssue(result!).diagnostics).toMatch(
      /^gate peer-not-clinical-owner \(profile .*peer-pathway-task\) failed at Bundle\.entry\[1\]\.resource: code\.coding/,
    );
  });
});
