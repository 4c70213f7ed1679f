import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WithStartWorkflowOperation, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  type QueryDefinition,
  type SearchAttributePair,
  type UpdateDefinition,
} from '@temporalio/common';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ATTENTION_REASONS, type Actor, type CaseType } from '../domain/case';
import { RECOVERY_ROLES, type Role } from '../domain/roles';
import type { CaseDecision } from '../workflows/case/decision';
import {
  clearAttentionUpdate,
  recoverStepUpdate,
  type AttentionClearance,
  type StepRecovery,
} from '../workflows/case/messages';
import { CaseTypeKey, CustomerIdKey } from '../workflows/search-attributes';
import type { ApiDeps } from './app';
import { actorOf } from './auth';
import { Problem, PROBLEM_BASE, toProblem } from './problems';
import { isoTime, writeAudit } from './records';
import { idempotencyHeaders, problems, reasonSchema } from './schemas';

/** What the API needs to know of a case type to read one, act on it and audit what was done. */
export interface CaseKind<V> {
  caseType: CaseType;
  /** The path parameter naming the case, e.g. `orderId` in `/v1/orders/:orderId`. */
  idParam: string;
  params: z.ZodObject;
  /** The response schema of the case's view. */
  viewSchema: z.ZodType;
  workflowId(id: string): string;
  stateQuery: QueryDefinition<V>;
  viewFromDb(em: EntityManager, id: string): Promise<V | null>;
  statusFromDb(em: EntityManager, id: string): Promise<string | null>;
  /** What the audit row of an action carried out records of its outcome, beside what was asked. */
  auditOutcome?(view: V): Record<string, unknown>;
  /**
   * Completes a view the workflow answered with (a query, an update, a start) from PostgreSQL before the API sends
   * it: a complaint's workflow keeps only its latest timeline entries, the API answers with all of them. Views read
   * from PostgreSQL (`viewFromDb`) are complete already.
   */
  complete?(em: EntityManager, view: V): Promise<V>;
}

/** Who acts, and the key naming the request: the Idempotency-Key header, or a fresh id when the caller sent none. */
export interface ActionContext {
  actor: Actor;
  key: string;
}

/** An action on a case: one route that validates a body, runs one workflow update and leaves an audit row. */
export interface CaseAction<B extends z.ZodType = z.ZodType, A = unknown> {
  method: 'POST' | 'PUT' | 'PATCH';
  path: string;
  roles: readonly Role[];
  summary: string;
  description?: string;
  body: B;
  /** Answers with the case's view, whatever its type. */
  update: UpdateDefinition<unknown, [A]>;
  args(body: z.output<B>, context: ActionContext): A;
  /** The audit row's action, e.g. `order.cancel`. */
  action(body: z.output<B>): string;
  detail(body: z.output<B>, context: ActionContext): Record<string, unknown>;
  /**
   * Refuses early what the database can tell is wrong (say, an unknown product); the workflow checks again. `id` is
   * the case's, for rules that depend on it (a complaint's remedy on the complaint's order).
   */
  precheck?(em: EntityManager, body: z.output<B>, id: string): Promise<unknown>;
}

/** Infers one action's body and update types where it is written; the table holds them all alike. */
export const caseAction = <B extends z.ZodType, A>(action: CaseAction<B, A>): CaseAction<B, A> => action;

/** The ops answer to a step that failed for good, the same for every case type; `giveUp` says what `fail` does. */
export function recoverAction(caseType: CaseType, path: string, giveUp: string) {
  return caseAction({
    method: 'POST',
    path,
    roles: RECOVERY_ROLES,
    summary: 'Retry, or give up, a step that failed for good (attention reason step_failed)',
    body: z.object({
      action: z.enum(['retry', 'fail']).describe(giveUp),
      reason: reasonSchema,
    }),
    update: recoverStepUpdate,
    args: ({ action, reason }, { actor }): StepRecovery => ({ action, reason, actor }),
    action: ({ action }) => `${caseType}.recover_${action}`,
    detail: ({ reason }) => ({ reason }),
  });
}

/**
 * Ops clearing an attention flag they dealt with, with the reason, the same for every case type. The case keeps its
 * other flags; a failed step is recovered instead.
 */
export function clearFlagAction(caseType: CaseType, path: string) {
  return caseAction({
    method: 'POST',
    path,
    roles: RECOVERY_ROLES,
    summary: 'Clear an attention flag ops dealt with, saying how',
    body: z.object({
      flag: z.enum(ATTENTION_REASONS).describe('The attention reason to clear (step_failed is recovered instead)'),
      reason: reasonSchema,
    }),
    update: clearAttentionUpdate,
    args: ({ flag, reason }, { actor }): AttentionClearance => ({ flag, reason, actor }),
    action: () => `${caseType}.clear_flag`,
    detail: ({ flag, reason }) => ({ flag, reason }),
  });
}

const DECISION_KEY =
  'The Idempotency-Key names the decision: the same decision sent again changes nothing and answers 200.';

/**
 * Approve and reject, the same for every case that waits for a person's decision (`<path>/approve`, `<path>/reject`);
 * the case's update validator checks who may decide. `rules` says who may, in the API's documentation.
 */
export function decisionActions(
  caseType: CaseType,
  path: string,
  roles: readonly Role[],
  update: UpdateDefinition<unknown, [CaseDecision]>,
  rules: string,
) {
  return [
    caseAction({
      method: 'POST',
      path: `${path}/approve`,
      roles,
      summary: `Approve a ${caseType} awaiting approval`,
      description: `${rules} ${DECISION_KEY}`,
      // Fastify hands a POST without a body over as null.
      body: z.object({ reason: reasonSchema.optional() }).nullish(),
      update,
      args: (body, { actor, key }): CaseDecision => ({
        decision: 'approve',
        reason: body?.reason,
        decisionId: key,
        actor,
      }),
      action: () => `${caseType}.approve`,
      detail: (body, { key }) => ({ decisionId: key, reason: body?.reason }),
    }),
    caseAction({
      method: 'POST',
      path: `${path}/reject`,
      roles,
      summary: `Reject a ${caseType} awaiting approval, saying why`,
      description: `${rules} ${DECISION_KEY}`,
      body: z.object({ reason: reasonSchema }),
      update,
      args: ({ reason }, { actor, key }): CaseDecision => ({ decision: 'reject', reason, decisionId: key, actor }),
      action: () => `${caseType}.reject`,
      detail: ({ reason }, { key }) => ({ decisionId: key, reason }),
    }),
  ];
}

type ZodApp = Parameters<FastifyPluginAsyncZod>[0];

const idempotencyKey = (request: FastifyRequest): string | undefined => {
  const key = request.headers['idempotency-key'];
  return typeof key === 'string' ? key : undefined;
};

/** A retried request runs its update once: the key names the update, per kind of update, within the workflow. */
function updateId(updateName: string, request: FastifyRequest): { updateId?: string } {
  const key = idempotencyKey(request);
  return key ? { updateId: `${updateName}:${key}` } : {};
}

/** JSON with sorted keys and no undefined members, so equal requests hash equally however they were written. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Digest of a request that starts a case: a repeat under the same id must carry the same one. */
export function hashRequest(normalised: unknown): string {
  return createHash('sha256').update(canonicalJson(normalised)).digest('hex');
}

/**
 * Runs `work` and leaves an audit row of it, whether it was carried out or refused; a failed audit write never hides
 * the outcome. `work` may add to `detail` what it learns on the way (what a refund of lines comes to, say).
 */
export async function auditedWork<T>(
  request: FastifyRequest,
  em: EntityManager,
  what: { action: string; objectType: string; objectId: string; detail: Record<string, unknown>; logKey?: string },
  work: () => Promise<T>,
): Promise<T> {
  const { action, objectType, objectId, detail } = what;
  const record = (result: string, extra: Record<string, unknown> = {}) =>
    writeAudit(em, {
      ...actorOf(request),
      action,
      objectType,
      objectId,
      result,
      detail: { ...detail, ...extra },
      ip: request.ip,
    }).catch((error: unknown) =>
      request.log.error({ err: error, action, [what.logKey ?? 'id']: objectId }, 'audit write failed'),
    );
  try {
    const outcome = await work();
    await record('ok');
    return outcome;
  } catch (error) {
    const problem = toProblem(error);
    await record(problem ? 'rejected' : 'error', {
      problem: PROBLEM_BASE + (problem?.problemType ?? 'internal'),
      reason: problem?.detail ?? (error as Error).message,
    });
    throw error;
  }
}

/** Reading, acting on and auditing cases of one type. */
export function caseApi<V>(deps: ApiDeps, kind: CaseKind<V>) {
  const { caseType } = kind;
  const handle = (id: string): WorkflowHandle => deps.temporal.workflow.getHandle(kind.workflowId(id));
  /** A view the workflow answered with, completed from PostgreSQL where the case type needs it. */
  const completed = (em: EntityManager, view: V): Promise<V> => kind.complete?.(em, view) ?? Promise.resolve(view);

  /** The live view from the workflow; from PostgreSQL once Temporal no longer holds the workflow. */
  async function currentView(em: EntityManager, id: string): Promise<V> {
    try {
      return await completed(em, await handle(id).query(kind.stateQuery));
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
    const stored = await kind.viewFromDb(em, id);
    if (!stored) throw new Problem('not-found', `no ${caseType} ${id}`);
    return stored;
  }

  /** Runs an update on the case; a finished case is a wrong-state conflict, not a missing one. */
  async function update(em: EntityManager, id: string, run: (handle: WorkflowHandle) => Promise<V>): Promise<V> {
    try {
      return await run(handle(id));
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      const status = await kind.statusFromDb(em, id);
      if (status) throw new Problem('wrong-state', `${caseType} ${id} is ${status} and can no longer change`);
      throw new Problem('not-found', `no ${caseType} ${id}`);
    }
  }

  /** `auditedWork` on one case of this type. */
  const audited = <T>(
    request: FastifyRequest,
    em: EntityManager,
    action: string,
    id: string,
    detail: Record<string, unknown>,
    work: () => Promise<T>,
  ): Promise<T> =>
    auditedWork(request, em, { action, objectType: caseType, objectId: id, detail, logKey: kind.idParam }, work);

  /** The workflow's description, or undefined when Temporal does not hold it (never started, or past retention). */
  async function describe(id: string) {
    try {
      return await handle(id).describe();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    }
  }

  /**
   * A start repeated under an existing id: the same request gets the case back (once `ready` answers, e.g. after
   * intake), a different one is a conflict.
   */
  async function replay(
    em: EntityManager,
    id: string,
    hash: string,
    existingHash: unknown,
    ready: UpdateDefinition<V>,
  ): Promise<{ status: 200; view: V }> {
    if (existingHash !== hash) {
      throw new Problem('conflict', `${caseType} id ${id} was already used with a different request`);
    }
    try {
      return { status: 200, view: await handle(id).executeUpdate(ready) };
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
    return { status: 200, view: await currentView(em, id) };
  }

  /**
   * The id a request starting a case names: its body field or the Idempotency-Key header (equal when both are given),
   * else a fresh one with `prefix`.
   */
  function requestedId(request: FastifyRequest, bodyId: string | undefined, field: string, prefix: string): string {
    const headerKey = idempotencyKey(request);
    if (bodyId && headerKey && bodyId !== headerKey) {
      throw new Problem('validation', `${field} and the Idempotency-Key header differ`, [
        { field, reason: 'must equal the Idempotency-Key header when both are given' },
      ]);
    }
    return bodyId ?? headerKey ?? `${prefix}_${randomBytes(12).toString('hex')}`;
  }

  /**
   * Starts the case's workflow under its id, once, and asks `ready` for the first answer (say, once intake is done) in
   * the same call to Temporal (update-with-start: one round trip instead of two). A start that finds the workflow
   * started (a retry racing this request) is answered like a repeated request.
   */
  async function startOnce(
    em: EntityManager,
    id: string,
    start: {
      workflowType: string;
      input: unknown;
      requestHash: string;
      searchAttributes: SearchAttributePair[];
      ready: UpdateDefinition<V>;
    },
  ): Promise<{ status: 200 | 201; view: V }> {
    const operation = new WithStartWorkflowOperation(start.workflowType, {
      taskQueue: deps.taskQueue,
      workflowId: kind.workflowId(id),
      args: [start.input],
      memo: { requestHash: start.requestHash },
      typedSearchAttributes: [{ key: CaseTypeKey, value: caseType }, ...start.searchAttributes],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      workflowIdConflictPolicy: 'FAIL',
    });
    try {
      return {
        status: 201,
        view: await deps.temporal.workflow.executeUpdateWithStart(start.ready, { startWorkflowOperation: operation }),
      };
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      const existing = await describe(id);
      return replay(em, id, start.requestHash, existing?.memo?.requestHash, start.ready);
    }
  }

  /**
   * Answers a request that starts a case, audited. The same request again (Temporal still holds the case, or its row
   * says what was asked under this id) gets the case back and another request under the id is a conflict; else
   * `prepare` checks the rules and builds the input, and the case starts once. `refusal` turns a first answer that
   * refused the request (say, nothing left to claim) into its problem.
   */
  async function startCase<I extends { customerId: string }>(
    request: FastifyRequest,
    em: EntityManager,
    start: {
      id: string;
      action: string;
      detail: Record<string, unknown>;
      requestHash: string;
      /** The hash of what was asked under this id before, as PostgreSQL keeps it; null when nothing was. */
      recordedHash(): Promise<string | null>;
      prepare(): Promise<I>;
      workflowType: string;
      ready: UpdateDefinition<V>;
      refusal(view: V): Problem | undefined;
    },
  ): Promise<{ status: 200 | 201; view: V }> {
    const { id, requestHash, ready } = start;
    async function answer(): Promise<{ status: 200 | 201; view: V }> {
      const existing = await describe(id);
      if (existing) return replay(em, id, requestHash, existing.memo?.requestHash, ready);
      // Temporal keeps closed workflows only so long; the row says what was asked under this id before.
      const recorded = await start.recordedHash();
      if (recorded) return replay(em, id, requestHash, recorded, ready);
      const input = await start.prepare();
      return startOnce(em, id, {
        workflowType: start.workflowType,
        input,
        requestHash,
        searchAttributes: [{ key: CustomerIdKey, value: input.customerId }],
        ready,
      });
    }
    const outcome = await audited(request, em, start.action, id, start.detail, async () => {
      const answered = await answer();
      const refused = start.refusal(answered.view);
      if (refused) throw refused;
      return answered;
    });
    return { status: outcome.status, view: await completed(em, outcome.view) };
  }

  /** Registers `GET <path>`: one case, live from its workflow, from PostgreSQL once Temporal no longer holds it. */
  function registerView(app: ZodApp, path: string, roles: readonly Role[]): void {
    app.get(
      path,
      {
        config: { roles },
        schema: {
          tags: [`${caseType}s`],
          summary: `One ${caseType}, live from its workflow`,
          params: kind.params,
          response: { 200: kind.viewSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => currentView(deps.orm.em.fork(), (request.params as Record<string, string>)[kind.idParam]),
    );
  }

  /** Registers the table of actions, one route each, all answering with the case's view. */
  function registerActions(app: ZodApp, actions: readonly CaseAction[]): void {
    for (const action of actions) {
      app.route({
        method: action.method,
        url: action.path,
        config: { roles: action.roles },
        schema: {
          tags: [`${caseType}s`],
          summary: action.summary,
          ...(action.description ? { description: action.description } : {}),
          params: kind.params,
          headers: idempotencyHeaders,
          body: action.body,
          response: { 200: kind.viewSchema, ...problems(400, 401, 403, 404, 409, 422, 503) },
        },
        handler: async (request) => {
          const id = (request.params as Record<string, string>)[kind.idParam];
          const body: unknown = request.body;
          const em = deps.orm.em.fork();
          const context: ActionContext = { actor: actorOf(request), key: idempotencyKey(request) ?? randomUUID() };
          const detail = action.detail(body, context);
          const view = await audited(request, em, action.action(body), id, detail, async () => {
            await action.precheck?.(em, body, id);
            const view = await update(
              em,
              id,
              (h) =>
                h.executeUpdate(action.update, {
                  args: [action.args(body, context)],
                  ...updateId(action.update.name, request),
                }) as Promise<V>,
            );
            Object.assign(detail, kind.auditOutcome?.(view));
            return view;
          });
          return completed(em, view);
        },
      });
    }
  }

  return { currentView, audited, describe, replay, requestedId, startOnce, startCase, registerView, registerActions };
}

/** The columns every case queue reads besides the case type's own; `order_id` is null for a case about no order. */
export interface AnyQueueRow {
  id: string;
  order_id: string | null;
  customer_id: string;
  escalation_level: number;
  needs_attention: boolean;
  attention_reason: string | null;
  sla_deadline: string | null;
  created_at: string;
  age_seconds: number;
}

/** A queue row of a case type whose cases are all about an order (refunds, returns). */
export interface QueueRow extends AnyQueueRow {
  order_id: string;
}

/** The filters and paging every case queue takes; `where` and `params` add the case type's own filters. */
export interface QueueQuery {
  status?: string[];
  orderId?: string;
  needsAttention?: boolean;
  limit: number;
  offset: number;
  where?: string[];
  params?: unknown[];
  /** The order of the page, ahead of the oldest first (`created_at, id`) that breaks ties, e.g. `sla_deadline`. */
  orderBy?: string;
}

/**
 * One page of a case table (`refunds`, `returns`, …), oldest first unless `orderBy` says otherwise, with its total
 * under the same filters.
 */
export async function queuePage<R extends AnyQueueRow>(
  em: EntityManager,
  table: string,
  columns: string,
  query: QueueQuery,
): Promise<{ rows: R[]; total: number }> {
  const where = [...(query.where ?? [])];
  const params = [...(query.params ?? [])];
  if (query.status?.length) {
    where.push('status in (?)');
    params.push(query.status);
  }
  if (query.orderId) {
    where.push('order_id = ?');
    params.push(query.orderId);
  }
  if (query.needsAttention !== undefined) {
    where.push('needs_attention = ?');
    params.push(query.needsAttention);
  }
  const clause = where.length > 0 ? `where ${where.join(' and ')}` : '';
  const [rows, [{ total }]] = await Promise.all([
    em.execute<R[]>(
      `select id, order_id, customer_id, ${columns}, escalation_level, needs_attention, attention_reason, sla_deadline,
              created_at, floor(extract(epoch from now() - created_at))::int as age_seconds
         from ${table} ${clause} order by ${query.orderBy ? `${query.orderBy}, ` : ''}created_at, id limit ? offset ?`,
      [...params, query.limit, query.offset],
    ),
    em.execute<{ total: number }[]>(`select count(*)::int as total from ${table} ${clause}`, params),
  ]);
  return { rows, total };
}

interface QueueFields {
  customerId: string;
  escalationLevel: number;
  needsAttention: boolean;
  attentionReason?: string;
  slaDeadline?: string;
  requestedAt: string;
  ageSeconds: number;
}

/** What every queue item says besides the case type's own fields; no `orderId` for a case about no order. */
export function queueFields(row: QueueRow): QueueFields & { orderId: string };
export function queueFields(row: AnyQueueRow): QueueFields & { orderId?: string };
export function queueFields(row: AnyQueueRow): QueueFields & { orderId?: string } {
  return {
    ...(row.order_id !== null ? { orderId: row.order_id } : {}),
    customerId: row.customer_id,
    escalationLevel: row.escalation_level,
    needsAttention: row.needs_attention,
    ...(row.attention_reason ? { attentionReason: row.attention_reason } : {}),
    ...(row.sla_deadline ? { slaDeadline: isoTime(row.sla_deadline) } : {}),
    requestedAt: isoTime(row.created_at),
    ageSeconds: row.age_seconds,
  };
}
