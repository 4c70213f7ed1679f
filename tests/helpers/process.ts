import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';

/**
 * Runs a TypeScript entry point in one Node process (tsx as a loader), so the pid is the program itself: a SIGKILL
 * sent to it kills the program. `tsx`'s CLI would run it in a second process that outlives a SIGKILL of the first.
 */
export function spawnTypeScript(file: string, options: SpawnOptions): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', file], options);
}

/** Whether a process with this pid still runs. */
export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A free port held by a listener of this process until `release`, so nothing else binds it meanwhile: neither another
 * server nor one of the many outgoing connections a stack opens while it starts (they take their local ports from
 * the same range). Release it right before the server that needs it listens.
 */
export async function reservePort(): Promise<{ port: number; release(): Promise<void> }> {
  const holder = createServer();
  await new Promise<void>((resolve, reject) => holder.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = holder.address() as AddressInfo;
  return { port, release: () => new Promise((resolve) => holder.close(() => resolve())) };
}
