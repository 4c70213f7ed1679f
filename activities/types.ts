import type { CaseRecord, CaseType } from '../domain/case';
import type {
  Address,
  Allocation,
  CarrierExceptionKind,
  LineRequest,
  OrderView,
  PaymentMethod,
  PricedLine,
  ShipmentStatus,
  Totals,
} from '../domain/order';
import type { AuthorizeResult, Booking, DeferredResult, GatewayPayment, Tracking } from '../domain/ports';
import type { RefundReason, RefundView } from '../domain/refund';
import type { Assignment, ComplaintCategory, ComplaintView, TimelineEntry } from '../domain/complaint';
import type { ReturnClaim, ReturnMethod, ReturnReason, ReturnView } from '../domain/return';
import type { DigestFrequency, DigestTime } from '../domain/notification';

export interface PricedOrder {
  lines: PricedLine[];
  totals: Totals;
  isNewCustomer: boolean;
}

export interface OrderRecord extends CaseRecord<OrderView> {
  requestHash: string;
  /**
   * Carrier events the order applied since its last write, oldest first, recorded in the same transaction (orders
   * started with the order-local-tracking patch; older ones record each with recordShipmentEvent).
   */
  shipmentEvents?: ShipmentEventRecord[];
}

/** Why the order itself gives money back: a transfer paid too much, or a payment was replaced by another. */
export type RefundPurpose = 'excess' | 'superseded';

export interface ShipmentEventRecord {
  orderId: string;
  shipmentId: string;
  eventId: string;
  status: ShipmentStatus;
  exception?: CarrierExceptionKind;
  occurredAt: string;
}

/**
 * Everything the order workflow asks of the outside world. Each call is idempotent: Temporal may
 * run an activity again after a crash, and a second run must not reserve, charge or book twice.
 */
export interface CaseActivities {
  /** A message to the staff channel about one case (escalations, attention flags). */
  notifyStaff(req: { caseType: CaseType; caseId: string; topic: string; message: string }): Promise<void>;
}

export interface OrderActivities extends CaseActivities {
  priceOrder(req: { customerId: string; currency: string; lines: LineRequest[] }): Promise<PricedOrder>;
  /** Reserves (or, after an edit, re-reserves) stock for exactly these lines; returns where it sits. */
  reserveStock(req: { orderId: string; lines: LineRequest[]; actor: string }): Promise<Allocation[]>;
  releaseStock(req: { orderId: string; reason: string; actor: string }): Promise<void>;
  /** Turns a warehouse's reservation into an outbound stock movement once the parcel leaves. */
  commitStock(req: { orderId: string; warehouseCode: string; actor: string }): Promise<void>;

  authorizePayment(req: {
    orderId: string;
    attempt: number;
    method: PaymentMethod;
    token?: string;
    amount: number;
    currency: string;
  }): Promise<AuthorizeResult>;
  openDeferredPayment(req: {
    orderId: string;
    attempt: number;
    method: 'bank_transfer' | 'cod';
    amount: number;
    currency: string;
  }): Promise<DeferredResult>;
  capturePayment(req: { orderId: string; paymentId: string; amount: number }): Promise<number>;
  /** Throws ProviderRefused when the payment is no longer open (say the transfer arrived meanwhile). */
  voidPayment(req: { orderId: string; paymentId: string }): Promise<void>;
  /**
   * Gives back money the order holds but does not need (an excess, a replaced payment) under `refundId`: claimed
   * against what the payment captured, refunded once however often it runs, recorded as a refund of the order.
   */
  refundPayment(req: {
    refundId: string;
    orderId: string;
    paymentId: string;
    amount: number;
    reason: RefundReason;
  }): Promise<number>;
  /** The payment as the gateway knows it, written to `payments`: webhooks only hint, this is the fact. */
  syncPayment(req: { orderId: string; paymentId: string }): Promise<GatewayPayment | null>;

  /** Books an outbound parcel; `caseType`/`caseId` name the case its carrier events go to (default: the order). */
  bookShipment(req: {
    orderId: string;
    shipmentId: string;
    warehouseCode: string;
    lines: LineRequest[];
    address: Address;
    caseType?: CaseType;
    caseId?: string;
    /** What an after-sales case ships: a replacement, or goods that failed inspection going back. */
    purpose?: 'replacement' | 'send_back';
  }): Promise<Booking>;
  cancelShipment(req: { orderId: string; shipmentId: string; waybill: string }): Promise<void>;
  /** `version` counts the order's address changes, so A to B and back to A are three distinct requests. */
  changeShipmentAddress(req: { shipmentId: string; waybill: string; address: Address; version: number }): Promise<void>;
  /** The parcel as the carrier knows it, every event oldest first. */
  trackShipment(req: { orderId: string; waybill: string }): Promise<Tracking | null>;
  recordShipmentEvent(req: ShipmentEventRecord): Promise<void>;

  /** Persists the order snapshot, its status history, the customer's notifications and the audit trail. */
  recordOrder(req: OrderRecord): Promise<void>;
  /** Settles a completed order once; captured and refunded money come from the payments and refunds recorded. */
  /**
   * Settles the order unless one of its returns is open, in one statement: false when a return opened since the order
   * last looked, so the order waits for it. True once settled, however often it runs.
   */
  recordSettlement(req: { orderId: string; currency: string; total: number; shipping: number }): Promise<boolean>;
  /** How many returns of the order are still open (not CLOSED, REJECTED or EXPIRED): the order settles only at 0. */
  openReturns(req: { orderId: string }): Promise<number>;
}

/** What the refund workflow asks of the outside world; idempotent like the order's. */
export interface RefundActivities extends CaseActivities {
  /** Writes the refund snapshot, its status history, the customer's notifications and the audit trail. */
  recordRefund(req: CaseRecord<RefundView>): Promise<void>;
  /**
   * Sets `amount` aside on the order's captured money for this refund, atomically and once per refund id: on
   * `paymentId` when given, else on the order's latest captured payment with enough left. Throws a non-retryable
   * RuleViolation when that would take more than was captured, counting every other claimed refund, and a retryable
   * error while the refund's row is not recorded yet.
   */
  claimRefund(req: {
    refundId: string;
    orderId: string;
    paymentId?: string;
    amount: number;
  }): Promise<{ paymentId: string; method: PaymentMethod }>;
  /** Gives a claim back (the refund was rejected); nothing when there is none. */
  releaseRefund(req: { refundId: string }): Promise<void>;
  /**
   * Refunds the claimed amount through the payment's own channel, keyed by refund id and attempt (a new attempt only
   * after a refusal). Throws ProviderRefused when the gateway will not; updates the payment and the order's refunded
   * total on success.
   */
  executeRefund(req: {
    refundId: string;
    orderId: string;
    paymentId: string;
    amount: number;
    reason: RefundReason;
    attempt: number;
  }): Promise<{ providerRefundId: string }>;
  /** Pays the claimed amount out another way once the gateway refused: a bank transfer to the customer, or credit. */
  payoutRefund(req: {
    refundId: string;
    orderId: string;
    customerId: string;
    channel: 'bank_transfer' | 'balance';
    amount: number;
    currency: string;
    attempt: number;
  }): Promise<{ providerRefundId: string }>;
}

/** What the return workflow asks of the outside world; idempotent like the others. */
export interface ReturnActivities
  extends
    CaseActivities,
    Pick<
      OrderActivities,
      | 'bookShipment'
      | 'cancelShipment'
      | 'trackShipment'
      | 'recordShipmentEvent'
      | 'reserveStock'
      | 'releaseStock'
      | 'commitStock'
    > {
  /** Writes the return snapshot, its status history, the customer's notifications and the audit trail. */
  recordReturn(req: CaseRecord<ReturnView>): Promise<void>;
  /**
   * Claims the lines for this return, atomically per order and once per return id: the order is delivered, the return
   * is within `windowMs` of delivery, every SKU is on the order and returnable, and no more units are claimed than
   * were ordered, counting every other return that is open or was received. Throws a non-retryable RuleViolation
   * with the reason otherwise, and a retryable error while the return's row is not recorded yet.
   */
  claimReturn(req: {
    returnId: string;
    orderId: string;
    lines: LineRequest[];
    reason: ReturnReason;
    windowMs: number;
  }): Promise<ReturnClaim>;
  /** Gives the claimed lines back (rejected, expired); nothing when there is no claim. */
  releaseReturn(req: { returnId: string }): Promise<void>;
  /** Books the parcel back with the carrier (pickup or label), keyed by its shipment id, and records the shipment. */
  bookReturnParcel(req: {
    returnId: string;
    orderId: string;
    shipmentId: string;
    method: ReturnMethod;
    from: Address;
    warehouseCode: string;
    lines: LineRequest[];
  }): Promise<Booking & { labelUrl?: string }>;
  /** Puts goods that passed inspection back on the shelf: one ledger movement (kind and reason `return`) per return. */
  restockReturn(req: { returnId: string; warehouseCode: string; lines: LineRequest[]; actor: string }): Promise<void>;
  /** Recomputes a settled order's settlement after a refund (captured − refunded = net); nothing if not settled yet. */
  resettleOrder(req: { orderId: string }): Promise<void>;
}

/** A complaint's snapshot write: besides what every case writes, the timeline entries added since the last write. */
export interface ComplaintRecord extends CaseRecord<ComplaintView> {
  /** Entries by `seq`; one already stored is not stored again. */
  entries: TimelineEntry[];
  /** The digest of the request that opened the complaint, so a repeat of it is recognised once Temporal forgot it. */
  requestHash: string;
}

/** What the complaint workflow asks of the outside world; idempotent like the others. */
export interface ComplaintActivities extends CaseActivities {
  /** Writes the complaint snapshot, its timeline entries, status history, notifications and audit trail. */
  recordComplaint(req: ComplaintRecord): Promise<void>;
  /**
   * Gives the complaint to an agent and writes who has it on the complaint's row, in one transaction per team so two
   * complaints never both count the same free agent. `agentId` is a supervisor's choice (a RuleViolation when no such
   * agent exists). Otherwise: the on-duty agent with the fewest open complaints among the teams that take
   * `category`, whose skills cover it, senior when `senior`, never one in `exclude`. Null (and the row unassigned)
   * when nobody can take it now. A retry of the same call gives the same answer.
   */
  assignComplaint(req: {
    complaintId: string;
    category: ComplaintCategory;
    senior: boolean;
    agentId?: string;
    exclude?: string[];
  }): Promise<Omit<Assignment, 'at' | 'by'> | null>;
  /** Credits goodwill to the customer's platform balance once per `reference` (kind `goodwill`). */
  creditGoodwill(req: {
    complaintId: string;
    customerId: string;
    amount: number;
    currency: string;
    reference: string;
  }): Promise<void>;
}

/** One run of a digest schedule: the digest periods ended by `at` (the run's time) in each customer's zone. */
export interface DigestRequest extends DigestTime {
  frequency: DigestFrequency;
  at: string;
}

export interface DigestSummary {
  /** Digest rows written, one per customer and channel whose period had ended. */
  digests: number;
  /** Held messages they carry. */
  messages: number;
}

/** The digest schedules' work. */
export interface DigestActivities {
  /** Collects each customer's held messages of periods ended by `at` into one digest row per channel. */
  collectDigests(req: DigestRequest): Promise<DigestSummary>;
}
