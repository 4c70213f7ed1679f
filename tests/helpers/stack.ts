import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { Client as PgClient } from 'pg';
import { buildApp } from '../../api/app';
import { loadConfig, type Config } from '../../config';
import { openOrm } from '../../db/orm';
import { findFreePort, startEmbeddedPostgres, type DatabaseHandle } from '../../db/postgres';
import { seedDemoData } from '../../db/seed';
import { startDevServer } from '../../infra/temporal';
import { startDispatcher } from '../../notifications/runtime';
import { createOrderWorker, openSandboxes, type Sandboxes } from '../../worker/runtime';
import { reservePort } from './process';

export interface Stack {
  config: Config;
  temporal: TestWorkflowEnvironment;
  orm: MikroORM;
  sandboxes: Sandboxes;
  app: FastifyInstance;
  /** A plain connection to the engine's database, for checks behind the API's back. */
  sql: PgClient;
}

/**
 * The whole engine over real HTTP for one test file (call at module level): embedded PostgreSQL with the demo
 * catalogue, the Temporal dev server, the worker with the sandbox providers (carrier in manual mode unless `env`
 * says otherwise) and the API on a free port. `env` adds to the environment the configuration is read from, e.g.
 * API_TOKENS. The fields are filled in before the file's first test runs.
 */
export function fullStack(name: string, env: Record<string, string>, onRoute?: (route: RouteOptions) => void): Stack {
  const stack = {} as Stack;
  let dataDir: string | undefined;
  let db: DatabaseHandle | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let dispatcher: { stop(): Promise<void> } | undefined;

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), `order-engine-${name}-`));
    const [database, temporal, api] = await Promise.all([
      findFreePort().then((pgPort) => startEmbeddedPostgres({ dataDir: dataDir!, port: pgPort })),
      startDevServer(),
      reservePort(),
    ]);
    const { port } = api;
    db = database;
    stack.temporal = temporal;
    stack.config = loadConfig({
      ...process.env,
      NODE_ENV: 'test',
      PORT: String(port),
      TEMPORAL_TASK_QUEUE: `orders-${name}-${port}`,
      SANDBOX_CARRIER_MODE: 'manual',
      ...env,
    });
    stack.orm = await openOrm(db.url);
    await seedDemoData(stack.orm.em);
    stack.sql = new PgClient({ connectionString: db.url });
    await stack.sql.connect();
    stack.sandboxes = await openSandboxes(stack.config, db.url);
    worker = await createOrderWorker({
      config: stack.config,
      connection: temporal.nativeConnection,
      orm: stack.orm,
      sandboxes: stack.sandboxes,
    });
    running = worker.run();
    dispatcher = startDispatcher(stack.config, db.url, stack.sandboxes.senders);
    stack.app = await buildApp({
      config: stack.config,
      temporal: temporal.client,
      orm: stack.orm,
      taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
      sandbox: stack.sandboxes,
      onRoute,
    });
    await api.release();
    await stack.app.listen({ host: '127.0.0.1', port });
  });

  afterAll(async () => {
    await stack.app?.close();
    await dispatcher?.stop();
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await stack.sandboxes?.close();
    await stack.sql?.end();
    await stack.orm?.close();
    await stack.temporal?.teardown();
    await db?.stop();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  return stack;
}
