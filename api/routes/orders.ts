import { createHash, randomBytes } from 'node:crypto';
import { raw } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orderPolicy } from '../../config';
import { CustomerSchema, OrderSchema, ProductSchema, StockLevelSchema } from '../../db/entities';
import {
  ORDER_CHANNELS,
  ORDER_STATUSES,
  sumQuantities,
  type LineRequest,
  type OrderInput,
  type OrderView,
} from '../../domain/order';
import { allocate, type StockMap } from '../../domain/rules';
import {
  awaitIntakeUpdate,
  cancelOrderUpdate,
  changeAddressUpdate,
  confirmReceiptUpdate,
  editLinesUpdate,
  orderStateQuery,
  orderWorkflowId,
  recoverStepUpdate,
  retryPaymentUpdate,
  reviewOrderUpdate,
} from '../../workflows/messages';
import type { orderWorkflow } from '../../workflows';
import { CaseTypeKey, ChannelKey, CustomerIdKey, PaymentMethodKey } from '../../workflows/search-attributes';
import type { ApiDeps } from '../app';
import { STAFF, actorOf } from '../auth';
import { Problem, PROBLEM_BASE, toProblem, type FieldError } from '../problems';
import { orderStatusFromDb, orderViewFromDb, writeAudit } from '../records';
import {
  addressSchema,
  lineRequestSchema,
  orderIdParams,
  orderIdSchema,
  orderViewSchema,
  pagingQuery,
  paymentInstructionSchema,
  problems,
} from '../schemas';

const placeOrderBody = z.object({
  orderId: orderIdSchema.optional(),
  customerId: z.string().trim().min(1).max(64),
  channel: z.enum(ORDER_CHANNELS),
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'must be an ISO 4217 code')
    .transform((code) => code.toUpperCase())
    .optional(),
  lines: z
    .array(
      lineRequestSchema.extend({
        unitPrice: z.unknown().optional().describe('Ignored: lines are always priced from the catalogue'),
      }),
    )
    .min(1)
    .max(50),
  shippingAddress: addressSchema,
  payment: paymentInstructionSchema,
});
type PlaceOrderBody = z.infer<typeof placeOrderBody>;

/** Loose: the other headers must stay on the request. */
const idempotencyHeaders = z.looseObject({
  'idempotency-key': orderIdSchema.optional().describe('Makes the request safe to retry; for placement, the order id'),
});

const orderSummarySchema = z.object({
  orderId: z.string(),
  customerId: z.string(),
  channel: z.enum(ORDER_CHANNELS),
  status: z.enum(ORDER_STATUSES),
  currency: z.string(),
  total: z.number().int(),
  paymentMethod: z.string(),
  needsAttention: z.boolean(),
  attentionReason: z.string().optional(),
  placedAt: z.string(),
  updatedAt: z.string(),
});

const SORTS = {
  placedAt: ['placedAt', 'asc'],
  '-placedAt': ['placedAt', 'desc'],
  total: ['total', 'asc'],
  '-total': ['total', 'desc'],
} as const;

const listOrdersQuery = z.object({
  status: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(ORDER_STATUSES)))
    .optional()
    .describe('Comma-separated statuses'),
  customerId: z.string().optional(),
  channel: z.enum(ORDER_CHANNELS).optional(),
  placedFrom: z.iso.datetime({ offset: true }).optional(),
  placedTo: z.iso.datetime({ offset: true }).optional(),
  sku: z.string().optional().describe('Only orders with a line of this SKU'),
  sort: z.enum(Object.keys(SORTS) as [keyof typeof SORTS]).default('-placedAt'),
  ...pagingQuery,
});

const reviewBody = z
  .object({ decision: z.enum(['approve', 'reject']), reason: z.string().trim().min(1).max(500).optional() })
  .superRefine((body, ctx) => {
    if (body.decision === 'reject' && !body.reason) {
      ctx.addIssue({ code: 'custom', path: ['reason'], message: 'a rejection needs a reason' });
    }
  });

const PLACERS = ['system', 'agent', 'admin'] as const;
const ORDER_READERS = [...STAFF, 'system', 'warehouse', 'finance'] as const;
const LIST_READERS = [...STAFF, 'system', 'finance'] as const;
const CUSTOMER_ACTORS = ['system', 'agent'] as const;

export function orderRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  const { temporal, config } = deps;
  const handleOf = (orderId: string) => temporal.workflow.getHandle<typeof orderWorkflow>(orderWorkflowId(orderId));

  /** The live view from the workflow; from PostgreSQL once Temporal no longer holds the workflow. */
  async function currentView(em: EntityManager, orderId: string): Promise<OrderView> {
    try {
      return await handleOf(orderId).query(orderStateQuery);
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
    const stored = await orderViewFromDb(em, orderId);
    if (!stored) throw new Problem('not-found', `no order ${orderId}`);
    return stored;
  }

  /** Runs an update on the order; a finished order is a wrong-state conflict, not a missing one. */
  async function update(
    em: EntityManager,
    orderId: string,
    run: (handle: WorkflowHandle<typeof orderWorkflow>) => Promise<OrderView>,
  ): Promise<OrderView> {
    try {
      return await run(handleOf(orderId));
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      const status = await orderStatusFromDb(em, orderId);
      if (status) throw new Problem('wrong-state', `order ${orderId} is ${status} and can no longer change`);
      throw new Problem('not-found', `no order ${orderId}`);
    }
  }

  /** Every action leaves an audit row, whether it was carried out or refused; a failed audit write never hides the outcome. */
  async function audited<T>(
    request: FastifyRequest,
    em: EntityManager,
    action: string,
    orderId: string,
    detail: Record<string, unknown>,
    work: () => Promise<T>,
  ): Promise<T> {
    const actor = actorOf(request);
    const record = (result: string, extra: Record<string, unknown> = {}) =>
      writeAudit(em, {
        ...actor,
        action,
        objectType: 'order',
        objectId: orderId,
        result,
        detail: { ...detail, ...extra },
        ip: request.ip,
      }).catch((error: unknown) => request.log.error({ err: error, action, orderId }, 'audit write failed'));
    try {
      const outcome = await work();
      await record('ok');
      return outcome;
    } catch (error) {
      const problem = toProblem(error);
      await record(problem ? 'rejected' : 'error', {
        problem: PROBLEM_BASE + (problem?.problemType ?? 'internal'),
        reason: problem?.detail ?? (error as Error).message,
      });
      throw error;
    }
  }

  const updateId = (action: string, request: FastifyRequest) => {
    const key = request.headers['idempotency-key'];
    return typeof key === 'string' ? { updateId: `${action}:${key}` } : {};
  };

  async function describe(orderId: string) {
    try {
      return await handleOf(orderId).describe();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    }
  }

  /** A placement repeated under an existing id: the same request gets the order back, a different one a conflict. */
  async function replay(
    em: EntityManager,
    orderId: string,
    requestHash: string,
    existingHash: unknown,
  ): Promise<{ status: 200 | 201; view: OrderView }> {
    if (existingHash !== requestHash) {
      throw new Problem('conflict', `order id ${orderId} was already used with a different request`);
    }
    try {
      // Waits for intake when the first attempt is still pricing and reserving.
      return { status: 200 as const, view: await handleOf(orderId).executeUpdate(awaitIntakeUpdate) };
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
    return { status: 200 as const, view: await currentView(em, orderId) };
  }

  return async (app) => {
    app.post(
      '/v1/orders',
      {
        config: { roles: PLACERS },
        schema: {
          tags: ['orders'],
          summary: 'Place an order',
          description:
            'Idempotent: the order id (body `orderId` or `Idempotency-Key`) names the order. Repeating a placement ' +
            'returns the same order (200); the same id with a different request is a 409.',
          headers: idempotencyHeaders,
          body: placeOrderBody,
          response: { 200: orderViewSchema, 201: orderViewSchema, ...problems(400, 401, 403, 409, 422, 503) },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const headerKey = request.headers['idempotency-key'];
        if (body.orderId && headerKey && body.orderId !== headerKey) {
          throw new Problem('validation', 'orderId and the Idempotency-Key header differ', [
            { field: 'orderId', reason: 'must equal the Idempotency-Key header when both are given' },
          ]);
        }
        const orderId = body.orderId ?? headerKey ?? `ord_${randomBytes(12).toString('hex')}`;
        const currency = body.currency ?? config.ORDER_CURRENCY;
        const lines = body.lines.map(({ sku, quantity }) => ({ sku, quantity }));
        const requestHash = placementHash(body, currency, lines);
        const em = deps.orm.em.fork();
        const actor = actorOf(request);

        const { status, view } = await audited(request, em, 'order.place', orderId, { requestHash }, async () => {
          const recorded = await em.findOne(OrderSchema, { id: orderId }, { fields: ['requestHash'] });
          if (recorded) return replay(em, orderId, requestHash, recorded.requestHash);
          try {
            await precheck(em, body, currency, config.ORDER_CURRENCY);
          } catch (error) {
            // A retried placement may fail checks its first attempt consumed (the stock it reserved).
            const existing = await describe(orderId);
            if (existing) return replay(em, orderId, requestHash, existing.memo?.requestHash);
            throw error;
          }
          const input: OrderInput = {
            orderId,
            customerId: body.customerId,
            channel: body.channel,
            currency,
            lines,
            shippingAddress: body.shippingAddress,
            payment: body.payment,
            placedAt: new Date().toISOString(),
            placedBy: actor,
            requestHash,
            policy: orderPolicy(config),
          };
          let handle;
          try {
            handle = await temporal.workflow.start<typeof orderWorkflow>('orderWorkflow', {
              taskQueue: deps.taskQueue,
              workflowId: orderWorkflowId(orderId),
              args: [input],
              memo: { requestHash },
              typedSearchAttributes: [
                { key: CaseTypeKey, value: 'order' },
                { key: CustomerIdKey, value: input.customerId },
                { key: ChannelKey, value: input.channel },
                { key: PaymentMethodKey, value: input.payment.method },
              ],
              workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
            });
          } catch (error) {
            if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
            const existing = await describe(orderId);
            return replay(em, orderId, requestHash, existing?.memo?.requestHash);
          }
          return { status: 201 as const, view: await handle.executeUpdate(awaitIntakeUpdate) };
        });
        return reply
          .code(status)
          .header('location', `/v1/orders/${encodeURIComponent(orderId)}`)
          .send(view);
      },
    );

    app.get(
      '/v1/orders/:orderId',
      {
        config: { roles: ORDER_READERS },
        schema: {
          tags: ['orders'],
          summary: 'One order, live from its workflow',
          params: orderIdParams,
          response: { 200: orderViewSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => currentView(deps.orm.em.fork(), request.params.orderId),
    );

    app.get(
      '/v1/orders',
      {
        config: { roles: LIST_READERS },
        schema: {
          tags: ['orders'],
          summary: 'Search orders (from PostgreSQL)',
          querystring: listOrdersQuery,
          response: {
            200: z.object({
              items: z.array(orderSummarySchema),
              total: z.number().int(),
              totalAmount: z.number().int().describe('Sum of the matching orders’ totals, in minor units'),
              limit: z.number().int(),
              offset: z.number().int(),
            }),
            ...problems(400, 401, 403, 503),
          },
        },
      },
      async (request) => {
        const query = request.query;
        const em = deps.orm.em.fork();
        const qb = em.createQueryBuilder(OrderSchema, 'o');
        if (query.status?.length) qb.andWhere({ status: { $in: query.status } });
        if (query.customerId) qb.andWhere({ customerId: query.customerId });
        if (query.channel) qb.andWhere({ channel: query.channel });
        if (query.placedFrom) qb.andWhere({ placedAt: { $gte: new Date(query.placedFrom) } });
        if (query.placedTo) qb.andWhere({ placedAt: { $lt: new Date(query.placedTo) } });
        if (query.sku) qb.andWhere('o.id in (select l.order_id from order_lines l where l.sku = ?)', [query.sku]);

        const [total, sum, orders] = await Promise.all([
          qb.clone().getCount(),
          qb
            .clone()
            .select(raw('coalesce(sum(o.total), 0) as amount'))
            .execute<{ amount: string | number }>('get', false),
          (() => {
            const [field, direction] = SORTS[query.sort];
            return qb
              .clone()
              .orderBy({ [field]: direction, id: direction })
              .limit(query.limit)
              .offset(query.offset)
              .getResultList();
          })(),
        ]);
        return {
          items: orders.map((o) => ({
            orderId: o.id,
            customerId: o.customerId,
            channel: o.channel,
            status: o.status,
            currency: o.currency,
            total: o.total,
            paymentMethod: o.paymentMethod,
            needsAttention: o.needsAttention,
            ...(o.attentionReason ? { attentionReason: o.attentionReason } : {}),
            placedAt: o.placedAt.toISOString(),
            updatedAt: o.updatedAt.toISOString(),
          })),
          total,
          totalAmount: Number(sum.amount),
          limit: query.limit,
          offset: query.offset,
        };
      },
    );

    const actionSchema = <B extends z.ZodType>(summary: string, body: B) => ({
      tags: ['orders'],
      summary,
      params: orderIdParams,
      headers: idempotencyHeaders,
      body,
      response: { 200: orderViewSchema, ...problems(400, 401, 403, 404, 409, 422, 503) },
    });

    app.post(
      '/v1/orders/:orderId/cancel',
      {
        config: { roles: ['system', 'agent', 'supervisor', 'ops', 'admin'] },
        schema: actionSchema(
          'Cancel an order before it ships',
          z.object({ reason: z.string().trim().min(1).max(500) }),
        ),
      },
      async (request) => {
        const { orderId } = request.params;
        const em = deps.orm.em.fork();
        const actor = actorOf(request);
        return audited(request, em, 'order.cancel', orderId, { reason: request.body.reason }, () =>
          update(em, orderId, (h) =>
            h.executeUpdate(cancelOrderUpdate, {
              args: [{ reason: request.body.reason, actor }],
              ...updateId('cancel', request),
            }),
          ),
        );
      },
    );

    app.post(
      '/v1/orders/:orderId/review',
      {
        config: { roles: ['agent', 'supervisor', 'admin'] },
        schema: actionSchema('Approve or reject an order held for review', reviewBody),
      },
      async (request) => {
        const { orderId } = request.params;
        const { decision, reason } = request.body;
        const em = deps.orm.em.fork();
        const actor = actorOf(request);
        return audited(request, em, 'order.review', orderId, { decision, reason }, () =>
          update(em, orderId, (h) =>
            h.executeUpdate(reviewOrderUpdate, { args: [{ decision, reason, actor }], ...updateId('review', request) }),
          ),
        );
      },
    );

    app.post(
      '/v1/orders/:orderId/payment',
      {
        config: { roles: CUSTOMER_ACTORS },
        schema: actionSchema('Retry payment, possibly with another method', paymentInstructionSchema),
      },
      async (request) => {
        const { orderId } = request.params;
        const payment = request.body;
        const em = deps.orm.em.fork();
        const actor = actorOf(request);
        return audited(request, em, 'order.retry_payment', orderId, { method: payment.method }, () =>
          update(em, orderId, (h) =>
            h.executeUpdate(retryPaymentUpdate, { args: [{ payment, actor }], ...updateId('payment', request) }),
          ),
        );
      },
    );

    app.patch(
      '/v1/orders/:orderId',
      {
        config: { roles: CUSTOMER_ACTORS },
        schema: actionSchema(
          'Change lines and quantities while awaiting payment',
          z.object({ lines: z.array(lineRequestSchema).min(1).max(50) }),
        ),
      },
      async (request) => {
        const { orderId } = request.params;
        const lines = request.body.lines.map(({ sku, quantity }) => ({ sku, quantity }));
        const em = deps.orm.em.fork();
        const actor = actorOf(request);
        return audited(request, em, 'order.edit_lines', orderId, { lines }, async () => {
          await checkSkus(em, lines);
          return update(em, orderId, (h) =>
            h.executeUpdate(editLinesUpdate, { args: [{ lines, actor }], ...updateId('edit', request) }),
          );
        });
      },
    );

    app.put(
      '/v1/orders/:orderId/shipping-address',
      {
        config: { roles: CUSTOMER_ACTORS },
        schema: actionSchema('Change the shipping address until a parcel is handed over', addressSchema),
      },
      async (request) => {
        const { orderId } = request.params;
        const address = request.body;
        const em = deps.orm.em.fork();
        const actor = actorOf(request);
        return audited(request, em, 'order.change_address', orderId, { address }, () =>
          update(em, orderId, (h) =>
            h.executeUpdate(changeAddressUpdate, { args: [{ address, actor }], ...updateId('address', request) }),
          ),
        );
      },
    );

    app.post(
      '/v1/orders/:orderId/recover',
      {
        config: { roles: ['ops', 'admin'] },
        schema: actionSchema(
          'Retry, or give up, a step that failed for good (attention reason step_failed)',
          z.object({
            action: z.enum(['retry', 'fail']).describe('fail ends the order FAILED, releasing stock and payment'),
            reason: z.string().trim().min(1).max(500),
          }),
        ),
      },
      async (request) => {
        const { orderId } = request.params;
        const { action, reason } = request.body;
        const em = deps.orm.em.fork();
        const actor = actorOf(request);
        return audited(request, em, `order.recover_${action}`, orderId, { reason }, () =>
          update(em, orderId, (h) =>
            h.executeUpdate(recoverStepUpdate, { args: [{ action, reason, actor }], ...updateId('recover', request) }),
          ),
        );
      },
    );

    app.post(
      '/v1/orders/:orderId/confirm-receipt',
      {
        config: { roles: CUSTOMER_ACTORS },
        // Fastify hands a POST without a body over as null.
        schema: actionSchema('Confirm delivery was received', z.object({}).nullish()),
      },
      async (request) => {
        const { orderId } = request.params;
        const em = deps.orm.em.fork();
        const actor = actorOf(request);
        return audited(request, em, 'order.confirm_receipt', orderId, {}, () =>
          update(em, orderId, (h) =>
            h.executeUpdate(confirmReceiptUpdate, { args: [{ actor }], ...updateId('confirm', request) }),
          ),
        );
      },
    );
  };
}

/** JSON with sorted keys and no undefined members, so equal requests hash equally however they were written. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The order id is the key, not part of the request: a retry may name it by body or header alike. */
export function placementHash(body: PlaceOrderBody, currency: string, lines: LineRequest[]): string {
  const { customerId, channel, shippingAddress, payment } = body;
  const normalised = { customerId, channel, currency, lines, shippingAddress, payment };
  return createHash('sha256').update(canonicalJson(normalised)).digest('hex');
}

/**
 * Refuses, before any workflow exists, what intake would refuse anyway: an unknown customer, unknown or inactive
 * SKUs, a foreign currency, stock that cannot cover the lines. The workflow checks again; these only answer early.
 */
async function precheck(
  em: EntityManager,
  body: PlaceOrderBody,
  currency: string,
  orderCurrency: string,
): Promise<void> {
  const customer = await em.findOne(CustomerSchema, { id: body.customerId }, { fields: ['id'] });
  if (!customer) {
    throw new Problem('unknown-customer', `no customer ${body.customerId}`, [
      { field: 'customerId', reason: 'no such customer' },
    ]);
  }
  if (currency !== orderCurrency) {
    throw new Problem('rule-violation', `orders are taken in ${orderCurrency}`, [
      { field: 'currency', reason: `must be ${orderCurrency}` },
    ]);
  }
  const lines = body.lines.map(({ sku, quantity }) => ({ sku, quantity }));
  const products = await checkSkus(em, lines);
  const foreign = lines.flatMap((line, i) =>
    products.get(line.sku) !== currency
      ? [{ field: `lines[${i}].sku`, reason: `priced in ${products.get(line.sku)}` }]
      : [],
  );
  if (foreign.length) throw new Problem('rule-violation', `every line must be priced in ${currency}`, foreign);

  const levels = await em.find(StockLevelSchema, { sku: { $in: [...products.keys()] } });
  const stock: StockMap = {};
  for (const level of levels)
    (stock[level.warehouseCode] ??= {})[level.sku] = Math.max(0, level.onHand - level.reserved);
  if (allocate(lines, stock)) return;
  const available = new Map<string, number>();
  for (const bySku of Object.values(stock)) {
    for (const [sku, units] of Object.entries(bySku)) available.set(sku, (available.get(sku) ?? 0) + units);
  }
  const wanted = sumQuantities(lines);
  const short = lines.flatMap((line, i) => {
    const units = available.get(line.sku) ?? 0;
    return units < wanted.get(line.sku)! ? [{ field: `lines[${i}].sku`, reason: `only ${units} available` }] : [];
  });
  throw new Problem('out-of-stock', 'stock cannot cover the order', short);
}

/** Every SKU exists and is on sale; returns each SKU's currency. */
async function checkSkus(em: EntityManager, lines: readonly LineRequest[]): Promise<Map<string, string>> {
  const skus = [...new Set(lines.map((line) => line.sku))];
  const products = await em.find(ProductSchema, { sku: { $in: skus }, active: true }, { fields: ['sku', 'currency'] });
  const currencies = new Map(products.map((p) => [p.sku, p.currency]));
  const unknown: FieldError[] = lines.flatMap((line, i) =>
    currencies.has(line.sku) ? [] : [{ field: `lines[${i}].sku`, reason: `no product ${line.sku} on sale` }],
  );
  if (unknown.length) throw new Problem('unknown-sku', 'some lines name products that are not on sale', unknown);
  return currencies;
}
