import type { MikroORM } from '@mikro-orm/postgresql';
import type { NativeConnection } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import { Pool } from 'pg';
import { createActivities } from '../activities';
import { baselineActivities } from '../activities/baseline';
import { emailRelayUrl, type Config } from '../config';
import type { MessageSender } from '../domain/ports';
import { sandboxPushSender, sandboxSmsSender, SmtpEmailSender } from '../notifications/senders';
import { SandboxCarrier, SandboxMailbox, SandboxPaymentGateway, SandboxPush, SandboxSms } from '../sandbox';

export interface Sandboxes {
  gateway: SandboxPaymentGateway;
  carrier: SandboxCarrier;
  /** The SMTP sink email goes to unless SMTP_URL says otherwise; listening once opened. Never in production. */
  mailbox?: SandboxMailbox;
  sms: SandboxSms;
  push: SandboxPush;
  /**
   * The message providers of the channels that leave the engine: email over SMTP (SMTP_URL, else the sandbox
   * mailbox), SMS and push through the sandboxes, in production too until real adapters exist.
   */
  senders: { email: MessageSender; sms: MessageSender; push: MessageSender };
  close(): Promise<void>;
}

/**
 * The simulated providers, with their own storage (schema `sandbox`) and webhooks posted to the API
 * over HTTP like a real provider's. A real adapter would replace them behind the same interfaces.
 * Production has no real payment, carrier, SMS or push adapter yet, so it runs these sandboxes too, but not the
 * mailbox: its email goes to SMTP_URL, required there (a ConfigError before anything is opened).
 */
export async function openSandboxes(config: Config, databaseUrl: string): Promise<Sandboxes> {
  const production = config.NODE_ENV === 'production';
  // Production without SMTP_URL is refused here, before anything is opened.
  if (production) emailRelayUrl(config, undefined);
  const pool = new Pool({ connectionString: databaseUrl, max: 10 });
  const gateway = await SandboxPaymentGateway.create(pool, {
    latencyMs: config.SANDBOX_PAYMENT_LATENCY,
    failureRate: config.SANDBOX_PAYMENT_FAILURE_RATE,
    webhookUrl: `${config.publicUrl}/v1/webhooks/payment`,
    webhookSecret: config.PAYMENT_WEBHOOK_SECRET,
  });
  const carrier = await SandboxCarrier.create(pool, {
    mode: config.SANDBOX_CARRIER_MODE,
    stepMs: config.SANDBOX_CARRIER_STEP,
    latencyMs: config.SANDBOX_CARRIER_LATENCY,
    failureRate: config.SANDBOX_CARRIER_FAILURE_RATE,
    webhookUrl: `${config.publicUrl}/v1/webhooks/carrier`,
    webhookSecret: config.CARRIER_WEBHOOK_SECRET,
    labelBaseUrl: config.publicUrl,
  });
  if (config.SANDBOX_CARRIER_MODE === 'auto') carrier.start();
  const sms = await SandboxSms.create(pool, {
    latencyMs: config.SANDBOX_SMS_LATENCY,
    failureRate: config.SANDBOX_SMS_FAILURE_RATE,
  });
  const push = await SandboxPush.create(pool, {
    latencyMs: config.SANDBOX_PUSH_LATENCY,
    failureRate: config.SANDBOX_PUSH_FAILURE_RATE,
  });
  // With SMTP_URL set, email goes there and no sandbox mailbox is needed.
  const mailbox = production || config.SMTP_URL ? undefined : await openMailbox(pool, config.SANDBOX_SMTP_PORT);
  // One kept-open connection per send the dispatcher runs at once.
  const email = new SmtpEmailSender({
    url: emailRelayUrl(config, mailbox?.url),
    from: config.MAIL_FROM,
    maxConnections: config.NOTIFY_CONCURRENCY,
  });
  return {
    gateway,
    carrier,
    mailbox,
    sms,
    push,
    senders: { email, sms: sandboxSmsSender(sms), push: sandboxPushSender(push) },
    async close() {
      email.close();
      await mailbox?.stop();
      await carrier.stop();
      await gateway.close();
      await pool.end();
    },
  };
}

/**
 * The mailbox on its port, or on a free one when that is taken: a second process of the engine on this machine (a
 * worker next to `npm start`) gets a sink of its own, writing to the same table, rather than failing to start.
 */
async function openMailbox(pool: Pool, port: number): Promise<SandboxMailbox> {
  const mailbox = await SandboxMailbox.create(pool, { port });
  try {
    await mailbox.start();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw error;
    await mailbox.start(0);
    console.warn(`[sandbox] port ${port} is taken: the sandbox mailbox listens on ${mailbox.url} instead`);
  }
  return mailbox;
}

export async function createOrderWorker(deps: {
  config: Config;
  connection: NativeConnection;
  orm: MikroORM;
  sandboxes: Sandboxes;
}): Promise<Worker> {
  const { config, connection, orm, sandboxes } = deps;
  return Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    // Production workers load the workflows bundled at build time (`npm run bundle`); others bundle them at start.
    ...(config.WORKFLOW_BUNDLE_PATH
      ? { workflowBundle: { codePath: config.WORKFLOW_BUNDLE_PATH } }
      : { workflowsPath: require.resolve('../workflows') }),
    activities: {
      ...createActivities({
        orm,
        gateway: sandboxes.gateway,
        carrier: sandboxes.carrier,
        pricing: { shippingFee: config.ORDER_SHIPPING_FEE, freeShippingOver: config.ORDER_FREE_SHIPPING_OVER },
      }),
      ...baselineActivities,
    },
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    shutdownGraceTime: config.WORKER_SHUTDOWN_GRACE,
  });
}
