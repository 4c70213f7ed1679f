/** Brings the configured database up to date: applies migrations, seeds an empty database, prints a summary. */
import { config } from '../config';
import { openOrm } from './orm';
import { resolveDatabase } from './postgres';
import { seedDemoData } from './seed';

const SUMMARY_TABLES = ['products', 'warehouses', 'stock_levels', 'customers', 'orders'] as const;

async function main(): Promise<void> {
  const db = await resolveDatabase(config(), (message) => console.log(message));
  try {
    const orm = await openOrm(db.url);
    try {
      const applied = await orm.migrator.getExecutedMigrations();
      console.log(`migrations applied: ${applied.map((m) => m.name).join(', ') || 'none'}`);
      console.log((await seedDemoData(orm.em)) ? 'seeded demo data' : 'demo data already present');
      const connection = orm.em.getConnection();
      for (const table of SUMMARY_TABLES) {
        const [{ count }] = await connection.execute<{ count: string }[]>(`select count(*) as count from "${table}"`);
        console.log(`  ${table}: ${count}`);
      }
    } finally {
      await orm.close(true);
    }
  } finally {
    await db.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
