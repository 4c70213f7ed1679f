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
import type {
  AgentSeniority,
  ComplaintCategory,
  ComplaintChannel,
  ComplaintContact,
  ComplaintOutcome,
  ComplaintPriority,
  ComplaintResolution,
  ComplaintStatus,
  ComplaintView,
  CustomerLevel,
  SlaBreach,
  TimelineEntry,
  TimelineKind,
} from '../domain/complaint';
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

/**
 * Refunds of an order, oldest first, whoever started them, and the money refunded on the order by every refund case
 * (as the ledger of refunds has it): one read.
 */
export async function refundsOfOrder(
  em: EntityManager,
  orderId: string,
): Promise<{ summaries: RefundSummary[]; refunded: number }> {
  const rows = await em.execute<
    {
      id: string;
      status: RefundStatus;
      amount: number;
      reason: RefundReason;
      created_at: string;
      refunded_at: string | null;
    }[]
  >(
    'select id, status, amount, reason, created_at, refunded_at from refunds where order_id = ? order by created_at, id',
    [orderId],
  );
  return {
    summaries: rows.map((r) => ({
      refundId: r.id,
      status: r.status,
      amount: r.amount,
      reason: r.reason,
      requestedAt: isoTime(r.created_at),
    })),
    refunded: rows.reduce((sum, r) => (r.refunded_at === null ? sum : sum + Number(r.amount)), 0),
  };
}

export async function refundSummariesFromDb(em: EntityManager, orderId: string): Promise<RefundSummary[]> {
  return (await refundsOfOrder(em, orderId)).summaries;
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

interface ComplaintEntryRow {
  seq: number;
  kind: TimelineKind;
  at: string;
  actor: string;
  role: Role;
  text: string | null;
  internal: boolean;
  detail: Record<string, unknown> | null;
}

/** Every timeline entry of a complaint, oldest first: the workflow stores each before it acknowledges it. */
export async function complaintEntriesFromDb(em: EntityManager, complaintId: string): Promise<TimelineEntry[]> {
  const rows = await em.execute<ComplaintEntryRow[]>(
    `select seq, kind, at, actor, role, text, internal, detail
       from complaint_entries where complaint_id = ? order by seq`,
    [complaintId],
  );
  return rows.map((row) => ({
    seq: row.seq,
    kind: row.kind,
    at: isoTime(row.at),
    actor: row.actor,
    role: row.role,
    ...(row.text !== null ? { text: row.text } : {}),
    internal: row.internal,
    ...(row.detail ? { detail: row.detail } : {}),
  }));
}

/**
 * The live view with its whole timeline: the workflow's view carries only the latest entries, PostgreSQL all of them
 * it acknowledged. Entries the view has win (a query may see one a moment before it is stored); nothing newer than
 * the view's own latest entry is added, so the timeline and the rest of the view tell of the same moment.
 */
export async function withFullTimeline(em: EntityManager, view: ComplaintView): Promise<ComplaintView> {
  if (view.timeline.length >= view.timelineCount) return view;
  const latest = view.timeline.reduce((max, entry) => Math.max(max, entry.seq), -1);
  const bySeq = new Map<number, TimelineEntry>();
  for (const entry of await complaintEntriesFromDb(em, view.complaintId)) {
    if (entry.seq <= latest) bySeq.set(entry.seq, entry);
  }
  for (const entry of view.timeline) bySeq.set(entry.seq, entry);
  return { ...view, timeline: [...bySeq.values()].sort((a, b) => a.seq - b.seq) };
}

interface ComplaintRow {
  id: string;
  customer_id: string;
  order_id: string | null;
  channel: ComplaintChannel;
  category: ComplaintCategory;
  priority: ComplaintPriority;
  status: ComplaintStatus;
  target: string;
  matter: string;
  reason: string;
  contact: ComplaintContact;
  currency: string;
  customer_level: CustomerLevel;
  needs_senior: boolean;
  assignee: string | null;
  team_id: string | null;
  assigned_at: string | null;
  agent_seniority: AgentSeniority | null;
  team_supervisor: string | null;
  first_response_at: string | null;
  first_response_deadline: string | null;
  resolution_deadline: string | null;
  sla_paused: boolean;
  breaches: SlaBreach[];
  resolution: ComplaintResolution | null;
  accepted: boolean | null;
  rating: number | null;
  rating_comment: string | null;
  outcome: ComplaintOutcome | null;
  resolved_at: string | null;
  closed_at: string | null;
  reopen_count: number;
  timeline_count: number;
  runs: number;
  requested_by: string;
  requested_role: Role;
  needs_attention: boolean;
  attention_reason: string | null;
  escalation_level: number;
  sla_deadline: string | null;
  created_at: string;
}

/**
 * A complaint once Temporal no longer holds its workflow: the row its workflow last wrote, with every timeline entry.
 * Who assigned it and when it was rated come from the timeline; the agent's seniority and the team's supervisor are
 * read as they are now.
 */
export async function complaintViewFromDb(em: EntityManager, complaintId: string): Promise<ComplaintView | null> {
  const [row] = await em.execute<ComplaintRow[]>(
    `select c.*, a.seniority as agent_seniority, t.supervisor as team_supervisor
       from complaints c
       left join complaint_agents a on a.id = c.assignee
       left join complaint_teams t on t.id = c.team_id
      where c.id = ?`,
    [complaintId],
  );
  if (!row) return null;
  const [timeline, history] = await Promise.all([
    complaintEntriesFromDb(em, complaintId),
    caseHistoryFromDb<ComplaintStatus>(em, 'complaint', complaintId),
  ]);
  const lastOf = (kind: TimelineKind) => timeline.filter((entry) => entry.kind === kind).at(-1);
  const assignedAt = row.assigned_at && isoTime(row.assigned_at);
  const ratedAt = lastOf('rated')?.at ?? (row.closed_at ? isoTime(row.closed_at) : undefined);
  return {
    complaintId: row.id,
    channel: row.channel,
    customerId: row.customer_id,
    customerLevel: row.customer_level,
    ...(row.order_id ? { orderId: row.order_id } : {}),
    currency: row.currency.trim(),
    category: row.category,
    target: row.target,
    matter: row.matter,
    reason: row.reason,
    contact: row.contact,
    priority: row.priority,
    status: row.status,
    requestedBy: { principal: row.requested_by, role: row.requested_role },
    requestedAt: isoTime(row.created_at),
    needsSenior: row.needs_senior,
    ...(row.assignee && row.team_id && assignedAt
      ? {
          assignee: {
            agentId: row.assignee,
            teamId: row.team_id,
            ...(row.team_supervisor ? { supervisor: row.team_supervisor } : {}),
            seniority: row.agent_seniority ?? 'junior',
            at: assignedAt,
            by: lastOf('assigned')?.actor ?? 'system',
          },
        }
      : {}),
    ...(row.first_response_at ? { firstResponseAt: isoTime(row.first_response_at) } : {}),
    ...(row.first_response_deadline ? { firstResponseDeadline: isoTime(row.first_response_deadline) } : {}),
    ...(row.resolution_deadline ? { resolutionDeadline: isoTime(row.resolution_deadline) } : {}),
    slaPaused: row.sla_paused,
    breaches: row.breaches,
    ...(row.resolution ? { resolution: row.resolution } : {}),
    ...(row.accepted !== null ? { accepted: row.accepted } : {}),
    ...(row.rating !== null && ratedAt
      ? {
          rating: {
            score: row.rating,
            ...(row.rating_comment !== null ? { comment: row.rating_comment } : {}),
            at: ratedAt,
          },
        }
      : {}),
    ...(row.resolved_at ? { resolvedAt: isoTime(row.resolved_at) } : {}),
    ...(row.closed_at ? { closedAt: isoTime(row.closed_at) } : {}),
    ...(row.outcome ? { outcome: row.outcome } : {}),
    reopenCount: row.reopen_count,
    timeline,
    timelineCount: Math.max(row.timeline_count, timeline.length),
    runs: row.runs,
    history,
    ...caseFieldsFromRow(row),
  };
}

export async function complaintStatusFromDb(em: EntityManager, complaintId: string): Promise<string | null> {
  const [row] = await em.execute<{ status: string }[]>('select status from complaints where id = ?', [complaintId]);
  return row?.status ?? null;
}

/** The digest of the request that opened a complaint under this id, to compare a repeated request with. */
export async function complaintRequestHashFromDb(em: EntityManager, complaintId: string): Promise<string | null> {
  const [row] = await em.execute<{ request_hash: string }[]>('select request_hash from complaints where id = ?', [
    complaintId,
  ]);
  return row?.request_hash ?? null;
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

/** Each case type's table; the API lists a case type at `/v1/<table>`. */
export const CASE_TABLES: Readonly<Record<CaseType, string>> = {
  order: 'orders',
  refund: 'refunds',
  return: 'returns',
  complaint: 'complaints',
};
