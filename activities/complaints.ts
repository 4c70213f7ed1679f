import { ApplicationFailure } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AgentSeniority, Assignment } from '../domain/complaint';
import { CASE_ERRORS } from '../workflows/case/messages';
import { attentionValues, operationKey, recordTransition } from './case-records';
import type { ComplaintActivities } from './types';

type Assigned = Omit<Assignment, 'at' | 'by'>;

/** An agent with what an assignment answers about them. */
interface AgentRow {
  id: string;
  team_id: string;
  seniority: AgentSeniority;
  supervisor: string | null;
}

const assignedOf = (agent: AgentRow): Assigned => ({
  agentId: agent.id,
  teamId: agent.team_id,
  ...(agent.supervisor ? { supervisor: agent.supervisor } : {}),
  seniority: agent.seniority,
});

/** The part of a complaint's row the assignment owns. */
interface AssignmentRow {
  assignee: string | null;
  team_id: string | null;
  assignment_op: string | null;
}

/** Whom the row names, with their seniority and the supervisor of the team they were assigned in. */
async function currentAssignment(em: EntityManager, complaintId: string): Promise<Assigned | null> {
  const [row]: (AgentRow & { assignee: string | null })[] = await em.execute(
    `select c.assignee, c.assignee as id, c.team_id, coalesce(a.seniority, 'junior') as seniority, t.supervisor
       from complaints c
       left join complaint_agents a on a.id = c.assignee
       left join complaint_teams t on t.id = c.team_id
      where c.id = ?`,
    [complaintId],
  );
  return row?.assignee && row.team_id ? assignedOf(row) : null;
}

/**
 * The complaint case's activities. Who has a complaint (`assignee`, `team_id`, `assigned_at`, `assignment_op`) is
 * written only by the assignment, never by the snapshot, so a snapshot written late cannot undo an assignment.
 */
export function complaintActivities(
  fork: () => EntityManager,
): Pick<ComplaintActivities, 'recordComplaint' | 'assignComplaint' | 'creditGoodwill'> {
  return {
    async recordComplaint({ version, view, transition, audit, entries, requestHash }) {
      await fork().transactional(async (em) => {
        await em.execute(
          `insert into complaints (id, customer_id, order_id, channel, category, priority, status, target, matter,
             reason, contact, currency, customer_level, needs_senior, first_response_at, first_response_deadline,
             resolution_deadline, sla_paused, breaches, remedy, resolution, accepted, rating, rating_comment, outcome,
             resolved_at, closed_at, reopen_count, timeline_count, runs, requested_by, requested_role, request_hash,
             needs_attention, attention_reason, escalation_level, sla_deadline, snapshot_version, created_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?::jsonb, ?, ?, ?, ?, ?, ?,
             ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           on conflict (id) do update set customer_id = excluded.customer_id, order_id = excluded.order_id,
             channel = excluded.channel, category = excluded.category, priority = excluded.priority,
             status = excluded.status, target = excluded.target, matter = excluded.matter, reason = excluded.reason,
             contact = excluded.contact, currency = excluded.currency, customer_level = excluded.customer_level,
             needs_senior = excluded.needs_senior, first_response_at = excluded.first_response_at,
             first_response_deadline = excluded.first_response_deadline,
             resolution_deadline = excluded.resolution_deadline, sla_paused = excluded.sla_paused,
             breaches = excluded.breaches, remedy = excluded.remedy, resolution = excluded.resolution,
             accepted = excluded.accepted, rating = excluded.rating, rating_comment = excluded.rating_comment,
             outcome = excluded.outcome, resolved_at = excluded.resolved_at, closed_at = excluded.closed_at,
             reopen_count = excluded.reopen_count, timeline_count = excluded.timeline_count, runs = excluded.runs,
             requested_by = excluded.requested_by, requested_role = excluded.requested_role,
             request_hash = excluded.request_hash, needs_attention = excluded.needs_attention,
             attention_reason = excluded.attention_reason, escalation_level = excluded.escalation_level,
             sla_deadline = excluded.sla_deadline, snapshot_version = excluded.snapshot_version,
             created_at = excluded.created_at, updated_at = now()
           where complaints.snapshot_version < excluded.snapshot_version`,
          [
            view.complaintId,
            view.customerId,
            view.orderId ?? null,
            view.channel,
            view.category,
            view.priority,
            view.status,
            view.target,
            view.matter,
            view.reason,
            JSON.stringify(view.contact),
            view.currency,
            view.customerLevel,
            view.needsSenior,
            view.firstResponseAt ?? null,
            view.firstResponseDeadline ?? null,
            view.resolutionDeadline ?? null,
            view.slaPaused,
            JSON.stringify(view.breaches),
            view.resolution?.remedy.kind ?? null,
            view.resolution ? JSON.stringify(view.resolution) : null,
            view.accepted ?? null,
            view.rating?.score ?? null,
            view.rating?.comment ?? null,
            view.outcome ?? null,
            view.resolvedAt ?? null,
            view.closedAt ?? null,
            view.reopenCount,
            view.timelineCount,
            view.runs,
            view.requestedBy.principal,
            view.requestedBy.role,
            requestHash,
            ...attentionValues(view),
            version,
            view.requestedAt,
          ],
        );
        if (entries.length > 0) {
          // One statement however many entries: a retried write finds the ones it stored and stores them once.
          await em.execute(
            `insert into complaint_entries (complaint_id, seq, kind, at, actor, role, text, internal, detail)
             select ?, e.seq, e.kind, e.at, e.actor, e.role, e.text, e.internal, e.detail
               from jsonb_to_recordset(?::jsonb) as e(seq int, kind text, at timestamptz, actor text, role text,
                 "text" text, internal boolean, detail jsonb)
             on conflict (complaint_id, seq) do nothing`,
            [view.complaintId, JSON.stringify(entries)],
          );
        }
        await recordTransition(em, {
          caseType: 'complaint',
          caseId: view.complaintId,
          customerId: view.customerId,
          transition,
          audit,
          payload: {
            complaintId: view.complaintId,
            orderId: view.orderId,
            category: view.category,
            priority: view.priority,
            outcome: view.outcome,
          },
        });
      });
    },

    async assignComplaint({ complaintId, category, senior, agentId, exclude = [] }) {
      const op = operationKey();
      return fork().transactional(async (em): Promise<Assigned | null> => {
        const [row]: AssignmentRow[] = await em.execute(
          'select assignee, team_id, assignment_op from complaints where id = ? for update',
          [complaintId],
        );
        // The workflow writes the complaint's snapshot before it assigns, so a missing row is that write not landed
        // yet: a retry waits for it.
        if (!row) throw new Error(`complaint ${complaintId} is not recorded yet`);
        // This call assigned already (its reply was lost): it answers what it did, however the counts moved since.
        if (row.assignment_op === op) return currentAssignment(em, complaintId);

        let chosen: AgentRow | undefined;
        if (agentId !== undefined) {
          // A supervisor's choice: duty and skills are theirs to judge.
          [chosen] = await em.execute(
            `select a.id, a.team_id, a.seniority, t.supervisor
               from complaint_agents a join complaint_teams t on t.id = a.team_id
              where a.id = ?`,
            [agentId],
          );
          if (!chosen) throw ApplicationFailure.nonRetryable(`no agent ${agentId}`, CASE_ERRORS.ruleViolation);
        } else {
          // Assignments of one category wait here for each other, so two complaints never both count the same agent
          // free.
          await em.execute(`select pg_advisory_xact_lock(hashtext('complaint-assign:' || ?::text))`, [category]);
          // A team takes several categories, so complaints of another category may want the same agents: locking
          // them (in one order, so never a deadlock) makes those wait too.
          const candidates: { id: string }[] = await em.execute(
            `select a.id
               from complaint_agents a join complaint_teams t on t.id = a.team_id
              where a.on_duty and ? = any(t.categories) and (cardinality(a.skills) = 0 or ? = any(a.skills))
                and (not ? or a.seniority = 'senior')
                and a.id <> all(array(select jsonb_array_elements_text(?::jsonb)))
              order by a.id
              for update of a`,
            [category, category, senior, JSON.stringify(exclude)],
          );
          if (candidates.length > 0) {
            // A fresh statement: it counts what every assignment that held these agents before us committed.
            [chosen] = await em.execute(
              `select a.id, a.team_id, a.seniority, t.supervisor
                 from complaint_agents a join complaint_teams t on t.id = a.team_id
                where a.id in (?)
                order by (select count(*) from complaints c
                           where c.assignee = a.id and c.status <> 'CLOSED' and c.id <> ?),
                  a.last_assigned_at nulls first, a.id
                limit 1`,
              [candidates.map((candidate) => candidate.id), complaintId],
            );
          }
        }

        await em.execute(
          `update complaints set assignee = ?, team_id = ?, assigned_at = case when ? then now() end, assignment_op = ?,
             updated_at = now()
            where id = ?`,
          [chosen?.id ?? null, chosen?.team_id ?? null, chosen !== undefined, op, complaintId],
        );
        if (!chosen) return null;
        await em.execute('update complaint_agents set last_assigned_at = now() where id = ?', [chosen.id]);
        return assignedOf(chosen);
      });
    },

    async creditGoodwill({ complaintId, customerId, amount, currency, reference }) {
      if (!(Number.isInteger(amount) && amount > 0)) {
        throw ApplicationFailure.nonRetryable(
          `goodwill of complaint ${complaintId} must be a positive integer (minor units), not ${amount}`,
          CASE_ERRORS.ruleViolation,
        );
      }
      await fork().execute(
        `insert into customer_balance_ledger (customer_id, amount, currency, kind, reference)
         values (?, ?, ?, 'goodwill', ?) on conflict (reference) do nothing`,
        [customerId, amount, currency, reference],
      );
    },
  };
}
