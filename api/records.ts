import type { EntityManager } from '@mikro-orm/postgresql';
import {
  AuditLogSchema,
  OrderLineSchema,
  OrderSchema,
  PaymentSchema,
  ShipmentSchema,
  type Payment,
} from '../db/entities';
import type { CaseType, HistoryEntry } from '../domain/case';
import type { LineRequest, OrderStatus, OrderView, PaymentMethod, PaymentView } from '../domain/order';
import type {
  RefundApprover,
  RefundChannel,
  RefundDecisionView,
  RefundOrigin,
  RefundReason,
  RefundStatus,
  RefundSummary,
  RefundView,
} from '../domain/refund';
import type { Role } from '../domain/roles';

/** Reads from PostgreSQL, for cases whose workflow is gone (closed and past retention) and for lists. */

export async function orderViewFromDb(em: EntityManager, orderId: string): Promise<OrderView | null> {
  const order = await em.findOne(OrderSchema, { id: orderId });
  if (!order) return null;
  const [lines, history, payments, shipments, refunds] = await Promise.all([
    em.find(OrderLineSchema, { orderId }, { orderBy: { id: 'asc' } }),
    caseHistoryFromDb<OrderStatus>(em, 'order', orderId),
    em.find(PaymentSchema, { orderId }, { orderBy: { createdAt: 'asc' } }),
    em.find(ShipmentSchema, { orderId }, { orderBy: { id: 'asc' } }),
    refundSummariesFromDb(em, orderId),
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
    history,
    edits: order.edits,
    needsAttention: order.needsAttention,
    attentionReasons: order.attentionReason ? order.attentionReason.split(',') : [],
    // Review reasons and SLA deadlines live only in the workflow; a finished order has neither pending.
    reviewReasons: [],
    ...(order.cancelReason ? { cancelReason: order.cancelReason } : {}),
    refunds,
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

/**
 * Raw queries get timestamps as PostgreSQL prints them (`2026-11-23 20:34:01.424+00`): MikroORM turns pg's own date
 * parsing off so its entities hydrate them. Date reads that form.
 */
export const isoTime = (timestamp: string): string => new Date(timestamp).toISOString();

interface HistoryRow {
  seq: number;
  from_status: string | null;
  to_status: string;
  actor: string;
  reason: string | null;
  at: string;
}

/** Status changes of one case, oldest first; the engine writes only statuses of the case's own type. */
export async function caseHistoryFromDb<S extends string>(
  em: EntityManager,
  caseType: CaseType,
  caseId: string,
): Promise<HistoryEntry<S>[]> {
  const rows = await em.execute<HistoryRow[]>(
    'select seq, from_status, to_status, actor, reason, at from case_history where case_type = ? and case_id = ? order by seq',
    [caseType, caseId],
  );
  return rows.map((h) => ({
    seq: h.seq,
    from: (h.from_status as S | null) ?? null,
    to: h.to_status as S,
    at: isoTime(h.at),
    actor: h.actor,
    ...(h.reason ? { reason: h.reason } : {}),
  }));
}

/** Refunds of an order, oldest first, whoever started them. */
export async function refundSummariesFromDb(em: EntityManager, orderId: string): Promise<RefundSummary[]> {
  const rows = await em.execute<
    { id: string; status: RefundStatus; amount: number; reason: RefundReason; created_at: string }[]
  >('select id, status, amount, reason, created_at from refunds where order_id = ? order by created_at, id', [orderId]);
  return rows.map((r) => ({
    refundId: r.id,
    status: r.status,
    amount: r.amount,
    reason: r.reason,
    requestedAt: isoTime(r.created_at),
  }));
}

interface RefundRow {
  id: string;
  order_id: string;
  customer_id: string;
  payment_id: string | null;
  payment_method: PaymentMethod | null;
  amount: number;
  currency: string;
  reason: RefundReason;
  origin: RefundOrigin;
  status: RefundStatus;
  channel: RefundChannel;
  requested_by: string;
  requested_role: Role;
  approver: RefundApprover;
  decided_by: string | null;
  decided_role: Role | null;
  decision: 'approve' | 'reject' | null;
  decision_id: string | null;
  decision_reason: string | null;
  decided_at: string | null;
  reject_reason: string | null;
  note: string | null;
  lines: LineRequest[] | null;
  include_shipping: boolean;
  provider_refund_id: string | null;
  needs_attention: boolean;
  attention_reason: string | null;
  escalation_level: number;
  sla_deadline: string | null;
  created_at: string;
}

export async function refundViewFromDb(em: EntityManager, refundId: string): Promise<RefundView | null> {
  const [row] = await em.execute<RefundRow[]>(
    `select r.*, p.method as payment_method
       from refunds r left join payments p on p.id = r.payment_id
      where r.id = ?`,
    [refundId],
  );
  if (!row) return null;
  const history = await caseHistoryFromDb<RefundStatus>(em, 'refund', refundId);
  const decision = refundDecisionFromRow(row);
  return {
    refundId: row.id,
    orderId: row.order_id,
    customerId: row.customer_id,
    status: row.status,
    amount: row.amount,
    currency: row.currency,
    reason: row.reason,
    ...(row.note ? { note: row.note } : {}),
    ...(row.lines ? { lines: row.lines, includeShipping: row.include_shipping } : {}),
    origin: row.origin,
    requestedBy: { principal: row.requested_by, role: row.requested_role },
    requestedAt: isoTime(row.created_at),
    approver: row.approver,
    ...(decision ? { decision } : {}),
    ...(row.payment_id ? { paymentId: row.payment_id } : {}),
    ...(row.payment_method ? { paymentMethod: row.payment_method } : {}),
    channel: row.channel,
    ...(row.provider_refund_id ? { providerRefundId: row.provider_refund_id } : {}),
    // Attempts at the gateway live only in the workflow; the outcome is in status and providerRefundId.
    attempts: [],
    ...(row.reject_reason ? { rejectReason: row.reject_reason } : {}),
    history,
    needsAttention: row.needs_attention,
    attentionReasons: row.attention_reason ? row.attention_reason.split(',') : [],
    escalationLevel: row.escalation_level,
    ...(row.sla_deadline ? { slaDeadline: isoTime(row.sla_deadline) } : {}),
  };
}

/** The decision as the refund's snapshot recorded it; its columns are written together, from the workflow's. */
function refundDecisionFromRow(row: RefundRow): RefundDecisionView | undefined {
  const { decision_id: decisionId, decision, decided_by: principal, decided_role: role, decided_at: at } = row;
  if (!decisionId || !decision || !principal || !role || !at) return undefined;
  return {
    decisionId,
    decision,
    actor: { principal, role },
    ...(row.decision_reason ? { reason: row.decision_reason } : {}),
    at: isoTime(at),
  };
}

/** What was asked under a refund id, to compare a repeated request with. */
export interface RefundRequest {
  orderId: string;
  amount?: number;
  lines?: LineRequest[];
  includeShipping?: boolean;
  reason: RefundReason;
  note?: string;
}

export async function refundRequestFromDb(em: EntityManager, refundId: string): Promise<RefundRequest | null> {
  const [row] = await em.execute<
    Pick<RefundRow, 'order_id' | 'amount' | 'lines' | 'include_shipping' | 'reason' | 'note'>[]
  >('select order_id, amount, lines, include_shipping, reason, note from refunds where id = ?', [refundId]);
  if (!row) return null;
  return {
    orderId: row.order_id,
    ...(row.lines ? { lines: row.lines, includeShipping: row.include_shipping } : { amount: row.amount }),
    reason: row.reason,
    ...(row.note ? { note: row.note } : {}),
  };
}

export async function refundStatusFromDb(em: EntityManager, refundId: string): Promise<string | null> {
  const [row] = await em.execute<{ status: string }[]>('select status from refunds where id = ?', [refundId]);
  return row?.status ?? null;
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
