/**
 * A FIFO async mutex: callers run one at a time in arrival order. The embedded store uses it to give each
 * call of this process its turn on the one SQLite connection: node:sqlite is synchronous, but a FHIR
 * transaction is an async callback that must not share its open SQL transaction with another request.
 * (Other processes are kept apart by SQLite's own locks.)
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs fn once every earlier caller has finished. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    // The next caller waits for this one whether it succeeds or fails.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
