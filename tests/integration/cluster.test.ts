import { type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Client } from 'pg';
import { pickPorts } from '../../scripts/chaos/tree';
import { alive, reservePort, spawnTypeScript } from '../helpers/process';
import { apiClient } from '../helpers/http';

/**
 * `npm run start:cluster`, the production topology without Docker: a Temporal server built from go.temporal.io/server
 * keeping its state in PostgreSQL, two worker processes and the API, each a process of its own. An order runs through
 * it, a killed worker is replaced, and SIGTERM stops everything. The server is built once per machine (CI builds it
 * first with `npm run cluster:build`), into TEMPORAL_SERVER_DIR or the repository's `.data/tools`.
 */

const ROOT = path.resolve(__dirname, '../..');
const TOKEN = 'cluster-system';
const OPS = 'cluster-ops';
let dataDir: string;
let cluster: ChildProcess;
let exit: Promise<number | null>;
let apiUrl: string;
let databaseUrl: string;
let temporalAddress: string;
let output = '';

/** Pids and command lines of the processes below `root`. */
function processesBelow(root: number): { pid: number; command: string }[] {
  const all = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => {
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        const command = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
        return [{ pid: Number(name), ppid, command }];
      } catch {
        return [];
      }
    });
  const found: { pid: number; command: string }[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of all.filter((p) => p.ppid === pid)) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

const running = (text: string) => processesBelow(cluster.pid!).filter((p) => p.command.includes(text));

async function waitFor<T>(what: string, read: () => Promise<T | undefined> | T | undefined, seconds: number) {
  for (let i = 0; i < seconds * 5; i++) {
    const value = await read();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} within ${seconds} s; cluster output:\n${output.slice(-3000)}`);
}

const shop = apiClient(() => apiUrl, TOKEN);

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-engine-cluster-'));
  const api = await reservePort();
  const postgres = await reservePort();
  const smtp = await reservePort();
  // The server's services take the 20 ports after the frontend's.
  const [frontend] = await pickPorts(1, Math.random, 21);
  await Promise.all([api.release(), postgres.release(), smtp.release()]);
  apiUrl = `http://127.0.0.1:${api.port}`;
  temporalAddress = `127.0.0.1:${frontend}`;
  // The cluster runs its own PostgreSQL and Temporal server.
  const inherited = { ...process.env };
  delete inherited.DATABASE_URL;
  delete inherited.TEMPORAL_ADDRESS;
  cluster = spawnTypeScript('scripts/cluster.ts', {
    cwd: ROOT,
    env: {
      ...inherited,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      DATA_DIR: dataDir,
      TEMPORAL_SERVER_DIR: process.env.TEMPORAL_SERVER_DIR ?? path.join(ROOT, '.data', 'tools'),
      PORT: String(api.port),
      EMBEDDED_POSTGRES_PORT: String(postgres.port),
      SANDBOX_SMTP_PORT: String(smtp.port),
      CLUSTER_TEMPORAL_PORT: String(frontend),
      API_TOKENS: `${TOKEN}=system:shop,${OPS}=ops:olga`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [cluster.stdout!, cluster.stderr!]) stream.on('data', (chunk) => (output += chunk));
  let exited = false;
  exit = new Promise((resolve) => cluster.once('exit', (code) => ((exited = true), resolve(code))));
  await waitFor(
    'the cluster is running',
    () => {
      if (exited) throw new Error(`the cluster exited during start-up:\n${output.slice(-3000)}`);
      return output.includes('cluster is running') ? true : undefined;
    },
    900,
  );
  const password = readFileSync(path.join(dataDir, 'postgres.password'), 'utf8').trim();
  databaseUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${postgres.port}`;
}, 960_000);

afterAll(async () => {
  if (cluster?.pid && alive(cluster.pid)) {
    for (const p of processesBelow(cluster.pid)) process.kill(p.pid, 'SIGKILL');
    cluster.kill('SIGKILL');
  }
  await fs.rm(dataDir, { recursive: true, force: true });
});

test('the server, two workers and the API run as processes of their own, the workflows in PostgreSQL', async () => {
  expect(running('bin/temporal-server')).toHaveLength(1);
  expect(running('worker/main.ts')).toHaveLength(2);
  expect(running('api/main.ts')).toHaveLength(1);
  expect((await fetch(`${apiUrl}/ready`)).status).toBe(200);

  const orderId = await shop.placeOrder();
  await shop.until(orderId, (v) => v.status === 'FULFILLING', 60);

  // The server keeps the workflow in its own databases on the cluster's PostgreSQL: running (status 1), with the
  // engine's search attributes, which the visibility API answers queries on.
  const visibility = new Client({ connectionString: `${databaseUrl}/temporal_visibility` });
  await visibility.connect();
  try {
    const { rows } = await visibility.query(
      `select status, search_attributes from executions_visibility where workflow_id = $1`,
      [`order-${orderId}`],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe(1);
    expect(Object.values(rows[0].search_attributes)).toEqual(expect.arrayContaining(['order', 'web', 'C-1001']));
  } finally {
    await visibility.end();
  }
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const client = new TemporalClient({ connection });
    const found = await waitFor(
      'the order in a visibility query',
      async () => {
        const ids: string[] = [];
        for await (const run of client.workflow.list({ query: `CaseType = 'order' AND CustomerId = 'C-1001'` })) {
          ids.push(run.workflowId);
        }
        return ids.includes(`order-${orderId}`) ? ids : undefined;
      },
      20,
    );
    expect(found).toContain(`order-${orderId}`);
  } finally {
    await connection.close();
  }
});

test('a killed worker is replaced and the orders go on; the Temporal server comes back after a kill', async () => {
  const [victim] = running('worker/main.ts');
  process.kill(victim.pid, 'SIGKILL');
  await waitFor(
    'a new worker',
    () => {
      const workers = running('worker/main.ts');
      return workers.length === 2 && !workers.some((w) => w.pid === victim.pid) ? workers : undefined;
    },
    30,
  );
  const [server] = running('bin/temporal-server');
  process.kill(server.pid, 'SIGKILL');
  await waitFor('a new Temporal server', () => running('bin/temporal-server').find((p) => p.pid !== server.pid), 30);

  await waitFor(
    'the API ready again',
    async () => ((await fetch(`${apiUrl}/ready`).catch(() => undefined))?.status === 200 ? true : undefined),
    60,
  );
  const orderId = await shop.placeOrder();
  const fulfilling = await shop.until(orderId, (v) => v.status === 'FULFILLING', 60);
  const scanned = await shop.call(
    'POST',
    `/v1/sandbox/parcels/${fulfilling.shipments[0].waybill}/events`,
    { type: 'PICKED_UP' },
    OPS,
  );
  expect(scanned.status).toBe(202);
  await shop.until(orderId, (v) => v.status === 'SHIPPED', 60);
});

test('SIGTERM stops the API, the workers, the server and PostgreSQL, and exits 0', async () => {
  const children = processesBelow(cluster.pid!);
  expect(children.length).toBeGreaterThanOrEqual(5);
  cluster.kill('SIGTERM');
  expect(await exit).toBe(0);
  // tsx's esbuild helper processes end a moment after the node process that started them.
  await waitFor('every process gone', () => (children.some((p) => alive(p.pid)) ? undefined : true), 10);
});
