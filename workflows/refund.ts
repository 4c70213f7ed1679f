import { condition, setHandler } from '@temporalio/workflow';
import type { RefundActivities } from '../activities/types';
import { SYSTEM_ACTOR } from '../domain/case';
import { PROVIDER_ERRORS } from '../domain/ports';
import type { RefundChannel, RefundInput, RefundView } from '../domain/refund';
import { isRefundTerminal, refundDecisionRefusal } from '../domain/refund';
import { REFUND_RETRY_ROLES } from '../domain/roles';
import { caseCore, reject } from './case/core';
import { checkDecision } from './case/decision';
import { CASE_ERRORS } from './case/messages';
import { caseActivities, failureType, StepAbandoned } from './case/steps';
import {
  awaitRefundRequestUpdate,
  decideRefundUpdate,
  refundStateQuery,
  retryRefundUpdate,
  type RefundDecision,
  type RefundRetry,
} from './refund-messages';
import { RefundCase } from './refund-case';

const raw = caseActivities<RefundActivities>([CASE_ERRORS.ruleViolation]);

/**
 * One refund from request to money back (DESIGN §3 Refund): the amount is claimed against what the order captured,
 * approved by the system, an agent or a supervisor as policy says, then refunded through the payment's own channel
 * exactly once; a refusal by the gateway waits for finance to retry or pay out another way.
 */
export async function refundWorkflow(input: RefundInput): Promise<RefundView> {
  const refund = new RefundCase(input);
  const { refundId, orderId, amount } = input;
  let decision: RefundDecision | undefined;
  let retry: RefundRetry | undefined;

  const core = caseCore({
    caseType: 'refund',
    caseId: refundId,
    state: refund,
    isTerminal: isRefundTerminal,
    view: () => refund.view(),
    write: (record): Promise<void> => act.recordRefund(record),
    notifyStaff: raw.notifyStaff,
    stepAttentionAfterMs: input.policy.stepAttentionAfterMs,
  });
  const act: RefundActivities = core.guard(raw, {
    claimRefund: [CASE_ERRORS.ruleViolation],
    executeRefund: [PROVIDER_ERRORS.refused],
    payoutRefund: [PROVIDER_ERRORS.refused],
  });
  const settled = () => refund.writing === 0;

  setHandler(refundStateQuery, () => refund.view());

  setHandler(awaitRefundRequestUpdate, async () => {
    await condition(() => (refund.taken && settled()) || !!refund.parked);
    return refund.view();
  });

  setHandler(
    decideRefundUpdate,
    async (request) => {
      if (!decision) decision = request;
      await condition(() => refund.status !== 'PENDING_APPROVAL' && settled());
      return refund.view();
    },
    {
      validator: (request) => {
        const refusal = refundDecisionRefusal(request.actor, refund.view());
        if (refusal) reject(CASE_ERRORS.forbidden, refusal);
        checkDecision(request, decision ?? refund.decision, {
          now: refund.status === 'PENDING_APPROVAL',
          status: refund.status,
          noun: 'refund',
        });
      },
    },
  );

  setHandler(
    retryRefundUpdate,
    async (request) => {
      retry = request;
      await condition(() => refund.status !== 'FAILED' && settled());
      return refund.view();
    },
    {
      validator: ({ actor, reason }) => {
        if (!REFUND_RETRY_ROLES.includes(actor.role)) {
          reject(CASE_ERRORS.forbidden, `role ${actor.role} cannot retry refunds`);
        }
        if (refund.status !== 'FAILED' || retry) {
          reject(CASE_ERRORS.wrongState, `the refund is ${refund.status}, not waiting for a retry`);
        }
        if (!reason.trim()) reject(CASE_ERRORS.ruleViolation, 'a retry needs a reason');
      },
    },
  );

  /** Sets the amount aside; false when the order has not that much left to refund (a racing refund took it). */
  async function claim(): Promise<boolean> {
    try {
      const claimed = await act.claimRefund({ refundId, orderId, paymentId: input.paymentId, amount });
      refund.paymentId = claimed.paymentId;
      refund.paymentMethod = claimed.method;
      core.onUndo('release the claim', () => act.releaseRefund({ refundId }));
      return true;
    } catch (error) {
      if (failureType(error) !== CASE_ERRORS.ruleViolation) throw error;
      refund.rejectReason = (error as Error & { cause?: Error }).cause?.message ?? 'nothing left to refund';
      return false;
    }
  }

  async function approve(): Promise<boolean> {
    if (refund.approver === 'system') {
      refund.taken = true;
      await core.moveTo('APPROVED', SYSTEM_ACTOR, `${input.reason}: within the system's approval policy`);
      return true;
    }
    refund.taken = true;
    await core.moveTo('PENDING_APPROVAL', input.requestedBy, `awaiting ${refund.approver} approval`);
    await core.escalateAfter(() => !!decision, {
      afterMs: input.policy.approvalSlaMs,
      levels: 2,
      reason: 'sla_breached',
      topic: 'refund_approval_overdue',
      message: (level) =>
        `refund ${refundId} of ${amount} for order ${orderId} waits for approval (escalation ${level})`,
      action: 'refund.escalated',
    });
    const made = decision!;
    refund.decision = { ...made, at: new Date().toISOString() };
    const audit = {
      actor: made.actor,
      action: made.decision === 'approve' ? 'refund.approved' : 'refund.rejected',
      detail: { amount, currency: input.currency, reason: made.reason, decisionId: made.decisionId },
    };
    if (made.decision === 'reject') {
      refund.rejectReason = made.reason;
      await act.releaseRefund({ refundId });
      await core.moveTo('REJECTED', made.actor, made.reason, audit);
      return false;
    }
    await core.moveTo('APPROVED', made.actor, made.reason ?? 'approved', audit);
    return true;
  }

  /** Pays the refund on `channel`; false when the provider refused it for good. */
  async function pay(channel: RefundChannel, attempt: number, by: string): Promise<boolean> {
    const request = { refundId, orderId, amount, attempt };
    try {
      const paid =
        channel === 'original'
          ? await act.executeRefund({ ...request, paymentId: refund.paymentId!, reason: input.reason })
          : await act.payoutRefund({ ...request, customerId: input.customerId, channel, currency: input.currency });
      refund.providerRefundId = paid.providerRefundId;
      refund.attempts.push({ attempt, channel, at: new Date().toISOString(), actor: by, outcome: 'refunded' });
      return true;
    } catch (error) {
      if (failureType(error) !== PROVIDER_ERRORS.refused) throw error;
      const detail = (error as Error & { cause?: Error }).cause?.message ?? 'refused';
      refund.attempts.push({
        attempt,
        channel,
        at: new Date().toISOString(),
        actor: 'system',
        outcome: 'refused',
        detail,
      });
      return false;
    }
  }

  /** Refunds through the payment's own channel; each refusal waits for finance to retry or choose another way. */
  async function execute(): Promise<void> {
    let by = SYSTEM_ACTOR.principal;
    for (let attempt = 1; !(await pay(refund.channel, attempt, by)); attempt += 1) {
      const refusal = refund.attempts.at(-1)!.detail!;
      refund.flag('refund_failed', `${refund.channel}: ${refusal}`);
      await core.moveTo('FAILED', SYSTEM_ACTOR, refusal, {
        actor: SYSTEM_ACTOR,
        action: 'refund.failed',
        detail: { amount, currency: input.currency, channel: refund.channel, attempt, refusal },
      });
      await core.notifyStaff('refund_failed', `refund ${refundId} of ${amount} for order ${orderId}: ${refusal}`);
      await condition(() => !!retry);
      const { channel, reason, actor } = retry!;
      retry = undefined;
      by = actor.principal;
      refund.channel = channel;
      refund.clear('refund_failed');
      await core.moveTo('APPROVED', actor, reason, {
        actor,
        action: 'refund.retry',
        detail: { amount, currency: input.currency, channel, attempt: attempt + 1, reason },
      });
    }
  }

  try {
    await core.moveTo('REQUESTED', input.requestedBy, input.reason, {
      actor: input.requestedBy,
      action: 'refund.requested',
      detail: { amount, currency: input.currency, reason: input.reason, origin: input.origin, note: input.note },
    });
    if (!(await claim())) {
      refund.taken = true;
      await core.moveTo('REJECTED', SYSTEM_ACTOR, refund.rejectReason);
      return refund.view();
    }
    if (!(await approve())) return refund.view();
    await execute();
    await core.moveTo('REFUNDED', SYSTEM_ACTOR, `${amount} refunded via ${refund.channel}`);
  } catch (error) {
    if (!(error instanceof StepAbandoned)) throw error;
    refund.flag('failed', error.message);
    refund.taken = true;
    if (refund.providerRefundId) {
      // The money went back; ops gave up only on recording it, which the search attributes still show.
      core.publish();
      return refund.view();
    }
    refund.rejectReason = error.message;
    await core.compensate(() => core.moveTo('REJECTED', core.recoveredBy(), error.message));
  }
  return refund.view();
}
