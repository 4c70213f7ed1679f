import type { Actor } from '../domain/case';
import type {
  Assignment,
  ComplaintCarry,
  ComplaintInput,
  ComplaintOutcome,
  ComplaintPriority,
  ComplaintRating,
  ComplaintResolution,
  ComplaintStatus,
  ComplaintView,
  SlaBreach,
  SlaClock,
  SlaSchedule,
  TimelineEntry,
  TimelineKind,
} from '../domain/complaint';
import {
  breachDeadline,
  deadlineOf,
  isPaused,
  needsSeniorAgent,
  pauseClock,
  resumeClock,
  startClock,
} from '../domain/complaint';
import { CaseState } from './case/state';

/** How many of the latest timeline entries a run keeps for its view; every entry is in PostgreSQL. */
const RECENT_ENTRIES = 50;
/** How many request keys a run remembers, so a client's retry across a hand-over to the next run changes nothing. */
const REMEMBERED_KEYS = 500;

/** The deterministic state of one complaint on top of what every case holds. It performs no I/O. */
export class ComplaintCase extends CaseState<ComplaintStatus> {
  priority: ComplaintPriority;
  assignee?: Assignment;
  clock: SlaClock;
  firstResponseAt?: string;
  firstResponseBreached = false;
  breaches: SlaBreach[] = [];
  resolution?: ComplaintResolution;
  accepted?: boolean;
  rating?: ComplaintRating;
  resolvedAt?: string;
  closedAt?: string;
  outcome?: ComplaintOutcome;
  reopenCount = 0;
  runs = 1;
  readonly needsSenior: boolean;
  /** Entries of this run not yet known to be stored, and how many entries the case has in all. */
  private unwritten: TimelineEntry[] = [];
  private timeline: TimelineEntry[] = [];
  private timelineCount = 0;
  private readonly doneKeys: string[] = [];
  /** Bumped whenever the SLA deadlines may have moved (a pause, a new priority, the first response). */
  slaVersion = 0;
  /** Set by a staffing hint: the case should be given to an agent again. */
  assignmentWanted = true;
  /** Agents who went off duty while holding the case; not given it back by the same hint. */
  readonly offDuty = new Set<string>();

  constructor(readonly input: ComplaintInput) {
    super('OPEN', new Date(input.requestedAt));
    this.priority = input.priority;
    this.clock = startClock(Date.parse(input.requestedAt));
    this.needsSenior = needsSeniorAgent(input.customerLevel, input.orderTotal, input.policy);
    const carried = input.carried;
    if (carried) {
      this.restore(carried.core);
      this.priority = carried.priority;
      this.assignee = carried.assignee;
      this.clock = carried.clock;
      this.firstResponseAt = carried.firstResponseAt;
      this.firstResponseBreached = carried.firstResponseBreached;
      this.breaches = carried.breaches;
      this.resolution = carried.resolution;
      this.accepted = carried.accepted;
      this.rating = carried.rating;
      this.resolvedAt = carried.resolvedAt;
      this.closedAt = carried.closedAt;
      this.outcome = carried.outcome;
      this.reopenCount = carried.reopenCount;
      this.timelineCount = carried.timelineCount;
      this.timeline = carried.recentTimeline;
      this.doneKeys = carried.doneKeys;
      this.runs = carried.runs + 1;
      for (const agentId of carried.offDuty ?? []) this.offDuty.add(agentId);
      this.assignmentWanted = (!carried.assignee || this.offDuty.size > 0) && carried.core.status !== 'CLOSED';
    }
  }

  /** True once the case has been opened and stored: a later run starts from here. */
  get continued(): boolean {
    return this.input.carried !== undefined;
  }

  /** Adds an entry to the timeline; it is stored with the next snapshot write. */
  note(kind: TimelineKind, actor: Actor, text?: string, detail?: Record<string, unknown>, internal = false): void {
    const entry: TimelineEntry = {
      seq: this.timelineCount,
      kind,
      at: new Date().toISOString(),
      actor: actor.principal,
      role: actor.role,
      ...(text === undefined ? {} : { text }),
      internal,
      ...(detail ? { detail } : {}),
    };
    this.timelineCount += 1;
    this.timeline.push(entry);
    if (this.timeline.length > RECENT_ENTRIES * 2) this.timeline = this.timeline.slice(-RECENT_ENTRIES);
    this.unwritten.push(entry);
  }

  /** The entries to store with a write; once stored, `written` forgets them. */
  pendingEntries(): TimelineEntry[] {
    return this.unwritten.map((e) => ({ ...e }));
  }

  written(entries: TimelineEntry[]): void {
    const stored = new Set(entries.map((e) => e.seq));
    this.unwritten = this.unwritten.filter((e) => !stored.has(e.seq));
  }

  /** Whether the request named `key` was acted on already; remembers it otherwise. */
  seen(key: string): boolean {
    if (this.doneKeys.includes(key)) return true;
    this.doneKeys.push(key);
    if (this.doneKeys.length > REMEMBERED_KEYS) this.doneKeys.splice(0, this.doneKeys.length - REMEMBERED_KEYS);
    return false;
  }

  knows(key: string): boolean {
    return this.doneKeys.includes(key);
  }

  /** The SLA as it stands: targets of the current priority, the clock, and whether the first response counts. */
  schedule(): SlaSchedule {
    return {
      clock: this.clock,
      targets: this.input.policy.sla[this.priority],
      firstResponseMet: this.firstResponseAt !== undefined && !this.firstResponseBreached,
    };
  }

  breachDeadline(level: number, now: number): number | undefined {
    return breachDeadline(this.schedule(), this.input.policy.escalationLevels, level, now);
  }

  pause(at: number): void {
    this.clock = pauseClock(this.clock, at);
    this.slaVersion += 1;
  }

  resume(at: number): void {
    this.clock = resumeClock(this.clock, at);
    this.slaVersion += 1;
  }

  /** A new SLA cycle for a reopened case: the clock starts again and the first response is behind it. */
  restartClock(at: number): void {
    this.clock = startClock(at);
    this.firstResponseBreached = false;
    this.escalationLevel = 0;
    this.slaVersion += 1;
  }

  /** Whether the case is in the agents' hands (not yet resolved, nor waiting for the customer's verdict). */
  get working(): boolean {
    return this.status !== 'RESOLVED' && this.status !== 'CLOSED';
  }

  /** What the next run takes over when the case continues as new. */
  handOver(): ComplaintCarry {
    return {
      core: this.carry(),
      priority: this.priority,
      assignee: this.assignee && { ...this.assignee },
      clock: { startedAt: this.clock.startedAt, pauses: this.clock.pauses.map((p) => ({ ...p })) },
      firstResponseAt: this.firstResponseAt,
      firstResponseBreached: this.firstResponseBreached,
      breaches: this.breaches.map((b) => ({ ...b })),
      resolution: this.resolution && { ...this.resolution },
      accepted: this.accepted,
      rating: this.rating && { ...this.rating },
      resolvedAt: this.resolvedAt,
      closedAt: this.closedAt,
      outcome: this.outcome,
      reopenCount: this.reopenCount,
      timelineCount: this.timelineCount,
      recentTimeline: this.timeline.slice(-RECENT_ENTRIES).map((e) => ({ ...e })),
      doneKeys: [...this.doneKeys],
      offDuty: [...this.offDuty],
      runs: this.runs,
    };
  }

  view(): ComplaintView {
    const { input } = this;
    const now = Date.now();
    const targets = input.policy.sla[this.priority];
    const deadline = (target: number) => {
      const at = this.working ? deadlineOf(this.clock, target, now) : undefined;
      return at === undefined ? undefined : new Date(at).toISOString();
    };
    return {
      complaintId: input.complaintId,
      channel: input.channel,
      customerId: input.customerId,
      customerLevel: input.customerLevel,
      orderId: input.orderId,
      currency: input.currency,
      category: input.category,
      target: input.target,
      matter: input.matter,
      reason: input.reason,
      contact: { ...input.contact },
      priority: this.priority,
      status: this.status,
      requestedBy: { ...input.requestedBy },
      requestedAt: input.requestedAt,
      needsSenior: this.needsSenior,
      assignee: this.assignee && { ...this.assignee },
      firstResponseAt: this.firstResponseAt,
      firstResponseDeadline: this.firstResponseAt ? undefined : deadline(targets.firstResponse),
      resolutionDeadline: deadline(targets.resolution),
      slaPaused: isPaused(this.clock),
      breaches: this.breaches.map((b) => ({ ...b })),
      escalationLevel: this.escalationLevel,
      resolution: this.resolution && { ...this.resolution },
      accepted: this.accepted,
      rating: this.rating && { ...this.rating },
      resolvedAt: this.resolvedAt,
      closedAt: this.closedAt,
      outcome: this.outcome,
      reopenCount: this.reopenCount,
      timeline: this.timeline.slice(-RECENT_ENTRIES).map((e) => ({ ...e })),
      timelineCount: this.timelineCount,
      runs: this.runs,
      ...this.baseView(),
    };
  }
}
