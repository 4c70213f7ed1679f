import type { EntityManager } from '@mikro-orm/postgresql';
import {
  AuditLogSchema,
  OrderLineSchema,
  OrderSchema,
  OrderStatusHistorySchema,
  PaymentSchema,
  ShipmentSchema,
  type Payment,
} from '../db/entities';
import type { OrderView, PaymentView } from '../domain/order';

/** Reads from PostgreSQL, for orders whose workflow is gone (closed and past retention) and for lists. */

export async function orderViewFromDb(em: EntityManager, orderId: string): Promise<OrderView | null> {
  const order = await em.findOne(OrderSchema, { id: orderId });
  if (!order) return null;
  const [lines, history, payments, shipments] = await Promise.all([
    em.find(OrderLineSchema, { orderId }, { orderBy: { id: 'asc' } }),
    em.find(OrderStatusHistorySchema, { orderId }, { orderBy: { seq: 'asc' } }),
    em.find(PaymentSchema, { orderId }, { orderBy: { createdAt: 'asc' } }),
    em.find(ShipmentSchema, { orderId }, { orderBy: { id: 'asc' } }),
  ]);
  return {
    orderId: order.id,
    customerId: order.customerId,
    channel: order.channel,
    status: order.status,
    placedAt: order.placedAt.toISOString(),
    lines: lines.map(({ sku, name, quantity, unitPrice, lineTotal }) => ({
      sku,
      name,
      quantity,
      unitPrice,
      lineTotal,
    })),
    totals: { currency: order.currency, subtotal: order.subtotal, shipping: order.shipping, total: order.total },
    shippingAddress: order.shippingAddress,
    payment: paymentView(order.paymentMethod, order.capturedAmount, order.refundedAmount, payments),
    shipments: shipments.map((s) => ({
      shipmentId: s.id,
      warehouseCode: s.warehouseCode,
      lines: s.lines,
      status: s.status,
      ...(s.carrier ? { carrier: s.carrier } : {}),
      ...(s.waybill ? { waybill: s.waybill } : {}),
      ...(s.lastEventAt ? { lastEventAt: s.lastEventAt.toISOString() } : {}),
      ...(s.exception ? { exception: s.exception } : {}),
    })),
    history: history.map((h) => ({
      seq: h.seq,
      from: h.fromStatus ?? null,
      to: h.toStatus,
      at: h.at.toISOString(),
      actor: h.actor,
      ...(h.reason ? { reason: h.reason } : {}),
    })),
    edits: order.edits,
    needsAttention: order.needsAttention,
    attentionReasons: order.attentionReason ? order.attentionReason.split(',') : [],
    // Review reasons and SLA deadlines live only in the workflow; a finished order has neither pending.
    reviewReasons: [],
    ...(order.cancelReason ? { cancelReason: order.cancelReason } : {}),
  };
}

/** The latest payment attempt is the order's payment; earlier ones only count as attempts. */
function paymentView(method: Payment['method'], captured: number, refunded: number, payments: Payment[]): PaymentView {
  const latest = payments.at(-1);
  if (!latest) return { method, status: 'NONE', attempts: 0, amount: 0, captured, refunded };
  return {
    method: latest.method,
    status: latest.status,
    attempts: payments.length,
    amount: latest.amount,
    authorizationId: latest.id,
    ...(latest.reference ? { transferReference: latest.reference } : {}),
    captured: latest.capturedAmount,
    refunded: latest.refundedAmount,
    ...(latest.declineReason ? { lastDeclineReason: latest.declineReason } : {}),
  };
}

export async function orderStatusFromDb(em: EntityManager, orderId: string): Promise<string | null> {
  const order = await em.findOne(OrderSchema, { id: orderId }, { fields: ['status'] });
  return order?.status ?? null;
}

export interface AuditEntry {
  principal: string;
  role: string;
  action: string;
  objectType: string;
  objectId: string;
  result: string;
  detail?: Record<string, unknown>;
  ip?: string;
}

export async function writeAudit(em: EntityManager, entry: AuditEntry): Promise<void> {
  await em.insert(AuditLogSchema, { ...entry, detail: entry.detail ?? null, ip: entry.ip ?? null });
}
