import type {
  Address,
  CarrierEventType,
  CarrierExceptionKind,
  LineRequest,
  PaymentMethod,
  ShipmentStatus,
} from './order';

/**
 * What the engine needs from a payment provider. The sandbox gateway implements it; a real
 * provider's adapter implements the same. Every call carries an idempotency key: repeating a call
 * with the same key returns the first call's result and moves no money twice.
 * A transient outage throws PaymentGatewayUnavailable (retried); a decline is a result, not an error.
 */
export interface PaymentGateway {
  authorize(req: AuthorizeRequest): Promise<AuthorizeResult>;
  /** Opens a bank-transfer (or cash-on-delivery) payment that is settled later by notification or on delivery. */
  openDeferred(req: DeferredRequest): Promise<DeferredResult>;
  capture(req: { idempotencyKey: string; paymentId: string; amount: number }): Promise<MoneyMovement>;
  void(req: { idempotencyKey: string; paymentId: string }): Promise<void>;
  /** One refund per key; a payment takes as many as wanted, in total at most what was captured. */
  refund(req: { idempotencyKey: string; paymentId: string; amount: number; reason: string }): Promise<MoneyMovement>;
  /** Sends money to a customer's bank account outside any payment, for a refund the payment itself cannot take. */
  payout(req: PayoutRequest): Promise<MoneyMovement>;
  get(paymentId: string): Promise<GatewayPayment | null>;
}

export interface PayoutRequest {
  idempotencyKey: string;
  customerId: string;
  amount: number;
  currency: string;
  /** What the customer sees on the transfer, e.g. the refund id. */
  reference: string;
}

export interface AuthorizeRequest {
  idempotencyKey: string;
  orderId: string;
  method: PaymentMethod;
  token?: string;
  amount: number;
  currency: string;
}

export type AuthorizeResult =
  { status: 'authorized'; paymentId: string } | { status: 'declined'; paymentId: string; reason: string };

export interface DeferredRequest {
  idempotencyKey: string;
  orderId: string;
  method: 'bank_transfer' | 'cod';
  amount: number;
  currency: string;
}

export interface DeferredResult {
  paymentId: string;
  /** What the customer quotes on the transfer; present for bank transfers. */
  reference?: string;
}

export interface MoneyMovement {
  id: string;
  paymentId: string;
  amount: number;
}

export type GatewayPaymentStatus = 'authorized' | 'declined' | 'pending' | 'captured' | 'voided' | 'refunded';

export interface GatewayPayment {
  paymentId: string;
  orderId: string;
  method: PaymentMethod;
  status: GatewayPaymentStatus;
  amount: number;
  currency: string;
  capturedAmount: number;
  refundedAmount: number;
  reference?: string;
  /** Every refund of the payment, oldest first. */
  refunds?: GatewayRefund[];
}

export interface GatewayRefund {
  id: string;
  amount: number;
  reason: string;
  createdAt: string;
}

/** Payment notification a provider posts to /v1/webhooks/payment (signed). */
export interface PaymentNotification {
  eventId: string;
  type: 'payment.succeeded' | 'payment.failed';
  paymentId: string;
  orderId: string;
  amount: number;
  currency: string;
  occurredAt: string;
}

/** What the engine needs from a carrier. Same idempotency and error rules as the payment gateway. */
export interface Carrier {
  book(req: BookingRequest): Promise<Booking>;
  /** Cancels a booking the carrier has not picked up yet; throws CarrierRefused when it has. */
  cancel(req: { idempotencyKey: string; waybill: string }): Promise<void>;
  changeAddress(req: { idempotencyKey: string; waybill: string; address: Address }): Promise<void>;
  /** The parcel as the carrier knows it, with every tracking event oldest first: the facts a webhook only hints at. */
  track(waybill: string): Promise<Tracking | null>;
  /**
   * Books a parcel back from a customer to a warehouse: a pickup at the customer's address, or a label the customer
   * prints and takes to a drop-off point. Tracked, cancelled and reported by webhook like an outbound parcel (PICKED_UP
   * is the hand-over, DELIVERED the arrival at the warehouse).
   */
  bookReturn(req: ReturnBookingRequest): Promise<ReturnBooking>;
}

export interface ReturnBookingRequest {
  idempotencyKey: string;
  /** The engine's id of the parcel (a return case's shipment id). */
  shipmentId: string;
  orderId: string;
  method: 'pickup' | 'label';
  /** The customer's address: where the courier collects, or the sender printed on the label. */
  from: Address;
  toWarehouse: string;
  lines: LineRequest[];
}

export interface ReturnBooking {
  carrier: string;
  waybill: string;
  /** Where the customer downloads the label to print; present for method `label`. */
  labelUrl?: string;
}

export interface Tracking {
  waybill: string;
  status: ShipmentStatus;
  exception?: CarrierExceptionKind;
  /** Oldest first; the same event ids the carrier posts by webhook. */
  events: CarrierEvent[];
}

export interface BookingRequest {
  idempotencyKey: string;
  shipmentId: string;
  orderId: string;
  fromWarehouse: string;
  to: Address;
  lines: LineRequest[];
}

export interface Booking {
  carrier: string;
  waybill: string;
}

/** Tracking event a carrier posts to /v1/webhooks/carrier (signed). */
export interface CarrierEvent {
  eventId: string;
  waybill: string;
  type: CarrierEventType;
  exception?: CarrierExceptionKind;
  occurredAt: string;
  detail?: string;
}

/** Error type names shared by adapters and retry policies. */
export const PROVIDER_ERRORS = {
  unavailable: 'ProviderUnavailable',
  refused: 'ProviderRefused',
} as const;

/** The channels a notification reaches people on (NOT-1); `staff` is the staff inbox of a team. */
export const NOTIFICATION_CHANNELS = ['email', 'sms', 'push', 'in_app', 'staff'] as const;
export type NotificationChannel = (typeof NOTIFICATION_CHANNELS)[number];

/** One rendered message for one recipient on one channel. */
export interface Delivery {
  /**
   * Names the message at the provider: the same key sent again (a dispatcher that crashed after sending, before it
   * recorded the send) is answered with the first send's id and delivers nothing twice.
   */
  idempotencyKey: string;
  /** The address on this channel: an email address, an E.164 phone number, a customer id (push, in-app) or a team. */
  to: string;
  subject: string;
  text: string;
  html?: string;
  /** Where the message points the reader: the case, a tracking page. */
  link?: string;
  /** What the message is about, for the provider's records (an inbox files it by case and topic). */
  about?: { caseType?: string; caseId?: string; template?: string; topic?: string };
}

/**
 * A provider that delivers messages on one channel (an SMTP relay, an SMS gateway, a push service, the in-app
 * inbox). Errors: ProviderUnavailable for a transient failure (the same call may be retried with the same key),
 * ProviderRefused when this message can never be delivered as it is (no such number, the address is refused).
 */
export interface MessageSender {
  readonly channel: NotificationChannel;
  send(delivery: Delivery): Promise<{ providerMessageId: string }>;
}
