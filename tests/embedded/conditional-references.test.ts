import type { Bundle, Encounter, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

/**
 * A conditional reference (`Patient?identifier=…`) is FHIR R4's way for a transaction to name a resource by
 * what identifies it (http.html#trules): the server resolves it to its one match before the transaction runs,
 * and fails the transaction when none or several match. The embedded server stored it as written: an EHR's
 * crisis Encounter whose subject was `Patient?identifier=…` belonged to nobody, and governance never linked
 * the crisis re-contact to the person (outside tester).
 */
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  for (const [id, mrn] of [
    ['cr-p1', 'p1'],
    ['cr-p2', 'twin'],
    ['cr-p3', 'twin'],
  ]) {
    const res = await h.request('PUT', `Patient/${id}`, {
      resourceType: 'Patient',
      id,
      identifier: [{ system: 'urn:example:mrn', value: mrn }],
    } satisfies Patient);
    expect(res.status).toBeLessThan(300);
  }
});
afterAll(async () => {
  await h?.stop();
});

function encounter(subject: string, code = 'crisis'): Encounter {
  return {
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
    type: [{ coding: [{ system: 'urn:example:conditional-refs', code }] }],
    subject: { reference: subject },
    period: { start: '2026-11-25T10:00:00Z', end: '2026-11-25T12:00:00Z' },
  };
}

function transaction(...resources: Encounter[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: resources.map((resource) => ({ resource, request: { method: 'POST', url: 'Encounter' } })),
  };
}

async function encountersOf(code: string): Promise<Encounter[]> {
  const res = await h.request('GET', `Encounter?type=urn:example:conditional-refs|${code}`);
  return ((await res.json()) as Bundle<Encounter>).entry?.map((e) => e.resource as Encounter) ?? [];
}

describe('conditional references', () => {
  it('in a transaction are resolved to their one match before it runs', async () => {
    const res = await h.request(
      'POST',
      '',
      transaction(encounter('Patient?identifier=urn:example:mrn|p1', 'one'), encounter('Patient?identifier=urn:example:mrn|p1', 'one')),
    );
    expect(res.status, await res.clone().text()).toBe(200);
    const stored = await encountersOf('one');
    expect(stored.map((e) => e.subject?.reference)).toEqual(['Patient/cr-p1', 'Patient/cr-p1']);
    const bySubject = await h.request('GET', 'Encounter?subject=Patient/cr-p1&type=urn:example:conditional-refs|one');
    expect(((await bySubject.json()) as Bundle).total).toBe(2);
  });

  it('that match nothing (400) or several (412) fail the whole transaction: nothing is written', async () => {
    const none = await h.request(
      'POST',
      '',
      transaction(encounter('Patient/cr-p1', 'none'), encounter('Patient?identifier=urn:example:mrn|nobody', 'none')),
    );
    expect(none.status).toBe(400);
    expect(JSON.stringify(await none.json())).toContain('matches no resource');
    const several = await h.request(
      'POST',
      '',
      transaction(encounter('Patient/cr-p1', 'twin'), encounter('Patient?identifier=urn:example:mrn|twin', 'twin')),
    );
    expect(several.status).toBe(412);
    expect(((await several.json()) as OperationOutcome).issue?.[0]?.code).toBe('multiple-matches');
    expect(await encountersOf('none')).toEqual([]);
    expect(await encountersOf('twin')).toEqual([]);
  });

  it('outside a transaction are refused, naming where they may be used: a create, an update, a batch entry', async () => {
    const create = await h.request('POST', 'Encounter', encounter('Patient?identifier=urn:example:mrn|p1', 'single'));
    expect(create.status).toBe(400);
    expect(JSON.stringify(await create.json())).toContain('only inside a transaction');
    const batch = await h.request('POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: encounter('Patient/cr-p1', 'single'), request: { method: 'POST', url: 'Encounter' } },
        { resource: encounter('Patient?identifier=urn:example:mrn|p1', 'single'), request: { method: 'POST', url: 'Encounter' } },
      ],
    } satisfies Bundle);
    expect(batch.status).toBe(200);
    const answer = (await batch.json()) as Bundle;
    expect(answer.entry?.map((e) => e.response?.status)).toEqual(['201', '400']);
    expect((await encountersOf('single')).map((e) => e.subject?.reference)).toEqual(['Patient/cr-p1']);
  });

  it('in any other form or place are refused: a PATCH writing one, other spellings, result parameters, no criteria, too many', async () => {
    const made = await h.request('POST', 'Encounter', encounter('Patient/cr-p1', 'forms'));
    const id = ((await made.json()) as Encounter).id as string;
    // A JSON Patch writing the string alone (outside tester: stored as written).
    const patch = await h.request(
      'PATCH',
      `Encounter/${id}`,
      [{ op: 'replace', path: '/subject/reference', value: 'Patient?identifier=urn:example:mrn|p1' }],
      { 'content-type': 'application/json-patch+json' },
    );
    expect(patch.status).toBe(400);
    // Not R4's form, in a plain create and in a transaction alike; and inside a document Bundle.
    for (const subject of [
      'patient?identifier=urn:example:mrn|p1',
      '?identifier=urn:example:mrn|p1',
      'Patient/?identifier=urn:example:mrn|p1',
      `${h.base}Patient?identifier=urn:example:mrn|p1`,
      'Patient/cr-p1?x=1',
    ]) {
      expect((await h.request('POST', 'Encounter', encounter(subject, 'forms'))).status, subject).toBe(400);
      expect((await h.request('POST', '', transaction(encounter(subject, 'forms')))).status, subject).toBe(400);
    }
    const document: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: encounter('Patient?identifier=urn:example:mrn|p1', 'forms') }],
    };
    expect((await h.request('POST', 'Bundle', document)).status).toBe(400);
    const inTransaction = await h.request('POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ resource: document, request: { method: 'POST', url: 'Bundle' } }],
    });
    expect(inTransaction.status).toBe(400);
    // Criteria as a conditional write's: no result parameters, at least one filter.
    for (const criteria of [
      'Patient?identifier=urn:example:mrn|p1&_offset=1',
      'Patient?identifier=urn:example:mrn|p1&_include=Patient:organization',
      'Patient?',
      'Patient?&',
    ]) {
      const res = await h.request('POST', '', transaction(encounter(criteria, 'forms')));
      expect(res.status, criteria).toBe(400);
    }
    // At most 100 distinct in one transaction: each is a search under the write lock.
    const many = encounter('Patient/cr-p1', 'forms');
    many.participant = Array.from({ length: 101 }, (_, i) => ({
      individual: { reference: `Practitioner?identifier=urn:example:many|${i}` },
    }));
    const tooMany = await h.request('POST', '', transaction(many));
    expect(tooMany.status).toBe(400);
    expect(JSON.stringify(await tooMany.json())).toContain('at most 100');
    expect((await encountersOf('forms')).map((e) => e.subject?.reference)).toEqual(['Patient/cr-p1']);
  });
});
