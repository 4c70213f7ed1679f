import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time';
import { Client as PgClient } from 'pg';
import { floorReadyUpdate } from '../workflows/baseline';
import {
  type CpuSeconds,
  pickPorts,
  pickTemporalPort,
  TOPOLOGY_SCRIPTS,
  topologySetting,
  Tree,
  treeEnv,
} from './chaos/tree';

/**
 * Benchmark (`npm run bench`): starts the all-in-one stack (`npm start`) on a fresh data directory with the sandbox
 * carrier moving parcels at every ticker round (SANDBOX_CARRIER_STEP=0), then measures, side by side on that stack:
 *
 * - the Temporal floor for a synchronous answer: update-with-start of a workflow whose update answers at once;
 * - placement latency (POST /v1/orders until its answer) and completed orders per second (placed, delivered, receipt
 *   confirmed), BENCH_ORDERS at BENCH_CONCURRENCY;
 * - the floor under the same load as the placements: BENCH_ORDERS orders again, a floor call sent with each placement;
 * - the baseline: workflows of as many no-op activities as an order schedules, at the same concurrency;
 * - the CPU time the stack spent per completed order and per baseline workflow, by kind of process (the engine, the
 *   Temporal server, PostgreSQL), read from /proc;
 * - growth: completed orders per second at each of BENCH_GROWTH's concurrencies, and what one order costs the server
 *   (activities, local activities, workflow tasks, history events);
 * - scale: BENCH_SCALE_ORDERS orders at BENCH_SCALE_CONCURRENCY, counting errors and 5xx answers and the stack
 *   process's resident memory before and after (0 skips it).
 *
 * BENCH_TOPOLOGY=cluster runs all of it on the production topology instead (`npm run start:cluster`: a Temporal server
 * built from source on PostgreSQL, two worker processes and the API), and reports the workers' memory.
 *
 * Any of the stack's own settings in the environment (e.g. WORKER_MAX_CONCURRENT_ACTIVITIES) reach the stack.
 */

const ROOT = path.resolve(__dirname, '..');
const TOKEN = 'bench-system';
const OPS_TOKEN = 'bench-ops';
const SKU = process.env.BENCH_SKU ?? 'ACC-ANKER-USBC1M';

function intSetting(name: string, fallback: number): number {
  const value = process.env[name] ? Number(process.env[name]) : fallback;
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name}: must be a whole number >= 0`);
  return value;
}

const settings = {
  orders: intSetting('BENCH_ORDERS', 100),
  concurrency: intSetting('BENCH_CONCURRENCY', 10),
  growth: (process.env.BENCH_GROWTH ?? '1,10,50').split(',').map(Number),
  scaleOrders: intSetting('BENCH_SCALE_ORDERS', 2000),
  scaleConcurrency: intSetting('BENCH_SCALE_CONCURRENCY', 50),
  carrierStep: process.env.BENCH_CARRIER_STEP ?? '0ms',
  pollMs: intSetting('BENCH_POLL_MS', 250),
  topology: topologySetting('BENCH_TOPOLOGY'),
};

const say = (message: string) => console.log(`[bench] ${message}`);
/** How often the scale phase reads the memory of the process that runs the workflows. */
const MEMORY_SAMPLE_MS = 5_000;
/**
 * How long the stack idles before each of the scale phase's two memory readings, so both are taken in the same state
 * (no load) rather than one straight after the growth runs and one as the scale run's load ends.
 */
const MEMORY_SETTLE_MS = intSetting('BENCH_MEMORY_SETTLE_MS', 20_000);

/** The highest of each quarter of `samples`, in order. */
function quarterPeaks(samples: number[]): number[] {
  const size = Math.ceil(samples.length / 4);
  return size === 0
    ? []
    : [0, 1, 2, 3].flatMap((q) => {
        const part = samples.slice(q * size, (q + 1) * size);
        return part.length > 0 ? [Math.max(...part)] : [];
      });
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Tally {
  errors: string[];
  serverErrors: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function percentiles(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

const ms = (value: number) => `${value.toFixed(0)} ms`;

/** CPU the stack used between two readings, per unit of work, in ms by kind of process. */
function cpuPer(before: CpuSeconds, after: CpuSeconds, units: number) {
  const per = (kind: keyof CpuSeconds) => ((after[kind] - before[kind]) * 1000) / Math.max(1, units);
  const engine = per('engine');
  const temporal = per('temporal');
  const postgres = per('postgres');
  return { engine, temporal, postgres, total: engine + temporal + postgres };
}
const cpuLine = (cpu: ReturnType<typeof cpuPer>) =>
  `${ms(cpu.total)}: engine ${ms(cpu.engine)}, Temporal server ${ms(cpu.temporal)}, PostgreSQL ${ms(cpu.postgres)}`;
const latencyLine = (values: number[]) => {
  const p = percentiles(values);
  return `p50 ${ms(p.p50)}, p95 ${ms(p.p95)}, p99 ${ms(p.p99)}`;
};

async function pool<T>(items: T[], size: number, work: (item: T) => Promise<void>) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.max(1, size) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

class Api {
  constructor(
    private readonly url: string,
    private readonly tally: Tally,
  ) {}

  async call(method: string, url: string, body?: unknown, token = TOKEN) {
    const response = await fetch(`${this.url}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status >= 500) this.tally.serverErrors += 1;
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async residentMemoryMb(): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const match = /^process_resident_memory_bytes (\S+)/m.exec(text);
    return match ? Number(match[1]) / 1_048_576 : NaN;
  }
}

/** One order from placement to completion; answers the placement's latency. */
async function orderLifecycle(api: Api, id: string): Promise<number> {
  const started = performance.now();
  const placed = await api.call('POST', '/v1/orders', {
    orderId: id,
    customerId: 'C-1002',
    channel: 'web',
    lines: [{ sku: SKU, quantity: 1 }],
    shippingAddress: {
      name: 'Bench Mark',
      phone: '13800138000',
      line1: '1 Test Rd',
      city: 'Shanghai',
      postalCode: '200000',
      country: 'CN',
    },
    payment: { method: 'card', token: 'tok_bench' },
  });
  const latency = performance.now() - started;
  if (placed.status !== 201) throw new Error(`placement of ${id}: ${placed.status} ${JSON.stringify(placed.body)}`);
  for (;;) {
    const { body } = await api.call('GET', `/v1/orders/${id}`);
    if (body.status === 'DELIVERED') break;
    if (body.status === 'CANCELLED' || body.status === 'FAILED') throw new Error(`order ${id} ended ${body.status}`);
    await sleep(settings.pollMs);
  }
  const done = await api.call('POST', `/v1/orders/${id}/confirm-receipt`, {});
  if (done.body.status !== 'COMPLETED') throw new Error(`order ${id} did not complete: ${done.status}`);
  return latency;
}

/** `count` orders at `concurrency`: placement latencies and completed orders per second. */
async function orderRun(api: Api, tally: Tally, label: string, count: number, concurrency: number) {
  const latencies: number[] = [];
  const placed = new Map<string, number>();
  const ids = Array.from({ length: count }, (_, i) => `bench-${label}-${Date.now()}-${i}`);
  const started = performance.now();
  await pool(ids, concurrency, async (id) => {
    try {
      const latency = await orderLifecycle(api, id);
      latencies.push(latency);
      placed.set(id, latency);
    } catch (error) {
      tally.errors.push((error as Error).message);
    }
  });
  const seconds = (performance.now() - started) / 1000;
  return { latencies, placed, perSecond: latencies.length / seconds, seconds, ids };
}

/** One update-with-start of the floor workflow, whose update answers at once; answers its latency. */
async function floorCall(client: Client, taskQueue: string, workflowId: string): Promise<number> {
  const started = performance.now();
  await client.workflow.executeUpdateWithStart(floorReadyUpdate, {
    startWorkflowOperation: new WithStartWorkflowOperation('floorWorkflow', {
      workflowId,
      taskQueue,
      workflowIdConflictPolicy: 'FAIL',
    }),
  });
  return performance.now() - started;
}

/** `count` update-with-start calls of the floor workflow at `concurrency`: their latencies and calls per second. */
async function floorRun(client: Client, taskQueue: string, label: string, count: number, concurrency: number) {
  const latencies: number[] = [];
  const started = performance.now();
  await pool(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async (i) => {
      latencies.push(await floorCall(client, taskQueue, `bench-floor-${label}-${Date.now()}-${i}`));
    },
  );
  return { latencies, perSecond: count / ((performance.now() - started) / 1000) };
}

/**
 * `count` orders at `concurrency` as orderRun places them, each placement with a floor call sent at the same moment:
 * the floor measured under the same load as the placements, beside the floor alone.
 */
async function besideRun(
  api: Api,
  tally: Tally,
  client: Client,
  taskQueue: string,
  count: number,
  concurrency: number,
) {
  const placements: number[] = [];
  const floor: number[] = [];
  await pool(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async (i) => {
      const id = `bench-beside-${Date.now()}-${i}`;
      try {
        const [placement, call] = await Promise.all([
          orderLifecycle(api, id),
          floorCall(client, taskQueue, `bench-floor-beside-${Date.now()}-${i}`),
        ]);
        placements.push(placement);
        floor.push(call);
      } catch (error) {
        tally.errors.push((error as Error).message);
      }
    },
  );
  return { placements, floor };
}

/** Books `units` of the bench SKU into the Shanghai warehouse: on hand and the stock ledger, in one transaction. */
async function receiveGoods(dataDir: string, port: number, units: number): Promise<void> {
  const password = (await fs.readFile(path.join(dataDir, 'postgres.password'), 'utf8')).trim();
  const db = new PgClient({
    connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/orders`,
  });
  await db.connect();
  try {
    await db.query('begin');
    const updated = await db.query(
      `update stock_levels set on_hand = on_hand + $2 where warehouse_code = 'SH1' and sku = $1`,
      [SKU, units],
    );
    if (updated.rowCount !== 1) throw new Error(`no stock level of ${SKU} in SH1`);
    await db.query(
      `insert into stock_ledger (warehouse_code, sku, delta, reserved_delta, kind, reason, actor)
       values ('SH1', $1, $2, 0, 'inbound', 'benchmark goods receipt', 'bench')`,
      [SKU, units],
    );
    await db.query('commit');
  } finally {
    await db.end();
  }
}

/**
 * Where each placement's time went, read from the orders' histories: the wait from the workflow's start until a worker
 * picked up its first workflow task, that task up to the placement's answer (the intake's local steps), and the rest
 * (the API, and the calls' ways to the server and back).
 */
async function placementBreakdown(client: Client, placed: Map<string, number>) {
  const parts = { toPickup: [] as number[], firstTask: [] as number[], rest: [] as number[] };
  for (const [id, latency] of placed) {
    const events = (await client.workflow.getHandle(`order-${id}`).fetchHistory()).events ?? [];
    const at = (found: (typeof events)[number] | undefined) => (found ? tsToMs(found.eventTime) : NaN);
    const start = at(events[0]);
    const pickup = at(events.find((e) => e.workflowTaskStartedEventAttributes));
    const answered = at(events.find((e) => e.workflowExecutionUpdateCompletedEventAttributes));
    parts.firstTask.push(answered - pickup);
    parts.toPickup.push(pickup - start);
    parts.rest.push(latency - (answered - start));
  }
  return parts;
}

/** What one order cost the server, read from its history. */
async function orderCost(client: Client, orderId: string) {
  const events = (await client.workflow.getHandle(`order-${orderId}`).fetchHistory()).events ?? [];
  return {
    activities: events.filter((e) => e.activityTaskScheduledEventAttributes).length,
    localActivities: events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length,
    workflowTasks: events.filter((e) => e.workflowTaskCompletedEventAttributes).length,
    events: events.length,
  };
}

async function main(): Promise<number> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-engine-bench-'));
  const logDir = path.join(dataDir, 'bench');
  await fs.mkdir(logDir);
  const cluster = settings.topology === 'cluster';
  const [apiPort, pgPort, uiPort, smtpPort] = await pickPorts(4, Math.random);
  const temporalPort = await pickTemporalPort(settings.topology, Math.random);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const env: NodeJS.ProcessEnv = {
    LOG_LEVEL: 'warn',
    ...process.env,
    ...treeEnv(dataDir, { api: apiPort, postgres: pgPort, temporal: temporalPort, ui: uiPort, smtp: smtpPort }),
    SANDBOX_CARRIER_STEP: settings.carrierStep,
    NOTIFY_QUIET_HOURS: '',
    API_TOKENS: `${TOKEN}=system:bench,${OPS_TOKEN}=ops:bench-ops`,
  };
  for (const name of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'PUBLIC_URL']) delete env[name];
  const tree = new Tree({
    script: TOPOLOGY_SCRIPTS[settings.topology],
    cwd: ROOT,
    env,
    dataDir,
    logDir,
    apiUrl,
    ports: [apiPort, pgPort, temporalPort, uiPort, smtpPort],
  });
  process.once('SIGINT', () => {
    tree.killNow();
    process.exit(130);
  });

  const tally: Tally = { errors: [], serverErrors: 0 };
  const api = new Api(apiUrl, tally);
  // The process that runs the workflows and activities: the stack itself, or the cluster's workers together.
  const memoryOf = cluster ? `${env.CLUSTER_WORKERS || 2} worker processes' summed` : 'stack process';
  const memory = async () => (cluster ? tree.residentMemoryMb('worker/main.ts') : api.residentMemoryMb());
  let connection: Connection | undefined;
  try {
    tree.start();
    say(`stack healthy after ${((await tree.waitHealthy(180_000)) / 1000).toFixed(1)} s (data in ${dataDir})`);
    // The demo stock covers a few hundred orders: the run's goods arrive first, as a goods receipt would book them.
    const needed = 20 + 2 * settings.orders + settings.growth.reduce((n, c) => n + Math.max(10, c * 4), 0);
    await receiveGoods(dataDir, pgPort, needed + settings.scaleOrders);
    connection = await Connection.connect({ address: `127.0.0.1:${temporalPort}` });
    const client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE || 'default' });
    const taskQueue = env.TEMPORAL_TASK_QUEUE || 'orders';

    say('warming up: 20 orders');
    await orderRun(api, tally, 'warmup', 20, 5);

    say(`floor: ${settings.orders} update-with-start calls, ${settings.concurrency} at a time`);
    const cpuBeforeFloor = tree.cpuSeconds();
    const { latencies: floor, perSecond: floorPerSecond } = await floorRun(
      client,
      taskQueue,
      'main',
      settings.orders,
      settings.concurrency,
    );
    const floorCpu = cpuPer(cpuBeforeFloor, tree.cpuSeconds(), settings.orders);

    say(`orders: ${settings.orders}, ${settings.concurrency} at a time`);
    const cpuBeforeOrders = tree.cpuSeconds();
    const run = await orderRun(api, tally, 'main', settings.orders, settings.concurrency);
    const orderCpu = cpuPer(cpuBeforeOrders, tree.cpuSeconds(), run.latencies.length);
    const cost = await orderCost(client, run.ids[0]);
    const breakdown = await placementBreakdown(client, run.placed);

    say(`baseline: ${settings.orders} workflows of ${cost.activities + cost.localActivities} no-op activities`);
    const steps = cost.activities + cost.localActivities;
    const cpuBeforeBaseline = tree.cpuSeconds();
    const baselineStarted = performance.now();
    await pool(
      Array.from({ length: settings.orders }, (_, i) => i),
      settings.concurrency,
      async (i) => {
        await client.workflow.execute('baselineWorkflow', {
          taskQueue,
          workflowId: `bench-baseline-${Date.now()}-${i}`,
          args: [steps],
        });
      },
    );
    const baselinePerSecond = settings.orders / ((performance.now() - baselineStarted) / 1000);
    const baselineCpu = cpuPer(cpuBeforeBaseline, tree.cpuSeconds(), settings.orders);

    say(
      `side by side: ${settings.orders} orders, a floor call sent with each placement, ${settings.concurrency} at a time`,
    );
    const beside = await besideRun(api, tally, client, taskQueue, settings.orders, settings.concurrency);

    const growth: { concurrency: number; perSecond: number; p50: number; floorP50: number }[] = [];
    for (const concurrency of settings.growth) {
      const count = Math.max(10, concurrency * 4);
      say(`growth: ${count} orders and as many floor calls, ${concurrency} at a time`);
      const step = await orderRun(api, tally, `c${concurrency}`, count, concurrency);
      const floorStep = await floorRun(client, taskQueue, `c${concurrency}`, count, concurrency);
      growth.push({
        concurrency,
        perSecond: step.perSecond,
        p50: percentiles(step.latencies).p50,
        floorP50: percentiles(floorStep.latencies).p50,
      });
    }

    let scale:
      | {
          run: Awaited<ReturnType<typeof orderRun>>;
          before: number;
          atEnd: number;
          after: number;
          samples: number[];
          errors: number;
        }
      | undefined;
    if (settings.scaleOrders > 0) {
      say(`scale: ${settings.scaleOrders} orders, ${settings.scaleConcurrency} at a time`);
      const errorsBefore = tally.errors.length + tally.serverErrors;
      await sleep(MEMORY_SETTLE_MS);
      const before = await memory();
      // Read every few seconds too: a leak keeps climbing, a working set rises once and levels off.
      const samples: number[] = [];
      const sampler = setInterval(
        () =>
          void memory().then(
            (mb) => samples.push(mb),
            () => undefined, // a reading missed under load is no figure
          ),
        MEMORY_SAMPLE_MS,
      );
      const scaled = await orderRun(api, tally, 'scale', settings.scaleOrders, settings.scaleConcurrency).finally(() =>
        clearInterval(sampler),
      );
      const atEnd = await memory();
      await sleep(MEMORY_SETTLE_MS);
      scale = {
        run: scaled,
        before,
        atEnd,
        after: await memory(),
        samples,
        errors: tally.errors.length + tally.serverErrors - errorsBefore,
      };
    }

    const floorP = percentiles(floor);
    const placeP = percentiles(run.latencies);
    console.log(`
Results (${settings.topology}; ${os.cpus().length} cores; carrier step ${settings.carrierStep}; ${settings.orders} orders at concurrency ${settings.concurrency})
  floor (update-with-start, answer at once)  ${latencyLine(floor)}; ${floorPerSecond.toFixed(1)}/s
  placement                                  ${latencyLine(run.latencies)}
  placement p99 / floor p99                  ${(placeP.p99 / floorP.p99).toFixed(2)} (goal <= 2)
    until a worker picks the order up        ${latencyLine(breakdown.toPickup)}
    intake's first workflow task             ${latencyLine(breakdown.firstTask)}
    API and the way to the server and back   ${latencyLine(breakdown.rest)}
  side by side (a floor call sent with each placement, ${beside.placements.length} orders):
    floor under the orders' load             ${latencyLine(beside.floor)}
    placement                                ${latencyLine(beside.placements)}
    placement p99 / floor p99 under load     ${(percentiles(beside.placements).p99 / percentiles(beside.floor).p99).toFixed(2)}
  completed orders                           ${run.perSecond.toFixed(2)}/s (${run.latencies.length} in ${run.seconds.toFixed(1)} s)
  baseline (${steps} no-op activities)          ${baselinePerSecond.toFixed(2)}/s
  orders / baseline                          ${(run.perSecond / baselinePerSecond).toFixed(2)} (goal >= 1)
  one order                                  ${cost.activities} activities, ${cost.localActivities} local activities, ${cost.workflowTasks} workflow tasks, ${cost.events} history events
  CPU per floor call                         ${cpuLine(floorCpu)}
  CPU per completed order                    ${cpuLine(orderCpu)}
  CPU per baseline workflow                  ${cpuLine(baselineCpu)}
  Temporal server CPU, order / baseline      ${(orderCpu.temporal / baselineCpu.temporal).toFixed(2)}

  concurrency | completed orders/s | placement p50 | floor p50 | placement p50 / floor p50
${growth
  .map((g) =>
    [
      String(g.concurrency).padStart(13),
      g.perSecond.toFixed(2).padStart(18),
      ms(g.p50).padStart(13),
      ms(g.floorP50).padStart(9),
      (g.p50 / g.floorP50).toFixed(2),
    ].join(' | '),
  )
  .join('\n')}`);
    if (scale) {
      console.log(`
  scale: ${scale.run.latencies.length} of ${settings.scaleOrders} orders completed at concurrency ${settings.scaleConcurrency} in ${scale.run.seconds.toFixed(0)} s (${scale.run.perSecond.toFixed(2)}/s)
         placement ${latencyLine(scale.run.latencies)}
         errors ${scale.errors}; ${memoryOf} RSS, idle before and after: ${scale.before.toFixed(0)} → ${scale.after.toFixed(0)} MB (${(scale.after - scale.before).toFixed(0)} MB; goal <= 100)
         RSS as the load ended: ${scale.atEnd.toFixed(0)} MB (${(scale.atEnd - scale.before).toFixed(0)} MB over the idle reading before)
         RSS during the run by quarter (highest reading of each): ${quarterPeaks(scale.samples)
           .map((mb) => mb.toFixed(0))
           .join(', ')} MB`);
    }
    console.log(`  5xx answers over the whole run: ${tally.serverErrors}; failed orders: ${tally.errors.length}`);
    for (const error of tally.errors.slice(0, 5)) console.log(`    ${error}`);
    return tally.errors.length + tally.serverErrors > 0 ? 1 : 0;
  } finally {
    await connection?.close();
    await tree.kill();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
