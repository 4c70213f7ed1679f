import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ConfigError, loadConfig } from '../config';
import { openOrm } from '../db/orm';
import { resolveDatabase } from '../db/postgres';
import { seedDemoData, seedsOnStart } from '../db/seed';
import {
  applyTemporalSchema,
  DYNAMIC_CONFIG,
  PINNED_TEMPORAL_SERVER,
  prepareNamespace,
  serverPorts,
  serverToolsDir,
  temporalServerConfig,
  temporalServerTools,
  type SqlEndpoint,
} from '../infra/temporal-server';

/**
 * The production topology on one machine, without Docker (`npm run start:cluster`): PostgreSQL (embedded unless
 * DATABASE_URL), a real Temporal server built from `go.temporal.io/server` and keeping its state in that PostgreSQL,
 * CLUSTER_WORKERS worker processes and the API, each a process of its own. Like an orchestrator, it restarts any of
 * them that dies. State lives under DATA_DIR, so a restart resumes the cases in flight.
 */

const ROOT = path.resolve(__dirname, '..');
/** Closed workflows are kept this long for the Temporal UI before the server deletes them. */
const RETENTION_DAYS = 7;
/** A process that keeps dying is restarted at most this often. */
const MAX_RESTART_DELAY_MS = 10_000;
/** How long a process told to stop may take before it is killed. */
const STOP_GRACE_MS = 30_000;

const log = (message: string) => console.log(`[cluster] ${message}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One process of the cluster, logging to its own file and restarted when it exits unasked. */
class Supervised {
  private child: ChildProcess | undefined;
  private stopping = false;
  private restarts = 0;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    private readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const out = openSync(this.logFile, 'a');
    try {
      this.child = spawn(this.command, this.args, { cwd: ROOT, env: this.env, stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    const child = this.child;
    const startedAt = Date.now();
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        if (this.stopping) return;
        // A process that ran for a while starts again at once; one that keeps dying is given more time each round.
        this.restarts = Date.now() - startedAt > 60_000 ? 0 : this.restarts + 1;
        const delay = Math.min(MAX_RESTART_DELAY_MS, 500 * 2 ** Math.min(this.restarts, 5));
        log(`${this.name} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
        setTimeout(() => {
          if (!this.stopping) this.start();
        }, delay);
      });
    });
    child.once('error', (error) => log(`${this.name}: ${error.message}`));
  }

  /** SIGTERM (the workers drain, the API finishes requests in flight), then SIGKILL after the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

function sqlEndpoint(url: string): SqlEndpoint {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}

/** Waits until the frontend answers (a fresh server takes a few seconds to join its services). */
async function connectWhenUp(address: string, timeoutMs: number): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`the Temporal server at ${address} did not answer: ${error}`);
      await sleep(500);
    }
  }
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(3_000) }).then(
      async (response) => (await response.arrayBuffer(), response.status),
      () => 0,
    );
    if (status === 200) return;
    await sleep(300);
  }
  throw new Error(`${url}/ready did not answer 200 within ${timeoutMs / 1000} s`);
}

/** Stops what has been started so far; set once PostgreSQL runs. */
let stop: () => Promise<void> = async () => undefined;

async function main(): Promise<void> {
  const config = loadConfig();
  if (config.TEMPORAL_ADDRESS) {
    throw new ConfigError('TEMPORAL_ADDRESS: start:cluster runs its own Temporal server; unset it');
  }
  const home = path.join(config.dataDir, 'cluster');
  const logs = path.join(home, 'logs');
  mkdirSync(logs, { recursive: true });

  const database = await resolveDatabase(config, log);
  stop = () => database.stop();
  const tools = await temporalServerTools(serverToolsDir(config), process.env, log);
  const db = sqlEndpoint(database.url);
  await applyTemporalSchema(tools, db);
  log(`Temporal schema up to date in databases temporal and temporal_visibility on ${db.host}:${db.port}`);

  const frontend = config.CLUSTER_TEMPORAL_PORT;
  const configFile = path.join(home, 'temporal.yaml');
  const dynamicConfigFile = path.join(home, 'dynamicconfig.yaml');
  writeFileSync(dynamicConfigFile, DYNAMIC_CONFIG);
  const serverConfig = temporalServerConfig({ db, ports: { frontend, base: frontend + 1 }, dynamicConfigFile });
  // JSON is YAML; the file holds the database password, so only its owner may read it.
  writeFileSync(configFile, JSON.stringify(serverConfig, null, 2), { mode: 0o600 });

  const processes: Supervised[] = [];
  let stopping: Promise<void> | undefined;
  stop = () =>
    (stopping ??= (async () => {
      log('shutting down: the API, then the workers, then the Temporal server and PostgreSQL');
      const [server, ...app] = processes;
      const api = app.filter((p) => p.name === 'api');
      await Promise.all(api.map((p) => p.stop()));
      await Promise.all(app.filter((p) => p.name !== 'api').map((p) => p.stop()));
      await server?.stop();
      await database.stop();
    })());
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)));

  const server = new Supervised(
    'temporal-server',
    tools.server,
    ['--config-file', configFile, '--allow-no-auth', 'start'],
    process.env,
    path.join(logs, 'temporal-server.log'),
  );
  processes.push(server);
  server.start();
  const address = `127.0.0.1:${frontend}`;
  const connection = await connectWhenUp(address, 120_000);
  await prepareNamespace(connection, config.TEMPORAL_NAMESPACE, RETENTION_DAYS);
  await connection.close();
  log(`Temporal server ${PINNED_TEMPORAL_SERVER} (pid ${server.pid}) serving ${address}`);

  const orm = await openOrm(database.url);
  if (seedsOnStart(config) && (await seedDemoData(orm.em))) log('seeded the demo catalogue, warehouses and customers');
  await orm.close();

  // Bundled once here rather than by every worker at its start.
  const bundlePath = path.join(home, 'workflow-bundle.js');
  const quiet = { trace() {}, debug() {}, info() {}, log() {}, warn: log, error: log };
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quiet });
  writeFileSync(bundlePath, code);

  const apiUrl = config.publicUrl;
  const appEnv: NodeJS.ProcessEnv = {
    ...process.env,
    // Tokens made up for this run are the API's too.
    API_TOKENS: [...config.tokens].map(([token, p]) => `${token}=${p.role}:${p.principal}`).join(','),
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: address,
    WORKFLOW_BUNDLE_PATH: bundlePath,
    PUBLIC_URL: apiUrl,
  };
  // The API hosts the sandbox mailbox in development; workers hand their email to it over SMTP.
  const workerEnv: NodeJS.ProcessEnv = {
    ...appEnv,
    SMTP_URL: config.SMTP_URL ?? `smtp://127.0.0.1:${config.SANDBOX_SMTP_PORT}`,
  };
  delete workerEnv.WORKER_METRICS_ADDRESS;
  const node = (file: string) => [process.execPath, ['--import', 'tsx', file]] as const;
  for (let i = 1; i <= config.CLUSTER_WORKERS; i++) {
    const [command, args] = node('worker/main.ts');
    processes.push(new Supervised(`worker-${i}`, command, [...args], workerEnv, path.join(logs, `worker-${i}.log`)));
  }
  const [command, args] = node('api/main.ts');
  processes.push(new Supervised('api', command, [...args], appEnv, path.join(logs, 'api.log')));
  for (const p of processes.slice(1)) p.start();
  await waitReady(apiUrl, 180_000);

  const ports = serverPorts(frontend, frontend + 1);
  console.log(`
Order engine cluster is running (processes restart when they die; logs in ${logs})
  API              ${apiUrl} (pid ${processes.at(-1)?.pid})
  Workers          ${processes
    .filter((p) => p.name.startsWith('worker'))
    .map((p) => `${p.name} pid ${p.pid}`)
    .join(', ')}
  Temporal server  ${address} (pid ${server.pid}), Prometheus metrics on 127.0.0.1:${ports.metrics}
  PostgreSQL       ${db.host}:${db.port}: databases orders, temporal, temporal_visibility
  Data             ${config.dataDir}
${config.generatedTokens ? '  Bearer tokens for this run (set API_TOKENS to fix them):' : '  Bearer tokens come from API_TOKENS.'}
${config.generatedTokens ? [...config.tokens].map(([token, p]) => `    ${p.role.padEnd(10)} ${token}`).join('\n') : ''}
`);
  await new Promise(() => undefined);
}

main().catch(async (error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  await stop().catch(() => undefined);
  process.exit(1);
});
