import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, startTestService, testToken, type TestService } from '../harness.js';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc.close();
});

function navigatorRecord(pathway: string, id?: string): any {
  const record = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/sources/recovery-navigator', `${pathway}.json`), 'utf8'));
  if (id) record.id = id;
  return record;
}

/** The canonical fixture, as the navigator's system would send it in the contract's own shape. */
function canonical(pathway: string, id?: string): any {
  const record = fixture(pathway, id);
  record.source.system = 'urn:example:recovery-navigator';
  return record;
}

async function post(record: unknown, path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${testToken}`, 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(record),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const param = (body: any, name: string) => body.parameter.find((p: any) => p.name === name);

describe('a second source system, shaped differently, produces the same FHIR as the canonical one', () => {
  for (const pathway of ['early-engagement', 'concern-routing']) {
    it(`${pathway}: the $validate Bundles are identical`, async () => {
      const fromNavigator = await post(navigatorRecord(pathway), '/pathway-records/$validate');
      const fromContract = await post(canonical(pathway), '/pathway-records/$validate', { 'X-Source-Mapping': 'none' });
      expect(param(fromNavigator.body, 'result').valueCode).toBe('accepted');
      expect(param(fromNavigator.body, 'bundle').resource).toEqual(param(fromContract.body, 'bundle').resource);
      expect(param(fromNavigator.body, 'bundle').resource.entry.length).toBeGreaterThan(3);
    });
  }

  it("what the navigator wrote, the same record in the contract's shape finds unchanged", async () => {
    const first = await post(navigatorRecord('early-engagement', 'nav-write-1'), '/pathway-records');
    expect(first.status).toBe(201);
    const again = await post(canonical('early-engagement', 'nav-write-1'), '/pathway-records', { 'X-Source-Mapping': 'none' });
    expect(again.status).toBe(200);
    expect(again.body.outcome).toBe('unchanged');
  });

  it("the local concern codes were translated through the ConceptMap into the contract's categories", async () => {
    const res = await post(navigatorRecord('concern-routing', 'nav-codes'), '/pathway-records');
    expect(res.status).toBe(201);
    const tasks = await svc.fhir(
      `Task?identifier=${encodeURIComponent('urn:example:recovery-navigator|nav-codes/task/care-coordination-review')}`,
    );
    expect((tasks[0] as any).reasonCode.coding.map((c: any) => c.code)).toEqual(['housing']);
  });

  it('a source mapping can be chosen by query parameter for a system it does not list', async () => {
    const record = navigatorRecord('early-engagement', 'nav-query');
    record.source.system = 'urn:example:navigator-pilot';
    const res = await post(record, '/pathway-records/$validate?sourceMapping=recovery-navigator');
    expect(param(res.body, 'result').valueCode).toBe('accepted');
  });
});

describe('what the navigator is told uses its own field names', () => {
  it("a schema error (400) names the navigator's field", async () => {
    const record = navigatorRecord('early-engagement', 'nav-400');
    record.nextAppt.state = 'pencilled-in';
    const res = await post(record, '/pathway-records');
    expect(res.status).toBe(400);
    expect(res.body.issue.map((i: any) => i.expression[0])).toEqual(['nextAppt.state']);
  });

  it('an unmapped code (400) names the field and the ConceptMap', async () => {
    const record = navigatorRecord('concern-routing', 'nav-unmapped');
    record.concerns[1].type = 'PETS';
    const res = await post(record, '/pathway-records');
    expect(res.status).toBe(400);
    expect(res.body.issue).toHaveLength(1);
    expect(res.body.issue[0].details.coding[0].code).toBe('unmapped-code');
    expect(res.body.issue[0].expression).toEqual(['concerns[1].type']);
    expect(res.body.issue[0].details.text).toContain(
      'ConceptMap http://peer-pathways.example.org/fhir/ConceptMap/recovery-navigator-concerns',
    );
    // Nothing was written for it.
    expect(
      await svc.fhir(`CarePlan?identifier=${encodeURIComponent('urn:example:recovery-navigator|nav-unmapped/careplan')}`),
    ).toHaveLength(0);
  });

  it("a failed gate (422) names the navigator's field, on the write and in the dry run", async () => {
    const record = navigatorRecord('early-engagement', 'nav-422');
    delete record.nextAppt.with;
    const res = await post(record, '/pathway-records');
    expect(res.status).toBe(422);
    expect(res.body.issue[0].details.coding[1].code).toBe('ee-appointment-owner');
    expect(res.body.issue[0].expression).toEqual(['nextAppt.with']);
    const dry = await post(record, '/pathway-records/$validate');
    const failed = param(dry.body, 'outcome').resource.issue.filter((i: any) => i.severity === 'error');
    expect(failed.map((i: any) => i.expression)).toEqual([['nextAppt.with']]);
  });

  it('a source mapping that does not exist is refused by name', async () => {
    const res = await post(navigatorRecord('early-engagement'), '/pathway-records', { 'X-Source-Mapping': 'nav' });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].details.coding[0].code).toBe('source-mapping-unknown');
    expect(res.body.issue[0].details.text).toContain('known: recovery-navigator');
  });
});
