import type {
  Actor,
  Address,
  Allocation,
  CarrierExceptionKind,
  HistoryEntry,
  LineRequest,
  OrderView,
  PaymentMethod,
  PricedLine,
  ShipmentStatus,
  Totals,
} from '../domain/order';
import type { AuthorizeResult, Booking, DeferredResult, GatewayPayment, Tracking } from '../domain/ports';

export interface PricedOrder {
  lines: PricedLine[];
  totals: Totals;
  isNewCustomer: boolean;
}

export interface OrderRecord {
  /** Monotonic per order, so a late write of an older snapshot never overwrites a newer one. */
  version: number;
  requestHash: string;
  view: OrderView;
  transition?: HistoryEntry;
  /** A human action or system event worth an audit row, beside the status history. */
  audit?: { actor: Actor; action: string; detail?: Record<string, unknown> };
}

/** Why money goes back: the order was cancelled, a transfer paid too much, or a payment was replaced by another. */
export type RefundPurpose = 'cancel' | 'excess' | 'superseded';

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
export interface OrderActivities {
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
  /** One refund per payment and purpose, so a retry never refunds twice. */
  refundPayment(req: { orderId: string; paymentId: string; amount: number; purpose: RefundPurpose }): Promise<number>;
  /** The payment as the gateway knows it, written to `payments`: webhooks only hint, this is the fact. */
  syncPayment(req: { orderId: string; paymentId: string }): Promise<GatewayPayment | null>;

  bookShipment(req: {
    orderId: string;
    shipmentId: string;
    warehouseCode: string;
    lines: LineRequest[];
    address: Address;
  }): Promise<Booking>;
  cancelShipment(req: { orderId: string; shipmentId: string; waybill: string }): Promise<void>;
  /** `version` counts the order's address changes, so A to B and back to A are three distinct requests. */
  changeShipmentAddress(req: { shipmentId: string; waybill: string; address: Address; version: number }): Promise<void>;
  /** The parcel as the carrier knows it, every event oldest first. */
  trackShipment(req: { orderId: string; waybill: string }): Promise<Tracking | null>;
  recordShipmentEvent(req: ShipmentEventRecord): Promise<void>;

  /** Persists the order snapshot, its status history, the customer's notifications and the audit trail. */
  recordOrder(req: OrderRecord): Promise<void>;
  notifyStaff(req: { orderId: string; topic: string; message: string }): Promise<void>;
  recordSettlement(req: {
    orderId: string;
    currency: string;
    total: number;
    shipping: number;
    captured: number;
    refunded: number;
  }): Promise<void>;
}
