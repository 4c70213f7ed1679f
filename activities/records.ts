import { ApplicationFailure, Context } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sumQuantities } from '../domain/order';
import { ORDER_ERRORS } from '../workflows/messages';
import type { OrderActivities } from './types';

export interface PricingConfig {
  shippingFee: number;
  freeShippingOver: number;
}

/** Identifies one logical call across its retries, so rows it writes once are not written again. */
function operationKey(): string {
  const { workflowExecution, activityId } = Context.current().info;
  return `${workflowExecution?.runId ?? 'standalone'}:${activityId}`;
}

export function recordActivities(
  fork: () => EntityManager,
  pricing: PricingConfig,
): Pick<OrderActivities, 'priceOrder' | 'recordOrder' | 'notifyStaff' | 'recordSettlement'> {
  return {
    async priceOrder({ customerId, currency, lines }) {
      const em = fork();
      const wanted = sumQuantities(lines);
      const products: { sku: string; name: string; price: number; currency: string }[] = await em.execute(
        'select sku, name, price, currency from products where active and sku in (?)',
        [[...wanted.keys()]],
      );
      const bySku = new Map(products.map((p) => [p.sku, p]));
      const unknown = [...wanted.keys()].filter((sku) => !bySku.has(sku));
      if (unknown.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `unknown or inactive SKU: ${unknown.join(', ')}`,
          ORDER_ERRORS.unknownSku,
        );
      }
      const foreign = products.filter((p) => p.currency.trim() !== currency);
      if (foreign.length > 0) {
        throw ApplicationFailure.nonRetryable(`${foreign[0].sku} is not sold in ${currency}`, ORDER_ERRORS.unknownSku);
      }
      const priced = [...wanted].map(([sku, quantity]) => {
        const product = bySku.get(sku)!;
        return { sku, name: product.name, quantity, unitPrice: product.price, lineTotal: product.price * quantity };
      });
      const subtotal = priced.reduce((sum, line) => sum + line.lineTotal, 0);
      const shipping = subtotal >= pricing.freeShippingOver ? 0 : pricing.shippingFee;
      const [{ completed }]: { completed: string }[] = await em.execute(
        `select count(*) as completed from orders where customer_id = ? and status = 'COMPLETED'`,
        [customerId],
      );
      return {
        lines: priced,
        totals: { currency, subtotal, shipping, total: subtotal + shipping },
        isNewCustomer: Number(completed) === 0,
      };
    },

    async recordOrder({ version, requestHash, view, transition, audit }) {
      await fork().transactional(async (em) => {
        const applied = await em.execute(
          `insert into orders (id, customer_id, channel, status, currency, subtotal, shipping, total, captured_amount,
             refunded_amount, payment_method, shipping_address, needs_attention, attention_reason, cancel_reason, edits,
             request_hash, placed_at, completed_at, snapshot_version)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?, ?)
           on conflict (id) do update set status = excluded.status, subtotal = excluded.subtotal, shipping = excluded.shipping,
             total = excluded.total, captured_amount = excluded.captured_amount, refunded_amount = excluded.refunded_amount,
             payment_method = excluded.payment_method, shipping_address = excluded.shipping_address,
             needs_attention = excluded.needs_attention, attention_reason = excluded.attention_reason,
             cancel_reason = excluded.cancel_reason, edits = excluded.edits, completed_at = excluded.completed_at,
             snapshot_version = excluded.snapshot_version, updated_at = now()
           where orders.snapshot_version < excluded.snapshot_version
           returning id`,
          [
            view.orderId,
            view.customerId,
            view.channel,
            view.status,
            view.totals.currency,
            view.totals.subtotal,
            view.totals.shipping,
            view.totals.total,
            view.payment.captured,
            view.payment.refunded,
            view.payment.method,
            JSON.stringify(view.shippingAddress),
            view.needsAttention,
            view.attentionReasons.join(',') || null,
            view.cancelReason ?? null,
            view.edits,
            requestHash,
            view.placedAt,
            view.status === 'COMPLETED' ? (transition?.at ?? new Date().toISOString()) : null,
            version,
          ],
        );
        if (applied.length > 0) {
          await em.execute('delete from order_lines where order_id = ?', [view.orderId]);
          for (const line of view.lines) {
            await em.execute(
              'insert into order_lines (order_id, sku, name, quantity, unit_price, line_total) values (?, ?, ?, ?, ?, ?)',
              [view.orderId, line.sku, line.name, line.quantity, line.unitPrice, line.lineTotal],
            );
          }
        }
        if (transition) {
          const inserted = await em.execute(
            `insert into order_status_history (order_id, seq, from_status, to_status, actor, reason, at)
             values (?, ?, ?, ?, ?, ?, ?) on conflict (order_id, seq) do nothing returning id`,
            [
              view.orderId,
              transition.seq,
              transition.from,
              transition.to,
              transition.actor,
              transition.reason ?? null,
              transition.at,
            ],
          );
          if (inserted.length > 0) {
            const [customer]: { notify_channels: string[] }[] = await em.execute(
              'select notify_channels from customers where id = ?',
              [view.customerId],
            );
            for (const channel of customer?.notify_channels ?? ['email']) {
              await em.execute(
                `insert into notification_outbox (dedupe_key, customer_id, order_id, channel, template, payload)
                 values (?, ?, ?, ?, ?, ?::jsonb) on conflict (dedupe_key) do nothing`,
                [
                  `${view.orderId}:${transition.seq}:${channel}`,
                  view.customerId,
                  view.orderId,
                  channel,
                  `order.${transition.to.toLowerCase()}`,
                  JSON.stringify({
                    orderId: view.orderId,
                    status: transition.to,
                    reason: transition.reason,
                    total: view.totals,
                  }),
                ],
              );
            }
          }
        }
        if (audit) {
          const op = operationKey();
          await em.execute(
            `insert into audit_log (principal, role, action, object_type, object_id, result, detail)
             select ?, ?, ?, 'order', ?, 'ok', ?::jsonb
             where not exists (select 1 from audit_log where object_id = ? and detail->>'operation' = ?)`,
            [
              audit.actor.principal,
              audit.actor.role,
              audit.action,
              view.orderId,
              JSON.stringify({ ...audit.detail, operation: op }),
              view.orderId,
              op,
            ],
          );
        }
      });
    },

    async notifyStaff({ orderId, topic, message }) {
      await fork().execute(
        `insert into notification_outbox (dedupe_key, customer_id, order_id, channel, template, payload)
         values (?, 'staff', ?, 'staff', ?, ?::jsonb) on conflict (dedupe_key) do nothing`,
        [operationKey(), orderId, `staff.${topic}`, JSON.stringify({ orderId, topic, message })],
      );
    },

    async recordSettlement({ orderId, currency, total, shipping, captured, refunded }) {
      await fork().execute(
        `insert into settlements (order_id, currency, order_total, captured, refunded, shipping, net)
         values (?, ?, ?, ?, ?, ?, ?) on conflict (order_id) do nothing`,
        [orderId, currency, total, captured, refunded, shipping, captured - refunded],
      );
    },
  };
}
