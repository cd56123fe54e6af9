/** A FIFO async mutex: callers run one at a time in arrival order. */
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
