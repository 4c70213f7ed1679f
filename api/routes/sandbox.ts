import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CARRIER_EVENT_TYPES, CARRIER_EXCEPTION_KINDS } from '../../domain/order';
import { ProviderRefusedError, type SandboxCarrier, type SandboxPaymentGateway } from '../../sandbox';
import { Problem } from '../problems';
import { SANDBOX_OPERATOR_ROLES } from '../roles';
import { problems } from '../schemas';

/** What the sandbox refuses (wrong state, mismatched event) is the caller's mistake, not a server fault. */
async function refusalsAsConflicts<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ProviderRefusedError) throw new Problem('wrong-state', error.message);
    throw error;
  }
}

/**
 * Drives the simulated providers the way the outside world would: a customer paying a bank transfer, a carrier
 * scanning a parcel. Each produces the signed webhook a real provider would send. The carrier's return labels are
 * served here too. Only mounted with a sandbox.
 */
export function sandboxRoutes(sandbox: {
  gateway: SandboxPaymentGateway;
  carrier: SandboxCarrier;
}): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/v1/sandbox/bank-transfers/:reference/receive',
      {
        config: { roles: SANDBOX_OPERATOR_ROLES },
        schema: {
          tags: ['sandbox'],
          summary: 'Simulate the customer’s bank transfer arriving',
          params: z.object({ reference: z.string().min(1).max(100) }),
          body: z
            .object({
              amount: z.number().int().positive().optional().describe('Minor units; the full amount if absent'),
            })
            .optional(),
          response: {
            202: z.object({
              eventId: z.string(),
              paymentId: z.string(),
              orderId: z.string(),
              amount: z.number().int(),
              currency: z.string(),
            }),
            ...problems(400, 401, 403, 404, 409),
          },
        },
      },
      async (request, reply) => {
        const { reference } = request.params;
        if (!(await sandbox.gateway.findByReference(reference))) {
          throw new Problem('not-found', `no bank transfer with reference ${reference}`);
        }
        const notification = await refusalsAsConflicts(() =>
          sandbox.gateway.simulateTransferReceived(reference, request.body?.amount),
        );
        const { eventId, paymentId, orderId, amount, currency } = notification;
        return reply.code(202).send({ eventId, paymentId, orderId, amount, currency });
      },
    );

    app.post(
      '/v1/sandbox/parcels/:waybill/events',
      {
        config: { roles: SANDBOX_OPERATOR_ROLES },
        schema: {
          tags: ['sandbox'],
          summary: 'Simulate a carrier scan of a parcel',
          params: z.object({ waybill: z.string().min(1).max(100) }),
          body: z.object({ type: z.enum(CARRIER_EVENT_TYPES), exception: z.enum(CARRIER_EXCEPTION_KINDS).optional() }),
          response: {
            202: z.object({
              eventId: z.string(),
              waybill: z.string(),
              type: z.enum(CARRIER_EVENT_TYPES),
              occurredAt: z.string(),
            }),
            ...problems(400, 401, 403, 404, 409),
          },
        },
      },
      async (request, reply) => {
        const { waybill } = request.params;
        if (!(await sandbox.carrier.get(waybill))) throw new Problem('not-found', `no parcel with waybill ${waybill}`);
        const event = await refusalsAsConflicts(() =>
          sandbox.carrier.emit(waybill, request.body.type, request.body.exception),
        );
        return reply
          .code(202)
          .send({ eventId: event.eventId, waybill: event.waybill, type: event.type, occurredAt: event.occurredAt });
      },
    );

    app.get(
      '/v1/sandbox/carrier/labels/:waybill',
      {
        config: { roles: SANDBOX_OPERATOR_ROLES },
        schema: {
          tags: ['sandbox'],
          summary: 'Download the label of a return booked with one',
          description: 'The `labelUrl` of a return booking. Answered as text/plain: what the customer prints.',
          params: z.object({ waybill: z.string().min(1).max(100) }),
          response: {
            200: z.string().describe('The label, as text/plain'),
            ...problems(400, 401, 403, 404),
          },
        },
      },
      async (request, reply) => {
        const { waybill } = request.params;
        const label = await sandbox.carrier.label(waybill);
        if (label === null) throw new Problem('not-found', `no return label for waybill ${waybill}`);
        // A string with a non-JSON type is sent as it is, past the JSON serializer.
        return reply.type('text/plain; charset=utf-8').send(label);
      },
    );
  };
}
