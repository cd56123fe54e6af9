import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CarePlan, Communication, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importBatch } from '../../src/cli/commands/import.js';
import { validate as validateCommand } from '../../src/cli/commands/validate.js';
import { escapeSearchValue, tokenSearchValue } from '../../src/fhir/lookup/search-values.js';
import { captureIo } from '../cli/capture.js';
import { tempMappings, type TempMappings } from '../config/temp-mappings.js';
import { failedGates, fixture, startTestService, testToken, type TestService } from '../harness.js';

/**
 * Issue 11 "Trust nothing from outside": each failing input of the issue, with its right value.
 * Each kind's wider coverage lives beside it (tests/trust/*.test.ts and the property test).
 */
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ RATE_LIMIT_PER_MINUTE: '0' });
});
afterAll(async () => {
  await svc.close();
});

const expressions = (body: any): string[] => (body?.issue ?? []).flatMap((i: any) => i.expression ?? []);
const codes = (body: any): string[] => (body?.issue ?? []).flatMap((i: any) => i.details?.coding ?? []).map((c: any) => c.code);

async function createPatient(system: string, value: string): Promise<string> {
  const res = await svc.fhirRaw('Patient', {
    method: 'POST',
    body: JSON.stringify({ resourceType: 'Patient', identifier: [{ system, value }], name: [{ family: 'Test' }] }),
  });
  expect(res.status).toBe(201);
  return `Patient/${((await res.json()) as { id: string }).id}`;
}

async function validate(record: unknown): Promise<{ status: number; body: any }> {
  const res = await svc.post(record, '/pathway-records/$validate');
  return res;
}

describe('kind 1: identity is checked, not trusted', () => {
  it('escapes \\ , | $ by FHIR search rules', () => {
    expect(escapeSearchValue('a\\b,c|d$e')).toBe('a\\\\b\\,c\\|d\\$e');
    expect(tokenSearchValue('urn:x|y', 'A-7|B')).toBe('urn:x\\|y|A-7\\|B');
  });

  it('person.identifier A-7|B is written against the patient that carries A-7|B, not A-7', async () => {
    const system = 'urn:test:mrn-kind1';
    const first = await createPatient(system, 'A-7');
    const second = await createPatient(system, 'A-7|B');
    const res = await svc.post(
      fixture('early-engagement', 'trust-id-pipe', (r) => {
        r.person = { identifier: { system, value: 'A-7|B' } };
      }),
    );
    expect(res.status).toBe(201);
    const plan = await svc.one<CarePlan>('CarePlan', 'trust-id-pipe', 'careplan');
    expect(plan.subject?.reference).toBe(second);
    expect(plan.subject?.reference).not.toBe(first);
  });

  it('an identifier is matched case-sensitively: a-7 does not find A-7 (422 on person)', async () => {
    const system = 'urn:test:mrn-case';
    await createPatient(system, 'A-7');
    const res = await svc.post(
      fixture('early-engagement', 'trust-id-case', (r) => {
        r.person = { identifier: { system, value: 'a-7' } };
      }),
    );
    expect(res.status).toBe(422);
    expect(expressions(res.body)).toContain('person');
    expect(codes(res.body)).toContain('reference-unresolved');
  });

  it('two patients with exactly the identifier asked: 422 on person saying it is ambiguous', async () => {
    const system = 'urn:test:mrn-twice';
    await createPatient(system, 'Z-1');
    await createPatient(system, 'Z-1');
    const res = await svc.post(
      fixture('early-engagement', 'trust-id-twice', (r) => {
        r.person = { identifier: { system, value: 'Z-1' } };
      }),
    );
    expect(res.status).toBe(422);
    expect(codes(res.body)).toContain('reference-ambiguous');
    expect(expressions(res.body)).toContain('person');
  });

  for (const system of [
    'urn:test:src|pipe',
    'urn:test:src,comma',
    'urn:test:src$dollar',
    'urn:test:src\\backslash',
    'urn:test:ünïcödé|,$\\',
    'https://example.org/a%20b?x=1|2',
  ]) {
    it(`source.system ${JSON.stringify(system)} resends idempotently and has a status view`, async () => {
      const recordId = 'trust.src:1_-';
      const record = fixture('early-engagement', recordId, (r) => {
        r.source.system = system;
      });
      const first = await svc.post(record);
      expect(first.status).toBe(201);
      const again = await svc.post(record);
      expect(again.status).toBe(200);
      expect(again.body.outcome).toBe('unchanged');
      expect(await svc.bySlot('CarePlan', recordId, 'careplan', system)).toHaveLength(1);
      expect(await svc.bySlot('Task', recordId, 'task/follow-up-action', system)).toHaveLength(1);
      const status = await fetch(`${svc.url}/pathway-records/${encodeURIComponent(recordId)}?source=${encodeURIComponent(system)}`, {
        headers: { Authorization: `Bearer ${testToken}` },
      });
      expect(status.status).toBe(200);
      const view: any = await status.json();
      expect(view.state).toBe('accepted');
      expect(view.source).toBe(system);
    });
  }
});

describe('kind 2: the schema follows FHIR', () => {
  it('peerContact.date with offset +15:00 is a 400 naming peerContact.date, on POST and on $validate', async () => {
    const record = fixture('early-engagement', 'trust-offset', (r) => {
      r.peerContact.date = '2026-11-12T10:00:00+15:00';
    });
    const res = await svc.post(record);
    expect(res.status).toBe(400);
    expect(expressions(res.body)).toEqual(['peerContact.date']);
    const dry = await validate(record);
    expect(dry.status).toBe(200);
    const outcome = dry.body.parameter.find((p: any) => p.name === 'outcome').resource;
    expect(dry.body.parameter.find((p: any) => p.name === 'result').valueCode).toBe('rejected');
    expect(expressions(outcome)).toEqual(['peerContact.date']);
    expect(await svc.bySlot('CarePlan', 'trust-offset', 'careplan')).toHaveLength(0);
  });
});

describe('kind 3: references are checked for their kind', () => {
  it('peerSpecialist pointing at an existing CareTeam is a 422 on peerSpecialist', async () => {
    const res = await svc.post(
      fixture('early-engagement', 'trust-peer-careteam', (r) => {
        r.peerSpecialist = { reference: 'CareTeam/example-outpatient-team' };
      }),
    );
    expect(res.status).toBe(422);
    expect(expressions(res.body)).toContain('peerSpecialist');
    expect(codes(res.body)).toContain('reference-wrong-type');
  });

  it('escalationRoute.clinicalOwner pointing at a Patient: 422 on that field, the stat Task goes to the site clinical route', async () => {
    const res = await svc.post(
      fixture('early-engagement', 'trust-owner-patient', (r) => {
        r.escalationRoute.clinicalOwner = { reference: 'Patient/example-person' };
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:30:00Z' };
      }),
    );
    expect(res.status).toBe(422);
    expect(expressions(res.body)).toContain('escalationRoute.clinicalOwner');
    const task = await svc.one<Task>('Task', 'trust-owner-patient', 'task/safety-review');
    expect(task.priority).toBe('stat');
    expect(task.owner?.reference).toBe('PractitionerRole/example-on-call');
  });

  it('5,000 warningSigns is a 400 naming warningSigns', async () => {
    const res = await svc.post(
      fixture('step-down', 'trust-huge', (r) => {
        r.warningSigns = Array.from({ length: 5000 }, (_, i) => `sign ${i}`);
      }),
    );
    expect(res.status).toBe(400);
    expect(expressions(res.body)).toContain('warningSigns');
  });
});

describe('kind 4: ambiguous JSON text is refused', () => {
  it('a duplicated immediateConcernDisclosed (true, then false) is a 400 naming the key and its path', async () => {
    const text = JSON.stringify(fixture('early-engagement', 'trust-dup')).replace(
      '"safety":{"immediateConcernDisclosed":false}',
      '"safety":{"immediateConcernDisclosed":true,"immediateConcernDisclosed":false}',
    );
    expect(text).toContain('"immediateConcernDisclosed":true,"immediateConcernDisclosed":false');
    const res = await svc.post(text);
    expect(res.status).toBe(400);
    expect(expressions(res.body)).toEqual(['safety.immediateConcernDisclosed']);
    expect(codes(res.body)).toEqual(['duplicate-key']);
    expect(await svc.bySlot('CarePlan', 'trust-dup', 'careplan')).toHaveLength(0);
  });

  it('a leading byte-order mark is ignored', async () => {
    const res = await svc.post(`\uFEFF${JSON.stringify(fixture('early-engagement', 'trust-bom'))}`);
    expect(res.status).toBe(201);
  });

  it('a raw control character is refused too (400 invalid-text)', async () => {
    const text = JSON.stringify(fixture('early-engagement', 'trust-raw-control')).replace('"adult-anxiety-depression"', '"adult\u0007"'); // a raw BEL inside the string
    expect(text).toContain('\u0007');
    const res = await svc.post(text);
    expect(res.status).toBe(400);
    expect(codes(res.body)).toEqual(['invalid-text']);
    expect(expressions(res.body)).toEqual(['intake.service']);
  });

  it('broken raw text elsewhere in the record names its field, and a disclosure still reaches clinical review (one stat Task)', async () => {
    // Raw VT, NUL, a C1 control (NEL), a Latin-1 byte and an encoded surrogate half (not UTF-8), each inside concerns[0].summary.
    const variants: [string, (json: string) => Uint8Array][] = [
      ['raw VT', (json) => Buffer.from(json.replace('SUMMARY-MARK', 'a\u000bb'), 'utf8')],
      ['raw NUL', (json) => Buffer.from(json.replace('SUMMARY-MARK', 'a\u0000b'), 'utf8')],
      ['raw NEL (C1)', (json) => Buffer.from(json.replace('SUMMARY-MARK', 'a\u0085b'), 'utf8')],
      ['escaped NEL (C1)', (json) => Buffer.from(json.replace('SUMMARY-MARK', 'a\\u0085b'), 'utf8')],
      [
        'Latin-1 byte',
        (json) =>
          Buffer.concat(
            json.split('SUMMARY-MARK').flatMap((part, i) => (i ? [Buffer.from([0xe9]), Buffer.from(part)] : [Buffer.from(part)])),
          ),
      ],
      [
        'encoded surrogate half',
        (json) =>
          Buffer.concat(
            json
              .split('SUMMARY-MARK')
              .flatMap((part, i) => (i ? [Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(part)] : [Buffer.from(part)])),
          ),
      ],
    ];
    for (const [n, [label, corrupt]] of variants.entries()) {
      const recordId = `trust-raw-safety-${n}`;
      const json = JSON.stringify(
        fixture('concern-routing', recordId, (r) => {
          r.safety = { immediateConcernDisclosed: true, summary: 'Disclosed a plan tonight.', disclosedAt: '2026-11-21T10:00:00Z' };
          r.concerns[0].summary = 'SUMMARY-MARK';
        }),
      );
      const res = await svc.post(corrupt(json));
      expect(res.status, label).toBe(400);
      expect(expressions(res.body), label).toContain('concerns[0].summary');
      expect(codes(res.body), label).toEqual(['invalid-text', 'safety-review-raised']);
      const tasks = await svc.bySlot<Task>('Task', recordId, 'task/safety-review');
      expect(
        tasks.map((t) => t.priority),
        label,
      ).toEqual(['stat']);
    }
  });

  it('a lone surrogate, raw or escaped, and an escaped control character are 400s naming the field', async () => {
    for (const [bad, code] of [
      ['\\uD800', 'invalid-text'],
      ['\\u0007', 'invalid-text'],
    ] as const) {
      const text = JSON.stringify(fixture('early-engagement', 'trust-text')).replace('"adult-anxiety-depression"', `"adult${bad}"`);
      const res = await svc.post(text);
      expect(res.status, bad).toBe(400);
      expect(codes(res.body)).toEqual([code]);
      expect(expressions(res.body)).toEqual(['intake.service']);
    }
  });
});

describe('kind 4 on every way in: the CLI', () => {
  it('import takes line 1 of a file with a byte-order mark, and refuses a duplicated key naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ppf-trust-'));
    try {
      const file = join(dir, 'batch.ndjson');
      const dup = JSON.stringify(fixture('early-engagement', 'trust-cli-dup')).replace(
        '"eligible":true',
        '"eligible":true,"eligible":false',
      );
      writeFileSync(file, `\uFEFF${JSON.stringify(fixture('early-engagement', 'trust-cli-bom'))}\n${dup}\n`);
      const io = captureIo();
      // Every line not written was rejected by the schema: exit 3, as the README's exit codes say.
      expect(await importBatch([file, '--url', svc.url, '--token', testToken, '--no-progress'], io)).toBe(3);
      expect(await svc.bySlot('CarePlan', 'trust-cli-bom', 'careplan')).toHaveLength(1);
      const failed = readFileSync(join(dir, 'batch.ndjson.failed.ndjson'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(failed).toHaveLength(1);
      expect(failed[0].line).toBe(2);
      expect(failed[0].status).toBe(400);
      expect(expressions(failed[0].outcome)).toEqual(['intake.eligible']);
      expect(codes(failed[0].outcome)).toEqual(['duplicate-key']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('validate refuses a duplicated key as HTTP does (exit 3, the key named)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ppf-trust-'));
    try {
      const file = join(dir, 'record.json');
      writeFileSync(
        file,
        JSON.stringify(fixture('early-engagement', 'trust-cli-validate')).replace('"eligible":true', '"eligible":true,"eligible":false'),
      );
      const io = captureIo();
      expect(await validateCommand([file, '--json'], io)).toBe(3);
      const outcome = JSON.parse(io.stdout.join('\n')).parameter.find((p: any) => p.name === 'outcome').resource;
      expect(expressions(outcome)).toEqual(['intake.eligible']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kind 5: time is applied in one place, in the site zone', () => {
  it('consent.expires 2026-10-15 and recordedAt 2026-11-21: 422 on cr-consent-aligned naming the expiry, no Communication, safety still routed', async () => {
    const res = await svc.post(
      fixture('concern-routing', 'trust-expired', (r) => {
        r.consent.expires = '2026-10-15';
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-21T10:30:00Z' };
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['cr-consent-aligned']);
    const gate = res.body.issue.find((i: any) => i.details?.coding?.some((c: any) => c.code === 'cr-consent-aligned'));
    expect(gate.details.text).toContain('expired 2026-10-15');
    expect(gate.expression).toContain('consent.expires');
    const comms = (await svc.fhir<Communication>('Communication?subject=Patient/example-person&_count=500')).filter((c) =>
      c.identifier?.[0]?.value?.startsWith('trust-expired/'),
    );
    expect(comms).toHaveLength(0);
    const safety = await svc.one<Task>('Task', 'trust-expired', 'task/safety-review');
    expect(safety.priority).toBe('stat');
  });

  it('the same consent before its expiry is in force: accepted, and the Consent carries the window', async () => {
    const res = await svc.post(
      fixture('concern-routing', 'trust-in-force', (r) => {
        r.consent.expires = '2026-12-15';
      }),
    );
    expect(res.status).toBe(201);
    const consent = await svc.one<any>('Consent', 'trust-in-force', 'consent');
    // A date-only expires grants through that local day (FHIR Period.end includes the whole day): it ends at the next midnight.
    expect(consent.provision.period).toEqual({ start: '2026-10-02T10:00:00Z', end: '2026-12-16T00:00:00.000Z' });
  });

  it('a date-only consent.expires still grants on its own day, and not on the next', async () => {
    const onTheDay = await svc.post(
      fixture('concern-routing', 'trust-expires-same-day', (r) => {
        r.consent.expires = r.recordedAt.slice(0, 10);
      }),
    );
    expect(onTheDay.status, JSON.stringify(onTheDay.body)).toBe(201);
    const dayAfter = await svc.post(
      fixture('concern-routing', 'trust-expires-day-before', (r) => {
        const day = new Date(Date.parse(r.recordedAt) - 86_400_000).toISOString().slice(0, 10);
        r.consent.expires = day;
      }),
    );
    expect(dayAfter.status).toBe(422);
    expect(failedGates(dayAfter.body)).toEqual(['cr-consent-aligned']);
  });

  it('a consent recorded after the disclosure grants nothing (ee-consent)', async () => {
    const res = await svc.post(
      fixture('early-engagement', 'trust-late-consent', (r) => {
        r.consent.recordedAt = '2026-11-13T09:00:00Z';
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['ee-consent']);
    expect(res.body.issue[0].details.text).toContain('recorded 2026-11-13T09:00:00Z');
  });
});

describe('kind 5 in every consent gate', () => {
  it('crisis-transition: a consent expired before the notification is a 422 on ct-consent-aligned naming the expiry', async () => {
    const res = await svc.post(
      fixture('crisis-transition', 'trust-ct-expired', (r) => {
        r.consent.expires = '2026-11-01';
        r.consent.recordedAt = '2026-10-01T10:00:00Z';
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['ct-consent-aligned']);
    expect(res.body.issue[0].details.text).toContain('expired 2026-11-01');
  });

  it('early-engagement: information shared after the consent expired is a 422 on ee-consent naming the expiry', async () => {
    const res = await svc.post(
      fixture('early-engagement', 'trust-ee-expired', (r) => {
        r.consent.expires = '2026-11-12T12:00:00Z';
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['ee-consent']);
    expect(res.body.issue[0].details.text).toContain('expired 2026-11-12T12:00:00Z');
  });
});

describe('kind 5 at a site in America/Los_Angeles', () => {
  let la: TestService;
  let mappings: TempMappings;
  beforeAll(async () => {
    mappings = tempMappings();
    mappings.edit('site.json', (site) => {
      site.timeZone = 'America/Los_Angeles';
    });
    la = await startTestService({ RATE_LIMIT_PER_MINUTE: '0', MAPPINGS_DIR: mappings.dir });
  });
  afterAll(async () => {
    await la.close();
    mappings.remove();
  });

  it('a disclosure dated 2026-11-21 (date only) is due one hour after that local day began: 2026-11-21T09:00Z', async () => {
    const res = await la.post(
      fixture('early-engagement', 'trust-la', (r) => {
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-21' };
        r.recordedAt = '2026-11-21T17:00:00Z';
      }),
    );
    expect(res.status).toBe(201);
    const task = await la.one<Task>('Task', 'trust-la', 'task/safety-review');
    expect(Date.parse(task.restriction?.period?.end ?? '')).toBe(Date.parse('2026-11-21T09:00:00Z'));
  });
});

describe('safety first, independent of everything after it', () => {
  it('a schema error elsewhere: 400 that says the stat review was raised; the corrected resend keeps that one Task', async () => {
    const broken = fixture('early-engagement', 'trust-safety-400', (r) => {
      r.safety = { immediateConcernDisclosed: true, summary: 'Said they have a plan.', disclosedAt: '2026-11-14T08:30:00Z' };
      r.nextAppointment.status = 'no-such-status';
      r.intake.eligible = 'yes';
    });
    const res = await svc.post(broken);
    expect(res.status).toBe(400);
    expect(expressions(res.body)).toEqual(expect.arrayContaining(['nextAppointment.status', 'intake.eligible']));
    expect(codes(res.body)).toContain('safety-review-raised');
    const [task] = await svc.bySlot<Task>('Task', 'trust-safety-400', 'task/safety-review');
    expect(task?.priority).toBe('stat');
    expect(task?.owner?.reference).toBe('PractitionerRole/example-clinician');
    expect(task?.description).toContain('Said they have a plan.');
    expect(await svc.bySlot('CarePlan', 'trust-safety-400', 'careplan')).toHaveLength(0);

    const fixed = fixture('early-engagement', 'trust-safety-400', (r) => {
      r.safety = { immediateConcernDisclosed: true, summary: 'Said they have a plan.', disclosedAt: '2026-11-14T08:30:00Z' };
    });
    expect((await svc.post(fixed)).status).toBe(201);
    const after = await svc.bySlot<Task>('Task', 'trust-safety-400', 'task/safety-review');
    expect(after).toHaveLength(1);
    expect(after[0]?.id).toBe(task?.id);
  });

  it('a duplicated key outside the envelope: 400 naming it, and the disclosure still raises its review', async () => {
    const text = JSON.stringify(
      fixture('early-engagement', 'trust-safety-dup', (r) => {
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:30:00Z' };
      }),
    ).replace('"eligible":true', '"eligible":true,"eligible":false');
    const res = await svc.post(text);
    expect(res.status).toBe(400);
    expect(expressions(res.body)).toContain('intake.eligible');
    expect(codes(res.body)).toEqual(['duplicate-key', 'safety-review-raised']);
    expect(await svc.bySlot('Task', 'trust-safety-dup', 'task/safety-review')).toHaveLength(1);
  });

  it('a duplicated immediateConcernDisclosed is ambiguous: 400, and no review is guessed', async () => {
    const text = JSON.stringify(
      fixture('early-engagement', 'trust-safety-ambiguous', (r) => {
        r.safety = { immediateConcernDisclosed: true };
      }),
    ).replace('"immediateConcernDisclosed":true', '"immediateConcernDisclosed":true,"immediateConcernDisclosed":true');
    const res = await svc.post(text);
    expect(res.status).toBe(400);
    expect(codes(res.body)).toEqual(['duplicate-key']);
    expect(await svc.bySlot('Task', 'trust-safety-ambiguous', 'task/safety-review')).toHaveLength(0);
  });

  it('a record over the body size limit: 413, and its disclosure still raises the review', async () => {
    const big = fixture('early-engagement', 'trust-safety-413', (r) => {
      r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:30:00Z' };
      r.peerNotes = 'n'.repeat(300 * 1024);
    });
    const res = await svc.post(big);
    expect(res.status).toBe(413);
    expect(codes(res.body)).toEqual(['payload-too-large', 'safety-review-raised']);
    expect(await svc.bySlot('Task', 'trust-safety-413', 'task/safety-review')).toHaveLength(1);
    expect(await svc.bySlot('CarePlan', 'trust-safety-413', 'careplan')).toHaveLength(0);
    const quiet = await svc.post(
      fixture('early-engagement', 'trust-quiet-413', (r) => {
        r.peerNotes = 'n'.repeat(300 * 1024);
      }),
    );
    expect(quiet.status).toBe(413);
    expect(await svc.bySlot('Task', 'trust-quiet-413', 'task/safety-review')).toHaveLength(0);
  });

  it('$validate of the same refused record says the review would be raised, and writes nothing', async () => {
    const res = await validate(
      fixture('early-engagement', 'trust-validate-400', (r) => {
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:30:00Z' };
        r.intake.eligible = 'yes';
      }),
    );
    expect(res.body.parameter.find((p: any) => p.name === 'result').valueCode).toBe('rejected');
    expect(codes(res.body.parameter.find((p: any) => p.name === 'outcome').resource)).toEqual(['schema-invalid', 'safety-review-raised']);
    expect(await svc.bySlot('Task', 'trust-validate-400', 'task/safety-review')).toHaveLength(0);
  });

  it('a refused record without a disclosure writes nothing', async () => {
    const res = await svc.post(
      fixture('early-engagement', 'trust-quiet-400', (r) => {
        r.intake.eligible = 'yes';
      }),
    );
    expect(res.status).toBe(400);
    expect(codes(res.body)).not.toContain('safety-review-raised');
    const tagged = await svc.fhir(`Task?_tag=${encodeURIComponent(tokenSearchValue('urn:example:peer-platform', 'trust-quiet-400'))}`);
    expect(tagged).toHaveLength(0);
  });

  it('a mapping failure (consent expiring before it was recorded) is a 400 on consent.expires, the review raised anyway', async () => {
    const res = await svc.post(
      fixture('early-engagement', 'trust-safety-mapping', (r) => {
        r.consent.expires = '2026-11-01';
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:30:00Z' };
      }),
    );
    expect(res.status).toBe(400);
    expect(expressions(res.body)).toContain('consent.expires');
    expect(codes(res.body)).toContain('safety-review-raised');
    expect(await svc.bySlot('Task', 'trust-safety-mapping', 'task/safety-review')).toHaveLength(1);
  });

  it('$validate answers the same mapping failure as a rejection naming consent.expires, writing nothing', async () => {
    const res = await validate(
      fixture('early-engagement', 'trust-validate-mapping', (r) => {
        r.consent.expires = '2026-11-01';
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:30:00Z' };
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body.parameter.find((p: any) => p.name === 'result').valueCode).toBe('rejected');
    expect(expressions(res.body.parameter.find((p: any) => p.name === 'outcome').resource)).toContain('consent.expires');
    expect(await svc.bySlot('Task', 'trust-validate-mapping', 'task/safety-review')).toHaveLength(0);
  });

  it('a disclosure and a routed safety concern in one record raise one stat Task', async () => {
    const res = await svc.post(
      fixture('concern-routing', 'trust-one-task', (r) => {
        r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-21T10:30:00Z', summary: 'Unsafe tonight.' };
        r.concerns.push({ category: 'safety', summary: 'Unsafe tonight.' });
      }),
    );
    expect(res.status).toBe(201);
    const tagged = await svc.fhir<Task>(`Task?_tag=${encodeURIComponent(tokenSearchValue('urn:example:peer-platform', 'trust-one-task'))}`);
    expect(tagged.filter((t) => t.priority === 'stat')).toHaveLength(1);
  });
});

export { createPatient };
