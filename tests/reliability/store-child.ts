// A service in its own process on a shared DATA_DIR, for the store's multi-process tests (not a test file).
// It prints one JSON line: `{"url":…}` once listening. With ESCALATE_AT set, it prints `{"ready":true}`,
// waits for a line on stdin (so that several children start together), runs escalation passes at
// ESCALATE_AT, prints `{"escalated":true}` and exits.
import { createInterface } from 'node:readline';
import { readEnv } from '../../src/config/env.js';
import { startService } from '../../src/server/start.js';

const service = await startService(
  readEnv({ PORT: '0', LOG_LEVEL: 'silent', ESCALATION_INTERVAL_MS: '0', WEBHOOK_INTERVAL_MS: '0', ...process.env }),
  { host: '127.0.0.1' },
);
const escalateAt = process.env.ESCALATE_AT;
if (escalateAt) {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  await new Promise((resolve) => createInterface({ input: process.stdin }).once('line', resolve));
  // Several passes, as a schedule would run them, racing the other process's passes.
  for (let i = 0; i < 3; i++) await service.followUp.escalation.runOnce(new Date(escalateAt));
  process.stdout.write(`${JSON.stringify({ escalated: true })}\n`);
  await service.close();
  process.exit(0);
}
process.stdout.write(`${JSON.stringify({ url: service.url })}\n`);
