import type { EntityManager } from '@mikro-orm/postgresql';
import { sumQuantities, type Address, type LineRequest } from '../domain/order';
import { returnEligibilityRefusal, type ReturnPolicy, type ReturnReason } from '../domain/return';

/** What the records say about an order whose goods may come back. */
export interface ReturnableOrder {
  status: string;
  customerId: string;
  currency: string;
  address: Address;
  deliveredAt?: string;
  /** Units ordered and the unit price paid, per SKU. */
  lines: Map<string, { quantity: number; unitPrice: number }>;
}

export async function returnableOrder(em: EntityManager, orderId: string): Promise<ReturnableOrder | undefined> {
  const [order]: { status: string; customer_id: string; currency: string; shipping_address: Address }[] =
    await em.execute('select status, customer_id, currency, shipping_address from orders where id = ?', [orderId]);
  if (!order) return undefined;
  const [[delivered], rows] = await Promise.all([
    em.execute<{ at: string | Date }[]>(
      `select at from case_history where case_type = 'order' and case_id = ? and to_status = 'DELIVERED'
        order by seq limit 1`,
      [orderId],
    ),
    em.execute<{ sku: string; quantity: number; unit_price: number }[]>(
      'select sku, quantity, unit_price from order_lines where order_id = ? order by id',
      [orderId],
    ),
  ]);
  const lines = new Map<string, { quantity: number; unitPrice: number }>();
  for (const row of rows) {
    const quantity = (lines.get(row.sku)?.quantity ?? 0) + row.quantity;
    lines.set(row.sku, { quantity, unitPrice: lines.get(row.sku)?.unitPrice ?? row.unit_price });
  }
  return {
    status: order.status,
    customerId: order.customer_id,
    currency: order.currency.trim(),
    address: order.shipping_address,
    ...(delivered ? { deliveredAt: new Date(delivered.at).toISOString() } : {}),
    lines,
  };
}

/**
 * Why these lines of the order cannot come back at `now`, judged on the records: the order, the catalogue, and the
 * units every other return of the order holds. The API answers with it before any case starts; the claim applies it
 * again under the order's claim lock, where it decides.
 */
export async function returnRefusal(
  em: EntityManager,
  order: ReturnableOrder,
  request: { orderId: string; returnId?: string; lines: LineRequest[]; reason: ReturnReason },
  windows: Pick<ReturnPolicy, 'windowMs' | 'qualityWindowMs'>,
  now: number,
): Promise<{ field: string; reason: string } | undefined> {
  const skus = [...sumQuantities(request.lines).keys()];
  const [notReturnable, claimed] = await Promise.all([
    em.execute<{ sku: string }[]>('select sku from products where sku in (?) and not returnable', [skus]),
    em.execute<{ sku: string; quantity: number }[]>(
      `select sku, sum(quantity)::int as quantity from return_lines
        where order_id = ? and return_id <> ? and not released group by sku`,
      [request.orderId, request.returnId ?? ''],
    ),
  ]);
  return returnEligibilityRefusal(
    {
      orderStatus: order.status,
      deliveredAt: order.deliveredAt,
      now,
      ordered: new Map([...order.lines].map(([sku, line]) => [sku, line.quantity])),
      claimed: new Map(claimed.map((row) => [row.sku, row.quantity])),
      notReturnable: new Set(notReturnable.map((row) => row.sku)),
    },
    request,
    windows,
  );
}
