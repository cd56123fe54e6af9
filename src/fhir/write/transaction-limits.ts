import type { Bundle } from '@medplum/fhirtypes';

/**
 * Entries per transaction. Medplum caps a transaction at 50 updates (`maxUpdates` in its batch.ts);
 * a resend turns every create of a record into an update, so we cap every entry, not just the PUTs.
 */
export const maxTransactionEntries = 50;

/**
 * Entries when any entry is conditional (`ifNoneExist`, `PUT Type?query`): Medplum then runs the
 * transaction serializable and refuses more than 8. Our writes use no conditional entries.
 */
export const maxSerializableEntries = 8;

/** Medplum refuses a synchronous request body over 1 MB. */
export const maxTransactionBytes = 1_000_000;

/** True for an entry that makes Medplum run the whole transaction serializable. */
function conditional(entry: NonNullable<Bundle['entry']>[number]): boolean {
  return !!entry.request?.ifNoneExist || (entry.request?.method !== 'GET' && !!entry.request?.url.includes('?'));
}

/** What in a transaction Bundle breaks the limits of a real Medplum server (empty when it fits). */
export function transactionLimitProblems(bundle: Bundle, bytes = Buffer.byteLength(JSON.stringify(bundle))): string[] {
  const entries = bundle.entry ?? [];
  const problems: string[] = [];
  if (entries.length > maxTransactionEntries) problems.push(`${entries.length} entries (at most ${maxTransactionEntries})`);
  if (entries.some(conditional) && entries.length > maxSerializableEntries) {
    problems.push(`${entries.length} entries with a conditional one (at most ${maxSerializableEntries})`);
  }
  if (bytes > maxTransactionBytes) problems.push(`${bytes} bytes (at most ${maxTransactionBytes})`);
  return problems;
}
