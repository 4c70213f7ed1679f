import type {
  Actor,
  Address,
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
import type { CarrierEventSignal } from './messages';

export const SYSTEM_ACTOR: Actor = { principal: 'system', role: 'system' };

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
  cancelRequest?: { reason: string; actor: Actor };
  /** Held while an edit or a payment attempt runs, so a payment never starts on totals an edit is changing. */
  busy = false;
  /** Snapshot writes in flight; an update answers only once the state it reports is stored. */
  writing = 0;
  private version = 0;
  private readonly seenEvents = new Set<string>();
  readonly carrierInbox: CarrierEventSignal[] = [];

  constructor(readonly input: OrderInput) {
    this.totals = { currency: input.currency, subtotal: 0, shipping: 0, total: 0 };
    this.address = input.shippingAddress;
    this.payment = { method: input.payment.method, status: 'NONE', attempts: 0, amount: 0, captured: 0, refunded: 0 };
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

  /** Dedupes webhook redeliveries: true the first time an event id is seen. */
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
