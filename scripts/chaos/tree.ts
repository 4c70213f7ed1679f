import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

/** One process as /proc shows it; `start` (clock ticks since boot) tells a reused pid from the original. */
interface ProcEntry {
  pid: number;
  ppid: number;
  state: string;
  start: string;
}

function readProc(pid: number): ProcEntry | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in field 2 may contain spaces and parens, so fields are counted after its last paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(fields[1]), state: fields[0], start: fields[19] };
  } catch {
    return undefined;
  }
}

function allProcesses(): ProcEntry[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => readProc(Number(name)) ?? []);
}

/** The root and everything below it by parent pid, whatever session or process group they moved to. */
function descendants(root: number): ProcEntry[] {
  const children = new Map<number, ProcEntry[]>();
  let rootEntry: ProcEntry | undefined;
  for (const entry of allProcesses()) {
    if (entry.pid === root) rootEntry = entry;
    children.set(entry.ppid, [...(children.get(entry.ppid) ?? []), entry]);
  }
  if (!rootEntry) return [];
  const found: ProcEntry[] = [];
  const queue = [rootEntry];
  for (let entry = queue.shift(); entry; entry = queue.shift()) {
    found.push(entry);
    queue.push(...(children.get(entry.pid) ?? []));
  }
  return found;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** Alive and not a zombie: a zombie holds no ports, files or locks, it only waits for its parent to reap it. */
function stillRunning(entry: ProcEntry): boolean {
  const now = readProc(entry.pid);
  return !!now && now.start === entry.start && now.state !== 'Z';
}

function processesMentioning(text: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)
    .filter((name) => {
      try {
        return readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text) && readProc(Number(name))?.state !== 'Z';
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** all-in-one: the tree is `npm start`. cluster: `npm run start:cluster`, the production topology. */
export type Topology = 'all-in-one' | 'cluster';

/** The tree's entry point for each topology. */
export const TOPOLOGY_SCRIPTS: Record<Topology, string> = {
  'all-in-one': 'scripts/start.ts',
  cluster: 'scripts/cluster.ts',
};

/** The topology the environment variable `name` asks for; all-in-one when unset. */
export function topologySetting(name: string): Topology {
  const value = process.env[name] || 'all-in-one';
  if (value !== 'all-in-one' && value !== 'cluster') throw new Error(`${name}: all-in-one or cluster`);
  return value;
}

/** A free port for the tree's Temporal frontend; the cluster's server takes the 20 ports after it too. */
export async function pickTemporalPort(topology: Topology, random: () => number): Promise<number> {
  const [port] = await pickPorts(1, random, topology === 'cluster' ? 21 : 1);
  return port;
}

/**
 * Ports below the kernel's ephemeral range: a port drawn from that range could be taken by some outgoing
 * connection (the driver's own among them) while the tree is down, and the restart would fail for no engine reason.
 */
export async function pickPorts(count: number, random: () => number, blockOf = 1): Promise<number[]> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // keep the Linux default
  }
  const floor = Math.min(20000, low - 2000);
  const ports: number[] = [];
  // With blockOf > 1, each port is the first of that many free ports in a row (a Temporal server's services).
  const block = (port: number) => Array.from({ length: blockOf }, (_, i) => port + i);
  while (ports.length < count) {
    const port = floor + Math.floor(random() * (low - floor - blockOf));
    if (ports.some((taken) => Math.abs(taken - port) < blockOf)) continue;
    let free = true;
    for (const candidate of block(port)) free &&= await portFree(candidate);
    if (free) ports.push(port);
  }
  return ports;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface TreePorts {
  api: number;
  postgres: number;
  /** The dev server's port, or the cluster's Temporal frontend (the first of 21 in a row). */
  temporal: number;
  ui: number;
  smtp: number;
}

/** What puts a tree (`npm start` or `start:cluster`) on its own data directory and ports, its parcels moving alone. */
export function treeEnv(dataDir: string, ports: TreePorts): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(ports.api),
    DATA_DIR: dataDir,
    EMBEDDED_POSTGRES_PORT: String(ports.postgres),
    TEMPORAL_DEV_PORT: String(ports.temporal),
    CLUSTER_TEMPORAL_PORT: String(ports.temporal),
    TEMPORAL_UI_PORT: String(ports.ui),
    SANDBOX_SMTP_PORT: String(ports.smtp),
    SANDBOX_CARRIER_MODE: 'auto',
  };
}

export interface TreeOptions {
  /** The tree's entry point: `scripts/start.ts` (all in one) or `scripts/cluster.ts` (the production topology). */
  script: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  dataDir: string;
  logDir: string;
  apiUrl: string;
  ports: number[];
}

/** CPU seconds by kind of process (Tree.cpuSeconds). */
export interface CpuSeconds {
  engine: number;
  temporal: number;
  postgres: number;
}

/** The all-in-one `npm start` tree as a child of this process, started, killed and restarted on the same data. */
export class Tree {
  private child: ChildProcess | undefined;
  private exited = false;
  starts = 0;

  constructor(private readonly options: TreeOptions) {}

  get logFile(): string {
    return path.join(this.options.logDir, `start-${this.starts}.log`);
  }

  /** Spawns the tree's script in its own session, so a Ctrl-C at the terminal reaches only this harness. */
  start(): void {
    this.starts += 1;
    const log = openSync(this.logFile, 'a');
    try {
      this.child = spawn(process.execPath, [require.resolve('tsx/cli'), this.options.script], {
        cwd: this.options.cwd,
        env: this.options.env,
        stdio: ['ignore', log, log],
        detached: true,
      });
    } finally {
      closeSync(log);
    }
    this.exited = false;
    this.child.once('exit', () => (this.exited = true));
  }

  /**
   * Milliseconds until GET /ready answers 200 (PostgreSQL, Temporal and a worker polling); throws with the log's tail
   * if the tree dies or never gets there.
   */
  async waitHealthy(timeoutMs: number): Promise<number> {
    const started = performance.now();
    while (performance.now() - started < timeoutMs) {
      if (this.exited) throw new Error(`the tree exited during start-up:\n${this.logTail()}`);
      try {
        const response = await fetch(`${this.options.apiUrl}/ready`, { signal: AbortSignal.timeout(3000) });
        await response.arrayBuffer();
        if (response.status === 200) return performance.now() - started;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    throw new Error(`no ready answer from ${this.options.apiUrl}/ready within ${timeoutMs} ms:\n${this.logTail()}`);
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /**
   * Power cut: every process of the tree is stopped first, so none can fork or reparent a child out of reach
   * while the rest are collected, then all are SIGKILLed. Synchronous, so it also works from an 'exit' handler.
   */
  killNow(): ProcEntry[] {
    const root = this.child?.pid;
    const frozen = new Map<number, ProcEntry>();
    for (let round = 0; round < 20; round++) {
      // Orphans of an earlier death of the tree are no longer below it, but they still name the data directory.
      const found = [
        ...(root === undefined || this.exited ? [] : descendants(root)),
        ...processesMentioning(this.options.dataDir).flatMap((pid) => readProc(pid) ?? []),
      ];
      const fresh = found.filter((entry) => !frozen.has(entry.pid));
      if (fresh.length === 0) break;
      for (const entry of fresh) {
        signal(entry.pid, 'SIGSTOP');
        frozen.set(entry.pid, entry);
      }
    }
    for (const entry of frozen.values()) signal(entry.pid, 'SIGKILL');
    return [...frozen.values()];
  }

  /**
   * One process of the tree dies (SIGKILL): the first whose command line contains `text`. Answers once the tree has
   * started another in its place; throws if none matched or none came back within `timeoutMs`.
   */
  async killOne(text: string, timeoutMs = 60_000): Promise<number> {
    const matching = () => this.running(text);
    const victim = matching()[0];
    if (!victim) throw new Error(`no process of the tree runs ${text}`);
    signal(victim.pid, 'SIGKILL');
    const started = performance.now();
    while (performance.now() - started < timeoutMs) {
      if (this.exited) throw new Error(`the tree exited after ${text} was killed:\n${this.logTail()}`);
      if (matching().some((entry) => entry.pid !== victim.pid)) return victim.pid;
      await sleep(100);
    }
    throw new Error(`no new ${text} within ${timeoutMs} ms of killing pid ${victim.pid}:\n${this.logTail()}`);
  }

  /** The tree's processes still running whose command line contains `text`. */
  private running(text: string): ProcEntry[] {
    const root = this.child?.pid;
    return (root === undefined ? [] : descendants(root)).filter((entry) => {
      try {
        return readFileSync(`/proc/${entry.pid}/cmdline`, 'utf8').includes(text) && stillRunning(entry);
      } catch {
        return false;
      }
    });
  }

  /**
   * CPU time the tree has used so far, in seconds, by kind of process: the Temporal server, PostgreSQL (its
   * connections' ended processes counted with the server that reaped them) and the rest, the engine's own processes.
   */
  cpuSeconds(): CpuSeconds {
    const used: CpuSeconds = { engine: 0, temporal: 0, postgres: 0 };
    const root = this.child?.pid;
    for (const entry of root === undefined ? [] : descendants(root)) {
      try {
        const stat = readFileSync(`/proc/${entry.pid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        // utime, stime, cutime and cstime: fields 14 to 17, in clock ticks of 1/100 s (USER_HZ on Linux).
        const ticks = stat
          .slice(stat.lastIndexOf(')') + 2)
          .split(' ')
          .slice(11, 15)
          .reduce((sum, field) => sum + Number(field), 0);
        const kind = name.startsWith('temporal') ? 'temporal' : name.startsWith('postgres') ? 'postgres' : 'engine';
        used[kind] += ticks / 100;
      } catch {
        // Gone since it was listed.
      }
    }
    return used;
  }

  /** The resident memory, in MB, of the tree's processes whose command line contains `text`, together. */
  residentMemoryMb(text: string): number {
    let kb = 0;
    for (const entry of this.running(text)) {
      try {
        kb += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${entry.pid}/status`, 'utf8'))?.[1] ?? 0);
      } catch {
        // Gone since it was listed.
      }
    }
    return kb / 1024;
  }

  /**
   * Kills the tree and waits until none of its processes (nor anything else naming the data directory) runs and
   * every port is free again; throws naming what survived, since a restart on top of it would prove nothing.
   */
  async kill(timeoutMs = 20_000): Promise<number> {
    const killed = this.killNow();
    const started = performance.now();
    for (;;) {
      const survivors = [
        ...killed.filter(stillRunning).map((entry) => entry.pid),
        ...processesMentioning(this.options.dataDir).filter((pid) => !killed.some((entry) => entry.pid === pid)),
      ];
      const busy: number[] = [];
      for (const port of this.options.ports) if (!(await portFree(port))) busy.push(port);
      if (survivors.length === 0 && busy.length === 0 && (this.exited || !this.child)) return killed.length;
      if (performance.now() - started > timeoutMs) {
        throw new Error(`after SIGKILL, still running: [${survivors.join(', ')}], ports in use: [${busy.join(', ')}]`);
      }
      // Something outside the tree (a reparented grandchild) may name the data directory: kill it as well.
      for (const pid of survivors) signal(pid, 'SIGKILL');
      await sleep(100);
    }
  }
}
