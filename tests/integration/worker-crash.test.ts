import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app';
import { loadConfig, type Config } from '../../config';
import { openOrm } from '../../db/orm';
import { findFreePort, startEmbeddedPostgres, type DatabaseHandle } from '../../db/postgres';
import { seedDemoData } from '../../db/seed';
import { startDevServer } from '../../infra/temporal';
import { localActivityTypes } from '../helpers/histories';
import { apiClient } from '../helpers/http';
import { alive, reservePort, spawnTypeScript } from '../helpers/process';
import { openSandboxes, type Sandboxes } from '../../worker/runtime';

/**
 * A worker process killed (SIGKILL) while it captures a payment: a second worker picks the order up
 * after the activity times out, and the gateway's idempotency key keeps the capture to one. A worker
 * killed while a placement's local steps run: the next worker runs them again, and each takes effect
 * once. A worker and an API told to stop (SIGTERM) finish what they have in hand first.
 */

const TOKEN = 'sys-token';
let dataDir: string;
let db: DatabaseHandle;
let temporal: TestWorkflowEnvironment;
let orm: MikroORM;
let sandboxes: Sandboxes;
let app: FastifyInstance;
let config: Config;
let env: NodeJS.ProcessEnv;
const workers: ChildProcess[] = [];

function startWorker(extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawnTypeScript('worker/main.ts', {
    cwd: path.resolve(__dirname, '../..'),
    env: { ...env, ...extraEnv },
    stdio: 'ignore',
  });
  workers.push(child);
  return child;
}

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-engine-crash-'));
  const [database, server, api] = await Promise.all([
    findFreePort().then((pgPort) => startEmbeddedPostgres({ dataDir, port: pgPort })),
    startDevServer(),
    reservePort(),
  ]);
  const { port } = api;
  db = database;
  temporal = server;
  env = {
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    PORT: String(port),
    API_TOKENS: `${TOKEN}=system:shop`,
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_TASK_QUEUE: `orders-crash-${port}`,
    SANDBOX_CARRIER_MODE: 'manual',
    // Slow enough that the capture is still in flight when the worker is killed.
    SANDBOX_PAYMENT_LATENCY: '3s',
  };
  config = loadConfig(env);
  orm = await openOrm(db.url);
  await seedDemoData(orm.em);
  sandboxes = await openSandboxes(config, db.url);
  app = await buildApp({
    config,
    temporal: temporal.client,
    orm,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    sandbox: sandboxes,
  });
  await api.release();
  await app.listen({ host: '127.0.0.1', port });
});

afterAll(async () => {
  for (const worker of workers) if (worker.exitCode === null) worker.kill('SIGKILL');
  await app?.close();
  await sandboxes?.close();
  await orm?.close();
  await temporal?.teardown();
  await db?.stop();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

const { call, until } = apiClient(() => config.publicUrl, TOKEN);

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });

/** Stops every worker started so far the gentle way, so the next test chooses which one runs. */
async function stopWorkers(): Promise<void> {
  for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGTERM');
  await Promise.all(workers.map(exitOf));
}

async function placeCableOrder(url = config.publicUrl): Promise<Response> {
  return fetch(`${url}/v1/orders`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      customerId: 'C-1002',
      channel: 'mobile_app',
      lines: [{ sku: 'ACC-ANKER-USBC1M', quantity: 1 }],
      shippingAddress: {
        name: 'Han Meimei',
        phone: '13900139000',
        line1: '2 Huaihai Rd',
        city: 'Shanghai',
        postalCode: '200001',
        country: 'CN',
      },
      payment: { method: 'wallet', token: 'wallet_ok' },
    }),
  });
}

/**
 * An order whose parcel was picked up a second ago: the worker is capturing its payment at the gateway (3 s), and the
 * order has not heard back.
 */
async function captureInFlight(): Promise<{ orderId: string; paymentId: string }> {
  const placed = await placeCableOrder();
  expect(placed.status).toBe(201);
  const { orderId } = (await placed.json()) as { orderId: string };
  const fulfilling = await until(orderId, (v) => v.status === 'FULFILLING', 30);
  expect(
    (await call('POST', `/v1/sandbox/parcels/${fulfilling.shipments[0].waybill}/events`, { type: 'PICKED_UP' })).status,
  ).toBe(202);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  expect((await call('GET', `/v1/orders/${orderId}`)).body.payment.status).toBe('AUTHORIZED');
  return { orderId, paymentId: fulfilling.payment.authorizationId as string };
}

test('an order survives its worker being killed mid-capture and is captured exactly once', async () => {
  const first = startWorker();
  const { orderId, paymentId } = await captureInFlight();
  first.kill('SIGKILL');
  await new Promise((resolve) => first.once('exit', resolve));
  // The worker itself is gone, not only a launcher in front of it.
  expect(alive(first.pid)).toBe(false);

  startWorker();
  const shipped = await until(orderId, (v) => v.status === 'SHIPPED', 90);
  expect(shipped.payment).toMatchObject({ status: 'CAPTURED', captured: shipped.totals.total });
  expect(await sandboxes.gateway.countOperations(paymentId, 'capture')).toBe(1);
  expect(await sandboxes.gateway.get(paymentId)).toMatchObject({
    status: 'captured',
    capturedAmount: shipped.totals.total,
  });
});

test('a worker told to stop (SIGTERM) mid-capture finishes the capture before it exits', async () => {
  await stopWorkers();
  // As production runs it: the workflows bundled at build time, the SDK's own metrics served for Prometheus.
  const bundle = path.join(dataDir, 'workflow-bundle.js');
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/bundle-workflows.ts', bundle], {
    cwd: path.resolve(__dirname, '../..'),
    stdio: 'ignore',
  });
  const metricsPort = await findFreePort();
  const worker = startWorker({ WORKER_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`, WORKFLOW_BUNDLE_PATH: bundle });
  const { orderId, paymentId } = await captureInFlight();
  const sdkMetrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  // Per activity type, from the activities the order ran on this worker: booking the parcel on the task queue,
  // authorising the payment as a local activity inside the placement's workflow task.
  expect(sdkMetrics).toMatch(/^temporal_activity_execution_latency\w*\{[^}]*activity_type="bookShipment"/m);
  expect(sdkMetrics).toMatch(/^temporal_local_activity_execution_latency\w*\{[^}]*activity_type="authorizePayment"/m);
  expect(sdkMetrics).toMatch(/^temporal_worker_task_slots_available\{/m);
  worker.kill('SIGTERM');
  expect(await exitOf(worker)).toBe(0);
  // Drained, not abandoned: the capture it had in hand was completed, on its first attempt, before it exited.
  const events = (await temporal.client.workflow.getHandle(`order-${orderId}`).fetchHistory()).events ?? [];
  const captures = events.filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'capturePayment',
  );
  expect(captures).toHaveLength(1);
  const scheduledId = String(captures[0].eventId);
  const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === scheduledId);
  expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(1);
  expect(events.some((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === scheduledId)).toBe(
    true,
  );
  expect(await sandboxes.gateway.countOperations(paymentId, 'capture')).toBe(1);

  startWorker();
  const shipped = await until(orderId, (v) => v.status === 'SHIPPED', 60);
  expect(shipped.payment).toMatchObject({ status: 'CAPTURED', captured: shipped.totals.total });
  expect(await sandboxes.gateway.countOperations(paymentId, 'capture')).toBe(1);
});

test('an API told to stop (SIGTERM) answers the placement in flight, then exits', async () => {
  const port = await findFreePort();
  const api = spawnTypeScript('api/main.ts', {
    cwd: path.resolve(__dirname, '../..'),
    env: { ...env, PORT: String(port), PUBLIC_URL: `http://127.0.0.1:${port}` },
    stdio: 'ignore',
  });
  workers.push(api);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i += 1) {
    const ready = await fetch(`${url}/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (ready === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // The wallet authorisation takes the gateway's 3 s: the answer is still to come when the API is told to stop.
  const answered = placeCableOrder(url).then(async (response) => ({ at: Date.now(), response }));
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const stopAt = Date.now();
  api.kill('SIGTERM');
  const { at, response } = await answered;
  expect(at).toBeGreaterThan(stopAt);
  expect(response.status).toBe(201);
  expect(response.headers.get('connection')).toBe('close');
  const { orderId } = (await response.json()) as { orderId: string };
  expect(await exitOf(api)).toBe(0);
  // Promptly: the client's keep-alive connection does not hold the stop open.
  expect(Date.now() - stopAt).toBeLessThan(15_000);
  await expect(fetch(`${url}/health`)).rejects.toThrow();
  // The order it accepted goes on.
  await until(orderId, (v) => v.status === 'FULFILLING', 30);
});

test('a worker killed while a placement runs its local steps: the next runs them again, each taking effect once', async () => {
  await stopWorkers();
  const sql = (query: string, params: unknown[]) => orm.em.getConnection().execute(query, params);
  const since = new Date();
  const first = startWorker();
  const answered = placeCableOrder();
  // The stock is reserved (a local step done, not yet kept in the history), and the wallet authorisation, which the
  // order's record runs beside, takes the gateway's 3 s: the workflow task is still in the worker when it dies.
  let orderId: string | undefined;
  for (let i = 0; i < 600 && !orderId; i += 1) {
    const rows = await sql(`SELECT order_id FROM reservations WHERE created_at >= ?`, [since]);
    orderId = (rows[0] as { order_id: string } | undefined)?.order_id;
    if (!orderId) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(orderId).toBeDefined();
  first.kill('SIGKILL');
  await exitOf(first);
  startWorker();

  const response = await answered;
  expect(response.status).toBe(201);
  const placed = (await response.json()) as { orderId: string; status: string; payment: { status: string } };
  // Authorised within the placement's one workflow task, which moved the order on to PAID before it answered.
  expect(placed).toMatchObject({ orderId, status: 'PAID', payment: { status: 'AUTHORIZED' } });
  // The lost workflow task ran again on the second worker: one task timed out, and its local steps were kept once.
  const events = (await temporal.client.workflow.getHandle(`order-${orderId}`).fetchHistory()).events ?? [];
  expect(events.filter((e) => e.workflowTaskTimedOutEventAttributes)).toHaveLength(1);
  // Pricing beside the reservation, then the record of PENDING_PAYMENT beside the authorisation.
  const steps = localActivityTypes(events);
  expect(steps.slice(0, 2).sort()).toEqual(['priceOrder', 'reserveStock']);
  expect(steps.slice(2, 4).sort()).toEqual(['authorizePayment', 'recordOrder']);
  // Each step took effect once although those done before the kill ran twice.
  const count = async (query: string) => Number(((await sql(query, [orderId]))[0] as { n: string }).n);
  expect(await count(`SELECT count(*) AS n FROM reservations WHERE order_id = ?`)).toBe(1);
  expect(await count(`SELECT count(*) AS n FROM stock_ledger WHERE order_id = ? AND kind = 'reserve'`)).toBe(1);
  expect(
    await count(
      `SELECT count(*) AS n FROM case_history WHERE case_type = 'order' AND case_id = ? AND to_status = 'PENDING_PAYMENT'`,
    ),
  ).toBe(1);
  expect(await count(`SELECT count(*) AS n FROM sandbox.payments WHERE order_id = ?`)).toBe(1);
  await until(orderId!, (v) => v.status === 'FULFILLING', 30);
});
