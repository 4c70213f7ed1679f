import type { Client, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { complaintPolicy, loadConfig, orderPolicy, returnPolicy } from '../../config';
import type { ComplaintInput, ComplaintView } from '../../domain/complaint';
import type { OrderInput, OrderView } from '../../domain/order';
import type { RefundInput, RefundView } from '../../domain/refund';
import type { ReturnInput, ReturnView } from '../../domain/return';
import { startTimeSkippingServer } from '../../infra/temporal';
import { awaitIntakeUpdate, carrierEventSignal, orderStateQuery, orderWorkflowId } from '../../workflows/messages';
import type { complaintWorkflow, orderWorkflow, refundWorkflow, returnWorkflow } from '../../workflows';
import { awaitComplaintUpdate, complaintStateQuery, complaintWorkflowId } from '../../workflows/complaint-messages';
import { awaitRefundRequestUpdate, refundStateQuery, refundWorkflowId } from '../../workflows/refund-messages';
import { awaitReturnRequestUpdate, returnStateQuery, returnWorkflowId } from '../../workflows/return-messages';
import type { FakeActivities } from './fake-activities';
import { SHIPPING_ADDRESS } from './fixtures';
import { uniqueId } from './names';

/** The policy a default configuration gives, for tests to shrink or stretch. */
const defaults = loadConfig({ API_TOKENS: 't=admin:test' });
export const policy = orderPolicy(defaults);
export const returnsPolicy = returnPolicy(defaults);
export const complaintsPolicy = complaintPolicy(defaults);
export const HOUR = 3_600_000;

/** Lines the fake stock holds in two warehouses, so the order ships as two parcels (WB1 from WH1, WB2 from WH2). */
export const TWO_WAREHOUSES = [
  { sku: 'SKU-A', quantity: 1 },
  { sku: 'SKU-C', quantity: 1 },
];

export type OrderHandle = WorkflowHandle<typeof orderWorkflow>;

export function orderInput(overrides: Partial<OrderInput> = {}): OrderInput {
  return {
    orderId: uniqueId('o'),
    customerId: 'cus_1',
    channel: 'web',
    currency: 'CNY',
    lines: [{ sku: 'SKU-A', quantity: 2 }],
    shippingAddress: { ...SHIPPING_ADDRESS },
    payment: { method: 'card', token: 'tok_visa' },
    placedAt: new Date().toISOString(),
    placedBy: { principal: 'shop', role: 'system' },
    requestHash: 'hash',
    policy,
    ...overrides,
  };
}

/**
 * The bundled workflows, built once per test file (call at module level), and `withWorker`, which runs a test body
 * against its own time-skipping test server and a worker with the given fake activities. A server per test costs
 * about 150 ms and keeps tests apart: the test server stops skipping time for good once a workflow is terminated
 * with a task or an activity in flight, which would stall every later test that skips time.
 */
export function workflowTestEnv() {
  let env: TestWorkflowEnvironment | undefined;
  let bundle: WorkflowBundleWithSourceMap;

  beforeAll(async () => {
    bundle = await bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
  });

  async function withWorker<T>(
    fakes: FakeActivities,
    body: (start: (input: OrderInput, options?: { awaitIntake?: boolean }) => Promise<OrderHandle>) => Promise<T>,
  ): Promise<T> {
    const server = await startTimeSkippingServer();
    env = server;
    try {
      const worker = await Worker.create({
        connection: server.nativeConnection,
        taskQueue: 'orders',
        workflowBundle: bundle,
        activities: fakes.activities,
      });
      return await worker.runUntil(
        body(async (input, { awaitIntake = true } = {}) => {
          const handle = await server.client.workflow.start<typeof orderWorkflow>('orderWorkflow', {
            taskQueue: 'orders',
            workflowId: orderWorkflowId(input.orderId),
            args: [input],
          });
          if (awaitIntake) await handle.executeUpdate(awaitIntakeUpdate);
          return handle;
        }),
      );
    } finally {
      env = undefined;
      await server.teardown();
    }
  }

  /** The current test's server, for `sleep` (time skipping). */
  function current(): TestWorkflowEnvironment {
    if (!env) throw new Error('no test server outside withWorker');
    return env;
  }

  return { withWorker, env: current };
}

/** Polls the workflow's view until `ready` holds (wall-clock time, while the workflow works). */
export async function waitForView(
  handle: WorkflowHandle,
  ready: (view: OrderView) => boolean,
  what = 'the expected state',
): Promise<OrderView> {
  for (let i = 0; i < 100; i += 1) {
    const view = await handle.query(orderStateQuery);
    if (ready(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const view = await handle.query(orderStateQuery);
  throw new Error(`order never reached ${what}: ${view.status} ${JSON.stringify(view.attentionReasons)}`);
}

export function waitForStatus(handle: WorkflowHandle, status: OrderView['status']): Promise<OrderView> {
  return waitForView(handle, (view) => view.status === status, status);
}

/** The carrier scans a parcel and posts its webhook: the fact at the carrier, then the hint to the order. */
export async function scanAndNotify(
  fakes: FakeActivities,
  handle: WorkflowHandle,
  waybill: string,
  ...scan: Parameters<FakeActivities['scan']> extends [string, ...infer Rest] ? Rest : never
): Promise<void> {
  const event = fakes.scan(waybill, ...scan);
  await handle.signal(carrierEventSignal, event);
}

/** Every parcel of the order goes through pickup to delivery, each step with its webhook. */
export async function deliverAll(fakes: FakeActivities, handle: WorkflowHandle): Promise<void> {
  const view = await handle.query(orderStateQuery);
  for (const shipment of view.shipments) {
    for (const type of ['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED'] as const) {
      await scanAndNotify(fakes, handle, shipment.waybill!, type);
    }
  }
}

export type RefundHandle = WorkflowHandle<typeof refundWorkflow>;

export function refundInput(overrides: Partial<RefundInput> = {}): RefundInput {
  return {
    refundId: uniqueId('r'),
    orderId: 'o-refunded',
    customerId: 'cus_1',
    currency: 'CNY',
    amount: 5_000,
    reason: 'quality_problem',
    origin: 'customer',
    requestedBy: { principal: 'shop', role: 'system' },
    requestedAt: new Date().toISOString(),
    policy: policy.refund,
    ...overrides,
  };
}

/** Starts a refund case and waits, as the API does, until its amount is claimed or refused. */
export async function startRefund(
  client: Client,
  input: RefundInput,
): Promise<{ handle: RefundHandle; view: RefundView }> {
  const handle = await client.workflow.start<typeof refundWorkflow>('refundWorkflow', {
    taskQueue: 'orders',
    workflowId: refundWorkflowId(input.refundId),
    args: [input],
  });
  return { handle, view: await handle.executeUpdate(awaitRefundRequestUpdate) };
}

export type ReturnHandle = WorkflowHandle<typeof returnWorkflow>;

export function returnInput(overrides: Partial<ReturnInput> = {}): ReturnInput {
  return {
    returnId: uniqueId('ret'),
    orderId: 'o-returned',
    customerId: 'cus_1',
    currency: 'CNY',
    lines: [{ sku: 'SKU-A', quantity: 1 }],
    reason: 'changed_mind',
    type: 'refund',
    method: 'pickup',
    failedGoods: 'send_back',
    requestedBy: { principal: 'shop', role: 'system' },
    requestedAt: new Date().toISOString(),
    policy: returnsPolicy,
    refundPolicy: policy.refund,
    ...overrides,
  };
}

/** Starts a return case and waits, as the API does, until its lines are claimed or refused. */
export async function startReturn(
  client: Client,
  input: ReturnInput,
): Promise<{ handle: ReturnHandle; view: ReturnView }> {
  const handle = await client.workflow.start<typeof returnWorkflow>('returnWorkflow', {
    taskQueue: 'orders',
    workflowId: returnWorkflowId(input.returnId),
    args: [input],
  });
  return { handle, view: await handle.executeUpdate(awaitReturnRequestUpdate) };
}

/** Polls a return's view until `ready` holds. */
export async function waitForReturn(
  handle: WorkflowHandle,
  ready: (view: ReturnView) => boolean,
  what = 'the expected state',
): Promise<ReturnView> {
  for (let i = 0; i < 100; i += 1) {
    const view = await handle.query(returnStateQuery);
    if (ready(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const view = await handle.query(returnStateQuery);
  throw new Error(`return never reached ${what}: ${view.status} ${JSON.stringify(view.attentionReasons)}`);
}

/** Polls a refund's view until `ready` holds. */
export async function waitForRefund(
  handle: WorkflowHandle,
  ready: (view: RefundView) => boolean,
  what = 'the expected state',
): Promise<RefundView> {
  for (let i = 0; i < 100; i += 1) {
    const view = await handle.query(refundStateQuery);
    if (ready(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const view = await handle.query(refundStateQuery);
  throw new Error(`refund never reached ${what}: ${view.status} ${JSON.stringify(view.attentionReasons)}`);
}

export type ComplaintHandle = WorkflowHandle<typeof complaintWorkflow>;

export function complaintInput(overrides: Partial<ComplaintInput> = {}): ComplaintInput {
  return {
    complaintId: uniqueId('cmp'),
    channel: 'phone',
    customerId: 'cus_1',
    customerLevel: 'regular',
    orderId: 'o-complained',
    orderTotal: 12_900,
    currency: 'CNY',
    category: 'logistics',
    target: 'courier',
    matter: 'The parcel arrived crushed',
    reason: 'Careless handling',
    contact: { name: 'Li Lei', phone: '13800138000' },
    priority: 'normal',
    requestedBy: { principal: 'shop', role: 'system' },
    requestedAt: new Date().toISOString(),
    policy: complaintsPolicy,
    requestHash: 'hash',
    ...overrides,
  };
}

/** Starts a complaint case and waits, as the API does, until it is stored and its first assignment tried. */
export async function startComplaint(
  client: Client,
  input: ComplaintInput,
): Promise<{ handle: ComplaintHandle; view: ComplaintView }> {
  const handle = await client.workflow.start<typeof complaintWorkflow>('complaintWorkflow', {
    taskQueue: 'orders',
    workflowId: complaintWorkflowId(input.complaintId),
    args: [input],
  });
  return { handle, view: await handle.executeUpdate(awaitComplaintUpdate) };
}

/** Polls a complaint's view until `ready` holds. */
export async function waitForComplaint(
  handle: WorkflowHandle,
  ready: (view: ComplaintView) => boolean,
  what = 'the expected state',
): Promise<ComplaintView> {
  for (let i = 0; i < 100; i += 1) {
    const view = await handle.query(complaintStateQuery);
    if (ready(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const view = await handle.query(complaintStateQuery);
  throw new Error(`complaint never reached ${what}: ${view.status} ${JSON.stringify(view.attentionReasons)}`);
}
