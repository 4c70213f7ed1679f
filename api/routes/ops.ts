import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ATTENTION_REASONS, CASE_TYPES, type CaseType } from '../../domain/case';
import { orderWorkflowId } from '../../workflows/messages';
import type { ApiDeps } from '../app';
import { actorOf } from '../auth';
import { auditedWork } from '../cases';
import { Problem } from '../problems';
import { CASE_TABLES, isoTime } from '../records';
import { RECOVERY_ROLES } from '../../domain/roles';
import { OPS_ACTOR_ROLES, OPS_READER_ROLES } from '../roles';
import { orderIdSchema, pageOf, pagingQuery, problems, reasonSchema } from '../schemas';

/**
 * Ops' view across every case type (OPS-3): the cases that need a person, oldest flag first, and what ops do about
 * them beyond each case type's own actions (retry a step: `/recover`; clear a flag: `/clear-flag`): notes on any case,
 * and a forced cancellation of an order that runs its compensations.
 */

const caseIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z, a-z, 0-9, _ or -');
const caseParams = z.object({ caseType: z.enum(CASE_TYPES), caseId: caseIdSchema });

const attentionItem = z
  .object({
    caseType: z.enum(CASE_TYPES),
    caseId: z.string(),
    status: z.string(),
    reasons: z.array(z.string()).describe('Why it needs a person (attention reasons)'),
    attentionSince: z.string().optional().describe('Since when it has needed a person'),
    ageSeconds: z.number().int().describe('How long it has needed a person'),
    slaDeadline: z.string().optional(),
    escalationLevel: z.number().int(),
    customerId: z.string(),
    orderId: z.string().optional(),
    notes: z.number().int().describe('Notes ops wrote on it'),
    href: z.string().describe('The case in this API'),
  })
  .meta({ id: 'AttentionItem' });

const noteSchema = z.object({
  noteId: z.number().int(),
  caseType: z.enum(CASE_TYPES),
  caseId: z.string(),
  author: z.string(),
  role: z.string(),
  text: z.string(),
  createdAt: z.string(),
});

interface AttentionRow {
  case_type: CaseType;
  id: string;
  status: string;
  attention_reason: string | null;
  attention_since: string | null;
  age_seconds: number;
  sla_deadline: string | null;
  escalation_level: number;
  customer_id: string;
  order_id: string | null;
  notes: number;
}

interface NoteRow {
  id: string;
  case_type: CaseType;
  case_id: string;
  author: string;
  role: string;
  text: string;
  created_at: string;
}

const noteOf = (row: NoteRow): z.infer<typeof noteSchema> => ({
  noteId: Number(row.id),
  caseType: row.case_type,
  caseId: row.case_id,
  author: row.author,
  role: row.role,
  text: row.text,
  createdAt: isoTime(row.created_at),
});

/** Every flagged case of the types asked for, as one relation (orders are their own order). */
function flaggedCases(types: readonly CaseType[]): string {
  return types
    .map(
      (type) =>
        `select '${type}' as case_type, id, status, attention_reason, attention_since, ${
          // Orders keep no SLA deadline or escalation level in their table.
          type === 'order'
            ? 'null::timestamptz as sla_deadline, 0 as escalation_level'
            : 'sla_deadline, escalation_level'
        }, customer_id, ${type === 'order' ? 'id' : 'order_id'} as order_id
           from ${CASE_TABLES[type]} where needs_attention`,
    )
    .join(' union all ');
}

async function knownCase(em: EntityManager, caseType: CaseType, caseId: string): Promise<void> {
  const [found] = await em.execute(`select 1 from ${CASE_TABLES[caseType]} where id = ?`, [caseId]);
  if (!found) throw new Problem('not-found', `no ${caseType} ${caseId}`);
}

/** How long a forced cancellation is waited for before the answer says it is still under way. */
const FORCE_CANCEL_WAIT_MS = 20_000;

export function opsRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/ops/attention',
      {
        config: { roles: OPS_READER_ROLES },
        schema: {
          tags: ['operations'],
          summary: 'Cases of every type that need a person, the longest waiting first',
          querystring: z.object({
            caseType: z.enum(CASE_TYPES).optional().describe('Only cases of this type'),
            reason: z.enum(ATTENTION_REASONS).optional().describe('Only cases flagged for this reason'),
            ...pagingQuery,
          }),
          response: { 200: pageOf(attentionItem), ...problems(400, 401, 403, 503) },
        },
      },
      async (request) => {
        const { caseType, reason, limit, offset } = request.query;
        const relation = flaggedCases(caseType ? [caseType] : CASE_TYPES);
        const where = reason ? `where ? = any(string_to_array(f.attention_reason, ','))` : '';
        const params = reason ? [reason] : [];
        const em = deps.orm.em.fork();
        const [rows, [{ total }]] = await Promise.all([
          em.execute<AttentionRow[]>(
            `select f.*, floor(extract(epoch from now() - coalesce(f.attention_since, now())))::int as age_seconds,
                    (select count(*)::int from case_notes n where n.case_type = f.case_type and n.case_id = f.id)
                      as notes
               from (${relation}) f ${where}
              order by f.attention_since nulls first, f.case_type, f.id
              limit ? offset ?`,
            [...params, limit, offset],
          ),
          em.execute<{ total: number }[]>(`select count(*)::int as total from (${relation}) f ${where}`, params),
        ]);
        return {
          items: rows.map((row) => ({
            caseType: row.case_type,
            caseId: row.id,
            status: row.status,
            reasons: row.attention_reason ? row.attention_reason.split(',') : [],
            ...(row.attention_since ? { attentionSince: isoTime(row.attention_since) } : {}),
            ageSeconds: row.age_seconds,
            ...(row.sla_deadline ? { slaDeadline: isoTime(row.sla_deadline) } : {}),
            escalationLevel: row.escalation_level,
            customerId: row.customer_id,
            ...(row.order_id ? { orderId: row.order_id } : {}),
            notes: row.notes,
            href: `/v1/${CASE_TABLES[row.case_type]}/${row.id}`,
          })),
          total,
          limit,
          offset,
        };
      },
    );

    app.post(
      '/v1/ops/cases/:caseType/:caseId/notes',
      {
        config: { roles: OPS_ACTOR_ROLES },
        schema: {
          tags: ['operations'],
          summary: 'Write down what was found or done about a case',
          params: caseParams,
          body: z.object({ text: z.string().trim().min(1).max(2000) }),
          response: { 201: noteSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request, reply) => {
        const { caseType, caseId } = request.params;
        const { text } = request.body;
        const { principal, role } = actorOf(request);
        const em = deps.orm.em.fork();
        const note = await auditedWork(
          request,
          em,
          { action: `${caseType}.note`, objectType: caseType, objectId: caseId, detail: { text } },
          async () => {
            await knownCase(em, caseType, caseId);
            const [row] = await em.execute<NoteRow[]>(
              `insert into case_notes (case_type, case_id, author, role, text) values (?, ?, ?, ?, ?)
               returning id, case_type, case_id, author, role, text, created_at`,
              [caseType, caseId, principal, role, text],
            );
            return noteOf(row);
          },
        );
        return reply.code(201).send(note);
      },
    );

    app.get(
      '/v1/ops/cases/:caseType/:caseId/notes',
      {
        config: { roles: OPS_READER_ROLES },
        schema: {
          tags: ['operations'],
          summary: 'The notes ops wrote on a case, oldest first',
          params: caseParams,
          response: { 200: z.object({ items: z.array(noteSchema) }), ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const { caseType, caseId } = request.params;
        const em = deps.orm.em.fork();
        await knownCase(em, caseType, caseId);
        const rows = await em.execute<NoteRow[]>(
          `select id, case_type, case_id, author, role, text, created_at from case_notes
            where case_type = ? and case_id = ? order by created_at, id`,
          [caseType, caseId],
        );
        return { items: rows.map(noteOf) };
      },
    );

    app.post(
      '/v1/orders/:orderId/force-cancel',
      {
        config: { roles: RECOVERY_ROLES },
        schema: {
          tags: ['operations'],
          summary: 'Cancel an order whatever its state, running its compensations (ops)',
          description:
            'Cancels the order’s workflow: every undo step it holds runs (parcels cancelled, payment voided or ' +
            'refunded, stock released) and the order ends CANCELLED. Answers 200 with the outcome once it ended, ' +
            '202 while compensations still run; 409 when the order has ended already.',
          params: z.object({ orderId: orderIdSchema }),
          body: z.object({ reason: reasonSchema }),
          response: {
            200: z.object({ orderId: z.string(), status: z.string() }),
            202: z.object({ orderId: z.string(), status: z.string() }),
            ...problems(400, 401, 403, 404, 409, 503),
          },
        },
      },
      async (request, reply) => {
        const { orderId } = request.params;
        const em = deps.orm.em.fork();
        const outcome = await auditedWork(
          request,
          em,
          {
            action: 'order.force_cancel',
            objectType: 'order',
            objectId: orderId,
            detail: { reason: request.body.reason },
          },
          async () => {
            await knownCase(em, 'order', orderId);
            const handle = deps.temporal.workflow.getHandle(orderWorkflowId(orderId));
            try {
              const { status } = await handle.describe();
              if (status.name !== 'RUNNING') throw new Problem('wrong-state', `order ${orderId} has ended already`);
              await handle.cancel();
            } catch (error) {
              if (error instanceof WorkflowNotFoundError)
                throw new Problem('wrong-state', `order ${orderId} has ended`);
              throw error;
            }
            const ended = await Promise.race([
              handle.result().then(
                () => true,
                () => true,
              ),
              new Promise<false>((resolve) => setTimeout(() => resolve(false), FORCE_CANCEL_WAIT_MS).unref()),
            ]);
            const [row] = await em.execute<{ status: string }[]>('select status from orders where id = ?', [orderId]);
            return { ended, status: row.status };
          },
        );
        return reply.code(outcome.ended ? 200 : 202).send({ orderId, status: outcome.status });
      },
    );
  };
}
