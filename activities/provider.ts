import { ApplicationFailure } from '@temporalio/activity';
import { PROVIDER_ERRORS } from '../domain/ports';

/**
 * Calls a payment or carrier provider and turns its errors into what the retry policy understands:
 * a refusal (the provider will never accept this request) stops retrying, an outage is retried.
 */
export async function providerCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const { name, message } = error as Error;
    if (name === PROVIDER_ERRORS.refused) throw ApplicationFailure.nonRetryable(message, PROVIDER_ERRORS.refused);
    if (name === PROVIDER_ERRORS.unavailable) throw ApplicationFailure.retryable(message, PROVIDER_ERRORS.unavailable);
    throw error;
  }
}
