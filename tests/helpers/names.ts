import { randomBytes } from 'node:crypto';

/** Ids derived from the test's name, so tests never share a workflow or a task queue. */
export function uniqueId(prefix: string): string {
  const test = (expect.getState().currentTestName ?? 'test')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 40);
  return `${prefix}-${test}-${randomBytes(3).toString('hex')}`;
}
