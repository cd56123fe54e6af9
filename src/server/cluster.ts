import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { EnvConfig } from '../config/env.js';

/**
 * How many adapter processes `serve` runs: WORKERS (default: the cores), except that an in-memory
 * store cannot be shared between processes (nor can a token generated into it), so DATA_DIR=:memory:
 * runs one. Returns the count and, when it differs from WORKERS, why.
 */
export function workerCount(env: EnvConfig): { workers: number; reason?: string } {
  if (env.dataDir === ':memory:' && env.workers > 1) {
    return {
      workers: 1,
      reason: `DATA_DIR=:memory: cannot be shared between processes: running 1 worker instead of WORKERS=${env.workers}`,
    };
  }
  return { workers: env.workers };
}

/** A worker that dies this soon after its start is not restarted at once (a start-up fault would loop). */
const restartBackoffMs = 1_000;

/**
 * Cluster mode (https://nodejs.org/api/cluster.html): this primary process forks `workers` adapter
 * processes that share PORT (the primary accepts and hands connections round-robin) and DATA_DIR (each
 * worker opens the embedded SQLite store itself: WAL, one SQL transaction per FHIR transaction, so
 * several processes on one store are safe — issue 12). The embedded FHIR server lives in every worker
 * rather than in the primary: the adapter then reads and writes its store in process (no HTTP hop, no
 * single process every write funnels through), and the primary stays a supervisor with nothing to crash.
 *
 * The first worker starts alone (it creates the store and any generated API token); the rest follow once
 * it listens. A worker that dies is replaced. SIGTERM/SIGINT to the primary are passed to every worker,
 * each of which stops gracefully (answers what is in flight, within SHUTDOWN_GRACE_MS); the primary exits
 * 0 when every worker did, 1 otherwise. Scheduled jobs run in one worker at a time (JobLeases).
 */
export async function superviseWorkers(workers: number, log: Logger): Promise<void> {
  // Each worker accepts from the shared socket itself (SCHED_NONE), rather than the primary accepting and
  // handing connections over (round-robin): on SIGTERM a worker's Drain then answers every connection the
  // kernel has completed, as a single process does; with round-robin, connections still queued in the
  // primary when the last worker stops listening are reset (measured: 30 of a 50-request burst). A busy
  // worker is not waiting in accept, so new connections go to the idle one.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  let failed = false;
  let listened = false;
  const started = new Map<Worker, number>();
  const serving = new Set<Worker>();
  const fork = (): Worker => {
    const worker = cluster.fork();
    started.set(worker, Date.now());
    worker.once('listening', () => serving.add(worker));
    worker.once('exit', (code, signal) => {
      const ranMs = Date.now() - (started.get(worker) ?? 0);
      const wasServing = serving.delete(worker);
      started.delete(worker);
      if (!listened) {
        // The first worker could not start (its reason is on stderr): nothing to supervise.
        process.exit(typeof code === 'number' && code !== 0 ? code : 1);
      }
      if (stopping) {
        // A worker stopped while still loading (before it took its signal handlers) had taken no request.
        if (code !== 0 && !(signal === 'SIGTERM' && !wasServing)) failed = true;
        if (started.size === 0) process.exit(failed ? 1 : 0);
        return;
      }
      log.error({ pid: worker.process.pid, code, signal }, 'cluster: a worker died; starting another');
      setTimeout(
        () => {
          if (!stopping) fork();
        },
        ranMs < restartBackoffMs ? restartBackoffMs : 0,
      );
    });
    return worker;
  };
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers: started.size }, 'cluster: stopping every worker gracefully');
    if (started.size === 0) process.exit(0);
    for (const worker of started.keys()) worker.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  log.info({ workers, pid: process.pid }, `cluster: running ${workers} adapter workers on one port and one DATA_DIR (WORKERS)`);
  const first = fork();
  await new Promise<void>((resolve) => first.once('listening', () => resolve()));
  listened = true;
  for (let i = 1; i < workers && !stopping; i++) fork();
}
