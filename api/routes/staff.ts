import type { EntityManager } from '@mikro-orm/postgresql';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AGENT_SENIORITIES, COMPLAINT_CATEGORIES, type AgentSeniority } from '../../domain/complaint';
import { complaintWorkflowId, staffingChangedSignal } from '../../workflows/complaint-messages';
import type { ApiDeps } from '../app';
import { actorOf } from '../auth';
import { auditedWork } from '../cases';
import { Problem } from '../problems';
import { isoTime } from '../records';
import { COMPLAINT_DUTY_ROLES, COMPLAINT_STAFF_READER_ROLES, COMPLAINT_STAFFING_ROLES } from '../roles';
import { pageOf, pagingQuery, problems } from '../schemas';

/**
 * The staff complaints are assigned to (CS-4): teams, each taking some categories, their agents, and who is on duty.
 * Assignment itself reads these tables in the complaint workflow's activity; a duty change tells the complaints it
 * concerns to look again.
 */

const STAFF_ID_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;
const teamIdSchema = z
  .string()
  .regex(STAFF_ID_PATTERN, 'must be 1-64 characters of A-Z, a-z, 0-9, _, ., @ or -')
  .describe('Team id, chosen by whoever sets the team up');
const agentIdSchema = z
  .string()
  .regex(STAFF_ID_PATTERN, 'must be 1-64 characters of A-Z, a-z, 0-9, _, ., @ or -')
  .describe('The agent’s principal, as their API token names it');

const categoriesSchema = z
  .array(z.enum(COMPLAINT_CATEGORIES))
  .max(COMPLAINT_CATEGORIES.length)
  .refine((categories) => new Set(categories).size === categories.length, 'must not repeat a category');

const putTeamBody = z.object({
  name: z.string().trim().min(1).max(100),
  categories: categoriesSchema.min(1).describe('The complaint categories the team takes'),
  supervisor: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .optional()
    .describe('The principal escalations of the team’s complaints go to'),
});

const teamSchema = z
  .object({
    teamId: z.string(),
    name: z.string(),
    categories: z.array(z.enum(COMPLAINT_CATEGORIES)),
    supervisor: z.string().optional(),
    agents: z.number().int().describe('Agents of the team'),
    onDuty: z.number().int().describe('Agents of the team on duty now'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'ComplaintTeam' });

const putAgentBody = z.object({
  name: z.string().trim().min(1).max(100),
  teamId: teamIdSchema,
  seniority: z.enum(AGENT_SENIORITIES).describe('Complaints of VIP customers and large orders go to senior agents'),
  skills: categoriesSchema
    .default([])
    .describe('The team’s categories this agent takes; empty (the default) for all of them'),
  onDuty: z
    .boolean()
    .optional()
    .describe('Changes the agent’s duty as POST /v1/agents/{agentId}/duty does; a new agent starts off duty'),
});

const agentSchema = z
  .object({
    agentId: z.string(),
    name: z.string(),
    teamId: z.string(),
    seniority: z.enum(AGENT_SENIORITIES),
    skills: z.array(z.enum(COMPLAINT_CATEGORIES)),
    onDuty: z.boolean(),
    lastAssignedAt: z.string().optional(),
    openComplaints: z.number().int().describe('Complaints assigned to the agent and not closed'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'ComplaintAgent' });

const listAgentsQuery = z.object({
  teamId: teamIdSchema.optional(),
  onDuty: z.stringbool().optional(),
  ...pagingQuery,
});

const dutyBody = z.object({ onDuty: z.boolean() });

const dutySchema = z.object({
  agent: agentSchema,
  signalled: z.number().int().describe('Complaints told of the change (ones whose workflow has ended do not count)'),
});

interface TeamRow {
  id: string;
  name: string;
  categories: (typeof COMPLAINT_CATEGORIES)[number][];
  supervisor: string | null;
  agents: number;
  on_duty: number;
  created_at: string;
  updated_at: string;
}

const teamOf = (row: TeamRow): z.infer<typeof teamSchema> => ({
  teamId: row.id,
  name: row.name,
  categories: row.categories,
  ...(row.supervisor ? { supervisor: row.supervisor } : {}),
  agents: row.agents,
  onDuty: row.on_duty,
  createdAt: isoTime(row.created_at),
  updatedAt: isoTime(row.updated_at),
});

const TEAM_COLUMNS = `t.id, t.name, t.categories, t.supervisor, t.created_at, t.updated_at,
  (select count(*)::int from complaint_agents a where a.team_id = t.id) as agents,
  (select count(*)::int from complaint_agents a where a.team_id = t.id and a.on_duty) as on_duty`;

interface AgentRow {
  id: string;
  name: string;
  team_id: string;
  seniority: AgentSeniority;
  skills: (typeof COMPLAINT_CATEGORIES)[number][];
  on_duty: boolean;
  last_assigned_at: string | null;
  open_complaints: number;
  created_at: string;
  updated_at: string;
}

const agentOf = (row: AgentRow): z.infer<typeof agentSchema> => ({
  agentId: row.id,
  name: row.name,
  teamId: row.team_id,
  seniority: row.seniority,
  skills: row.skills,
  onDuty: row.on_duty,
  ...(row.last_assigned_at ? { lastAssignedAt: isoTime(row.last_assigned_at) } : {}),
  openComplaints: row.open_complaints,
  createdAt: isoTime(row.created_at),
  updatedAt: isoTime(row.updated_at),
});

const AGENT_COLUMNS = `a.id, a.name, a.team_id, a.seniority, a.skills, a.on_duty, a.last_assigned_at, a.created_at,
  a.updated_at,
  (select count(*)::int from complaints c where c.assignee = a.id and c.status <> 'CLOSED') as open_complaints`;

/** Text arrays go to PostgreSQL as JSON: an empty list binds as well as a long one. */
const TEXT_ARRAY = 'array(select jsonb_array_elements_text(?::jsonb))';

async function agentFromDb(em: EntityManager, agentId: string): Promise<z.infer<typeof agentSchema> | undefined> {
  const [row] = await em.execute<AgentRow[]>(`select ${AGENT_COLUMNS} from complaint_agents a where a.id = ?`, [
    agentId,
  ]);
  return row && agentOf(row);
}

const SIGNAL_BATCH = 20;

export function staffRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  /** Every change leaves an audit row, whether it was carried out or refused. */
  const audited = <T>(
    request: FastifyRequest,
    em: EntityManager,
    action: string,
    object: { type: 'complaint_team' | 'complaint_agent'; id: string },
    detail: Record<string, unknown>,
    work: () => Promise<T>,
  ): Promise<T> => auditedWork(request, em, { action, objectType: object.type, objectId: object.id, detail }, work);

  /**
   * Tells the complaints an agent's duty concerns to look again at who has them: going off duty, the agent's open
   * complaints; coming on duty, the open complaints nobody has whose category the agent's team takes. The workflows
   * read who is on duty from PostgreSQL, so this runs after the agent's row changed. Answers how many were told; a
   * complaint whose workflow has ended is left alone.
   */
  async function signalStaffing(em: EntityManager, agentId: string, onDuty: boolean): Promise<number> {
    const rows = onDuty
      ? await em.execute<{ id: string }[]>(
          `select c.id
             from complaints c
             join complaint_agents a on a.id = ?
             join complaint_teams t on t.id = a.team_id
            where c.assignee is null and c.status <> 'CLOSED' and c.category = any(t.categories)
            order by c.created_at, c.id`,
          [agentId],
        )
      : await em.execute<{ id: string }[]>(
          `select id from complaints where assignee = ? and status <> 'CLOSED' order by created_at, id`,
          [agentId],
        );
    let signalled = 0;
    for (let i = 0; i < rows.length; i += SIGNAL_BATCH) {
      const told = await Promise.all(
        rows.slice(i, i + SIGNAL_BATCH).map(async ({ id }) => {
          try {
            await deps.temporal.workflow
              .getHandle(complaintWorkflowId(id))
              .signal(staffingChangedSignal, { agentId, onDuty });
            return 1;
          } catch (error) {
            if (error instanceof WorkflowNotFoundError) return 0;
            throw error;
          }
        }),
      );
      signalled += told.reduce<number>((sum, n) => sum + n, 0);
    }
    return signalled;
  }

  return async (app) => {
    app.put(
      '/v1/complaint-teams/:teamId',
      {
        config: { roles: COMPLAINT_STAFFING_ROLES },
        schema: {
          tags: ['staff'],
          summary: 'Set up a complaint team, or replace what it is (its name, categories and supervisor)',
          description:
            'Complaints of a category go to the on-duty agents of the teams that take it. Answers 201 when the team ' +
            'is new, else 200.',
          params: z.object({ teamId: teamIdSchema }),
          body: putTeamBody,
          response: { 200: teamSchema, 201: teamSchema, ...problems(400, 401, 403, 503) },
        },
      },
      async (request, reply) => {
        const { teamId } = request.params;
        const { name, categories, supervisor } = request.body;
        const em = deps.orm.em.fork();
        const detail = { name, categories, supervisor };
        const { created, team } = await audited(
          request,
          em,
          'complaint_team.put',
          { type: 'complaint_team', id: teamId },
          detail,
          async () => {
            const [row] = await em.execute<{ created: boolean }[]>(
              `insert into complaint_teams (id, name, categories, supervisor)
               values (?, ?, ${TEXT_ARRAY}, ?)
               on conflict (id) do update set name = excluded.name, categories = excluded.categories,
                 supervisor = excluded.supervisor, updated_at = now()
               returning (xmax = 0) as created`,
              [teamId, name, JSON.stringify(categories), supervisor ?? null],
            );
            const [stored] = await em.execute<TeamRow[]>(
              `select ${TEAM_COLUMNS} from complaint_teams t where t.id = ?`,
              [teamId],
            );
            return { created: row.created, team: teamOf(stored) };
          },
        );
        return reply.code(created ? 201 : 200).send(team);
      },
    );

    app.get(
      '/v1/complaint-teams',
      {
        config: { roles: COMPLAINT_STAFF_READER_ROLES },
        schema: {
          tags: ['staff'],
          summary: 'The complaint teams, by id, with how many of their agents are on duty',
          querystring: z.object(pagingQuery),
          response: { 200: pageOf(teamSchema), ...problems(400, 401, 403, 503) },
        },
      },
      async (request) => {
        const { limit, offset } = request.query;
        const em = deps.orm.em.fork();
        const [rows, [{ total }]] = await Promise.all([
          em.execute<TeamRow[]>(`select ${TEAM_COLUMNS} from complaint_teams t order by t.id limit ? offset ?`, [
            limit,
            offset,
          ]),
          em.execute<{ total: number }[]>('select count(*)::int as total from complaint_teams'),
        ]);
        return { items: rows.map(teamOf), total, limit, offset };
      },
    );

    app.put(
      '/v1/agents/:agentId',
      {
        config: { roles: COMPLAINT_STAFFING_ROLES },
        schema: {
          tags: ['staff'],
          summary: 'Set up an agent who takes complaints, or replace what they are (name, team, seniority, skills)',
          description:
            'The agent id is the principal their API token names. An unknown team is a 422 naming teamId. With ' +
            '`onDuty` the agent comes on or goes off duty as with POST /v1/agents/{agentId}/duty, and the complaints ' +
            'it concerns are told; without it a new agent starts off duty and an existing one keeps their duty. ' +
            'Answers 201 when the agent is new, else 200.',
          params: z.object({ agentId: agentIdSchema }),
          body: putAgentBody,
          response: { 200: agentSchema, 201: agentSchema, ...problems(400, 401, 403, 422, 503) },
        },
      },
      async (request, reply) => {
        const { agentId } = request.params;
        const { name, teamId, seniority, skills, onDuty } = request.body;
        const em = deps.orm.em.fork();
        const detail: Record<string, unknown> = { name, teamId, seniority, skills, onDuty };
        const { created, agent } = await audited(
          request,
          em,
          'complaint_agent.put',
          { type: 'complaint_agent', id: agentId },
          detail,
          async () => {
            const unknownTeam = new Problem('rule-violation', `no complaint team ${teamId}`, [
              { field: 'teamId', reason: 'no such team' },
            ]);
            const [team] = await em.execute<{ id: string }[]>('select id from complaint_teams where id = ?', [teamId]);
            if (!team) throw unknownTeam;
            let row: { created: boolean } | undefined;
            try {
              [row] = await em.execute<{ created: boolean }[]>(
                `insert into complaint_agents (id, name, team_id, seniority, skills, on_duty)
                 values (?, ?, ?, ?, ${TEXT_ARRAY}, coalesce(?::boolean, false))
                 on conflict (id) do update set name = excluded.name, team_id = excluded.team_id,
                   seniority = excluded.seniority, skills = excluded.skills,
                   on_duty = coalesce(?::boolean, complaint_agents.on_duty), updated_at = now()
                 returning (xmax = 0) as created`,
                [agentId, name, teamId, seniority, JSON.stringify(skills), onDuty ?? null, onDuty ?? null],
              );
            } catch (error) {
              // The team went away between the check and the write.
              if ((error as { code?: unknown }).code === '23503') throw unknownTeam;
              throw error;
            }
            if (onDuty !== undefined) detail.signalled = await signalStaffing(em, agentId, onDuty);
            return { created: row!.created, agent: (await agentFromDb(em, agentId))! };
          },
        );
        return reply.code(created ? 201 : 200).send(agent);
      },
    );

    app.get(
      '/v1/agents',
      {
        config: { roles: COMPLAINT_STAFF_READER_ROLES },
        schema: {
          tags: ['staff'],
          summary: 'The agents who take complaints, by id, with how many open complaints each has',
          querystring: listAgentsQuery,
          response: { 200: pageOf(agentSchema), ...problems(400, 401, 403, 503) },
        },
      },
      async (request) => {
        const { teamId, onDuty, limit, offset } = request.query;
        const where: string[] = [];
        const params: unknown[] = [];
        if (teamId) {
          where.push('a.team_id = ?');
          params.push(teamId);
        }
        if (onDuty !== undefined) {
          where.push('a.on_duty = ?');
          params.push(onDuty);
        }
        const clause = where.length > 0 ? `where ${where.join(' and ')}` : '';
        const em = deps.orm.em.fork();
        const [rows, [{ total }]] = await Promise.all([
          em.execute<AgentRow[]>(
            `select ${AGENT_COLUMNS} from complaint_agents a ${clause} order by a.id limit ? offset ?`,
            [...params, limit, offset],
          ),
          em.execute<{ total: number }[]>(`select count(*)::int as total from complaint_agents a ${clause}`, params),
        ]);
        return { items: rows.map(agentOf), total, limit, offset };
      },
    );

    app.post(
      '/v1/agents/:agentId/duty',
      {
        config: { roles: COMPLAINT_DUTY_ROLES },
        schema: {
          tags: ['staff'],
          summary: 'An agent comes on or goes off duty',
          description:
            'Agents change only their own duty (403 otherwise); supervisors and admins any agent’s. Going off duty ' +
            'hands the agent’s open complaints to other on-duty agents of their teams; coming on duty offers the ' +
            'agent the open complaints nobody has of the categories their team takes. The agent’s row changes ' +
            'first, then every complaint it concerns is told: a request that failed in between (or any request) ' +
            'can simply be repeated, and tells them again, which changes nothing for the ones already reassigned.',
          params: z.object({ agentId: agentIdSchema }),
          body: dutyBody,
          response: { 200: dutySchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => {
        const { agentId } = request.params;
        const { onDuty } = request.body;
        const actor = actorOf(request);
        const em = deps.orm.em.fork();
        const detail: Record<string, unknown> = { onDuty };
        return audited(
          request,
          em,
          'complaint_agent.duty',
          { type: 'complaint_agent', id: agentId },
          detail,
          async () => {
            if (actor.role === 'agent' && actor.principal !== agentId) {
              throw new Problem('forbidden', 'agents come on and go off duty only themselves');
            }
            const [updated] = await em.execute<{ id: string }[]>(
              'update complaint_agents set on_duty = ?, updated_at = now() where id = ? returning id',
              [onDuty, agentId],
            );
            if (!updated) throw new Problem('not-found', `no agent ${agentId}`);
            const signalled = await signalStaffing(em, agentId, onDuty);
            detail.signalled = signalled;
            return { agent: (await agentFromDb(em, agentId))!, signalled };
          },
        );
      },
    );
  };
}
