import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { findFreePort, startEmbeddedPostgres, type DatabaseHandle } from '../../db/postgres';
import { DEMO_SKUS, seedsOnStart } from '../../db/seed';

/** `npm run migrate` and `npm run seed` as an operator runs them, against a fresh database. */

const exec = promisify(execFile);
const root = path.resolve(__dirname, '../..');

let dataDir: string;
let db: DatabaseHandle;
let sql: Client;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-engine-seeding-'));
  db = await startEmbeddedPostgres({ dataDir, port: await findFreePort() });
  sql = new Client({ connectionString: db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await db?.stop();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

const run = (script: string) =>
  exec(path.join(root, 'node_modules/.bin/tsx'), [script], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: db.url, DATA_DIR: dataDir },
  });

async function products(): Promise<number> {
  const { rows } = await sql.query<{ n: number }>('select count(*)::int as n from products');
  return rows[0].n;
}

test('migrate creates the schema and writes no data; seed adds the demo data once', async () => {
  const migrated = await run('db/migrate.ts');
  expect(migrated.stdout).toMatch(/migrations applied: Migration/);
  expect(await products()).toBe(0);

  await run('db/seed.ts');
  expect(await products()).toBe(DEMO_SKUS.length);
  const again = await run('db/seed.ts');
  expect(again.stdout).toMatch(/not seeded/);
  expect(await products()).toBe(DEMO_SKUS.length);
});

test('npm start seeds an empty database except in production', () => {
  expect(seedsOnStart({ NODE_ENV: 'development' })).toBe(true);
  expect(seedsOnStart({ NODE_ENV: 'test' })).toBe(true);
  expect(seedsOnStart({ NODE_ENV: 'production' })).toBe(false);
});
