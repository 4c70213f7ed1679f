import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, digestTime, loadConfig } from '../config';
import { openOrm } from '../db/orm';
import { resolveDatabase } from '../db/postgres';
import { temporalConnectionOptions } from '../infra/temporal-connection';
import { startDispatcher } from '../notifications/runtime';
import { ensureDigestSchedules } from '../notifications/schedules';
import { createOrderWorker, openSandboxes } from './runtime';
import { installWorkerMetrics } from './telemetry';

/** The worker on its own (`npm run start:worker`): scale by running more of these against one Temporal and PostgreSQL. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.TEMPORAL_ADDRESS) throw new ConfigError('TEMPORAL_ADDRESS: required to run the worker on its own');
  installWorkerMetrics(config);
  const temporalOptions = await temporalConnectionOptions(config);
  const database = await resolveDatabase(config);
  const orm = await openOrm(database.url);
  const sandboxes = await openSandboxes(config, database.url);
  const connection = await NativeConnection.connect(temporalOptions);
  const worker = await createOrderWorker({ config, connection, orm, sandboxes });
  if (config.NOTIFY_DIGEST_SCHEDULES) {
    const client = new Client({
      connection: await Connection.connect(temporalOptions),
      namespace: config.TEMPORAL_NAMESPACE,
    });
    await ensureDigestSchedules(client, digestTime(config), config.TEMPORAL_TASK_QUEUE);
    await client.connection.close();
  }
  const dispatcher = startDispatcher(config, database.url, sandboxes.senders, (message, detail) =>
    console.log(`[notifications] ${message} ${JSON.stringify(detail ?? {})}`),
  );
  // Worker.run() handles SIGINT/SIGTERM itself: it stops polling and lets tasks in flight finish.
  await worker.run();
  await dispatcher.stop();
  await sandboxes.close();
  await connection.close();
  await orm.close();
  await database.stop();
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
