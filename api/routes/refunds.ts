import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { refundPolicy } from '../../config';
import { sumQuantities, type LineRequest } from '../../domain/order';
import {
  REFUND_CHANNELS,
  REFUND_REASONS,
  REFUND_STATUSES,
  type RefundInput,
  type RefundReason,
  type RefundView,
} from '../../domain/refund';
import { REFUND_APPROVER_ROLES, REFUND_RETRY_ROLES } from '../../domain/roles';
import type * as workflows from '../../workflows';
import {
  awaitRefundRequestUpdate,
  decideRefundUpdate,
  refundStateQuery,
  refundWorkflowId,
  retryRefundUpdate,
  type RefundRetry,
} from '../../workflows/refund-messages';
import type { ApiDeps } from '../app';
import { actorOf } from '../auth';
import {
  caseAction,
  caseApi,
  decisionActions,
  hashRequest,
  queueFields,
  queuePage,
  clearFlagAction,
  recoverAction,
  type CaseAction,
  type CaseKind,
  type QueueRow,
} from '../cases';
import { Problem, type FieldError } from '../problems';
import { refundRequestFromDb, refundStatusFromDb, refundViewFromDb, type RefundRequest } from '../records';
import { REFUND_QUEUE_ROLES, REFUND_READER_ROLES, REFUND_REQUESTER_ROLES } from '../roles';
import {
  idempotencyHeaders,
  lineRequestSchema,
  orderIdSchema,
  pagingQuery,
  problems,
  refundIdParams,
  refundIdSchema,
  refundViewSchema,
  commaSeparated,
  pageOf,
  reasonSchema,
} from '../schemas';

/** Reasons only other cases give: an order refunds its own cancel, a return or a complaint starts its refund. */
const CASE_ONLY_REASONS = ['order_cancelled', 'return_received', 'complaint_resolution'] as const;

const requestRefundBody = z
  .object({
    refundId: refundIdSchema.optional(),
    orderId: orderIdSchema,
    amount: z.number().int().positive().optional().describe('Minor units of the order’s currency; or give lines'),
    lines: z
      .array(lineRequestSchema)
      .min(1)
      .max(50)
      .optional()
      .describe('Refund these units at the price paid for them; or give amount'),
    includeShipping: z.boolean().optional().describe('With lines: refund the order’s shipping fee too'),
    reason: z.enum(REFUND_REASONS).exclude(CASE_ONLY_REASONS),
    note: z.string().trim().min(1).max(500).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.amount !== undefined && body.lines) {
      ctx.addIssue({ code: 'custom', path: ['amount'], message: 'give either amount or lines, not both' });
    } else if (body.amount === undefined && !body.lines) {
      ctx.addIssue({ code: 'custom', path: ['amount'], message: 'required unless lines are given' });
    }
    if (body.includeShipping && !body.lines) {
      ctx.addIssue({ code: 'custom', path: ['includeShipping'], message: 'only with lines' });
    }
  });
type RequestRefundBody = z.infer<typeof requestRefundBody>;

/** A refund as the queue lists it: the view's own fields, plus the attention reasons as stored and its age. */
const refundSummarySchema = refundViewSchema
  .pick({
    refundId: true,
    orderId: true,
    customerId: true,
    status: true,
    amount: true,
    currency: true,
    reason: true,
    approver: true,
    escalationLevel: true,
    needsAttention: true,
    slaDeadline: true,
    requestedAt: true,
  })
  .extend({
    attentionReason: z.string().optional(),
    ageSeconds: z.number().int().describe('Seconds since the refund was requested'),
  });

const listRefundsQuery = z.object({
  status: commaSeparated(REFUND_STATUSES, 'statuses'),
  orderId: orderIdSchema.optional(),
  escalated: z.stringbool().optional().describe('Only refunds escalated past their approval SLA (or only not)'),
  needsAttention: z.stringbool().optional(),
  ...pagingQuery,
});

const REFUND: CaseKind<RefundView> = {
  caseType: 'refund',
  idParam: 'refundId',
  params: refundIdParams,
  viewSchema: refundViewSchema,
  workflowId: refundWorkflowId,
  stateQuery: refundStateQuery,
  viewFromDb: refundViewFromDb,
  statusFromDb: refundStatusFromDb,
  auditOutcome: ({ amount, currency, status }) => ({ amount, currency, status }),
};

/** What people do to a refund once it is requested. */
const REFUND_ACTIONS: readonly CaseAction[] = [
  ...decisionActions(
    'refund',
    '/v1/refunds/:refundId',
    REFUND_APPROVER_ROLES,
    decideRefundUpdate,
    'Above the agent limit only a supervisor may; nobody decides on a refund they requested.',
  ),
  caseAction({
    method: 'POST',
    path: '/v1/refunds/:refundId/retry',
    roles: REFUND_RETRY_ROLES,
    summary: 'Retry a refund the gateway refused, or pay it out another way',
    body: z.object({
      channel: z
        .enum(REFUND_CHANNELS)
        .describe('original: the payment’s own channel again; bank_transfer or balance: pay the customer out instead'),
      reason: reasonSchema,
    }),
    update: retryRefundUpdate,
    args: ({ channel, reason }, { actor }): RefundRetry => ({ channel, reason, actor }),
    action: () => 'refund.retry',
    detail: ({ channel, reason }) => ({ channel, reason }),
  }),
  recoverAction(
    'refund',
    '/v1/refunds/:refundId/recover',
    'fail gives the refund up: unless the money already went back, its claim is released and it ends REJECTED',
  ),
  clearFlagAction('refund', '/v1/refunds/:refundId/clear-flag'),
];

/** The request as it is compared with a repeat of it: the refund id is the key, not part of the request. */
function refundRequestHash({ orderId, amount, lines, includeShipping, reason, note }: RefundRequest): string {
  const what = lines ? { lines, includeShipping: includeShipping ?? false } : { amount };
  return hashRequest({ orderId, reason, note, ...what });
}

interface RefundTerms {
  customerId: string;
  currency: string;
  amount: number;
}

/**
 * Refuses, before any workflow exists, a refund that cannot be paid: an unknown order, nothing captured, lines the
 * order does not have, more than is left to refund. The workflow's claim on the payment is the arbiter (two requests
 * may both pass here for the last of the money); these only answer early and name the field.
 */
async function precheck(em: EntityManager, body: RequestRefundBody): Promise<RefundTerms> {
  const [order] = await em.execute<{ customer_id: string; currency: string; shipping: number }[]>(
    'select customer_id, currency, shipping from orders where id = ?',
    [body.orderId],
  );
  if (!order) {
    throw new Problem('rule-violation', `no order ${body.orderId}`, [{ field: 'orderId', reason: 'no such order' }]);
  }
  const [money] = await em.execute<{ captured: number; refundable: number; largest: number }[]>(
    `select coalesce(sum(captured_amount), 0)::int as captured,
            coalesce(sum(greatest(captured_amount - refund_claimed, 0)), 0)::int as refundable,
            coalesce(max(captured_amount - refund_claimed), 0)::int as largest
       from payments where order_id = ?`,
    [body.orderId],
  );
  if (money.captured === 0) {
    throw new Problem('rule-violation', `no money has been captured for order ${body.orderId}`, [
      { field: 'orderId', reason: 'nothing captured to refund; cancel the order instead' },
    ]);
  }
  const amount = body.lines
    ? await linesAmount(em, body.orderId, body.lines, body.includeShipping, order.shipping)
    : body.amount!;
  const field = body.lines ? 'lines' : 'amount';
  if (amount > money.refundable) {
    throw new Problem('rule-violation', `refunds of order ${body.orderId} would exceed what was captured`, [
      { field, reason: `${amount} asked, ${money.refundable} ${order.currency} is still refundable` },
    ]);
  }
  // A refund is paid back on one payment; an order holds more than one only after a method was replaced.
  if (amount > money.largest) {
    throw new Problem('rule-violation', `a refund comes from one payment of order ${body.orderId}`, [
      { field, reason: `${amount} asked, at most ${money.largest} ${order.currency} in one refund` },
    ]);
  }
  return { customerId: order.customer_id, currency: order.currency, amount };
}

/** What the lines were paid, and the shipping when asked; every line must be of the order, in no more units. */
async function linesAmount(
  em: EntityManager,
  orderId: string,
  lines: readonly LineRequest[],
  includeShipping: boolean | undefined,
  shipping: number,
): Promise<number> {
  const ordered = await em.execute<{ sku: string; quantity: number; unit_price: number }[]>(
    'select sku, quantity, unit_price from order_lines where order_id = ? order by id',
    [orderId],
  );
  const units = sumQuantities(ordered);
  const prices = new Map(ordered.map((line) => [line.sku, line.unit_price]));
  const asked = new Map<string, number>();
  const errors: FieldError[] = [];
  lines.forEach((line, i) => {
    const have = units.get(line.sku);
    if (have === undefined) {
      errors.push({ field: `lines[${i}].sku`, reason: `order ${orderId} has no line of ${line.sku}` });
      return;
    }
    const total = (asked.get(line.sku) ?? 0) + line.quantity;
    asked.set(line.sku, total);
    if (total > have) errors.push({ field: `lines[${i}].quantity`, reason: `only ${have} of ${line.sku} ordered` });
  });
  if (errors.length) throw new Problem('rule-violation', `the lines are not all of order ${orderId}`, errors);
  const amount =
    lines.reduce((sum, line) => sum + prices.get(line.sku)! * line.quantity, 0) + (includeShipping ? shipping : 0);
  if (amount === 0) {
    throw new Problem('rule-violation', 'the lines were free: nothing to refund', [
      { field: 'lines', reason: 'worth 0' },
    ]);
  }
  return amount;
}

export function refundRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  const { config } = deps;
  const refunds = caseApi(deps, REFUND);

  /** A refund whose claim found nothing left (another refund took the money first) was never a refund to approve. */
  function refusedClaim(view: RefundView, field: string): Problem | undefined {
    if (view.status !== 'REJECTED' || view.decision) return undefined;
    const reason = view.rejectReason ?? 'nothing left to refund';
    return new Problem('rule-violation', `refund ${view.refundId} was refused: ${reason}`, [{ field, reason }]);
  }

  return async (app) => {
    app.post(
      '/v1/refunds',
      {
        config: { roles: REFUND_REQUESTER_ROLES },
        schema: {
          tags: ['refunds'],
          summary: 'Request a refund of an amount or of lines of an order',
          description:
            'Idempotent: the refund id (body `refundId` or `Idempotency-Key`) names the refund. Repeating a request ' +
            'returns the same refund (200); the same id with a different request is a 409. A request for more than ' +
            'is left to refund is a 422, also when another refund took the money a moment earlier.',
          headers: idempotencyHeaders,
          body: requestRefundBody,
          response: { 200: refundViewSchema, 201: refundViewSchema, ...problems(400, 401, 403, 409, 422, 503) },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const refundId = refunds.requestedId(request, body.refundId, 'refundId', 'ref');
        const requestHash = refundRequestHash(body);
        const em = deps.orm.em.fork();
        const actor = actorOf(request);
        const detail: Record<string, unknown> = {
          orderId: body.orderId,
          amount: body.amount,
          lines: body.lines,
          includeShipping: body.includeShipping,
          reason: body.reason,
          requestHash,
        };
        const { status, view } = await refunds.startCase(request, em, {
          id: refundId,
          action: 'refund.request',
          detail,
          requestHash,
          recordedHash: async () => {
            const recorded = await refundRequestFromDb(em, refundId);
            return recorded && refundRequestHash(recorded);
          },
          prepare: async (): Promise<RefundInput> => {
            const terms = await precheck(em, body);
            detail.amount = terms.amount;
            return {
              refundId,
              orderId: body.orderId,
              customerId: terms.customerId,
              currency: terms.currency,
              amount: terms.amount,
              ...(body.lines ? { lines: body.lines, includeShipping: !!body.includeShipping } : {}),
              reason: body.reason,
              ...(body.note ? { note: body.note } : {}),
              origin: actor.role === 'system' ? 'customer' : 'agent',
              requestedBy: actor,
              requestedAt: new Date().toISOString(),
              policy: refundPolicy(config),
            };
          },
          workflowType: 'refundWorkflow' satisfies keyof typeof workflows,
          ready: awaitRefundRequestUpdate,
          refusal: (refund) => refusedClaim(refund, body.lines ? 'lines' : 'amount'),
        });
        return reply
          .code(status)
          .header('location', `/v1/refunds/${encodeURIComponent(refundId)}`)
          .send(view);
      },
    );

    refunds.registerView(app, '/v1/refunds/:refundId', REFUND_READER_ROLES);

    app.get(
      '/v1/refunds',
      {
        config: { roles: REFUND_QUEUE_ROLES },
        schema: {
          tags: ['refunds'],
          summary: 'The refunds queue (from PostgreSQL), oldest first',
          querystring: listRefundsQuery,
          response: {
            200: pageOf(refundSummarySchema),
            ...problems(400, 401, 403, 503),
          },
        },
      },
      async (request) => {
        const { query } = request;
        const escalated =
          query.escalated === undefined ? [] : [query.escalated ? 'escalation_level > 0' : 'escalation_level = 0'];
        const { rows, total } = await queuePage<RefundListRow>(
          deps.orm.em.fork(),
          'refunds',
          'status, amount, currency, reason, approver',
          { ...query, where: escalated },
        );
        return {
          items: rows.map((r) => ({
            refundId: r.id,
            status: r.status,
            amount: r.amount,
            currency: r.currency,
            reason: r.reason,
            approver: r.approver,
            ...queueFields(r),
          })),
          total,
          limit: query.limit,
          offset: query.offset,
        };
      },
    );

    refunds.registerActions(app, REFUND_ACTIONS);
  };
}

interface RefundListRow extends QueueRow {
  status: RefundView['status'];
  amount: number;
  currency: string;
  reason: RefundReason;
  approver: RefundView['approver'];
}
