import { proxyActivities } from '@temporalio/workflow';
import type { DigestActivities, DigestSummary } from '../activities/types';
import type { DigestFrequency, DigestTime } from '../domain/notification';

export interface DigestRun extends DigestTime {
  frequency: DigestFrequency;
}

/** Retried until it succeeds: the next run of the schedule is skipped while this one is still at it. */
const { collectDigests } = proxyActivities<DigestActivities>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m' },
});

/**
 * One run of a digest schedule (`notification-digest-daily`, `-weekly`): every customer whose daily (weekly) digest
 * period has ended by now, in their own time zone, gets the period's held messages as one digest per channel.
 */
export async function notificationDigestWorkflow(run: DigestRun): Promise<DigestSummary> {
  return collectDigests({ ...run, at: new Date().toISOString() });
}
