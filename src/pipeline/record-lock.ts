/**
 * Serialises work on one record key inside this process, so that concurrent resends of the same
 * `recordId` see each other's writes instead of both creating. (Across replicas the FHIR server's
 * If-Match on updates is the guard; see README "Running in production".)
 */
export class RecordLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` once every earlier holder of `key` has finished. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prior = this.tails.get(key) ?? Promise.resolve();
    const next = prior.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
