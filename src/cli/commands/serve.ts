import { readEnv } from '../../config/env.js';
import { startService } from '../../server/start.js';

/** `serve`: runs the adapter (and, without FHIR_BASE_URL, the embedded FHIR server) until stopped. */
export async function serve(): Promise<number | undefined> {
  const env = readEnv();
  const service = await startService(env);
  if (env.apiTokenGenerated) {
    console.log(`No API_TOKEN was set; this run accepts the generated token:\n  ${env.apiToken}`);
  }
  console.log(`peer-pathways-fhir listening on ${service.url}${service.embedded ? ` (embedded FHIR server at ${service.url}/fhir/R4)` : ''}`);
  const stop = async () => {
    await service.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return undefined;
}
