import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Connection } from '@temporalio/client';
import Long from 'long';
import type { Config } from '../config';
import { onPath, searchAttributeTypes } from './temporal';

/**
 * A real Temporal server on PostgreSQL, the way a self-hosted production cluster runs it: the server and its SQL tool
 * are built from the pinned Go module `go.temporal.io/server` with the Go toolchain, the schema is applied with that
 * tool, and the server reads a config file written here. `npm run start:cluster` runs it.
 */

/** The Temporal server release built and run; its go.mod asks for Go >= 1.26.10. */
export const PINNED_TEMPORAL_SERVER = '1.32.2';
/** The Go toolchain the go command fetches (from the module proxy) to build it when the machine's own is older. */
export const SERVER_GO_TOOLCHAIN = 'go1.27.3';
const MODULE = 'go.temporal.io/server';

const exec = promisify(execFile);

/** Where the Temporal server built from source is kept: TEMPORAL_SERVER_DIR, else DATA_DIR/tools. */
export const serverToolsDir = (config: Pick<Config, 'TEMPORAL_SERVER_DIR' | 'dataDir'>) =>
  path.resolve(config.TEMPORAL_SERVER_DIR ?? path.join(config.dataDir, 'tools'));

export interface TemporalServerTools {
  server: string;
  sqlTool: string;
  /** `schema/postgresql/v12` of the release: `temporal/versioned` and `visibility/versioned`. */
  schemaDir: string;
}

function executableAt(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function goBinary(env: NodeJS.ProcessEnv): string {
  const found = env.GO || onPath('go', env) || ['/usr/local/go/bin/go'].find(executableAt);
  if (!found) {
    throw new Error(
      `no Go toolchain to build the Temporal server ${PINNED_TEMPORAL_SERVER} with: install Go (https://go.dev/dl) or ` +
        'set GO, or point TEMPORAL_SERVER_PATH, TEMPORAL_SQL_TOOL_PATH and TEMPORAL_SCHEMA_DIR at a built release',
    );
  }
  return found;
}

/**
 * The server, its SQL tool and its PostgreSQL schema: from TEMPORAL_SERVER_PATH, TEMPORAL_SQL_TOOL_PATH and
 * TEMPORAL_SCHEMA_DIR when all are set; else from an earlier build under `toolsDir`; else built now with `go install`
 * (a few minutes the first time) and kept there, with the schema copied out of the module.
 */
export async function temporalServerTools(
  toolsDir: string,
  env: NodeJS.ProcessEnv = process.env,
  log: (message: string) => void = () => undefined,
): Promise<TemporalServerTools> {
  if (env.TEMPORAL_SERVER_PATH && env.TEMPORAL_SQL_TOOL_PATH && env.TEMPORAL_SCHEMA_DIR) {
    return {
      server: env.TEMPORAL_SERVER_PATH,
      sqlTool: env.TEMPORAL_SQL_TOOL_PATH,
      schemaDir: env.TEMPORAL_SCHEMA_DIR,
    };
  }
  const home = path.join(toolsDir, `temporal-server-${PINNED_TEMPORAL_SERVER}`);
  const tools = {
    server: path.join(home, 'bin', 'temporal-server'),
    sqlTool: path.join(home, 'bin', 'temporal-sql-tool'),
    schemaDir: path.join(home, 'schema', 'postgresql', 'v12'),
  };
  if (executableAt(tools.server) && executableAt(tools.sqlTool) && existsSync(path.join(tools.schemaDir, 'done'))) {
    return tools;
  }

  const go = goBinary(env);
  const goEnv = { ...env, GOTOOLCHAIN: env.GOTOOLCHAIN || SERVER_GO_TOOLCHAIN, GOFLAGS: '-mod=mod' };
  const building = path.join(home, 'building');
  await fs.rm(building, { recursive: true, force: true });
  await fs.mkdir(building, { recursive: true });
  log(`building the Temporal server ${PINNED_TEMPORAL_SERVER} from ${MODULE} with ${go} (a few minutes, once)`);
  const started = Date.now();
  const version = `v${PINNED_TEMPORAL_SERVER}`;
  try {
    await exec(go, ['install', `${MODULE}/cmd/server@${version}`, `${MODULE}/cmd/tools/sql@${version}`], {
      env: { ...goEnv, GOBIN: building },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
    throw new Error(`building the Temporal server failed: ${stderr.split('\n').slice(-5).join('\n')}`);
  }
  const { stdout } = await exec(go, ['mod', 'download', '-json', `${MODULE}@${version}`], { env: goEnv });
  const moduleDir = (JSON.parse(stdout) as { Dir: string }).Dir;
  await fs.rm(path.dirname(tools.schemaDir), { recursive: true, force: true });
  await fs.cp(path.join(moduleDir, 'schema', 'postgresql', 'v12'), tools.schemaDir, { recursive: true });
  await fs.mkdir(path.dirname(tools.server), { recursive: true });
  await fs.rename(path.join(building, 'server'), tools.server);
  await fs.rename(path.join(building, 'sql'), tools.sqlTool);
  await fs.rm(building, { recursive: true, force: true });
  await fs.writeFile(path.join(tools.schemaDir, 'done'), `${version}\n`);
  log(`built the Temporal server in ${((Date.now() - started) / 1000).toFixed(0)} s: ${tools.server}`);
  return tools;
}

export interface SqlEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** The two databases of a Temporal cluster on PostgreSQL and their versioned schema directories. */
export const TEMPORAL_DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility' } as const;

/**
 * Creates the Temporal databases if missing and brings their schema to the release's version with the SQL tool, as
 * Temporal documents for PostgreSQL: versioning tables, then every versioned step not yet applied. Safe to repeat.
 */
export async function applyTemporalSchema(tools: TemporalServerTools, db: SqlEndpoint): Promise<void> {
  const base = ['--plugin', 'postgres12', '--ep', db.host, '-p', String(db.port), '-u', db.user];
  const env = { ...process.env, SQL_PASSWORD: db.password };
  const sql = async (database: string, args: string[]) => {
    try {
      await exec(tools.sqlTool, [...base, '--db', database, ...args], { env });
    } catch (error) {
      const output = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
      throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed: ${output.trim().split('\n').at(-1)}`);
    }
  };
  for (const [kind, database] of Object.entries(TEMPORAL_DATABASES)) {
    await sql(database, ['create-database']);
    await sql(database, ['setup-schema', '-v', '0.0']);
    await sql(database, ['update-schema', '-d', path.join(tools.schemaDir, kind, 'versioned')]);
  }
}

export interface TemporalServerPorts {
  /** The frontend's gRPC port: what clients and workers connect to. */
  frontend: number;
  /** The first of a block of 20 ports after it for the other services, membership and metrics. */
  base: number;
}

/** The ports a server with this frontend port uses: a block of 20 from `base`. */
export function serverPorts(frontend: number, base: number) {
  return {
    frontend,
    frontendHttp: base,
    history: base + 1,
    matching: base + 2,
    worker: base + 3,
    frontendMembership: base + 10,
    historyMembership: base + 11,
    matchingMembership: base + 12,
    workerMembership: base + 13,
    metrics: base + 19,
  };
}

/**
 * The server's configuration (JSON, which its YAML reader accepts): PostgreSQL persistence and SQL visibility, every
 * service on loopback, Prometheus metrics, and a dynamic config file.
 */
export function temporalServerConfig(options: {
  db: SqlEndpoint;
  ports: TemporalServerPorts;
  dynamicConfigFile: string;
  historyShards?: number;
}) {
  const ports = serverPorts(options.ports.frontend, options.ports.base);
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${options.db.host}:${options.db.port}`,
      connectProtocol: 'tcp',
      user: options.db.user,
      password: options.db.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const service = (grpcPort: number, membershipPort: number, extra: Record<string, unknown> = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: options.historyShards ?? 4,
      datastores: {
        default: store(TEMPORAL_DATABASES.temporal, 20),
        visibility: store(TEMPORAL_DATABASES.visibility, 10),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      metrics: {
        prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: `127.0.0.1:${ports.metrics}` },
      },
    },
    services: {
      frontend: service(ports.frontend, ports.frontendMembership, { httpPort: ports.frontendHttp }),
      history: service(ports.history, ports.historyMembership),
      matching: service(ports.matching, ports.matchingMembership),
      worker: service(ports.worker, ports.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `127.0.0.1:${ports.frontend}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: options.dynamicConfigFile, pollInterval: '10s' },
  };
}

/** Dynamic config of the cluster: updates (the API's synchronous answers) on, search attributes read fresh. */
export const DYNAMIC_CONFIG = [
  'frontend.enableUpdateWorkflowExecution:',
  '  - value: true',
  'system.forceSearchAttributesCacheRefreshOnRead:',
  '  - value: true',
  '',
].join('\n');

/**
 * Registers the namespace (with `retentionDays` of closed workflows kept) unless it exists, and adds the engine's
 * search attributes it lacks. A fresh cluster has neither; a restarted one has both.
 */
export async function prepareNamespace(
  connection: Connection,
  namespace: string,
  retentionDays: number,
): Promise<void> {
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(retentionDays * 86_400) },
    });
  } catch (error) {
    if ((error as { code?: number }).code !== 6 /* ALREADY_EXISTS */) throw error;
  }
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.entries(searchAttributeTypes()).filter(
    ([name]) => !(name in (existing.customAttributes ?? {})),
  );
  if (missing.length > 0) {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing) });
  }
}
