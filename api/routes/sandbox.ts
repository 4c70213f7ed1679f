import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CARRIER_EVENT_TYPES, CARRIER_EXCEPTION_KINDS } from '../../domain/order';
import {
  ProviderRefusedError,
  type SandboxCarrier,
  type SandboxMailbox,
  type SandboxPaymentGateway,
  type SandboxPush,
  type SandboxSms,
} from '../../sandbox';
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

/** The simulated providers the routes drive and read; the message sandboxes' routes exist only with them. */
export interface SandboxProviders {
  gateway: SandboxPaymentGateway;
  carrier: SandboxCarrier;
  mailbox?: SandboxMailbox;
  sms?: SandboxSms;
  push?: SandboxPush;
}

const messageQuery = z.object({
  to: z.string().min(1).max(320).optional().describe('Only messages to this recipient'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const mailboxMessage = z.object({
  messageId: z.string().describe('The Message-ID header, angle brackets included'),
  from: z.string(),
  to: z.array(z.string()).describe('The envelope recipients, lower-cased'),
  subject: z.string(),
  text: z.string().optional(),
  html: z.string().optional(),
  receivedAt: z.string(),
});

const smsMessage = z.object({
  messageId: z.string(),
  idempotencyKey: z.string(),
  to: z.string(),
  text: z.string(),
  link: z.string().optional(),
  createdAt: z.string(),
});

const pushMessage = z.object({
  messageId: z.string(),
  idempotencyKey: z.string(),
  to: z.string(),
  title: z.string(),
  body: z.string(),
  link: z.string().optional(),
  createdAt: z.string(),
});

const FAULT_CHANNELS = ['sms', 'push'] as const;

const faultSettings = z.object({
  latencyMs: z.number().int().min(0).max(60_000).describe('Delay added to every send'),
  failureRate: z.number().min(0).max(1).describe('Share of sends, 0..1, that fail as an outage'),
});

/**
 * Drives the simulated providers the way the outside world would: a customer paying a bank transfer, a carrier
 * scanning a parcel. Each produces the signed webhook a real provider would send. The carrier's return labels are
 * served here too, and what was sent by email, SMS and push can be read back. Only mounted with a sandbox.
 */
export function sandboxRoutes(sandbox: SandboxProviders): FastifyPluginAsyncZod {
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

    const { mailbox, sms, push } = sandbox;
    if (mailbox) {
      app.get(
        '/v1/sandbox/mailbox',
        {
          config: { roles: SANDBOX_OPERATOR_ROLES },
          schema: {
            tags: ['sandbox'],
            summary: 'List the email the sandbox mailbox received, newest first',
            description: 'Everything sent to the SMTP sink (SANDBOX_SMTP_PORT), whoever sent it.',
            querystring: messageQuery,
            response: { 200: z.object({ items: z.array(mailboxMessage) }), ...problems(400, 401, 403) },
          },
        },
        async (request) => {
          const messages = await mailbox.list({ to: request.query.to, limit: request.query.limit });
          return { items: messages.map(({ headers: _headers, ...message }) => message) };
        },
      );

      app.get(
        '/v1/sandbox/mailbox/:messageId',
        {
          config: { roles: SANDBOX_OPERATOR_ROLES },
          schema: {
            tags: ['sandbox'],
            summary: 'Read one email the sandbox mailbox received, headers included',
            params: z.object({
              messageId: z.string().min(1).max(998).describe('The Message-ID, with or without its angle brackets'),
            }),
            response: {
              200: mailboxMessage.extend({ headers: z.record(z.string(), z.unknown()) }),
              ...problems(400, 401, 403, 404),
            },
          },
        },
        async (request) => {
          const message = await mailbox.get(request.params.messageId);
          if (!message) throw new Problem('not-found', `no message ${request.params.messageId} in the mailbox`);
          return message;
        },
      );
    }

    if (sms) {
      app.get(
        '/v1/sandbox/sms',
        {
          config: { roles: SANDBOX_OPERATOR_ROLES },
          schema: {
            tags: ['sandbox'],
            summary: 'List the SMS the sandbox gateway took in, newest first',
            querystring: messageQuery,
            response: { 200: z.object({ items: z.array(smsMessage) }), ...problems(400, 401, 403) },
          },
        },
        async (request) => ({ items: await sms.list({ to: request.query.to, limit: request.query.limit }) }),
      );
    }

    if (push) {
      app.get(
        '/v1/sandbox/push',
        {
          config: { roles: SANDBOX_OPERATOR_ROLES },
          schema: {
            tags: ['sandbox'],
            summary: 'List the push notifications the sandbox service took in, newest first',
            querystring: messageQuery,
            response: { 200: z.object({ items: z.array(pushMessage) }), ...problems(400, 401, 403) },
          },
        },
        async (request) => ({ items: await push.list({ to: request.query.to, limit: request.query.limit }) }),
      );
    }

    if (sms || push) {
      app.put(
        '/v1/sandbox/faults/:channel',
        {
          config: { roles: SANDBOX_OPERATOR_ROLES },
          schema: {
            tags: ['sandbox'],
            summary: 'Set the latency and outage rate injected into the SMS or push sandbox',
            description:
              'Replaces both settings at once; they last until set again or the process restarts (then the ' +
              'configuration applies). `failureRate: 1` is a full outage: every send fails as unavailable and ' +
              'stores nothing.',
            params: z.object({ channel: z.enum(FAULT_CHANNELS) }),
            body: faultSettings,
            response: {
              200: faultSettings.extend({ channel: z.enum(FAULT_CHANNELS) }),
              ...problems(400, 401, 403, 404),
            },
          },
        },
        async (request) => {
          const { channel } = request.params;
          const target = channel === 'sms' ? sms : push;
          if (!target) throw new Problem('not-found', `no ${channel} sandbox in this process`);
          target.update(request.body);
          return { channel, ...target.faultsInForce };
        },
      );
    }
  };
}
