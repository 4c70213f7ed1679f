import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  TimeoutFailure,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import { PROVIDER_ERRORS } from '../../domain/ports';
import { CASE_ERRORS } from './messages';

/** The failure type an activity raised, e.g. `ProviderRefused`; undefined for timeouts and cancellations. */
export function failureType(error: unknown): string | undefined {
  return error instanceof ActivityFailure && error.cause instanceof ApplicationFailure
    ? (error.cause.type ?? undefined)
    : undefined;
}

/** Ops chose to give up a step that failed for good; the case unwinds and ends FAILED. */
export class StepAbandoned extends Error {
  constructor(
    readonly step: string,
    readonly reason: string,
  ) {
    super(`${step} abandoned: ${reason}`);
    this.name = 'StepAbandoned';
  }
}

export interface StepHooks {
  /** The step has been retrying for longer than `attentionAfterMs` (slow = true), or finished after that (false). */
  slow(step: string, slow: boolean): void;
  /** The step failed for good; resolves with what ops decided: run it again, or give the case up. */
  failed(step: string, error: ActivityFailure): Promise<'retry' | 'fail'>;
}

export interface StepOptions<A> {
  attentionAfterMs: number;
  /** Failure types the caller handles itself, per activity (a refusal it answers, a rule it reports). */
  passThrough: { [K in keyof A]?: readonly string[] };
  hooks: StepHooks;
}

/** Marks the functions caseActivities runs as local activities. */
const LOCAL_STEP = Symbol('localStep');

/**
 * Marks `run`, which calls a local activity of caseActivities and nothing else, as a local step for `guardSteps` (say,
 * a case type's snapshot writer handed to the core).
 */
export function asLocalStep<F extends (...args: never[]) => Promise<unknown>>(run: F): F {
  return Object.assign(run, { [LOCAL_STEP]: true });
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * Wraps activities (whose retry policy retries until they succeed) so that no step can fail a case by itself: one
 * still retrying after `attentionAfterMs` raises attention and keeps going; one that fails for good, with a failure
 * its caller does not handle, waits for ops to retry it or give up. Business refusals the caller handles pass through.
 */
export function guardSteps<A extends object>(activities: A, options: StepOptions<A>): A {
  const { attentionAfterMs, passThrough, hooks } = options;

  /** Runs an activity against a timer of `attentionAfterMs`: past it, the step is flagged slow until it settles. */
  async function settleRemote<T>(name: string, call: () => Promise<T>): Promise<Settled<T>> {
    let settled: Settled<T> | undefined;
    // Settled into a value, so a rejection that lands while only the timer is awaited is never unhandled.
    void call().then(
      (value) => (settled = { ok: true, value }),
      (error: unknown) => (settled = { ok: false, error }),
    );
    if (!(await condition(() => settled !== undefined, attentionAfterMs))) {
      hooks.slow(name, true);
      await condition(() => settled !== undefined);
      hooks.slow(name, false);
    }
    return settled!;
  }

  /**
   * Runs a local activity, whose schedule-to-close timeout is the attention time (see caseActivities): no timer runs
   * beside it, since a timer started with a local activity and cancelled by its result can replay in another order.
   * Past the timeout the step is flagged slow and run again, until it settles.
   */
  async function settleLocal<T>(name: string, call: () => Promise<T>): Promise<Settled<T>> {
    let slow = false;
    try {
      for (;;) {
        try {
          return { ok: true, value: await call() };
        } catch (error) {
          if (!(error instanceof ActivityFailure && error.cause instanceof TimeoutFailure)) return { ok: false, error };
          if (!slow) hooks.slow(name, true);
          slow = true;
        }
      }
    } finally {
      if (slow) hooks.slow(name, false);
    }
  }

  async function step<T>(name: string, call: () => Promise<T>, local: boolean): Promise<T> {
    for (;;) {
      const outcome = local ? await settleLocal(name, call) : await settleRemote(name, call);
      if (outcome.ok) return outcome.value;
      const { error } = outcome;
      const type = failureType(error);
      const handled = type !== undefined && (passThrough[name as keyof A] ?? []).includes(type);
      if (isCancellation(error) || handled || !(error instanceof ActivityFailure)) throw error;
      if ((await hooks.failed(name, error)) === 'fail') throw new StepAbandoned(name, error.cause?.message ?? '');
    }
  }

  return new Proxy(activities, {
    get(target, name) {
      const activity = Reflect.get(target, name) as unknown;
      if (typeof name !== 'string' || typeof activity !== 'function') return activity;
      const local = (activity as { [LOCAL_STEP]?: boolean })[LOCAL_STEP] === true;
      return (...args: unknown[]) =>
        step(name, () => (activity as (...a: unknown[]) => Promise<unknown>)(...args), local);
    },
  });
}

/**
 * A case's activities as every case type calls them: no attempt limit, so an outage of any length ends when the
 * dependency is back; refusals by a provider, data the database refuses and the case type's own `refusals` stop at
 * once (and go to `guardSteps`).
 *
 * The activities `local` names run as local activities: in the worker, inside the workflow task that calls them, with
 * no round trip to the server and no task queue in between, their results kept as markers in the history. They are
 * for short steps (the case's own database reads and writes, a call a customer waits on at checkout). They keep the
 * same retry policy, but every retry after the first waits on a server timer, so an outage does not hold a workflow
 * task open (and hide the case's state from queries meanwhile). Their schedule-to-close timeout is the attention time, which `guardSteps` turns into the slow
 * flag and another run. A local activity may run again when a worker dies before its workflow task completes, so,
 * like every activity, each must be idempotent.
 */
export function caseActivities<A extends object>(
  refusals: readonly string[],
  local?: { names: readonly (keyof A & string)[]; attentionAfterMs: number },
): A {
  const options: ActivityOptions = {
    startToCloseTimeout: '30s',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      nonRetryableErrorTypes: [...refusals, CASE_ERRORS.invalidData, PROVIDER_ERRORS.refused],
    },
  };
  const remote = proxyActivities<A>(options) as A;
  if (!local || local.names.length === 0) return remote;
  const localOptions: LocalActivityOptions = {
    startToCloseTimeout: options.startToCloseTimeout,
    scheduleToCloseTimeout: local.attentionAfterMs,
    retry: options.retry,
    localRetryThreshold: '1s',
  };
  const nearby = proxyLocalActivities<A>(localOptions) as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const names = new Set<string>(local.names);
  return new Proxy(remote, {
    get(target, name) {
      if (typeof name !== 'string' || !names.has(name)) return Reflect.get(target, name) as unknown;
      // A local activity's failure arrives bare; wrapped like a remote one's, callers read both the same way.
      const run = (...args: unknown[]) =>
        nearby[name](...args).catch((error: unknown) => {
          if (!(error instanceof ApplicationFailure)) throw error;
          throw new ActivityFailure(error.message, name, undefined, 'NON_RETRYABLE_FAILURE', undefined, error);
        });
      return asLocalStep(run);
    },
  });
}
