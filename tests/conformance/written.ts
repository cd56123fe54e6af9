import type { Bundle, Coding, Resource } from '@medplum/fhirtypes';
import { pathwayCodes } from '../../src/records/index.js';
import { fixture, type TestService } from '../harness.js';

/** The resource types the adapter writes (spec §5), and those it reads as directory entries. */
export const writtenTypes = ['CarePlan', 'Consent', 'Encounter', 'Task', 'Communication', 'Goal', 'Provenance', 'AuditEvent'] as const;

type Change = (record: any) => void;

/**
 * Each fixture, and variants that walk every coded choice of a record (appointment statuses,
 * preferences, contact outcomes, consent states, safety disclosures, monitoring triggers, blocked
 * records), so that every code a mapper can write is written at least once.
 */
export function recordVariants(): { name: string; record: any }[] {
  const variants: [string, Change][] = [];
  for (const status of ['booked', 'attended', 'missed', 'cancelled', 'rescheduled', 'not-booked']) {
    variants.push([
      `early-engagement appointment ${status}`,
      (r) => {
        r.pathway = 'early-engagement';
        r.nextAppointment.status = status;
      },
    ]);
  }
  for (const pref of ['accepted', 'declined', 'undecided'])
    variants.push([
      `early-engagement ${pref}`,
      (r) => {
        r.personPreference = pref;
      },
    ]);
  for (const sharing of ['granted', 'declined', 'not-yet-discussed', 'withdrawn'])
    variants.push([
      `early-engagement consent ${sharing}`,
      (r) => {
        r.consent.informationSharing = sharing;
      },
    ]);
  variants.push([
    'early-engagement barriers',
    (r) => {
      r.engagementBarriers = [
        'overwhelmed-by-process',
        'unsure-what-therapy-involves',
        'mistrust-of-services',
        'practical-barrier',
        'none-identified',
        'other',
      ];
    },
  ]);
  variants.push([
    'early-engagement safety',
    (r) => {
      r.safety = { immediateConcernDisclosed: true, disclosedAt: r.recordedAt, summary: 'Said they had thoughts of ending their life.' };
    },
  ]);
  variants.push([
    'early-engagement blocked',
    (r) => {
      delete r.escalationRoute.clinicalOwner;
    },
  ]);
  const out: { name: string; record: any }[] = pathwayCodes.map((p) => ({ name: p, record: fixture(p) }));
  variants.forEach(([name, change], i) => out.push({ name, record: fixture('early-engagement', `ee-variant-${i}`, change) }));
  const ct: [string, Change][] = [
    ...['booked', 'attended', 'missed', 'cancelled', 'rescheduled'].map((s): [string, Change] => [
      `crisis-transition appointment ${s}`,
      (r) => {
        r.firstAppointment.status = s;
      },
    ]),
    ...['reached-and-prepared', 'reached-concerns-raised', 'not-reached'].map((o): [string, Change] => [
      `crisis-transition ${o}`,
      (r) => {
        r.peerContact.outcome = o;
      },
    ]),
    [
      'crisis-transition risk and concerns',
      (r) => {
        r.recentCrisisRiskActive = true;
        r.concernsRouted = [{ category: 'housing', routedTo: { reference: 'PractitionerRole/example-clinician' }, routedAt: r.recordedAt }];
      },
    ],
    [
      'crisis-transition blocked',
      (r) => {
        r.receivingClinicianNotification.notified = false;
      },
    ],
  ];
  ct.forEach(([name, change], i) => out.push({ name, record: fixture('crisis-transition', `ct-variant-${i}`, change) }));
  const sd: [string, Change][] = [
    [
      'step-down monitoring trigger',
      (r) => {
        r.monitoring = { missedTherapySessions: 3, worseningSymptomsReported: true };
      },
    ],
    [
      'step-down goal statuses',
      (r) => {
        r.recoveryGoals = ['in-progress', 'achieved', 'not-achieved'].map((status, k) => ({ description: `Goal ${k}`, status }));
        r.personFeedback = { score: 4, collectedAt: r.recordedAt };
      },
    ],
    [
      'step-down blocked',
      (r) => {
        r.personAgreement.agreedToPeerInvolvement = false;
      },
    ],
  ];
  sd.forEach(([name, change], i) => out.push({ name, record: fixture('step-down', `sd-variant-${i}`, change) }));
  const cr: [string, Change][] = [
    [
      'concern-routing every category',
      (r) => {
        r.consent.categories = ['clinical-concerns', 'housing', 'substance-use', 'practical-needs', 'appointment-status'];
        r.concerns = ['clinical-deterioration', 'safety', 'housing', 'practical-needs', 'substance-use'].map((category) => ({
          category,
          summary: `About ${category}.`,
        }));
      },
    ],
    [
      'concern-routing safety',
      (r) => {
        r.safety = { immediateConcernDisclosed: true, disclosedAt: r.recordedAt, summary: 'Disclosed a plan to harm themselves.' };
      },
    ],
    [
      'concern-routing blocked',
      (r) => {
        r.personAware = { informed: false, agreesToSharing: false };
      },
    ],
  ];
  cr.forEach(([name, change], i) => out.push({ name, record: fixture('concern-routing', `cr-variant-${i}`, change) }));
  const rm: [string, Change][] = [
    [
      'recovery-maintenance missed check-ins and goal statuses',
      (r) => {
        r.monitoring = { since: '2026-11-10', missedCheckIns: 3, warningSignsObserved: ['Sleeping under five hours'] };
        r.recoveryGoals = ['in-progress', 'achieved', 'not-achieved'].map((status, k) => ({ description: `Goal ${k}`, status }));
        r.lastCheckIn = { date: '2026-11-24', completed: false };
        r.personFeedback = { score: 5, collectedAt: r.recordedAt };
      },
    ],
    [
      'recovery-maintenance safety',
      (r) => {
        r.safety = { immediateConcernDisclosed: true, disclosedAt: r.recordedAt, summary: 'Said they want to stop living.' };
      },
    ],
    [
      'recovery-maintenance blocked',
      (r) => {
        delete r.reEntryRoute.owner;
      },
    ],
  ];
  rm.forEach(([name, change], i) => out.push({ name, record: fixture('recovery-maintenance', `rm-variant-${i}`, change) }));
  return out;
}

/**
 * Posts every variant ($validate, then the write; accepted, blocked or refused alike) and returns every
 * resource then on the server of the written types, the mapped Bundles and every answer body.
 */
export async function writeVariants(
  svc: TestService,
): Promise<{ statuses: Record<string, number>; resources: Resource[]; bundles: Bundle[]; answers: unknown[] }> {
  const statuses: Record<string, number> = {};
  const bundles: Bundle[] = [];
  const answers: unknown[] = [];
  for (const { name, record } of recordVariants()) {
    const dry = await svc.post(record, '/pathway-records/$validate');
    const bundle = dry.body?.parameter?.find((p: any) => p.name === 'bundle')?.resource as Bundle | undefined;
    if (bundle) bundles.push(bundle);
    const answer = await svc.post(record);
    statuses[name] = answer.status;
    answers.push(dry.body, answer.body);
  }
  const resources: Resource[] = [];
  for (const type of writtenTypes) resources.push(...(await svc.fhir(`${type}?_count=1000`)));
  return { statuses, resources, bundles, answers };
}

/** Every Coding anywhere in a value (CodeableConcepts, valueCodings, AuditEvent.type…). */
export function codingsIn(value: unknown, found: Coding[] = []): Coding[] {
  if (Array.isArray(value)) value.forEach((v) => codingsIn(v, found));
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.system === 'string' && typeof o.code === 'string') found.push({ system: o.system, code: o.code });
    Object.values(o).forEach((v) => codingsIn(v, found));
  }
  return found;
}
