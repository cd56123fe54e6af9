import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:net';
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

/**
 * Whether a cluster worker binds a listening socket of its own on PORT (SO_REUSEPORT), where the kernel
 * spreads new connections evenly over the workers' sockets (Linux 3.9+, FreeBSD 12+: Node's
 * `server.listen({ reusePort })`, https://nodejs.org/api/net.html#serverlistenoptions-callback). The
 * alternatives measured worse: with one shared socket that every worker accepts from (SCHED_NONE), the
 * worker woken first accepted a client's whole burst of connections (WORKERS=2, 50 keep-alive clients:
 * one worker served 97 % of the records, so a second core added nothing); round-robin through the
 * primary (SCHED_RR) balances, but resets the connections still queued in the primary when the workers
 * stop listening on SIGTERM (30 of a 50-request burst). With its own socket each worker accepts and
 * drains like a single process.
 */
const reusePortPlatforms = new Set<NodeJS.Platform>(['linux', 'freebsd']);

function workersOwnSockets(): boolean {
  return reusePortPlatforms.has(process.platform);
}

/** The listen options of this process: its own SO_REUSEPORT socket when it is a cluster worker on such a platform. */
export function ownListeningSocket(): { exclusive?: boolean; reusePort?: boolean } {
  return cluster.isWorker && workersOwnSockets() ? { exclusive: true, reusePort: true } : {};
}

/** The message a worker on its own socket sends its primary once it listens (cluster's 'listening' is not emitted then). */
interface ListeningMessage {
  type: 'peer-pathways-listening';
  port: number;
}

/** Tells the primary that this worker listens on `port` (nothing outside cluster mode). */
export function announceListening(port: number): void {
  if (cluster.isWorker && process.send) process.send({ type: 'peer-pathways-listening', port } satisfies ListeningMessage);
}

function isListeningMessage(message: unknown): message is ListeningMessage {
  const m = message as Partial<ListeningMessage> | undefined;
  return m?.type === 'peer-pathways-listening' && typeof m.port === 'number';
}

/**
 * Fails (EADDRINUSE, as a single process would) when PORT is taken. Needed because the workers' sockets
 * share the port with any other SO_REUSEPORT socket: a second cluster started by accident on the same
 * PORT would otherwise split the connections with the first one, whatever its DATA_DIR.
 */
async function portIsFree(listen: { port: number; host: string }): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ port: listen.port, host: listen.host, exclusive: true }, () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/**
 * Holds, for as long as this primary lives, a Linux abstract Unix socket named after PORT: a second cluster
 * asking for the same PORT fails here (EADDRINUSE), even when it starts at the same moment as this one or
 * while this one's workers are being replaced (the port itself then has no listener for portIsFree to
 * find; measured by an outside tester: two clusters shared a port and each created the record once).
 * The kernel frees the name when the process ends, however it ends. Per port, whatever HOST: two clusters
 * on one port and different addresses are refused too.
 */
async function holdPortGuard(port: number): Promise<void> {
  const guard = createServer();
  await new Promise<void>((resolve, reject) => {
    guard.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        Object.assign(new Error(`listen EADDRINUSE: PORT ${port} is taken by another peer-pathways-fhir cluster on this machine`), {
          code: err.code ?? 'EADDRINUSE',
        }),
      ),
    );
    guard.listen({ path: `\0peer-pathways-fhir/port/${port}` }, () => resolve());
  });
  guard.unref();
}

/** A worker that dies this soon after its start is not restarted at once (a start-up fault would loop). */
const restartBackoffMs = 1_000;

/**
 * Cluster mode (https://nodejs.org/api/cluster.html): this primary process forks `workers` adapter
 * processes that share PORT (each on a socket of its own: ownListeningSocket) and DATA_DIR (each
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
export async function superviseWorkers(workers: number, log: Logger, listen: { port: number; host: string }): Promise<void> {
  // Where workers cannot have sockets of their own (ownListeningSocket), each accepts from the shared
  // socket itself (SCHED_NONE) rather than through the primary (round-robin), for the same reason: on
  // SIGTERM it drains like a single process.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  if (listen.port !== 0 && workersOwnSockets()) {
    await portIsFree(listen);
    if (process.platform === 'linux') await holdPortGuard(listen.port);
  }
  let stopping = false;
  let failed = false;
  let listened = false;
  const started = new Map<Worker, number>();
  const serving = new Set<Worker>();
  /** Called once the worker listens (the first worker's start is awaited). */
  const listeners = new Map<Worker, () => void>();
  // The port the first worker bound: the others bind the same one (PORT=0 picks one at the first start).
  let port: number | undefined;
  const fork = (): Worker => {
    // On a shared socket the primary binds PORT once for all (a worker given the bound port would bind it again).
    const worker = cluster.fork(port === undefined || !workersOwnSockets() ? {} : { PORT: String(port) });
    started.set(worker, Date.now());
    // Listening: cluster's event on a shared socket, the worker's message on a socket of its own.
    const onListening = (at: number | undefined) => {
      port ??= at;
      serving.add(worker);
      listeners.get(worker)?.();
    };
    worker.once('listening', (address: { port?: number }) => onListening(address.port));
    const onMessage = (message: unknown) => {
      if (!isListeningMessage(message)) return;
      worker.off('message', onMessage);
      onListening(message.port);
    };
    worker.on('message', onMessage);
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
      log.error({ workerPid: worker.process.pid, code, signal }, 'cluster: a worker died; starting another');
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
  log.info({ workers }, `cluster: running ${workers} adapter workers on one port and one DATA_DIR (WORKERS)`);
  const first = fork();
  await new Promise<void>((resolve) => listeners.set(first, resolve));
  listeners.delete(first);
  listened = true;
  for (let i = 1; i < workers && !stopping; i++) fork();
}
