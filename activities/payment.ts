import type { EntityManager } from '@mikro-orm/postgresql';
import type { PaymentMethod, PaymentStatus } from '../domain/order';
import type { GatewayPayment, GatewayPaymentStatus, PaymentGateway } from '../domain/ports';
import { providerCall } from './provider';
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

const STATUS_OF: Record<GatewayPaymentStatus, (method: PaymentMethod) => PaymentStatus> = {
  authorized: () => 'AUTHORIZED',
  declined: () => 'DECLINED',
  pending: (method) => (method === 'cod' ? 'COD_PENDING' : 'AWAITING_TRANSFER'),
  captured: () => 'CAPTURED',
  voided: () => 'VOIDED',
  refunded: () => 'REFUNDED',
};

/** Writes what the gateway says of a payment; a bank transfer's capture reaches `payments` only this way. */
async function recordFact(em: EntityManager, fact: GatewayPayment) {
  await em.execute(
    `update payments set status = ?, captured_amount = ?, refunded_amount = ?, updated_at = now() where id = ?`,
    [STATUS_OF[fact.status](fact.method), fact.capturedAmount, fact.refundedAmount, fact.paymentId],
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

    async refundPayment({ orderId, paymentId, amount, purpose }) {
      const movement = await providerCall(() =>
        gateway.refund({ idempotencyKey: `${orderId}:refund:${paymentId}:${purpose}`, paymentId, amount }),
      );
      // Absolute figures from the gateway: adding the movement here would count it twice on a retry.
      const fact = await providerCall(() => gateway.get(paymentId));
      if (fact) await recordFact(fork(), fact);
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
