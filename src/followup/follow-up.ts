import type { Logger } from 'pino';
import type { WebhooksConfig } from '../config/followup-schema.js';
import { MappingsError } from '../config/mappings.js';
import type { FhirClient } from '../fhir/client.js';
import type { FollowUpRules } from './escalation.js';
import { runFollowUp } from './overdue.js';
import { Scheduler, type Clock } from './scheduler.js';
import { TaskChangeNotifier } from './task-changes.js';
import type { WebhookTarget } from './webhook-delivery.js';

/** What the follow-up jobs need. */
export interface FollowUpOptions {
  /** The adapter's FHIR client (looked up on each run: it is made once the port is known). */
  fhir: () => FhirClient;
  rules: FollowUpRules;
  webhooks: WebhooksConfig;
  /** 0 turns the job off. */
  escalationIntervalMs: number;
  webhookIntervalMs: number;
  webhookRetryBaseMs: number;
  clock: Clock;
  log: Logger;
  /** Where webhook secrets are read (process.env in the service). */
  secrets: NodeJS.ProcessEnv;
  /** Gates each scheduled run so that one process at a time runs a job (see Scheduler). */
  exclusive?: (name: string, run: () => Promise<void>) => Promise<boolean>;
}

/** Each source's webhook with its secret; a secret variable that is unset stops start-up. */
export function webhookTargets(config: WebhooksConfig, secrets: NodeJS.ProcessEnv): Map<string, WebhookTarget> {
  return new Map(
    Object.entries(config.sources).map(([source, hook]) => {
      const secret = secrets[hook.secretEnv]?.trim();
      if (!secret) {
        throw new MappingsError([
          {
            file: 'webhooks.json',
            path: `sources["${source}"].secretEnv`,
            message: `names ${hook.secretEnv}, which is not set in the environment`,
          },
        ]);
      }
      return [source, { url: hook.url, secret }];
    }),
  );
}

/** The loop back to the source: overdue escalation and reminders, and webhook pushes of Task changes. */
export class FollowUp {
  readonly escalation: Scheduler;
  readonly notifier: TaskChangeNotifier;
  readonly webhooks: Scheduler;

  constructor(opts: FollowUpOptions) {
    this.escalation = new Scheduler(
      'escalation',
      opts.escalationIntervalMs,
      (now) => runFollowUp(opts.fhir(), opts.rules, now, opts.log),
      opts.clock,
      opts.log,
      opts.exclusive,
    );
    this.notifier = new TaskChangeNotifier(opts.fhir, webhookTargets(opts.webhooks, opts.secrets), {
      retryBaseMs: opts.webhookRetryBaseMs,
      clock: opts.clock,
      log: opts.log,
    });
    this.webhooks = new Scheduler(
      'webhooks',
      this.notifier.active ? opts.webhookIntervalMs : 0,
      () => this.notifier.poll(),
      opts.clock,
      opts.log,
      opts.exclusive,
    );
  }

  /** Starts both schedules (each only if its interval is not 0). */
  start(): void {
    this.escalation.start();
    this.webhooks.start();
  }

  /** Stops both schedules, waiting for runs in progress. */
  async stop(): Promise<void> {
    await Promise.all([this.escalation.stop(), this.webhooks.stop()]);
  }
}
