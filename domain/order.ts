import type { Actor, HistoryEntry } from './case';
import type { RefundPolicy, RefundSummary } from './refund';
import type { ReturnSummary } from './return';
export const ORDER_STATUSES = [
  'PENDING_REVIEW',
  'PENDING_PAYMENT',
  'PAID',
  'FULFILLING',
  'SHIPPED',
  'DELIVERED',
  'COMPLETED',
  'CANCELLED',
  'FAILED',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Statuses from which nothing moves on; the workflow has ended. */
export const TERMINAL_STATUSES: readonly OrderStatus[] = ['COMPLETED', 'CANCELLED', 'FAILED'];

export const SHIPMENT_STATUSES = [
  'BOOKED',
  'PICKED_UP',
  'IN_TRANSIT',
  'OUT_FOR_DELIVERY',
  'DELIVERED',
  'EXCEPTION',
  'CANCELLED',
] as const;
export type ShipmentStatus = (typeof SHIPMENT_STATUSES)[number];

/** Events a carrier reports for a parcel. EXCEPTION carries one of CARRIER_EXCEPTION_KINDS. */
export const CARRIER_EVENT_TYPES = ['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED', 'EXCEPTION'] as const;
export type CarrierEventType = (typeof CARRIER_EVENT_TYPES)[number];
export const CARRIER_EXCEPTION_KINDS = ['lost', 'damaged', 'delayed'] as const;
export type CarrierExceptionKind = (typeof CARRIER_EXCEPTION_KINDS)[number];

export const PAYMENT_METHODS = ['card', 'wallet', 'bank_transfer', 'balance', 'instalments', 'cod'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/** Methods that authorize at placement and capture when goods ship. */
export const ONLINE_METHODS: readonly PaymentMethod[] = ['card', 'wallet', 'balance', 'instalments'];

export const ORDER_CHANNELS = ['web', 'mobile_app', 'marketplace', 'pos'] as const;
export type OrderChannel = (typeof ORDER_CHANNELS)[number];

export type PaymentStatus =
  | 'NONE'
  | 'AWAITING_TRANSFER'
  | 'AUTHORIZED'
  | 'DECLINED'
  | 'CAPTURED'
  | 'COD_PENDING'
  | 'VOIDED'
  | 'PARTIALLY_REFUNDED'
  | 'REFUNDED';

export interface Address {
  name: string;
  phone: string;
  line1: string;
  line2?: string;
  city: string;
  region?: string;
  postalCode: string;
  country: string;
}

export interface LineRequest {
  sku: string;
  quantity: number;
}

export interface PricedLine {
  sku: string;
  name: string;
  quantity: number;
  unitPrice: number;
  lineTotal: number;
}

export interface Totals {
  currency: string;
  subtotal: number;
  shipping: number;
  total: number;
}

export interface PaymentInstruction {
  method: PaymentMethod;
  /** Opaque token from the payment form (card token, wallet account); absent for bank transfer and COD. */
  token?: string;
}

/** One warehouse's part of an order: reserved there and shipped from there as one parcel. */
export interface Allocation {
  warehouseCode: string;
  lines: LineRequest[];
}

export interface ShipmentView {
  shipmentId: string;
  warehouseCode: string;
  lines: LineRequest[];
  status: ShipmentStatus;
  carrier?: string;
  waybill?: string;
  lastEventAt?: string;
  exception?: CarrierExceptionKind;
}

export interface PaymentView {
  method: PaymentMethod;
  status: PaymentStatus;
  attempts: number;
  amount: number;
  authorizationId?: string;
  /** Reference the customer quotes on a bank transfer. */
  transferReference?: string;
  captured: number;
  refunded: number;
  lastDeclineReason?: string;
}

export type { Actor } from './case';

export interface OrderPolicy {
  paymentWindowMs: number;
  reviewSlaMs: number;
  editWindowMs: number;
  maxEdits: number;
  autoCompleteAfterMs: number;
  shipmentStaleAfterMs: number;
  /** A bank transfer with no notification this long is looked up at the gateway. */
  paymentPollIntervalMs: number;
  /** Parcels with no tracking webhook this long are looked up at the carrier. */
  carrierPollIntervalMs: number;
  /** A step still retrying after this long flags the case for ops (it keeps retrying). */
  stepAttentionAfterMs: number;
  risk: RiskPolicy;
  /** For the refund cases an order starts when it is cancelled after capture. */
  refund: RefundPolicy;
}

export interface RiskPolicy {
  reviewAmountOver: number;
  maxUnitsPerSku: number;
  newCustomerAmountOver: number;
}

export interface OrderInput {
  orderId: string;
  customerId: string;
  channel: OrderChannel;
  currency: string;
  lines: LineRequest[];
  shippingAddress: Address;
  payment: PaymentInstruction;
  placedAt: string;
  placedBy: Actor;
  /** Digest of the placement request: a repeat with the same order id must carry the same one. */
  requestHash: string;
  policy: OrderPolicy;
}

export interface OrderView {
  orderId: string;
  customerId: string;
  channel: OrderChannel;
  status: OrderStatus;
  placedAt: string;
  lines: PricedLine[];
  totals: Totals;
  shippingAddress: Address;
  payment: PaymentView;
  shipments: ShipmentView[];
  history: HistoryEntry<OrderStatus>[];
  edits: number;
  needsAttention: boolean;
  attentionReasons: string[];
  reviewReasons: string[];
  cancelReason?: string;
  slaDeadline?: string;
  /** Refund cases of the order, oldest first: the ones its workflow started, or all of them when read through the API. */
  refunds: RefundSummary[];
  /** The order's returns, listed by the API from the records (the order workflow does not track them). */
  returns?: ReturnSummary[];
}

export function isTerminal(status: OrderStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function sumQuantities(lines: readonly LineRequest[]): Map<string, number> {
  const bySku = new Map<string, number>();
  for (const line of lines) bySku.set(line.sku, (bySku.get(line.sku) ?? 0) + line.quantity);
  return bySku;
}
