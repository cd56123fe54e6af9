import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Fields censored wherever a log line carries them, in case a future line passes an object that holds
 * them: credentials of every kind, and record content (bodies, records, peer notes, summaries).
 */
export const redactedPaths = [
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.cookie',
  '*.headers.cookie',
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'access_token',
  '*.access_token',
  'refreshToken',
  'clientSecret',
  '*.clientSecret',
  'client_secret',
  'client_assertion',
  '*.client_assertion',
  'privateKey',
  '*.privateKey',
  'apiToken',
  'body',
  '*.body',
  'record',
  '*.record',
  'peerNotes',
  '*.peerNotes',
  'summary',
  '*.summary',
  'payload',
  '*.payload',
];

/**
 * Structured logs that never carry record content: request bodies are never logged, and the paths
 * above are redacted. `destination` defaults to stdout; tests pass a stream to read every line.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      // pid: in cluster mode (WORKERS) it tells which worker logged a line.
      base: { service: 'peer-pathways-fhir', pid: process.pid },
      redact: { paths: redactedPaths, censor: '[redacted]' },
    },
    destination,
  );
}
