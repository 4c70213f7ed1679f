import { DEMO_PRODUCTS, DEMO_STOCK } from '../../db/seed';
import {
  ORDER_CHANNELS,
  PAYMENT_METHODS,
  type LineRequest,
  type OrderChannel,
  type PaymentMethod,
} from '../../domain/order';
import type { ComplaintCategory, ComplaintChannel, ComplaintPriority } from '../../domain/complaint';
import type { FailedGoodsChoice, InspectionLine, ReturnMethod, ReturnType } from '../../domain/return';

/**
 * What the driver does with an order after placing it:
 *   plain             nothing; it should complete
 *   decline_retry     card placed with a declining token, then paid again with a good one
 *   bank_paid         bank transfer that the driver pays through the sandbox
 *   bank_unpaid       bank transfer left unpaid, so the payment window cancels it
 *   bank_paid_cancel  bank transfer paid, then cancelled: the money arrived, so the cancel starts a refund case
 *   cancel            cancelled soon after placement (a refusal because a parcel was picked up lets it complete)
 *   refund            authorized at placement, captured at pickup; once shipped, part is refunded (`refunds`)
 *   return            paid (online or on delivery); once delivered, part of the goods come back (`return`)
 *   complaint         paid (online or on delivery) and left to run; once delivered, the customer complains about it
 *                     (`complaint`): filed, answered, noted on and resolved by the agent it went to, then rated
 */
export type Scenario =
  | 'plain'
  | 'decline_retry'
  | 'bank_paid'
  | 'bank_unpaid'
  | 'bank_paid_cancel'
  | 'cancel'
  | 'refund'
  | 'return'
  | 'complaint';

/**
 * A partial refund the driver requests once the order is shipped. The id is fixed by the plan, so a request repeated
 * after a kill is the same request. The amount is `share` of the order's total, worked out from the placement answer.
 */
export interface PlannedRefund {
  refundId: string;
  /** duplicate_payment within the auto-approve limit is the system's to approve; quality_problem needs an agent. */
  reason: 'duplicate_payment' | 'quality_problem';
  share: number;
}

/**
 * A return the driver requests once the order is delivered, acting as shop, agent and warehouse. The id is fixed by
 * the plan, so a request repeated after a kill is the same request.
 */
export interface PlannedReturn {
  returnId: string;
  /** changed_mind is the system's to approve; quality waits for an agent. */
  reason: 'changed_mind' | 'quality';
  type: ReturnType;
  method: ReturnMethod;
  failedGoods: FailedGoodsChoice;
  /** Part of the order's returnable lines. */
  lines: LineRequest[];
  /** The warehouse's verdict, every returned unit judged once; a SKU may be split into a passed and a failed line. */
  inspection: InspectionLine[];
}

/**
 * A complaint about the order, filed once it is delivered and taken through by the driver as shop, agent and, where
 * the agent it went to has no token of the driver's, supervisor. Its id and every action's Idempotency-Key are fixed
 * by the plan, so a request repeated after a kill is the same request.
 */
export interface PlannedComplaint {
  complaintId: string;
  channel: ComplaintChannel;
  category: ComplaintCategory;
  priority: ComplaintPriority;
  /** goodwill_credit within the agent's limit (the agent resolves it), or an explanation alone. */
  remedy: { kind: 'explanation' } | { kind: 'goodwill_credit'; amount: number };
  /** Internal notes the agent adds between the response and the resolution. */
  notes: number;
  /** The customer's score, 1–5, which closes the complaint. */
  rating: number;
  /** Wait before each action, so the actions of one complaint spread over a few seconds (and over kills). */
  paceMs: number;
}

export interface PlannedOrder {
  orderId: string;
  customerId: string;
  channel: OrderChannel;
  method: PaymentMethod;
  token?: string;
  scenario: Scenario;
  /** Confirms receipt once delivered; otherwise the order is left to auto-complete. */
  confirm: boolean;
  lines: LineRequest[];
  /** Tea (SH1 only) with running shoes (GZ1 only): two parcels from two warehouses. */
  split: boolean;
  /**
   * Wait between placement and the follow-up (retry, transfer, cancel), so follow-ups land at varied moments; a
   * cancel after a transfer waits half of it again.
   */
  followUpDelayMs: number;
  /** Partial refunds requested once shipped; empty unless the scenario is `refund`. */
  refunds: PlannedRefund[];
  /** Requested once delivered; only in the scenario `return`. */
  return?: PlannedReturn;
  /** Filed once delivered; only in the scenario `complaint`. */
  complaint?: PlannedComplaint;
}

/** mulberry32: small, fast and good enough to make a run's plan and kill points repeatable from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const CUSTOMERS = ['C-1001', 'C-1002', 'C-1003'];
const TOKENS: Partial<Record<PaymentMethod, string>> = {
  card: 'tok_visa',
  wallet: 'tok_wallet_ok',
  instalments: 'tok_instalments_ok',
};
/**
 * Cheap SKUs with plenty of stock, weighted: totals stay far below the review thresholds (a first order over
 * 2000 CNY goes to review and would wait for a reviewer).
 */
const EVERYDAY_SKUS = ['ACC-ANKER-USBC1M', 'ACC-ANKER-USBC1M', 'ACC-ANKER-USBC1M', 'BOK-3BODY-SET', 'KIT-MIDEA-RC4L'];
const SPLIT_SKUS = ['GRO-LJTEA-250', 'APP-LINING-RUN42'];
const SPLIT_SHARE = 0.12;
const CANCEL_SHARE = 0.15;
/** Of the methods captured at pickup (4 of 6): about 10 % of all orders. */
const REFUND_SHARE_OF_CAPTURED = 0.15;
const CAPTURED_AT_PICKUP: readonly PaymentMethod[] = ['card', 'wallet', 'balance', 'instalments'];
/** Of the orders paid online or on delivery (bank transfers have scenarios of their own): about 12 % of all orders. */
const RETURN_SHARE_OF_PAID = 0.15;
const RETURN_METHODS: readonly PaymentMethod[] = [...CAPTURED_AT_PICKUP, 'cod'];
/** Of the orders paid online or on delivery, like returns: about 12 % of all orders. */
const COMPLAINT_SHARE_OF_PAID = 0.15;
const COMPLAINT_METHODS: readonly PaymentMethod[] = RETURN_METHODS;
const COMPLAINT_CHANNELS: readonly ComplaintChannel[] = ['phone', 'email', 'chat', 'app'];
const COMPLAINT_CATEGORIES: readonly ComplaintCategory[] = ['product_quality', 'logistics', 'after_sales', 'staff'];
/** Urgent ones too: their SLA (30 min to a first response) is still far beyond a run. */
const COMPLAINT_PRIORITIES: readonly ComplaintPriority[] = ['low', 'normal', 'normal', 'high', 'urgent'];
/** Goodwill in minor units, well within the agent limit (COMPLAINT_GOODWILL_AGENT_LIMIT, 5000 by default). */
const GOODWILL_MIN = 1000;
const GOODWILL_MAX = 3000;
/** Returns an agent has to approve (quality), returns exchanged rather than refunded, dropped off with a label. */
const QUALITY_SHARE_OF_RETURN = 0.5;
const EXCHANGE_SHARE_OF_RETURN = 0.25;
const LABEL_SHARE_OF_RETURN = 0.5;
/**
 * Inspections where every unit fails (the return ends inspection_failed), and, of returns of several units, where some
 * pass and some fail.
 */
const FAILED_SHARE_OF_RETURN = 0.1;
const MIXED_SHARE_OF_SEVERAL_UNITS = 0.3;
/** Goods the catalogue does not take back: never planned in a return. */
const NOT_RETURNABLE = new Set<string>(
  DEMO_PRODUCTS.filter((p) => 'returnable' in p && !p.returnable).map((p) => p.sku),
);
/** Refund orders that also ask for a second refund, one an agent has to approve. */
const APPROVAL_SHARE_OF_REFUND = 0.5;
const DECLINE_SHARE_OF_CARD = 0.35;
const UNPAID_SHARE_OF_BANK = 0.3;
const PAID_CANCEL_SHARE_OF_BANK = 0.25;
/** Planned units stay below this share of a SKU's stock, so no placement can be refused for stock. */
const STOCK_HEADROOM = 0.9;

/** N orders, every payment method equally often, in a seeded random order. */
export function planOrders(count: number, seed: number, random: () => number): PlannedOrder[] {
  const stockLeft = new Map<string, number>();
  for (const { sku, onHand } of DEMO_STOCK) stockLeft.set(sku, (stockLeft.get(sku) ?? 0) + onHand);
  for (const [sku, units] of stockLeft) stockLeft.set(sku, Math.floor(units * STOCK_HEADROOM));
  const take = (sku: string, quantity: number) => {
    const left = stockLeft.get(sku) ?? 0;
    if (left < quantity) return false;
    stockLeft.set(sku, left - quantity);
    return true;
  };
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];

  let complaintsPlanned = 0;

  const methods = Array.from({ length: count }, (_, i) => PAYMENT_METHODS[i % PAYMENT_METHODS.length]);
  for (let i = methods.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [methods[i], methods[j]] = [methods[j], methods[i]];
  }

  return methods.map((method, index) => {
    const lines: LineRequest[] = [];
    const split = random() < SPLIT_SHARE && SPLIT_SKUS.every((sku) => take(sku, 1));
    if (split) lines.push(...SPLIT_SKUS.map((sku) => ({ sku, quantity: 1 })));
    const extra = split ? Math.floor(random() * 2) : 1 + Math.floor(random() * 2);
    for (let n = 0; n < extra; n++) {
      const sku = pick(EVERYDAY_SKUS);
      const quantity = 1 + Math.floor(random() * 2);
      if (lines.some((line) => line.sku === sku) || !take(sku, quantity)) continue;
      lines.push({ sku, quantity });
    }
    if (lines.length === 0) {
      if (!take(EVERYDAY_SKUS[0], 1)) throw new Error(`CHAOS_ORDERS=${count} is more than the demo stock can cover`);
      lines.push({ sku: EVERYDAY_SKUS[0], quantity: 1 });
    }

    const roll = random();
    const refundUpTo = CANCEL_SHARE + REFUND_SHARE_OF_CAPTURED;
    const returnUpTo = refundUpTo + RETURN_SHARE_OF_PAID;
    const complaintUpTo = returnUpTo + COMPLAINT_SHARE_OF_PAID;
    const returnable = RETURN_METHODS.includes(method) && lines.some((line) => !NOT_RETURNABLE.has(line.sku));
    let scenario: Scenario = 'plain';
    if (roll < CANCEL_SHARE) scenario = 'cancel';
    else if (CAPTURED_AT_PICKUP.includes(method) && roll < refundUpTo) scenario = 'refund';
    else if (returnable && roll >= refundUpTo && roll < returnUpTo) scenario = 'return';
    else if (COMPLAINT_METHODS.includes(method) && roll >= returnUpTo && roll < complaintUpTo) scenario = 'complaint';
    // Past the complaints' slice, so that card orders decline as often as before complaints were planned.
    else if (method === 'card' && roll < complaintUpTo + DECLINE_SHARE_OF_CARD) scenario = 'decline_retry';
    else if (method === 'bank_transfer') {
      if (roll < CANCEL_SHARE + UNPAID_SHARE_OF_BANK) scenario = 'bank_unpaid';
      else if (roll < CANCEL_SHARE + UNPAID_SHARE_OF_BANK + PAID_CANCEL_SHARE_OF_BANK) scenario = 'bank_paid_cancel';
      else scenario = 'bank_paid';
    }
    const completes = scenario !== 'cancel' && scenario !== 'bank_unpaid' && scenario !== 'bank_paid_cancel';
    const delayCap = scenario === 'cancel' ? 1500 : scenario.startsWith('bank_paid') ? 3000 : 2000;
    const orderId = `chaos-${seed}-${String(index + 1).padStart(4, '0')}`;
    const refunds: PlannedRefund[] = [];
    if (scenario === 'refund') {
      // Together at most 40 % of the total, so both fit in what was captured whatever the order of their claims.
      refunds.push({ refundId: `${orderId}-r1`, reason: 'duplicate_payment', share: 0.05 + random() * 0.15 });
      if (random() < APPROVAL_SHARE_OF_REFUND) {
        refunds.push({ refundId: `${orderId}-r2`, reason: 'quality_problem', share: 0.05 + random() * 0.15 });
      }
    }
    const planned = scenario === 'return' ? planReturn(`${orderId}-ret1`, lines, random) : undefined;
    const complaint =
      scenario === 'complaint' ? planComplaint(`${orderId}-cmp1`, complaintsPlanned++, random) : undefined;
    return {
      orderId,
      customerId: pick(CUSTOMERS),
      channel: pick(ORDER_CHANNELS),
      method,
      token: scenario === 'decline_retry' ? 'tok_decline' : TOKENS[method],
      scenario,
      confirm: completes && random() < 0.5,
      lines,
      split,
      followUpDelayMs: Math.floor(random() * delayCap),
      refunds,
      ...(planned ? { return: planned } : {}),
      ...(complaint ? { complaint } : {}),
    };
  });
}

/** A complaint; remedies alternate, goodwill first, so both are planned about equally often. */
function planComplaint(complaintId: string, index: number, random: () => number): PlannedComplaint {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const goodwill = index % 2 === 0;
  return {
    complaintId,
    channel: pick(COMPLAINT_CHANNELS),
    category: pick(COMPLAINT_CATEGORIES),
    priority: pick(COMPLAINT_PRIORITIES),
    remedy: goodwill
      ? {
          kind: 'goodwill_credit',
          amount: GOODWILL_MIN + 100 * Math.floor(random() * ((GOODWILL_MAX - GOODWILL_MIN) / 100 + 1)),
        }
      : { kind: 'explanation' },
    notes: 3 + Math.floor(random() * 6),
    rating: 1 + Math.floor(random() * 5),
    paceMs: 200 + Math.floor(random() * 1000),
  };
}

/** Some of the order's returnable units, whole lines or part of one, and the warehouse's verdict on each. */
function planReturn(returnId: string, orderLines: readonly LineRequest[], random: () => number): PlannedReturn {
  const returnable = orderLines.filter((line) => !NOT_RETURNABLE.has(line.sku));
  const chosen = returnable.filter(() => random() < 0.5);
  if (chosen.length === 0) chosen.push(returnable[Math.floor(random() * returnable.length)]);
  const lines = chosen.map(({ sku, quantity }) => ({ sku, quantity: 1 + Math.floor(random() * quantity) }));
  const verdict = random();
  const units = lines.reduce((sum, line) => sum + line.quantity, 0);
  let inspection: InspectionLine[] = lines.map((line) => ({ ...line, passed: true }));
  if (verdict < FAILED_SHARE_OF_RETURN) {
    inspection = lines.map((line) => ({ ...line, passed: false, note: 'chaos: scratched' }));
  } else if (units > 1 && verdict < FAILED_SHARE_OF_RETURN + MIXED_SHARE_OF_SEVERAL_UNITS) {
    // The first line's first unit fails, the rest passes.
    const [first, ...rest] = lines;
    inspection = [
      { sku: first.sku, quantity: 1, passed: false, note: 'chaos: scratched' },
      ...(first.quantity > 1 ? [{ sku: first.sku, quantity: first.quantity - 1, passed: true }] : []),
      ...rest.map((line) => ({ ...line, passed: true })),
    ];
  }
  return {
    returnId,
    reason: random() < QUALITY_SHARE_OF_RETURN ? 'quality' : 'changed_mind',
    type: random() < EXCHANGE_SHARE_OF_RETURN ? 'exchange' : 'refund',
    method: random() < LABEL_SHARE_OF_RETURN ? 'label' : 'pickup',
    failedGoods: random() < 0.5 ? 'send_back' : 'dispose',
    lines,
    inspection,
  };
}
