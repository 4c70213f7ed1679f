import type { MikroORM } from '@mikro-orm/postgresql';
import type { NativeConnection } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import { Pool } from 'pg';
import { createActivities } from '../activities';
import { baselineActivities } from '../activities/baseline';
import type { Config } from '../config';
import { SandboxCarrier, SandboxPaymentGateway } from '../sandbox';

export interface Sandboxes {
  gateway: SandboxPaymentGateway;
  carrier: SandboxCarrier;
  close(): Promise<void>;
}

/**
 * The simulated providers, with their own storage (schema `sandbox`) and webhooks posted to the API
 * over HTTP like a real provider's. A real adapter would replace them behind the same interfaces.
 */
export async function openSandboxes(config: Config, databaseUrl: string): Promise<Sandboxes> {
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
  return {
    gateway,
    carrier,
    async close() {
      await carrier.stop();
      await gateway.close();
      await pool.end();
    },
  };
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
    workflowsPath: require.resolve('../workflows'),
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
