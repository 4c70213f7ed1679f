import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { STAFF_TEAMS } from '../../domain/notification';
import type { ApiDeps } from '../app';
import { Problem } from '../problems';
import { isoTime } from '../records';
import { CUSTOMER_INBOX_ROLES, STAFF_INBOX_ROLES } from '../roles';
import { pageOf, pagingQuery, problems } from '../schemas';

const customerParams = z.object({ customerId: z.string().trim().min(1).max(64) });
const messageParams = customerParams.extend({
  messageId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER),
});

const messageSchema = z.object({
  messageId: z.number().int(),
  subject: z.string(),
  body: z.string(),
  link: z.string().optional(),
  createdAt: z.string(),
  readAt: z.string().optional(),
});

const staffMessageSchema = messageSchema.extend({
  team: z.enum(STAFF_TEAMS),
  topic: z.string(),
  caseType: z.string().optional(),
  caseId: z.string().optional(),
});

interface MessageRow {
  id: string;
  subject: string;
  body: string;
  link: string | null;
  created_at: string;
  read_at: string | null;
}

const messageOf = (row: MessageRow) => ({
  messageId: Number(row.id),
  subject: row.subject,
  body: row.body,
  ...(row.link ? { link: row.link } : {}),
  createdAt: isoTime(row.created_at),
  ...(row.read_at ? { readAt: isoTime(row.read_at) } : {}),
});

async function knownCustomer(em: EntityManager, customerId: string): Promise<void> {
  const [found] = await em.execute('select 1 from customers where id = ?', [customerId]);
  if (!found) throw new Problem('not-found', `no customer ${customerId}`);
}

/** The in-app inbox of each customer (NOT-1), newest first, and the staff inbox of each team. */
export function messageRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/customers/:customerId/messages',
      {
        config: { roles: CUSTOMER_INBOX_ROLES },
        schema: {
          tags: ['notifications'],
          summary: 'The customer’s in-app messages, newest first',
          params: customerParams,
          querystring: z.object({
            unread: z.stringbool().optional().describe('Only unread messages (or only read ones)'),
            ...pagingQuery,
          }),
          response: {
            200: pageOf(messageSchema, { unread: z.number().int().describe('Unread messages in all') }),
            ...problems(400, 401, 403, 404, 503),
          },
        },
      },
      async (request) => {
        const { customerId } = request.params;
        const { unread, limit, offset } = request.query;
        const em = deps.orm.em.fork();
        await knownCustomer(em, customerId);
        const filter = unread === undefined ? '' : unread ? 'and read_at is null' : 'and read_at is not null';
        const [rows, [counts]] = await Promise.all([
          em.execute<MessageRow[]>(
            `select id, subject, body, link, created_at, read_at from customer_messages
              where customer_id = ? ${filter} order by created_at desc, id desc limit ? offset ?`,
            [customerId, limit, offset],
          ),
          em.execute<{ total: number; unread: number }[]>(
            `select count(*) filter (where true ${filter})::int as total,
                    count(*) filter (where read_at is null)::int as unread
               from customer_messages where customer_id = ?`,
            [customerId],
          ),
        ]);
        return { items: rows.map(messageOf), total: counts.total, unread: counts.unread, limit, offset };
      },
    );

    app.post(
      '/v1/customers/:customerId/messages/:messageId/read',
      {
        config: { roles: CUSTOMER_INBOX_ROLES },
        schema: {
          tags: ['notifications'],
          summary: 'Mark an in-app message read (again: nothing changes)',
          params: messageParams,
          response: { 200: messageSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const { customerId, messageId } = request.params;
        const [row] = await deps.orm.em.fork().execute<MessageRow[]>(
          `update customer_messages set read_at = coalesce(read_at, now())
              where id = ? and customer_id = ? returning id, subject, body, link, created_at, read_at`,
          [messageId, customerId],
        );
        if (!row) throw new Problem('not-found', `customer ${customerId} has no message ${messageId}`);
        return messageOf(row);
      },
    );

    app.get(
      '/v1/staff/messages',
      {
        config: { roles: STAFF_INBOX_ROLES },
        schema: {
          tags: ['notifications'],
          summary: 'A team’s staff inbox: escalations, SLA breaches and attention flags, newest first',
          querystring: z.object({
            team: z.enum(STAFF_TEAMS),
            unread: z.stringbool().optional(),
            ...pagingQuery,
          }),
          response: { 200: pageOf(staffMessageSchema), ...problems(400, 401, 403, 503) },
        },
      },
      async (request) => {
        const { team, unread, limit, offset } = request.query;
        const filter = unread === undefined ? '' : unread ? 'and read_at is null' : 'and read_at is not null';
        const em = deps.orm.em.fork();
        const [rows, [{ total }]] = await Promise.all([
          em.execute<
            (MessageRow & { team: string; topic: string; case_type: string | null; case_id: string | null })[]
          >(
            `select id, team, topic, case_type, case_id, subject, body, link, created_at, read_at from staff_messages
              where team = ? ${filter} order by created_at desc, id desc limit ? offset ?`,
            [team, limit, offset],
          ),
          em.execute<{ total: number }[]>(
            `select count(*)::int as total from staff_messages where team = ? ${filter}`,
            [team],
          ),
        ]);
        return {
          items: rows.map((row) => ({
            ...messageOf(row),
            team: row.team as (typeof STAFF_TEAMS)[number],
            topic: row.topic,
            ...(row.case_type ? { caseType: row.case_type } : {}),
            ...(row.case_id ? { caseId: row.case_id } : {}),
          })),
          total,
          limit,
          offset,
        };
      },
    );
  };
}
