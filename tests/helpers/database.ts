import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Client, Pool } from 'pg';
import { createActivities, type Activities } from '../../activities';
import { openOrm } from '../../db/orm';
import { findFreePort, startEmbeddedPostgres, type DatabaseHandle } from '../../db/postgres';
import { seedDemoData } from '../../db/seed';
import { SandboxCarrier, SandboxPaymentGateway } from '../../sandbox';

export interface TestDatabase {
  /** Where the embedded cluster keeps its files (the application's DATA_DIR). */
  dataDir: string;
  db: DatabaseHandle;
  /** A plain connection for checks. */
  sql: Client;
}

/**
 * A fresh embedded PostgreSQL for one test file (call at module level), on a free port, with nothing in it until the
 * suite migrates it; removed with its files after the file's last test. The fields are set before the first test.
 */
export function testDatabase(name: string): TestDatabase {
  const handle = {} as TestDatabase;
  beforeAll(async () => {
    handle.dataDir = await fs.mkdtemp(path.join(os.tmpdir(), `order-engine-${name}-`));
    handle.db = await startEmbeddedPostgres({ dataDir: handle.dataDir, port: await findFreePort() });
    handle.sql = new Client({ connectionString: handle.db.url });
    await handle.sql.connect();
  });
  afterAll(async () => {
    await handle.sql?.end();
    await handle.db?.stop();
    if (handle.dataDir) await fs.rm(handle.dataDir, { recursive: true, force: true });
  });
  return handle;
}

export interface ActivityHarness {
  orm: MikroORM;
  /** A pool for checks behind the activities' back. */
  pool: Pool;
  gateway: SandboxPaymentGateway;
  carrier: SandboxCarrier;
  act: Activities;
  /** The database's connection URL, for a process of its own. */
  url(): string;
  /** The first row `sql` answers, through `pool`. */
  row<R extends Record<string, unknown>>(sql: string, params: unknown[]): Promise<R>;
  /** How many rows `from` (a table and its where clause) holds, through `pool`. */
  count(from: string, params: unknown[]): Promise<number>;
}

/**
 * The activities against a fresh migrated, seeded embedded PostgreSQL and the sandbox providers (carrier in manual
 * mode), for one test file (call at module level). The fields are set before the first test.
 */
export function activityHarness(name: string): ActivityHarness {
  const database = testDatabase(name);
  const harness = {} as ActivityHarness;
  harness.url = () => database.db.url;
  harness.row = async <R extends Record<string, unknown>>(sql: string, params: unknown[]) =>
    (await harness.pool.query<R>(sql, params)).rows[0];
  harness.count = async (from, params) =>
    (await harness.row<{ n: number }>(`select count(*)::int as n from ${from}`, params)).n;
  const webhookSecret = `${name}-test-secret-0123456789abcdef`;
  beforeAll(async () => {
    harness.orm = await openOrm(database.db.url);
    await seedDemoData(harness.orm.em);
    harness.pool = new Pool({ connectionString: database.db.url, max: 10 });
    // pool.end() resolves before its sockets have closed, so the server stopping right after can still reach an idle
    // client with "terminating connection" (57P01); anything else is a real failure.
    harness.pool.on('error', (error: Error & { code?: string }) => {
      if (error.code !== '57P01') throw error;
    });
    harness.gateway = await SandboxPaymentGateway.create(harness.pool, { latencyMs: 0, failureRate: 0, webhookSecret });
    harness.carrier = await SandboxCarrier.create(harness.pool, {
      mode: 'manual',
      stepMs: 1_000,
      latencyMs: 0,
      failureRate: 0,
      webhookSecret,
    });
    harness.act = createActivities({
      orm: harness.orm,
      gateway: harness.gateway,
      carrier: harness.carrier,
      pricing: { shippingFee: 800, freeShippingOver: 9_900 },
    });
  });
  afterAll(async () => {
    await harness.carrier?.stop();
    await harness.gateway?.close();
    await harness.pool?.end();
    await harness.orm?.close();
  });
  return harness;
}
