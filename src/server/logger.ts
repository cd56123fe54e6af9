import { pino, type Logger } from 'pino';

/**
 * Structured logs that never carry record content: request bodies are never logged, and the paths
 * below are redacted in case a future log line passes an object that holds them.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'peer-pathways-fhir' },
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', 'authorization', 'body', 'record', 'peerNotes', '*.peerNotes', 'accessToken', 'clientSecret', 'token'],
      censor: '[redacted]',
    },
  });
}
