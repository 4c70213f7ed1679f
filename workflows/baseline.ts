import { proxyActivities } from '@temporalio/workflow';
import type { BaselineActivities } from '../activities/baseline';

const { noop } = proxyActivities<BaselineActivities>({ startToCloseTimeout: '10s' });

/** Benchmark reference: the same number of activity round trips as an order, doing nothing. */
export async function baselineWorkflow(steps: number): Promise<number> {
  for (let i = 0; i < steps; i += 1) await noop(i);
  return steps;
}
