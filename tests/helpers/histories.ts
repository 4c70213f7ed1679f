import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';

/** Recorded histories of each workflow type's main paths, replayed against the current code by replay.test.ts. */
export const HISTORIES_DIR = path.resolve(__dirname, '../histories');

/**
 * Saves the workflow's history as `tests/histories/<name>.json` when the tests run with RECORD_HISTORIES=1
 * (`npm run histories:record`); otherwise does nothing, so the committed histories stay as they were recorded.
 */
export async function recordHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  await fs.mkdir(HISTORIES_DIR, { recursive: true });
  // protobufjs' own JSON form (enum names, 64-bit numbers as strings, bytes in base64), as historyFromJSON reads it.
  await fs.writeFile(path.join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify(history, null, 1)}\n`);
}

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

/** The activity types of the local activities a history kept, in order (from their markers' data). */
export function localActivityTypes(events: HistoryEvent[]): string[] {
  return events.flatMap((event) => {
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_local_activity') return [];
    const data = marker.details?.data?.payloads?.[0]?.data;
    if (!data) return [];
    return [(JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type: string }).activity_type];
  });
}
