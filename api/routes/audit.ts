import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AuditLogSchema } from '../../db/entities';
import type { ApiDeps } from '../app';
import { AUDIT_READER_ROLES } from '../roles';
import { caseTypeSchema, pageOf, pagingQuery, problems } from '../schemas';

const listAuditQuery = z
  .object({
    caseType: caseTypeSchema.optional(),
    caseId: z.string().min(1).max(64).optional().describe('With caseType: only this case'),
    action: z.string().min(1).max(100).optional().describe('e.g. refund.approve'),
    principal: z.string().min(1).max(200).optional(),
    from: z.iso.datetime({ offset: true }).optional().describe('At or after'),
    to: z.iso.datetime({ offset: true }).optional().describe('Before'),
    ...pagingQuery,
  })
  .superRefine((query, ctx) => {
    // Ids are unique per case type only: an order and a refund may share one.
    if (query.caseId && !query.caseType) {
      ctx.addIssue({ code: 'custom', path: ['caseType'], message: 'required with caseId' });
    }
    if (query.from && query.to && Date.parse(query.to) <= Date.parse(query.from)) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
    }
  });

const auditEntrySchema = z.object({
  id: z.number().int(),
  at: z.string(),
  principal: z.string(),
  role: z.string(),
  action: z.string(),
  caseType: z.string(),
  caseId: z.string(),
  result: z.string().describe('ok, rejected (a problem was answered) or error'),
  detail: z.record(z.string(), z.unknown()).nullable(),
  ip: z.string().nullable(),
});

/** Who did what to which case, and how it ended (SEC-2): every action the API took or refused, and the workflows' own. */
export function auditRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/audit',
      {
        config: { roles: AUDIT_READER_ROLES },
        schema: {
          tags: ['audit'],
          summary: 'The audit log, newest first',
          querystring: listAuditQuery,
          response: {
            200: pageOf(auditEntrySchema),
            ...problems(400, 401, 403, 503),
          },
        },
      },
      async (request) => {
        const query = request.query;
        const em = deps.orm.em.fork();
        const [rows, total] = await em.findAndCount(
          AuditLogSchema,
          {
            ...(query.caseType ? { objectType: query.caseType } : {}),
            ...(query.caseId ? { objectId: query.caseId } : {}),
            ...(query.action ? { action: query.action } : {}),
            ...(query.principal ? { principal: query.principal } : {}),
            ...(query.from || query.to
              ? {
                  at: {
                    ...(query.from ? { $gte: new Date(query.from) } : {}),
                    ...(query.to ? { $lt: new Date(query.to) } : {}),
                  },
                }
              : {}),
          },
          { orderBy: { at: 'desc', id: 'desc' }, limit: query.limit, offset: query.offset },
        );
        return {
          items: rows.map((row) => ({
            id: row.id,
            at: row.at.toISOString(),
            principal: row.principal,
            role: row.role,
            action: row.action,
            caseType: row.objectType,
            caseId: row.objectId,
            result: row.result,
            detail: row.detail ?? null,
            ip: row.ip ?? null,
          })),
          total,
          limit: query.limit,
          offset: query.offset,
        };
      },
    );
  };
}
