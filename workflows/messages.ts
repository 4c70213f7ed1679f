import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Actor } from '../domain/case';
import type {
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

export { recoverStepUpdate, type StepRecovery } from './case/messages';

export const confirmReceiptUpdate = defineUpdate<OrderView, [{ actor: Actor }]>('confirmReceipt');

/** A payment provider's notification: a hint to ask the gateway, never a payment in itself. */
export interface PaymentNotificationSignal {
  eventId: string;
  paymentId: string;
  succeeded: boolean;
  amount: number;
  currency: string;
}
export const paymentNotificationSignal = defineSignal<[PaymentNotificationSignal]>('paymentNotification');

/** A carrier's tracking webhook: a hint to read the parcel's tracking, never a fact in itself. */
export interface CarrierEventSignal {
  eventId: string;
  waybill: string;
  type: CarrierEventType;
  exception?: CarrierExceptionKind;
  occurredAt: string;
}
export const carrierEventSignal = defineSignal<[CarrierEventSignal]>('carrierEvent');

/** A return of the order opened or closed: a hint that the order's settlement may have to wait, or may go ahead. */
export const returnsChangedSignal = defineSignal<[{ returnId: string }]>('returnsChanged');

/** Completes once intake (pricing, stock reservation, risk check) is done; the API answers placement with it. */
export const awaitIntakeUpdate = defineUpdate<OrderView>('awaitIntake');

export const orderStateQuery = defineQuery<OrderView>('orderState');

/** The order's business rejections: the ones every case shares. */
export { CASE_ERRORS as ORDER_ERRORS } from './case/messages';
