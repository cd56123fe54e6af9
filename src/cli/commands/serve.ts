import cluster from 'node:cluster';
import v8 from 'node:v8';
import { readEnv } from '../../config/env.js';
import { superviseWorkers, workerCount } from '../../server/cluster.js';
import { createLogger } from '../../server/logger.js';
import { StartCancelled, startService } from '../../server/start.js';
import type { CliCommand } from '../program.js';

/**
 * How far V8 lets the old generation grow past what the last full GC kept, in percent. V8's own factor on
 * a machine with this much memory is up to 300 %: under 50 concurrent requests each record's short-lived
 * objects outlive two scavenges and are promoted (~200 KB a record), so the old generation filled with
 * garbage to ~240 MB before a full GC, and the process peaked at ~455 MB RSS after 1,000 records with
 * ~80 MB live. At 50 % it peaks at ~260 MB for ~5 % more CPU per record (README "Performance"). V8 reads
 * the flag at every GC, so setting it at start-up takes effect; it bounds growth, not the heap: a request
 * that needs more memory still gets it.
 */
const heapGrowingPercent = 50;

/**
 * `serve`: runs the adapter (and, without FHIR_BASE_URL, the embedded FHIR server) until SIGTERM or
 * SIGINT, which stop it gracefully (src/server/start.ts: stop accepting, answer what is in flight, stop
 * the jobs, close the store) within SHUTDOWN_GRACE_MS; the process exits 0 when all was answered.
 */
export const serveCommand: CliCommand = {
  name: 'serve',
  define: (cmd) =>
    cmd.description(
      'run the adapter on HOST:PORT (embedded FHIR server at /fhir/R4 unless FHIR_BASE_URL is set); configured by environment variables (README, Configuration); SIGTERM stops it gracefully',
    ),
  async run(_opts, _operands, io) {
    v8.setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
    const env = readEnv();
    const { workers, reason } = workerCount(env);
    if (cluster.isPrimary && workers > 1) {
      // Cluster mode (the default): this process supervises; each worker runs this command again.
      await superviseWorkers(workers, createLogger(env.logLevel), { port: env.port, host: env.host });
      return undefined;
    }
    // Signals are taken from the start: a cluster worker told to stop while still starting stops cleanly once up.
    let requested: NodeJS.Signals | undefined;
    const early = (signal: NodeJS.Signals) => {
      requested ??= signal;
    };
    process.on('SIGINT', early);
    process.on('SIGTERM', early);
    let service: Awaited<ReturnType<typeof startService>>;
    try {
      service = await startService(env, { stopRequested: () => requested !== undefined });
    } catch (err) {
      // Told to stop before it listened: it took no request; a clean stop.
      if (err instanceof StartCancelled) process.exit(0);
      throw err;
    }
    process.off('SIGINT', early);
    process.off('SIGTERM', early);
    if (reason) service.log.warn({ workers: 1 }, reason);
    // Shown once, on the start that generated it; later starts reuse the file without repeating it.
    if (service.generatedApiToken) {
      const kept = service.apiTokenFile
        ? `; it is kept in ${service.apiTokenFile} for later starts`
        : ' (DATA_DIR=:memory:: this run only)';
      io.out(`No API_TOKEN was set; generated one${kept}:\n  ${service.generatedApiToken}`);
    } else if (service.apiTokenFile) {
      io.out(`No API_TOKEN was set; the token generated at first start is in ${service.apiTokenFile}.`);
    }
    io.out(`peer-pathways-fhir listening on ${service.listening}`);
    if (service.embedded) io.out(`Embedded FHIR server: ${service.url}/fhir/R4 (FHIR base), token endpoint ${service.url}/oauth2/token`);
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      // A second signal while draining changes nothing: the grace period already bounds the wait.
      if (stopping) return;
      stopping = true;
      service.shutdown(signal).then(
        (clean) => process.exit(clean ? 0 : 1),
        () => process.exit(1),
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (requested) stop(requested);
    return undefined;
  },
};
