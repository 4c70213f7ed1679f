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
import type {
  Evidence,
  FailedGoodsChoice,
  ReturnMethod,
  ReturnOutcome,
  ReturnParcelView,
  ReturnReason,
  ReturnStatus,
  ReturnSummary,
  ReturnType,
  ReturnView,
  ReturnWaitingOn,
} from '../domain/return';
import type { Role } from '../domain/roles';

/** Reads from PostgreSQL, for cases whose workflow is gone (closed and past retention) and for lists. */

export async function orderViewFromDb(em: EntityManager, orderId: string): Promise<OrderView | null> {
  const order = await em.findOne(OrderSchema, { id: orderId });
  if (!order) return null;
  const [lines, history, payments, shipments, refunds, returns] = await Promise.all([
    em.find(OrderLineSchema, { orderId }, { orderBy: { id: 'asc' } }),
    caseHistoryFromDb<OrderStatus>(em, 'order', orderId),
    em.find(PaymentSchema, { orderId }, { orderBy: { createdAt: 'asc' } }),
    em.find(ShipmentSchema, { orderId, caseType: 'order' }, { orderBy: { id: 'asc' } }),
    refundSummariesFromDb(em, orderId),
    returnSummariesFromDb(em, orderId),
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
    returns,
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
/** Money refunded on the order by every refund case, as the ledger of refunds has it. */
export async function refundedOfOrder(em: EntityManager, orderId: string): Promise<number> {
  const [row] = await em.execute<{ refunded: string }[]>(
    'select coalesce(sum(amount), 0) as refunded from refunds where order_id = ? and refunded_at is not null',
    [orderId],
  );
  return Number(row.refunded);
}

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

/** What every case view says for ops, from the columns every case table has. */
function caseFieldsFromRow(row: {
  needs_attention: boolean;
  attention_reason: string | null;
  escalation_level: number;
  sla_deadline: string | null;
}) {
  return {
    needsAttention: row.needs_attention,
    attentionReasons: row.attention_reason ? row.attention_reason.split(',') : [],
    escalationLevel: row.escalation_level,
    ...(row.sla_deadline ? { slaDeadline: isoTime(row.sla_deadline) } : {}),
  };
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
  const decision = decisionFromRow(row);
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
    ...caseFieldsFromRow(row),
  };
}

/** The decision as a case's snapshot recorded it (refunds, returns); its columns are written together. */
function decisionFromRow(
  row: Pick<RefundRow, 'decision_id' | 'decision' | 'decided_by' | 'decided_role' | 'decided_at' | 'decision_reason'>,
): RefundDecisionView | undefined {
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

/** Returns of an order, oldest first. */
export async function returnSummariesFromDb(em: EntityManager, orderId: string): Promise<ReturnSummary[]> {
  const rows = await em.execute<Pick<ReturnRow, 'id' | 'status' | 'type' | 'lines' | 'outcome' | 'created_at'>[]>(
    'select id, status, type, lines, outcome, created_at from returns where order_id = ? order by created_at, id',
    [orderId],
  );
  return rows.map((r) => ({
    returnId: r.id,
    status: r.status,
    type: r.type,
    lines: r.lines,
    ...(r.outcome ? { outcome: r.outcome } : {}),
    requestedAt: isoTime(r.created_at),
  }));
}

interface ReturnRow {
  id: string;
  order_id: string;
  customer_id: string;
  currency: string;
  status: ReturnStatus;
  reason: ReturnReason;
  type: ReturnType;
  method: ReturnMethod;
  failed_goods: FailedGoodsChoice;
  lines: LineRequest[];
  evidence: Evidence | null;
  requested_by: string;
  requested_role: Role;
  approver: ReturnView['approver'];
  decided_by: string | null;
  decided_role: Role | null;
  decision: 'approve' | 'reject' | null;
  decision_id: string | null;
  decision_reason: string | null;
  decided_at: string | null;
  reject_reason: string | null;
  outcome: ReturnOutcome | null;
  waiting_on: ReturnWaitingOn;
  received_at: string | null;
  received_by: string | null;
  inspection: NonNullable<ReturnView['inspection']> | null;
  refund_id: string | null;
  refund_amount: number | null;
  refund_status: RefundStatus | null;
  needs_attention: boolean;
  attention_reason: string | null;
  escalation_level: number;
  sla_deadline: string | null;
  created_at: string;
}

interface ReturnParcelRow {
  id: string;
  purpose: ReturnParcelView['purpose'];
  label_url: string | null;
  warehouse_code: string;
  carrier: string | null;
  waybill: string | null;
  status: ReturnParcelView['status'];
  exception: ReturnParcelView['exception'] | null;
  last_event_at: string | null;
}

export async function returnViewFromDb(em: EntityManager, returnId: string): Promise<ReturnView | null> {
  const [row] = await em.execute<ReturnRow[]>(
    `select r.*, f.status as refund_status
       from returns r left join refunds f on f.id = r.refund_id
      where r.id = ?`,
    [returnId],
  );
  if (!row) return null;
  const [history, parcels] = await Promise.all([
    caseHistoryFromDb<ReturnStatus>(em, 'return', returnId),
    em.execute<ReturnParcelRow[]>(
      `select id, purpose, label_url, warehouse_code, carrier, waybill, status, exception, last_event_at
         from shipments where case_type = 'return' and case_id = ? order by created_at, id`,
      [returnId],
    ),
  ]);
  const decision = decisionFromRow(row);
  return {
    returnId: row.id,
    orderId: row.order_id,
    customerId: row.customer_id,
    status: row.status,
    currency: row.currency,
    lines: row.lines,
    reason: row.reason,
    type: row.type,
    method: row.method,
    failedGoods: row.failed_goods,
    ...(row.evidence ? { evidence: row.evidence } : {}),
    requestedBy: { principal: row.requested_by, role: row.requested_role },
    requestedAt: isoTime(row.created_at),
    approver: row.approver,
    ...(decision ? { decision } : {}),
    waitingOn: row.waiting_on,
    // A booking is written before it has a waybill only while its workflow runs.
    parcels: parcels.flatMap((p): ReturnParcelView[] => {
      if (!p.carrier || !p.waybill) return [];
      const { purpose } = p;
      return [
        {
          shipmentId: p.id,
          purpose,
          ...(purpose === 'return' ? { method: row.method } : {}),
          carrier: p.carrier,
          waybill: p.waybill,
          warehouseCode: p.warehouse_code,
          status: p.status,
          ...(p.last_event_at ? { lastEventAt: isoTime(p.last_event_at) } : {}),
          ...(p.exception ? { exception: p.exception } : {}),
          ...(p.label_url ? { labelUrl: p.label_url } : {}),
        },
      ];
    }),
    ...(row.received_at ? { receivedAt: isoTime(row.received_at) } : {}),
    ...(row.received_by ? { receivedBy: row.received_by } : {}),
    ...(row.inspection ? { inspection: row.inspection } : {}),
    ...(row.refund_id && row.refund_amount !== null
      ? { refund: { refundId: row.refund_id, amount: row.refund_amount, status: row.refund_status ?? 'REQUESTED' } }
      : {}),
    ...(row.outcome ? { outcome: row.outcome } : {}),
    ...(row.reject_reason ? { rejectReason: row.reject_reason } : {}),
    history,
    ...caseFieldsFromRow(row),
  };
}

/** What was asked under a return id, to compare a repeated request with. */
export type ReturnRequest = Pick<
  ReturnView,
  'orderId' | 'lines' | 'reason' | 'type' | 'method' | 'failedGoods' | 'evidence'
>;

export async function returnRequestFromDb(em: EntityManager, returnId: string): Promise<ReturnRequest | null> {
  const [row] = await em.execute<
    Pick<ReturnRow, 'order_id' | 'lines' | 'reason' | 'type' | 'method' | 'failed_goods' | 'evidence'>[]
  >('select order_id, lines, reason, type, method, failed_goods, evidence from returns where id = ?', [returnId]);
  if (!row) return null;
  return {
    orderId: row.order_id,
    lines: row.lines,
    reason: row.reason,
    type: row.type,
    method: row.method,
    failedGoods: row.failed_goods,
    ...(row.evidence ? { evidence: row.evidence } : {}),
  };
}

export async function returnStatusFromDb(em: EntityManager, returnId: string): Promise<string | null> {
  const [row] = await em.execute<{ status: string }[]>('select status from returns where id = ?', [returnId]);
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
