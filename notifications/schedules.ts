import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import { DIGEST_FREQUENCIES, type DigestFrequency, type DigestTime } from '../domain/notification';
import type { DigestRun } from '../workflows/digest';

/** The schedule of each digest, by frequency. */
export const digestScheduleId = (frequency: DigestFrequency): string => `notification-digest-${frequency}`;

/**
 * Hourly, on the hour: customers' mornings fall on every hour of the UTC day, so each run digests those whose period
 * has ended since. A run missed while the cluster was down is made up within the catch-up window; a run missed for
 * longer costs nothing, as the next one digests every period that has ended.
 */
function scheduleOf(
  frequency: DigestFrequency,
  time: DigestTime,
  taskQueue: string,
): Omit<ScheduleOptions, 'scheduleId'> & { action: { args: [DigestRun] } } {
  return {
    spec: { intervals: [{ every: '1h' }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'notificationDigestWorkflow',
      workflowId: digestScheduleId(frequency),
      taskQueue,
      args: [{ frequency, ...time }],
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1h' },
  };
}

/**
 * Creates the daily and weekly digest schedules, or brings existing ones to this configuration (another worker may
 * have created them first, or the digest hour changed); a paused schedule stays paused.
 */
export async function ensureDigestSchedules(client: Client, time: DigestTime, taskQueue: string): Promise<void> {
  for (const frequency of DIGEST_FREQUENCIES) {
    const scheduleId = digestScheduleId(frequency);
    const schedule = scheduleOf(frequency, time, taskQueue);
    try {
      await client.schedule.create({ scheduleId, ...schedule });
    } catch (error) {
      if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      await client.schedule
        .getHandle(scheduleId)
        .update((previous) => ({ ...schedule, state: { paused: previous.state.paused, note: previous.state.note } }));
    }
  }
}
