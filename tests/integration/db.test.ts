import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { Client } from 'pg';
import { migrationsList } from '../../db/migrations';
import { ormConfig } from '../../db/mikro-orm.config';
import { openOrm } from '../../db/orm';
import { findFreePort, socketDirectory, startEmbeddedPostgres, type DatabaseHandle } from '../../db/postgres';
import { DEMO_CUSTOMERS, DEMO_SKUS, DEMO_STOCK, seedDemoData } from '../../db/seed';

let dataDir: string;
let db: DatabaseHandle;
let sql: Client;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-engine-db-test-'));
  db = await startEmbeddedPostgres({ dataDir, port: await findFreePort() });
  sql = new Client({ connectionString: db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await db?.stop();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

async function count(table: string): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(`select count(*)::int as n from ${table}`);
  return rows[0].n;
}

/** Runs `statement` and returns the name of the constraint PostgreSQL reported it violated. */
async function violatedConstraint(statement: string, params: unknown[] = []): Promise<string | undefined> {
  try {
    await sql.query(statement, params);
  } catch (error) {
    return (error as { constraint?: string }).constraint;
  }
  throw new Error(`expected a constraint violation from: ${statement}`);
}

test('migrations and demo seed apply once and are idempotent', async () => {
  for (const expectSeeded of [true, false]) {
    const orm: MikroORM = await openOrm(db.url);
    try {
      expect(await orm.migrator.getPendingMigrations()).toEqual([]);
      expect(await seedDemoData(orm.em)).toBe(expectSeeded);
    } finally {
      await orm.close(true);
    }
  }

  expect(await count('products')).toBe(DEMO_SKUS.length);
  expect(await count('warehouses')).toBe(3);
  expect(await count('stock_levels')).toBe(DEMO_STOCK.length);
  expect(await count(`stock_ledger where kind = 'seed' and actor = 'system'`)).toBe(DEMO_STOCK.length);
  expect(await count('customers')).toBe(DEMO_CUSTOMERS.length);
  expect(await count('mikro_orm_migrations')).toBe(migrationsList.length);

  const { rows: prices } = await sql.query<{ n: number }>(
    'select count(*)::int as n from products where market_price < price or price <= 0',
  );
  expect(prices[0].n).toBe(0);
  const { rows: singleWarehouse } = await sql.query<{ sku: string }>(
    'select sku from stock_levels where on_hand > 0 group by sku having count(*) = 1',
  );
  expect(singleWarehouse.length).toBeGreaterThanOrEqual(2);
  const { rows: smsCustomers } = await sql.query<{ id: string }>(
    `select id from customers where notify_channels @> '["sms", "email"]'`,
  );
  expect(smsCustomers).toHaveLength(1);
});

test("clients connect through the cluster's Unix socket, and TCP on loopback still answers", async () => {
  const clusterDir = path.join(dataDir, 'postgres');
  expect(new URL(db.url).searchParams.get('host')).toBe(clusterDir);
  // inet_server_addr() is null on a Unix-socket connection and the server's address over TCP.
  const serverAddress = 'select inet_server_addr()::text as addr';
  expect((await sql.query<{ addr: string | null }>(serverAddress)).rows[0].addr).toBeNull();
  const orm = await openOrm(db.url);
  try {
    const [row] = await orm.em.fork().execute<{ addr: string | null }[]>(serverAddress);
    expect(row.addr).toBeNull();
  } finally {
    await orm.close(true);
  }
  const tcp = new Client({ connectionString: db.url.replace(/\?.*$/, '') });
  await tcp.connect();
  try {
    expect((await tcp.query<{ addr: string | null }>(serverAddress)).rows[0].addr).toBe('127.0.0.1/32');
  } finally {
    await tcp.end();
  }
});

test('a cluster directory whose socket path is too long, or which the server would split, keeps to TCP', () => {
  expect(socketDirectory('/tmp/order-engine-x/postgres', 5432)).toBe('/tmp/order-engine-x/postgres');
  // .s.PGSQL.5432 and a slash make 14 bytes: 93 bytes of directory fill the 107 a socket address holds.
  expect(socketDirectory(`/${'d'.repeat(92)}`, 5432)).toBe(`/${'d'.repeat(92)}`);
  expect(socketDirectory(`/${'d'.repeat(93)}`, 5432)).toBeUndefined();
  expect(socketDirectory('/tmp/data, more/postgres', 5432)).toBeUndefined();
});

test('stock checks reject reserving more than is on hand', async () => {
  const [{ warehouseCode, sku }] = DEMO_STOCK;
  const update = 'update stock_levels set on_hand = $3, reserved = $4 where warehouse_code = $1 and sku = $2';
  expect(await violatedConstraint(update, [warehouseCode, sku, 2, 3])).toBe('stock_levels_reserved_le_on_hand_check');
  expect(await violatedConstraint(update, [warehouseCode, sku, -1, 0])).toBe('stock_levels_on_hand_check');
  expect(await violatedConstraint(update, [warehouseCode, sku, 5, -1])).toBe('stock_levels_reserved_check');
});

test('orders cannot refund more than was captured', async () => {
  const insert = `insert into orders (id, customer_id, channel, status, currency, subtotal, shipping, total, captured_amount,
      refunded_amount, payment_method, shipping_address, request_hash, placed_at)
    values ($1, 'C-1001', 'web', 'PAID', 'CNY', 9300, 800, 10100, $2, $3, 'card', '{}', 'h', now())`;
  expect(await violatedConstraint(insert, ['ORD-OVER', 10100, 10101])).toBe('orders_refunded_le_captured_check');
  await sql.query(insert, ['ORD-OK', 10100, 10100]);
  expect(await violatedConstraint('update orders set captured_amount = 100 where id = $1', ['ORD-OK'])).toBe(
    'orders_refunded_le_captured_check',
  );
});

test('refunds of a payment can never claim more than it captured', async () => {
  await sql.query(
    `insert into payments (id, order_id, method, status, amount, currency, captured_amount)
     values ('PAY-CLAIM', 'ORD-CLAIM', 'card', 'CAPTURED', 5000, 'CNY', 5000)`,
  );
  const claim = 'update payments set refund_claimed = $1 where id = $2';
  expect(await violatedConstraint(claim, [5001, 'PAY-CLAIM'])).toBe('payments_refund_claimed_check');
  expect(await violatedConstraint(claim, [-1, 'PAY-CLAIM'])).toBe('payments_refund_claimed_check');
  await sql.query(claim, [5000, 'PAY-CLAIM']);
  expect(await violatedConstraint('update payments set captured_amount = 4999 where id = $1', ['PAY-CLAIM'])).toBe(
    'payments_refund_claimed_check',
  );

  const refund = `insert into refunds (id, order_id, customer_id, amount, currency, reason, origin, status, requested_by,
      requested_role, approver) values ('REF-ZERO', 'ORD-CLAIM', 'C-1001', $1, 'CNY', 'quality_problem', 'agent',
      'REQUESTED', 'agent-1', 'agent', 'system')`;
  expect(await violatedConstraint(refund, [0])).toBe('refunds_amount_check');
});

test('the case-core migration keeps the order history, notifications and refunds recorded before it', async () => {
  const name = 'before_case_core';
  await sql.query(`create database ${name}`);
  const orm = await MikroORM.init(ormConfig(db.url.replace(/\/[^/]+$/, `/${name}`)));
  try {
    const connection = orm.em.getConnection();
    const caseCore = migrationsList.findIndex((m) => m.name.endsWith('_case_core_and_refunds'));
    await orm.migrator.up({ to: migrationsList[caseCore - 1].name });
    await connection.execute(
      `insert into order_status_history (order_id, seq, from_status, to_status, actor, reason, at) values
         ('ORD-OLD', 0, null, 'PENDING_PAYMENT', 'system', null, '2026-01-01T10:00:00Z'),
         ('ORD-OLD', 1, 'PENDING_PAYMENT', 'CANCELLED', 'agent-1', 'customer asked', '2026-01-01T10:05:00Z')`,
    );
    await connection.execute(
      `insert into notification_outbox (dedupe_key, customer_id, order_id, channel, template, payload)
       values ('ORD-OLD:1:email', 'C-1001', 'ORD-OLD', 'email', 'order.cancelled', '{}'),
              ('staff-op', 'staff', null, 'staff', 'staff.carrier_silent', '{}')`,
    );
    await connection.execute(
      `insert into orders (id, customer_id, channel, status, currency, subtotal, shipping, total, captured_amount,
         refunded_amount, payment_method, shipping_address, request_hash, placed_at)
       values ('ORD-OLD', 'C-1001', 'web', 'CANCELLED', 'CNY', 5000, 0, 5000, 5000, 5000, 'card', '{}', 'h', now())`,
    );
    await connection.execute(
      `insert into payments (id, order_id, method, status, amount, currency, captured_amount, refunded_amount)
       values ('PAY-OLD', 'ORD-OLD', 'card', 'REFUNDED', 5000, 'CNY', 5000, 5000)`,
    );

    await orm.migrator.up();

    expect(
      await connection.execute(
        `select case_type, case_id, seq, from_status, to_status, actor, reason, extract(epoch from at)::int as at
           from case_history order by seq`,
      ),
    ).toEqual([
      {
        case_type: 'order',
        case_id: 'ORD-OLD',
        seq: 0,
        from_status: null,
        to_status: 'PENDING_PAYMENT',
        actor: 'system',
        reason: null,
        at: Date.parse('2026-01-01T10:00:00Z') / 1000,
      },
      {
        case_type: 'order',
        case_id: 'ORD-OLD',
        seq: 1,
        from_status: 'PENDING_PAYMENT',
        to_status: 'CANCELLED',
        actor: 'agent-1',
        reason: 'customer asked',
        at: Date.parse('2026-01-01T10:05:00Z') / 1000,
      },
    ]);
    expect(await connection.execute(`select to_regclass('order_status_history') as old`)).toEqual([{ old: null }]);
    expect(
      await connection.execute('select dedupe_key, case_type, case_id from notification_outbox order by dedupe_key'),
    ).toEqual([
      { dedupe_key: 'ORD-OLD:1:email', case_type: 'order', case_id: 'ORD-OLD' },
      { dedupe_key: 'staff-op', case_type: null, case_id: null },
    ]);
    expect(
      await connection.execute(
        `select id, payment_id, amount, reason, origin, status, claimed, refunded_at is not null as refunded
           from refunds`,
      ),
    ).toEqual([
      {
        id: 'legacy-PAY-OLD',
        payment_id: 'PAY-OLD',
        amount: 5000,
        reason: 'order_cancelled',
        origin: 'order',
        status: 'REFUNDED',
        claimed: true,
        refunded: true,
      },
    ]);
    expect(await connection.execute('select refund_claimed from payments')).toEqual([{ refund_claimed: 5000 }]);

    await orm.migrator.down({ to: migrationsList[caseCore].name });
    expect(await connection.execute('select order_id, seq from order_status_history order by seq')).toEqual([
      { order_id: 'ORD-OLD', seq: 0 },
      { order_id: 'ORD-OLD', seq: 1 },
    ]);
    expect(await connection.execute(`select to_regclass('refunds') as refunds`)).toEqual([{ refunds: null }]);
  } finally {
    await orm.close(true);
  }
});

test('the refund-decision migration carries decisions over from the audit rows the API wrote', async () => {
  const name = 'before_refund_decision';
  await sql.query(`create database ${name}`);
  const orm = await MikroORM.init(ormConfig(db.url.replace(/\/[^/]+$/, `/${name}`)));
  try {
    const connection = orm.em.getConnection();
    const refundDecision = migrationsList.findIndex((m) => m.name.endsWith('_refund_decision'));
    await orm.migrator.up({ to: migrationsList[refundDecision - 1].name });
    await connection.execute(
      `insert into refunds (id, order_id, customer_id, amount, currency, reason, origin, status, requested_by,
         requested_role, approver, decided_by, decision, reject_reason)
       values ('REF-APPROVED', 'ORD-1', 'C-1001', 100, 'CNY', 'quality_problem', 'agent', 'REFUNDED', 'ann', 'agent',
                 'agent', 'bob', 'approve', null),
              ('REF-REJECTED', 'ORD-1', 'C-1001', 900, 'CNY', 'quality_problem', 'agent', 'REJECTED', 'ann', 'agent',
                 'supervisor', 'sue', 'reject', 'no proof'),
              ('REF-NO-ID', 'ORD-1', 'C-1001', 100, 'CNY', 'quality_problem', 'agent', 'APPROVED', 'ann', 'agent',
                 'agent', 'bob', 'approve', null),
              ('REF-PENDING', 'ORD-1', 'C-1001', 100, 'CNY', 'quality_problem', 'agent', 'PENDING_APPROVAL', 'ann',
                 'agent', 'agent', null, null, null)`,
    );
    // Of REF-APPROVED's audit rows only bob's first carried-out approval is the decision: not his refused attempt
    // before it, nor his repeat of it.
    await connection.execute(
      `insert into audit_log (principal, role, action, object_type, object_id, result, detail, at) values
         ('bob', 'agent', 'refund.approve', 'refund', 'REF-APPROVED', 'rejected', '{"decisionId": "dec-0"}',
            '2026-01-01T09:00:00Z'),
         ('bob', 'agent', 'refund.approve', 'refund', 'REF-APPROVED', 'ok', '{"decisionId": "dec-1", "reason": "fine"}',
            '2026-01-01T10:00:00Z'),
         ('bob', 'agent', 'refund.approve', 'refund', 'REF-APPROVED', 'ok', '{"decisionId": "dec-2"}',
            '2026-01-01T10:30:00Z'),
         ('sue', 'supervisor', 'refund.reject', 'refund', 'REF-REJECTED', 'ok',
            '{"decisionId": "dec-3", "reason": "no proof"}', '2026-01-01T11:00:00Z'),
         ('bob', 'agent', 'refund.approve', 'refund', 'REF-NO-ID', 'ok', '{}', '2026-01-01T12:00:00Z')`,
    );
    await connection.execute(
      `insert into case_history (case_type, case_id, seq, from_status, to_status, actor, at) values
         ('refund', 'REF-APPROVED', 1, 'PENDING_APPROVAL', 'APPROVED', 'bob', '2026-01-01T10:00:01Z')`,
    );

    await orm.migrator.up();

    expect(
      await connection.execute(
        `select id, decided_role, decision_id, decision_reason, extract(epoch from decided_at)::int as decided_at
           from refunds order by id`,
      ),
    ).toEqual([
      {
        id: 'REF-APPROVED',
        decided_role: 'agent',
        decision_id: 'dec-1',
        decision_reason: 'fine',
        decided_at: Date.parse('2026-01-01T10:00:01Z') / 1000,
      },
      { id: 'REF-NO-ID', decided_role: null, decision_id: null, decision_reason: null, decided_at: null },
      { id: 'REF-PENDING', decided_role: null, decision_id: null, decision_reason: null, decided_at: null },
      {
        id: 'REF-REJECTED',
        decided_role: 'supervisor',
        decision_id: 'dec-3',
        decision_reason: 'no proof',
        decided_at: Date.parse('2026-01-01T11:00:00Z') / 1000,
      },
    ]);

    await orm.migrator.down({ to: migrationsList[refundDecision].name });
    expect(
      await connection.execute(
        `select column_name from information_schema.columns where table_name = 'refunds'
            and column_name in ('decided_role', 'decision_id', 'decision_reason', 'decided_at')`,
      ),
    ).toEqual([]);
  } finally {
    await orm.close(true);
  }
});

test('unique constraints hold', async () => {
  const reservation = `insert into reservations (order_id, warehouse_code, sku, quantity, status) values ('ORD-U', 'SH1', $1, 1, 'active')`;
  await sql.query(reservation, [DEMO_SKUS[0]]);
  expect(await violatedConstraint(reservation, [DEMO_SKUS[0]])).toBe('reservations_order_id_warehouse_code_sku_unique');

  const history = `insert into case_history (case_type, case_id, seq, to_status, actor) values ('order', 'ORD-U', 1, 'PAID', 'system')`;
  await sql.query(history);
  expect(await violatedConstraint(history)).toBe('case_history_case_type_case_id_seq_unique');
  // The same case id under another case type is another case.
  await sql.query(history.replace(`'order'`, `'refund'`));

  const credit = `insert into customer_balance_ledger (customer_id, amount, currency, kind, reference)
    values ('C-1001', 100, 'CNY', 'refund', 'REF-U:1')`;
  await sql.query(credit);
  expect(await violatedConstraint(credit)).toBe('customer_balance_ledger_reference_unique');

  const payment = `insert into payments (id, order_id, method, status, amount, currency, reference)
    values ($1, 'ORD-U', 'bank_transfer', 'AWAITING_TRANSFER', 100, 'CNY', 'REF-1')`;
  await sql.query(payment, ['PAY-1']);
  expect(await violatedConstraint(payment, ['PAY-2'])).toBe('payments_reference_unique');

  const outbox = `insert into notification_outbox (dedupe_key, customer_id, channel, template, payload)
    values ('ORD-U:paid:email', 'C-1001', 'email', 'order_paid', '{}')`;
  await sql.query(outbox);
  expect(await violatedConstraint(outbox)).toBe('notification_outbox_dedupe_key_unique');

  const tracking = `insert into tracking_events (shipment_id, event_id, type, occurred_at) values ('ORD-U-S1', 'EV-1', 'PICKED_UP', now())`;
  await sql.query(tracking);
  expect(await violatedConstraint(tracking)).toBe('tracking_events_event_id_unique');

  const settlement = `insert into settlements (order_id, currency, order_total, captured, refunded, shipping, net)
    values ('ORD-U', 'CNY', 100, 100, 0, 0, 100)`;
  await sql.query(settlement);
  expect(await violatedConstraint(settlement)).toBe('settlements_order_id_unique');
});

test('a restart reuses the cluster and its data', async () => {
  await sql.end();
  await db.stop();
  db = await startEmbeddedPostgres({ dataDir, port: await findFreePort() });
  sql = new Client({ connectionString: db.url });
  await sql.connect();
  expect(await count('products')).toBe(DEMO_SKUS.length);
});

test('a stale postmaster.pid naming a reused pid is cleared without signalling that process', async () => {
  await sql.end();
  await db.stop();
  // After a crash the dead server's pid may belong to anything, even something named like PostgreSQL.
  const lookalike = spawn('bash', ['-c', 'exec -a postgres-lookalike sleep 300'], { stdio: 'ignore' });
  try {
    await fs.writeFile(path.join(dataDir, 'postgres', 'postmaster.pid'), `${lookalike.pid}\n${dataDir}/postgres\n`);
    // The dead server's socket lock file on the port the cluster starts on again names the same pid.
    const port = await findFreePort();
    await fs.writeFile(
      path.join(dataDir, 'postgres', `.s.PGSQL.${port}.lock`),
      `${lookalike.pid}\n${dataDir}/postgres\n`,
    );
    db = await startEmbeddedPostgres({ dataDir, port });
    expect(lookalike.exitCode).toBeNull();
    expect(lookalike.signalCode).toBeNull();
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    expect(await count('products')).toBe(DEMO_SKUS.length);
  } finally {
    lookalike.kill('SIGKILL');
  }
});

test('a stale postmaster.pid naming a zombie (a pid whose working directory cannot be read) is cleared', async () => {
  await sql.end();
  await db.stop();
  // `sleep 0` exits at once and its parent, now `sleep 300`, never reaps it: a zombie with no /proc/<pid>/cwd.
  const parent = spawn('bash', ['-c', 'sleep 0 & echo $!; exec sleep 300'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const zombie = Number((await new Promise<Buffer>((resolve) => parent.stdout.once('data', resolve))).toString());
    for (let i = 0; i < 50 && !(await fs.readFile(`/proc/${zombie}/stat`, 'utf8')).includes(') Z '); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await fs.readFile(`/proc/${zombie}/stat`, 'utf8')).toContain(') Z ');
    await fs.writeFile(path.join(dataDir, 'postgres', 'postmaster.pid'), `${zombie}\n${dataDir}/postgres\n`);
    db = await startEmbeddedPostgres({ dataDir, port: await findFreePort() });
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    expect(await count('products')).toBe(DEMO_SKUS.length);
  } finally {
    parent.kill('SIGKILL');
  }
});
