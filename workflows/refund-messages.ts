import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Actor } from '../domain/case';
import type { CaseDecision } from './case/decision';
import type { RefundChannel, RefundView } from '../domain/refund';

/** Messages of the refund workflow, shared by the workflow and every client (API, tests). */

export const refundWorkflowId = (refundId: string): string => `refund-${refundId}`;

export type RefundDecision = CaseDecision;
/** An agent's or supervisor's decision on a pending refund; the validator checks role, limit and state. */
export const decideRefundUpdate = defineUpdate<RefundView, [RefundDecision]>('decideRefund');

export interface RefundRetry {
  /** `original` tries the payment's own channel again; the others pay the customer out another way. */
  channel: RefundChannel;
  reason: string;
  actor: Actor;
}
/** Finance's or ops' answer to a refund the gateway refused (status FAILED). */
export const retryRefundUpdate = defineUpdate<RefundView, [RefundRetry]>('retryRefund');

/** Completes once the refund's amount is claimed (or refused); the API answers the request with it. */
export const awaitRefundRequestUpdate = defineUpdate<RefundView>('awaitRefundRequest');

export const refundStateQuery = defineQuery<RefundView>('refundState');
