/** Brings the configured database's schema up to date and prints a summary; demo data is `npm run seed`'s job. */
import { config } from '../config';
import { openOrm } from './orm';
import { resolveDatabase } from './postgres';

const SUMMARY_TABLES = ['products', 'warehouses', 'stock_levels', 'customers', 'orders'] as const;

async function main(): Promise<void> {
  const db = await resolveDatabase(config(), (message) => console.log(message));
  try {
    const orm = await openOrm(db.url);
    try {
      const applied = await orm.migrator.getExecutedMigrations();
      console.log(`migrations applied: ${applied.map((m) => m.name).join(', ') || 'none'}`);
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
