import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ShipmentSchema } from '../../db/entities';
import { CARRIER_EVENT_TYPES, CARRIER_EXCEPTION_KINDS } from '../../domain/order';
import { SIGNATURE_HEADER, verifySignature } from '../../sandbox/signing';
import { carrierEventSignal, orderWorkflowId, paymentNotificationSignal } from '../../workflows/messages';
import type { ApiDeps } from '../app';
import { Problem } from '../problems';
import { orderStatusFromDb } from '../records';
import { orderIdSchema, problems } from '../schemas';

const paymentNotification = z.object({
  eventId: z.string().min(1).max(200),
  type: z.enum(['payment.succeeded', 'payment.failed']),
  paymentId: z.string().min(1).max(200),
  orderId: orderIdSchema,
  amount: z.number().int().nonnegative(),
  currency: z.string().length(3),
  occurredAt: z.iso.datetime({ offset: true }),
});

const carrierEvent = z
  .object({
    eventId: z.string().min(1).max(200),
    waybill: z.string().min(1).max(100),
    type: z.enum(CARRIER_EVENT_TYPES),
    exception: z.enum(CARRIER_EXCEPTION_KINDS).optional(),
    occurredAt: z.iso.datetime({ offset: true }),
    detail: z.string().max(1000).optional(),
  })
  .superRefine((event, ctx) => {
    if ((event.type === 'EXCEPTION') !== (event.exception !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['exception'],
        message: 'required with, and only with, an EXCEPTION event',
      });
    }
  });

const acknowledged = z.object({
  status: z.enum(['accepted', 'ignored']).describe('ignored: the order has ended and takes no more events'),
  eventId: z.string(),
});

const webhookSchema = <B extends z.ZodType>(summary: string, body: B) => ({
  tags: ['webhooks'],
  summary,
  description: `Authenticated by \`${SIGNATURE_HEADER}: t=<unix>,v1=<hex HMAC-SHA256 of "t.rawBody">\`, not a bearer token.`,
  security: [],
  headers: z.looseObject({ [SIGNATURE_HEADER]: z.string().optional() }),
  body,
  response: { 200: acknowledged, 202: acknowledged, ...problems(400, 401, 404, 503) },
});

/**
 * Makes every route of this (encapsulated) scope take JSON only when signed with `secret`. The signature is checked
 * over the exact bytes received, before they are parsed, so nothing unauthenticated is ever parsed.
 */
function requireSignature(app: FastifyInstance, secret: string): void {
  const verified = new WeakSet<FastifyRequest>();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, rawBody, done) => {
    if (!verifySignature(secret, rawBody as string, header(request))) {
      done(new Problem('unauthorized', 'missing or invalid webhook signature'), undefined);
      return;
    }
    verified.add(request);
    try {
      done(null, JSON.parse(rawBody as string));
    } catch {
      done(new Problem('validation', 'the body is not valid JSON'), undefined);
    }
  });
  // A request without a body never reaches the parser.
  app.addHook('preValidation', async (request) => {
    if (!verified.has(request)) throw new Problem('unauthorized', 'missing or invalid webhook signature');
  });
}

function header(request: FastifyRequest): string | undefined {
  const value = request.headers[SIGNATURE_HEADER];
  return Array.isArray(value) ? value.join(',') : value;
}

export function webhookRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  const { temporal, config } = deps;

  /**
   * Signals the order. An order that has ended takes no more events: the event is acknowledged (200, ignored) so the
   * provider stops redelivering it for days, and nothing happens.
   */
  async function deliver(em: () => EntityManager, orderId: string, signal: () => Promise<void>): Promise<200 | 202> {
    try {
      await signal();
      return 202;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      if (await orderStatusFromDb(em(), orderId)) return 200;
      throw new Problem('not-found', `no order ${orderId}`);
    }
  }

  return async (app) => {
    await app.register(async (scope) => {
      requireSignature(scope, config.PAYMENT_WEBHOOK_SECRET);
      scope
        .withTypeProvider<ZodTypeProvider>()
        .post(
          '/v1/webhooks/payment',
          { config: { public: true }, schema: webhookSchema('Payment provider notification', paymentNotification) },
          async (request, reply) => {
            const n = request.body;
            // Only a hint: the order asks the gateway before anything moves, so redeliveries and forgeries are harmless.
            const code = await deliver(
              () => deps.orm.em.fork(),
              n.orderId,
              () =>
                temporal.workflow.getHandle(orderWorkflowId(n.orderId)).signal(paymentNotificationSignal, {
                  eventId: n.eventId,
                  paymentId: n.paymentId,
                  succeeded: n.type === 'payment.succeeded',
                  amount: n.amount,
                  currency: n.currency,
                }),
            );
            return reply.code(code).send({ status: code === 202 ? 'accepted' : 'ignored', eventId: n.eventId });
          },
        );
    });

    await app.register(async (scope) => {
      requireSignature(scope, config.CARRIER_WEBHOOK_SECRET);
      scope
        .withTypeProvider<ZodTypeProvider>()
        .post(
          '/v1/webhooks/carrier',
          { config: { public: true }, schema: webhookSchema('Carrier tracking event', carrierEvent) },
          async (request, reply) => {
            const event = request.body;
            const em = deps.orm.em.fork();
            const shipment = await em.findOne(ShipmentSchema, { waybill: event.waybill }, { fields: ['orderId'] });
            if (!shipment) throw new Problem('not-found', `no shipment with waybill ${event.waybill}`);
            // Only a hint: the order reads the parcel's tracking at the carrier before anything moves.
            const code = await deliver(
              () => em,
              shipment.orderId,
              () =>
                temporal.workflow.getHandle(orderWorkflowId(shipment.orderId)).signal(carrierEventSignal, {
                  eventId: event.eventId,
                  waybill: event.waybill,
                  type: event.type,
                  ...(event.exception ? { exception: event.exception } : {}),
                  occurredAt: event.occurredAt,
                }),
            );
            return reply.code(code).send({ status: code === 202 ? 'accepted' : 'ignored', eventId: event.eventId });
          },
        );
    });
  };
}
