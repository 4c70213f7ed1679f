import type { OrderActivities, RefundPurpose } from '../activities/types';
import type { Actor } from '../domain/case';
import { SYSTEM_ACTOR } from '../domain/case';
import type { OrderStatus, OrderView } from '../domain/order';
import type { GatewayPayment } from '../domain/ports';
import { PROVIDER_ERRORS } from '../domain/ports';
import type { RefundInput } from '../domain/refund';
import type { CaseCore } from './case/core';
import { failureType } from './case/steps';
import type { OrderCase } from './order-case';
import { startRefundCase } from './child-cases';

export interface MoneyDeps {
  order: OrderCase;
  act: OrderActivities;
  core: CaseCore<OrderStatus, OrderView>;
  /** Who the order's undoing is done for: the refunds it starts name them as requester. */
  undoneBy(): Actor;
}

/**
 * The order's money once a payment exists: what the gateway says it holds, capture, and giving back what the order
 * does not need (voids, refunds of excess and replaced payments, refund cases for a cancelled order's paid money).
 */
export function orderMoney({ order, act, core, undoneBy }: MoneyDeps) {
  const { input } = order;
  const { orderId, policy } = input;

  /** The gateway's answer about one of the order's payments, noted in the order's own totals. */
  async function confirmPayment(paymentId: string): Promise<GatewayPayment | null> {
    const fact = await act.syncPayment({ orderId, paymentId });
    if (fact) order.notePayment(paymentId, fact.capturedAmount, fact.refundedAmount);
    return fact;
  }

  /**
   * Money the order holds but does not need goes back at once. The id names the payment and what it had received, so
   * a retry refunds nothing twice and money arriving later on the same payment is a refund of its own.
   */
  async function refund(fact: GatewayPayment, amount: number, purpose: RefundPurpose): Promise<void> {
    const { paymentId } = fact;
    await act.refundPayment({
      refundId: `${orderId}-${purpose}-${paymentId}-${fact.capturedAmount}`,
      orderId,
      paymentId,
      amount,
      reason: purpose === 'excess' ? 'wrong_amount' : 'duplicate_payment',
    });
    order.noteRefund(paymentId, amount);
  }

  /**
   * Paid money of a cancelled order goes back through a refund case of its own (approved by the system), which
   * outlives the order: the order ends CANCELLED while the refund runs, and lists it.
   */
  async function startCancelRefund(paymentId: string, amount: number): Promise<void> {
    const refundId = `${orderId}-cancel-${order.refunds.length + 1}`;
    const requestedAt = new Date().toISOString();
    const refundInput: RefundInput = {
      refundId,
      orderId,
      customerId: input.customerId,
      currency: order.totals.currency,
      amount,
      reason: 'order_cancelled',
      origin: 'order',
      requestedBy: undoneBy(),
      requestedAt,
      paymentId,
      policy: policy.refund,
    };
    await startRefundCase(refundInput);
    order.refunds.push({ refundId, status: 'REQUESTED', amount, reason: 'order_cancelled', requestedAt });
  }

  /**
   * Gives back whatever a payment holds, judged on the gateway's answer now and never on the order's own view: an
   * open authorization or transfer is voided, captured money refunded. A void refused because the money arrived
   * meanwhile is looked at again and refunded.
   */
  async function returnMoney(paymentId: string, purpose: RefundPurpose | 'cancel'): Promise<void> {
    for (let look = 1; ; look += 1) {
      const fact = await confirmPayment(paymentId);
      if (!fact) return;
      if (fact.status === 'authorized' || fact.status === 'pending') {
        try {
          await act.voidPayment({ orderId, paymentId });
          return;
        } catch (error) {
          if (failureType(error) !== PROVIDER_ERRORS.refused) throw error;
          if (look < 3) continue;
          order.flag('payment_unsettled', `${paymentId} is ${fact.status} but cannot be voided`);
          return;
        }
      }
      const held = fact.capturedAmount - fact.refundedAmount;
      if (held <= 0) return;
      if (purpose === 'cancel') await startCancelRefund(paymentId, held);
      else await refund(fact, held, purpose);
      return;
    }
  }

  /**
   * Asks the gateway whether the awaited transfer arrived: enough money pays the order (any excess goes back), too
   * little is flagged and kept waiting, to be returned if the order never gets paid.
   */
  async function takeTransferIfArrived(): Promise<boolean> {
    const paymentId = order.payment.authorizationId;
    if (order.payment.status !== 'AWAITING_TRANSFER' || !paymentId) return false;
    const fact = await confirmPayment(paymentId);
    if (!fact || fact.capturedAmount === 0) return false;
    const held = fact.capturedAmount - fact.refundedAmount;
    if (held < order.totals.total) {
      if (!order.attention.has('payment_mismatch')) {
        order.flag('payment_mismatch', `received ${fact.capturedAmount} of ${order.totals.total} on ${paymentId}`);
        await core.persist(undefined, { actor: SYSTEM_ACTOR, action: 'payment.mismatch', detail: { paymentId, held } });
      }
      return false;
    }
    if (held > order.totals.total) await refund(fact, held - order.totals.total, 'excess');
    order.payment.status = 'CAPTURED';
    order.clear('payment_mismatch');
    return true;
  }

  /** Compensation: every payment the order ever opened gives back what it holds. */
  async function settleBack() {
    const paidBefore = order.payment.status;
    for (const paymentId of [...order.paymentIds].reverse()) await returnMoney(paymentId, 'cancel');
    if (paidBefore === 'NONE' || paidBefore === 'DECLINED') return;
    // Captured money is the refund cases' to give back; the payment's status follows once they have.
    if (order.payment.captured === 0) order.payment.status = 'VOIDED';
  }

  /** Payments replaced by a later attempt must hold nothing once the order settles. */
  async function returnStrayMoney() {
    for (const paymentId of order.paymentIds) {
      if (paymentId !== order.payment.authorizationId) await returnMoney(paymentId, 'superseded');
    }
  }

  async function captureOnline() {
    if (order.payment.status !== 'AUTHORIZED' || !order.payment.authorizationId) return;
    const paymentId = order.payment.authorizationId;
    const captured = await act.capturePayment({ orderId, paymentId, amount: order.totals.total });
    order.notePayment(paymentId, captured, 0);
    order.payment.status = 'CAPTURED';
  }

  return { returnMoney, takeTransferIfArrived, settleBack, returnStrayMoney, captureOnline };
}
