import { randomInt } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseDuration } from '../domain/duration';
import { Api, Driver, expectedOutcome, TERMINAL, type OrderRecord, type Outage } from './chaos/driver';
import { planOrders, seededRandom } from './chaos/plan';
import {
  openComplaints,
  unsentNotifications,
  openRefunds,
  openReturns,
  reconcile,
  snapshotStock,
  unsettledRecords,
  type Check,
} from './chaos/reconcile';
import { pickPorts, pickTemporalPort, TOPOLOGY_SCRIPTS, topologySetting, Tree, treeEnv } from './chaos/tree';

/**
 * Chaos test (`npm run chaos`): runs the all-in-one tree (`tsx scripts/start.ts`) on a fresh data directory,
 * places CHAOS_ORDERS orders of every payment method through the API, partial refunds of some once shipped, returns
 * of some and complaints about others once delivered, while SIGKILLing the whole tree CHAOS_KILLS times and restarting
 * it on the same data, waits until every order, refund case, return case and complaint is over, then reconciles
 * PostgreSQL (the engine's tables and the sandbox providers') and Temporal, and exits 1 on any mismatch.
 */

const ROOT = path.resolve(__dirname, '..');
/** The demo complaint staff the tree seeds (db/seed.ts): complaints are assigned to these agents. */
const COMPLAINT_AGENTS = ['dev-agent', 'agent-li', 'agent-wang', 'agent-zhao', 'agent-chen'];
const TOKENS = {
  system: 'chaos-system',
  ops: 'chaos-ops',
  agent: 'chaos-agent',
  warehouse: 'chaos-warehouse',
  supervisor: 'chaos-supervisor',
  complaintAgents: Object.fromEntries(COMPLAINT_AGENTS.map((agent) => [agent, `chaos-${agent}`])),
  fallbackAgent: 'dev-agent',
};
/**
 * One principal per token: the agent approving a refund or a return must not be who requested it (the shop, as
 * system); the warehouse receives and inspects returned goods; each demo complaint agent works the complaints given to
 * them, and the demo supervisor (whom the demo teams escalate to) reassigns one given to an agent without a token here.
 */
const API_TOKENS = [
  `${TOKENS.system}=system:chaos-shop`,
  `${TOKENS.ops}=ops:chaos-ops`,
  `${TOKENS.agent}=agent:chaos-agent`,
  `${TOKENS.warehouse}=warehouse:chaos-warehouse`,
  `${TOKENS.supervisor}=supervisor:dev-supervisor`,
  ...Object.entries(TOKENS.complaintAgents).map(([agent, token]) => `${token}=agent:${agent}`),
].join(',');
/** The engine's default; the first refund of a refund scenario order stays within it to be approved by the system. */
const REFUND_AUTO_APPROVE_LIMIT = 10_000;

/** Short business timers so a run ends in minutes; any of them set in the environment wins. */
const TREE_DEFAULTS: Record<string, string> = {
  LOG_LEVEL: 'warn',
  SANDBOX_CARRIER_STEP: '1s',
  ORDER_PAYMENT_WINDOW: '30s',
  ORDER_AUTO_COMPLETE_AFTER: '10s',
  ORDER_CARRIER_POLL_INTERVAL: '5s',
  ORDER_PAYMENT_POLL_INTERVAL: '5s',
  // Every message is to be sent within the run, whatever the hour where the demo customers live.
  NOTIFY_QUIET_HOURS: '',
};
/** These would point the tree at something other than its own data directory. */
const DROPPED = ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'PUBLIC_URL'];
/** The harness relies on a healthy interval between kills; a restart is given no less. */
const MIN_UPTIME_MS = 4000;
/** Where a source change between restarts would make replays fail for reasons that are not the engine's. */
const SOURCE_DIRS = [
  'workflows',
  'activities',
  'domain',
  'sandbox',
  'notifications',
  'api',
  'config',
  'db',
  'worker',
  'infra',
];

/** What the cluster topology's kills take, in turn: one worker process, the Temporal server, everything at once. */
const CLUSTER_KILLS = ['worker/main.ts', 'temporal-server', 'tree'] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const say = (message: string) => console.log(`[chaos] ${message}`);

function intSetting(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name}: must be a whole number >= ${min}`);
  return value;
}

function readSettings() {
  return {
    orders: intSetting('CHAOS_ORDERS', 200, 1),
    kills: intSetting('CHAOS_KILLS', 3, 0),
    seed: intSetting('CHAOS_SEED', randomInt(1, 2 ** 31), 0),
    concurrency: intSetting('CHAOS_CONCURRENCY', 10, 1),
    timeoutMs: parseDuration(process.env.CHAOS_TIMEOUT || '15m'),
    stallMs: parseDuration(process.env.CHAOS_STALL || '3m'),
    startTimeoutMs: parseDuration(process.env.CHAOS_START_TIMEOUT || '3m'),
    keep: process.env.CHAOS_KEEP === '1',
    /**
     * all-in-one: every kill is a power cut of the whole tree. cluster: the kills take turns: one worker, the
     * Temporal server, then the whole tree.
     */
    topology: topologySetting('CHAOS_TOPOLOGY'),
  };
}

function fingerprint(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) {
        const stat = statSync(full);
        files.set(path.relative(ROOT, full), `${stat.size}:${stat.mtimeMs}`);
      }
    }
  };
  for (const dir of SOURCE_DIRS) walk(path.join(ROOT, dir));
  return files;
}

function changedSince(before: Map<string, string>): string[] {
  const now = fingerprint();
  return [...new Set([...before.keys(), ...now.keys()])].filter((file) => before.get(file) !== now.get(file));
}

function tally(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].map(([value, n]) => `${value} ${n}`).join(', ');
}

function printCheck(check: Check): void {
  const shown = check.offenders.slice(0, 8).join(', ');
  const more = check.offenders.length > 8 ? `, … ${check.offenders.length - 8} more` : '';
  console.log(
    `  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.summary}${check.ok ? '' : `\n         ${shown}${more}`}`,
  );
}

async function main(): Promise<number> {
  const settings = readSettings();
  const random = seededRandom(settings.seed);
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-engine-chaos-'));
  const logDir = path.join(dataDir, 'chaos');
  await fs.mkdir(logDir);
  const cluster = settings.topology === 'cluster';
  const [apiPort, pgPort, uiPort, sdkMetricsPort, smtpPort] = await pickPorts(5, Math.random);
  const temporalPort = await pickTemporalPort(settings.topology, Math.random);
  const apiUrl = `http://127.0.0.1:${apiPort}`;

  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !DROPPED.includes(name)));
  const env: NodeJS.ProcessEnv = {
    ...TREE_DEFAULTS,
    ...inherited,
    // The driver waits for parcels to arrive by themselves.
    ...treeEnv(dataDir, { api: apiPort, postgres: pgPort, temporal: temporalPort, ui: uiPort, smtp: smtpPort }),
    // The worker's SDK metrics join the API's /metrics, as ops would run it.
    WORKER_METRICS_ADDRESS: `127.0.0.1:${sdkMetricsPort}`,
    API_TOKENS,
  };
  const paymentWindowMs = parseDuration(env.ORDER_PAYMENT_WINDOW!);
  const autoApproveLimit = env.REFUND_AUTO_APPROVE_LIMIT
    ? Number(env.REFUND_AUTO_APPROVE_LIMIT)
    : REFUND_AUTO_APPROVE_LIMIT;
  const knobs = Object.keys(env)
    .filter(
      (name) =>
        name in TREE_DEFAULTS || /^(ORDER_|SANDBOX_|STEP_|WORKER_|RISK_|REFUND_|RETURN_|COMPLAINT_|NOTIFY_)/.test(name),
    )
    .sort()
    .map((name) => `${name}=${env[name]}`);

  say(
    `${settings.topology}: N=${settings.orders} K=${settings.kills} seed=${settings.seed} concurrency=${settings.concurrency} ` +
      `timeout=${seconds(settings.timeoutMs)} stall=${seconds(settings.stallMs)}`,
  );
  say(`tree env: ${knobs.join(' ')}`);
  say(`data dir ${dataDir}; ports api ${apiPort}, postgres ${pgPort}, temporal ${temporalPort}, ui ${uiPort}`);

  const tree = new Tree({
    script: TOPOLOGY_SCRIPTS[settings.topology],
    cwd: ROOT,
    env,
    dataDir,
    logDir,
    apiUrl,
    ports: [apiPort, pgPort, temporalPort, uiPort, smtpPort],
  });
  let finished = false;
  const abandon = (signal: string) => {
    tree.killNow();
    console.error(`\n[chaos] ${signal}: tree killed; data kept in ${dataDir}`);
    process.exit(130);
  };
  process.once('SIGINT', () => abandon('SIGINT'));
  process.once('SIGTERM', () => abandon('SIGTERM'));
  process.once('exit', () => {
    if (!finished) tree.killNow();
  });

  const started = Date.now();
  const deadline = started + settings.timeoutMs;
  const api = new Api(apiUrl, deadline);
  const outages: Outage[] = [];
  let passed = false;
  try {
    const sources = fingerprint();
    tree.start();
    say(`first start: healthy after ${seconds(await tree.waitHealthy(settings.startTimeoutMs))}`);
    const password = (await fs.readFile(path.join(dataDir, 'postgres.password'), 'utf8')).trim();
    const dbUrl = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/orders`;
    const snapshot = await snapshotStock(dbUrl);
    if (snapshot.orders > 0) throw new Error(`a fresh data directory already holds ${snapshot.orders} orders`);

    const plan = planOrders(settings.orders, settings.seed, random);
    const driver = new Driver(api, TOKENS, settings.concurrency, deadline, settings.stallMs, autoApproveLimit);
    const records = driver.records;
    let lastUp = Date.now();

    /** Kills spread over the placements: the k-th falls in the k-th of K equal slices of 10–100 % placed. */
    const chaos = async () => {
      for (let k = 0; k < settings.kills; k++) {
        const threshold = Math.ceil(settings.orders * (0.1 + ((k + random()) * 0.9) / settings.kills));
        const jitter = random() * 3000;
        while (driver.placed < threshold || Date.now() - lastUp < MIN_UPTIME_MS) {
          if (Date.now() >= deadline) throw new Error(`deadline passed before kill ${k + 1}`);
          await sleep(100);
        }
        await sleep(jitter);
        const outage: Outage = { killedAt: Date.now() };
        outages.push(outage);
        const placedAtKill = driver.placed;
        const changed = changedSince(sources);
        if (changed.length) say(`warning: sources changed since the first start: ${changed.join(', ')}`);
        const target = cluster ? CLUSTER_KILLS[k % CLUSTER_KILLS.length] : 'tree';
        let what: string;
        if (target === 'tree') {
          const count = await tree.kill();
          tree.start();
          what = `${count} processes SIGKILLed, none left, ports free`;
        } else {
          const pid = await tree.killOne(target);
          what = `${target} (pid ${pid}) SIGKILLed and started again by the cluster`;
        }
        try {
          await tree.waitHealthy(settings.startTimeoutMs);
        } catch (error) {
          // The most serious finding there is: the data a crash leaves behind cannot be started on.
          throw new Error(`the restart after kill ${k + 1} failed: ${(error as Error).message}`);
        }
        outage.upAt = lastUp = driver.lastChange = Date.now();
        say(
          `kill ${k + 1}/${settings.kills} at ${placedAtKill}/${settings.orders} placed: ${what}; ` +
            `healthy again ${seconds(outage.upAt - outage.killedAt)} after the kill`,
        );
      }
    };
    const watching = driver.watch();
    await Promise.all([
      driver.run(plan).then(() => say(`driver done: ${driver.placed} placements answered, follow-ups sent`)),
      chaos().catch((error: unknown) => {
        api.stop();
        throw error;
      }),
    ]);
    await watching;
    const drainedAt = Date.now();
    const open = [...records.values()].filter((r) => !TERMINAL.includes(r.lastStatus ?? ''));
    const gaveUp = Date.now() >= deadline ? 'CHAOS_TIMEOUT passed' : 'no status change for CHAOS_STALL';
    say(
      open.length
        ? `gave up waiting (${gaveUp}) with ${open.length} orders not terminal`
        : `all orders terminal ${seconds(drainedAt - lastUp)} after the last restart`,
    );
    // The API shows a new status a moment before the workflow's write of it to PostgreSQL is done.
    for (let waited = 0; waited < 30_000 && (await unsettledRecords(dbUrl, records)).length > 0; waited += 1000) {
      await sleep(1000);
    }
    // Refund and return cases and complaints outlive their orders (a cancel after capture ends the order while its
    // refund runs on, a return asked for after completion runs on its own, a complaint is closed by its rating): they
    // must all be over too, within the same deadline, giving up sooner when none moved for CHAOS_STALL.
    const openCases = async () => [
      ...(await openRefunds(dbUrl, records)),
      ...(await openReturns(dbUrl, records)),
      ...(await openComplaints(dbUrl, records)),
      ...(await unsentNotifications(dbUrl)),
    ];
    let casesOpen = await openCases();
    let casesMovedAt = Date.now();
    while (casesOpen.length > 0 && Date.now() < deadline && Date.now() - casesMovedAt < settings.stallMs) {
      await sleep(1000);
      const now = await openCases();
      if (now.join() !== casesOpen.join()) casesMovedAt = Date.now();
      casesOpen = now;
    }
    const casesDrainedAt = Date.now();
    say(
      casesOpen.length
        ? `gave up waiting for refunds, returns, complaints and notifications, ${casesOpen.length} not over: ` +
            casesOpen.slice(0, 8).join(', ')
        : `all refunds, returns, complaints and notifications over ${seconds(casesDrainedAt - drainedAt)} after the orders`,
    );

    const temporal = { address: `127.0.0.1:${temporalPort}`, namespace: env.TEMPORAL_NAMESPACE || 'default' };
    const result = await reconcile(dbUrl, temporal, records, snapshot, outages, paymentWindowMs);
    const all = [...records.values()];
    const statusOf = (r: OrderRecord) => result.statusOf.get(r.plan.orderId) ?? 'MISSING';
    console.log('\nFigures');
    console.log(`  N ${settings.orders}, K ${settings.kills}, seed ${settings.seed}`);
    console.log(`  orders per method:   ${tally(all.map((r) => r.plan.method))}`);
    console.log(`  orders per outcome:  ${tally(all.map(statusOf))}`);
    console.log(`  orders per scenario: ${tally(all.map((r) => `${r.plan.scenario}→${statusOf(r)}`))}`);
    const followUps = all.flatMap((r) =>
      (['retryPayment', 'transfer', 'cancel', 'confirmation'] as const).flatMap((kind) =>
        r[kind] ? [`${kind} ${r[kind].status}`] : [],
      ),
    );
    console.log(`  split orders: ${all.filter((r) => r.plan.split).length}`);
    console.log(`  follow-up answers:   ${tally(followUps.sort())}`);
    const asked = all.flatMap((r) => r.refunds ?? []);
    const planned = all.reduce((n, r) => n + r.plan.refunds.length, 0);
    console.log(
      `  refunds requested by the driver: ${asked.length} of ${planned} planned, on ` +
        `${all.filter((r) => r.refunds?.length).length} orders; ` +
        `refunded ${asked.filter((f) => result.refundStatusOf.get(f.refundId) === 'REFUNDED').length}`,
    );
    console.log(
      `  refund answers:      ${tally(
        asked
          .flatMap((f) => [
            `request ${f.request?.status ?? 'none'} ${f.request?.body.status ?? ''}`.trim(),
            ...(f.approval ? [`approval ${f.approval.status} ${f.approval.body.status ?? ''}`.trim()] : []),
          ])
          .sort(),
      )}`,
    );
    console.log(
      `  refunds asked at order status: ${tally(asked.map((f) => f.orderStatus).sort())}; ` +
        `requests retried through outages: ${asked.filter((f) => (f.request?.attempts ?? 0) > 1 || (f.approval?.attempts ?? 0) > 1).length}`,
    );
    console.log(`  refund cases:        ${tally([...result.refundCases].sort())}`);
    const returns = all.flatMap((r) => (r.return ? [r.return] : []));
    const plannedReturns = all.filter((r) => r.plan.return).map((r) => r.plan.return!);
    console.log(
      `  returns planned: ${plannedReturns.length} (${tally(
        plannedReturns.map((p) => `${p.reason}/${p.type}/${p.method}`).sort(),
      )})`,
    );
    console.log(
      `  returns requested by the driver: ${returns.filter((r) => r.request).length}, asked at order status ` +
        `${tally(returns.flatMap((r) => (r.orderStatus ? [r.orderStatus] : [])).sort())}; ` +
        `422 refusals asked again: ${returns.reduce((n, r) => n + r.refusals.length, 0)}`,
    );
    console.log(
      `  return answers:      ${tally(
        returns
          .flatMap((r) =>
            (['request', 'approval', 'receipt', 'inspection'] as const).flatMap((kind) =>
              r[kind] ? [`${kind} ${r[kind].status}`] : [],
            ),
          )
          .sort(),
      )}; actions repeated: ${returns.reduce((n, r) => n + r.repeats, 0)}`,
    );
    console.log(`  return cases:        ${tally([...result.returnCases].sort()) || '-'}`);
    const complaints = all.flatMap((r) => (r.complaint ? [r.complaint] : []));
    const plannedComplaints = all.flatMap((r) => (r.plan.complaint ? [r.plan.complaint] : []));
    console.log(
      `  complaints planned: ${plannedComplaints.length} (${tally(
        plannedComplaints.map((p) => `${p.remedy.kind}/${p.category}/${p.priority}`).sort(),
      )}), notes planned ${plannedComplaints.reduce((n, p) => n + p.notes, 0)}`,
    );
    console.log(
      `  complaints filed by the driver: ${complaints.filter((c) => c.open).length}, at order status ` +
        `${tally(complaints.flatMap((c) => (c.orderStatus ? [c.orderStatus] : [])).sort())}; ` +
        `reassigned by the supervisor: ${complaints.filter((c) => c.assign).length}; ` +
        `assigned to ${tally(complaints.flatMap((c) => (c.agentId ? [c.agentId] : [])).sort()) || '-'}`,
    );
    console.log(
      `  complaint answers:   ${tally(
        complaints
          .flatMap((c) => [
            ...(['open', 'assign', 'respond', 'resolve', 'rate'] as const).flatMap((kind) =>
              c[kind] ? [`${kind} ${c[kind].status}`] : [],
            ),
            ...c.notes.map((n) => `note ${n.status}`),
          ])
          .sort(),
      )}; requests retried through outages: ${
        complaints.filter((c) =>
          [c.open, c.assign, c.respond, c.resolve, c.rate, ...c.notes].some((a) => (a?.attempts ?? 0) > 1),
        ).length
      } complaints; actions repeated after a 403/409: ${complaints.reduce((n, c) => n + c.repeats, 0)}`,
    );
    console.log(`  complaints per remedy→status: ${tally([...result.complaintCases].sort()) || '-'}`);
    console.log(
      `  receipt confirmations planned: ${all.filter((r) => r.plan.confirm).length} (the rest auto-complete)`,
    );
    console.log(`  requests retried through outages: ${api.retries}`);
    console.log(`  wall time ${seconds(Date.now() - started)}`);
    const recoveries = outages.map((o) => seconds((o.upAt ?? NaN) - o.killedAt));
    console.log(`  recovery (kill → /ready 200): ${recoveries.join(', ') || '-'}`);
    console.log(
      `  drain after the last restart: ${open.length ? `gave up, ${open.length} open` : seconds(drainedAt - lastUp)}`,
    );
    console.log(
      `  refunds, returns and complaints drained after the orders: ` +
        `${casesOpen.length ? `gave up, ${casesOpen.length} open` : seconds(casesDrainedAt - drainedAt)}`,
    );

    console.log('\nReconciliation');
    for (const check of result.checks) printCheck(check);
    console.log('\nDiagnostics');
    for (const line of result.diagnostics) console.log(`  ${line}`);

    const failed = result.checks.filter((c) => !c.ok);
    await fs.writeFile(
      path.join(logDir, 'report.json'),
      JSON.stringify(
        {
          settings,
          outages,
          checks: result.checks,
          orders: all.map((r) => ({
            ...r,
            finalStatus: statusOf(r),
            expected: expectedOutcome(r, outages, paymentWindowMs),
          })),
        },
        null,
        2,
      ),
    );
    console.log(
      `\n${failed.length ? `${failed.length} of ${result.checks.length} checks FAILED` : 'all checks passed'}`,
    );
    passed = failed.length === 0;
  } catch (error) {
    console.error(`[chaos] run aborted: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    api.stop();
    try {
      await tree.kill();
    } catch (error) {
      console.error(`[chaos] could not stop the tree: ${(error as Error).message}`);
      passed = false;
    }
    finished = true;
    if (passed && !settings.keep) {
      await fs.rm(dataDir, { recursive: true, force: true });
    } else {
      say(`data kept in ${dataDir} (tree logs and report.json in ${logDir})`);
      say(
        `inspect: DATA_DIR=${dataDir} EMBEDDED_POSTGRES_PORT=${pgPort} TEMPORAL_DEV_PORT=${temporalPort} ` +
          `TEMPORAL_UI_PORT=${uiPort} PORT=${apiPort} npm start, then psql with the password in postgres.password`,
      );
    }
  }
  return passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
