import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import * as workflows from '../../workflows';
import { HISTORIES_DIR } from '../helpers/histories';

/**
 * Safe upgrades: the recorded histories of every workflow type's main paths (tests/histories, refreshed with
 * `npm run histories:record`) replay against the workflow code as it is now. A change that would break cases
 * already running fails here, before it reaches a worker.
 */

const { History } = temporal.api.history.v1;
type History = temporal.api.history.v1.History;

/** Benchmark references only; they never run in production. */
const UNRECORDED = new Set(['baselineWorkflow', 'floorWorkflow']);
const silent = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

interface Recorded {
  name: string;
  workflowType: string;
  history: History;
}

async function recorded(): Promise<Recorded[]> {
  // Subfolders hold the histories of earlier releases kept while their cases still run.
  const files = (await fs.readdir(HISTORIES_DIR, { recursive: true })).filter((file) => file.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => {
      const history = History.fromObject(JSON.parse(await fs.readFile(path.join(HISTORIES_DIR, file), 'utf8')));
      const workflowType = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '';
      return { name: file.replace(/\.json$/, ''), workflowType, history };
    }),
  );
}

test('there is a recorded history of every workflow type the worker runs', async () => {
  const types = new Set((await recorded()).map((r) => r.workflowType));
  const missing = Object.keys(workflows).filter((type) => !UNRECORDED.has(type) && !types.has(type));
  expect(missing).toEqual([]);
});

test('every recorded history replays against the current workflow code', async () => {
  const histories = await recorded();
  expect(histories.length).toBeGreaterThanOrEqual(8);
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: silent }) },
    histories.map(({ name, history }) => ({ workflowId: name, history })),
  )) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  expect(failures).toEqual([]);
}, 120_000);

test('a change that would break running orders is caught', async () => {
  const orders = (await recorded()).filter((r) => r.workflowType === 'orderWorkflow');
  expect(orders.length).toBeGreaterThan(0);
  await expect(
    Worker.runReplayHistory(
      {
        workflowBundle: await bundleWorkflowCode({
          workflowsPath: require.resolve('../fixtures/incompatible-workflows'),
          logger: silent,
        }),
      },
      orders[0].history,
      orders[0].name,
    ),
  ).rejects.toBeInstanceOf(DeterminismViolationError);
}, 120_000);

test('the bundle production workers load (npm run bundle) replays them too', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-engine-bundle-'));
  try {
    const codePath = path.join(dir, 'workflow-bundle.js');
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/bundle-workflows.ts', codePath], {
      cwd: path.resolve(__dirname, '../..'),
      stdio: 'ignore',
    });
    const histories = await recorded();
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath } },
      histories.map(({ name, history }) => ({ workflowId: name, history })),
    )) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(histories.length).toBeGreaterThanOrEqual(8);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}, 120_000);
