import type { Actor, AttentionReason, CaseStateCarry, HistoryEntry } from '../../domain/case';
import { SYSTEM_ACTOR } from '../../domain/case';

/**
 * What every case holds besides its own data: status and history, attention flags, the SLA deadline and escalation
 * level, and the bookkeeping that keeps handlers and the lifecycle from stepping on each other. No I/O; the case core
 * persists and publishes it.
 */
export class CaseState<S extends string> {
  status: S;
  history: HistoryEntry<S>[] = [];
  /** Why a person is needed, with a detail per reason. */
  readonly attention = new Map<AttentionReason, string>();
  slaDeadline?: Date;
  /** How often the case's current SLA was breached and escalated. */
  escalationLevel = 0;
  /** Workflow time the case entered its current status. */
  statusSince: Date;
  /**
   * Held while a piece of work that changes the case runs, so no two of them work on state the other is changing; an
   * interrupt (say an order's cancellation) takes it for good.
   */
  busy = false;
  /** Snapshot writes in flight; an update answers only once the state it reports is stored. */
  writing = 0;
  /** A step that failed for good and waits for ops. */
  parked?: { step: string; error: string };
  /** Steps retrying past the attention threshold, by name, with how many calls of each are slow. */
  readonly slowSteps = new Map<string, number>();
  private version = 0;

  constructor(initial: S, since: Date) {
    this.status = initial;
    this.statusSince = since;
  }

  /** Moves to a new status and returns the history entry to persist. */
  transition(to: S, at: Date, actor: Actor = SYSTEM_ACTOR, reason?: string): HistoryEntry<S> {
    const entry: HistoryEntry<S> = {
      seq: this.history.length,
      from: this.history.length === 0 ? null : this.status,
      to,
      at: at.toISOString(),
      actor: actor.principal,
      reason,
    };
    this.status = to;
    this.statusSince = at;
    this.history.push(entry);
    return entry;
  }

  nextVersion(): number {
    this.version += 1;
    return this.version;
  }

  flag(reason: AttentionReason, detail: string): void {
    this.attention.set(reason, detail);
  }

  clear(reason: AttentionReason): void {
    this.attention.delete(reason);
  }

  /** What the next run needs of this state when a long case continues as new. */
  carry(): CaseStateCarry<S> {
    return {
      status: this.status,
      history: this.history.map((h) => ({ ...h })),
      attention: [...this.attention],
      slaDeadline: this.slaDeadline?.toISOString(),
      escalationLevel: this.escalationLevel,
      statusSince: this.statusSince.toISOString(),
      version: this.version,
    };
  }

  /** Takes over an earlier run's state; snapshot versions go on from where it stopped. */
  restore(carried: CaseStateCarry<S>): void {
    this.status = carried.status;
    this.history = carried.history.map((h) => ({ ...h }));
    this.attention.clear();
    for (const [reason, detail] of carried.attention) this.attention.set(reason, detail);
    this.slaDeadline = carried.slaDeadline ? new Date(carried.slaDeadline) : undefined;
    this.escalationLevel = carried.escalationLevel;
    this.statusSince = new Date(carried.statusSince);
    this.version = carried.version;
  }

  /** The fields every case view carries. */
  baseView(): {
    history: HistoryEntry<S>[];
    needsAttention: boolean;
    attentionReasons: string[];
    slaDeadline?: string;
  } {
    return {
      history: this.history.map((h) => ({ ...h })),
      needsAttention: this.attention.size > 0,
      attentionReasons: [...this.attention.keys()],
      slaDeadline: this.slaDeadline?.toISOString(),
    };
  }
}
