import { randomUUID } from 'node:crypto';
import type { Basic, Bundle } from '@medplum/fhirtypes';
import { AdapterError, fhirUnavailable, issue, outcome } from '../outcomes/index.js';
import { WriteConflictError } from './client.js';

/** How long a verified rollback is trusted: a project setting changes rarely, and each probe writes. */
const verifiedTtlMs = 60 * 60_000;

/** How long a server found not to roll back is refused before it is probed again (enabling the feature takes effect this soon). */
const notAtomicTtlMs = 60_000;

/**
 * An inconclusive probe (server unreachable) is not remembered: the next write probes again, so a
 * server that comes back is written to at once. Concurrent writes share one probe, and while the
 * server is down the circuit breaker makes each probe fail fast.
 */
const unknownTtlMs = 0;

/** Seconds a caller is told to wait when writes are refused because the server does not roll back. */
const notAtomicRetryAfterSeconds = 60;

/** The probe's own identifier system: no record, site or EHR writes Basic resources under it. */
export const probeSystem = 'http://peer-pathways.example.org/fhir/adapter/rollback-probe';

/** What the probe found out about the target server. */
export interface RollbackVerdict {
  state: 'verified' | 'not-atomic' | 'unknown';
  checkedAt: number;
  /** Why, in words fit for /ready and an OperationOutcome. */
  reason: string;
}

/** The FHIR calls the probe needs (the FhirClient, without retries). */
export interface ProbeIo {
  transaction(bundle: Bundle): Promise<Bundle>;
  search(type: string, query: Record<string, string>): Promise<Bundle>;
  delete(type: string, id: string): Promise<void>;
}

/** True for a transaction that carries the rollback probe (fault-injection tests let it through). */
export function isRollbackProbe(bundle: Bundle | undefined): boolean {
  const first = bundle?.entry?.[0]?.resource as Basic | undefined;
  return first?.resourceType === 'Basic' && first.identifier?.[0]?.system === probeSystem;
}

/**
 * A transaction whose 2nd entry fails on purpose (a read of a resource that cannot exist): a server
 * with transaction semantics refuses it whole, one running it as a batch keeps the 1st entry.
 */
function probeBundle(token: string): Bundle {
  const probe: Basic = {
    resourceType: 'Basic',
    identifier: [{ system: probeSystem, value: token }],
    code: { coding: [{ system: probeSystem, code: 'rollback-probe' }] },
  };
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: `urn:uuid:${token}`, resource: probe, request: { method: 'POST', url: 'Basic' } },
      { request: { method: 'GET', url: `Basic/${token}` } },
    ],
  };
}

/** True for an error that means the server refused the probe transaction (what an atomic server does). */
function refused(err: unknown): boolean {
  return err instanceof WriteConflictError || (err instanceof AdapterError && err.status === 502);
}

/**
 * Checks that the target FHIR server really rolls back a failed transaction (on Medplum only with the
 * project feature `transaction-bundles`; otherwise a transaction silently runs as a batch). Cached:
 * it runs at start-up and then at most once per TTL, never per record.
 */
export class RollbackCheck {
  private last?: RollbackVerdict;
  private running?: Promise<RollbackVerdict>;

  constructor(
    private readonly io: ProbeIo,
    private readonly now: () => number = Date.now,
  ) {}

  /** The last verdict, without probing (for /ready). */
  get current(): RollbackVerdict | undefined {
    return this.last;
  }

  /** The cached verdict, probing first when there is none or it has expired. */
  verdict(): Promise<RollbackVerdict> {
    if (this.last && this.now() - this.last.checkedAt < ttl(this.last.state)) return Promise.resolve(this.last);
    this.running ??= this.probe()
      .then((v) => (this.last = v))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Throws a 503 with the reason unless the server is known to roll back failed transactions. */
  async require(): Promise<void> {
    const v = await this.verdict();
    if (v.state === 'verified') return;
    if (v.state === 'unknown') throw fhirUnavailable(v.reason);
    throw new AdapterError(
      503,
      outcome([
        issue(
          'fhir-not-atomic',
          'not-supported',
          `${v.reason} The adapter refuses to write, so that a record is never half-written. On Medplum, enable the project feature "transaction-bundles". Nothing was written; send the same record again once it is enabled.`,
        ),
      ]),
      notAtomicRetryAfterSeconds,
    );
  }

  private async probe(): Promise<RollbackVerdict> {
    const token = randomUUID();
    const checkedAt = this.now();
    try {
      await this.io.transaction(probeBundle(token));
      await this.cleanUp(token);
      return {
        state: 'not-atomic',
        checkedAt,
        reason: 'The FHIR server accepted a transaction with a failing entry, so it runs transactions as batches.',
      };
    } catch (err) {
      if (!refused(err)) return { state: 'unknown', checkedAt, reason: 'the transaction rollback check could not run' };
    }
    try {
      const leftBehind = await this.cleanUp(token);
      return leftBehind
        ? { state: 'not-atomic', checkedAt, reason: 'The FHIR server kept the first entry of a failed transaction: it does not roll back.' }
        : { state: 'verified', checkedAt, reason: 'The FHIR server rolled back a failed transaction.' };
    } catch {
      return { state: 'unknown', checkedAt, reason: 'the transaction rollback check could not read its result' };
    }
  }

  /** Deletes whatever the probe left behind; true when it found something. */
  private async cleanUp(token: string): Promise<boolean> {
    const found = await this.io.search('Basic', { identifier: `${probeSystem}|${token}` });
    const ids = (found.entry ?? []).map((e) => e.resource?.id).filter((id): id is string => !!id);
    for (const id of ids) await this.io.delete('Basic', id).catch(() => undefined);
    return ids.length > 0;
  }
}

function ttl(state: RollbackVerdict['state']): number {
  return state === 'verified' ? verifiedTtlMs : state === 'not-atomic' ? notAtomicTtlMs : unknownTtlMs;
}
