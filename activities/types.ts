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
import type { AuthorizeResult, Booking, DeferredResult } from '../domain/ports';

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
  voidPayment(req: { orderId: string; paymentId: string }): Promise<void>;
  refundPayment(req: { orderId: string; paymentId: string; amount: number; reason: string }): Promise<number>;

  bookShipment(req: {
    orderId: string;
    shipmentId: string;
    warehouseCode: string;
    lines: LineRequest[];
    address: Address;
  }): Promise<Booking>;
  cancelShipment(req: { orderId: string; shipmentId: string; waybill: string }): Promise<void>;
  changeShipmentAddress(req: { shipmentId: string; waybill: string; address: Address }): Promise<void>;
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
