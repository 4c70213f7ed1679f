import { defineUpdate } from '@temporalio/workflow';
import type { Actor, AttentionReason } from '../../domain/case';

/** Messages every case type answers, shared by the workflows and every client (API, tests). */

export interface StepRecovery {
  /** retry: run the failed step again; fail: give the case up, undoing what it holds. */
  action: 'retry' | 'fail';
  reason: string;
  actor: Actor;
}
/**
 * Ops' answer to a step that failed for good and parked the case (attention reason `step_failed`). Returns the case's
 * view, whatever its type.
 */
export const recoverStepUpdate = defineUpdate<unknown, [StepRecovery]>('recoverStep');

export interface AttentionClearance {
  /** The attention reason ops dealt with, e.g. `carrier_silent`. */
  flag: AttentionReason;
  reason: string;
  actor: Actor;
}
/**
 * Ops clearing one attention flag they dealt with outside the engine (a carrier called, a payment sorted out by
 * hand). A failed step is not cleared but recovered (`recoverStepUpdate`). Returns the case's view.
 */
export const clearAttentionUpdate = defineUpdate<unknown, [AttentionClearance]>('clearAttention');

/** Business rejections raised by update validators and activities; the API maps them to HTTP statuses. */
export const CASE_ERRORS = {
  wrongState: 'WrongState',
  ruleViolation: 'RuleViolation',
  forbidden: 'Forbidden',
  outOfStock: 'OutOfStock',
  unknownSku: 'UnknownSku',
  paymentDeclined: 'PaymentDeclined',
  /** The database refused the data (bad encoding, a broken constraint): retrying cannot help. */
  invalidData: 'InvalidData',
} as const;
