import { readEnv } from '../../config/env.js';
import { startService } from '../../server/start.js';

/** `serve`: runs the adapter (and, without FHIR_BASE_URL, the embedded FHIR server) until stopped. */
export async function serve(): Promise<number | undefined> {
  const env = readEnv();
  const service = await startService(env);
  // Shown once, on the start that generated it; later starts reuse the file without repeating it.
  if (service.generatedApiToken) {
    const kept = service.apiTokenFile ? `; it is kept in ${service.apiTokenFile} for later starts` : ' (DATA_DIR=:memory:: this run only)';
    console.log(`No API_TOKEN was set; generated one${kept}:\n  ${service.generatedApiToken}`);
  } else if (service.apiTokenFile) {
    console.log(`No API_TOKEN was set; the token generated at first start is in ${service.apiTokenFile}.`);
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
