import type { Actor, HistoryEntry } from './case';
import type { Address, CarrierExceptionKind, LineRequest, ShipmentStatus } from './order';
import type { RefundPolicy, RefundStatus } from './refund';
import { RETURN_APPROVER_ROLES } from './roles';

/** Why goods come back (RET-1). */
export const RETURN_REASONS = [
  'quality',
  'not_as_described',
  'changed_mind',
  'wrong_item',
  'damaged_in_transit',
] as const;
export type ReturnReason = (typeof RETURN_REASONS)[number];

/** Money back for the goods, or the same goods again. */
export const RETURN_TYPES = ['refund', 'exchange'] as const;
export type ReturnType = (typeof RETURN_TYPES)[number];

/** The carrier collects at the customer's address, or the customer drops the parcel off with a label. */
export const RETURN_METHODS = ['pickup', 'label'] as const;
export type ReturnMethod = (typeof RETURN_METHODS)[number];

/** What happens to goods that fail inspection; the customer chooses when requesting. */
export const FAILED_GOODS_CHOICES = ['send_back', 'dispose'] as const;
export type FailedGoodsChoice = (typeof FAILED_GOODS_CHOICES)[number];

/**
 * REQUESTED → PENDING_APPROVAL (or straight to APPROVED by the system) → APPROVED (pickup booked or label issued,
 * waiting for the handover) → IN_TRANSIT → RECEIVED (warehouse) → INSPECTED → CLOSED with an outcome; REJECTED by a
 * person or because the goods are not eligible; EXPIRED when never handed to the carrier in time.
 */
export const RETURN_STATUSES = [
  'REQUESTED',
  'PENDING_APPROVAL',
  'APPROVED',
  'IN_TRANSIT',
  'RECEIVED',
  'INSPECTED',
  'CLOSED',
  'REJECTED',
  'EXPIRED',
] as const;
export type ReturnStatus = (typeof RETURN_STATUSES)[number];
export const RETURN_TERMINAL_STATUSES: readonly ReturnStatus[] = ['CLOSED', 'REJECTED', 'EXPIRED'];
export const isReturnTerminal = (status: ReturnStatus): boolean => RETURN_TERMINAL_STATUSES.includes(status);

/** How a closed return ended. */
export const RETURN_OUTCOMES = [
  'refunded',
  'replaced',
  'refunded_without_receipt',
  'inspection_failed',
  'refund_rejected',
] as const;
export type ReturnOutcome = (typeof RETURN_OUTCOMES)[number];

/** Whom an open return waits for; the `WaitingOn` search attribute holds it. */
export type ReturnWaitingOn = 'agent' | 'customer' | 'carrier' | 'warehouse' | 'refund' | 'none';

export interface ReturnPolicy {
  /** Days after delivery a return may be requested, in milliseconds; quality defects get `qualityWindowMs`. */
  windowMs: number;
  qualityWindowMs: number;
  /** Reasons the system approves once the goods are eligible; the others go to an agent. */
  autoApproveReasons: ReturnReason[];
  /** Pending approval longer than this escalates, as for refunds. */
  approvalSlaMs: number;
  /** Not handed to the carrier this long after approval: EXPIRED. */
  handoverWindowMs: number;
  /** How often the return parcel's tracking is read when no webhook woke the case. */
  carrierPollIntervalMs: number;
  stepAttentionAfterMs: number;
}

export interface Evidence {
  photos?: string[];
  text?: string;
}

export interface ReturnInput {
  returnId: string;
  orderId: string;
  customerId: string;
  currency: string;
  lines: LineRequest[];
  reason: ReturnReason;
  type: ReturnType;
  method: ReturnMethod;
  failedGoods: FailedGoodsChoice;
  evidence?: Evidence;
  requestedBy: Actor;
  requestedAt: string;
  policy: ReturnPolicy;
  /** The refund started for returned goods follows this policy. */
  refundPolicy: RefundPolicy;
}

/** What the order says about the goods being returned, read when the lines are claimed. */
export interface ReturnClaim {
  /** Unit price paid per SKU, for the refund of the lines that pass inspection. */
  unitPrices: Record<string, number>;
  /** Where the goods go back to: the warehouse that shipped them. */
  warehouseCode: string;
  /** The customer's address on the order: where a pickup happens and replacements or rejected goods go. */
  address: Address;
  deliveredAt: string;
}

export interface ReturnParcelView {
  shipmentId: string;
  purpose: 'return' | 'replacement' | 'send_back';
  method?: ReturnMethod;
  carrier: string;
  waybill: string;
  warehouseCode: string;
  status: ShipmentStatus;
  labelUrl?: string;
  lastEventAt?: string;
  exception?: CarrierExceptionKind;
}

export interface InspectionLine {
  sku: string;
  quantity: number;
  passed: boolean;
  note?: string;
}

export interface ReturnDecisionView {
  decisionId: string;
  decision: 'approve' | 'reject';
  actor: Actor;
  reason?: string;
  at: string;
}

export interface ReturnView {
  returnId: string;
  orderId: string;
  customerId: string;
  status: ReturnStatus;
  currency: string;
  lines: LineRequest[];
  reason: ReturnReason;
  type: ReturnType;
  method: ReturnMethod;
  failedGoods: FailedGoodsChoice;
  evidence?: Evidence;
  requestedBy: Actor;
  requestedAt: string;
  approver: 'system' | 'agent';
  decision?: ReturnDecisionView;
  waitingOn: ReturnWaitingOn;
  parcels: ReturnParcelView[];
  receivedAt?: string;
  receivedBy?: string;
  inspection?: { lines: InspectionLine[]; actor: string; at: string };
  /** Refund case started for the goods, with its status as last seen. */
  refund?: { refundId: string; amount: number; status: RefundStatus };
  outcome?: ReturnOutcome;
  rejectReason?: string;
  history: HistoryEntry<ReturnStatus>[];
  needsAttention: boolean;
  attentionReasons: string[];
  escalationLevel: number;
  slaDeadline?: string;
}

/** A return as an order lists it. */
export interface ReturnSummary {
  returnId: string;
  status: ReturnStatus;
  type: ReturnType;
  lines: LineRequest[];
  outcome?: ReturnOutcome;
  requestedAt: string;
}

export function returnApprover(
  reason: ReturnReason,
  policy: Pick<ReturnPolicy, 'autoApproveReasons'>,
): 'system' | 'agent' {
  return policy.autoApproveReasons.includes(reason) ? 'system' : 'agent';
}

/** The window a return of this reason must be requested in, from delivery. */
export function returnWindowMs(
  reason: ReturnReason,
  policy: Pick<ReturnPolicy, 'windowMs' | 'qualityWindowMs'>,
): number {
  return reason === 'quality' ? policy.qualityWindowMs : policy.windowMs;
}

/** Why this actor may not decide on this return; undefined when they may. */
export function returnDecisionRefusal(actor: Actor, ret: Pick<ReturnView, 'requestedBy'>): string | undefined {
  if (!RETURN_APPROVER_ROLES.includes(actor.role)) return `role ${actor.role} cannot decide on returns`;
  if (actor.principal === ret.requestedBy.principal) return 'nobody decides on a return they requested';
  return undefined;
}

/** The refund owed for the lines that passed inspection, at the price paid. */
export function refundForLines(lines: LineRequest[], unitPrices: Record<string, number>): number {
  return lines.reduce((sum, line) => sum + (unitPrices[line.sku] ?? 0) * line.quantity, 0);
}

/**
 * Why these lines cannot be returned from this order, judged on the order's facts; undefined when they can. The API
 * answers a refusal 422 before any workflow starts; the claim activity applies the same rules under a lock.
 */
export function returnEligibilityRefusal(
  facts: {
    orderStatus: string;
    deliveredAt?: string;
    now: number;
    ordered: Map<string, number>;
    /** Units of each SKU already returned or in an open return. */
    claimed: Map<string, number>;
    /** SKUs the catalogue marks as not returnable. */
    notReturnable: Set<string>;
  },
  request: { lines: LineRequest[]; reason: ReturnReason },
  policy: Pick<ReturnPolicy, 'windowMs' | 'qualityWindowMs'>,
): { field: string; reason: string } | undefined {
  if (!['DELIVERED', 'COMPLETED'].includes(facts.orderStatus) || !facts.deliveredAt) {
    return { field: 'orderId', reason: `the order is ${facts.orderStatus}: only delivered goods can be returned` };
  }
  const window = returnWindowMs(request.reason, policy);
  if (facts.now > Date.parse(facts.deliveredAt) + window) {
    const days = Math.round(window / 86_400_000);
    return { field: 'orderId', reason: `the return window of ${days} days after delivery has passed` };
  }
  const wanted = new Map<string, number>();
  for (const line of request.lines) wanted.set(line.sku, (wanted.get(line.sku) ?? 0) + line.quantity);
  for (const [sku, quantity] of wanted) {
    const ordered = facts.ordered.get(sku) ?? 0;
    if (ordered === 0) return { field: 'lines', reason: `${sku} is not on the order` };
    if (facts.notReturnable.has(sku)) return { field: 'lines', reason: `${sku} cannot be returned` };
    const left = ordered - (facts.claimed.get(sku) ?? 0);
    if (quantity > left) {
      return {
        field: 'lines',
        reason: `${quantity} × ${sku} asked, but only ${Math.max(0, left)} of ${ordered} are left to return`,
      };
    }
  }
  return undefined;
}
