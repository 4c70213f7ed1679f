import type { Actor, HistoryEntry } from './case';
import type { LineRequest, PaymentMethod } from './order';
import { REFUND_APPROVER_ROLES, REFUND_SENIOR_ROLES } from './roles';

/** Why money goes back (REF-1), plus the reasons other cases start a refund with. */
export const REFUND_REASONS = [
  'customer_request_before_shipment',
  'customer_request_before_receipt',
  'logistics_failure',
  'quality_problem',
  'duplicate_payment',
  'wrong_amount',
  'order_cancelled',
  'return_received',
  'complaint_resolution',
] as const;
export type RefundReason = (typeof REFUND_REASONS)[number];

/** Who asked: the customer through an upstream system, an agent, or another case. */
export const REFUND_ORIGINS = ['customer', 'agent', 'order', 'return', 'complaint'] as const;
export type RefundOrigin = (typeof REFUND_ORIGINS)[number];

/**
 * REQUESTED → PENDING_APPROVAL (or straight to APPROVED by the system) → APPROVED → REFUNDED; REJECTED by a person
 * or because nothing is left to refund; FAILED when the gateway refused for good, until finance or ops retry or
 * re-route it.
 */
export const REFUND_STATUSES = ['REQUESTED', 'PENDING_APPROVAL', 'APPROVED', 'REFUNDED', 'REJECTED', 'FAILED'] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];
export const REFUND_TERMINAL_STATUSES: readonly RefundStatus[] = ['REFUNDED', 'REJECTED'];

/** The original payment channel, or what finance chose after the gateway refused. */
export const REFUND_CHANNELS = ['original', 'bank_transfer', 'balance'] as const;
export type RefundChannel = (typeof REFUND_CHANNELS)[number];

/** Who must approve: the system within the auto-approve limit, an agent up to the agent limit, else a supervisor. */
export type RefundApprover = 'system' | 'agent' | 'supervisor';

export interface RefundPolicy {
  /** At or below this (minor units), an auto-approvable reason is approved by the system. */
  autoApproveLimit: number;
  /** Above this, only a supervisor approves. */
  agentLimit: number;
  autoApproveReasons: RefundReason[];
  /** Pending longer than this escalates to supervisors; at twice this, again, one level up. */
  approvalSlaMs: number;
  stepAttentionAfterMs: number;
}

export interface RefundInput {
  refundId: string;
  orderId: string;
  customerId: string;
  currency: string;
  /** Minor units, > 0; for a refund of lines, their price (and the shipping when asked), worked out at request. */
  amount: number;
  lines?: LineRequest[];
  includeShipping?: boolean;
  reason: RefundReason;
  note?: string;
  origin: RefundOrigin;
  requestedBy: Actor;
  requestedAt: string;
  /** Refund this payment; by default the order's captured payment with enough left. */
  paymentId?: string;
  policy: RefundPolicy;
}

export interface RefundDecisionView {
  decisionId: string;
  decision: 'approve' | 'reject';
  actor: Actor;
  reason?: string;
  at: string;
}

export interface RefundAttemptView {
  attempt: number;
  channel: RefundChannel;
  at: string;
  actor: string;
  outcome: 'refunded' | 'refused';
  detail?: string;
}

export interface RefundView {
  refundId: string;
  orderId: string;
  customerId: string;
  status: RefundStatus;
  amount: number;
  currency: string;
  reason: RefundReason;
  note?: string;
  lines?: LineRequest[];
  includeShipping?: boolean;
  origin: RefundOrigin;
  requestedBy: Actor;
  requestedAt: string;
  approver: RefundApprover;
  decision?: RefundDecisionView;
  paymentId?: string;
  paymentMethod?: PaymentMethod;
  channel: RefundChannel;
  /** The provider's id of the money movement, once refunded. */
  providerRefundId?: string;
  attempts: RefundAttemptView[];
  rejectReason?: string;
  history: HistoryEntry<RefundStatus>[];
  needsAttention: boolean;
  attentionReasons: string[];
  escalationLevel: number;
  slaDeadline?: string;
}

export const isRefundTerminal = (status: RefundStatus): boolean => REFUND_TERMINAL_STATUSES.includes(status);

/**
 * Who must approve a refund of this amount and reason. An order cancelled after capture is always the system's, and so
 * is a return's refund: the return was approved and its goods inspected (or an agent refunded a lost parcel).
 */
export function refundApprover(amount: number, reason: RefundReason, policy: RefundPolicy): RefundApprover {
  if (reason === 'order_cancelled' || reason === 'return_received') return 'system';
  if (amount <= policy.autoApproveLimit && policy.autoApproveReasons.includes(reason)) return 'system';
  return amount <= policy.agentLimit ? 'agent' : 'supervisor';
}

/** Why this actor may not decide on this refund; undefined when they may. */
export function refundDecisionRefusal(
  actor: Actor,
  refund: Pick<RefundView, 'amount' | 'approver' | 'requestedBy'>,
): string | undefined {
  if (!REFUND_APPROVER_ROLES.includes(actor.role)) return `role ${actor.role} cannot decide on refunds`;
  if (refund.approver === 'supervisor' && !REFUND_SENIOR_ROLES.includes(actor.role)) {
    return `a refund of ${refund.amount} is above the agent limit: a supervisor must decide`;
  }
  if (actor.principal === refund.requestedBy.principal) return 'nobody decides on a refund they requested';
  return undefined;
}

/** A refund as an order lists it. */
export interface RefundSummary {
  refundId: string;
  status: RefundStatus;
  amount: number;
  reason: RefundReason;
  requestedAt: string;
}
