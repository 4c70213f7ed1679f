import { ApplicationFailure } from '@temporalio/activity';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Carrier, PaymentGateway } from '../domain/ports';
import { CASE_ERRORS } from '../workflows/case/messages';
import { caseActivities } from './case-records';
import { complaintActivities } from './complaints';
import { digestActivities } from './digests';
import { paymentActivities } from './payment';
import { recordActivities, type PricingConfig } from './records';
import { refundActivities } from './refunds';
import { returnActivities } from './returns';
import { shippingActivities } from './shipping';
import { stockActivities } from './stock';
import type {
  ComplaintActivities,
  DigestActivities,
  OrderActivities,
  RefundActivities,
  ReturnActivities,
} from './types';

/** Every activity the worker registers: each case type's, and the digest schedules'. */
export type Activities = OrderActivities & RefundActivities & ReturnActivities & ComplaintActivities & DigestActivities;

export interface ActivityDeps {
  orm: MikroORM;
  gateway: PaymentGateway;
  carrier: Carrier;
  pricing: PricingConfig;
}

/**
 * SQLSTATE classes 22 (data exception: bad encoding, an escape jsonb refuses) and 23 (integrity constraint violation),
 * and 08P01, the protocol violation a NUL inside query text provokes.
 */
const REFUSED_DATA = /^(2[23]...|08P01)$/;

/**
 * Activities retry until they succeed, so an error that no retry can cure must stop them: PostgreSQL refusing the
 * data itself becomes a non-retryable InvalidData, which the workflow parks for ops instead of looping forever.
 */
function refuseBadData<A extends object>(activities: A): A {
  const wrapped: Record<string, unknown> = {};
  for (const [name, activity] of Object.entries(activities) as [string, (...args: unknown[]) => Promise<unknown>][]) {
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await activity(...args);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string' && REFUSED_DATA.test(code)) {
          throw ApplicationFailure.nonRetryable(
            `the database refused the data (${code}): ${(error as Error).message}`,
            CASE_ERRORS.invalidData,
          );
        }
        throw error;
      }
    };
  }
  return wrapped as A;
}

/** Builds the activities from their dependencies: the worker passes real clients, tests may pass others. */
export function createActivities({ orm, gateway, carrier, pricing }: ActivityDeps): Activities {
  // Every activity works in its own fork of the EntityManager, never in the global context.
  const fork = () => orm.em.fork();
  return refuseBadData({
    ...caseActivities(fork),
    ...recordActivities(fork, pricing),
    ...stockActivities(fork),
    ...paymentActivities(fork, gateway),
    ...shippingActivities(fork, carrier),
    ...refundActivities(fork, gateway),
    ...returnActivities(fork, carrier),
    ...complaintActivities(fork),
    ...digestActivities(fork),
  });
}
