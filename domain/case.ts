import type { Role } from './roles';

/** Every kind of case the engine runs as a workflow; the `CaseType` search attribute holds one of these. */
export const CASE_TYPES = ['order', 'refund', 'return', 'complaint'] as const;
export type CaseType = (typeof CASE_TYPES)[number];

/** Who did something: the authenticated principal and its role, or the engine itself. */
export interface Actor {
  principal: string;
  role: Role;
}

export const SYSTEM_ACTOR: Actor = { principal: 'system', role: 'system' };

/** One status change of a case; `seq` counts from 0 per case. */
export interface HistoryEntry<S extends string = string> {
  seq: number;
  from: S | null;
  to: S;
  at: string;
  actor: string;
  reason?: string;
}

/** A human action or system event worth an audit row, beside the status history. */
export interface CaseAudit {
  actor: Actor;
  action: string;
  detail?: Record<string, unknown>;
}

/**
 * Why a case needs a person. The `AttentionReason` search attribute and the `attention_reason` columns hold these
 * names; each case type raises only the ones that apply to it.
 */
export const ATTENTION_REASONS = [
  // any case
  'step_retrying',
  'step_failed',
  'failed',
  'compensation_failed',
  'sla_breached',
  // orders
  'review_sla_breached',
  'payment_mismatch',
  'payment_unsettled',
  'carrier_exception',
  'carrier_silent',
  'address_split',
  // refunds
  'refund_failed',
  // returns
  'return_parcel_lost',
  // complaints
  'complaint_unassigned',
] as const;
export type AttentionReason = (typeof ATTENTION_REASONS)[number];

/**
 * What every case writes on a change, whatever its type: the snapshot (`view`, written by the type's own writer), the
 * status change with the customer's notifications, and the audit row. `version` is monotonic per case, so a late
 * write of an older snapshot never overwrites a newer one.
 */
export interface CaseRecord<V> {
  version: number;
  view: V;
  transition?: HistoryEntry;
  audit?: CaseAudit;
}

/** What every case holds, handed from one run to the next (`CaseState.carry`), when a long case continues as new. */
export interface CaseStateCarry<S extends string> {
  status: S;
  history: HistoryEntry<S>[];
  attention: [AttentionReason, string][];
  slaDeadline?: string;
  escalationLevel: number;
  statusSince: string;
  version: number;
}
