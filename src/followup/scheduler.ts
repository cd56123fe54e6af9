import type { Logger } from 'pino';

/** The time source of a scheduler: injected so that tests decide what "now" is. */
export type Clock = () => Date;

/**
 * Runs a job every `intervalMs` (0: never), one run at a time: the next run is scheduled only after the
 * previous one finished, so a slow FHIR server never piles runs up. A failed run is logged by error
 * name only (its message may hold server content) and the next run tries again.
 */
export class Scheduler {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly job: (now: Date) => Promise<unknown>,
    private readonly clock: Clock,
    private readonly log: Logger,
    /**
     * Runs a scheduled run only where it may run (the job's lease across processes, src/fhir/record-claim.ts);
     * resolves false when another process holds it. Runs by hand (runOnce) are not gated.
     */
    private readonly exclusive?: (name: string, run: () => Promise<void>) => Promise<boolean>,
  ) {}

  /** Starts the schedule; the first run is one interval after start. */
  start(): void {
    if (this.intervalMs > 0 && !this.stopped) this.schedule();
  }

  /** Runs the job once now (or at the given time), after any run in progress. */
  async runOnce(now: Date = this.clock()): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
    this.running = this.job(now)
      .then(() => undefined)
      .finally(() => {
        this.running = undefined;
      });
    await this.running;
  }

  /** Stops the schedule and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      (this.exclusive ? this.exclusive(this.name, () => this.runOnce()) : this.runOnce())
        .catch((err: unknown) => {
          this.log.error({ job: this.name, errorName: (err as Error)?.name }, 'scheduled job failed; retrying next interval');
        })
        .finally(() => {
          if (!this.stopped) this.schedule();
        });
    }, this.intervalMs);
    // A pending run never keeps the process alive on its own.
    this.timer.unref();
  }
}
