import { ApplicationFailure } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { PaymentMethod } from '../domain/order';
import type { GatewayPayment, PaymentGateway } from '../domain/ports';
import type { RefundChannel } from '../domain/refund';
import { CASE_ERRORS } from '../workflows/case/messages';
import { attentionValues, decisionValues, recordTransition } from './case-records';
import { lockOrderRow, syncOrderMoney } from './order-money';
import { recordFact } from './payment-facts';
import { providerCall } from './provider';
import type { RefundActivities } from './types';

/** The part of a refund's row the money activities own. */
interface ClaimRow {
  order_id: string;
  amount: number;
  claimed: boolean;
  payment_id: string | null;
  refunded_at: Date | null;
  provider_refund_id: string | null;
}

async function claimOf(em: EntityManager, refundId: string, lock = false): Promise<ClaimRow | undefined> {
  const [row]: ClaimRow[] = await em.execute(
    `select order_id, amount, claimed, payment_id, refunded_at, provider_refund_id from refunds where id = ?
     ${lock ? 'for update' : ''}`,
    [refundId],
  );
  return row;
}

export interface ClaimRequest {
  refundId: string;
  orderId: string;
  paymentId?: string;
  amount: number;
}

/**
 * Sets `amount` aside on a payment of the order for the refund whose row exists, inside the caller's transaction; see
 * `RefundActivities.claimRefund`. The conditional update is the arbiter: of two claims racing for the same money, the
 * second re-reads the row once the first commits and no longer matches.
 */
export async function claimPayment(
  em: EntityManager,
  { refundId, orderId, paymentId, amount }: ClaimRequest,
): Promise<{ paymentId: string; method: PaymentMethod }> {
  const refund = await claimOf(em, refundId, true);
  if (!refund) throw new Error(`refund ${refundId} cannot be recorded before order ${orderId} and its payments are`);
  if (refund.order_id !== orderId) {
    throw ApplicationFailure.nonRetryable(
      `refund ${refundId} belongs to order ${refund.order_id}, not ${orderId}`,
      CASE_ERRORS.ruleViolation,
    );
  }
  if (refund.claimed) {
    const [payment]: { method: PaymentMethod }[] = await em.execute('select method from payments where id = ?', [
      refund.payment_id,
    ]);
    return { paymentId: refund.payment_id!, method: payment.method };
  }
  const onPayment = paymentId ? 'and id = ?' : '';
  const scope = paymentId ? [orderId, paymentId] : [orderId];
  const candidates: { id: string; method: PaymentMethod }[] = await em.execute(
    `select id, method from payments where order_id = ? ${onPayment} and captured_amount - refund_claimed >= ?
     order by created_at desc, id desc`,
    [...scope, amount],
  );
  for (const candidate of candidates) {
    const taken = await em.execute(
      `update payments set refund_claimed = refund_claimed + ?, updated_at = now()
       where id = ? and refund_claimed + ? <= captured_amount returning id`,
      [amount, candidate.id, amount],
    );
    if (taken.length > 0) {
      await em.execute(
        'update refunds set claimed = true, payment_id = ?, amount = ?, updated_at = now() where id = ?',
        [candidate.id, amount, refundId],
      );
      return { paymentId: candidate.id, method: candidate.method };
    }
  }
  const [left]: { total: number; largest: number }[] = await em.execute(
    `select coalesce(sum(captured_amount - refund_claimed), 0)::int as total,
            coalesce(max(captured_amount - refund_claimed), 0)::int as largest
       from payments where order_id = ? ${onPayment}`,
    scope,
  );
  const where = paymentId ? `payment ${paymentId} of order ${orderId}` : `order ${orderId}`;
  throw ApplicationFailure.nonRetryable(
    `refund ${refundId} of ${amount} exceeds what is still refundable on ${where}: ${left.total}` +
      (left.total > left.largest ? ` (at most ${left.largest} on one payment)` : ''),
    CASE_ERRORS.ruleViolation,
  );
}

/**
 * Refuses to move money the refund has not set aside: paid out beyond its claim, refunds of a payment could exceed
 * what it captured.
 */
function assertClaimed(refundId: string, refund: ClaimRow | undefined, amount: number, paymentId?: string): void {
  if (!refund?.claimed || refund.amount !== amount || (paymentId && refund.payment_id !== paymentId)) {
    const on = paymentId ? ` on payment ${paymentId}` : '';
    throw ApplicationFailure.nonRetryable(
      `refund ${refundId} holds no claim of ${amount}${on}: claim it before paying it out`,
      CASE_ERRORS.wrongState,
    );
  }
}

/**
 * Records money that went back, in one transaction: the payment as the gateway now knows it, the refund paid, and the
 * order's totals.
 */
async function recordRefunded(
  em: EntityManager,
  req: { refundId: string; orderId: string; providerRefundId: string; channel?: RefundChannel; fact?: GatewayPayment },
): Promise<void> {
  await lockOrderRow(em, req.orderId);
  if (req.fact) await recordFact(em, req.fact);
  await em.execute(
    `update refunds set refunded_at = now(), provider_refund_id = ?, channel = coalesce(?, channel), updated_at = now()
     where id = ? and refunded_at is null`,
    [req.providerRefundId, req.channel ?? null, req.refundId],
  );
  await syncOrderMoney(em, req.orderId);
}

/** Refunds the claimed money through the payment itself; see `RefundActivities.executeRefund`. */
export async function refundThroughGateway(
  fork: () => EntityManager,
  gateway: PaymentGateway,
  req: { refundId: string; orderId: string; paymentId: string; amount: number; reason: string; attempt: number },
): Promise<{ providerRefundId: string; amount: number }> {
  const { refundId, orderId, paymentId, amount, reason, attempt } = req;
  const movement = await providerCall(() =>
    gateway.refund({ idempotencyKey: `${refundId}:${attempt}`, paymentId, amount, reason }),
  );
  // Absolute figures from the gateway: adding the movement here would count it twice on a retry.
  const fact = await providerCall(() => gateway.get(paymentId));
  await fork().transactional((em) =>
    recordRefunded(em, { refundId, orderId, providerRefundId: movement.id, fact: fact ?? undefined }),
  );
  return { providerRefundId: movement.id, amount: movement.amount };
}

/**
 * The refund case's activities. `claimed`, `payment_id`, `refunded_at` and `provider_refund_id` of a refund are written
 * only here, never by its snapshot, so a snapshot written late cannot undo a movement of money.
 */
export function refundActivities(
  fork: () => EntityManager,
  gateway: PaymentGateway,
): Omit<RefundActivities, 'notifyStaff'> {
  return {
    async recordRefund({ version, view, transition, audit }) {
      await fork().transactional(async (em) => {
        await em.execute(
          `insert into refunds (id, order_id, customer_id, payment_id, amount, currency, reason, origin, status, channel,
             requested_by, requested_role, approver, decided_by, decided_role, decision, decision_id, decision_reason,
             decided_at, reject_reason, note, lines, include_shipping, needs_attention, attention_reason,
             escalation_level, sla_deadline, snapshot_version, created_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?)
           on conflict (id) do update set order_id = excluded.order_id, customer_id = excluded.customer_id,
             payment_id = case when refunds.claimed then refunds.payment_id else excluded.payment_id end,
             amount = case when refunds.claimed then refunds.amount else excluded.amount end,
             currency = excluded.currency, reason = excluded.reason, origin = excluded.origin, status = excluded.status,
             channel = case when refunds.refunded_at is null then excluded.channel else refunds.channel end,
             requested_by = excluded.requested_by, requested_role = excluded.requested_role,
             approver = excluded.approver, decided_by = excluded.decided_by, decided_role = excluded.decided_role,
             decision = excluded.decision, decision_id = excluded.decision_id,
             decision_reason = excluded.decision_reason, decided_at = excluded.decided_at,
             reject_reason = excluded.reject_reason, note = excluded.note, lines = excluded.lines,
             include_shipping = excluded.include_shipping, needs_attention = excluded.needs_attention,
             attention_reason = excluded.attention_reason, escalation_level = excluded.escalation_level,
             sla_deadline = excluded.sla_deadline, snapshot_version = excluded.snapshot_version,
             created_at = excluded.created_at, updated_at = now()
           where refunds.snapshot_version < excluded.snapshot_version`,
          [
            view.refundId,
            view.orderId,
            view.customerId,
            view.paymentId ?? null,
            view.amount,
            view.currency,
            view.reason,
            view.origin,
            view.status,
            view.channel,
            view.requestedBy.principal,
            view.requestedBy.role,
            view.approver,
            ...decisionValues(view.decision),
            view.rejectReason ?? null,
            view.note ?? null,
            view.lines ? JSON.stringify(view.lines) : null,
            view.includeShipping ?? false,
            ...attentionValues(view),
            version,
            view.requestedAt,
          ],
        );
        await recordTransition(em, {
          caseType: 'refund',
          caseId: view.refundId,
          customerId: view.customerId,
          transition,
          audit,
          payload: { refundId: view.refundId, orderId: view.orderId, amount: view.amount, currency: view.currency },
        });
      });
    },

    async claimRefund(req) {
      return fork().transactional(async (em) => {
        // The workflow writes the refund's REQUESTED snapshot before it claims, so a missing row is that write not
        // landed yet: a retry waits for it.
        if (!(await claimOf(em, req.refundId))) throw new Error(`refund ${req.refundId} is not recorded yet`);
        return claimPayment(em, req);
      });
    },

    async releaseRefund({ refundId }) {
      await fork().transactional(async (em) => {
        const refund = await claimOf(em, refundId, true);
        if (!refund?.claimed) return;
        if (refund.refunded_at) {
          throw ApplicationFailure.nonRetryable(
            `refund ${refundId} was paid out (${refund.provider_refund_id}): its claim stays`,
            CASE_ERRORS.wrongState,
          );
        }
        await em.execute('update payments set refund_claimed = refund_claimed - ?, updated_at = now() where id = ?', [
          refund.amount,
          refund.payment_id,
        ]);
        await em.execute('update refunds set claimed = false, updated_at = now() where id = ?', [refundId]);
      });
    },

    async executeRefund({ refundId, orderId, paymentId, amount, reason, attempt }) {
      const refund = await claimOf(fork(), refundId);
      if (refund?.refunded_at) return { providerRefundId: refund.provider_refund_id! };
      assertClaimed(refundId, refund, amount, paymentId);
      const { providerRefundId } = await refundThroughGateway(fork, gateway, {
        refundId,
        orderId,
        paymentId,
        amount,
        reason,
        attempt,
      });
      return { providerRefundId };
    },

    async payoutRefund({ refundId, orderId, customerId, channel, amount, currency, attempt }) {
      const refund = await claimOf(fork(), refundId);
      if (refund?.refunded_at) return { providerRefundId: refund.provider_refund_id! };
      assertClaimed(refundId, refund, amount);
      const key = `${refundId}:${attempt}`;
      if (channel === 'balance') {
        return fork().transactional(async (em) => {
          await em.execute(
            `insert into customer_balance_ledger (customer_id, amount, currency, kind, reference)
             values (?, ?, ?, 'refund', ?) on conflict (reference) do nothing`,
            [customerId, amount, currency, key],
          );
          const [entry]: { id: string }[] = await em.execute(
            'select id from customer_balance_ledger where reference = ?',
            [key],
          );
          const providerRefundId = `balance-${entry.id}`;
          await recordRefunded(em, { refundId, orderId, providerRefundId, channel });
          return { providerRefundId };
        });
      }
      const movement = await providerCall(() =>
        gateway.payout({ idempotencyKey: key, customerId, amount, currency, reference: refundId }),
      );
      await fork().transactional((em) =>
        recordRefunded(em, { refundId, orderId, providerRefundId: movement.id, channel }),
      );
      return { providerRefundId: movement.id };
    },
  };
}
