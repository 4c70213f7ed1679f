import type {
  Actor,
  Address,
  PaymentInstruction,
  Allocation,
  HistoryEntry,
  OrderInput,
  OrderStatus,
  OrderView,
  PaymentView,
  PricedLine,
  ShipmentView,
  Totals,
} from '../domain/order';

export const SYSTEM_ACTOR: Actor = { principal: 'system', role: 'system' };

export interface CancelRequest {
  reason: string;
  actor: Actor;
  /** Set when the lifecycle found the order could no longer be cancelled (a parcel was already collected). */
  refused?: string;
}

/** What ops decided for a step that failed for good. */
export interface Recovery {
  action: 'retry' | 'fail';
  reason: string;
  actor: Actor;
}

/**
 * The deterministic state of one order: what it holds, and the bookkeeping of every change.
 * It performs no I/O; the workflow persists what `drainRecords()` hands it.
 */
export class OrderCase {
  status: OrderStatus = 'PENDING_PAYMENT';
  lines: PricedLine[] = [];
  totals: Totals;
  address: Address;
  payment: PaymentView;
  shipments: ShipmentView[] = [];
  allocations: Allocation[] = [];
  history: HistoryEntry[] = [];
  edits = 0;
  attention = new Map<string, string>();
  reviewReasons: string[] = [];
  cancelReason?: string;
  slaDeadline?: Date;
  intakeDone = false;
  /** Set by the cancel update; the lifecycle acts on it at its next step. */
  cancelRequest?: CancelRequest;
  /**
   * Held while an edit, a payment attempt, a booking or an address change runs, so none of them works on state
   * another is changing; a cancellation takes it for good.
   */
  busy = false;
  /** Snapshot writes in flight; an update answers only once the state it reports is stored. */
  writing = 0;
  /** Every payment ever opened for the order, oldest first: money that arrived on any of them is used or returned. */
  readonly paymentIds: string[] = [];
  /** The payment instruction the next automatic attempt uses. */
  instruction: PaymentInstruction;
  /** Counts address changes; each carrier request carries the count so A, B and A again are three requests. */
  addressVersion = 0;
  /** Waybills a webhook said moved; only a look at the carrier's tracking turns that into facts. */
  readonly carrierHints = new Set<string>();
  /** A payment notification arrived; only the gateway's answer turns it into a payment. */
  transferHint = false;
  /** Workflow time of the last carrier fact per shipment, for the stale-parcel check. */
  readonly progressAt = new Map<string, number>();
  /** Steps retrying past the attention threshold, by name, with how many calls of each are slow. */
  readonly slowSteps = new Map<string, number>();
  /** A step that failed for good and waits for ops. */
  parked?: { step: string; error: string };
  recovery?: Recovery;
  private version = 0;
  private readonly seenEvents = new Set<string>();
  private readonly payments = new Map<string, { captured: number; refunded: number }>();

  constructor(readonly input: OrderInput) {
    this.totals = { currency: input.currency, subtotal: 0, shipping: 0, total: 0 };
    this.address = input.shippingAddress;
    this.payment = { method: input.payment.method, status: 'NONE', attempts: 0, amount: 0, captured: 0, refunded: 0 };
    this.instruction = input.payment;
  }

  get orderId(): string {
    return this.input.orderId;
  }

  /** Moves to a new status and returns the history entry to persist. */
  transition(to: OrderStatus, at: Date, actor: Actor = SYSTEM_ACTOR, reason?: string): HistoryEntry {
    const entry: HistoryEntry = {
      seq: this.history.length,
      from: this.history.length === 0 ? null : this.status,
      to,
      at: at.toISOString(),
      actor: actor.principal,
      reason,
    };
    this.status = to;
    this.history.push(entry);
    return entry;
  }

  nextVersion(): number {
    this.version += 1;
    return this.version;
  }

  flag(reason: string, detail: string): void {
    this.attention.set(reason, detail);
  }

  clear(reason: string): void {
    this.attention.delete(reason);
  }

  /** Records what the gateway says was captured and refunded on one of the order's payments. */
  notePayment(paymentId: string, captured: number, refunded: number): void {
    if (!this.paymentIds.includes(paymentId)) this.paymentIds.push(paymentId);
    this.payments.set(paymentId, { captured, refunded });
    const all = [...this.payments.values()];
    this.payment.captured = all.reduce((sum, p) => sum + p.captured, 0);
    this.payment.refunded = all.reduce((sum, p) => sum + p.refunded, 0);
  }

  noteRefund(paymentId: string, amount: number): void {
    const known = this.payments.get(paymentId) ?? { captured: 0, refunded: 0 };
    this.notePayment(paymentId, known.captured, known.refunded + amount);
  }

  /** Dedupes carrier events: true the first time an event id is seen. */
  firstSighting(eventId: string): boolean {
    if (this.seenEvents.has(eventId)) return false;
    this.seenEvents.add(eventId);
    return true;
  }

  shipmentByWaybill(waybill: string): ShipmentView | undefined {
    return this.shipments.find((s) => s.waybill === waybill);
  }

  get handedToCarrier(): boolean {
    return this.shipments.some((s) => !['BOOKED', 'CANCELLED'].includes(s.status));
  }

  get allDelivered(): boolean {
    return this.shipments.length > 0 && this.shipments.every((s) => s.status === 'DELIVERED');
  }

  view(): OrderView {
    return {
      orderId: this.orderId,
      customerId: this.input.customerId,
      channel: this.input.channel,
      status: this.status,
      placedAt: this.input.placedAt,
      lines: this.lines.map((l) => ({ ...l })),
      totals: { ...this.totals },
      shippingAddress: { ...this.address },
      payment: { ...this.payment },
      shipments: this.shipments.map((s) => ({ ...s, lines: s.lines.map((l) => ({ ...l })) })),
      history: this.history.map((h) => ({ ...h })),
      edits: this.edits,
      needsAttention: this.attention.size > 0,
      attentionReasons: [...this.attention.keys()],
      reviewReasons: [...this.reviewReasons],
      cancelReason: this.cancelReason,
      slaDeadline: this.slaDeadline?.toISOString(),
    };
  }
}
