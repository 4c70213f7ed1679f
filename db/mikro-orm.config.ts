import path from 'node:path';
import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { entities } from './entities';
import { migrationsList } from './migrations';

export const MIGRATIONS_DIR = path.join(__dirname, 'migrations');

/**
 * Migrations are listed explicitly (db/migrations/index.ts) rather than discovered: discovery loads
 * files with a dynamic import(), which jest cannot run without --experimental-vm-modules.
 */
export function ormConfig(clientUrl: string): Options {
  return defineConfig({
    clientUrl,
    // A Unix socket directory in the URL's `host` parameter, as pg reads it; MikroORM reads only the URL's host.
    host: new URL(clientUrl).searchParams.get('host') ?? undefined,
    entities,
    extensions: [Migrator],
    allowGlobalContext: false,
    debug: false,
    migrations: {
      path: MIGRATIONS_DIR,
      pathTs: MIGRATIONS_DIR,
      emit: 'ts',
      transactional: true,
      allOrNothing: true,
      // db/create-migration.ts diffs against a database migrated from scratch, so no snapshot is kept.
      snapshot: false,
      silent: true,
      migrationsList,
    },
  });
}
