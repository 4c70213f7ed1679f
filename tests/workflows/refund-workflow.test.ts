import { ApplicationFailure } from '@temporalio/common';
import type { refundWorkflow } from '../../workflows';
import { decideRefundUpdate, refundStateQuery, retryRefundUpdate } from '../../workflows/refund-messages';
import { recoverStepUpdate } from '../../workflows/case/messages';
import { cancelOrderUpdate, orderStateQuery, paymentNotificationSignal } from '../../workflows/messages';
import { expectRejection } from '../helpers/assertions';
import { capturedPayment, fakeActivities, type FakeActivities } from '../helpers/fake-activities';
import { agent, financeActor, opsActor, supervisor } from '../helpers/fixtures';
import {
  HOUR,
  orderInput,
  policy,
  refundInput,
  startRefund,
  waitForRefund,
  waitForStatus,
  workflowTestEnv,
} from '../helpers/workflow-env';
import { recordHistory } from '../helpers/histories';

const { withWorker, env } = workflowTestEnv();

const decide = (
  decision: 'approve' | 'reject',
  actor = agent,
  decisionId = `d-${actor.principal}-${decision}`,
  reason?: string,
) => ({
  decision,
  actor,
  decisionId,
  reason: reason ?? (decision === 'reject' ? 'not a quality problem' : undefined),
});

const executed = (fakes: FakeActivities) => fakes.calls.filter((c) => c.name === 'executeRefund');

describe('refund workflow', () => {
  it('approves a small refund with an auto-approvable reason by itself and refunds it once, with its reason', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-1', 30_000);
    await withWorker(fakes, async () => {
      const input = refundInput({ orderId: 'o-1', amount: 8_000, reason: 'duplicate_payment' });
      const { handle, view } = await startRefund(env().client, input);
      expect(view.approver).toBe('system');
      const done = await handle.result();
      expect(done.status).toBe('REFUNDED');
      expect(done.history.map((h) => h.to)).toEqual(['REQUESTED', 'APPROVED', 'REFUNDED']);
      expect(executed(fakes)).toHaveLength(1);
      const payment = fakes.payments.get('pay_o-1')!;
      expect(payment.refundedAmount).toBe(8_000);
      expect(payment.refunds).toEqual([expect.objectContaining({ amount: 8_000, reason: 'duplicate_payment' })]);
      expect(fakes.refundRecords.at(-1)!.view.status).toBe('REFUNDED');
    });
  });

  it('waits for an agent within the agent limit; the decision is audited and the money goes back', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-2', 150_000);
    await withWorker(fakes, async () => {
      const { handle, view } = await startRefund(env().client, refundInput({ orderId: 'o-2', amount: 120_000 }));
      expect(view.status).toBe('PENDING_APPROVAL');
      expect(view.approver).toBe('agent');
      const sla = Date.parse(view.slaDeadline!) - Date.parse(view.requestedAt);
      expect(sla).toBeGreaterThanOrEqual(policy.refund.approvalSlaMs);
      expect(sla).toBeLessThan(policy.refund.approvalSlaMs + 60_000);
      expect(executed(fakes)).toHaveLength(0);
      const approved = await handle.executeUpdate(decideRefundUpdate, { args: [decide('approve')] });
      expect(approved.decision).toMatchObject({ decision: 'approve', actor: agent });
      expect((await handle.result()).status).toBe('REFUNDED');
      const audits = fakes.refundRecords.flatMap((r) => (r.audit ? [r.audit] : []));
      expect(audits.map((a) => a.action)).toEqual(['refund.requested', 'refund.approved']);
      expect(audits[1]).toMatchObject({ actor: agent, detail: { amount: 120_000 } });
      await recordHistory('refund-approved', handle);
    });
  });

  it('refuses roles that cannot approve, the requester approving their own refund, and agents above their limit', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-3', 500_000);
    await withWorker(fakes, async () => {
      const own = await startRefund(
        env().client,
        refundInput({ orderId: 'o-3', amount: 20_000, requestedBy: agent, origin: 'agent' }),
      );
      await expectRejection(
        own.handle.executeUpdate(decideRefundUpdate, { args: [decide('approve', agent)] }),
        'Forbidden',
        /requested/,
      );
      await expectRejection(
        own.handle.executeUpdate(decideRefundUpdate, { args: [decide('approve', financeActor)] }),
        'Forbidden',
        /role finance/,
      );
      await expectRejection(
        own.handle.executeUpdate(decideRefundUpdate, {
          args: [decide('approve', { principal: 'wes', role: 'warehouse' })],
        }),
        'Forbidden',
      );
      expect((await own.handle.query(refundStateQuery)).status).toBe('PENDING_APPROVAL');

      const big = await startRefund(env().client, refundInput({ orderId: 'o-3', amount: 300_000 }));
      expect(big.view.approver).toBe('supervisor');
      await expectRejection(
        big.handle.executeUpdate(decideRefundUpdate, { args: [decide('approve', agent)] }),
        'Forbidden',
        /supervisor/,
      );
      const approved = await big.handle.executeUpdate(decideRefundUpdate, { args: [decide('approve', supervisor)] });
      expect(approved.decision?.actor).toEqual(supervisor);
      expect((await big.handle.result()).status).toBe('REFUNDED');
      expect(executed(fakes)).toHaveLength(1);
    });
  });

  it('answers a repeated approval without a second refund, refuses the opposite decision, and needs a reason to reject', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-4', 100_000);
    // The gateway refuses the first refund, so the approved case waits (FAILED) while the opposite decision arrives.
    fakes.refundFaults.push('refuse');
    await withWorker(fakes, async () => {
      const first = await startRefund(env().client, refundInput({ orderId: 'o-4', amount: 20_000 }));
      const decision = decide('approve', agent, 'click-1');
      const a = await first.handle.executeUpdate(decideRefundUpdate, { args: [decision] });
      const again = await first.handle.executeUpdate(decideRefundUpdate, { args: [decision] });
      const otherClick = await first.handle.executeUpdate(decideRefundUpdate, {
        args: [{ ...decision, decisionId: 'click-2' }],
      });
      for (const view of [a, again, otherClick]) expect(view.decision?.decisionId).toBe('click-1');
      await waitForRefund(first.handle, (v) => v.status === 'FAILED', 'FAILED');
      await expectRejection(
        first.handle.executeUpdate(decideRefundUpdate, { args: [decide('reject', supervisor)] }),
        'WrongState',
        /already approved/,
      );
      await first.handle.executeUpdate(retryRefundUpdate, {
        args: [{ channel: 'original', reason: 'try again', actor: financeActor }],
      });
      expect((await first.handle.result()).status).toBe('REFUNDED');
      expect(executed(fakes)).toHaveLength(2);
      expect(fakes.payments.get('pay_o-4')!.refundedAmount).toBe(20_000);

      const second = await startRefund(env().client, refundInput({ orderId: 'o-4', amount: 30_000 }));
      await expectRejection(
        second.handle.executeUpdate(decideRefundUpdate, { args: [{ ...decide('reject'), reason: '  ' }] }),
        'RuleViolation',
        /reason/,
      );
      const rejected = await second.handle.executeUpdate(decideRefundUpdate, { args: [decide('reject')] });
      expect(rejected).toMatchObject({ status: 'REJECTED', rejectReason: 'not a quality problem' });
      // A rejected refund has ended: a later approval meets a closed case, which the API answers with 409.
      expect((await second.handle.result()).status).toBe('REJECTED');
      expect(fakes.calls.filter((c) => c.name === 'releaseRefund').map((c) => c.args)).toEqual([second.view.refundId]);
      expect(fakes.claims.has(second.view.refundId)).toBe(false);
      expect(executed(fakes)).toHaveLength(2);
    });
  });

  it('rejects a refund larger than what is left of the captured money, without touching the gateway', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-5', 10_000);
    await withWorker(fakes, async () => {
      const first = await startRefund(
        env().client,
        refundInput({ orderId: 'o-5', amount: 5_000, reason: 'duplicate_payment' }),
      );
      const [second, third] = await Promise.all([
        startRefund(env().client, refundInput({ orderId: 'o-5', amount: 5_000, reason: 'duplicate_payment' })),
        startRefund(env().client, refundInput({ orderId: 'o-5', amount: 5_000, reason: 'duplicate_payment' })),
      ]);
      expect(first.view.status).not.toBe('REJECTED');
      const outcomes = [second.view.status, third.view.status].sort();
      expect(outcomes).toEqual(['APPROVED', 'REJECTED'].sort());
      const loser = second.view.status === 'REJECTED' ? second.view : third.view;
      expect(loser.rejectReason).toMatch(/only 0 is left/);
      expect(loser.decision).toBeUndefined();
      for (const { handle } of [first, second, third]) await handle.result();
      expect(fakes.payments.get('pay_o-5')!.refundedAmount).toBe(10_000);
      expect(fakes.payments.get('pay_o-5')!.refunds).toHaveLength(2);
      expect(executed(fakes)).toHaveLength(2);
    });
  });

  it('retries a gateway outage until the refund goes through', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-6', 10_000);
    fakes.refundFaults.push('outage', 'outage');
    await withWorker(fakes, async () => {
      const { handle } = await startRefund(
        env().client,
        refundInput({ orderId: 'o-6', amount: 4_000, reason: 'duplicate_payment' }),
      );
      const done = await handle.result();
      expect(done.status).toBe('REFUNDED');
      expect(done.attempts).toEqual([
        expect.objectContaining({ attempt: 1, outcome: 'refunded', channel: 'original' }),
      ]);
      expect(executed(fakes)).toHaveLength(3);
      expect(fakes.payments.get('pay_o-6')!.refundedAmount).toBe(4_000);
    });
  });

  it('parks a refund the gateway refuses as FAILED until finance retries it, or pays it out as balance', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-7', 50_000);
    fakes.refundFaults.push('refuse');
    await withWorker(fakes, async () => {
      const { handle } = await startRefund(
        env().client,
        refundInput({ orderId: 'o-7', amount: 4_000, reason: 'duplicate_payment' }),
      );
      const failed = await waitForRefund(handle, (v) => v.status === 'FAILED', 'FAILED');
      expect(failed.attentionReasons).toEqual(['refund_failed']);
      await expectRejection(
        handle.executeUpdate(retryRefundUpdate, { args: [{ channel: 'original', reason: 'try again', actor: agent }] }),
        'Forbidden',
      );
      const retried = await handle.executeUpdate(retryRefundUpdate, {
        args: [{ channel: 'original', reason: 'customer confirmed the card', actor: financeActor }],
      });
      expect(retried.status).not.toBe('FAILED');
      expect(fakes.staffTopics()).toEqual(['refund_failed']);
      const done = await handle.result();
      expect(done.status).toBe('REFUNDED');
      expect(done.needsAttention).toBe(false);
      expect(done.attempts.map((a) => [a.attempt, a.outcome, a.actor])).toEqual([
        [1, 'refused', 'system'],
        [2, 'refunded', financeActor.principal],
      ]);
      expect(executed(fakes).map((c) => (c.args as { attempt: number }).attempt)).toEqual([1, 2]);
      expect(fakes.payments.get('pay_o-7')!.refundedAmount).toBe(4_000);

      fakes.refundFaults.push('refuse');
      const other = await startRefund(
        env().client,
        refundInput({ orderId: 'o-7', amount: 6_000, reason: 'duplicate_payment' }),
      );
      await waitForRefund(other.handle, (v) => v.status === 'FAILED', 'FAILED');
      await other.handle.executeUpdate(retryRefundUpdate, {
        args: [{ channel: 'balance', reason: 'card closed', actor: opsActor }],
      });
      const paidOut = await other.handle.result();
      expect(paidOut).toMatchObject({ status: 'REFUNDED', channel: 'balance' });
      expect(fakes.calls.filter((c) => c.name === 'payoutRefund').map((c) => c.args)).toEqual([
        expect.objectContaining({ channel: 'balance', amount: 6_000, attempt: 2 }),
      ]);
    });
  });

  it('escalates a pending refund at the approval SLA and again at twice it, and stays pending until decided', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-8', 50_000);
    await withWorker(fakes, async () => {
      const { handle } = await startRefund(env().client, refundInput({ orderId: 'o-8', amount: 20_000 }));
      await env().sleep(policy.refund.approvalSlaMs + HOUR);
      const once = await waitForRefund(handle, (v) => v.escalationLevel === 1, 'escalation 1');
      expect(once).toMatchObject({ status: 'PENDING_APPROVAL', attentionReasons: ['sla_breached'] });
      expect(fakes.staffTopics()).toEqual(['refund_approval_overdue']);
      await env().sleep(policy.refund.approvalSlaMs);
      const twice = await waitForRefund(handle, (v) => v.escalationLevel === 2, 'escalation 2');
      expect(twice.status).toBe('PENDING_APPROVAL');
      expect(twice.slaDeadline).toBeUndefined();
      expect(fakes.staffTopics()).toEqual(['refund_approval_overdue', 'refund_approval_overdue']);
      await env().sleep(10 * policy.refund.approvalSlaMs);
      expect((await handle.query(refundStateQuery)).status).toBe('PENDING_APPROVAL');
      await handle.executeUpdate(decideRefundUpdate, { args: [decide('approve', supervisor)] });
      const done = await handle.result();
      expect(done).toMatchObject({ status: 'REFUNDED', needsAttention: false, escalationLevel: 2 });
    });
  });

  it('lets ops give up a step that failed for good: the claim is released and the refund ends REJECTED', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-9', 50_000);
    const execute = fakes.activities.executeRefund;
    fakes.activities.executeRefund = async () => {
      throw ApplicationFailure.nonRetryable('the database refused the data', 'InvalidData');
    };
    await withWorker(fakes, async () => {
      const { handle } = await startRefund(
        env().client,
        refundInput({ orderId: 'o-9', amount: 4_000, reason: 'duplicate_payment' }),
      );
      const parked = await waitForRefund(handle, (v) => v.attentionReasons.includes('step_failed'), 'step_failed');
      expect(parked.status).toBe('APPROVED');
      await handle.executeUpdate(recoverStepUpdate, {
        args: [{ action: 'fail', reason: 'bad data', actor: opsActor }],
      });
      const done = await handle.result();
      expect(done.status).toBe('REJECTED');
      expect(done.rejectReason).toMatch(/executeRefund abandoned/);
      expect(fakes.claims.has(done.refundId)).toBe(false);
    });
    fakes.activities.executeRefund = execute;
  });
});

describe('an order cancelled after its money was captured', () => {
  it('gives the money back through a refund case the system approves, and lists it', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const input = orderInput({ payment: { method: 'bank_transfer' } });
      const handle = await start(input);
      const paymentId = (await handle.query(orderStateQuery)).payment.authorizationId!;
      const arrived = fakes.transferArrives(paymentId);
      await handle.signal(paymentNotificationSignal, {
        eventId: 'evt-1',
        paymentId,
        succeeded: true,
        amount: arrived.capturedAmount,
        currency: 'CNY',
      });
      await waitForStatus(handle, 'FULFILLING');
      const cancelled = await handle.executeUpdate(cancelOrderUpdate, {
        args: [{ reason: 'changed my mind', actor: agent }],
      });
      expect(cancelled.status).toBe('CANCELLED');
      const refundId = `${input.orderId}-cancel-1`;
      expect(cancelled.refunds).toEqual([
        expect.objectContaining({ refundId, amount: arrived.capturedAmount, reason: 'order_cancelled' }),
      ]);
      const refund = env().client.workflow.getHandle<typeof refundWorkflow>(`refund-${refundId}`);
      const done = await refund.result();
      expect(done.status).toBe('REFUNDED');
      const view = await refund.query(refundStateQuery);
      expect(view).toMatchObject({ approver: 'system', origin: 'order', requestedBy: agent, paymentId });
      expect(fakes.payments.get(paymentId)!.refunds).toEqual([
        expect.objectContaining({ amount: arrived.capturedAmount, reason: 'order_cancelled' }),
      ]);
      expect(fakes.calls.filter((c) => c.name === 'refundPayment')).toHaveLength(0);
    });
  });
});
