import { Client, Connection } from '@temporalio/client';

/**
 * Benchmark against a running stack (`npm start` with a fast sandbox carrier, e.g.
 * SANDBOX_CARRIER_STEP=200ms). Places BENCH_ORDERS orders through the HTTP API, BENCH_CONCURRENCY
 * at a time, confirms receipt as each is delivered, and prints placement latency percentiles and
 * completed orders per second. Then runs the same number of baseline workflows with as many no-op
 * activities as an order runs, on the same server and worker, so the ratio shows the engine's own cost.
 *
 *   BENCH_API=http://127.0.0.1:3000 BENCH_TOKEN=<system token> TEMPORAL_ADDRESS=127.0.0.1:7233 npm run bench
 */

const api = process.env.BENCH_API ?? 'http://127.0.0.1:3000';
const token = process.env.BENCH_TOKEN;
const total = Number(process.env.BENCH_ORDERS ?? 100);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 10);
const sku = process.env.BENCH_SKU ?? 'ACC-ANKER-USBC1M';
const temporalAddress = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const taskQueue = process.env.TEMPORAL_TASK_QUEUE ?? 'orders';

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function pool<T>(items: T[], size: number, work: (item: T) => Promise<void>) {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: size }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

async function residentMemoryMb(): Promise<string> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const match = /^process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)/m.exec(text);
  return match ? (Number(match[1]) / 1_048_576).toFixed(0) : 'n/a';
}

async function orderLifecycle(index: number, latencies: number[], completed: string[]) {
  const started = performance.now();
  const placed = await call('POST', '/v1/orders', {
    orderId: `bench-${Date.now()}-${index}`,
    customerId: 'C-1002',
    channel: 'web',
    lines: [{ sku, quantity: 1 }],
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
  latencies.push(performance.now() - started);
  if (placed.status !== 201) throw new Error(`placement failed: ${placed.status} ${JSON.stringify(placed.body)}`);
  const orderId = placed.body.orderId as string;
  for (;;) {
    const { body } = await call('GET', `/v1/orders/${orderId}`);
    if (body.status === 'DELIVERED') break;
    if (body.status === 'CANCELLED' || body.status === 'FAILED')
      throw new Error(`order ${orderId} ended ${body.status}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const done = await call('POST', `/v1/orders/${orderId}/confirm-receipt`, {});
  if (done.body.status !== 'COMPLETED') throw new Error(`order ${orderId} did not complete`);
  completed.push(orderId);
}

async function main() {
  if (!token) throw new Error('BENCH_TOKEN: set it to a system or agent token printed by npm start');
  const latencies: number[] = [];
  const completed: string[] = [];
  console.log(`placing ${total} orders, ${concurrency} at a time, against ${api}`);
  const memoryBefore = await residentMemoryMb();
  const t0 = performance.now();
  await pool(
    Array.from({ length: total }, (_, i) => i),
    concurrency,
    (i) => orderLifecycle(i, latencies, completed),
  );
  const orderSeconds = (performance.now() - t0) / 1000;
  const memoryAfter = await residentMemoryMb();
  latencies.sort((a, b) => a - b);

  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection });
  // The baseline runs exactly as many activities as one real order did.
  const history = await client.workflow.getHandle(`order-${completed[0]}`).fetchHistory();
  const steps = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).length;
  const t1 = performance.now();
  await pool(
    Array.from({ length: total }, (_, i) => i),
    concurrency,
    async (i) => {
      await client.workflow.execute('baselineWorkflow', {
        taskQueue,
        workflowId: `baseline-${Date.now()}-${i}`,
        args: [steps],
      });
    },
  );
  const baselineSeconds = (performance.now() - t1) / 1000;
  await connection.close();

  const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
  console.log(`
placement latency   p50 ${fmt(percentile(latencies, 50))}   p95 ${fmt(percentile(latencies, 95))}   p99 ${fmt(percentile(latencies, 99))}
orders end to end   ${(total / orderSeconds).toFixed(2)} completed orders/s (${total} in ${orderSeconds.toFixed(1)} s, carrier clock included)
baseline            ${(total / baselineSeconds).toFixed(2)} workflows/s with ${steps} no-op activities each (${baselineSeconds.toFixed(1)} s)
ratio               ${(total / orderSeconds / (total / baselineSeconds)).toFixed(2)} (orders/s ÷ baseline/s)
worker memory (RSS) ${memoryBefore} MB before, ${memoryAfter} MB after (API + worker process)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
