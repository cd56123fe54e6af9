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

/** Room to keep free in a transaction for entries added after it is checked (a record's claim release). */
export interface TransactionRoom {
  entries: number;
  bytes: number;
}

/**
 * What in a transaction Bundle breaks the limits of a real Medplum server (empty when it fits), with
 * `room` kept free: a record's transaction keeps room for its claim's release (record-claim.ts), which is
 * added when it is sent, so that every record's write can be fenced.
 */
export function transactionLimitProblems(
  bundle: Bundle,
  bytes = Buffer.byteLength(JSON.stringify(bundle)),
  room: TransactionRoom = { entries: 0, bytes: 0 },
): string[] {
  const entries = bundle.entry ?? [];
  const problems: string[] = [];
  const maxEntries = maxTransactionEntries - room.entries;
  if (entries.length > maxEntries) problems.push(`${entries.length} entries (at most ${maxEntries})`);
  if (entries.some(conditional) && entries.length + room.entries > maxSerializableEntries) {
    problems.push(`${entries.length} entries with a conditional one (at most ${maxSerializableEntries - room.entries})`);
  }
  const maxBytes = maxTransactionBytes - room.bytes;
  if (bytes > maxBytes) problems.push(`${bytes} bytes (at most ${maxBytes})`);
  return problems;
}
