import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { FakeActivities } from './fake-activities';

/** Asserts that the workflow refused an update with this failure type (e.g. 'WrongState') and a matching message. */
export async function expectRejection(update: Promise<unknown>, type: string, message?: RegExp): Promise<void> {
  const error = await update.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (error as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  const refused = cause as ApplicationFailure;
  expect({ type: refused.type, message: refused.message }).toEqual({
    type,
    message: message ? expect.stringMatching(message) : expect.any(String),
  });
}

/**
 * What the fake recorded of each call of one activity, in order, once at least `expected` calls arrived (or after
 * five seconds): a workflow flags a case before it notifies staff or records an event, so a query can see the flag
 * before the activity ran.
 */
export async function callsOf(fakes: FakeActivities, name: string, expected: number): Promise<unknown[]> {
  for (let i = 0; i < 100 && fakes.argsOf(name).length < expected; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return fakes.argsOf(name);
}

/** The non-retryable failure an activity threw; fails the test when it succeeded or threw something else. */
export async function activityFailure(call: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ApplicationFailure);
  return error as ApplicationFailure;
}
