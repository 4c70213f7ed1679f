import { condition, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';
import type { BaselineActivities } from '../activities/baseline';

const { noop } = proxyActivities<BaselineActivities>({ startToCloseTimeout: '10s' });

/** Benchmark reference: the same number of activity round trips as an order, doing nothing. */
export async function baselineWorkflow(steps: number): Promise<number> {
  for (let i = 0; i < steps; i += 1) await noop(i);
  return steps;
}

/** The floor workflow's update: answers at once. */
export const floorReadyUpdate = defineUpdate<string>('floorReady');

/**
 * Benchmark reference for a synchronous answer: started with its update (update-with-start), which answers at once,
 * then it ends. Placement can answer no faster than this on the same server.
 */
export async function floorWorkflow(): Promise<void> {
  let answered = false;
  setHandler(floorReadyUpdate, () => {
    answered = true;
    return 'ready';
  });
  await condition(() => answered);
}
