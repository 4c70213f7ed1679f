import { ApplicationFailure } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sumQuantities } from '../domain/order';
import { RETURN_TERMINAL_STATUSES } from '../domain/return';
import { CASE_ERRORS } from '../workflows/case/messages';
import { recordTransition } from './case-records';
import { writeShipmentEvent } from './shipping';
import { CAPTURED_OF_ORDER, REFUNDED_OF_ORDER } from './order-money';
import type { OrderActivities } from './types';

export interface PricingConfig {
  shippingFee: number;
  freeShippingOver: number;
}

export function recordActivities(
  fork: () => EntityManager,
  pricing: PricingConfig,
): Pick<OrderActivities, 'priceOrder' | 'recordOrder' | 'recordSettlement'> {
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
        throw ApplicationFailure.nonRetryable(`unknown or inactive SKU: ${unknown.join(', ')}`, CASE_ERRORS.unknownSku);
      }
      const foreign = products.filter((p) => p.currency.trim() !== currency);
      if (foreign.length > 0) {
        throw ApplicationFailure.nonRetryable(`${foreign[0].sku} is not sold in ${currency}`, CASE_ERRORS.unknownSku);
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

    async recordOrder({ version, requestHash, view, transition, audit, shipmentEvents = [] }) {
      await fork().transactional(async (em) => {
        // Locked, as every writer of the order's money columns does; the edits count tells whether the lines changed.
        const [stored]: { edits: number }[] = await em.execute('select edits from orders where id = ? for update', [
          view.orderId,
        ]);
        const applied = await em.execute(
          `insert into orders (id, customer_id, channel, status, currency, subtotal, shipping, total, captured_amount,
             refunded_amount, payment_method, shipping_address, needs_attention, attention_reason, cancel_reason, edits,
             request_hash, placed_at, completed_at, snapshot_version)
           values (?, ?, ?, ?, ?, ?, ?, ?, ${CAPTURED_OF_ORDER}, ${REFUNDED_OF_ORDER}, ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?, ?)
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
            view.orderId,
            view.orderId,
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
        // The carrier events this snapshot applied, with it; a stale snapshot (a later one was written) sets no
        // shipment back to an earlier state, and the later one carried the same events.
        if (applied.length > 0) for (const event of shipmentEvents) await writeShipmentEvent(em, event);
        // Lines change only when the order is first recorded and on an edit; most snapshots leave them be.
        if (applied.length > 0 && stored?.edits !== view.edits) {
          await em.execute('delete from order_lines where order_id = ?', [view.orderId]);
          for (const line of view.lines) {
            await em.execute(
              'insert into order_lines (order_id, sku, name, quantity, unit_price, line_total) values (?, ?, ?, ?, ?, ?)',
              [view.orderId, line.sku, line.name, line.quantity, line.unitPrice, line.lineTotal],
            );
          }
        }
        await recordTransition(em, {
          caseType: 'order',
          caseId: view.orderId,
          customerId: view.customerId,
          transition,
          audit,
          payload: {
            orderId: view.orderId,
            total: view.totals,
            waybills: view.shipments.map((s) => s.waybill).filter(Boolean),
          },
        });
      });
    },

    async recordSettlement({ orderId, currency, total, shipping }) {
      const em = fork();
      await em.execute(
        `insert into settlements (order_id, currency, order_total, captured, refunded, shipping, net)
         select ?, ?, ?, captured, refunded, ?, captured - refunded
           from (select ${CAPTURED_OF_ORDER} as captured, ${REFUNDED_OF_ORDER} as refunded) money
          where not exists (select 1 from returns where order_id = ? and status not in (?))
         on conflict (order_id) do nothing`,
        [orderId, currency, total, shipping, orderId, orderId, orderId, [...RETURN_TERMINAL_STATUSES]],
      );
      const settled = await em.execute('select 1 from settlements where order_id = ?', [orderId]);
      return settled.length > 0;
    },
  };
}
