import {
  ApplicationFailure,
  CancellationScope,
  condition,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { CaseActivities } from '../../activities/types';
import type { Actor, AttentionReason, CaseAudit, CaseRecord, CaseType, HistoryEntry } from '../../domain/case';
import { SYSTEM_ACTOR } from '../../domain/case';
import { RECOVERY_ROLES } from '../../domain/roles';
import {
  AttentionReasonKey,
  AwaitingSinceKey,
  CaseStatusKey,
  CaseTypeKey,
  EscalationLevelKey,
  NeedsAttentionKey,
  SlaDeadlineKey,
} from '../search-attributes';
import { CASE_ERRORS, clearAttentionUpdate, recoverStepUpdate } from './messages';
import type { CaseState } from './state';
import { guardSteps, StepAbandoned, type StepOptions } from './steps';

export const reject = (type: string, message: string): never => {
  throw ApplicationFailure.nonRetryable(message, type);
};

/** Something that stops the lifecycle where it waits (an order's cancellation); the case type decides what it does. */
export interface Interrupt {
  pending(): boolean;
  /** Acts on it: throws to unwind the lifecycle, or returns when it turned out impossible. */
  honour(): Promise<void>;
  /** Why a handler's work is refused while one is pending. */
  refusal: string;
}

export interface CaseCoreOptions<S extends string, V> {
  caseType: CaseType;
  caseId: string;
  state: CaseState<S>;
  isTerminal(status: S): boolean;
  view(): V;
  /** The case type's snapshot writer; runs guarded like every other step. */
  write(record: CaseRecord<V>): Promise<void>;
  /** Unguarded: a staff message about a parked step must not itself park. */
  notifyStaff: CaseActivities['notifyStaff'];
  stepAttentionAfterMs: number;
  /** The case type's own search attributes, published with the common ones. */
  searchAttributes?: () => SearchAttributeUpdatePair[];
  /**
   * Upsert only the search attributes whose values changed since the last upsert, and none when nothing did. Cases
   * started before a case type turned it on upserted every attribute on every write, and replay that way.
   */
  publishChangesOnly?: boolean;
  interrupt?: Interrupt;
}

export interface Escalation {
  afterMs: number;
  /** How many times to escalate; after the last, the wait goes on without a deadline. */
  levels: number;
  reason: AttentionReason;
  /** The staff channel's topic and message, per level (1 = first breach). */
  topic: string;
  message(level: number): string;
  /** Audit action of each escalation. */
  action: string;
  /** Absolute deadline of the first level, when the clock started earlier than the wait; default now + afterMs. */
  firstDeadline?: number;
  /**
   * Deadlines that move (a clock that pauses, targets that change): the deadline of each level as things stand now,
   * undefined while none runs. Re-read whenever `version()` changes. Replaces the fixed 1×, 2×, … `afterMs` schedule.
   */
  schedule?: { deadline(level: number): number | undefined; version(): number };
  /** The first level this wait may reach: a case escalated before (in an earlier run, a prior cycle) goes on from there. */
  fromLevel?: number;
  /** What the case type does on each escalation besides the flag and the staff message (say, a status of its own). */
  escalated?(level: number): Promise<void>;
}

/**
 * The mechanics every case type shares (DESIGN §3): persisting snapshots with their status history and audit,
 * publishing the search attributes ops filter on, waiting with deadlines and escalation, running work one piece at a
 * time, guarding steps so none can fail the case by itself, and compensating newest first.
 */
export function caseCore<S extends string, V>(options: CaseCoreOptions<S, V>) {
  const { state, caseType, caseId, interrupt } = options;
  const compensations: { name: string; run: () => Promise<void> }[] = [];
  let parkings = 0;
  let recovered: { through: number; action: 'retry' | 'fail'; actor: Actor } = {
    through: 0,
    action: 'retry',
    actor: SYSTEM_ACTOR,
  };

  /** What each search attribute was last upserted as. */
  const published = new Map<string, string>();
  const fingerprint = (value: unknown) => (value instanceof Date ? value.toISOString() : JSON.stringify(value));

  /** Search attributes: what ops see in the Temporal UI even when the database is the thing that is down. */
  function publish(): void {
    const reasons = [...state.attention.keys()];
    const pairs: SearchAttributeUpdatePair[] = [
      { key: CaseTypeKey, value: caseType },
      { key: CaseStatusKey, value: state.status },
      { key: NeedsAttentionKey, value: reasons.length > 0 },
      { key: AttentionReasonKey, value: reasons.length > 0 ? reasons.join(',') : null },
      { key: SlaDeadlineKey, value: state.slaDeadline ?? null },
      { key: AwaitingSinceKey, value: options.isTerminal(state.status) ? null : state.statusSince },
      { key: EscalationLevelKey, value: state.escalationLevel },
      ...(options.searchAttributes?.() ?? []),
    ];
    const changed = options.publishChangesOnly
      ? pairs.filter((pair) => published.get(pair.key.name) !== fingerprint(pair.value))
      : pairs;
    if (changed.length === 0) return;
    for (const pair of changed) published.set(pair.key.name, fingerprint(pair.value));
    upsertSearchAttributes(changed);
  }

  function guard<A extends object>(activities: A, passThrough: StepOptions<A>['passThrough']): A {
    return guardSteps(activities, {
      attentionAfterMs: options.stepAttentionAfterMs,
      passThrough,
      hooks: {
        slow(step, slow) {
          const calls = (state.slowSteps.get(step) ?? 0) + (slow ? 1 : -1);
          if (calls > 0) state.slowSteps.set(step, calls);
          else state.slowSteps.delete(step);
          if (state.slowSteps.size > 0) state.flag('step_retrying', [...state.slowSteps.keys()].join(','));
          else state.clear('step_retrying');
          publish();
        },
        async failed(step, error) {
          const ticket = ++parkings;
          state.parked = { step, error: error.cause?.message ?? error.message };
          state.flag('step_failed', `${step}: ${state.parked.error}`);
          publish();
          // Not awaited and not guarded: the database may be what refused, and the flag above is already visible.
          options
            .notifyStaff({ caseType, caseId, topic: 'step_failed', message: `${step}: ${state.parked.error}` })
            .catch(() => undefined);
          await condition(() => recovered.through >= ticket);
          return recovered.action;
        },
      },
    });
  }

  const steps = guard({ write: options.write, notifyStaff: options.notifyStaff }, {});

  async function persist(transition?: HistoryEntry<S>, audit?: CaseAudit): Promise<void> {
    publish();
    state.writing += 1;
    try {
      await steps.write({ version: state.nextVersion(), view: options.view(), transition, audit });
    } finally {
      state.writing -= 1;
    }
  }

  async function moveTo(status: S, actor: Actor = SYSTEM_ACTOR, reason?: string, audit?: CaseAudit): Promise<void> {
    await persist(state.transition(status, new Date(), actor, reason), audit);
  }

  /** Flags the case, stores the flag with an audit row and tells the staff channel. */
  async function raise(
    reason: AttentionReason,
    detail: string,
    notice: { topic: string; message: string; audit?: CaseAudit },
  ): Promise<void> {
    state.flag(reason, detail);
    await persist(undefined, notice.audit);
    await steps.notifyStaff({ caseType, caseId, topic: notice.topic, message: notice.message });
  }

  /** Waits for `ready` or the timeout, acting on an interrupt meanwhile; false only on timeout. */
  async function waitFor(ready: () => boolean, timeoutMs?: number): Promise<boolean> {
    const until = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const interrupted = () => !!interrupt?.pending();
    const done = () => ready() || interrupted();
    for (;;) {
      const left = until === undefined ? undefined : until - Date.now();
      const inTime =
        left === undefined ? (await condition(done), true) : left > 0 ? await condition(done, left) : done();
      if (interrupted()) await interrupt!.honour();
      if (ready()) return true;
      if (!inTime) return false;
      // An interrupt that turned out impossible woke us: keep waiting.
    }
  }

  /**
   * Waits for `ready`; each time a deadline passes first, flags the case, notifies staff and escalates one level
   * (deadlines at 1×, 2×, … `afterMs`, or as the schedule says), until `levels` escalations, then waits on. Clears the
   * flag and deadline once ready; the level reached stays on the case.
   */
  async function escalateAfter(ready: () => boolean, escalation: Escalation): Promise<void> {
    const first = escalation.firstDeadline ?? Date.now() + escalation.afterMs;
    const deadlineOf = escalation.schedule?.deadline ?? ((level: number) => first + escalation.afterMs * (level - 1));
    const version = escalation.schedule?.version ?? (() => 0);
    const show = (deadline: number | undefined) => {
      if (state.slaDeadline?.getTime() === deadline) return false;
      state.slaDeadline = deadline === undefined ? undefined : new Date(deadline);
      return true;
    };
    for (let level = escalation.fromLevel ?? 1; ;) {
      const due = level <= escalation.levels ? deadlineOf(level) : undefined;
      if (show(due)) publish();
      const seen = version();
      const timeout = due === undefined ? undefined : Math.max(0, due - Date.now());
      if (await waitFor(() => ready() || version() !== seen, timeout)) {
        if (ready()) break;
        continue; // the deadlines moved: read them again
      }
      state.escalationLevel = level;
      show(level < escalation.levels ? deadlineOf(level + 1) : undefined);
      await raise(escalation.reason, `level ${level}`, {
        topic: escalation.topic,
        message: escalation.message(level),
        audit: { actor: SYSTEM_ACTOR, action: escalation.action, detail: { level } },
      });
      await escalation.escalated?.(level);
      level += 1;
    }
    state.clear(escalation.reason);
    state.slaDeadline = undefined;
  }

  /**
   * Runs `work` alone among the case's other pieces of work; waiters recheck after waking, as several may wake at
   * once. A pending interrupt takes the turn for good: handlers are refused, the lifecycle acts on it.
   */
  async function exclusive<T>(work: () => Promise<T>, lifecycle = false): Promise<T> {
    for (;;) {
      if (interrupt?.pending()) {
        if (!lifecycle) reject(CASE_ERRORS.wrongState, interrupt.refusal);
        await interrupt.honour();
        continue;
      }
      if (!state.busy) break;
      await condition(() => !state.busy || !!interrupt?.pending());
    }
    state.busy = true;
    try {
      return await work();
    } catch (error) {
      // Ops gave up a step of an update: the update fails; the case itself goes on.
      if (!lifecycle && error instanceof StepAbandoned) reject(CASE_ERRORS.wrongState, error.message);
      throw error;
    } finally {
      state.busy = false;
    }
  }

  /** Registers an undo step; they run newest first. */
  function onUndo(name: string, run: () => Promise<void>): void {
    compensations.push({ name, run });
  }

  /**
   * Undoes newest first, then `finish`es the case. A step that cannot be undone is flagged for ops instead of stopping
   * the rest. Runs non-cancellable, so a workflow cancel arriving meanwhile skips no step.
   */
  async function compensate(finish: () => Promise<void>): Promise<void> {
    await CancellationScope.nonCancellable(async () => {
      for (const step of compensations.reverse()) {
        try {
          await step.run();
        } catch (error) {
          state.flag('compensation_failed', step.name);
          await options
            .notifyStaff({
              caseType,
              caseId,
              topic: 'compensation_failed',
              message: `${step.name}: ${(error as Error).message}`,
            })
            .catch(() => undefined);
        }
      }
      compensations.length = 0;
      state.slaDeadline = undefined;
      try {
        await finish();
      } catch (error) {
        // Ops gave up even the final record: the search attributes still show where the case ended.
        if (!(error instanceof StepAbandoned)) throw error;
        publish();
      }
    });
  }

  setHandler(
    recoverStepUpdate,
    ({ action, actor }) => {
      recovered = { through: parkings, action, actor };
      state.parked = undefined;
      state.clear('step_failed');
      publish();
      return Promise.resolve(options.view());
    },
    {
      validator: ({ actor }) => {
        if (!RECOVERY_ROLES.includes(actor.role)) reject(CASE_ERRORS.forbidden, `role ${actor.role} cannot do that`);
        if (!state.parked) reject(CASE_ERRORS.wrongState, `no step of this ${caseType} is waiting for ops`);
      },
    },
  );

  setHandler(
    clearAttentionUpdate,
    async ({ flag }) => {
      state.clear(flag);
      await persist();
      return options.view();
    },
    {
      validator: ({ flag, actor }) => {
        if (!RECOVERY_ROLES.includes(actor.role)) reject(CASE_ERRORS.forbidden, `role ${actor.role} cannot do that`);
        if (flag === 'step_failed') {
          reject(CASE_ERRORS.wrongState, 'a failed step is retried or given up (recover), not cleared');
        }
        if (!state.attention.has(flag)) reject(CASE_ERRORS.wrongState, `this ${caseType} is not flagged ${flag}`);
      },
    },
  );

  return {
    publish,
    guard,
    persist,
    moveTo,
    raise,
    waitFor,
    escalateAfter,
    exclusive,
    onUndo,
    compensate,
    /** Who gave up the step that made the case fail. */
    recoveredBy: () => recovered.actor,
    notifyStaff: (topic: string, message: string) => steps.notifyStaff({ caseType, caseId, topic, message }),
  };
}

export type CaseCore<S extends string, V> = ReturnType<typeof caseCore<S, V>>;
