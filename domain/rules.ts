import type { Allocation, LineRequest, OrderStatus, RiskPolicy, ShipmentView } from './order';
import { sumQuantities } from './order';

export interface RiskInput {
  total: number;
  lines: readonly LineRequest[];
  isNewCustomer: boolean;
}

/** Reasons an order must be looked at by a reviewer before payment; empty when it may go straight on. */
export function assessRisk({ total, lines, isNewCustomer }: RiskInput, policy: RiskPolicy): string[] {
  const reasons: string[] = [];
  if (total > policy.reviewAmountOver) reasons.push('amount_over_threshold');
  for (const [sku, quantity] of sumQuantities(lines)) {
    if (quantity > policy.maxUnitsPerSku) reasons.push(`many_units:${sku}`);
  }
  if (isNewCustomer && total > policy.newCustomerAmountOver) reasons.push('new_customer_large_order');
  return reasons;
}

export interface EditCheck {
  status: OrderStatus;
  placedAt: string;
  now: number;
  editsSoFar: number;
  editWindowMs: number;
  maxEdits: number;
}

/** Why a line edit is refused, or null when it is allowed (ORD-7). */
export function lineEditRefusal(check: EditCheck): string | null {
  if (check.status !== 'PENDING_PAYMENT')
    return `lines can only change while awaiting payment (order is ${check.status})`;
  if (check.now - Date.parse(check.placedAt) > check.editWindowMs) return 'the edit window after placement has passed';
  if (check.editsSoFar >= check.maxEdits) return `at most ${check.maxEdits} edits are allowed`;
  return null;
}

/** The shipping address may change until any parcel has been handed to the carrier. */
export function addressChangeRefusal(status: OrderStatus, shipments: readonly ShipmentView[]): string | null {
  if (['SHIPPED', 'DELIVERED', 'COMPLETED', 'CANCELLED', 'FAILED'].includes(status)) {
    return `the address cannot change once the order is ${status}`;
  }
  if (shipments.some((s) => s.status !== 'BOOKED' && s.status !== 'CANCELLED')) {
    return 'a parcel has already been handed to the carrier';
  }
  return null;
}

/** Cancellation is possible until goods leave; after that the customer starts a return. */
export function cancelRefusal(status: OrderStatus, shipments: readonly ShipmentView[]): string | null {
  if (['SHIPPED', 'DELIVERED', 'COMPLETED'].includes(status)) {
    return `order is ${status}: request a return instead`;
  }
  if (status === 'CANCELLED' || status === 'FAILED') return `order is already ${status}`;
  if (shipments.some((s) => s.status !== 'BOOKED' && s.status !== 'CANCELLED')) {
    return 'a parcel has already been handed to the carrier: request a return instead';
  }
  return null;
}

/** stock[warehouseCode][sku] = units available to reserve. */
export type StockMap = Record<string, Record<string, number>>;

/**
 * Chooses warehouses for an order: one warehouse holding every line when there is one (the one
 * with the most spare stock wins ties by code order), else lines are split, each unit taken from
 * the warehouse with the most of that SKU first, so the order ships in as few parcels as possible.
 * Returns null when the stock cannot cover the order.
 */
export function allocate(lines: readonly LineRequest[], stock: StockMap): Allocation[] | null {
  const wanted = sumQuantities(lines);
  const codes = Object.keys(stock).sort();
  const whole = codes.filter((code) => [...wanted].every(([sku, qty]) => (stock[code][sku] ?? 0) >= qty));
  if (whole.length > 0) {
    return [{ warehouseCode: whole[0], lines: [...wanted].map(([sku, quantity]) => ({ sku, quantity })) }];
  }
  const parts = new Map<string, LineRequest[]>();
  for (const [sku, qty] of wanted) {
    let remaining = qty;
    const sources = codes
      .map((code) => ({ code, available: stock[code][sku] ?? 0 }))
      .filter((s) => s.available > 0)
      .sort((a, b) => b.available - a.available || a.code.localeCompare(b.code));
    for (const source of sources) {
      if (remaining === 0) break;
      const take = Math.min(remaining, source.available);
      remaining -= take;
      parts.set(source.code, [...(parts.get(source.code) ?? []), { sku, quantity: take }]);
    }
    if (remaining > 0) return null;
  }
  return [...parts.keys()].sort().map((warehouseCode) => ({ warehouseCode, lines: parts.get(warehouseCode)! }));
}
