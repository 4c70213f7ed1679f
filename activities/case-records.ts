import { Context } from '@temporalio/activity';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { CaseAudit, CaseType, HistoryEntry } from '../domain/case';
import {
  categoryOf,
  defaultPreference,
  frequencyFor,
  type CustomerChannel,
  type NotificationFrequency,
} from '../domain/notification';
import type { CaseActivities } from './types';

/** Identifies one logical call across its retries, so rows it writes once are not written again. */
export function operationKey(): string {
  const { workflowExecution, activityId } = Context.current().info;
  return `${workflowExecution?.runId ?? 'standalone'}:${activityId}`;
}

export interface CaseTransition {
  caseType: CaseType;
  caseId: string;
  customerId: string;
  transition?: HistoryEntry;
  audit?: CaseAudit;
  /** What the customer's notifications say besides the new status and its reason. */
  payload: Record<string, unknown>;
}

/**
 * Writes what a case's change leaves behind, inside the caller's transaction: the history row, the customer's
 * notifications and the audit row. A retried write finds the history row there and notifies nobody twice.
 *
 * Who hears of the change is read first; the rows then go in one statement, the notifications only where the history
 * row is new.
 */
export async function recordTransition(
  em: EntityManager,
  { caseType, caseId, customerId, transition, audit, payload }: CaseTransition,
): Promise<void> {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (transition) {
    parts.push(
      `history as (
         insert into case_history (case_type, case_id, seq, from_status, to_status, actor, reason, at)
         values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (case_type, case_id, seq) do nothing returning id)`,
    );
    params.push(
      caseType,
      caseId,
      transition.seq,
      transition.from,
      transition.to,
      transition.actor,
      transition.reason ?? null,
      transition.at,
    );
    const template = `${caseType}.${transition.to.toLowerCase()}`;
    const { channels, frequency } = await preferenceOf(em, customerId, template);
    if (channels.length > 0) {
      const body = JSON.stringify({ ...payload, status: transition.to, reason: transition.reason });
      // A row for every channel the customer hears of it on.
      parts.push(
        `outbox as (
           insert into notification_outbox (dedupe_key, customer_id, order_id, case_type, case_id, channel, template,
             payload, status, digest)
           select * from (values ${channels.map(() => '(?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, ?)').join(', ')}) as message
           where exists (select 1 from history)
           on conflict (dedupe_key) do nothing)`,
      );
      params.push(
        ...channels.flatMap((channel) => [
          `${caseType}:${caseId}:${transition.seq}:${channel}`,
          customerId,
          caseType === 'order' ? caseId : null,
          caseType,
          caseId,
          channel,
          template,
          body,
          frequency === 'realtime' ? 'pending' : 'held',
          frequency === 'realtime' ? null : frequency,
        ]),
      );
    }
  }
  if (audit) {
    const op = operationKey();
    parts.push(
      `audit as (
         insert into audit_log (principal, role, action, object_type, object_id, result, detail)
         select ?, ?, ?, ?, ?, 'ok', ?::jsonb
         where not exists (
           select 1 from audit_log where object_type = ? and object_id = ? and detail->>'operation' = ?
         ))`,
    );
    params.push(
      audit.actor.principal,
      audit.actor.role,
      audit.action,
      caseType,
      caseId,
      JSON.stringify({ ...audit.detail, operation: op }),
      caseType,
      caseId,
      op,
    );
  }
  // Data-modifying parts of a WITH run once each, whether or not the statement reads them.
  if (parts.length > 0) await em.execute(`with ${parts.join(',\n')}\nselect 1`, params);
}

/**
 * Where and how often the customer hears of `template`: their choice for its category, or their sign-up channels in
 * real time; urgent news at once whatever they chose. A customer the engine does not know is written to by email.
 */
async function preferenceOf(
  em: EntityManager,
  customerId: string,
  template: string,
): Promise<{ channels: readonly string[]; frequency: NotificationFrequency }> {
  const category = categoryOf(template);
  const [row]: {
    notify_channels: string[];
    notify_frequency: NotificationFrequency;
    channels: CustomerChannel[] | null;
    frequency: NotificationFrequency | null;
  }[] = await em.execute(
    `select c.notify_channels, c.notify_frequency, p.channels, p.frequency
       from customers c left join notification_preferences p on p.customer_id = c.id and p.category = ?
      where c.id = ?`,
    [category, customerId],
  );
  if (!row) return { channels: ['email'], frequency: 'realtime' };
  const preference =
    row.channels && row.frequency
      ? { channels: row.channels, frequency: row.frequency }
      : defaultPreference(category, row.notify_channels, row.notify_frequency);
  return { channels: preference.channels, frequency: frequencyFor(template, preference) };
}

export function caseActivities(fork: () => EntityManager): CaseActivities {
  return {
    async notifyStaff({ caseType, caseId, topic, message }) {
      await fork().execute(
        `insert into notification_outbox (dedupe_key, customer_id, order_id, case_type, case_id, channel, template,
           payload)
         values (?, 'staff', ?, ?, ?, 'staff', ?, ?::jsonb) on conflict (dedupe_key) do nothing`,
        [
          operationKey(),
          caseType === 'order' ? caseId : null,
          caseType,
          caseId,
          `staff.${topic}`,
          JSON.stringify({ caseType, caseId, topic, message }),
        ],
      );
    },
  };
}

/** The values of the decision columns (decided_by, decided_role, decision, decision_id, decision_reason, decided_at). */
export function decisionValues(decision?: {
  actor: { principal: string; role: string };
  decision: string;
  decisionId: string;
  reason?: string;
  at: string;
}): (string | null)[] {
  return [
    decision?.actor.principal ?? null,
    decision?.actor.role ?? null,
    decision?.decision ?? null,
    decision?.decisionId ?? null,
    decision?.reason ?? null,
    decision?.at ?? null,
  ];
}

/** The values of the columns every case table has for ops (needs_attention, attention_reason, escalation_level, sla_deadline). */
export function attentionValues(view: {
  needsAttention: boolean;
  attentionReasons: string[];
  escalationLevel: number;
  slaDeadline?: string;
}): (string | number | boolean | null)[] {
  return [view.needsAttention, view.attentionReasons.join(',') || null, view.escalationLevel, view.slaDeadline ?? null];
}
