import type { EntityManager } from '@mikro-orm/postgresql';
import type { PaymentMethod, PaymentStatus } from '../domain/order';
import type { PaymentGateway } from '../domain/ports';
import { recordFact } from './payment-facts';
import { providerCall } from './provider';
import { claimPayment, refundThroughGateway } from './refunds';
import type { OrderActivities } from './types';

interface PaymentRow {
  id: string;
  orderId: string;
  method: PaymentMethod;
  status: PaymentStatus;
  amount: number;
  currency: string;
  reference?: string;
  declineReason?: string;
}

async function savePayment(em: EntityManager, row: PaymentRow) {
  await em.execute(
    `insert into payments (id, order_id, method, status, amount, currency, reference, decline_reason)
     values (?, ?, ?, ?, ?, ?, ?, ?)
     on conflict (id) do update set status = excluded.status, decline_reason = excluded.decline_reason, updated_at = now()`,
    [
      row.id,
      row.orderId,
      row.method,
      row.status,
      row.amount,
      row.currency,
      row.reference ?? null,
      row.declineReason ?? null,
    ],
  );
}

/**
 * Idempotency keys are derived from the order and the attempt, never random, so a retried activity
 * (or a worker that died after the gateway answered) repeats the same request and moves no money twice.
 */
export function paymentActivities(
  fork: () => EntityManager,
  gateway: PaymentGateway,
): Pick<
  OrderActivities,
  'authorizePayment' | 'openDeferredPayment' | 'capturePayment' | 'voidPayment' | 'refundPayment' | 'syncPayment'
> {
  return {
    async authorizePayment({ orderId, attempt, method, token, amount, currency }) {
      const result = await providerCall(() =>
        gateway.authorize({
          idempotencyKey: `${orderId}:authorize:${attempt}`,
          orderId,
          method,
          token,
          amount,
          currency,
        }),
      );
      await savePayment(fork(), {
        id: result.paymentId,
        orderId,
        method,
        status: result.status === 'authorized' ? 'AUTHORIZED' : 'DECLINED',
        amount,
        currency,
        declineReason: result.status === 'declined' ? result.reason : undefined,
      });
      return result;
    },

    async openDeferredPayment({ orderId, attempt, method, amount, currency }) {
      const result = await providerCall(() =>
        gateway.openDeferred({ idempotencyKey: `${orderId}:deferred:${attempt}`, orderId, method, amount, currency }),
      );
      await savePayment(fork(), {
        id: result.paymentId,
        orderId,
        method,
        status: method === 'cod' ? 'COD_PENDING' : 'AWAITING_TRANSFER',
        amount,
        currency,
        reference: result.reference,
      });
      return result;
    },

    async capturePayment({ orderId, paymentId, amount }) {
      const movement = await providerCall(() =>
        gateway.capture({ idempotencyKey: `${orderId}:capture:${paymentId}`, paymentId, amount }),
      );
      await fork().execute(
        `update payments set status = 'CAPTURED', captured_amount = ?, updated_at = now() where id = ?`,
        [movement.amount, paymentId],
      );
      return movement.amount;
    },

    async voidPayment({ orderId, paymentId }) {
      await providerCall(() => gateway.void({ idempotencyKey: `${orderId}:void:${paymentId}`, paymentId }));
      await fork().execute(`update payments set status = 'VOIDED', updated_at = now() where id = ?`, [paymentId]);
    },

    async refundPayment({ refundId, orderId, paymentId, amount, reason }) {
      const done: { refunded_at: Date | null }[] = await fork().execute(
        'select refunded_at from refunds where id = ?',
        [refundId],
      );
      if (done[0]?.refunded_at) return amount;
      // The order's own refunds need no decision: the row is born APPROVED by the system, REFUNDED once the money went.
      await fork().transactional(async (em) => {
        await em.execute(
          `insert into refunds (id, order_id, customer_id, payment_id, amount, currency, reason, origin, status,
             requested_by, requested_role, approver)
           select ?, o.id, o.customer_id, p.id, ?, p.currency, ?, 'order', 'APPROVED', 'system', 'system', 'system'
             from payments p join orders o on o.id = p.order_id where p.id = ? and o.id = ?
           on conflict (id) do nothing`,
          [refundId, amount, reason, paymentId, orderId],
        );
        await claimPayment(em, { refundId, orderId, paymentId, amount });
      });
      const movement = await refundThroughGateway(fork, gateway, {
        refundId,
        orderId,
        paymentId,
        amount,
        reason,
        attempt: 1,
      });
      await fork().execute(`update refunds set status = 'REFUNDED', updated_at = now() where id = ?`, [refundId]);
      return movement.amount;
    },

    async syncPayment({ orderId, paymentId }) {
      const fact = await providerCall(() => gateway.get(paymentId));
      if (!fact || fact.orderId !== orderId) return null;
      await recordFact(fork(), fact);
      const { method, status, amount, currency, capturedAmount, refundedAmount } = fact;
      return { paymentId, orderId, method, status, amount, currency, capturedAmount, refundedAmount };
    },
  };
}
