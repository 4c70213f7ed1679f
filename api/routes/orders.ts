import { raw } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
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
import { ORDER_REVIEWER_ROLES } from '../../domain/roles';
import { allocate, type StockMap } from '../../domain/rules';
import {
  awaitIntakeUpdate,
  cancelOrderUpdate,
  changeAddressUpdate,
  confirmReceiptUpdate,
  editLinesUpdate,
  orderStateQuery,
  orderWorkflowId,
  retryPaymentUpdate,
  reviewOrderUpdate,
  type AddressChange,
  type CancelRequest,
  type LineEdit,
  type PaymentRetry,
  type ReviewDecision,
} from '../../workflows/messages';
import type * as workflows from '../../workflows';
import { ChannelKey, CustomerIdKey, PaymentMethodKey } from '../../workflows/search-attributes';
import type { ApiDeps } from '../app';
import { actorOf } from '../auth';
import {
  caseAction,
  caseApi,
  clearFlagAction,
  hashRequest,
  recoverAction,
  type CaseAction,
  type CaseKind,
} from '../cases';
import { Problem, type FieldError } from '../problems';
import { orderStatusFromDb, orderViewFromDb, refundsOfOrder, returnSummariesFromDb } from '../records';
import {
  CUSTOMER_ACTOR_ROLES,
  ORDER_CANCEL_ROLES,
  ORDER_LIST_ROLES,
  ORDER_PLACER_ROLES,
  ORDER_READER_ROLES,
} from '../roles';
import {
  addressSchema,
  idempotencyHeaders,
  lineRequestSchema,
  orderIdParams,
  orderIdSchema,
  orderViewSchema,
  pagingQuery,
  paymentInstructionSchema,
  problems,
  commaSeparated,
  pageOf,
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
  status: commaSeparated(ORDER_STATUSES, 'statuses'),
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

const ORDER: CaseKind<OrderView> = {
  caseType: 'order',
  idParam: 'orderId',
  params: orderIdParams,
  viewSchema: orderViewSchema,
  workflowId: orderWorkflowId,
  stateQuery: orderStateQuery,
  viewFromDb: orderViewFromDb,
  statusFromDb: orderStatusFromDb,
};

const normalisedLines = (lines: readonly LineRequest[]): LineRequest[] =>
  lines.map(({ sku, quantity }) => ({ sku, quantity }));

/** Every change to an order after placement: a workflow update each, taken by the roles that may ask for it. */
const ORDER_ACTIONS: readonly CaseAction[] = [
  caseAction({
    method: 'POST',
    path: '/v1/orders/:orderId/cancel',
    roles: ORDER_CANCEL_ROLES,
    summary: 'Cancel an order before it ships',
    body: z.object({ reason: z.string().trim().min(1).max(500) }),
    update: cancelOrderUpdate,
    args: ({ reason }, { actor }): CancelRequest => ({ reason, actor }),
    action: () => 'order.cancel',
    detail: ({ reason }) => ({ reason }),
  }),
  caseAction({
    method: 'POST',
    path: '/v1/orders/:orderId/review',
    roles: ORDER_REVIEWER_ROLES,
    summary: 'Approve or reject an order held for review',
    body: reviewBody,
    update: reviewOrderUpdate,
    args: ({ decision, reason }, { actor }): ReviewDecision => ({ decision, reason, actor }),
    action: () => 'order.review',
    detail: ({ decision, reason }) => ({ decision, reason }),
  }),
  caseAction({
    method: 'POST',
    path: '/v1/orders/:orderId/payment',
    roles: CUSTOMER_ACTOR_ROLES,
    summary: 'Retry payment, possibly with another method',
    body: paymentInstructionSchema,
    update: retryPaymentUpdate,
    args: (payment, { actor }): PaymentRetry => ({ payment, actor }),
    action: () => 'order.retry_payment',
    detail: ({ method }) => ({ method }),
  }),
  caseAction({
    method: 'PATCH',
    path: '/v1/orders/:orderId',
    roles: CUSTOMER_ACTOR_ROLES,
    summary: 'Change lines and quantities while awaiting payment',
    body: z.object({ lines: z.array(lineRequestSchema).min(1).max(50) }),
    update: editLinesUpdate,
    args: ({ lines }, { actor }): LineEdit => ({ lines: normalisedLines(lines), actor }),
    action: () => 'order.edit_lines',
    detail: ({ lines }) => ({ lines: normalisedLines(lines) }),
    precheck: (em, { lines }) => checkSkus(em, normalisedLines(lines)),
  }),
  caseAction({
    method: 'PUT',
    path: '/v1/orders/:orderId/shipping-address',
    roles: CUSTOMER_ACTOR_ROLES,
    summary: 'Change the shipping address until a parcel is handed over',
    body: addressSchema,
    update: changeAddressUpdate,
    args: (address, { actor }): AddressChange => ({ address, actor }),
    action: () => 'order.change_address',
    detail: (address) => ({ address }),
  }),
  recoverAction('order', '/v1/orders/:orderId/recover', 'fail ends the order FAILED, releasing stock and payment'),
  clearFlagAction('order', '/v1/orders/:orderId/clear-flag'),
  caseAction({
    method: 'POST',
    path: '/v1/orders/:orderId/confirm-receipt',
    roles: CUSTOMER_ACTOR_ROLES,
    summary: 'Confirm delivery was received',
    // Fastify hands a POST without a body over as null.
    body: z.object({}).nullish(),
    update: confirmReceiptUpdate,
    args: (_body, { actor }) => ({ actor }),
    action: () => 'order.confirm_receipt',
    detail: () => ({}),
  }),
];

export function orderRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  const { config } = deps;
  const orders = caseApi(deps, ORDER);
  const { audited, describe } = orders;

  return async (app) => {
    app.post(
      '/v1/orders',
      {
        config: { roles: ORDER_PLACER_ROLES },
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
        const orderId = orders.requestedId(request, body.orderId, 'orderId', 'ord');
        const currency = body.currency ?? config.ORDER_CURRENCY;
        const lines = normalisedLines(body.lines);
        const requestHash = placementHash(body, currency, lines);
        const em = deps.orm.em.fork();
        const actor = actorOf(request);

        const replay = (existingHash: unknown) =>
          orders.replay(em, orderId, requestHash, existingHash, awaitIntakeUpdate);

        const { status, view } = await audited(request, em, 'order.place', orderId, { requestHash }, async () => {
          // Whether the order is on record and the checks of a new one are read together.
          const [recorded, checked] = await Promise.allSettled([
            em.findOne(OrderSchema, { id: orderId }, { fields: ['requestHash'] }),
            precheck(em, body, currency, config.ORDER_CURRENCY),
          ]);
          const onRecord = settled(recorded);
          if (onRecord) return replay(onRecord.requestHash);
          if (checked.status === 'rejected') {
            // A retried placement may fail checks its first attempt consumed (the stock it reserved).
            const existing = await describe(orderId);
            if (existing) return replay(existing.memo?.requestHash);
            throw checked.reason;
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
          return orders.startOnce(em, orderId, {
            workflowType: 'orderWorkflow' satisfies keyof typeof workflows,
            input,
            requestHash,
            searchAttributes: [
              { key: CustomerIdKey, value: input.customerId },
              { key: ChannelKey, value: input.channel },
              { key: PaymentMethodKey, value: input.payment.method },
            ],
            ready: awaitIntakeUpdate,
          });
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
        config: { roles: ORDER_READER_ROLES },
        schema: {
          tags: ['orders'],
          summary: 'One order, live from its workflow',
          description:
            'Lists every refund and return of the order, whoever started it, and the money refunded, from PostgreSQL.',
          params: orderIdParams,
          response: { 200: orderViewSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const em = deps.orm.em.fork();
        const [view, { summaries: refunds, refunded }, returns] = await Promise.all([
          orders.currentView(em, request.params.orderId),
          refundsOfOrder(em, request.params.orderId),
          returnSummariesFromDb(em, request.params.orderId),
        ]);
        // Refund cases of returns and complaints pay back money the order workflow never hears of: the ledger counts.
        const payment = { ...view.payment, refunded: Math.max(view.payment.refunded, refunded) };
        return { ...view, payment, refunds, returns };
      },
    );

    app.get(
      '/v1/orders',
      {
        config: { roles: ORDER_LIST_ROLES },
        schema: {
          tags: ['orders'],
          summary: 'Search orders (from PostgreSQL)',
          querystring: listOrdersQuery,
          response: {
            200: pageOf(orderSummarySchema, {
              totalAmount: z.number().int().describe('Sum of the matching orders’ totals, in minor units'),
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

    orders.registerActions(app, ORDER_ACTIONS);
  };
}

/** The order id is the key, not part of the request: a retry may name it by body or header alike. */
function placementHash(body: PlaceOrderBody, currency: string, lines: LineRequest[]): string {
  const { customerId, channel, shippingAddress, payment } = body;
  return hashRequest({ customerId, channel, currency, lines, shippingAddress, payment });
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
  const lines = normalisedLines(body.lines);
  // The reads do not depend on one another, so they go out together; their verdicts are taken in the order below.
  const [customerRead, productsRead, levelsRead] = await Promise.allSettled([
    em.findOne(CustomerSchema, { id: body.customerId }, { fields: ['id'] }),
    checkSkus(em, lines),
    em.find(StockLevelSchema, { sku: { $in: [...new Set(lines.map((line) => line.sku))] } }),
  ]);
  if (!settled(customerRead)) {
    throw new Problem('unknown-customer', `no customer ${body.customerId}`, [
      { field: 'customerId', reason: 'no such customer' },
    ]);
  }
  if (currency !== orderCurrency) {
    throw new Problem('rule-violation', `orders are taken in ${orderCurrency}`, [
      { field: 'currency', reason: `must be ${orderCurrency}` },
    ]);
  }
  const products = settled(productsRead);
  const foreign = lines.flatMap((line, i) =>
    products.get(line.sku) !== currency
      ? [{ field: `lines[${i}].sku`, reason: `priced in ${products.get(line.sku)}` }]
      : [],
  );
  if (foreign.length) throw new Problem('rule-violation', `every line must be priced in ${currency}`, foreign);

  const levels = settled(levelsRead);
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

/** The value of a settled read, or its error thrown. */
function settled<T>(read: PromiseSettledResult<T>): T {
  if (read.status === 'rejected') throw read.reason;
  return read.value;
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
