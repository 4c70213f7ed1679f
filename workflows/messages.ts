import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  Actor,
  Address,
  CarrierEventType,
  CarrierExceptionKind,
  LineRequest,
  OrderView,
  PaymentInstruction,
} from '../domain/order';

/** Messages of the order workflow, shared by the workflow and every client (API, tests). */

export const orderWorkflowId = (orderId: string): string => `order-${orderId}`;

export interface ReviewDecision {
  decision: 'approve' | 'reject';
  reason?: string;
  actor: Actor;
}
export const reviewOrderUpdate = defineUpdate<OrderView, [ReviewDecision]>('reviewOrder');

export interface CancelRequest {
  reason: string;
  actor: Actor;
}
export const cancelOrderUpdate = defineUpdate<OrderView, [CancelRequest]>('cancelOrder');

export interface PaymentRetry {
  payment: PaymentInstruction;
  actor: Actor;
}
export const retryPaymentUpdate = defineUpdate<OrderView, [PaymentRetry]>('retryPayment');

export interface LineEdit {
  lines: LineRequest[];
  actor: Actor;
}
export const editLinesUpdate = defineUpdate<OrderView, [LineEdit]>('editLines');

export interface AddressChange {
  address: Address;
  actor: Actor;
}
export const changeAddressUpdate = defineUpdate<OrderView, [AddressChange]>('changeAddress');

export const confirmReceiptUpdate = defineUpdate<OrderView, [{ actor: Actor }]>('confirmReceipt');

export interface PaymentNotificationSignal {
  eventId: string;
  paymentId: string;
  succeeded: boolean;
  amount: number;
  currency: string;
}
export const paymentNotificationSignal = defineSignal<[PaymentNotificationSignal]>('paymentNotification');

export interface CarrierEventSignal {
  eventId: string;
  waybill: string;
  type: CarrierEventType;
  exception?: CarrierExceptionKind;
  occurredAt: string;
}
export const carrierEventSignal = defineSignal<[CarrierEventSignal]>('carrierEvent');

/** Completes once intake (pricing, stock reservation, risk check) is done; the API answers placement with it. */
export const awaitIntakeUpdate = defineUpdate<OrderView>('awaitIntake');

export const orderStateQuery = defineQuery<OrderView>('orderState');

/** Business rejections raised by update validators and activities; the API maps them to HTTP statuses. */
export const ORDER_ERRORS = {
  wrongState: 'WrongState',
  ruleViolation: 'RuleViolation',
  forbidden: 'Forbidden',
  outOfStock: 'OutOfStock',
  unknownSku: 'UnknownSku',
  paymentDeclined: 'PaymentDeclined',
} as const;
