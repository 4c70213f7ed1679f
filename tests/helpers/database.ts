import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { findFreePort, startEmbeddedPostgres, type DatabaseHandle } from '../../db/postgres';

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
