import type { EntityManager } from '@mikro-orm/postgresql';
import { returnableOrder, returnRefusal } from '../../db/return-eligibility';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { refundPolicy, returnPolicy } from '../../config';
import {
  FAILED_GOODS_CHOICES,
  RETURN_METHODS,
  RETURN_REASONS,
  RETURN_STATUSES,
  RETURN_TYPES,
  type Evidence,
  type ReturnInput,
  type ReturnPolicy,
  type ReturnView,
} from '../../domain/return';
import { RETURN_APPROVER_ROLES, WAREHOUSE_ROLES } from '../../domain/roles';
import type * as workflows from '../../workflows';
import {
  awaitReturnRequestUpdate,
  decideReturnUpdate,
  inspectReturnUpdate,
  receiveReturnUpdate,
  refundLostReturnUpdate,
  returnStateQuery,
  returnWorkflowId,
} from '../../workflows/return-messages';
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
import { Problem } from '../problems';
import { returnRequestFromDb, returnStatusFromDb, returnViewFromDb, type ReturnRequest } from '../records';
import { RETURN_QUEUE_ROLES, RETURN_READER_ROLES, RETURN_REQUESTER_ROLES } from '../roles';
import {
  RETURN_WAITING_ON,
  commaSeparated,
  idempotencyHeaders,
  lineRequestSchema,
  orderIdSchema,
  pageOf,
  pagingQuery,
  problems,
  returnIdParams,
  returnIdSchema,
  returnViewSchema,
  reasonSchema,
} from '../schemas';

const requestReturnBody = z.object({
  returnId: returnIdSchema.optional(),
  orderId: orderIdSchema,
  lines: z.array(lineRequestSchema).min(1).max(50).describe('The units to return, each of a line of the order'),
  reason: z.enum(RETURN_REASONS),
  type: z.enum(RETURN_TYPES).describe('refund: money back for the goods; exchange: the same goods again'),
  method: z.enum(RETURN_METHODS).describe('pickup: the carrier collects; label: the customer drops the parcel off'),
  failedGoods: z
    .enum(FAILED_GOODS_CHOICES)
    .default('send_back')
    .describe('What happens to goods that fail inspection: sent back to the customer, or disposed of'),
  evidence: z
    .object({
      photos: z
        .array(z.url({ protocol: /^https?$/ }).max(2000))
        .max(10)
        .optional()
        .describe('http or https URLs'),
      text: z.string().trim().min(1).max(2000).optional(),
    })
    .optional(),
});
type RequestReturnBody = z.infer<typeof requestReturnBody>;

/** A return as the queue lists it: the view's own fields, plus the attention reasons as stored and its age. */
const queuedReturnSchema = returnViewSchema
  .pick({
    returnId: true,
    orderId: true,
    customerId: true,
    status: true,
    lines: true,
    reason: true,
    type: true,
    method: true,
    approver: true,
    waitingOn: true,
    outcome: true,
    escalationLevel: true,
    needsAttention: true,
    slaDeadline: true,
    requestedAt: true,
  })
  .extend({
    attentionReason: z.string().optional(),
    ageSeconds: z.number().int().describe('Seconds since the return was requested'),
  });

const listReturnsQuery = z.object({
  status: commaSeparated(RETURN_STATUSES, 'statuses'),
  orderId: orderIdSchema.optional(),
  needsAttention: z.stringbool().optional().describe('Only returns flagged for a person (or only not)'),
  flagged: z.stringbool().optional().describe('Same as needsAttention'),
  waitingOn: z.enum(RETURN_WAITING_ON).optional().describe('Only open returns waiting for this party'),
  ...pagingQuery,
});

const RETURN: CaseKind<ReturnView> = {
  caseType: 'return',
  idParam: 'returnId',
  params: returnIdParams,
  viewSchema: returnViewSchema,
  workflowId: returnWorkflowId,
  stateQuery: returnStateQuery,
  viewFromDb: returnViewFromDb,
  statusFromDb: returnStatusFromDb,
  auditOutcome: ({ status, outcome }) => ({ status, outcome }),
};

/** What people do to a return once it is requested. */
const RETURN_ACTIONS: readonly CaseAction[] = [
  ...decisionActions(
    'return',
    '/v1/returns/:returnId',
    RETURN_APPROVER_ROLES,
    decideReturnUpdate,
    'Nobody decides on a return they requested.',
  ),
  caseAction({
    method: 'POST',
    path: '/v1/returns/:returnId/receive',
    roles: WAREHOUSE_ROLES,
    summary: 'Record that the warehouse has the returned parcel in hand',
    description: 'Also when the carrier never reported the parcel delivered: the goods being there is the fact.',
    body: z.object({ note: reasonSchema.optional() }).nullish(),
    update: receiveReturnUpdate,
    args: (body, { actor }) => ({ actor, note: body?.note }),
    action: () => 'return.receive',
    detail: (body) => ({ note: body?.note }),
  }),
  caseAction({
    method: 'POST',
    path: '/v1/returns/:returnId/inspect',
    roles: WAREHOUSE_ROLES,
    summary: 'Record the inspection of the received goods, one verdict per returned unit',
    description:
      'Every returned unit is judged once: the lines must add up to the returned lines, SKU by SKU. Passed goods ' +
      'are restocked and refunded or replaced; failed ones are sent back or disposed of, as the customer chose.',
    body: z.object({
      lines: z
        .array(
          lineRequestSchema.extend({
            passed: z.boolean(),
            note: reasonSchema.optional(),
          }),
        )
        .min(1)
        .max(50),
    }),
    update: inspectReturnUpdate,
    args: ({ lines }, { actor }) => ({ actor, lines }),
    action: () => 'return.inspect',
    detail: ({ lines }) => ({ lines }),
  }),
  caseAction({
    method: 'POST',
    path: '/v1/returns/:returnId/refund-without-receipt',
    roles: RETURN_APPROVER_ROLES,
    summary: 'Refund a return whose parcel the carrier lost, without the goods arriving',
    body: z.object({ reason: reasonSchema }),
    update: refundLostReturnUpdate,
    args: ({ reason }, { actor }) => ({ actor, reason }),
    action: () => 'return.refund_without_receipt',
    detail: ({ reason }) => ({ reason }),
  }),
  recoverAction(
    'return',
    '/v1/returns/:returnId/recover',
    'fail gives the return up: its claim on the order’s lines is released, a parcel not yet collected is cancelled, ' +
      'and it ends REJECTED',
  ),
  clearFlagAction('return', '/v1/returns/:returnId/clear-flag'),
];

/** The request as it is compared with a repeat of it, empty evidence dropped: the return id is the key. */
function returnRequest(body: RequestReturnBody): ReturnRequest {
  const { orderId, lines, reason, type, method, failedGoods } = body;
  const evidence: Evidence = {
    ...(body.evidence?.photos?.length ? { photos: body.evidence.photos } : {}),
    ...(body.evidence?.text ? { text: body.evidence.text } : {}),
  };
  return {
    orderId,
    lines: lines.map(({ sku, quantity }) => ({ sku, quantity })),
    reason,
    type,
    method,
    failedGoods,
    ...(Object.keys(evidence).length ? { evidence } : {}),
  };
}

const returnRequestHash = ({ orderId, lines, reason, type, method, failedGoods, evidence }: ReturnRequest): string =>
  hashRequest({ orderId, lines, reason, type, method, failedGoods, evidence });

/**
 * Refuses, before any workflow exists, goods that cannot come back: an order not delivered, the window passed, SKUs
 * the order does not have or the catalogue does not take back, more units than are left to return. The claim in the
 * workflow is the arbiter (two requests may both pass here for the last unit); these only answer early, naming the
 * field.
 */
async function precheck(
  em: EntityManager,
  asked: ReturnRequest,
  policy: ReturnPolicy,
): Promise<{ customerId: string; currency: string }> {
  const order = await returnableOrder(em, asked.orderId);
  if (!order) {
    throw new Problem('not-found', `no order ${asked.orderId}`, [{ field: 'orderId', reason: 'no such order' }]);
  }
  const refusal = await returnRefusal(em, order, asked, policy, Date.now());
  if (refusal) {
    throw new Problem('rule-violation', `order ${asked.orderId} cannot take this return: ${refusal.reason}`, [refusal]);
  }
  return { customerId: order.customerId, currency: order.currency };
}

/** A return whose claim found the goods not (or no longer) returnable was never a return to approve. */
function refusedClaim(view: ReturnView): Problem | undefined {
  if (view.status !== 'REJECTED' || view.decision) return undefined;
  const reason = view.rejectReason ?? 'not eligible for return';
  return new Problem('rule-violation', `return ${view.returnId} was refused: ${reason}`, [{ field: 'lines', reason }]);
}

export function returnRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  const { config } = deps;
  const returns = caseApi(deps, RETURN);

  return async (app) => {
    app.post(
      '/v1/returns',
      {
        config: { roles: RETURN_REQUESTER_ROLES },
        schema: {
          tags: ['returns'],
          summary: 'Request a return of delivered goods of an order',
          description:
            'Idempotent: the return id (body `returnId` or `Idempotency-Key`) names the return. Repeating a request ' +
            'returns the same return (200); the same id with a different request is a 409. Goods that cannot be ' +
            'returned (not delivered, past the window, not returnable, more units than are left) are a 422 naming ' +
            'the field, also when another return took the last units a moment earlier.',
          headers: idempotencyHeaders,
          body: requestReturnBody,
          response: { 200: returnViewSchema, 201: returnViewSchema, ...problems(400, 401, 403, 404, 409, 422, 503) },
        },
      },
      async (request, reply) => {
        const returnId = returns.requestedId(request, request.body.returnId, 'returnId', 'ret');
        const asked = returnRequest(request.body);
        const requestHash = returnRequestHash(asked);
        const em = deps.orm.em.fork();
        const actor = actorOf(request);
        const { status, view } = await returns.startCase(request, em, {
          id: returnId,
          action: 'return.request',
          detail: { ...asked, requestHash },
          requestHash,
          recordedHash: async () => {
            const recorded = await returnRequestFromDb(em, returnId);
            return recorded && returnRequestHash(recorded);
          },
          prepare: async (): Promise<ReturnInput> => {
            const policy = returnPolicy(config);
            const order = await precheck(em, asked, policy);
            return {
              returnId,
              ...asked,
              customerId: order.customerId,
              currency: order.currency,
              requestedBy: actor,
              requestedAt: new Date().toISOString(),
              policy,
              refundPolicy: refundPolicy(config),
            };
          },
          workflowType: 'returnWorkflow' satisfies keyof typeof workflows,
          ready: awaitReturnRequestUpdate,
          refusal: refusedClaim,
        });
        return reply
          .code(status)
          .header('location', `/v1/returns/${encodeURIComponent(returnId)}`)
          .send(view);
      },
    );

    returns.registerView(app, '/v1/returns/:returnId', RETURN_READER_ROLES);

    app.get(
      '/v1/returns',
      {
        config: { roles: RETURN_QUEUE_ROLES },
        schema: {
          tags: ['returns'],
          summary: 'The returns queue (from PostgreSQL), oldest first',
          querystring: listReturnsQuery,
          response: { 200: pageOf(queuedReturnSchema), ...problems(400, 401, 403, 503) },
        },
      },
      async (request) => {
        const { query } = request;
        const { rows, total } = await queuePage<ReturnListRow>(
          deps.orm.em.fork(),
          'returns',
          'status, lines, reason, type, method, approver, waiting_on, outcome',
          {
            ...query,
            needsAttention: query.needsAttention ?? query.flagged,
            where: query.waitingOn ? ['waiting_on = ?'] : [],
            params: query.waitingOn ? [query.waitingOn] : [],
          },
        );
        return {
          items: rows.map((r) => ({
            returnId: r.id,
            status: r.status,
            lines: r.lines,
            reason: r.reason,
            type: r.type,
            method: r.method,
            approver: r.approver,
            waitingOn: r.waiting_on,
            ...(r.outcome ? { outcome: r.outcome } : {}),
            ...queueFields(r),
          })),
          total,
          limit: query.limit,
          offset: query.offset,
        };
      },
    );

    returns.registerActions(app, RETURN_ACTIONS);
  };
}

interface ReturnListRow extends QueueRow {
  status: ReturnView['status'];
  lines: ReturnView['lines'];
  reason: ReturnView['reason'];
  type: ReturnView['type'];
  method: ReturnView['method'];
  approver: ReturnView['approver'];
  waiting_on: ReturnView['waitingOn'];
  outcome: ReturnView['outcome'] | null;
}
