import { Client } from 'pg';
import { expectedOutcome, type OrderRecord, type Outage } from './driver';

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
  diagnostics: string[];
}

const key = (warehouse: string, sku: string) => `${warehouse}/${sku}`;

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
 * parcels) and checks every invariant a crash must not break.
 */
export function reconcile(
  url: string,
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
    const lines = await q<{ order_id: string; sku: string; quantity: number }>(
      'select order_id, sku, quantity from order_lines',
    );
    const reservations = await q<{ order_id: string; warehouse_code: string; sku: string; quantity: number }>(
      `select order_id, warehouse_code, sku, quantity from reservations where status = 'active'`,
    );
    const levels = await q<{ warehouse_code: string; sku: string; on_hand: number; reserved: number }>(
      'select warehouse_code, sku, on_hand, reserved from stock_levels',
    );
    const ledger = await q<{
      warehouse_code: string;
      sku: string;
      delta: number;
      reserved_delta: number;
      kind: string;
      order_id: string | null;
    }>('select warehouse_code, sku, delta, reserved_delta, kind, order_id from stock_ledger where id > $1', [
      snapshot.ledgerMaxId,
    ]);
    const settlements = await q<{ order_id: string; captured: number; refunded: number }>(
      'select order_id, captured, refunded from settlements',
    );
    const payments = await q<{ id: string; order_id: string; status: string; captured: string; refunded: string }>(
      'select id, order_id, status, captured_amount as captured, refunded_amount as refunded from sandbox.payments',
    );
    const parcels = await q<{
      waybill: string;
      shipment_id: string;
      order_id: string;
      from_warehouse: string;
      status: string;
      lines: { sku: string; quantity: number }[];
    }>('select waybill, shipment_id, order_id, from_warehouse, status, lines from sandbox.parcels');

    const intended = new Set(records.keys());
    const byId = new Map(orders.map((o) => [o.id, o]));
    const statusOf = new Map(orders.map((o) => [o.id, o.status]));
    const ours = orders.filter((o) => intended.has(o.id));
    const completed = ours.filter((o) => o.status === 'COMPLETED');
    const cancelled = ours.filter((o) => o.status === 'CANCELLED');
    const terminal = new Set([...completed, ...cancelled].map((o) => o.id));
    const checks: Check[] = [];

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
    const moneyOff = [...completed, ...cancelled].flatMap((o) => {
      const want = o.status === 'COMPLETED' ? o.total : 0;
      const net = netOf(o.id);
      return net === want ? [] : [`${o.id}(${o.status}: captured-refunded ${net}, expected ${want})`];
    });
    checks.push(
      check(
        'provider money: captured - refunded = total (completed) / 0 (cancelled)',
        moneyOff,
        `${moneyOff.length} of ${terminal.size} terminal orders off`,
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
    const orderedPerOrderSku = sumBy(
      lines.filter((l) => statusOf.get(l.order_id) === 'COMPLETED'),
      (l) => `${l.order_id}|${l.sku}`,
      (l) => l.quantity,
    );
    const ledgerOrders = new Set<string>();
    for (const k of new Set([...committedPerOrderSku.keys(), ...orderedPerOrderSku.keys()])) {
      const [orderId, sku] = k.split('|');
      const status = statusOf.get(orderId) ?? 'unknown';
      const units = committedPerOrderSku.get(k) ?? 0;
      if (status === 'COMPLETED' && units !== orderedPerOrderSku.get(k)) {
        ledgerOrders.add(`${orderId}(COMPLETED: ${sku} committed ${units}, ordered ${orderedPerOrderSku.get(k) ?? 0})`);
      }
      if (status !== 'COMPLETED' && units !== 0) ledgerOrders.add(`${orderId}(${status}: ${units} ${sku} committed)`);
    }
    const committedPerSku = sumBy(
      commits,
      (e) => e.sku,
      (e) => e.delta,
    );
    const soldPerSku = sumBy(
      lines.filter((l) => statusOf.get(l.order_id) === 'COMPLETED'),
      (l) => l.sku,
      (l) => l.quantity,
    );
    const skuOff = [...new Set([...committedPerSku.keys(), ...soldPerSku.keys()])].filter(
      (sku) => (committedPerSku.get(sku) ?? 0) !== -(soldPerSku.get(sku) ?? 0),
    );
    checks.push(
      check(
        'stock ledger: commits per SKU = -units of completed orders, none for others',
        [
          ...skuOff.map(
            (sku) => `${sku}(commits ${committedPerSku.get(sku) ?? 0}, completed units ${soldPerSku.get(sku) ?? 0})`,
          ),
          ...ledgerOrders,
        ],
        `${[...soldPerSku.values()].reduce((a, b) => a + b, 0)} units completed, ` +
          `${-[...committedPerSku.values()].reduce((a, b) => a + b, 0)} committed, ${skuOff.length} SKUs off`,
      ),
    );

    // Goods are gone from the shelf once the carrier has them, whatever the engine heard of it.
    const collected = parcels
      .filter((p) => p.status !== 'BOOKED' && p.status !== 'CANCELLED')
      .flatMap((p) => p.lines.map((line) => ({ ...line, order_id: p.order_id, warehouse: p.from_warehouse })));
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
        return `${orderId}(${statusOf.get(orderId) ?? '?'}: ${where} ${units})`;
      });
    checks.push(
      check(
        'stock committed = units the carrier actually picked up, per order and warehouse',
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
    const settlementOff = [
      ...completed.flatMap((o) => {
        const s = settled.get(o.id);
        if (!s) return [`${o.id}(no settlement)`];
        return s.captured - s.refunded === netOf(o.id)
          ? []
          : [`${o.id}(settled net ${s.captured - s.refunded}, provider ${netOf(o.id)})`];
      }),
      ...ours
        .filter((o) => o.status !== 'COMPLETED' && settled.has(o.id))
        .map((o) => `${o.id}(${o.status} but settled)`),
    ];
    checks.push(
      check(
        'each completed order has one settlement matching the provider',
        settlementOff,
        `${completed.filter((o) => settled.has(o.id)).length} of ${completed.length} completed settled`,
      ),
    );

    const parcelsOf = new Map<string, typeof parcels>();
    for (const p of parcels) parcelsOf.set(p.order_id, [...(parcelsOf.get(p.order_id) ?? []), p]);
    const perShipment = sumBy(
      parcels,
      (p) => p.shipment_id,
      () => 1,
    );
    const parcelOff = [
      ...completed.flatMap((o) => {
        const mine = parcelsOf.get(o.id) ?? [];
        const notDelivered = mine.filter((p) => p.status !== 'DELIVERED');
        if (mine.length === 0) return [`${o.id}(COMPLETED without a parcel)`];
        return notDelivered.length ? [`${o.id}(COMPLETED, parcel ${notDelivered.map((p) => p.status).join(',')})`] : [];
      }),
      ...cancelled.flatMap((o) => {
        const live = (parcelsOf.get(o.id) ?? []).filter((p) => p.status !== 'CANCELLED');
        return live.length ? [`${o.id}(CANCELLED, parcel ${live.map((p) => p.status).join(',')})`] : [];
      }),
      ...[...perShipment].filter(([, n]) => n > 1).map(([shipment, n]) => `${shipment}(${n} parcels for one shipment)`),
    ];
    checks.push(
      check(
        'carrier: completed orders delivered, cancelled orders have no live parcel, one parcel per shipment',
        parcelOff,
        `${parcels.length} parcels, ${parcelOff.length} off`,
      ),
    );

    return { checks, statusOf, diagnostics: await diagnose(db, ours) };
  });
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
  return out;
}
