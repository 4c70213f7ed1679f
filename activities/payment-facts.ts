import type { EntityManager } from '@mikro-orm/postgresql';
import type { PaymentStatus } from '../domain/order';
import type { GatewayPayment } from '../domain/ports';

function statusOf({ status, method, refundedAmount }: GatewayPayment): PaymentStatus {
  switch (status) {
    case 'authorized':
      return 'AUTHORIZED';
    case 'declined':
      return 'DECLINED';
    case 'pending':
      return method === 'cod' ? 'COD_PENDING' : 'AWAITING_TRANSFER';
    case 'captured':
      return refundedAmount > 0 ? 'PARTIALLY_REFUNDED' : 'CAPTURED';
    case 'voided':
      return 'VOIDED';
    case 'refunded':
      return 'REFUNDED';
  }
}

/**
 * Writes what the gateway says of a payment; a bank transfer's capture reaches `payments` only this way. The figures
 * are absolute, so a retry never counts a movement twice; a fact read before a concurrent writer's newer one (money
 * only grows at the gateway) is not applied.
 */
export async function recordFact(em: EntityManager, fact: GatewayPayment): Promise<void> {
  await em.execute(
    `update payments set status = ?, captured_amount = ?, refunded_amount = ?, updated_at = now()
     where id = ? and captured_amount <= ? and refunded_amount <= ?`,
    [
      statusOf(fact),
      fact.capturedAmount,
      fact.refundedAmount,
      fact.paymentId,
      fact.capturedAmount,
      fact.refundedAmount,
    ],
  );
}
