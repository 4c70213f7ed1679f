import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CaseType } from '../../domain/case';
import { CARRIER_EVENT_TYPES, CARRIER_EXCEPTION_KINDS } from '../../domain/order';
import { SIGNATURE_HEADER, verifySignature } from '../../sandbox/signing';
import { carrierEventSignal, orderWorkflowId, paymentNotificationSignal } from '../../workflows/messages';
import { returnWorkflowId } from '../../workflows/return-messages';
import type { ApiDeps } from '../app';
import { Problem } from '../problems';
import { orderStatusFromDb, returnStatusFromDb } from '../records';
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

/** The cases a parcel can belong to: an order's goods going out, a return's coming back or going out again. */
const PARCEL_CASES: Partial<
  Record<CaseType, { workflowId(id: string): string; statusFromDb(em: EntityManager, id: string): Promise<unknown> }>
> = {
  order: { workflowId: orderWorkflowId, statusFromDb: orderStatusFromDb },
  return: { workflowId: returnWorkflowId, statusFromDb: returnStatusFromDb },
};

const acknowledged = z.object({
  status: z.enum(['accepted', 'ignored']).describe('ignored: the case has ended and takes no more events'),
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
   * Signals the case. A case that has ended takes no more events: the event is acknowledged (200, ignored) so the
   * provider stops redelivering it for days, and nothing happens. `recorded` says whether the case was ever there.
   */
  async function deliver(
    what: string,
    recorded: () => Promise<unknown>,
    signal: () => Promise<void>,
  ): Promise<200 | 202> {
    try {
      await signal();
      return 202;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      if (await recorded()) return 200;
      throw new Problem('not-found', `no ${what}`);
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
              `order ${n.orderId}`,
              () => orderStatusFromDb(deps.orm.em.fork(), n.orderId),
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
            const [parcel] = await em.execute<{ case_type: CaseType; case_id: string }[]>(
              'select case_type, case_id from shipments where waybill = ?',
              [event.waybill],
            );
            const owner = parcel && PARCEL_CASES[parcel.case_type];
            if (!owner) throw new Problem('not-found', `no shipment with waybill ${event.waybill}`);
            // Only a hint: the case reads the parcel's tracking at the carrier before anything moves.
            const code = await deliver(
              `${parcel.case_type} ${parcel.case_id}`,
              () => owner.statusFromDb(em, parcel.case_id),
              () =>
                temporal.workflow.getHandle(owner.workflowId(parcel.case_id)).signal(carrierEventSignal, {
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
