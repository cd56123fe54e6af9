import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CarePlan, Communication, Goal, Resource, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failedGates, fixture, passedGates, startTestService, type TestService } from '../harness.js';

const pathwaySystem = 'http://peer-pathways.example.org/fhir/CodeSystem/peer-pathway';
const sd = 'http://peer-pathways.example.org/fhir/StructureDefinition/';
const person = 'Patient/example-person';
const clinician = 'PractitionerRole/example-clinician';
const peer = 'PractitionerRole/example-peer';
const team = 'CareTeam/example-outpatient-team';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

/** The example record under its own recordId, changed by `edit`. */
const record = (recordId: string, edit?: (r: any) => void): any => fixture('step-down', recordId, edit);

/** The one resource of a slot of a record, found by its business identifier as an EHR would. */
function ofRecord<T extends Resource>(resources: T[], recordId: string): T[] {
  return resources.filter((r) => (r as { identifier?: { value?: string }[] }).identifier?.some((i) => i.value?.startsWith(`${recordId}/`)));
}

function subExt(carePlan: CarePlan, name: string, part: string) {
  return carePlan.extension?.find((e) => e.url === `${sd}${name}`)?.extension?.find((e) => e.url === part);
}

function activityCodes(carePlan: CarePlan): string[] {
  return (carePlan.activity ?? []).map((a) => a.detail?.code?.coding?.[0]?.code ?? '');
}

describe('step-down: the example record', () => {
  it('is written whole and found by FHIR search as an EHR would', async () => {
    const res = await svc.post(record('sd-example'));
    expect(res.status).toBe(201);
    expect(res.body.outcome).toBe('created');
    const types = res.body.resources.map((r: any) => r.reference.split('/')[0]).sort();
    expect(types).toEqual(['CarePlan', 'Consent', 'Goal', 'Provenance', 'Task', 'Task']);
    expect(res.body.tasks.map((t: any) => t.code).sort()).toEqual(['outcome-review', 'scheduled-clinical-review']);

    const scheduled = ofRecord(
      await svc.fhir<Task>(`Task?code=${pathwaySystem}|scheduled-clinical-review&owner=${clinician}&status=requested`),
      'sd-example',
    );
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]?.restriction?.period?.end).toBe('2026-12-14');
    expect(scheduled[0]?.priority).toBe('routine');
    const outcome = ofRecord(
      await svc.fhir<Task>(`Task?code=${pathwaySystem}|outcome-review&owner=${clinician}&status=requested`),
      'sd-example',
    );
    expect(outcome).toHaveLength(1);
    expect(outcome[0]?.restriction?.period?.end).toBe('2027-02-08');

    const [carePlan] = await svc.bySlot<CarePlan>('CarePlan', 'sd-example', 'careplan');
    expect(carePlan?.status).toBe('active');
    expect(carePlan?.period).toEqual({ start: '2026-11-16', end: '2027-02-08' });
    expect(carePlan?.description).toBe('Build a weekly recovery routine, find community supports, practise re-entry planning.');
    expect(activityCodes(carePlan!).filter((c) => c === 'warning-signs')).toHaveLength(2);
    expect(activityCodes(carePlan!).filter((c) => c === 'community-connection')).toHaveLength(2);
    expect(
      carePlan?.activity?.find((a) => a.detail?.code?.coding?.[0]?.code === 'scheduled-clinical-review')?.detail?.scheduledString,
    ).toBe('2026-12-14');
    expect(subExt(carePlan!, 'receiving-pathway', 'confirmed')?.valueBoolean).toBe(true);
    expect(subExt(carePlan!, 'receiving-pathway', 'owner')?.valueReference?.reference).toBe(clinician);
    expect(subExt(carePlan!, 'person-agreement', 'agreedToPeerInvolvement')?.valueBoolean).toBe(true);
    expect(subExt(carePlan!, 'step-down-reason', 'text')?.valueString).toMatch(/^Stable for six weeks/);
    expect(subExt(carePlan!, 'from-service', 'service')?.valueString).toBe('intensive-outpatient');
    expect(carePlan?.extension?.find((e) => e.url === `${sd}stability-confirmed-by`)?.valueReference?.reference).toBe(clinician);
    expect(subExt(carePlan!, 'escalation-route', 'instructions')?.valueString).toMatch(/therapist reviews/);
    expect(scheduled[0]?.focus?.reference).toBe(`CarePlan/${carePlan?.id}`);
  });

  it('writes recovery goals as Goals of the person, linked from the CarePlan', async () => {
    const res = await svc.post(
      record('sd-goals', (r) => {
        r.recoveryGoals.push({ description: 'Cook a meal with a friend each week', status: 'achieved' });
      }),
    );
    expect(res.status).toBe(201);
    const goals = ofRecord(await svc.fhir<Goal>(`Goal?patient=${person}&_count=200`), 'sd-goals');
    expect(goals.map((g) => g.description.text).sort()).toEqual(['Cook a meal with a friend each week', 'Join the Thursday walking group']);
    const walking = goals.find((g) => g.description.text === 'Join the Thursday walking group');
    expect(walking?.target?.[0]?.dueDate).toBe('2027-01-15');
    expect(walking?.achievementStatus?.coding?.[0]?.code).toBe('in-progress');
    const cooking = goals.find((g) => g.description.text?.startsWith('Cook'));
    expect(cooking?.lifecycleStatus).toBe('completed');
    expect(cooking?.achievementStatus?.coding?.[0]?.code).toBe('achieved');
    const [carePlan] = await svc.bySlot<CarePlan>('CarePlan', 'sd-goals', 'careplan');
    expect(carePlan?.goal?.map((g) => g.reference).sort()).toEqual(goals.map((g) => `Goal/${g.id}`).sort());
  });

  it("keeps the person's feedback on the CarePlan, where governance reads it", async () => {
    const res = await svc.post(
      record('sd-feedback', (r) => {
        r.personFeedback = { score: 4, collectedAt: '2027-02-08T10:00:00Z' };
      }),
    );
    expect(res.status).toBe(201);
    const [carePlan] = await svc.bySlot<CarePlan>('CarePlan', 'sd-feedback', 'careplan');
    expect(subExt(carePlan!, 'person-feedback', 'score')?.valueInteger).toBe(4);
    expect(subExt(carePlan!, 'person-feedback', 'collectedAt')?.valueDateTime).toBe('2027-02-08T10:00:00Z');
  });
});

/** For each gate of profiles/step-down-bundle.json: records that pass it and records that fail only it. */
const gateCases: Record<string, { pass: [string, (r: any) => void][]; fail: [string, (r: any) => void][] }> = {
  'sd-receiving-confirmed': {
    pass: [['confirmed by the receiving owner', () => {}]],
    fail: [
      [
        'receiving pathway not confirmed',
        (r) => {
          r.receivingPathway.confirmed = false;
        },
      ],
    ],
  },
  'sd-person-agreement': {
    pass: [['the person agreed', () => {}]],
    fail: [
      [
        'the person did not agree',
        (r) => {
          r.personAgreement.agreedToPeerInvolvement = false;
        },
      ],
    ],
  },
  'sd-escalation-instructions': {
    pass: [
      [
        'a clinical team as owner with instructions',
        (r) => {
          r.escalationRoute.clinicalOwner = { reference: team };
        },
      ],
    ],
    fail: [
      [
        'no instructions',
        (r) => {
          delete r.escalationRoute.instructions;
        },
      ],
      [
        'no clinical owner',
        (r) => {
          delete r.escalationRoute.clinicalOwner;
        },
      ],
      [
        'the peer as clinical owner',
        (r) => {
          r.escalationRoute.clinicalOwner = { reference: peer };
        },
      ],
      [
        'no escalation route at all',
        (r) => {
          delete r.escalationRoute;
        },
      ],
    ],
  },
  'sd-time-limited': {
    pass: [
      [
        'a review date and no end',
        (r) => {
          delete r.peerSupportPeriod.end;
          r.peerSupportPeriod.reviewDate = '2027-01-10';
        },
      ],
      [
        'an end on the start day',
        (r) => {
          r.peerSupportPeriod.end = r.peerSupportPeriod.start;
        },
      ],
    ],
    fail: [
      [
        'neither end nor review date',
        (r) => {
          delete r.peerSupportPeriod.end;
        },
      ],
      [
        'an end before the start',
        (r) => {
          r.peerSupportPeriod.end = '2026-11-01';
        },
      ],
      [
        'an end before the start, with a review date',
        (r) => {
          r.peerSupportPeriod.end = '2026-11-01';
          r.peerSupportPeriod.reviewDate = '2027-01-10';
        },
      ],
    ],
  },
  'sd-goals-documented': {
    pass: [['one goal', () => {}]],
    fail: [
      [
        'no recovery goals',
        (r) => {
          r.recoveryGoals = [];
        },
      ],
    ],
  },
};

describe('step-down gates', () => {
  it('every gate of the profile has passing and failing cases', () => {
    const profile = JSON.parse(readFileSync(join(import.meta.dirname, '../../profiles/step-down-bundle.json'), 'utf8'));
    const keys = profile.differential.element
      .flatMap((e: any) => e.constraint ?? [])
      .map((c: any) => c.key)
      .sort();
    expect(keys).toEqual(Object.keys(gateCases).sort());
    for (const c of Object.values(gateCases)) expect(c.pass.length && c.fail.length).toBeGreaterThan(0);
  });

  for (const [key, cases] of Object.entries(gateCases)) {
    cases.pass.forEach(([name, edit], i) => {
      it(`${key} passes: ${name}`, async () => {
        const res = await svc.post(record(`sd-${key}-pass-${i}`, edit));
        expect(res.status).toBe(201);
        expect(passedGates(res.body)).toContain(key);
      });
    });
    cases.fail.forEach(([name, edit], i) => {
      it(`${key} blocks: ${name}`, async () => {
        const id = `sd-${key}-fail-${i}`;
        const res = await svc.post(record(id, edit));
        expect(res.status).toBe(422);
        expect(res.body.resourceType).toBe('OperationOutcome');
        expect(failedGates(res.body)).toEqual([key]);
        expect(await svc.bySlot('CarePlan', id, 'careplan')).toHaveLength(0);
      });
    });
  }

  it('all five gates pass on the example record', async () => {
    const res = await svc.post(record('sd-all-pass'));
    expect(passedGates(res.body)).toEqual(expect.arrayContaining(Object.keys(gateCases)));
  });
});

describe('step-down reviews and triggers', () => {
  const reviewOf = async (id: string) => (await svc.bySlot<Task>('Task', id, 'task/clinical-review'))[0];

  it('When therapy sessions are missed at the threshold, a clinical review goes to the clinical owner', async () => {
    const res = await svc.post(
      record('sd-missed-1', (r) => {
        r.monitoring.missedTherapySessions = 1;
      }),
    );
    expect(res.status).toBe(201);
    const task = await reviewOf('sd-missed-1');
    expect(task?.owner?.reference).toBe(clinician);
    expect(task?.priority).toBe('urgent');
    expect(task?.restriction?.period?.end).toBe('2026-11-18T13:00:00.000Z');
    expect(task?.reasonCode?.coding?.map((c) => c.code)).toEqual(['missed-therapy-sessions']);
    // appointment-status is consented to the care team in the example: the detail travels.
    expect(task?.description).toContain('1 therapy session(s) missed');
    expect(res.body.tasks.map((t: any) => t.code)).toContain('clinical-review');
  });

  it('When no session is missed and symptoms are not worse, no clinical review is raised', async () => {
    const res = await svc.post(record('sd-missed-0'));
    expect(res.status).toBe(201);
    expect(await reviewOf('sd-missed-0')).toBeUndefined();
  });

  it('The missed-session threshold comes from mappings/: below it, no review; at it, a review', async () => {
    const adapter = svc.service.adapter;
    const original = adapter.mappings;
    adapter.mappings = { ...original, thresholds: { ...original.thresholds, missedTherapySessions: 3 } };
    try {
      await svc.post(
        record('sd-missed-2-of-3', (r) => {
          r.monitoring.missedTherapySessions = 2;
        }),
      );
      await svc.post(
        record('sd-missed-3-of-3', (r) => {
          r.monitoring.missedTherapySessions = 3;
        }),
      );
    } finally {
      adapter.mappings = original;
    }
    expect(await reviewOf('sd-missed-2-of-3')).toBeUndefined();
    expect((await reviewOf('sd-missed-3-of-3'))?.code?.coding?.[0]?.code).toBe('clinical-review');
  });

  it('When worsening symptoms are reported, a clinical review is raised; its details follow consent', async () => {
    await svc.post(
      record('sd-worse', (r) => {
        r.monitoring.worseningSymptomsReported = true;
      }),
    );
    const task = await reviewOf('sd-worse');
    expect(task?.reasonCode?.coding?.map((c) => c.code)).toEqual(['worsening-symptoms']);
    // clinical-concerns is not in the example's consent: only the trigger code travels.
    expect(task?.description).not.toContain('reported worsening symptoms');

    await svc.post(
      record('sd-worse-consented', (r) => {
        r.monitoring.worseningSymptomsReported = true;
        r.consent.categories.push('clinical-concerns');
      }),
    );
    expect((await reviewOf('sd-worse-consented'))?.description).toContain('The person reported worsening symptoms.');
  });

  it('When missed sessions are not consented as appointment status, their count stays out of the Task', async () => {
    await svc.post(
      record('sd-missed-unconsented', (r) => {
        r.monitoring.missedTherapySessions = 2;
        r.consent.categories = ['recovery-goals'];
      }),
    );
    const task = await reviewOf('sd-missed-unconsented');
    expect(task?.description).toBe('Step-down monitoring raised a clinical review (missed-therapy-sessions).');
  });

  it('When the receiving owner is the peer, the record is blocked (peer-not-clinician): no review is raised for anyone', async () => {
    const res = await svc.post(
      record('sd-peer-owner', (r) => {
        r.receivingPathway.owner = { reference: peer };
        r.escalationRoute.clinicalOwner = { reference: team };
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['peer-not-clinician']);
    expect(res.body.issue.find((i: any) => i.details?.coding?.some((c: any) => c.code === 'peer-not-clinician'))?.expression).toEqual([
      'receivingPathway.owner',
    ]);
    expect(await svc.bySlot<Task>('Task', 'sd-peer-owner', 'task/scheduled-clinical-review')).toEqual([]);
    expect(await svc.bySlot<Task>('Task', 'sd-peer-owner', 'task/outcome-review')).toEqual([]);
  });

  it('The outcome review is due at the review date when there is no end, or the earlier of the two', async () => {
    await svc.post(
      record('sd-review-only', (r) => {
        delete r.peerSupportPeriod.end;
        r.peerSupportPeriod.reviewDate = '2027-01-10';
      }),
    );
    expect((await svc.bySlot<Task>('Task', 'sd-review-only', 'task/outcome-review'))[0]?.restriction?.period?.end).toBe('2027-01-10');
    await svc.post(
      record('sd-review-and-end', (r) => {
        r.peerSupportPeriod.reviewDate = '2027-01-20';
      }),
    );
    expect((await svc.bySlot<Task>('Task', 'sd-review-and-end', 'task/outcome-review'))[0]?.restriction?.period?.end).toBe('2027-01-20');
    const [carePlan] = await svc.bySlot<CarePlan>('CarePlan', 'sd-review-and-end', 'careplan');
    expect(carePlan?.extension?.find((e) => e.url === `${sd}peer-support-review-date`)?.valueDate).toBe('2027-01-20');
  });
});

describe('step-down safety, resends and privacy', () => {
  it('When a safety concern is disclosed and a gate fails, the record is blocked and a stat clinical review is raised', async () => {
    const res = await svc.post(
      record('sd-safety-blocked', (r) => {
        r.personAgreement.agreedToPeerInvolvement = false;
        r.safety = {
          immediateConcernDisclosed: true,
          summary: 'Said they had thought of ending their life',
          disclosedAt: '2026-11-16T12:30:00Z',
        };
      }),
    );
    expect(res.status).toBe(422);
    expect(failedGates(res.body)).toEqual(['sd-person-agreement']);
    const [task] = await svc.bySlot<Task>('Task', 'sd-safety-blocked', 'task/safety-review');
    expect(task?.priority).toBe('stat');
    expect(task?.code?.coding?.[0]?.code).toBe('clinical-review');
    expect(task?.owner?.reference).toBe(clinician);
    expect(await svc.bySlot('CarePlan', 'sd-safety-blocked', 'careplan')).toHaveLength(0);
    expect(await svc.bySlot('Task', 'sd-safety-blocked', 'task/scheduled-clinical-review')).toHaveLength(0);
  });

  it('When a safety concern is disclosed on an accepted record, the stat review is raised beside the pathway', async () => {
    const res = await svc.post(
      record('sd-safety-ok', (r) => {
        r.safety = { immediateConcernDisclosed: true };
      }),
    );
    expect(res.status).toBe(201);
    const stat = res.body.tasks.filter((t: any) => t.priority === 'stat');
    expect(stat).toHaveLength(1);
    expect(stat[0].owner).toBe(clinician);
  });

  it('When the same record is sent again, nothing changes and nothing is doubled', async () => {
    expect((await svc.post(record('sd-resend'))).status).toBe(201);
    const again = await svc.post(record('sd-resend'));
    expect(again.status).toBe(200);
    expect(again.body.outcome).toBe('unchanged');
    for (const [type, slot] of [
      ['CarePlan', 'careplan'],
      ['Goal', 'goal/0'],
      ['Consent', 'consent'],
      ['Task', 'task/scheduled-clinical-review'],
      ['Task', 'task/outcome-review'],
    ]) {
      expect(await svc.bySlot(type!, 'sd-resend', slot!)).toHaveLength(1);
    }
  });

  it('When a corrected record is sent, its resources are updated in place', async () => {
    await svc.post(record('sd-corrected'));
    const [before] = await svc.bySlot<Task>('Task', 'sd-corrected', 'task/scheduled-clinical-review');
    const res = await svc.post(
      record('sd-corrected', (r) => {
        r.clinicalReviewDate = '2026-12-21';
        r.recoveryGoals[0].status = 'achieved';
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe('updated');
    const after = await svc.bySlot<Task>('Task', 'sd-corrected', 'task/scheduled-clinical-review');
    expect(after).toHaveLength(1);
    expect(after[0]?.id).toBe(before?.id);
    expect(after[0]?.restriction?.period?.end).toBe('2026-12-21');
    expect(after[0]?.meta?.versionId).not.toBe(before?.meta?.versionId);
    const goals = await svc.bySlot<Goal>('Goal', 'sd-corrected', 'goal/0');
    expect(goals).toHaveLength(1);
    expect(goals[0]?.achievementStatus?.coding?.[0]?.code).toBe('achieved');
  });

  it('When a clinician has set a review in progress, a resend leaves it in progress', async () => {
    await svc.post(record('sd-in-progress'));
    const [task] = await svc.bySlot<Task>('Task', 'sd-in-progress', 'task/scheduled-clinical-review');
    const put = await svc.fhirRaw(`Task/${task?.id}`, { method: 'PUT', body: JSON.stringify({ ...task, status: 'in-progress' }) });
    expect(put.ok).toBe(true);
    const res = await svc.post(
      record('sd-in-progress', (r) => {
        r.clinicalReviewDate = '2026-12-28';
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body.resources.find((r: any) => r.slot === 'task/scheduled-clinical-review')?.action).toBe('kept');
    const [after] = await svc.bySlot<Task>('Task', 'sd-in-progress', 'task/scheduled-clinical-review');
    expect(after?.status).toBe('in-progress');
    expect(after?.restriction?.period?.end).toBe('2026-12-14');
  });

  it('Step-down sends no Communication, so no non-consented category travels in one', async () => {
    await svc.post(
      record('sd-no-comms', (r) => {
        r.consent = { informationSharing: 'declined', categories: [], recipients: [] };
        r.monitoring.worseningSymptomsReported = true;
      }),
    );
    const comms = ofRecord(await svc.fhir<Communication>(`Communication?subject=${person}&_count=200`), 'sd-no-comms');
    expect(comms).toHaveLength(0);
    const [review] = await svc.bySlot<Task>('Task', 'sd-no-comms', 'task/clinical-review');
    expect(review?.description).toBe('Step-down monitoring raised a clinical review (worsening-symptoms).');
  });

  it('peerNotes appear in no stored resource and no response', async () => {
    const secret = 'PEERNOTE-7f3a relational notes the peer keeps';
    const accepted = await svc.post(
      record('sd-notes', (r) => {
        r.peerNotes = secret;
      }),
    );
    const blocked = await svc.post(
      record('sd-notes-blocked', (r) => {
        r.peerNotes = secret;
        r.recoveryGoals = [];
      }),
    );
    const validated = await svc.post(
      record('sd-notes-validate', (r) => {
        r.peerNotes = secret;
      }),
      '/pathway-records/$validate',
    );
    expect(accepted.status).toBe(201);
    expect(blocked.status).toBe(422);
    for (const res of [accepted, blocked, validated]) expect(JSON.stringify(res.body)).not.toContain('PEERNOTE-7f3a');
    const stored = await Promise.all(
      ['CarePlan', 'Goal', 'Consent', 'Task', 'Communication', 'Provenance', 'AuditEvent'].map((type) =>
        svc.fhirRaw(`${type}?_count=500`).then((r) => r.text()),
      ),
    );
    expect(stored.join('')).not.toContain('PEERNOTE-7f3a');
  });
});
