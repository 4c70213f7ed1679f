import { Client, Connection } from '@temporalio/client';
import { ConfigError, loadConfig } from '../config';
import { openOrm } from '../db/orm';
import { temporalConnectionOptions } from '../infra/temporal-connection';
import { openSandboxes } from '../worker/runtime';
import { buildApp } from './app';

/**
 * The API alone (`npm run start:api`): external PostgreSQL and Temporal. Outside production it also serves the
 * sandbox providers' routes (bank transfers, parcels, the mailbox), as `npm start` does.
 */

async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.DATABASE_URL) throw new ConfigError('DATABASE_URL: required to run the API on its own');
  if (!config.TEMPORAL_ADDRESS) throw new ConfigError('TEMPORAL_ADDRESS: required to run the API on its own');
  const temporalOptions = await temporalConnectionOptions(config);

  const orm = await openOrm(config.DATABASE_URL);
  const connection = await Connection.connect(temporalOptions);
  const temporal = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const sandboxes = config.NODE_ENV === 'production' ? undefined : await openSandboxes(config, config.DATABASE_URL);
  const app = await buildApp({
    config,
    temporal,
    orm,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    sandbox: sandboxes,
    logger: { level: config.LOG_LEVEL },
  });

  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string) =>
    (stopping ??= (async () => {
      app.log.info({ signal }, 'shutting down: finishing requests in flight');
      try {
        // Stops accepting connections and waits for requests in flight, which may be waiting on workflow updates.
        await app.close();
        await sandboxes?.close();
        await connection.close();
        await orm.close();
      } catch (error) {
        app.log.error({ err: error }, 'unclean shutdown');
        process.exitCode = 1;
      }
    })());
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await app.listen({ host: config.HOST, port: config.PORT });
  if (config.generatedTokens) {
    app.log.warn('API_TOKENS not set: made up development tokens for this run');
    for (const [token, { role, principal }] of config.tokens) app.log.warn({ role, principal }, `token ${token}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
