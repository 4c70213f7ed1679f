import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Client } from 'pg';
import { RETURN_TERMINAL_STATUSES } from '../../domain/return';
import { complaintStateQuery, complaintWorkflowId } from '../../workflows/complaint-messages';
import { returnWorkflowId } from '../../workflows/return-messages';
import { expectedOutcome, type OrderRecord, type Outage } from './driver';
import type { PlannedComplaint, PlannedReturn } from './plan';

/** Stock as it stood before the first order, and where the ledger stood, so later deltas can be told apart. */
export interface StockSnapshot {
  levels: Map<string, { onHand: number; reserved: number }>;
  ledgerMaxId: number;
  orders: number;
}

export interface Check {
  name: string;
  ok: boolean;
  /** Counts behind the verdict, e.g. "200 expected, 200 found". */
  summary: string;
  offenders: string[];
}

export interface Reconciliation {
  checks: Check[];
  /** Final status per order as PostgreSQL has it. */
  statusOf: Map<string, string>;
  /** Final status per refund case as PostgreSQL has it. */
  refundStatusOf: Map<string, string>;
  /** Every refund case as `origin→status`, to be tallied. */
  refundCases: string[];
  /** Every return case as `status outcome`, to be tallied. */
  returnCases: string[];
  /** Every planned complaint as `remedy→status` (MISSING without a row), and every other complaint, to be tallied. */
  complaintCases: string[];
  diagnostics: string[];
}

/** Where the tree's Temporal dev server answers. */
export interface TemporalTarget {
  address: string;
  namespace: string;
}

const key = (warehouse: string, sku: string) => `${warehouse}/${sku}`;
const answeredOk = (status?: number) => status === 200 || status === 201;
const REFUND_TERMINAL = ['REFUNDED', 'REJECTED'];
const RETURN_TERMINAL: readonly string[] = RETURN_TERMINAL_STATUSES;
/** Temporal's visibility store follows the workflows a moment behind; a closed one may still be listed running. */
const VISIBILITY_PATIENCE_MS = 15_000;
/**
 * A settlement reads the refunds committed when its statement began; `refunded_at` is when a refund's recording
 * transaction began. One that began this shortly before the settlement may have committed after it: either is right.
 */
const SETTLEMENT_RACE_MS = 5000;

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function snapshotStock(url: string): Promise<StockSnapshot> {
  return withClient(url, async (client) => {
    const levels = await client.query<{ warehouse_code: string; sku: string; on_hand: number; reserved: number }>(
      'select warehouse_code, sku, on_hand, reserved from stock_levels',
    );
    const ledger = await client.query<{ max: string }>('select coalesce(max(id), 0) as max from stock_ledger');
    const orders = await client.query<{ count: string }>('select count(*) from orders');
    return {
      levels: new Map(
        levels.rows.map((r) => [key(r.warehouse_code, r.sku), { onHand: r.on_hand, reserved: r.reserved }]),
      ),
      ledgerMaxId: Number(ledger.rows[0].max),
      orders: Number(orders.rows[0].count),
    };
  });
}

/** Orders whose status in PostgreSQL is not yet the one the API reported; the last write may still be retrying. */
export function unsettledRecords(url: string, records: ReadonlyMap<string, OrderRecord>): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ id: string; status: string }>(
      'select id, status from orders where id = any($1)',
      [[...records.keys()]],
    );
    const stored = new Map(rows.map((r) => [r.id, r.status]));
    return [...records.values()]
      .filter((r) => r.lastStatus && r.lastStatus !== 'MISSING' && stored.get(r.plan.orderId) !== r.lastStatus)
      .map((r) => r.plan.orderId);
  });
}

/**
 * Refund cases not over yet, for the drain to wait on: rows not REFUNDED or REJECTED, refunds the API accepted from
 * the driver without a row yet, and cancelled orders holding captured money no refund case has been started for yet
 * (the cancel's refund is a child workflow; its first write may come a moment after the order's last).
 */
export function openRefunds(url: string, records: ReadonlyMap<string, OrderRecord>): Promise<string[]> {
  return withClient(url, async (client) => {
    const open = await client.query<{ id: string; status: string }>(
      `select id, status from refunds where status not in ('REFUNDED', 'REJECTED') order by id`,
    );
    const asked = [...records.values()].flatMap((r) =>
      (r.refunds ?? []).filter((f) => answeredOk(f.request?.status)).map((f) => f.refundId),
    );
    const rows = await client.query<{ id: string }>('select id from refunds where id = any($1)', [asked]);
    const recorded = new Set(rows.rows.map((r) => r.id));
    const uncovered = await client.query<{ id: string; captured: string; covered: string }>(
      `select o.id, p.captured, coalesce(r.covered, 0) as covered
         from orders o
         join (select order_id, sum(captured_amount) as captured from payments group by 1) p on p.order_id = o.id
         left join (select order_id, sum(amount) as covered from refunds group by 1) r on r.order_id = o.id
        where o.status = 'CANCELLED' and p.captured > coalesce(r.covered, 0)
        order by o.id`,
    );
    return [
      ...open.rows.map((r) => `${r.id}(${r.status})`),
      ...asked.filter((id) => !recorded.has(id)).map((id) => `${id}(accepted, no row yet)`),
      ...uncovered.rows.map((r) => `${r.id}(CANCELLED, captured ${r.captured}, refund cases for ${r.covered})`),
    ];
  });
}

/**
 * Complaints not over yet, for the drain to wait on: rows not CLOSED (every complaint of the fresh data directory is
 * the run's), and complaints the API accepted from the driver without a row yet.
 */
export function openComplaints(url: string, records: ReadonlyMap<string, OrderRecord>): Promise<string[]> {
  return withClient(url, async (client) => {
    const open = await client.query<{ id: string; status: string }>(
      `select id, status from complaints where status <> 'CLOSED' order by id`,
    );
    const filed = [...records.values()].flatMap((r) =>
      r.complaint && answeredOk(r.complaint.open?.status) ? [r.complaint.complaintId] : [],
    );
    const rows = await client.query<{ id: string }>('select id from complaints where id = any($1)', [filed]);
    const recorded = new Set(rows.rows.map((r) => r.id));
    return [
      ...open.rows.map((r) => `${r.id}(${r.status})`),
      ...filed.filter((id) => !recorded.has(id)).map((id) => `${id}(accepted, no row yet)`),
    ];
  });
}

/** Notifications not sent nor parked yet, for the drain to wait on: the dispatcher must settle every row too. */
export function unsentNotifications(url: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ id: number; channel: string; status: string }>(
      `select id, channel, status from notification_outbox where status in ('pending', 'sending') order by id`,
    );
    return rows.map((r) => `notification ${r.id}(${r.channel} ${r.status})`);
  });
}

/**
 * Return cases not over yet, for the drain to wait on: rows not CLOSED, REJECTED or EXPIRED, and returns the API
 * accepted from the driver without a row yet.
 */
export function openReturns(url: string, records: ReadonlyMap<string, OrderRecord>): Promise<string[]> {
  return withClient(url, async (client) => {
    const open = await client.query<{ id: string; status: string }>(
      'select id, status from returns where status <> all($1) order by id',
      [RETURN_TERMINAL],
    );
    const asked = [...records.values()].flatMap((r) =>
      r.return && answeredOk(r.return.request?.status) ? [r.return.returnId] : [],
    );
    const rows = await client.query<{ id: string }>('select id from returns where id = any($1)', [asked]);
    const recorded = new Set(rows.rows.map((r) => r.id));
    return [
      ...open.rows.map((r) => `${r.id}(${r.status})`),
      ...asked.filter((id) => !recorded.has(id)).map((id) => `${id}(accepted, no row yet)`),
    ];
  });
}

function sumBy<T>(rows: readonly T[], keyOf: (row: T) => string, valueOf: (row: T) => number): Map<string, number> {
  const sums = new Map<string, number>();
  for (const row of rows) sums.set(keyOf(row), (sums.get(keyOf(row)) ?? 0) + valueOf(row));
  return sums;
}

function check(name: string, offenders: string[], summary: string): Check {
  return { name, ok: offenders.length === 0, summary, offenders };
}

/**
 * Reads the engine's tables and the sandbox providers' own (the provider is the source of truth for money and
 * parcels), and what Temporal still runs, and checks every invariant a crash must not break.
 */
export function reconcile(
  url: string,
  temporal: TemporalTarget,
  records: ReadonlyMap<string, OrderRecord>,
  snapshot: StockSnapshot,
  outages: readonly Outage[],
  paymentWindowMs: number,
): Promise<Reconciliation> {
  return withClient(url, async (db) => {
    const q = async <R extends object>(sql: string, params: unknown[] = []) =>
      (await db.query<R & Record<string, unknown>>(sql, params)).rows;
    const orders = await q<{
      id: string;
      status: string;
      total: number;
      captured_amount: number;
      refunded_amount: number;
      cancel_reason: string | null;
      attention_reason: string | null;
    }>('select id, status, total, captured_amount, refunded_amount, cancel_reason, attention_reason from orders');
    const lines = await q<{ order_id: string; sku: string; quantity: number; unit_price: number }>(
      'select order_id, sku, quantity, unit_price from order_lines',
    );
    const reservations = await q<{ order_id: string; warehouse_code: string; sku: string; quantity: number }>(
      `select order_id, warehouse_code, sku, quantity from reservations where status = 'active'`,
    );
    const levels = await q<{ warehouse_code: string; sku: string; on_hand: number; reserved: number }>(
      'select warehouse_code, sku, on_hand, reserved from stock_levels',
    );
    const ledger = await q<LedgerRow>(
      'select warehouse_code, sku, delta, reserved_delta, kind, order_id from stock_ledger where id > $1',
      [snapshot.ledgerMaxId],
    );
    const settlements = await q<SettlementRow>('select order_id, captured, refunded, net, settled_at from settlements');
    const refunds = await q<RefundRow>(
      `select id, order_id, payment_id, amount, status, reason, origin, channel, approver, decision, decided_by, claimed,
              refunded_at, provider_refund_id from refunds order by id`,
    );
    const enginePayments = await q<EnginePaymentRow>('select id, order_id, refund_claimed from payments');
    const gatewayRefunds = await q<GatewayRefundRow>(
      'select id, payment_id, amount, reason from sandbox.refunds order by id',
    );
    const payments = await q<{ id: string; order_id: string; status: string; captured: string; refunded: string }>(
      'select id, order_id, status, captured_amount as captured, refunded_amount as refunded from sandbox.payments',
    );
    const parcels = await q<ParcelRow>(
      `select waybill, shipment_id, order_id, direction, method, from_warehouse, to_warehouse, status, lines
         from sandbox.parcels`,
    );
    const returns = await q<ReturnRow>(
      `select id, order_id, status, reason, type, method, failed_goods, approver, decision, decided_by, decided_role,
              outcome, received_by, inspection, refund_id, refund_amount, claimed from returns order by id`,
    );
    const returnLines = await q<ReturnLineRow>('select return_id, order_id, sku, quantity, released from return_lines');
    // The engine's shipments name the case a parcel belongs to; at the carrier a return's parcel has its order's id.
    const returnShipments = await q<{ id: string; case_id: string; purpose: string | null }>(
      `select id, case_id, purpose from shipments where case_type = 'return'`,
    );
    const complaints = await q<ComplaintRow>(
      `select id, order_id, customer_id, channel, category, priority, status, outcome, rating, remedy, resolution,
              timeline_count, assignee from complaints order by id`,
    );
    const complaintEntries = await q<ComplaintEntryRow>(
      'select complaint_id, seq, kind, actor, text from complaint_entries order by complaint_id, seq',
    );
    const complaintHistory = await q<CaseHistoryRow>(
      `select case_id, seq, from_status, to_status from case_history where case_type = 'complaint'
        order by case_id, seq`,
    );
    const goodwill = await q<BalanceRow>(
      `select customer_id, amount, kind, reference from customer_balance_ledger where kind = 'goodwill' order by id`,
    );

    const intended = new Set(records.keys());
    const byId = new Map(orders.map((o) => [o.id, o]));
    const statusOf = new Map(orders.map((o) => [o.id, o.status]));
    const ours = orders.filter((o) => intended.has(o.id));
    const completed = ours.filter((o) => o.status === 'COMPLETED');
    const cancelled = ours.filter((o) => o.status === 'CANCELLED');
    const terminal = new Set([...completed, ...cancelled].map((o) => o.id));
    const checks: Check[] = [];
    const returnById = new Map(returns.map((r) => [r.id, r]));
    const ownerOfShipment = new Map(returnShipments.map((s) => [s.id, { returnId: s.case_id, purpose: s.purpose }]));
    /** Units of a return's replacement: the passed lines of a return that ended replaced, under the return's id. */
    const replaced = [...records.values()].flatMap((r) => {
      const planned = r.plan.return;
      if (!planned || returnById.get(planned.returnId)?.outcome !== 'replaced') return [];
      return [...verdictOf(planned, true)].map(([sku, quantity]) => ({ order_id: planned.returnId, sku, quantity }));
    });
    const describeOwner = (id: string) =>
      statusOf.get(id) ?? (returnById.has(id) ? `return ${returnById.get(id)!.status}` : 'unknown');

    const missing = [...intended].filter((id) => !byId.has(id));
    const foreign = orders.filter((o) => !intended.has(o.id)).map((o) => o.id);
    checks.push(
      check(
        'every intended order exists once, no other order exists',
        [...missing.map((id) => `${id}(missing)`), ...foreign.map((id) => `${id}(unexpected)`)],
        `${intended.size} intended, ${ours.length} found, ${missing.length} missing, ${foreign.length} unexpected`,
      ),
    );

    const refused = [...records.values()].filter((r) => r.placement?.status !== 200 && r.placement?.status !== 201);
    checks.push(
      check(
        'every placement was answered 200/201',
        refused.map((r) => `${r.plan.orderId}(${r.placement?.status ?? 'none'} ${r.placement?.body.detail ?? ''})`),
        `${records.size - refused.length} of ${records.size}`,
      ),
    );

    const open = ours.filter((o) => !terminal.has(o.id));
    checks.push(
      check(
        'all orders terminal (COMPLETED or CANCELLED)',
        open.map((o) => `${o.id}(${o.status})`),
        `${completed.length} completed, ${cancelled.length} cancelled, ` +
          `${ours.filter((o) => o.status === 'FAILED').length} failed, ` +
          `${open.filter((o) => o.status !== 'FAILED').length} still open`,
      ),
    );

    const disagree = [...records.values()].filter(
      (r) => r.lastStatus && r.lastStatus !== 'MISSING' && statusOf.get(r.plan.orderId) !== r.lastStatus,
    );
    checks.push(
      check(
        'PostgreSQL status = workflow status',
        disagree.map((r) => `${r.plan.orderId}(db ${statusOf.get(r.plan.orderId) ?? '-'}, workflow ${r.lastStatus})`),
        `${disagree.length} disagree`,
      ),
    );

    const unexpected = [...records.values()].flatMap((record) => {
      const status = statusOf.get(record.plan.orderId);
      if (!status || !terminal.has(record.plan.orderId)) return [];
      const expectation = expectedOutcome(record, outages, paymentWindowMs);
      return expectation.accept.includes(status)
        ? []
        : [`${record.plan.orderId}(${status}, expected ${expectation.accept.join('|')}: ${expectation.why})`];
    });
    checks.push(
      check('outcome matches what the driver did', unexpected, `${unexpected.length} of ${terminal.size} terminal`),
    );

    const paymentsOf = new Map<string, typeof payments>();
    for (const p of payments) paymentsOf.set(p.order_id, [...(paymentsOf.get(p.order_id) ?? []), p]);
    const netOf = (id: string) =>
      (paymentsOf.get(id) ?? []).reduce((sum, p) => sum + Number(p.captured) - Number(p.refunded), 0);
    const capturedOf = (id: string) => (paymentsOf.get(id) ?? []).reduce((sum, p) => sum + Number(p.captured), 0);
    const refundsOf = new Map<string, typeof refunds>();
    for (const r of refunds) refundsOf.set(r.order_id, [...(refundsOf.get(r.order_id) ?? []), r]);
    // Refunds asked for by the customer or an agent, and those of returned goods, take money the order was owed; the
    // order's own (an excess, a replaced payment) return money it never needed, and its cancel's return all of it.
    const askedRefundedOf = (id: string) =>
      (refundsOf.get(id) ?? [])
        .filter((r) => r.refunded_at && r.origin !== 'order')
        .reduce((sum, r) => sum + r.amount, 0);
    const moneyOff = [...completed, ...cancelled].flatMap((o) => {
      const refunded = o.status === 'COMPLETED' ? askedRefundedOf(o.id) : 0;
      const want = o.status === 'COMPLETED' ? o.total - refunded : 0;
      const net = netOf(o.id);
      const why = refunded ? ` = total ${o.total} - refunds ${refunded}` : '';
      return net === want ? [] : [`${o.id}(${o.status}: captured-refunded ${net}, expected ${want}${why})`];
    });
    checks.push(
      check(
        'provider money: captured - refunded = total - refunds asked for or of returns (completed) / 0 (cancelled)',
        moneyOff,
        `${moneyOff.length} of ${terminal.size} terminal orders off, ` +
          `${completed.filter((o) => askedRefundedOf(o.id) > 0).length} completed orders partly refunded, ` +
          `${cancelled.filter((o) => capturedOf(o.id) > 0).length} cancelled after their money was captured`,
      ),
    );

    const dangling = payments.filter(
      (p) => terminal.has(p.order_id) && (p.status === 'authorized' || p.status === 'pending'),
    );
    checks.push(
      check(
        'no open authorization (authorized/pending) on a terminal order',
        dangling.map((p) => `${p.order_id}(${p.id} ${p.status})`),
        `${dangling.length} open of ${payments.filter((p) => terminal.has(p.order_id)).length} provider payments`,
      ),
    );

    const bookkeeping = [...completed, ...cancelled].flatMap((o) => {
      const net = netOf(o.id);
      return o.captured_amount - o.refunded_amount === net
        ? []
        : [`${o.id}(engine ${o.captured_amount}-${o.refunded_amount}, provider net ${net})`];
    });
    checks.push(
      check(
        "engine's captured/refunded figures match the provider",
        bookkeeping,
        `${bookkeeping.length} of ${terminal.size} differ`,
      ),
    );

    const strayLevels = levels.filter((l) => l.reserved !== 0);
    checks.push(
      check(
        'nothing reserved: no active reservation, stock_levels.reserved = 0',
        [
          ...[...new Set(reservations.map((r) => r.order_id))].map(
            (id) => `${id}(active reservation, ${statusOf.get(id) ?? '?'})`,
          ),
          ...strayLevels.map((l) => `${key(l.warehouse_code, l.sku)}(reserved ${l.reserved})`),
        ],
        `${reservations.length} active reservations, ${strayLevels.length} levels with reserved != 0`,
      ),
    );

    const commits = ledger.filter((e) => e.kind === 'commit');
    const committedPerOrderSku = sumBy(
      commits,
      (e) => `${e.order_id}|${e.sku}`,
      (e) => -e.delta,
    );
    // What left the shelf for customers: the lines of completed orders, and replacements under their return's id.
    const shipped = [...lines.filter((l) => statusOf.get(l.order_id) === 'COMPLETED'), ...replaced];
    const orderedPerOrderSku = sumBy(
      shipped,
      (l) => `${l.order_id}|${l.sku}`,
      (l) => l.quantity,
    );
    const ledgerOrders = new Set<string>();
    for (const k of new Set([...committedPerOrderSku.keys(), ...orderedPerOrderSku.keys()])) {
      const [owner, sku] = k.split('|');
      const units = committedPerOrderSku.get(k) ?? 0;
      const owed = orderedPerOrderSku.get(k) ?? 0;
      if (units !== owed) {
        ledgerOrders.add(`${owner}(${describeOwner(owner)}: ${sku} committed ${units}, owed ${owed})`);
      }
    }
    const committedPerSku = sumBy(
      commits,
      (e) => e.sku,
      (e) => e.delta,
    );
    const soldPerSku = sumBy(
      shipped,
      (l) => l.sku,
      (l) => l.quantity,
    );
    const skuOff = [...new Set([...committedPerSku.keys(), ...soldPerSku.keys()])].filter(
      (sku) => (committedPerSku.get(sku) ?? 0) !== -(soldPerSku.get(sku) ?? 0),
    );
    checks.push(
      check(
        'stock ledger: commits per SKU = -units of completed orders and replacements, none for others',
        [
          ...skuOff.map(
            (sku) => `${sku}(commits ${committedPerSku.get(sku) ?? 0}, completed units ${soldPerSku.get(sku) ?? 0})`,
          ),
          ...ledgerOrders,
        ],
        `${[...soldPerSku.values()].reduce((a, b) => a + b, 0)} units completed or replaced, ` +
          `${-[...committedPerSku.values()].reduce((a, b) => a + b, 0)} committed, ${skuOff.length} SKUs off`,
      ),
    );

    // Goods are gone from the shelf once the carrier has them, whatever the engine heard of it. A return parcel brings
    // goods from the customer (restocked once inspected, checked below) and a send-back parcel takes failed goods that
    // never went back on the shelf; a replacement leaves it under its return's id.
    const collected = parcels
      .filter((p) => p.status !== 'BOOKED' && p.status !== 'CANCELLED' && p.direction === 'outbound')
      .flatMap((p) => {
        const owner = ownerOfShipment.get(p.shipment_id);
        if (owner?.purpose === 'send_back') return [];
        const id = owner?.returnId ?? p.order_id;
        return p.lines.map((line) => ({ ...line, order_id: id, warehouse: p.from_warehouse }));
      });
    const pickedUp = sumBy(
      collected,
      (l) => `${l.order_id}|${key(l.warehouse, l.sku)}`,
      (l) => l.quantity,
    );
    const committed = sumBy(
      commits,
      (e) => `${e.order_id}|${key(e.warehouse_code, e.sku)}`,
      (e) => -e.delta,
    );
    const shelfOff = [...new Set([...pickedUp.keys(), ...committed.keys()])]
      .filter((k) => (pickedUp.get(k) ?? 0) !== (committed.get(k) ?? 0))
      .map((k) => {
        const [orderId, where] = k.split('|');
        const units = `picked up ${pickedUp.get(k) ?? 0}, committed ${committed.get(k) ?? 0}`;
        return `${orderId}(${describeOwner(orderId)}: ${where} ${units})`;
      });
    checks.push(
      check(
        'stock committed = units the carrier actually picked up, per order (or replacement) and warehouse',
        shelfOff,
        `${[...pickedUp.values()].reduce((a, b) => a + b, 0)} units picked up, ` +
          `${[...committed.values()].reduce((a, b) => a + b, 0)} committed`,
      ),
    );

    const deltas = sumBy(
      ledger,
      (e) => key(e.warehouse_code, e.sku),
      (e) => e.delta,
    );
    const reservedDeltas = sumBy(
      ledger,
      (e) => key(e.warehouse_code, e.sku),
      (e) => e.reserved_delta,
    );
    const levelOff = levels.flatMap((l) => {
      const k = key(l.warehouse_code, l.sku);
      const before = snapshot.levels.get(k) ?? { onHand: 0, reserved: 0 };
      const wantOnHand = before.onHand + (deltas.get(k) ?? 0);
      const wantReserved = before.reserved + (reservedDeltas.get(k) ?? 0);
      if (l.on_hand === wantOnHand && l.reserved === wantReserved) return [];
      const onHand = `on_hand ${l.on_hand} vs ${before.onHand}${signed(deltas.get(k) ?? 0)}`;
      return [`${k}(${onHand}, reserved ${l.reserved} vs ledger ${wantReserved})`];
    });
    checks.push(
      check(
        'on_hand now = on_hand at seed + ledger deltas (and reserved = ledger)',
        levelOff,
        `${levels.length} stock levels, ${levelOff.length} off`,
      ),
    );

    const settled = new Map(settlements.map((s) => [s.order_id, s]));
    const withReturns = new Set(returns.map((r) => r.order_id));
    const settlementOff = [
      ...completed.flatMap((o) => {
        const s = settled.get(o.id);
        if (!s) return [`${o.id}(no settlement)`];
        if (s.captured !== capturedOf(o.id))
          return [`${o.id}(settled captured ${s.captured}, provider ${capturedOf(o.id)})`];
        if (s.net !== s.captured - s.refunded) return [`${o.id}(net ${s.net}, captured ${s.captured} - ${s.refunded})`];
        // Settled after its returns, or settled again by a return's refund: checked against every refund below.
        if (withReturns.has(o.id)) return [];
        // A refund asked for once the order shipped may be paid out after the settlement: the settlement counts the
        // refunds done when it was written, and with the later ones adds up to the provider's figures.
        const at = s.settled_at.getTime();
        const done = (refundsOf.get(o.id) ?? []).filter((r) => r.refunded_at && r.refunded_at.getTime() <= at);
        const before = done.filter((r) => r.refunded_at!.getTime() < at - SETTLEMENT_RACE_MS);
        const racing = done.filter((r) => r.refunded_at!.getTime() >= at - SETTLEMENT_RACE_MS).map((r) => r.amount);
        const base = before.reduce((sum, r) => sum + r.amount, 0);
        const possible = racing.reduce((sums, amount) => [...sums, ...sums.map((x) => x + amount)], [base]);
        if (possible.includes(s.refunded)) return [];
        const also = racing.length ? ` (+ any of ${racing.join(', ')} done at the same moment)` : '';
        return [`${o.id}(settled refunded ${s.refunded}, refunds done by then ${base}${also})`];
      }),
      ...ours
        .filter((o) => o.status !== 'COMPLETED' && settled.has(o.id))
        .map((o) => `${o.id}(${o.status} but settled)`),
    ];
    checks.push(
      check(
        'each completed order has one settlement: captured as at the provider, refunded = refunds done by then, ' +
          'net = captured - refunded',
        settlementOff,
        `${completed.filter((o) => settled.has(o.id)).length} of ${completed.length} completed settled`,
      ),
    );

    // The order's own parcels; those of its returns are checked with the returns.
    const parcelsOf = new Map<string, typeof parcels>();
    for (const p of parcels.filter((p) => p.direction === 'outbound' && !ownerOfShipment.has(p.shipment_id))) {
      parcelsOf.set(p.order_id, [...(parcelsOf.get(p.order_id) ?? []), p]);
    }
    const perShipment = sumBy(
      parcels,
      (p) => p.shipment_id,
      () => 1,
    );
    const parcelOff = [
      // A parcel cancelled by a cancel request that another parcel's pickup then refused was booked again, so a
      // completed order's parcels are delivered or cancelled, and the delivered ones carry every unit ordered once.
      ...completed.flatMap((o) => {
        const mine = parcelsOf.get(o.id) ?? [];
        const live = mine.filter((p) => p.status !== 'DELIVERED' && p.status !== 'CANCELLED');
        if (mine.length === 0) return [`${o.id}(COMPLETED without a parcel)`];
        if (live.length) return [`${o.id}(COMPLETED, parcel ${live.map((p) => p.status).join(',')})`];
        const delivered = sumBy(
          mine.filter((p) => p.status === 'DELIVERED').flatMap((p) => p.lines),
          (l) => l.sku,
          (l) => l.quantity,
        );
        const ordered = sumBy(
          lines.filter((l) => l.order_id === o.id),
          (l) => l.sku,
          (l) => l.quantity,
        );
        const skus = new Set([...delivered.keys(), ...ordered.keys()]);
        const short = [...skus].filter((sku) => (delivered.get(sku) ?? 0) !== (ordered.get(sku) ?? 0));
        return short.length
          ? [
              `${o.id}(COMPLETED, delivered ${short.map((sku) => `${sku} ${delivered.get(sku) ?? 0}/${ordered.get(sku) ?? 0}`).join(', ')})`,
            ]
          : [];
      }),
      ...cancelled.flatMap((o) => {
        const live = (parcelsOf.get(o.id) ?? []).filter((p) => p.status !== 'CANCELLED');
        return live.length ? [`${o.id}(CANCELLED, parcel ${live.map((p) => p.status).join(',')})`] : [];
      }),
      ...[...perShipment].filter(([, n]) => n > 1).map(([shipment, n]) => `${shipment}(${n} parcels for one shipment)`),
    ];
    checks.push(
      check(
        "carrier: completed orders' units delivered once (other parcels cancelled), cancelled orders' not live, one parcel per shipment",
        parcelOff,
        `${parcels.length} parcels, ${parcelOff.length} off`,
      ),
    );

    checks.push(
      ...refundChecks(
        records,
        ours,
        refunds,
        enginePayments,
        payments.map((p) => ({ id: p.id, order_id: p.order_id, refunded: p.refunded })),
        gatewayRefunds,
      ),
    );

    checks.push(
      ...returnChecks({
        records,
        returns,
        returnLines,
        ledger,
        refunds,
        gatewayRefunds,
        lines,
        parcels,
        ownerOfShipment,
        settlements,
        capturedOf,
      }),
    );
    checks.push(await temporalCheck(temporal, records));
    checks.push(...complaintChecks({ records, complaints, complaintEntries, complaintHistory, goodwill }));
    checks.push(await complaintTemporalCheck(temporal, records, complaints));
    checks.push(
      notificationCheck(
        await q<OutboxRow>(
          'select id, dedupe_key, channel, status, provider_message_id, last_error from notification_outbox order by id',
        ),
        {
          email: (await q<{ id: string }>('select message_id as id from sandbox.mailbox')).map((r) => r.id),
          sms: (await q<{ id: string }>('select key as id from sandbox.sms_messages')).map((r) => r.id),
          push: (await q<{ id: string }>('select key as id from sandbox.push_messages')).map((r) => r.id),
          in_app: (await q<{ id: string }>('select dedupe_key as id from customer_messages')).map((r) => r.id),
          staff: (await q<{ id: string }>('select dedupe_key as id from staff_messages')).map((r) => r.id),
        },
      ),
    );

    return {
      checks,
      statusOf,
      refundStatusOf: new Map(refunds.map((r) => [r.id, r.status])),
      returnCases: returns.map((r) => `${r.status}${r.outcome ? ` ${r.outcome}` : ''}`),
      complaintCases: complaintCases(records, complaints),
      refundCases: refunds.map((r) => `${r.origin}→${r.status}`),
      diagnostics: await diagnose(db, ours),
    };
  });
}

interface RefundRow {
  id: string;
  order_id: string;
  payment_id: string | null;
  amount: number;
  status: string;
  reason: string;
  origin: string;
  channel: string;
  approver: string;
  decision: string | null;
  decided_by: string | null;
  claimed: boolean;
  refunded_at: Date | null;
  provider_refund_id: string | null;
}
interface EnginePaymentRow {
  id: string;
  order_id: string;
  refund_claimed: number;
}
interface ProviderPaymentRow {
  id: string;
  order_id: string;
  refunded: string;
}
interface GatewayRefundRow {
  id: string;
  payment_id: string;
  amount: string;
  reason: string;
}

/**
 * Refunds happen exactly once: each one the driver asked for is paid, once, at the gateway; every refund case (the
 * driver's and those cancels started) has ended; the gateway's refunds, the claims on payments and the orders'
 * refunded totals all add up.
 */
function refundChecks(
  records: ReadonlyMap<string, OrderRecord>,
  ours: readonly { id: string; refunded_amount: number }[],
  refunds: readonly RefundRow[],
  enginePayments: readonly EnginePaymentRow[],
  providerPayments: readonly ProviderPaymentRow[],
  gatewayRefunds: readonly GatewayRefundRow[],
): Check[] {
  const checks: Check[] = [];
  const byId = new Map(refunds.map((r) => [r.id, r]));
  const paid = refunds.filter((r) => r.refunded_at);

  const planned = [...records.values()].filter((r) => r.plan.refunds.length > 0);
  const asked = planned.flatMap((r) => r.refunds ?? []);
  const askedOff = planned.flatMap((record) => {
    if (!record.refunds) {
      return record.plan.refunds.map((f) => `${f.refundId}(never requested, order ${record.lastStatus ?? '?'})`);
    }
    return record.refunds.flatMap((f) => {
      const request = f.request;
      if (!answeredOk(request?.status)) {
        return [`${f.refundId}(request answered ${request?.status ?? 'nothing'} ${request?.body.detail ?? ''})`];
      }
      const row = byId.get(f.refundId);
      if (!row) return [`${f.refundId}(accepted, no row)`];
      const wrong: string[] = [];
      if (row.status !== 'REFUNDED') wrong.push(row.status);
      if (!row.refunded_at || !row.provider_refund_id) wrong.push('not paid out');
      if (row.amount !== f.amount) wrong.push(`amount ${row.amount}, asked ${f.amount}`);
      if (request!.body.status === 'PENDING_APPROVAL') {
        const approval = f.approval;
        const answered =
          approval?.status === 200 ||
          (approval?.status === 409 && /can no longer change/.test(approval.body.detail ?? ''));
        if (!answered) wrong.push(`approval answered ${approval?.status ?? 'nothing'} ${approval?.body.detail ?? ''}`);
        if (row.decision !== 'approve' || row.approver !== 'agent') {
          wrong.push(`decision ${row.decision ?? '-'} by ${row.decided_by ?? '-'}, approver ${row.approver}`);
        }
      } else if (row.approver !== 'system' || row.decision) {
        wrong.push(`approver ${row.approver}, decision ${row.decision ?? '-'}: expected the system's`);
      }
      return wrong.length ? [`${f.refundId}(${wrong.join('; ')})`] : [];
    });
  });
  const approved = asked.filter((f) => byId.get(f.refundId)?.decision === 'approve').length;
  checks.push(
    check(
      'every refund the driver asked for was accepted and ended REFUNDED, paid once, approved as policy says',
      askedOff,
      `${asked.length} asked of ${planned.reduce((n, r) => n + r.plan.refunds.length, 0)} planned, ` +
        `${asked.filter((f) => byId.get(f.refundId)?.status === 'REFUNDED').length} refunded, ` +
        `${approved} after an agent's approval`,
    ),
  );

  const gatewayById = new Map(gatewayRefunds.map((g) => [g.id, g]));
  const referenced = sumBy(
    paid.filter((r) => r.provider_refund_id),
    (r) => r.provider_refund_id!,
    () => 1,
  );
  const gatewayOff = [
    ...paid.flatMap((r) => {
      if (r.channel !== 'original')
        return [`${r.id}(paid via ${r.channel}: nothing in the run should refuse a refund)`];
      const g = gatewayById.get(r.provider_refund_id ?? '');
      if (!g) return [`${r.id}(provider refund ${r.provider_refund_id ?? '-'} not at the gateway)`];
      return g.payment_id === r.payment_id && Number(g.amount) === r.amount && g.reason === r.reason
        ? []
        : [`${r.id}(${r.payment_id} ${r.amount} ${r.reason}; gateway ${g.payment_id} ${g.amount} ${g.reason})`];
    }),
    ...[...referenced].filter(([, n]) => n > 1).map(([id, n]) => `${id}(one gateway refund for ${n} refunds)`),
    ...gatewayRefunds
      .filter((g) => !referenced.has(g.id))
      .map((g) => `${g.id}(gateway refund of ${g.amount} on ${g.payment_id}, ${g.reason}: no refund paid with it)`),
  ];
  checks.push(
    check(
      'one gateway refund per paid refund (same payment, amount and reason), none without a paid refund',
      gatewayOff,
      `${paid.length} refunds paid, ${gatewayRefunds.length} gateway refunds, ${gatewayOff.length} off`,
    ),
  );

  const gatewayPerPayment = sumBy(
    gatewayRefunds,
    (g) => g.payment_id,
    (g) => Number(g.amount),
  );
  const paidPerPayment = sumBy(
    paid.filter((r) => r.payment_id),
    (r) => r.payment_id!,
    (r) => r.amount,
  );
  const providerRefunded = new Map(providerPayments.map((p) => [p.id, Number(p.refunded)]));
  const openPayments = new Set(
    refunds.filter((r) => !REFUND_TERMINAL.includes(r.status) && r.payment_id).map((r) => r.payment_id!),
  );
  const touched = enginePayments.filter((p) => p.refund_claimed !== 0 || gatewayPerPayment.has(p.id));
  const claimOff = touched
    .filter((p) => !openPayments.has(p.id))
    .flatMap((p) => {
      const gateway = gatewayPerPayment.get(p.id) ?? 0;
      const mine = paidPerPayment.get(p.id) ?? 0;
      const provider = providerRefunded.get(p.id) ?? 0;
      return gateway === p.refund_claimed && mine === p.refund_claimed && provider === gateway
        ? []
        : [
            `${p.id}(order ${p.order_id}: claimed ${p.refund_claimed}, paid refunds ${mine}, ` +
              `gateway refunds ${gateway}, gateway payment refunded ${provider})`,
          ];
    });
  checks.push(
    check(
      "per payment: gateway refunds = the engine's refund claim = its paid refunds",
      claimOff,
      `${touched.length} payments with refunds, ${touched.filter((p) => openPayments.has(p.id)).length} ` +
        `skipped (a refund still open), ${claimOff.length} off`,
    ),
  );

  const paidPerOrder = sumBy(
    paid,
    (r) => r.order_id,
    (r) => r.amount,
  );
  const orderOff = ours
    .filter((o) => o.refunded_amount !== (paidPerOrder.get(o.id) ?? 0))
    .map((o) => `${o.id}(refunded_amount ${o.refunded_amount}, paid refunds ${paidPerOrder.get(o.id) ?? 0})`);
  checks.push(
    check(
      "orders.refunded_amount = the order's paid refunds",
      orderOff,
      `${[...paidPerOrder.keys()].length} orders with paid refunds, ${orderOff.length} off`,
    ),
  );

  const stuck = refunds.flatMap((r) => {
    if (!REFUND_TERMINAL.includes(r.status)) return [`${r.id}(${r.status}, ${r.origin})`];
    if (r.status === 'REFUNDED' && !(r.refunded_at && r.provider_refund_id && r.claimed)) {
      return [
        `${r.id}(REFUNDED, but paid ${!!r.refunded_at}, provider id ${r.provider_refund_id ?? '-'}, claim ${r.claimed})`,
      ];
    }
    if (r.status === 'REJECTED' && (r.refunded_at || r.claimed)) {
      return [`${r.id}(REJECTED, but paid ${!!r.refunded_at}, claim ${r.claimed})`];
    }
    return [];
  });
  const cancelRefunds = refunds.filter((r) => r.reason === 'order_cancelled');
  checks.push(
    check(
      'no refund case open: all REFUNDED (paid, claim kept) or REJECTED (nothing paid, claim released)',
      stuck,
      `${refunds.length} refund cases (${cancelRefunds.length} started by cancels), ` +
        `${refunds.filter((r) => r.status === 'REFUNDED').length} refunded, ` +
        `${refunds.filter((r) => r.status === 'REJECTED').length} rejected, ${stuck.length} off`,
    ),
  );
  return checks;
}

interface SettlementRow {
  order_id: string;
  captured: number;
  refunded: number;
  net: number;
  settled_at: Date;
}
interface ParcelRow {
  waybill: string;
  shipment_id: string;
  order_id: string;
  direction: 'outbound' | 'return';
  method: string | null;
  from_warehouse: string;
  to_warehouse: string | null;
  status: string;
  lines: { sku: string; quantity: number }[];
}
interface ReturnRow {
  id: string;
  order_id: string;
  status: string;
  reason: string;
  type: string;
  method: string;
  failed_goods: string;
  approver: string;
  decision: string | null;
  decided_by: string | null;
  decided_role: string | null;
  outcome: string | null;
  received_by: string | null;
  inspection: { lines: { sku: string; quantity: number; passed: boolean }[] } | null;
  refund_id: string | null;
  refund_amount: number | null;
  claimed: boolean;
}
interface ReturnLineRow {
  return_id: string;
  order_id: string;
  sku: string;
  quantity: number;
  released: boolean;
}
interface LedgerRow {
  warehouse_code: string;
  sku: string;
  delta: number;
  reserved_delta: number;
  kind: string;
  order_id: string | null;
}

/** Units per SKU the planned inspection passes (or fails). */
function verdictOf(planned: PlannedReturn, passed: boolean): Map<string, number> {
  return sumBy(
    planned.inspection.filter((l) => l.passed === passed),
    (l) => l.sku,
    (l) => l.quantity,
  );
}

/** How a return ends when its inspection went as planned: what passed is refunded or replaced. */
function expectedReturnOutcome(planned: PlannedReturn): string {
  if (verdictOf(planned, true).size === 0) return 'inspection_failed';
  return planned.type === 'exchange' ? 'replaced' : 'refunded';
}

/** `sku×n, …` in SKU order, so two lists of lines compare as strings. */
function linesText(units: ReadonlyMap<string, number>): string {
  return (
    [...units]
      .filter(([, n]) => n !== 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([sku, n]) => `${sku}×${n}`)
      .join(', ') || 'nothing'
  );
}

const unitsOf = (lines: readonly { sku: string; quantity: number }[]) =>
  sumBy(
    lines,
    (l) => l.sku,
    (l) => l.quantity,
  );

/**
 * Returns happen exactly once, end to end: each planned return was accepted and closed with the outcome its inspection
 * calls for; its goods went back on the shelf once, in the warehouse the parcel went to; its refund was paid once, for
 * the passed units at the price paid; its claim on the order's lines stands; the order's settlement counts it; its
 * parcels are where they should be.
 */
function returnChecks(data: {
  records: ReadonlyMap<string, OrderRecord>;
  returns: readonly ReturnRow[];
  returnLines: readonly ReturnLineRow[];
  ledger: readonly LedgerRow[];
  refunds: readonly RefundRow[];
  gatewayRefunds: readonly GatewayRefundRow[];
  lines: readonly { order_id: string; sku: string; quantity: number; unit_price: number }[];
  parcels: readonly ParcelRow[];
  ownerOfShipment: ReadonlyMap<string, { returnId: string; purpose: string | null }>;
  settlements: readonly SettlementRow[];
  capturedOf: (orderId: string) => number;
}): Check[] {
  const { records, returns, returnLines, ledger, refunds, gatewayRefunds, lines, parcels, ownerOfShipment } = data;
  const checks: Check[] = [];
  const byId = new Map(returns.map((r) => [r.id, r]));
  const plannedOrders = [...records.values()].filter((r) => r.plan.return);
  const planned = new Map(plannedOrders.map((r) => [r.plan.return!.returnId, r.plan.return!]));
  /** Planned returns that closed: the ones whose goods, money and parcels are checked. */
  const closed = [...planned.values()].filter((p) => byId.get(p.returnId)?.status === 'CLOSED');

  const accepted = plannedOrders.filter((r) => answeredOk(r.return?.request?.status));
  const returnOff = [
    ...plannedOrders.flatMap((record) => {
      const plan = record.plan.return!;
      const taken = record.return;
      if (!taken?.request) {
        const last = taken?.refusals.at(-1);
        const why = last ? `refused ${taken!.refusals.length} times: ${last.body.detail ?? ''}` : 'never requested';
        return [`${plan.returnId}(${why}${taken?.done ? `, ${taken.done}` : ''}, order ${record.lastStatus ?? '?'})`];
      }
      if (!answeredOk(taken.request.status)) {
        const refusals = taken.refusals.length ? `, after ${taken.refusals.length} refusals` : '';
        return [
          `${plan.returnId}(request answered ${taken.request.status} ${taken.request.body.detail ?? ''}${refusals})`,
        ];
      }
      const row = byId.get(plan.returnId);
      if (!row) return [`${plan.returnId}(accepted, no row)`];
      const wrong: string[] = [];
      if (row.status !== 'CLOSED') wrong.push(`${row.status}, waiting on ${taken.waitingOn ?? '?'}`);
      if (row.outcome !== expectedReturnOutcome(plan)) {
        wrong.push(`outcome ${row.outcome ?? '-'}, expected ${expectedReturnOutcome(plan)}`);
      }
      if (row.reason !== plan.reason || row.type !== plan.type || row.method !== plan.method) {
        wrong.push(`recorded as ${row.reason}/${row.type}/${row.method}`);
      }
      if (plan.reason === 'quality') {
        if (row.approver !== 'agent' || row.decision !== 'approve' || row.decided_role !== 'agent') {
          wrong.push(`approver ${row.approver}, decision ${row.decision ?? '-'} by ${row.decided_by ?? '-'}`);
        }
      } else if (row.approver !== 'system' || row.decision) {
        wrong.push(`approver ${row.approver}, decision ${row.decision ?? '-'}: expected the system's`);
      }
      if (row.status === 'CLOSED') {
        const judged = row.inspection?.lines ?? [];
        const passed = linesText(unitsOf(judged.filter((l) => l.passed)));
        if (!row.received_by || passed !== linesText(verdictOf(plan, true))) {
          wrong.push(`received by ${row.received_by ?? '-'}, passed ${passed}`);
        }
      }
      return wrong.length ? [`${plan.returnId}(${wrong.join('; ')})`] : [];
    }),
    ...returns.filter((r) => !planned.has(r.id)).map((r) => `${r.id}(unexpected return of ${r.order_id}, ${r.status})`),
  ];
  const outcomes = [
    ...sumBy(
      closed,
      (p) => byId.get(p.returnId)!.outcome ?? '-',
      () => 1,
    ),
  ]
    .map(([outcome, n]) => `${outcome} ${n}`)
    .join(', ');
  checks.push(
    check(
      'every planned return was accepted and CLOSED with the outcome its inspection calls for, approved as policy ' +
        'says; no other return, none open',
      returnOff,
      `${planned.size} planned, ${accepted.length} accepted, ${closed.length} closed (${outcomes || '-'}), ` +
        `${returns.filter((r) => r.decision === 'approve').length} approved by an agent, ` +
        `${returns.filter((r) => !RETURN_TERMINAL.includes(r.status)).length} open`,
    ),
  );

  // Where each return's parcel went: the warehouse its goods must be restocked in.
  const parcelsOfReturn = new Map<string, ParcelRow[]>();
  const strayParcels: string[] = [];
  for (const p of parcels) {
    const owner = ownerOfShipment.get(p.shipment_id);
    if (!owner) {
      if (p.direction === 'return') strayParcels.push(`${p.waybill}(return parcel of ${p.order_id}, no return case)`);
      continue;
    }
    parcelsOfReturn.set(owner.returnId, [...(parcelsOfReturn.get(owner.returnId) ?? []), p]);
  }
  const purposeOf = (p: ParcelRow) =>
    p.direction === 'return' ? 'return' : ownerOfShipment.get(p.shipment_id)?.purpose;

  const restocks = ledger.filter((e) => e.kind === 'return');
  const restocksOf = new Map<string, LedgerRow[]>();
  for (const e of restocks) restocksOf.set(e.order_id ?? '-', [...(restocksOf.get(e.order_id ?? '-') ?? []), e]);
  const restockOff = [
    ...closed.flatMap((plan) => {
      const rows = restocksOf.get(plan.returnId) ?? [];
      const want = verdictOf(plan, true);
      const got = sumBy(
        rows,
        (e) => e.sku,
        (e) => e.delta,
      );
      const rowsPerSku = sumBy(
        rows,
        (e) => e.sku,
        () => 1,
      );
      const warehouse = (parcelsOfReturn.get(plan.returnId) ?? []).find((p) => p.direction === 'return')?.to_warehouse;
      const wrong: string[] = [];
      if (linesText(got) !== linesText(want)) wrong.push(`restocked ${linesText(got)}, passed ${linesText(want)}`);
      const doubled = [...rowsPerSku].filter(([, n]) => n > 1).map(([sku, n]) => `${sku} ${n} times`);
      if (doubled.length) wrong.push(`restocked ${doubled.join(', ')}`);
      const elsewhere = rows.filter((e) => e.warehouse_code !== warehouse || e.reserved_delta !== 0);
      if (elsewhere.length) {
        wrong.push(
          `restocked in ${elsewhere.map((e) => e.warehouse_code).join(',')}, parcel went to ${warehouse ?? '-'}`,
        );
      }
      return wrong.length ? [`${plan.returnId}(${wrong.join('; ')})`] : [];
    }),
    ...[...restocksOf]
      .filter(([id]) => !closed.some((p) => p.returnId === id))
      .map(([id, rows]) => `${id}(${byId.get(id)?.status ?? 'no return'}: ${rows.length} restock rows)`),
  ];
  checks.push(
    check(
      'restock once: stock_ledger kind return per closed return = its passed units, in the warehouse its parcel ' +
        'went to; none for others',
      restockOff,
      `${restocks.reduce((n, e) => n + e.delta, 0)} units restocked by ${restocksOf.size} returns, ` +
        `${restockOff.length} off`,
    ),
  );

  const unitPrice = new Map(lines.map((l) => [`${l.order_id}|${l.sku}`, l.unit_price]));
  const returnRefunds = refunds.filter((r) => r.origin === 'return');
  const refundsOfOrder = new Map<string, RefundRow[]>();
  for (const r of returnRefunds) refundsOfOrder.set(r.order_id, [...(refundsOfOrder.get(r.order_id) ?? []), r]);
  const gatewayById = new Map(gatewayRefunds.map((g) => [g.id, g]));
  const referenced = new Set(returns.flatMap((r) => (r.refund_id ? [r.refund_id] : [])));
  const refundOff = [
    ...closed.flatMap((plan) => {
      const row = byId.get(plan.returnId)!;
      const mine = refundsOfOrder.get(row.order_id) ?? [];
      if (row.outcome !== 'refunded') {
        return mine.length ? [`${plan.returnId}(${row.outcome}, yet refunds ${mine.map((r) => r.id).join(', ')})`] : [];
      }
      const owed = [...verdictOf(plan, true)].reduce(
        (sum, [sku, n]) => sum + (unitPrice.get(`${row.order_id}|${sku}`) ?? NaN) * n,
        0,
      );
      if (mine.length !== 1) return [`${plan.returnId}(${mine.length} refund cases, owed ${owed})`];
      const [refund] = mine;
      const wrong: string[] = [];
      if (refund.id !== row.refund_id) wrong.push(`refund ${refund.id}, the return names ${row.refund_id ?? '-'}`);
      if (refund.amount !== owed || row.refund_amount !== owed) {
        wrong.push(`amount ${refund.amount} (return says ${row.refund_amount ?? '-'}), owed ${owed}`);
      }
      if (refund.status !== 'REFUNDED' || !refund.refunded_at) wrong.push(`${refund.status}, not paid out`);
      if (refund.reason !== 'return_received' || refund.approver !== 'system') {
        wrong.push(`reason ${refund.reason}, approver ${refund.approver}`);
      }
      const g = gatewayById.get(refund.provider_refund_id ?? '');
      if (!g || Number(g.amount) !== owed || g.payment_id !== refund.payment_id) {
        wrong.push(
          `gateway refund ${refund.provider_refund_id ?? '-'}: ${g ? `${g.amount} on ${g.payment_id}` : 'none'}`,
        );
      }
      return wrong.length ? [`${plan.returnId}(${wrong.join('; ')})`] : [];
    }),
    ...returnRefunds
      .filter((r) => !referenced.has(r.id))
      .map((r) => `${r.id}(return refund of ${r.order_id} no return names)`),
  ];
  checks.push(
    check(
      'one refund case per refunded return: unit price paid × passed units, REFUNDED by the system, one gateway ' +
        'refund; none for other returns',
      refundOff,
      `${returnRefunds.length} return refunds, ` +
        `${returnRefunds.filter((r) => r.status === 'REFUNDED').reduce((n, r) => n + r.amount, 0)} refunded, ` +
        `${refundOff.length} off`,
    ),
  );

  const claimsOf = new Map<string, ReturnLineRow[]>();
  for (const l of returnLines) claimsOf.set(l.return_id, [...(claimsOf.get(l.return_id) ?? []), l]);
  const ordered = sumBy(
    lines,
    (l) => `${l.order_id}|${l.sku}`,
    (l) => l.quantity,
  );
  const held = sumBy(
    returnLines.filter((l) => !l.released),
    (l) => `${l.order_id}|${l.sku}`,
    (l) => l.quantity,
  );
  const claimOff = [
    ...returns.flatMap((row) => {
      const claims = claimsOf.get(row.id) ?? [];
      const asked = planned.get(row.id)?.lines ?? [];
      if (row.status === 'CLOSED') {
        const kept = claims.filter((l) => !l.released);
        const text = linesText(unitsOf(kept));
        return text === linesText(unitsOf(asked)) && kept.length === claims.length && row.claimed
          ? []
          : [`${row.id}(CLOSED: claims held ${text} of ${linesText(unitsOf(claims))}, claimed ${row.claimed})`];
      }
      if (row.status === 'REJECTED' || row.status === 'EXPIRED') {
        const kept = claims.filter((l) => !l.released);
        return kept.length || row.claimed
          ? [`${row.id}(${row.status}: claims held ${linesText(unitsOf(kept))}, claimed ${row.claimed})`]
          : [];
      }
      return [];
    }),
    ...[...claimsOf.keys()].filter((id) => !byId.has(id)).map((id) => `${id}(claims without a return)`),
    ...[...held]
      .filter(([k, n]) => n > (ordered.get(k) ?? 0))
      .map(([k, n]) => `${k}(${n} claimed, ${ordered.get(k) ?? 0} ordered)`),
  ];
  checks.push(
    check(
      'return claims: held as requested by closed returns, released by rejected or expired ones, never more than ' +
        'ordered',
      claimOff,
      `${returnLines.length} claimed lines, ${returnLines.filter((l) => l.released).length} released, ` +
        `${claimOff.length} off`,
    ),
  );

  const settled = new Map(data.settlements.map((s) => [s.order_id, s]));
  const paidOf = sumBy(
    refunds.filter((r) => r.refunded_at),
    (r) => r.order_id,
    (r) => r.amount,
  );
  const returnedOrders = [...new Set(returns.map((r) => r.order_id))];
  const settlementOff = returnedOrders.flatMap((orderId) => {
    const s = settled.get(orderId);
    const status = records.get(orderId)?.lastStatus;
    if (!s) return status === 'COMPLETED' ? [`${orderId}(COMPLETED, no settlement)`] : [];
    const refunded = paidOf.get(orderId) ?? 0;
    const captured = data.capturedOf(orderId);
    return s.captured === captured && s.refunded === refunded && s.net === captured - refunded
      ? []
      : [
          `${orderId}(settled ${s.captured} - ${s.refunded} = ${s.net}; provider captured ${captured}, ` +
            `refunds paid ${refunded})`,
        ];
  });
  checks.push(
    check(
      "each order with returns: its settlement counts every refund paid, its returns' too; net = captured - refunded",
      settlementOff,
      `${returnedOrders.length} orders with returns, ` +
        `${returnedOrders.filter((id) => settled.has(id)).length} settled, ` +
        `${settlementOff.length} off`,
    ),
  );

  const parcelOff = [
    ...strayParcels,
    ...closed.flatMap((plan) => {
      const row = byId.get(plan.returnId)!;
      const mine = parcelsOfReturn.get(plan.returnId) ?? [];
      const ofPurpose = (purpose: string) => mine.filter((p) => purposeOf(p) === purpose);
      const wrong: string[] = [];
      const back = ofPurpose('return');
      if (back.length !== 1 || back[0].status !== 'DELIVERED' || back[0].method !== plan.method) {
        wrong.push(`return parcels ${back.map((p) => `${p.method} ${p.status}`).join(', ') || 'none'}`);
      } else if (linesText(unitsOf(back[0].lines)) !== linesText(unitsOf(plan.lines))) {
        wrong.push(`return parcel holds ${linesText(unitsOf(back[0].lines))}`);
      }
      const replacements = ofPurpose('replacement');
      const wantReplaced = row.outcome === 'replaced' ? linesText(verdictOf(plan, true)) : 'nothing';
      const gotReplaced = linesText(unitsOf(replacements.flatMap((p) => p.lines)));
      if (gotReplaced !== wantReplaced || replacements.some((p) => p.status !== 'DELIVERED')) {
        wrong.push(
          `replacements ${gotReplaced} (${replacements.map((p) => p.status).join(',')}), owed ${wantReplaced}`,
        );
      }
      const sentBack = ofPurpose('send_back').filter((p) => p.status !== 'CANCELLED');
      const wantBack = plan.failedGoods === 'send_back' ? linesText(verdictOf(plan, false)) : 'nothing';
      const gotBack = linesText(unitsOf(sentBack.flatMap((p) => p.lines)));
      if (gotBack !== wantBack || sentBack.length > 1)
        wrong.push(`sent back ${gotBack}, failed goods to send ${wantBack}`);
      return wrong.length ? [`${plan.returnId}(${wrong.join('; ')})`] : [];
    }),
    ...returns
      .filter((r) => r.status === 'REJECTED' || r.status === 'EXPIRED')
      .flatMap((r) => {
        const live = (parcelsOfReturn.get(r.id) ?? []).filter((p) => p.status !== 'CANCELLED');
        return live.length ? [`${r.id}(${r.status}, parcel ${live.map((p) => p.status).join(',')})`] : [];
      }),
  ];
  const returnParcels = parcels.filter((p) => p.direction === 'return');
  checks.push(
    check(
      'carrier: one return parcel per closed return, delivered, as asked; replacements delivered; failed goods sent ' +
        'back only when the customer chose so',
      parcelOff,
      `${returnParcels.length} return parcels (${returnParcels.filter((p) => p.method === 'label').length} labels), ` +
        `${[...parcelsOfReturn.values()].flat().filter((p) => purposeOf(p) === 'replacement').length} replacements, ` +
        `${[...parcelsOfReturn.values()].flat().filter((p) => purposeOf(p) === 'send_back').length} sent back, ` +
        `${parcelOff.length} off`,
    ),
  );
  return checks;
}

/**
 * Temporal's own word: every return the API accepted ran to completion as `return-<id>`, and no order, refund or
 * return workflow is still running. Visibility lags a little behind the workflows, so it is asked again for a while.
 */
async function temporalCheck(target: TemporalTarget, records: ReadonlyMap<string, OrderRecord>): Promise<Check> {
  const accepted = [...records.values()].flatMap((r) =>
    r.return && answeredOk(r.return.request?.status) ? [returnWorkflowId(r.return.returnId)] : [],
  );
  const connection = await Connection.connect({ address: target.address });
  try {
    const client = new TemporalClient({ connection, namespace: target.namespace });
    const since = Date.now();
    for (;;) {
      const statuses = new Map<string, string[]>();
      const running = new Map<string, string>();
      for await (const wf of client.workflow.list({
        query: `ExecutionStatus = 'Running' OR WorkflowType = 'returnWorkflow'`,
      })) {
        statuses.set(wf.workflowId, [...(statuses.get(wf.workflowId) ?? []), wf.status.name]);
        // A closed complaint's workflow waits out its reopen window: it is checked with the complaints.
        if (wf.status.name === 'RUNNING' && wf.type !== COMPLAINT_WORKFLOW) running.set(wf.workflowId, wf.type);
      }
      const offenders = [
        ...[...running].map(([id, type]) => `${id}(${type} running)`),
        ...accepted
          .filter((id) => !running.has(id) && !statuses.get(id)?.includes('COMPLETED'))
          .map((id) => `${id}(${statuses.get(id)?.join(',') ?? 'not listed'})`),
      ];
      if (offenders.length === 0 || Date.now() - since > VISIBILITY_PATIENCE_MS) {
        return check(
          'Temporal: every accepted return workflow completed; no order, refund or return workflow running',
          offenders,
          `${accepted.length} return workflows expected, ` +
            `${accepted.filter((id) => statuses.get(id)?.includes('COMPLETED')).length} completed, ` +
            `${running.size} workflows running`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } finally {
    await connection.close();
  }
}

const COMPLAINT_WORKFLOW = 'complaintWorkflow';

interface ComplaintRow {
  id: string;
  order_id: string | null;
  customer_id: string;
  channel: string;
  category: string;
  priority: string;
  status: string;
  outcome: string | null;
  rating: number | null;
  remedy: string | null;
  resolution: { number?: number; remedy?: { kind?: string; amount?: number }; creditReference?: string } | null;
  timeline_count: number;
  assignee: string | null;
}
interface ComplaintEntryRow {
  complaint_id: string;
  seq: number;
  kind: string;
  actor: string;
  text: string | null;
}
interface CaseHistoryRow {
  case_id: string;
  seq: number;
  from_status: string | null;
  to_status: string;
}
interface BalanceRow {
  customer_id: string;
  amount: number;
  kind: string;
  reference: string;
}

/** The statuses a complaint taken through as planned passes, each once. */
const COMPLAINT_PATH = ['OPEN', 'IN_PROGRESS', 'RESOLVED', 'CLOSED'];
/** Timeline entries a complaint taken through as planned has exactly one of; notes as planned; `assigned` 1 or more. */
const ONCE_ENTRIES = ['opened', 'response', 'resolved', 'rated', 'closed'];
const goodwillReference = (complaintId: string, resolution = 1) => `complaint:${complaintId}:goodwill:${resolution}`;

function plannedComplaints(
  records: ReadonlyMap<string, OrderRecord>,
): { record: OrderRecord; plan: PlannedComplaint }[] {
  return [...records.values()].flatMap((record) =>
    record.plan.complaint ? [{ record, plan: record.plan.complaint }] : [],
  );
}

function complaintCases(records: ReadonlyMap<string, OrderRecord>, complaints: readonly ComplaintRow[]): string[] {
  const byId = new Map(complaints.map((c) => [c.id, c]));
  const planned = plannedComplaints(records);
  const ids = new Set(planned.map((p) => p.plan.complaintId));
  return [
    ...planned.map(({ plan }) => {
      const row = byId.get(plan.complaintId);
      return row ? `${row.remedy ?? 'unresolved'}→${row.status}` : `${plan.remedy.kind}→MISSING`;
    }),
    ...complaints.filter((c) => !ids.has(c.id)).map((c) => `unplanned ${c.remedy ?? 'unresolved'}→${c.status}`),
  ];
}

/** `a 2, b 1` in the order first seen. */
function countsText(values: readonly string[]): string {
  const counts = sumBy(
    values,
    (v) => v,
    () => 1,
  );
  return [...counts].map(([v, n]) => `${v} ${n}`).join(', ') || 'none';
}

/**
 * Complaints happen exactly once, end to end: each planned complaint was filed once and CLOSED, rated as planned; its
 * timeline holds every entry once, in an unbroken sequence (a note repeated after a kill is stored once); its status
 * history is unbroken; its goodwill was credited once, for the planned amount, and an explanation credited nothing.
 */
function complaintChecks(data: {
  records: ReadonlyMap<string, OrderRecord>;
  complaints: readonly ComplaintRow[];
  complaintEntries: readonly ComplaintEntryRow[];
  complaintHistory: readonly CaseHistoryRow[];
  goodwill: readonly BalanceRow[];
}): Check[] {
  const { records, complaints, complaintEntries, complaintHistory, goodwill } = data;
  const checks: Check[] = [];
  const byId = new Map(complaints.map((c) => [c.id, c]));
  const planned = plannedComplaints(records);
  const plannedIds = new Set(planned.map((p) => p.plan.complaintId));
  const filed = planned.filter(({ record }) => answeredOk(record.complaint?.open?.status));

  const complaintOff = [
    ...planned.flatMap(({ record, plan }) => {
      const taken = record.complaint;
      const row = byId.get(plan.complaintId);
      if (!row) {
        const why = taken ? (taken.done ?? 'not done') : `never filed, order ${record.lastStatus ?? '?'}`;
        return [`${plan.complaintId}(no row: ${why})`];
      }
      const wrong: string[] = [];
      if (row.status !== 'CLOSED') wrong.push(`${row.status}, driver: ${taken?.done ?? 'not done'}`);
      if (row.outcome !== 'rated') wrong.push(`outcome ${row.outcome ?? '-'}`);
      if (row.rating !== plan.rating) wrong.push(`rating ${row.rating ?? '-'}, planned ${plan.rating}`);
      if (row.remedy !== plan.remedy.kind) wrong.push(`remedy ${row.remedy ?? '-'}, planned ${plan.remedy.kind}`);
      if (row.resolution?.number !== 1) wrong.push(`resolution number ${row.resolution?.number ?? '-'}`);
      const asked = [record.plan.orderId, record.plan.customerId, plan.channel, plan.category, plan.priority];
      const stored = [row.order_id, row.customer_id, row.channel, row.category, row.priority];
      if (asked.join() !== stored.join()) wrong.push(`recorded as ${stored.join('/')}, filed as ${asked.join('/')}`);
      return wrong.length ? [`${plan.complaintId}(${wrong.join('; ')})`] : [];
    }),
    ...complaints
      .filter((c) => !plannedIds.has(c.id))
      .map((c) => `${c.id}(unexpected complaint about ${c.order_id ?? 'no order'}, ${c.status})`),
  ];
  const closed = planned.filter(({ plan }) => byId.get(plan.complaintId)?.status === 'CLOSED');
  checks.push(
    check(
      'every planned complaint was filed once and is CLOSED, rated with the planned score, resolved with the planned ' +
        'remedy; no other complaint',
      complaintOff,
      `${planned.length} planned, ${filed.length} filed, ${closed.length} closed ` +
        `(${countsText(closed.map(({ plan }) => `${plan.remedy.kind} ${byId.get(plan.complaintId)!.outcome ?? '-'}`))}), ` +
        `${complaints.filter((c) => c.status !== 'CLOSED').length} open, ` +
        `${planned.filter(({ record }) => record.complaint?.assign).length} reassigned by the supervisor`,
    ),
  );

  const entriesOf = new Map<string, ComplaintEntryRow[]>();
  for (const e of complaintEntries) entriesOf.set(e.complaint_id, [...(entriesOf.get(e.complaint_id) ?? []), e]);
  const timelineOff = [
    ...complaints.flatMap((row) => {
      const entries = entriesOf.get(row.id) ?? [];
      const plan = planned.find((p) => p.plan.complaintId === row.id)?.plan;
      const wrong: string[] = [];
      const gaps = entries.filter((e, i) => e.seq !== i);
      if (gaps.length) wrong.push(`seq ${entries.map((e) => e.seq).join(',')}`);
      if (row.timeline_count !== entries.length) {
        wrong.push(`timeline_count ${row.timeline_count}, ${entries.length} entries`);
      }
      const kinds = sumBy(
        entries,
        (e) => e.kind,
        () => 1,
      );
      const notes = entries.filter((e) => e.kind === 'note');
      if (plan && notes.length !== plan.notes) wrong.push(`${notes.length} notes, ${plan.notes} planned`);
      const texts = sumBy(
        notes,
        (e) => e.text ?? '-',
        () => 1,
      );
      const repeated = [...texts].filter(([, n]) => n > 1).map(([text, n]) => `"${text}" ${n} times`);
      if (repeated.length) wrong.push(`notes ${repeated.join(', ')}`);
      const notOnce = ONCE_ENTRIES.filter((kind) => kinds.get(kind) !== 1).map((k) => `${k} ${kinds.get(k) ?? 0}`);
      if (notOnce.length) wrong.push(`entries ${notOnce.join(', ')}, each expected once`);
      if (!kinds.get('assigned')) wrong.push('never assigned');
      const other = [...kinds.keys()].filter((k) => k !== 'note' && k !== 'assigned' && !ONCE_ENTRIES.includes(k));
      if (other.length) wrong.push(`unexpected entries ${other.map((k) => `${k} ${kinds.get(k)}`).join(', ')}`);
      return wrong.length ? [`${row.id}(${wrong.join('; ')})`] : [];
    }),
    ...[...entriesOf.keys()].filter((id) => !byId.has(id)).map((id) => `${id}(entries without a complaint)`),
  ];
  checks.push(
    check(
      'complaint timelines: complaint_entries seq 0..n-1 without a gap, timeline_count = its rows, the planned notes ' +
        'each once, one response, one resolution, one rating',
      timelineOff,
      `${complaintEntries.length} entries of ${entriesOf.size} complaints, ` +
        `${complaintEntries.filter((e) => e.kind === 'note').length} notes ` +
        `(${planned.reduce((n, p) => n + p.plan.notes, 0)} planned), ${timelineOff.length} off`,
    ),
  );

  const historyOf = new Map<string, CaseHistoryRow[]>();
  for (const h of complaintHistory) historyOf.set(h.case_id, [...(historyOf.get(h.case_id) ?? []), h]);
  const historyOff = [
    ...complaints.flatMap((row) => {
      const history = historyOf.get(row.id) ?? [];
      const wrong: string[] = [];
      if (history.some((h, i) => h.seq !== i)) wrong.push(`seq ${history.map((h) => h.seq).join(',')}`);
      const broken = history.filter((h, i) => i > 0 && h.from_status !== history[i - 1].to_status);
      if (broken.length) wrong.push(`from ≠ the last to at seq ${broken.map((h) => h.seq).join(',')}`);
      const path = history.map((h) => h.to_status).join('→');
      if (history.at(-1)?.to_status !== 'CLOSED' || history.at(-1)?.to_status !== row.status) {
        wrong.push(`ends ${history.at(-1)?.to_status ?? 'nowhere'}, complaint ${row.status}`);
      }
      if (plannedIds.has(row.id) && path !== COMPLAINT_PATH.join('→')) wrong.push(`went ${path || 'nowhere'}`);
      return wrong.length ? [`${row.id}(${wrong.join('; ')})`] : [];
    }),
    ...[...historyOf.keys()].filter((id) => !byId.has(id)).map((id) => `${id}(history without a complaint)`),
  ];
  checks.push(
    check(
      `complaint status history (case_history): seq 0..n-1, each from = the last to, ${COMPLAINT_PATH.join(' → ')}, ` +
        'ending in CLOSED',
      historyOff,
      `${complaintHistory.length} transitions of ${historyOf.size} complaints, ${historyOff.length} off`,
    ),
  );

  const creditsOf = new Map<string, BalanceRow[]>();
  const strayCredits: string[] = [];
  for (const g of goodwill) {
    const id = /^complaint:(.+):goodwill:\d+$/.exec(g.reference)?.[1];
    if (!id || !plannedIds.has(id)) {
      strayCredits.push(`${g.reference}(goodwill of ${g.amount} to ${g.customer_id}: no planned complaint)`);
      continue;
    }
    creditsOf.set(id, [...(creditsOf.get(id) ?? []), g]);
  }
  const goodwillOff = [
    ...planned.flatMap(({ record, plan }) => {
      const credits = creditsOf.get(plan.complaintId) ?? [];
      const shown = credits.map((g) => `${g.amount} as ${g.reference}`).join(', ');
      if (plan.remedy.kind !== 'goodwill_credit') {
        return credits.length ? [`${plan.complaintId}(explanation, yet credited ${shown})`] : [];
      }
      // Not resolved (checked above): nothing is owed yet.
      if (!byId.get(plan.complaintId)?.remedy)
        return credits.length ? [`${plan.complaintId}(unresolved, yet credited ${shown})`] : [];
      const reference = goodwillReference(plan.complaintId);
      const [credit] = credits;
      const row = byId.get(plan.complaintId)!;
      const wrong: string[] = [];
      if (credits.length !== 1) wrong.push(`${credits.length} credits: ${shown || 'none'}`);
      else if (
        credit.amount !== plan.remedy.amount ||
        credit.reference !== reference ||
        credit.customer_id !== record.plan.customerId
      ) {
        wrong.push(`credited ${credit.amount} to ${credit.customer_id} as ${credit.reference}`);
      }
      if (row.resolution?.creditReference !== reference || row.resolution?.remedy?.amount !== plan.remedy.amount) {
        wrong.push(
          `resolution names ${row.resolution?.creditReference ?? '-'} for ${row.resolution?.remedy?.amount ?? '-'}`,
        );
      }
      return wrong.length
        ? [`${plan.complaintId}(planned ${plan.remedy.amount} to ${record.plan.customerId}: ${wrong.join('; ')})`]
        : [];
    }),
    ...strayCredits,
  ];
  const goodwillPlanned = planned.filter(({ plan }) => plan.remedy.kind === 'goodwill_credit');
  checks.push(
    check(
      'goodwill once: one customer_balance_ledger goodwill row per goodwill complaint, for the planned amount, ' +
        'referenced complaint:<id>:goodwill:1; none for explanations',
      goodwillOff,
      `${goodwillPlanned.length} goodwill complaints planned, ${goodwill.length} goodwill credits ` +
        `(${goodwill.reduce((n, g) => n + g.amount, 0)} in all), ${goodwillOff.length} off`,
    ),
  );
  return checks;
}

/**
 * Temporal's own word on complaints: each one filed runs on as `complaint-<id>` (a closed complaint waits out its
 * reopen window), its live state agreeing with PostgreSQL; no complaint workflow failed, was terminated, timed out or
 * was cancelled, and none exists for a complaint the driver did not file.
 */
async function complaintTemporalCheck(
  target: TemporalTarget,
  records: ReadonlyMap<string, OrderRecord>,
  complaints: readonly ComplaintRow[],
): Promise<Check> {
  const byId = new Map(complaints.map((c) => [c.id, c]));
  const planned = plannedComplaints(records);
  const ids = new Set(planned.map(({ plan }) => complaintWorkflowId(plan.complaintId)));
  const filed = planned.filter(({ record }) => answeredOk(record.complaint?.open?.status));
  const connection = await Connection.connect({ address: target.address });
  try {
    const client = new TemporalClient({ connection, namespace: target.namespace });
    const runs = new Map<string, string[]>();
    for await (const wf of client.workflow.list({ query: `WorkflowType = '${COMPLAINT_WORKFLOW}'` })) {
      runs.set(wf.workflowId, [...(runs.get(wf.workflowId) ?? []), wf.status.name]);
    }
    const badEnds = new Set(['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED']);
    const offenders = [
      ...[...runs]
        .filter(([id, statuses]) => !ids.has(id) || statuses.some((s) => badEnds.has(s)))
        .map(([id, statuses]) => `${id}(${ids.has(id) ? '' : 'not filed by the driver: '}runs ${statuses.join(',')})`),
    ];
    let running = 0;
    for (const { plan } of filed) {
      const workflowId = complaintWorkflowId(plan.complaintId);
      const handle = client.workflow.getHandle(workflowId);
      try {
        const latest = await handle.describe();
        if (latest.status.name !== 'RUNNING') {
          offenders.push(`${workflowId}(latest run ${latest.status.name})`);
          continue;
        }
        running += 1;
        const view = await handle.query(complaintStateQuery);
        const row = byId.get(plan.complaintId);
        const live = [view.status, view.outcome ?? '-', view.rating?.score ?? '-', view.timelineCount].join('/');
        const stored = [row?.status, row?.outcome ?? '-', row?.rating ?? '-', row?.timeline_count].join('/');
        if (live !== stored) offenders.push(`${workflowId}(workflow ${live}, PostgreSQL ${stored})`);
      } catch (error) {
        offenders.push(`${workflowId}(${(error as Error).message})`);
      }
    }
    return check(
      'Temporal: the workflow of every filed complaint runs on (its reopen window), its status, outcome, rating and ' +
        'timeline count as in PostgreSQL; no complaint workflow failed, terminated, timed out or cancelled',
      offenders,
      `${filed.length} complaints filed, ${running} workflows running, ` +
        `${[...runs.values()].reduce((n, statuses) => n + statuses.length, 0)} runs listed, ${offenders.length} off`,
    );
  } finally {
    await connection.close();
  }
}

function signed(n: number): string {
  return n < 0 ? ` - ${-n}` : ` + ${n}`;
}

/** Not verdicts: what helps read a failed check (lost webhooks, flags the engine raised, why orders ended). */
async function diagnose(
  db: Client,
  ours: readonly { id: string; status: string; cancel_reason: string | null; attention_reason: string | null }[],
): Promise<string[]> {
  const out: string[] = [];
  const count = (values: (string | null)[]) => {
    const counts = sumBy(
      values,
      (v) => v ?? '-',
      () => 1,
    );
    return [...counts].map(([v, n]) => `${v} ${n}`).join(', ') || 'none';
  };
  out.push(`cancel reasons: ${count(ours.filter((o) => o.status === 'CANCELLED').map((o) => o.cancel_reason))}`);
  out.push(`attention flags: ${count(ours.filter((o) => o.attention_reason).map((o) => o.attention_reason))}`);
  const deliveries = await db.query<{ source: string; status: string; n: string }>(
    'select source, status, count(*) as n from sandbox.webhook_deliveries group by 1, 2 order by 1, 2',
  );
  out.push(`webhook deliveries: ${deliveries.rows.map((r) => `${r.source} ${r.status} ${r.n}`).join(', ') || 'none'}`);
  const undelivered = await db.query<{ n: string; orders: string }>(
    `select count(*) as n, count(distinct p.order_id) as orders
       from sandbox.events e join sandbox.parcels p using (waybill) where not e.delivered`,
  );
  out.push(
    `carrier events never acknowledged by the engine: ${undelivered.rows[0].n} (${undelivered.rows[0].orders} orders)`,
  );
  const failed = await db.query<{ order_id: string; reason: string | null }>(
    `select distinct on (case_id) case_id as order_id, reason from case_history
      where case_type = 'order' and to_status = 'FAILED' order by case_id, seq desc`,
  );
  for (const row of failed.rows.slice(0, 5)) out.push(`FAILED ${row.order_id}: ${row.reason ?? '-'}`);
  const refunds = await db.query<{ origin: string; status: string; attention_reason: string | null; n: string }>(
    `select origin, status, attention_reason, count(*) as n from refunds group by 1, 2, 3 order by 1, 2, 3`,
  );
  out.push(
    `refund cases (origin status [flags]): ${
      refunds.rows
        .map((r) => `${r.origin} ${r.status}${r.attention_reason ? ` [${r.attention_reason}]` : ''} ${r.n}`)
        .join(', ') || 'none'
    }`,
  );
  return out;
}

interface OutboxRow {
  id: number;
  dedupe_key: string;
  channel: string;
  status: string;
  provider_message_id: string | null;
  last_error: string | null;
}

/**
 * Every notification settled exactly once across the kills: each outbox row is sent (or parked as failed with a
 * reason), each sent row's message is at its provider once (the mailbox by Message-ID, the other channels by the
 * row's key), and no provider holds a message no sent row accounts for.
 */
function notificationCheck(outbox: OutboxRow[], delivered: Record<string, string[]>): Check {
  const offenders: string[] = [];
  const providerKey = (row: OutboxRow) => (row.channel === 'email' ? (row.provider_message_id ?? '') : row.dedupe_key);
  const sent = outbox.filter((r) => r.status === 'sent');
  for (const row of outbox) {
    if (row.status === 'failed' && !row.last_error) offenders.push(`${row.id}: failed without a reason`);
    if (row.status !== 'sent' && row.status !== 'failed') offenders.push(`${row.id}: still ${row.status}`);
  }
  for (const [channel, ids] of Object.entries(delivered)) {
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    const expected = new Set(sent.filter((r) => r.channel === channel).map(providerKey));
    for (const [id, n] of counts) {
      if (n > 1) offenders.push(`${channel} ${id}: delivered ${n} times`);
      if (!expected.has(id)) offenders.push(`${channel} ${id}: delivered, no sent row for it`);
    }
    for (const id of expected) if (!counts.has(id)) offenders.push(`${channel} ${id}: sent, not at the provider`);
  }
  const failed = outbox.filter((r) => r.status === 'failed');
  const reasons = new Map<string, number>();
  for (const row of failed) {
    const reason = (row.last_error ?? '').replace(/C-\d+/g, 'C-…');
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  return check(
    'notifications: every outbox row sent once or parked with a reason; each sent message at its provider exactly once',
    offenders,
    `${outbox.length} rows, ${sent.length} sent (${[...new Set(sent.map((r) => r.channel))]
      .sort()
      .map((c) => `${c} ${sent.filter((r) => r.channel === c).length}`)
      .join(', ')}), ${failed.length} failed${
      reasons.size ? ` (${[...reasons].map(([reason, n]) => `${reason} ${n}`).join('; ')})` : ''
    }`,
  );
}
