import type { ShipmentEventRecord } from '../activities/types';
import type { Actor } from '../domain/case';
import type {
  Address,
  PaymentInstruction,
  Allocation,
  OrderInput,
  OrderStatus,
  OrderView,
  PaymentView,
  PricedLine,
  ShipmentView,
  Totals,
} from '../domain/order';
import type { RefundSummary } from '../domain/refund';
import { CaseState } from './case/state';

export interface CancelRequest {
  reason: string;
  actor: Actor;
  /** Set when the lifecycle found the order could no longer be cancelled (a parcel was already collected). */
  refused?: string;
}

/**
 * The deterministic state of one order on top of what every case holds: what it holds, and the bookkeeping of every
 * change. It performs no I/O.
 */
export class OrderCase extends CaseState<OrderStatus> {
  lines: PricedLine[] = [];
  totals: Totals;
  address: Address;
  payment: PaymentView;
  shipments: ShipmentView[] = [];
  allocations: Allocation[] = [];
  edits = 0;
  reviewReasons: string[] = [];
  cancelReason?: string;
  intakeDone = false;
  /** Set by the cancel update; the lifecycle acts on it at its next step. */
  cancelRequest?: CancelRequest;
  /** Every payment ever opened for the order, oldest first: money that arrived on any of them is used or returned. */
  readonly paymentIds: string[] = [];
  /** The payment instruction the next automatic attempt uses. */
  instruction: PaymentInstruction;
  /** Counts address changes; each carrier request carries the count so A, B and A again are three requests. */
  addressVersion = 0;
  /** Carrier events applied but not yet written: the order's next snapshot write records them (order-local-tracking). */
  unrecordedShipmentEvents: ShipmentEventRecord[] = [];
  /** Waybills a webhook said moved; only a look at the carrier's tracking turns that into facts. */
  readonly carrierHints = new Set<string>();
  /** A payment notification arrived; only the gateway's answer turns it into a payment. */
  transferHint = false;
  /** A return of the order opened or closed; only the records say how many are still open. */
  returnsHint = false;
  /** Completion is decided (receipt confirmed or timer) and waits only for the order's open returns to close. */
  awaitingReturns = false;
  /** Workflow time of the last carrier fact per shipment, for the stale-parcel check. */
  readonly progressAt = new Map<string, number>();
  private readonly seenEvents = new Set<string>();
  private readonly payments = new Map<string, { captured: number; refunded: number }>();

  /** Refund cases the order started (an order cancelled after capture). */
  readonly refunds: RefundSummary[] = [];

  constructor(readonly input: OrderInput) {
    // The status before intake decides is never stored: the first transition replaces it.
    super('PENDING_PAYMENT', new Date(input.placedAt));
    this.totals = { currency: input.currency, subtotal: 0, shipping: 0, total: 0 };
    this.address = input.shippingAddress;
    this.payment = { method: input.payment.method, status: 'NONE', attempts: 0, amount: 0, captured: 0, refunded: 0 };
    this.instruction = input.payment;
  }

  get orderId(): string {
    return this.input.orderId;
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

  /** Every parcel still on its way has arrived; a parcel cancelled (and booked again) never will. */
  get allDelivered(): boolean {
    const live = this.shipments.filter((s) => s.status !== 'CANCELLED');
    return live.length > 0 && live.every((s) => s.status === 'DELIVERED');
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
      edits: this.edits,
      reviewReasons: [...this.reviewReasons],
      cancelReason: this.cancelReason,
      refunds: this.refunds.map((r) => ({ ...r })),
      ...this.baseView(),
    };
  }
}
