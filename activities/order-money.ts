import type { EntityManager } from '@mikro-orm/postgresql';

/*
 * An order's captured and refunded totals are facts of its payments and refunds, which refund cases change outside the
 * order workflow; every writer of `orders` takes them from there, never from a workflow's view.
 */

/** What the order's payments captured; binds the order id once. */
export const CAPTURED_OF_ORDER = '(select coalesce(sum(captured_amount), 0) from payments where order_id = ?)';
/** What went back to the customer, by any channel; binds the order id once. */
export const REFUNDED_OF_ORDER =
  '(select coalesce(sum(amount), 0) from refunds where order_id = ? and refunded_at is not null)';

/**
 * Locks the order's row for the rest of the transaction. Taken as a statement of its own before the totals are read:
 * under READ COMMITTED the next statement then sees what the previous holder committed, so two refunds recorded at
 * once both count.
 */
export async function lockOrderRow(em: EntityManager, orderId: string): Promise<void> {
  await em.execute('select 1 from orders where id = ? for update', [orderId]);
}

/** Recomputes both totals together, so a lagging snapshot's captured amount cannot trip refunded <= captured. */
export async function syncOrderMoney(em: EntityManager, orderId: string): Promise<void> {
  await lockOrderRow(em, orderId);
  await em.execute(
    `update orders set captured_amount = ${CAPTURED_OF_ORDER}, refunded_amount = ${REFUNDED_OF_ORDER},
       updated_at = now() where id = ?`,
    [orderId, orderId, orderId],
  );
}
