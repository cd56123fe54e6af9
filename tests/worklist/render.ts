import type { Task } from '@medplum/fhirtypes';
import { pathwayCodes } from '../../src/records/envelope.js';
import { exampleSource, fixture, type TestService } from '../harness.js';

/** Where the README's worklist section starts and ends (README "Clinical safety" → "The examples as a worklist"). */
export const worklistMarkers = { start: '<!-- worklist:start -->', end: '<!-- worklist:end -->' } as const;

// FHIR request-priority, most urgent first: how a worklist orders its items.
const urgency = ['stat', 'asap', 'urgent', 'routine'];

function cell(text: string | undefined): string {
  return (text ?? '').replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** One row per Task: code, priority, status, due, owner, description, notes — what a clinician's worklist shows. */
function row(t: Task): string {
  const code = t.code?.coding?.[0]?.code;
  const notes = (t.note ?? []).map((n) => cell(n.text)).join('<br>');
  return `| \`${code}\` | ${t.priority} | ${t.status} | ${t.restriction?.period?.end ?? ''} | ${t.owner?.reference ?? t.owner?.display ?? ''} | ${cell(t.description)} | ${notes} |`;
}

/** Two cases of issue #17 beside the examples, each a change to one example: what the worklist shows when things go wrong. */
const variants: { title: string; pathway: (typeof pathwayCodes)[number]; recordId: string; change: (r: any) => void }[] = [
  {
    title: 'the crisis bridge failed: appointment missed, person not reached, crisis risk active',
    pathway: 'crisis-transition',
    recordId: 'ct-2026-0042-bridge-failed',
    change: (r) => {
      r.recordedAt = '2026-11-26T10:00:00Z';
      r.recentCrisisRiskActive = true;
      r.firstAppointment.status = 'missed';
      r.peerContact = { completed: false, outcome: 'not-reached' };
    },
  },
  {
    title: 'a safety disclosure with information sharing declined',
    pathway: 'early-engagement',
    recordId: 'ee-2026-0311-safety-declined',
    change: (r) => {
      r.consent = { informationSharing: 'declined', categories: [], recipients: [], recordedAt: r.consent.recordedAt };
      r.informationShared = [];
      r.safety = { immediateConcernDisclosed: true, disclosedAt: '2026-11-14T08:50:00Z', summary: 'Has a plan to overdose tonight.' };
    },
  },
];

async function section(svc: TestService, heading: string, record: any): Promise<string> {
  const res = await svc.post(record);
  if (res.status !== 201) throw new Error(`${heading}: ${res.status}`);
  const tasks = await svc.fhir<Task>(`Task?_tag=${encodeURIComponent(`${exampleSource}|${record.recordId}`)}&_count=100`);
  tasks.sort(
    (a, b) =>
      urgency.indexOf(a.priority ?? 'routine') - urgency.indexOf(b.priority ?? 'routine') ||
      (a.restriction?.period?.end ?? '').localeCompare(b.restriction?.period?.end ?? '') ||
      (a.identifier?.[0]?.value ?? '').localeCompare(b.identifier?.[0]?.value ?? ''),
  );
  return [
    heading,
    '',
    '| code | priority | status | due | owner | description | notes |',
    '|---|---|---|---|---|---|---|',
    ...tasks.map(row),
  ].join('\n');
}

/**
 * Posts each example record (tests/fixtures/, the same records as the contract's examples) to a fresh
 * service, then two cases of issue #17, and renders the Tasks each raised as a worklist lists them, most urgent first, then by due time.
 * Throws when an example is not accepted with 201: each must post as it is on a fresh start.
 */
export async function renderWorklist(svc: TestService): Promise<string> {
  const sections: string[] = [];
  for (const pathway of pathwayCodes) {
    const record = fixture(pathway);
    sections.push(
      await section(
        svc,
        `**\`${pathway}\`** ([tests/fixtures/${pathway}.json](tests/fixtures/${pathway}.json), record \`${record.recordId}\`)`,
        record,
      ),
    );
  }
  for (const v of variants) {
    const record = fixture(v.pathway, v.recordId, v.change);
    sections.push(
      await section(
        svc,
        `**\`${v.pathway}\`, ${v.title}** (record \`${v.recordId}\`, the example changed as in \`tests/worklist/render.ts\`)`,
        record,
      ),
    );
  }
  return sections.join('\n\n');
}
