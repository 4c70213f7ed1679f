import { ApplicationFailure } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Allocation, LineRequest } from '../domain/order';
import { sumQuantities } from '../domain/order';
import { allocate, type StockMap } from '../domain/rules';
import { ORDER_ERRORS } from '../workflows/messages';
import type { OrderActivities } from './types';

interface ReservationRow {
  warehouse_code: string;
  sku: string;
  quantity: number;
}

function groupByWarehouse(rows: ReservationRow[]): Allocation[] {
  const byWarehouse = new Map<string, LineRequest[]>();
  for (const row of rows) {
    byWarehouse.set(row.warehouse_code, [
      ...(byWarehouse.get(row.warehouse_code) ?? []),
      { sku: row.sku, quantity: row.quantity },
    ]);
  }
  return [...byWarehouse.keys()]
    .sort()
    .map((warehouseCode) => ({ warehouseCode, lines: byWarehouse.get(warehouseCode)! }));
}

function sameQuantities(rows: ReservationRow[], lines: LineRequest[]): boolean {
  const held = sumQuantities(rows.map((r) => ({ sku: r.sku, quantity: r.quantity })));
  const wanted = sumQuantities(lines);
  return held.size === wanted.size && [...wanted].every(([sku, qty]) => held.get(sku) === qty);
}

/**
 * Serialises every stock movement of one order: without it two calls for the same order (an edit racing a cancel,
 * a retry racing its first attempt) both see no reservation and both reserve.
 */
async function lockOrder(em: EntityManager, orderId: string): Promise<void> {
  await em.execute(`select pg_advisory_xact_lock(hashtextextended(?, 0))`, [`stock:${orderId}`]);
}

/** Locks the stock rows of these SKUs in one global order, so transactions touching overlapping SKUs never deadlock. */
export async function lockLevels(
  em: EntityManager,
  skus: string[],
): Promise<{ warehouse_code: string; sku: string; available: number }[]> {
  if (skus.length === 0) return [];
  return em.execute(
    `select warehouse_code, sku, on_hand - reserved as available from stock_levels
     where sku in (?) order by warehouse_code, sku for update`,
    [skus],
  );
}

async function releaseRows(em: EntityManager, orderId: string, rows: ReservationRow[], reason: string, actor: string) {
  for (const row of rows) {
    await em.execute(
      `with level as (
         update stock_levels set reserved = reserved - ?, updated_at = now() where warehouse_code = ? and sku = ?)
       insert into stock_ledger (warehouse_code, sku, delta, reserved_delta, kind, reason, actor, order_id)
       values (?, ?, 0, ?, 'release', ?, ?, ?)`,
      [row.quantity, row.warehouse_code, row.sku, row.warehouse_code, row.sku, -row.quantity, reason, actor, orderId],
    );
  }
  await em.execute(
    `update reservations set status = 'released', updated_at = now() where order_id = ? and status = 'active'`,
    [orderId],
  );
}

/** Stock moves in row-locked transactions, one order at a time; stock_levels rows are locked in one fixed order. */
export function stockActivities(
  fork: () => EntityManager,
): Pick<OrderActivities, 'reserveStock' | 'releaseStock' | 'commitStock'> {
  return {
    async reserveStock({ orderId, lines, actor }) {
      return fork().transactional(async (em) => {
        await lockOrder(em, orderId);
        const held: ReservationRow[] = await em.execute(
          `select warehouse_code, sku, quantity from reservations where order_id = ? and status = 'active' order by warehouse_code, sku`,
          [orderId],
        );
        // A retried call, or an edit that changes nothing, keeps what is already held.
        if (held.length > 0 && sameQuantities(held, lines)) return groupByWarehouse(held);

        const skus = [...sumQuantities(lines).keys()];
        // Every row this call will touch, released or reserved, is locked up front and in order.
        const levels = await lockLevels(em, [...new Set([...skus, ...held.map((row) => row.sku)])]);
        await releaseRows(em, orderId, held, 'order lines changed', actor);
        const stock: StockMap = {};
        for (const level of levels) {
          if (!skus.includes(level.sku)) continue;
          const released = held
            .filter((row) => row.warehouse_code === level.warehouse_code && row.sku === level.sku)
            .reduce((sum, row) => sum + row.quantity, 0);
          (stock[level.warehouse_code] ??= {})[level.sku] = Number(level.available) + released;
        }
        const allocations = allocate(lines, stock);
        if (!allocations) {
          throw ApplicationFailure.nonRetryable(`not enough stock for ${skus.join(', ')}`, ORDER_ERRORS.outOfStock);
        }
        for (const { warehouseCode, lines: part } of allocations) {
          for (const line of part) {
            // The level, the reservation and the ledger row of a line in one statement.
            await em.execute(
              `with level as (
                 update stock_levels set reserved = reserved + ?, updated_at = now() where warehouse_code = ? and sku = ?),
               reservation as (
                 insert into reservations (order_id, warehouse_code, sku, quantity, status) values (?, ?, ?, ?, 'active')
                 on conflict (order_id, warehouse_code, sku)
                 do update set quantity = excluded.quantity, status = 'active', updated_at = now())
               insert into stock_ledger (warehouse_code, sku, delta, reserved_delta, kind, reason, actor, order_id)
               values (?, ?, 0, ?, 'reserve', 'order placed', ?, ?)`,
              [
                line.quantity,
                warehouseCode,
                line.sku,
                orderId,
                warehouseCode,
                line.sku,
                line.quantity,
                warehouseCode,
                line.sku,
                line.quantity,
                actor,
                orderId,
              ],
            );
          }
        }
        return allocations;
      });
    },

    async releaseStock({ orderId, reason, actor }) {
      await fork().transactional(async (em) => {
        await lockOrder(em, orderId);
        const held: ReservationRow[] = await em.execute(
          `select warehouse_code, sku, quantity from reservations where order_id = ? and status = 'active' order by warehouse_code, sku`,
          [orderId],
        );
        await lockLevels(em, [...new Set(held.map((row) => row.sku))]);
        await releaseRows(em, orderId, held, reason, actor);
      });
    },

    async commitStock({ orderId, warehouseCode, actor }) {
      await fork().transactional(async (em) => {
        await lockOrder(em, orderId);
        const held: ReservationRow[] = await em.execute(
          `select warehouse_code, sku, quantity from reservations
           where order_id = ? and warehouse_code = ? and status = 'active' order by sku`,
          [orderId, warehouseCode],
        );
        await lockLevels(em, [...new Set(held.map((row) => row.sku))]);
        for (const row of held) {
          await em.execute(
            `with level as (
               update stock_levels set on_hand = on_hand - ?, reserved = reserved - ?, updated_at = now()
               where warehouse_code = ? and sku = ?)
             insert into stock_ledger (warehouse_code, sku, delta, reserved_delta, kind, reason, actor, order_id)
             values (?, ?, ?, ?, 'commit', 'handed to carrier', ?, ?)`,
            [
              row.quantity,
              row.quantity,
              row.warehouse_code,
              row.sku,
              row.warehouse_code,
              row.sku,
              -row.quantity,
              -row.quantity,
              actor,
              orderId,
            ],
          );
        }
        await em.execute(
          `update reservations set status = 'committed', updated_at = now() where order_id = ? and warehouse_code = ? and status = 'active'`,
          [orderId, warehouseCode],
        );
      });
    },
  };
}
