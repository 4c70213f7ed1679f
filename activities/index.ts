import type { MikroORM } from '@mikro-orm/postgresql';
import type { Carrier, PaymentGateway } from '../domain/ports';
import { paymentActivities } from './payment';
import { recordActivities, type PricingConfig } from './records';
import { shippingActivities } from './shipping';
import { stockActivities } from './stock';
import type { OrderActivities } from './types';

export interface ActivityDeps {
  orm: MikroORM;
  gateway: PaymentGateway;
  carrier: Carrier;
  pricing: PricingConfig;
}

/** Builds the activities from their dependencies: the worker passes real clients, tests may pass others. */
export function createActivities({ orm, gateway, carrier, pricing }: ActivityDeps): OrderActivities {
  // Every activity works in its own fork of the EntityManager, never in the global context.
  const fork = () => orm.em.fork();
  return {
    ...recordActivities(fork, pricing),
    ...stockActivities(fork),
    ...paymentActivities(fork, gateway),
    ...shippingActivities(fork, carrier),
  };
}
