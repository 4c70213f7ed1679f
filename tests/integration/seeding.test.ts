import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { DEMO_SKUS, seedsOnStart } from '../../db/seed';
import { testDatabase } from '../helpers/database';

/** `npm run migrate` and `npm run seed` as an operator runs them, against a fresh database. */

const exec = promisify(execFile);
const root = path.resolve(__dirname, '../..');

const database = testDatabase('seeding');

const run = (script: string) =>
  exec(path.join(root, 'node_modules/.bin/tsx'), [script], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: database.db.url, DATA_DIR: database.dataDir },
  });

async function products(): Promise<number> {
  const { rows } = await database.sql.query<{ n: number }>('select count(*)::int as n from products');
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
