import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { buildApp } from '../api/app';
import { ConfigError, digestTime, loadConfig } from '../config';
import { openOrm } from '../db/orm';
import { resolveDatabase } from '../db/postgres';
import { seedDemoData, seedsOnStart } from '../db/seed';
import { startDevServer } from '../infra/temporal';
import { temporalConnectionOptions } from '../infra/temporal-connection';
import { startDispatcher } from '../notifications/runtime';
import { ensureDigestSchedules } from '../notifications/schedules';
import { createOrderWorker, openSandboxes } from '../worker/runtime';
import { installWorkerMetrics } from '../worker/telemetry';

/**
 * Everything in one process tree (`npm start`): PostgreSQL (embedded unless DATABASE_URL), the
 * Temporal dev server with its Web UI (unless TEMPORAL_ADDRESS), the worker, the sandboxes and the API.
 * State lives under DATA_DIR, so a restart resumes the orders in flight.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const log = (message: string) => console.log(`[start] ${message}`);
  const workerMetricsUrl = installWorkerMetrics(config);

  const database = await resolveDatabase(config, log);
  const orm = await openOrm(database.url);
  if (seedsOnStart(config) && (await seedDemoData(orm.em))) log('seeded the demo catalogue, warehouses and customers');

  let devServer: TestWorkflowEnvironment | undefined;
  let client: Client;
  let nativeConnection: NativeConnection;
  let uiUrl = 'your Temporal cluster UI';
  if (config.TEMPORAL_ADDRESS) {
    const options = await temporalConnectionOptions(config);
    const connection = await Connection.connect(options);
    client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    nativeConnection = await NativeConnection.connect(options);
  } else {
    log('starting the Temporal dev server');
    devServer = await startDevServer({
      dataDir: path.join(config.dataDir, 'temporal'),
      port: config.TEMPORAL_DEV_PORT,
      uiPort: config.TEMPORAL_UI_PORT,
      namespace: config.TEMPORAL_NAMESPACE,
      toolsDir: path.join(config.dataDir, 'tools'),
      sqlitePragmas: config.TEMPORAL_DEV_SQLITE_PRAGMAS,
      log,
    });
    client = devServer.client;
    nativeConnection = devServer.nativeConnection;
    uiUrl = `http://127.0.0.1:${config.TEMPORAL_UI_PORT}`;
  }

  const sandboxes = await openSandboxes(config, database.url);
  const worker = await createOrderWorker({ config, connection: nativeConnection, orm, sandboxes });
  const app = await buildApp({
    config,
    temporal: client,
    orm,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    sandbox: sandboxes,
    logger: { level: config.LOG_LEVEL },
    workerMetricsUrl,
  });
  await app.listen({ host: config.HOST, port: config.PORT });
  const running = worker.run();
  if (config.NOTIFY_DIGEST_SCHEDULES) {
    await ensureDigestSchedules(client, digestTime(config), config.TEMPORAL_TASK_QUEUE);
  }
  const dispatcher = startDispatcher(config, database.url, sandboxes.senders, (message, detail) =>
    console.log(`[notifications] ${message} ${JSON.stringify(detail ?? {})}`),
  );

  const mailboxLine = sandboxes.mailbox
    ? `  Mailbox      ${sandboxes.mailbox.url}, read at ${config.publicUrl}/v1/sandbox/mailbox\n`
    : '';
  console.log(`
Order engine is running
  API          ${config.publicUrl}
  API docs     ${config.publicUrl}/docs
  Temporal UI  ${uiUrl}
${mailboxLine}  Data         ${config.dataDir}
${config.generatedTokens ? '  Bearer tokens for this run (set API_TOKENS to fix them):' : '  Bearer tokens come from API_TOKENS.'}
${config.generatedTokens ? [...config.tokens].map(([token, p]) => `    ${p.role.padEnd(10)} ${token}`).join('\n') : ''}
`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log('shutting down');
    await app.close();
    await dispatcher.stop();
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await sandboxes.close();
    await orm.close();
    await devServer?.teardown();
    await database.stop();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await running;
  await stop();
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
