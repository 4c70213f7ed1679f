import { z } from 'zod';
import { PHONE_PATTERN } from '../domain/phone';
import { CASE_TYPES } from '../domain/case';
import {
  AGENT_SENIORITIES,
  COMPLAINT_CATEGORIES,
  COMPLAINT_CHANNELS,
  COMPLAINT_OUTCOMES,
  COMPLAINT_PRIORITIES,
  COMPLAINT_STATUSES,
  CUSTOMER_LEVELS,
  TIMELINE_KINDS,
  type ComplaintView,
} from '../domain/complaint';
import {
  CARRIER_EXCEPTION_KINDS,
  ORDER_CHANNELS,
  ORDER_STATUSES,
  PAYMENT_METHODS,
  SHIPMENT_STATUSES,
  type Address,
  type LineRequest,
  type OrderView,
  type PaymentInstruction,
  type PaymentStatus,
} from '../domain/order';
import {
  REFUND_CHANNELS,
  REFUND_ORIGINS,
  REFUND_REASONS,
  REFUND_STATUSES,
  type RefundSummary,
  type RefundView,
} from '../domain/refund';
import {
  FAILED_GOODS_CHOICES,
  RETURN_METHODS,
  RETURN_OUTCOMES,
  RETURN_REASONS,
  RETURN_STATUSES,
  RETURN_TYPES,
  type ReturnSummary,
  type ReturnView,
  type ReturnWaitingOn,
} from '../domain/return';
import { ROLES } from '../domain/roles';
import { problemSchema } from './problems';

/** Schemas shared by several route modules; the ones used by a single route live beside it. */

/** Every field of T, made required at every depth, so two shapes compare their keys and not only their types. */
type Fields<T> = T extends readonly (infer E)[]
  ? Fields<E>[]
  : T extends object
    ? { [K in keyof T]-?: Fields<T[K]> }
    : T;
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** A and B have the same fields, with the same optionality and types, at every depth. */
type SameShape<A, B> = Mutual<A, B> extends true ? Mutual<Fields<A>, Fields<B>> : false;

/**
 * Returns the schema as it is, and fails to compile unless what it parses to has exactly the shape of the domain type
 * T: the domain declares a view once, and a field added, dropped or retyped there breaks the build here instead of
 * being stripped from, or failing, the response.
 */
const describing =
  <T>() =>
  <S extends z.ZodType>(
    schema: S &
      (SameShape<z.output<S>, T> extends true ? unknown : { 'parses to another shape than the domain type': T }),
  ): S =>
    schema;

/** Why a person did something to a case: a decision, a note, a retry. */
export const reasonSchema = z.string().trim().min(1).max(500);

/** Ids of every case type: chosen by the client (body or Idempotency-Key) or generated when it is started. */
const CASE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const caseIdSchema = (description: string) =>
  z.string().regex(CASE_ID_PATTERN, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -').describe(description);

export const orderIdSchema = caseIdSchema('Order id, chosen by the client or generated at placement');
export const orderIdParams = z.object({ orderId: orderIdSchema });
export const refundIdSchema = caseIdSchema('Refund id, chosen by the client or generated at request');
/**
 * Refunds other cases start are named after them (`<orderId>-cancel-<n>`, `<returnId>-refund`), so a refund's id in a
 * path may be longer than one a client chooses.
 */
export const refundIdParams = z.object({
  refundId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,100}$/, 'must be 1-100 characters of A-Z, a-z, 0-9, _ or -')
    .describe('Refund id: chosen by the client, or derived from the case that started the refund'),
});
export const returnIdSchema = caseIdSchema('Return id, chosen by the client or generated at request');
export const returnIdParams = z.object({ returnId: returnIdSchema });
export const complaintIdSchema = caseIdSchema('Complaint id, chosen by the client or generated when it is opened');
export const complaintIdParams = z.object({ complaintId: complaintIdSchema });

/** Loose: the other headers must stay on the request. */
export const idempotencyHeaders = z.looseObject({
  'idempotency-key': caseIdSchema(
    'Makes the request safe to retry; when starting a case, its id; for an approval or rejection, the decision id',
  ).optional(),
});

export const addressSchema = describing<Address>()(
  z
    .object({
      name: z.string().trim().min(2).max(30),
      phone: z.string().regex(PHONE_PATTERN, 'must be E.164 (+8613800138000) or an 11-digit CN mobile number'),
      line1: z.string().trim().min(1).max(200),
      line2: z.string().trim().max(200).optional(),
      city: z.string().trim().min(1).max(100),
      region: z.string().trim().max(100).optional(),
      postalCode: z.string().trim().min(1).max(20),
      country: z
        .string()
        .regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166-1 alpha-2 code')
        .transform((code) => code.toUpperCase()),
    })
    .meta({ id: 'Address' }),
);

export const lineRequestSchema = describing<LineRequest>()(
  z.object({
    sku: z.string().trim().min(1).max(64),
    quantity: z.number().int().min(1).max(999),
  }),
);

/** Methods the customer pays with a token from the payment form; balance, bank transfer and COD need none. */
const TOKEN_METHODS: readonly string[] = ['card', 'wallet', 'instalments'];

export const paymentInstructionSchema = describing<PaymentInstruction>()(
  z
    .object({
      method: z.enum(PAYMENT_METHODS),
      token: z.string().min(1).max(512).optional().describe('Card or wallet token from the payment form'),
    })
    .superRefine((payment, ctx) => {
      if (TOKEN_METHODS.includes(payment.method) && !payment.token) {
        ctx.addIssue({ code: 'custom', path: ['token'], message: `a ${payment.method} payment needs a token` });
      }
    })
    .meta({ id: 'PaymentInstruction' }),
);

/* Response schemas: plain strings where requests are stricter, so what was stored under older rules still reads. */

const historySchema = <const S extends readonly [string, ...string[]]>(statuses: S) =>
  z.array(
    z.object({
      seq: z.number().int(),
      from: z.enum(statuses).nullable(),
      to: z.enum(statuses),
      at: z.string(),
      actor: z.string(),
      reason: z.string().optional(),
    }),
  );

const actorSchema = z.object({ principal: z.string(), role: z.enum(ROLES) });

/** A person's approve-or-reject on a case that waited for one (a refund, a return). */
const decisionSchema = z.object({
  decisionId: z.string(),
  decision: z.enum(['approve', 'reject']),
  actor: actorSchema,
  reason: z.string().optional(),
  at: z.string(),
});

const lineSchema = z.object({ sku: z.string(), quantity: z.number().int() });

const pricedLineSchema = z.object({
  sku: z.string(),
  name: z.string(),
  quantity: z.number().int(),
  unitPrice: z.number().int(),
  lineTotal: z.number().int(),
});

const shipmentViewSchema = z.object({
  shipmentId: z.string(),
  warehouseCode: z.string(),
  lines: z.array(lineSchema),
  status: z.enum(SHIPMENT_STATUSES),
  carrier: z.string().optional(),
  waybill: z.string().optional(),
  lastEventAt: z.string().optional(),
  exception: z.enum(CARRIER_EXCEPTION_KINDS).optional(),
});

/** Spelled out because the domain only has the type; `describing` below fails the build if the two part. */
const PAYMENT_STATUSES = [
  'NONE',
  'AWAITING_TRANSFER',
  'AUTHORIZED',
  'DECLINED',
  'CAPTURED',
  'COD_PENDING',
  'VOIDED',
  'PARTIALLY_REFUNDED',
  'REFUNDED',
] as const satisfies readonly PaymentStatus[];

const paymentViewSchema = z.object({
  method: z.enum(PAYMENT_METHODS),
  status: z.enum(PAYMENT_STATUSES),
  attempts: z.number().int(),
  amount: z.number().int(),
  authorizationId: z.string().optional(),
  transferReference: z.string().optional(),
  captured: z.number().int(),
  refunded: z.number().int(),
  lastDeclineReason: z.string().optional(),
});

export const refundSummarySchema = describing<RefundSummary>()(
  z.object({
    refundId: z.string(),
    status: z.enum(REFUND_STATUSES),
    amount: z.number().int(),
    reason: z.enum(REFUND_REASONS),
    requestedAt: z.string(),
  }),
);

export const returnSummarySchema = describing<ReturnSummary>()(
  z.object({
    returnId: z.string(),
    status: z.enum(RETURN_STATUSES),
    type: z.enum(RETURN_TYPES),
    lines: z.array(lineSchema),
    outcome: z.enum(RETURN_OUTCOMES).optional(),
    requestedAt: z.string(),
  }),
);

/** Money fields are integer minor units of `totals.currency`. */
export const orderViewSchema = describing<OrderView>()(
  z
    .object({
      orderId: z.string(),
      customerId: z.string(),
      channel: z.enum(ORDER_CHANNELS),
      status: z.enum(ORDER_STATUSES),
      placedAt: z.string(),
      lines: z.array(pricedLineSchema),
      totals: z.object({
        currency: z.string(),
        subtotal: z.number().int(),
        shipping: z.number().int(),
        total: z.number().int(),
      }),
      shippingAddress: z.object({
        name: z.string(),
        phone: z.string(),
        line1: z.string(),
        line2: z.string().optional(),
        city: z.string(),
        region: z.string().optional(),
        postalCode: z.string(),
        country: z.string(),
      }),
      payment: paymentViewSchema,
      shipments: z.array(shipmentViewSchema),
      history: historySchema(ORDER_STATUSES),
      edits: z.number().int(),
      needsAttention: z.boolean(),
      attentionReasons: z.array(z.string()),
      reviewReasons: z.array(z.string()),
      cancelReason: z.string().optional(),
      slaDeadline: z.string().optional(),
      refunds: z.array(refundSummarySchema).describe('Refunds of the order, oldest first'),
      returns: z.array(returnSummarySchema).optional().describe('Returns of the order, oldest first'),
    })
    .meta({ id: 'Order' }),
);

/** Money fields are integer minor units of `currency`. */
export const refundViewSchema = describing<RefundView>()(
  z
    .object({
      refundId: z.string(),
      orderId: z.string(),
      customerId: z.string(),
      status: z.enum(REFUND_STATUSES),
      amount: z.number().int(),
      currency: z.string(),
      reason: z.enum(REFUND_REASONS),
      note: z.string().optional(),
      lines: z.array(lineSchema).optional().describe('The refunded lines, when the refund was asked for by lines'),
      includeShipping: z.boolean().optional(),
      origin: z.enum(REFUND_ORIGINS),
      requestedBy: actorSchema,
      requestedAt: z.string(),
      approver: z
        .enum(['system', 'agent', 'supervisor'])
        .describe('Who must approve: the system within the auto-approve limit, else an agent or a supervisor'),
      decision: decisionSchema.optional(),
      paymentId: z.string().optional(),
      paymentMethod: z.enum(PAYMENT_METHODS).optional(),
      channel: z.enum(REFUND_CHANNELS),
      providerRefundId: z.string().optional(),
      attempts: z.array(
        z.object({
          attempt: z.number().int(),
          channel: z.enum(REFUND_CHANNELS),
          at: z.string(),
          actor: z.string(),
          outcome: z.enum(['refunded', 'refused']),
          detail: z.string().optional(),
        }),
      ),
      rejectReason: z.string().optional(),
      history: historySchema(REFUND_STATUSES),
      needsAttention: z.boolean(),
      attentionReasons: z.array(z.string()),
      escalationLevel: z.number().int(),
      slaDeadline: z.string().optional(),
    })
    .meta({ id: 'Refund' }),
);

/** Spelled out because the domain only has the type; `describing` below fails the build if the two part. */
export const RETURN_WAITING_ON = [
  'agent',
  'customer',
  'carrier',
  'warehouse',
  'refund',
  'none',
] as const satisfies readonly ReturnWaitingOn[];

/** Money fields are integer minor units of `currency`. */
export const returnViewSchema = describing<ReturnView>()(
  z
    .object({
      returnId: z.string(),
      orderId: z.string(),
      customerId: z.string(),
      status: z.enum(RETURN_STATUSES),
      currency: z.string(),
      lines: z.array(lineSchema),
      reason: z.enum(RETURN_REASONS),
      type: z.enum(RETURN_TYPES),
      method: z.enum(RETURN_METHODS),
      failedGoods: z.enum(FAILED_GOODS_CHOICES),
      evidence: z.object({ photos: z.array(z.string()).optional(), text: z.string().optional() }).optional(),
      requestedBy: actorSchema,
      requestedAt: z.string(),
      approver: z
        .enum(['system', 'agent'])
        .describe('Who approves: the system for reasons it takes on trust (a change of mind), else an agent'),
      decision: decisionSchema.optional(),
      waitingOn: z.enum(RETURN_WAITING_ON).describe('Whom the return waits for; none once it has ended'),
      parcels: z.array(
        z.object({
          shipmentId: z.string(),
          purpose: z
            .enum(['return', 'replacement', 'send_back'])
            .describe('return: the goods coming back; replacement: the same goods again; send_back: failed goods'),
          method: z.enum(RETURN_METHODS).optional(),
          carrier: z.string(),
          waybill: z.string(),
          warehouseCode: z.string(),
          status: z.enum(SHIPMENT_STATUSES),
          labelUrl: z.string().optional().describe('The label the customer prints, for a return by label'),
          lastEventAt: z.string().optional(),
          exception: z.enum(CARRIER_EXCEPTION_KINDS).optional(),
        }),
      ),
      receivedAt: z.string().optional(),
      receivedBy: z.string().optional(),
      inspection: z
        .object({
          lines: z.array(
            z.object({ sku: z.string(), quantity: z.number().int(), passed: z.boolean(), note: z.string().optional() }),
          ),
          actor: z.string(),
          at: z.string(),
        })
        .optional(),
      refund: z
        .object({ refundId: z.string(), amount: z.number().int(), status: z.enum(REFUND_STATUSES) })
        .optional()
        .describe('The refund case started for the goods, with its status as last seen'),
      outcome: z.enum(RETURN_OUTCOMES).optional(),
      rejectReason: z.string().optional(),
      history: historySchema(RETURN_STATUSES),
      needsAttention: z.boolean(),
      attentionReasons: z.array(z.string()),
      escalationLevel: z.number().int(),
      slaDeadline: z.string().optional(),
    })
    .meta({ id: 'Return' }),
);

/** What a resolution gave the customer; money in integer minor units of the complaint's `currency`. */
const remedyViewSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('explanation') }),
  z.object({ kind: z.literal('goodwill_credit'), amount: z.number().int() }),
  z.object({ kind: z.literal('refund'), amount: z.number().int() }),
  z.object({
    kind: z.literal('return'),
    lines: z.array(lineSchema),
    reason: z.enum(RETURN_REASONS),
    type: z.enum(RETURN_TYPES),
    method: z.enum(RETURN_METHODS),
    failedGoods: z.enum(FAILED_GOODS_CHOICES),
  }),
]);

/** The timeline holds every entry, oldest first (the API reads them from PostgreSQL); notes are `internal`. */
export const complaintViewSchema = describing<ComplaintView>()(
  z
    .object({
      complaintId: z.string(),
      channel: z.enum(COMPLAINT_CHANNELS),
      customerId: z.string(),
      customerLevel: z.enum(CUSTOMER_LEVELS),
      orderId: z.string().optional(),
      currency: z.string(),
      category: z.enum(COMPLAINT_CATEGORIES),
      target: z.string(),
      matter: z.string(),
      reason: z.string(),
      contact: z.object({ name: z.string(), phone: z.string().optional(), email: z.string().optional() }),
      priority: z.enum(COMPLAINT_PRIORITIES),
      status: z.enum(COMPLAINT_STATUSES),
      requestedBy: actorSchema,
      requestedAt: z.string(),
      needsSenior: z.boolean().describe('A VIP customer or a large order: only senior agents take it'),
      assignee: z
        .object({
          agentId: z.string(),
          teamId: z.string(),
          supervisor: z.string().optional(),
          seniority: z.enum(AGENT_SENIORITIES),
          at: z.string(),
          by: z.string().describe('system for automatic assignment, else the supervisor who reassigned'),
        })
        .optional(),
      firstResponseAt: z.string().optional(),
      firstResponseDeadline: z.string().optional(),
      resolutionDeadline: z.string().optional(),
      slaPaused: z.boolean().describe('Waiting on the customer: the SLA clock is stopped'),
      breaches: z.array(
        z.object({
          level: z.number().int(),
          timer: z.enum(['firstResponse', 'resolution']),
          at: z.string(),
          to: z.string(),
        }),
      ),
      escalationLevel: z.number().int(),
      resolution: z
        .object({
          number: z.number().int(),
          remedy: remedyViewSchema,
          explanation: z.string(),
          actor: z.string(),
          at: z.string(),
          refundId: z.string().optional(),
          returnId: z.string().optional(),
          creditReference: z.string().optional(),
        })
        .optional(),
      accepted: z.boolean().optional(),
      rating: z.object({ score: z.number().int(), comment: z.string().optional(), at: z.string() }).optional(),
      resolvedAt: z.string().optional(),
      closedAt: z.string().optional(),
      outcome: z.enum(COMPLAINT_OUTCOMES).optional(),
      reopenCount: z.number().int(),
      timeline: z.array(
        z.object({
          seq: z.number().int(),
          kind: z.enum(TIMELINE_KINDS),
          at: z.string(),
          actor: z.string(),
          role: z.enum(ROLES),
          text: z.string().optional(),
          internal: z.boolean().describe('An internal note: never shown to the customer'),
          detail: z.record(z.string(), z.unknown()).optional(),
        }),
      ),
      timelineCount: z.number().int(),
      runs: z.number().int(),
      history: historySchema(COMPLAINT_STATUSES),
      needsAttention: z.boolean(),
      attentionReasons: z.array(z.string()),
      slaDeadline: z.string().optional(),
    })
    .meta({ id: 'Complaint' }),
);

export const caseTypeSchema = z.enum(CASE_TYPES);

export const pagingQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
};

type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 422 | 429 | 503;

/** Documents the problem+json answers a route can give (the error handler sends them). */
export function problems<S extends ProblemStatus>(...statuses: S[]): Record<S, typeof problemSchema> {
  return Object.fromEntries(statuses.map((status) => [status, problemSchema])) as Record<S, typeof problemSchema>;
}

/** A query parameter listing some of `values`, comma-separated (`status=PAID,SHIPPED`). */
export const commaSeparated = <T extends readonly [string, ...string[]]>(values: T, what: string) =>
  z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(values)))
    .optional()
    .describe(`Comma-separated ${what}`);

/** One page of a list read from PostgreSQL: the items, how many match in all, and the paging asked for. */
export const pageOf = <T extends z.ZodType, E extends z.ZodRawShape = Record<never, never>>(item: T, extra?: E) =>
  z.object({
    items: z.array(item),
    total: z.number().int(),
    ...(extra ?? ({} as E)),
    limit: z.number().int(),
    offset: z.number().int(),
  });
