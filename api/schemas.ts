import { z } from 'zod';
import {
  CARRIER_EXCEPTION_KINDS,
  ORDER_CHANNELS,
  ORDER_STATUSES,
  PAYMENT_METHODS,
  SHIPMENT_STATUSES,
} from '../domain/order';
import { problemSchema } from './problems';

/** Schemas shared by several route modules; the ones used by a single route live beside it. */

export const ORDER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const orderIdSchema = z
  .string()
  .regex(ORDER_ID_PATTERN, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -')
  .describe('Order id, chosen by the client or generated at placement');

export const orderIdParams = z.object({ orderId: orderIdSchema });

/** E.164 (`+8613800138000`) or an 11-digit mainland China mobile number (`13800138000`). */
const PHONE_PATTERN = /^(\+[1-9]\d{6,14}|1[3-9]\d{9})$/;

export const addressSchema = z
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
  .meta({ id: 'Address' });

export const lineRequestSchema = z.object({
  sku: z.string().trim().min(1).max(64),
  quantity: z.number().int().min(1).max(999),
});

/** Methods the customer pays with a token from the payment form; balance, bank transfer and COD need none. */
const TOKEN_METHODS: readonly string[] = ['card', 'wallet', 'instalments'];

export const paymentInstructionSchema = z
  .object({
    method: z.enum(PAYMENT_METHODS),
    token: z.string().min(1).max(512).optional().describe('Card or wallet token from the payment form'),
  })
  .superRefine((payment, ctx) => {
    if (TOKEN_METHODS.includes(payment.method) && !payment.token) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: `a ${payment.method} payment needs a token` });
    }
  })
  .meta({ id: 'PaymentInstruction' });

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
  lines: z.array(z.object({ sku: z.string(), quantity: z.number().int() })),
  status: z.enum(SHIPMENT_STATUSES),
  carrier: z.string().optional(),
  waybill: z.string().optional(),
  lastEventAt: z.string().optional(),
  exception: z.enum(CARRIER_EXCEPTION_KINDS).optional(),
});

const paymentViewSchema = z.object({
  method: z.enum(PAYMENT_METHODS),
  status: z.string(),
  attempts: z.number().int(),
  amount: z.number().int(),
  authorizationId: z.string().optional(),
  transferReference: z.string().optional(),
  captured: z.number().int(),
  refunded: z.number().int(),
  lastDeclineReason: z.string().optional(),
});

/** Money fields are integer minor units of `totals.currency`. */
export const orderViewSchema = z
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
    history: z.array(
      z.object({
        seq: z.number().int(),
        from: z.enum(ORDER_STATUSES).nullable(),
        to: z.enum(ORDER_STATUSES),
        at: z.string(),
        actor: z.string(),
        reason: z.string().optional(),
      }),
    ),
    edits: z.number().int(),
    needsAttention: z.boolean(),
    attentionReasons: z.array(z.string()),
    reviewReasons: z.array(z.string()),
    cancelReason: z.string().optional(),
    slaDeadline: z.string().optional(),
  })
  .meta({ id: 'Order' });

export const pagingQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).default(0),
};

type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 422 | 429 | 503;

/** Documents the problem+json answers a route can give (the error handler sends them). */
export function problems<S extends ProblemStatus>(...statuses: S[]): Record<S, typeof problemSchema> {
  return Object.fromEntries(statuses.map((status) => [status, problemSchema])) as Record<S, typeof problemSchema>;
}
