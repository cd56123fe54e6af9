import { randomUUID } from 'node:crypto';
import type { Basic, Bundle, BundleEntry, Extension } from '@medplum/fhirtypes';
import { slotIdentifier } from '../contract/identity.js';
import { extensionUrl, systems } from '../contract/vocabulary.js';
import { AdapterError, issue, outcome } from '../outcomes/index.js';
import { WriteConflictError, type FhirClient } from './client.js';
import { maxWriteAttempts, withRetries } from './retry.js';
import type { TransactionRoom } from './write/transaction-limits.js';
import { hasIdentifier, tokenSearchValue } from './lookup/search-values.js';

/**
 * A claim expires this long after it was last renewed. Its holder renews it every third of that while
 * it works, so only a writer that died (or whose process stalled this long) loses it. It is well above
 * the embedded store's 5 s lock wait, which can stall a holder's event loop.
 */
export const claimTtlMs = 15_000;

/** A send waits this long at most for another replica's claim on the same record, then answers 409 (resend). */
export const claimWaitMs = 8_000;

const holderUrl = extensionUrl('record-claim-holder');
const expiresUrl = extensionUrl('record-claim-expires');
const claimCode = { system: systems.adapter, code: 'record-claim', display: 'Record write claim (adapter-internal)' };

/** Who holds a claim and until when (epoch ms); a released claim has no holder. */
interface ClaimState {
  claim: Basic & { id: string };
  holder?: string;
  expiresAt: number;
}

function readState(claim: Basic & { id: string }): ClaimState {
  const ext = claim.extension ?? [];
  const holder = ext.find((e) => e.url === holderUrl)?.valueString;
  const expires = ext.find((e) => e.url === expiresUrl)?.valueInstant;
  return { claim, holder, expiresAt: expires ? Date.parse(expires) : 0 };
}

function claimResource(source: string, recordId: string, holder: string | undefined, expiresAt: number, id?: string): Basic {
  const extension: Extension[] = [{ url: expiresUrl, valueInstant: new Date(expiresAt).toISOString() }];
  if (holder) extension.unshift({ url: holderUrl, valueString: holder });
  return {
    resourceType: 'Basic',
    ...(id ? { id } : {}),
    identifier: [slotIdentifier(source, recordId, 'claim')],
    code: { coding: [claimCode] },
    extension,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True for the claim transactions of this module (tests tell them from record transactions with it). */
export function isRecordClaim(bundle: Bundle | undefined): boolean {
  const first = bundle?.entry?.[0]?.resource as Basic | undefined;
  return (
    bundle?.entry?.length === 1 &&
    first?.resourceType === 'Basic' &&
    first.code?.coding?.some((c) => c.code === claimCode.code && c.system === claimCode.system) === true
  );
}

/**
 * Sends one claim transaction, retried in place on a transient failure: both kinds are safe to resend.
 * A resent conditional create finds our own claim (same holder); a resent If-Match'd PUT whose first
 * answer was lost after the commit gets 412, and takeClaim then reads the claim and finds it ours.
 */
function claimTransaction(fhir: FhirClient, bundle: Bundle): Promise<Bundle> {
  return withRetries(maxWriteAttempts, () => fhir.transaction(bundle));
}

/** The first entry of a transaction response as a claim, when the server returned the resource. */
function entryClaim(response: Bundle): (Basic & { id: string }) | undefined {
  const r = response.entry?.[0]?.resource;
  return r?.resourceType === 'Basic' && r.id ? (r as Basic & { id: string }) : undefined;
}

/**
 * The write claim of one record (`source.system` + `recordId`) on the FHIR server: a small `Basic`
 * resource (identifier `{source.system, recordId/claim}`, code `record-claim`) that makes the sends of
 * one record take turns across every replica writing to that server.
 *
 * - **Taking it** is a one-entry transaction with a conditional create (`ifNoneExist` on the identifier),
 *   which FHIR servers run serializable (Medplum with `transaction-bundles`, HAPI, the embedded store):
 *   of two replicas racing on a first send, exactly one creates it; the other finds it.
 * - A claim found **released or expired** is taken with `PUT` + `If-Match` on the version read: of two
 *   replicas taking over the same claim, the server lets one through and answers `412` to the other.
 * - A claim **held** by another writer is re-read every few ms until it is released (then this send
 *   re-reads the record and finds what the other wrote: `unchanged`/`updated`, never a second create)
 *   or expires (its writer died: taken over as above), for at most `claimWaitMs`; then `409` `conflict` with a
 *   `Retry-After` of the claim's remaining time.
 * - The holder renews it every `claimTtlMs / 3` and releases it (`PUT` + `If-Match`) when done.
 *
 * `Basic` because it has no clinical meaning: no EHR worklist, chart or Patient compartment shows it
 * (it has no subject), it carries an `identifier` (so the conditional create is a plain identifier search
 * every server indexes), and it is the R4 resource for data no other resource fits. README "Scaling out".
 */
export function withRecordClaim<T>(
  fhir: FhirClient,
  record: { source: { system: string }; recordId: string },
  work: (claim: RecordClaim) => Promise<T>,
): Promise<T> {
  return withClaim(fhir, { system: record.source.system, key: record.recordId }, claimWaitMs, work);
}

/**
 * The room a record's transaction keeps for its claim's release (RecordClaim.releaseEntry): one entry, and
 * its size with the longest id and version a server gives (64 characters each, FHIR's id limit).
 */
export function claimReleaseRoom(record: { source: { system: string }; recordId: string }): TransactionRoom {
  const id = 'i'.repeat(64);
  const entry: BundleEntry<Basic> = {
    fullUrl: `Basic/${id}`,
    resource: claimResource(record.source.system, record.recordId, undefined, Date.now(), id),
    request: { method: 'PUT', url: `Basic/${id}`, ifMatch: `W/"${id}"` },
  };
  // The comma between entries, and slack for how a serializer may escape the same text.
  return { entries: 1, bytes: 2 * Buffer.byteLength(JSON.stringify(entry)) + 1 };
}

/**
 * The claim as the send holding it sees it: its release can travel in the record's own transaction, so
 * that a first send commits once for the record and the release together (not a second commit after),
 * and a writer that lost its claim is fenced: its transaction fails whole (`412`) instead of writing.
 */
export interface RecordClaim {
  /**
   * Stops renewing and returns the entry that releases the claim (`PUT Basic/<id>`, If-Match the version
   * held) for the record's transaction. Throws ClaimBusyError (409) when the claim was taken over.
   */
  releaseEntry(): Promise<BundleEntry<Basic>>;
  /** The transaction holding releaseEntry's entry committed: the claim is released. */
  released(): void;
  /**
   * The transaction holding the entry failed: renewing again. After a `412`, reads the claim: throws
   * ClaimBusyError when another writer took it over (the 412 was ours), else the 412 came from the record.
   */
  notReleased(conflict: boolean): Promise<void>;
}

/** A claim that another holder kept for longer than this send waits: `409` with a Retry-After. */
export class ClaimBusyError extends AdapterError {}

/**
 * The leases of the scheduled jobs (escalation, webhooks) across every process and replica on the FHIR
 * server: one claim per job (`{adapter, job/<name>}`), kept by the process that took it and renewed
 * every claimTtlMs / 3 in the background, so that one process runs the job for as long as it lives (its
 * in-memory state, such as the webhook cursor, stays with it). While another process holds it, a run is
 * skipped. A holder that dies leaves the lease to expire after claimTtlMs; the next run elsewhere takes it
 * over (If-Match: exactly one taker). `release()` on a graceful stop hands it over at once.
 */
export class JobLeases {
  private readonly held = new Map<string, HeldClaim>();

  constructor(private readonly fhir: () => FhirClient) {}

  /** Runs `run` when this process holds (or can take) the job's lease; resolves false when another holds it. */
  async run(name: string, run: () => Promise<void>): Promise<boolean> {
    let claim = this.held.get(name);
    if (!claim || claim.lost) {
      try {
        claim = await HeldClaim.take(this.fhir(), systems.adapter, `job/${name}`, 0);
      } catch (err) {
        if (err instanceof ClaimBusyError) return false;
        throw err;
      }
      claim.keepRenewed();
      this.held.set(name, claim);
    }
    await run();
    return true;
  }

  /** Whether this process holds the job's lease now. */
  holds(name: string): boolean {
    const claim = this.held.get(name);
    return claim !== undefined && !claim.lost;
  }

  /** Releases every lease held (graceful stop). */
  async release(): Promise<void> {
    const claims = [...this.held.values()];
    this.held.clear();
    await Promise.all(claims.map((c) => c.release()));
  }
}

async function withClaim<T>(
  fhir: FhirClient,
  of: { system: string; key: string },
  waitMs: number,
  work: (claim: RecordClaim) => Promise<T>,
): Promise<T> {
  const claim = await HeldClaim.take(fhir, of.system, of.key, waitMs);
  claim.keepRenewed();
  try {
    return await work(claim);
  } finally {
    await claim.release();
  }
}

function takenOver(of: { system: string; key: string }): ClaimBusyError {
  return new ClaimBusyError(
    409,
    outcome([
      issue(
        'conflict',
        'conflict',
        `Another adapter replica took over writing this record (${of.system}|${of.key}) while this send waited; send it again.`,
      ),
    ]),
    1,
  );
}

/** A claim this process holds: renewed in the background until released or lost to a takeover. */
class HeldClaim implements RecordClaim {
  lost = false;
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: NodeJS.Timeout;

  private constructor(
    private readonly fhir: FhirClient,
    private readonly of: { system: string; key: string },
    private current: ClaimState,
    private readonly holder: string,
  ) {}

  static async take(fhir: FhirClient, system: string, key: string, waitMs: number): Promise<HeldClaim> {
    const state = await takeClaim(fhir, system, key, waitMs);
    return new HeldClaim(fhir, { system, key }, state, state.holder);
  }

  keepRenewed(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.renew(), claimTtlMs / 3);
    this.timer.unref();
  }

  private renew(): void {
    this.chain = this.chain.then(async () => {
      if (this.lost) return;
      try {
        this.current = await put(this.fhir, this.current, this.holder, Date.now() + claimTtlMs);
      } catch (err) {
        // Unreachable: tried again at the next tick (the claim lasts claimTtlMs). Taken over (412): lost,
        // unless the 412 met our own renewal whose first answer was lost after the commit.
        if (err instanceof WriteConflictError) {
          const now = await readClaim(this.fhir, this.of.system, this.of.key).catch(() => undefined);
          if (now?.holder === this.holder) this.current = now;
          else this.lost = true;
        }
      }
    });
  }

  async releaseEntry(): Promise<BundleEntry<Basic>> {
    clearInterval(this.timer);
    await this.chain;
    if (this.lost) throw takenOver(this.of);
    const { claim } = this.current;
    return {
      fullUrl: `Basic/${claim.id}`,
      resource: { ...claimResource(this.of.system, this.of.key, undefined, Date.now(), claim.id), identifier: claim.identifier },
      request: { method: 'PUT', url: `Basic/${claim.id}`, ifMatch: `W/"${claim.meta?.versionId}"` },
    };
  }

  released(): void {
    this.lost = true;
  }

  async notReleased(conflict: boolean): Promise<void> {
    if (conflict) {
      const now = await readClaim(this.fhir, this.of.system, this.of.key);
      if (now?.holder !== this.holder) {
        this.lost = true;
        throw takenOver(this.of);
      }
      this.current = now;
    }
    this.keepRenewed();
  }

  /** Stops renewing and releases it (the next taker need not wait); a release that fails leaves it to expire. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.chain;
    if (this.lost) return;
    this.lost = true;
    await put(this.fhir, this.current, undefined, Date.now()).catch(() => undefined);
  }
}

/** Writes a new version of a claim we hold, If-Match the version we last saw. */
async function put(fhir: FhirClient, state: ClaimState, holder: string | undefined, expiresAt: number): Promise<ClaimState> {
  const source = state.claim.identifier?.[0]?.system ?? '';
  const value = state.claim.identifier?.[0]?.value ?? '';
  const recordId = value.replace(/\/claim$/, '');
  const resource = { ...claimResource(source, recordId, holder, expiresAt, state.claim.id), identifier: state.claim.identifier };
  const response = await claimTransaction(fhir, {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: `Basic/${state.claim.id}`,
        resource,
        request: { method: 'PUT', url: `Basic/${state.claim.id}`, ifMatch: `W/"${state.claim.meta?.versionId}"` },
      },
    ],
  });
  const written = entryClaim(response) ?? { ...resource, id: state.claim.id, meta: { versionId: versionOf(response) } };
  return { ...readState(written), holder };
}

function versionOf(response: Bundle): string | undefined {
  const etag = response.entry?.[0]?.response?.etag;
  return etag ? (/W\/"([^"]+)"/.exec(etag)?.[1] ?? etag) : undefined;
}

/** Reads the record's claim as it stands on the server (exact identifier match; searches match loosely). */
async function readClaim(fhir: FhirClient, source: string, recordId: string): Promise<ClaimState | undefined> {
  const id = slotIdentifier(source, recordId, 'claim');
  const bundle = await fhir.search('Basic', { identifier: tokenSearchValue(id.system ?? '', id.value ?? '') });
  const found = (bundle.entry ?? [])
    .map((e) => e.resource)
    .find(
      (r): r is Basic & { id: string } => r?.resourceType === 'Basic' && Boolean(r.id) && hasIdentifier(r, id.system ?? '', id.value ?? ''),
    );
  return found ? readState(found) : undefined;
}

/** Takes the record's claim: creates it, takes it over once released or expired, or waits for it. */
async function takeClaim(fhir: FhirClient, source: string, recordId: string, waitMs: number): Promise<ClaimState & { holder: string }> {
  const holder = randomUUID();
  const id = slotIdentifier(source, recordId, 'claim');
  const giveUpAt = Date.now() + waitMs;
  // Read first: a resend (the common case) finds its released claim and takes it with one PUT, and an
  // unreachable server fails here as on any read (retried in place, counted by the breaker).
  let state = await readClaim(fhir, source, recordId);
  for (let round = 0; ; round++) {
    if (!state) {
      const resource = claimResource(source, recordId, holder, Date.now() + claimTtlMs);
      const response = await claimTransaction(fhir, {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            fullUrl: `urn:uuid:${randomUUID()}`,
            resource,
            request: {
              method: 'POST',
              url: 'Basic',
              ifNoneExist: `identifier=${encodeURIComponent(tokenSearchValue(id.system ?? '', id.value ?? ''))}`,
            },
          },
        ],
      });
      const answered = entryClaim(response);
      const status = response.entry?.[0]?.response?.status ?? '';
      if (answered) {
        state = readState(answered);
        if (state.holder === holder) return { ...state, holder };
      } else if (status.startsWith('201')) {
        // Created by us, but the server did not return it: read it back for its id and version.
        state = await readClaim(fhir, source, recordId);
        if (state?.holder === holder) return { ...state, holder };
      } else {
        state = await readClaim(fhir, source, recordId);
      }
      if (!state) continue;
    }
    if (state.holder === holder && state.expiresAt > Date.now()) {
      // Our own takeover landed, though its answer was lost.
      return { ...state, holder };
    }
    if (!state.holder || state.expiresAt <= Date.now()) {
      try {
        const taken = await put(fhir, state, holder, Date.now() + claimTtlMs);
        return { ...taken, holder };
      } catch (err) {
        if (!(err instanceof WriteConflictError)) throw err;
        // Another replica took it first: look again.
      }
    } else if (Date.now() >= giveUpAt) {
      const seconds = Math.max(1, Math.ceil((state.expiresAt - Date.now()) / 1000));
      throw new ClaimBusyError(
        409,
        outcome([
          issue(
            'conflict',
            'conflict',
            `Another adapter replica is writing this record (${source}|${recordId}) right now; send it again in ${seconds} s.`,
          ),
        ]),
        seconds,
      );
    } else {
      // Jittered, growing a little: replicas waiting on one claim do not poll in step.
      // Backing off: a waiting replica's reads must not slow down the writer it waits for.
      await sleep(Math.min(250, 20 * 1.5 ** round) * (0.5 + Math.random() / 2));
    }
    state = await readClaim(fhir, source, recordId);
  }
}
