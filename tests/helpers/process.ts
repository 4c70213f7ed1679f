import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

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
