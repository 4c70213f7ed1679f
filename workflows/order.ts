import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { OrderActivities } from '../activities/types';
import type { Actor, OrderInput, OrderStatus, OrderView, PaymentInstruction } from '../domain/order';
import { ONLINE_METHODS } from '../domain/order';
import { PROVIDER_ERRORS } from '../domain/ports';
import { addressChangeRefusal, assessRisk, cancelRefusal, lineEditRefusal } from '../domain/rules';
import {
  awaitIntakeUpdate,
  cancelOrderUpdate,
  carrierEventSignal,
  changeAddressUpdate,
  confirmReceiptUpdate,
  editLinesUpdate,
  ORDER_ERRORS,
  orderStateQuery,
  paymentNotificationSignal,
  retryPaymentUpdate,
  reviewOrderUpdate,
} from './messages';
import type { PaymentNotificationSignal } from './messages';
import { OrderCase, SYSTEM_ACTOR } from './order-case';
import {
  AttentionReasonKey,
  CaseTypeKey,
  ChannelKey,
  CustomerIdKey,
  NeedsAttentionKey,
  OrderStatusKey,
  OrderTotalKey,
  PaymentMethodKey,
  SlaDeadlineKey,
} from './search-attributes';

const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 12 };
const act = proxyActivities<OrderActivities>({
  startToCloseTimeout: '30s',
  retry: {
    ...retry,
    nonRetryableErrorTypes: [ORDER_ERRORS.unknownSku, ORDER_ERRORS.outOfStock, PROVIDER_ERRORS.refused],
  },
});

const REVIEWER_ROLES = ['agent', 'supervisor', 'admin'];

class OrderCancelled extends Error {}

/** One order from placement to completion or cancellation (DESIGN §3 Order). */
export async function orderWorkflow(input: OrderInput): Promise<OrderView> {
  const order = new OrderCase(input);
  const policy = input.policy;
  /** Undo steps, newest last; run in reverse when the order is cancelled. */
  const compensations: { name: string; run: () => Promise<void> }[] = [];
  let review: { approve: boolean; reason?: string; actor: Actor } | undefined;
  let paymentRetry: PaymentInstruction | undefined;
  let transfer: PaymentNotificationSignal | undefined;
  let receiptConfirmedBy: Actor | undefined;

  const now = () => new Date();

  async function persist(
    transition?: ReturnType<OrderCase['transition']>,
    audit?: { actor: Actor; action: string; detail?: Record<string, unknown> },
  ) {
    upsertSearchAttributes([
      { key: OrderStatusKey, value: order.status },
      { key: NeedsAttentionKey, value: order.attention.size > 0 },
      { key: AttentionReasonKey, value: order.attention.size > 0 ? [...order.attention.keys()].join(',') : null },
      { key: SlaDeadlineKey, value: order.slaDeadline ?? null },
      { key: OrderTotalKey, value: order.totals.total },
      { key: PaymentMethodKey, value: order.payment.method },
    ]);
    order.writing += 1;
    try {
      await act.recordOrder({
        version: order.nextVersion(),
        requestHash: input.requestHash,
        view: order.view(),
        transition,
        audit,
      });
    } finally {
      order.writing -= 1;
    }
  }

  async function moveTo(status: OrderStatus, actor: Actor = SYSTEM_ACTOR, reason?: string) {
    await persist(order.transition(status, now(), actor, reason));
  }

  function throwIfCancelled() {
    if (order.cancelRequest) throw new OrderCancelled(order.cancelRequest.reason);
  }

  /** Waits for `ready`, a cancel request, or the timeout; false only on timeout. */
  async function waitFor(ready: () => boolean, timeoutMs?: number): Promise<boolean> {
    const done = () => ready() || !!order.cancelRequest;
    const ok = timeoutMs === undefined ? (await condition(done), true) : await condition(done, timeoutMs);
    throwIfCancelled();
    return ok;
  }

  /** Runs `work` alone among edits and payment attempts; waiters recheck after waking, as several may wake at once. */
  async function exclusive<T>(work: () => Promise<T>): Promise<T> {
    while (order.busy) await condition(() => !order.busy);
    order.busy = true;
    try {
      return await work();
    } finally {
      order.busy = false;
    }
  }

  const reject = (type: string, message: string) => {
    throw ApplicationFailure.nonRetryable(message, type);
  };

  setHandler(orderStateQuery, () => order.view());

  setHandler(awaitIntakeUpdate, async () => {
    await condition(() => order.intakeDone);
    return order.view();
  });

  setHandler(
    reviewOrderUpdate,
    async ({ decision, reason, actor }) => {
      review = { approve: decision === 'approve', reason, actor };
      await condition(() => order.status !== 'PENDING_REVIEW' && order.writing === 0);
      return order.view();
    },
    {
      validator: ({ decision, reason, actor }) => {
        if (!REVIEWER_ROLES.includes(actor.role))
          reject(ORDER_ERRORS.forbidden, `role ${actor.role} cannot review orders`);
        if (order.status !== 'PENDING_REVIEW' || review)
          reject(ORDER_ERRORS.wrongState, `order is ${order.status}, not awaiting review`);
        if (decision === 'reject' && !reason?.trim()) reject(ORDER_ERRORS.ruleViolation, 'a rejection needs a reason');
      },
    },
  );

  setHandler(
    cancelOrderUpdate,
    async ({ reason, actor }) => {
      order.cancelRequest = { reason, actor };
      await condition(() => order.status === 'CANCELLED' && order.writing === 0);
      return order.view();
    },
    {
      validator: (_request) => {
        const refusal = order.cancelRequest
          ? 'cancellation already in progress'
          : cancelRefusal(order.status, order.shipments);
        if (refusal) reject(ORDER_ERRORS.wrongState, refusal);
      },
    },
  );

  setHandler(
    retryPaymentUpdate,
    async ({ payment }) => {
      paymentRetry = payment;
      await condition(() => !paymentRetry && !order.busy);
      return order.view();
    },
    {
      validator: (_request) => {
        if (order.status !== 'PENDING_PAYMENT')
          reject(ORDER_ERRORS.wrongState, `order is ${order.status}, not awaiting payment`);
        if (paymentRetry) reject(ORDER_ERRORS.wrongState, 'a payment attempt is already in progress');
        if (order.payment.status === 'AUTHORIZED') reject(ORDER_ERRORS.wrongState, 'the order is already paid');
      },
    },
  );

  setHandler(
    editLinesUpdate,
    async ({ lines, actor }) =>
      exclusive(async () => {
        // A payment attempt may have finished while this edit waited.
        if (
          order.status !== 'PENDING_PAYMENT' ||
          ['AUTHORIZED', 'CAPTURED', 'COD_PENDING'].includes(order.payment.status)
        ) {
          reject(ORDER_ERRORS.wrongState, 'the order is already paid');
        }
        const priced = await act.priceOrder({ customerId: input.customerId, currency: input.currency, lines });
        order.allocations = await act.reserveStock({ orderId: order.orderId, lines, actor: actor.principal });
        order.lines = priced.lines;
        order.totals = priced.totals;
        order.edits += 1;
        await persist(undefined, { actor, action: 'order.edit_lines', detail: { lines } });
        return order.view();
      }),
    {
      validator: ({ lines }) => {
        if (['AUTHORIZED', 'CAPTURED', 'COD_PENDING'].includes(order.payment.status)) {
          reject(ORDER_ERRORS.wrongState, 'the order is already paid');
        }
        const refusal = lineEditRefusal({
          status: order.status,
          placedAt: workflowInfo().startTime.toISOString(),
          now: Date.now(),
          editsSoFar: order.edits,
          editWindowMs: policy.editWindowMs,
          maxEdits: policy.maxEdits,
        });
        if (refusal)
          reject(order.status === 'PENDING_PAYMENT' ? ORDER_ERRORS.ruleViolation : ORDER_ERRORS.wrongState, refusal);
        if (lines.length === 0) reject(ORDER_ERRORS.ruleViolation, 'an order needs at least one line');
      },
    },
  );

  setHandler(
    changeAddressUpdate,
    async ({ address, actor }) => {
      for (const shipment of order.shipments) {
        if (shipment.waybill && shipment.status === 'BOOKED') {
          try {
            await act.changeShipmentAddress({ shipmentId: shipment.shipmentId, waybill: shipment.waybill, address });
          } catch (error) {
            // The carrier collected the parcel between the validator and this call: a rule answer, not a failure.
            if (
              error instanceof ActivityFailure &&
              error.cause instanceof ApplicationFailure &&
              error.cause.type === PROVIDER_ERRORS.refused
            ) {
              reject(
                ORDER_ERRORS.ruleViolation,
                `the carrier no longer accepts an address change for ${shipment.waybill}`,
              );
            }
            throw error;
          }
        }
      }
      order.address = address;
      await persist(undefined, { actor, action: 'order.change_address', detail: { address } });
      return order.view();
    },
    {
      validator: (_request) => {
        const refusal = addressChangeRefusal(order.status, order.shipments);
        if (refusal) reject(ORDER_ERRORS.ruleViolation, refusal);
      },
    },
  );

  setHandler(
    confirmReceiptUpdate,
    async ({ actor }) => {
      receiptConfirmedBy = actor;
      await condition(() => order.status === 'COMPLETED' && order.writing === 0);
      return order.view();
    },
    {
      validator: (_request) => {
        if (order.status !== 'DELIVERED') reject(ORDER_ERRORS.wrongState, `order is ${order.status}, not delivered`);
      },
    },
  );

  setHandler(paymentNotificationSignal, (notification) => {
    if (order.firstSighting(notification.eventId)) transfer = notification;
  });

  setHandler(carrierEventSignal, (event) => {
    if (order.firstSighting(event.eventId)) order.carrierInbox.push(event);
  });

  /** Cancels at intake when the catalogue or stock changed since the API checked the request. */
  async function refuseAtIntake(error: unknown): Promise<false> {
    const type =
      error instanceof ActivityFailure && error.cause instanceof ApplicationFailure ? error.cause.type : undefined;
    if (type !== ORDER_ERRORS.outOfStock && type !== ORDER_ERRORS.unknownSku) throw error;
    order.cancelReason = type === ORDER_ERRORS.outOfStock ? 'out_of_stock' : 'unknown_sku';
    await moveTo('CANCELLED', input.placedBy, (error as ActivityFailure).cause?.message);
    order.intakeDone = true;
    return false;
  }

  async function intake(): Promise<boolean> {
    let priced;
    try {
      priced = await act.priceOrder({ customerId: input.customerId, currency: input.currency, lines: input.lines });
    } catch (error) {
      return refuseAtIntake(error);
    }
    order.lines = priced.lines;
    order.totals = priced.totals;
    order.reviewReasons = assessRisk(
      { total: priced.totals.total, lines: input.lines, isNewCustomer: priced.isNewCustomer },
      policy.risk,
    );
    upsertSearchAttributes([
      { key: CaseTypeKey, value: 'order' },
      { key: CustomerIdKey, value: input.customerId },
      { key: ChannelKey, value: input.channel },
    ]);
    try {
      order.allocations = await act.reserveStock({ orderId: order.orderId, lines: input.lines, actor: 'system' });
    } catch (error) {
      return refuseAtIntake(error);
    }
    compensations.push({
      name: 'release stock',
      run: () => act.releaseStock({ orderId: order.orderId, reason: 'order cancelled', actor: 'system' }),
    });
    compensations.push({ name: 'return payment', run: () => settleBack() });
    const first: OrderStatus = order.reviewReasons.length > 0 ? 'PENDING_REVIEW' : 'PENDING_PAYMENT';
    if (first === 'PENDING_REVIEW') order.slaDeadline = new Date(Date.now() + policy.reviewSlaMs);
    await moveTo(first, input.placedBy, order.reviewReasons.join(', ') || 'placed');
    // An order awaiting payment answers placement only after its first payment attempt.
    if (first === 'PENDING_REVIEW') order.intakeDone = true;
    return true;
  }

  async function awaitReview(): Promise<boolean> {
    if (!(await waitFor(() => !!review, policy.reviewSlaMs))) {
      order.flag('review_sla_breached', `unreviewed after ${policy.reviewSlaMs} ms`);
      await persist(undefined, { actor: SYSTEM_ACTOR, action: 'order.review_escalated' });
      await act.notifyStaff({
        orderId: order.orderId,
        topic: 'review_sla_breached',
        message: `order ${order.orderId} waits for review`,
      });
      await waitFor(() => !!review);
    }
    const decision = review!;
    order.clear('review_sla_breached');
    order.slaDeadline = undefined;
    if (!decision.approve) {
      order.cancelRequest = { reason: `review rejected: ${decision.reason}`, actor: decision.actor };
      throwIfCancelled();
    }
    await moveTo('PENDING_PAYMENT', decision.actor, 'review approved');
    return true;
  }

  /** Runs one payment attempt; true when the order may move on to fulfilment. */
  async function attemptPayment(instruction: PaymentInstruction): Promise<boolean> {
    return exclusive(async () => {
      if (order.payment.status === 'AWAITING_TRANSFER' && order.payment.authorizationId) {
        await act.voidPayment({ orderId: order.orderId, paymentId: order.payment.authorizationId });
        order.payment.status = 'VOIDED';
      }
      order.payment = {
        ...order.payment,
        method: instruction.method,
        attempts: order.payment.attempts + 1,
        amount: order.totals.total,
      };
      order.payment.lastDeclineReason = undefined;
      const attempt = order.payment.attempts;
      const amount = order.totals.total;
      if (ONLINE_METHODS.includes(instruction.method)) {
        const result = await act.authorizePayment({
          orderId: order.orderId,
          attempt,
          method: instruction.method,
          token: instruction.token,
          amount,
          currency: order.totals.currency,
        });
        order.payment.authorizationId = result.paymentId;
        if (result.status === 'declined') {
          order.payment.status = 'DECLINED';
          order.payment.lastDeclineReason = result.reason;
          await persist(undefined, {
            actor: SYSTEM_ACTOR,
            action: 'payment.declined',
            detail: { reason: result.reason },
          });
          return false;
        }
        order.payment.status = 'AUTHORIZED';
        return true;
      }
      const method = instruction.method as 'bank_transfer' | 'cod';
      const deferred = await act.openDeferredPayment({
        orderId: order.orderId,
        attempt,
        method,
        amount,
        currency: order.totals.currency,
      });
      order.payment.authorizationId = deferred.paymentId;
      order.payment.transferReference = deferred.reference;
      order.payment.status = method === 'cod' ? 'COD_PENDING' : 'AWAITING_TRANSFER';
      if (method === 'cod') return true;
      await persist(undefined, {
        actor: SYSTEM_ACTOR,
        action: 'payment.awaiting_transfer',
        detail: { reference: deferred.reference },
      });
      return false;
    });
  }

  /** Voids what was only authorized or awaited, refunds what was captured. */
  async function settleBack() {
    const paymentId = order.payment.authorizationId;
    if (!paymentId || ['NONE', 'DECLINED', 'VOIDED', 'REFUNDED'].includes(order.payment.status)) return;
    if (order.payment.captured > 0) {
      const refundable = order.payment.captured - order.payment.refunded;
      if (refundable > 0) {
        order.payment.refunded += await act.refundPayment({
          orderId: order.orderId,
          paymentId,
          amount: refundable,
          reason: 'order cancelled',
        });
      }
      order.payment.status = 'REFUNDED';
    } else {
      await act.voidPayment({ orderId: order.orderId, paymentId });
      order.payment.status = 'VOIDED';
    }
  }

  async function collectPayment(): Promise<void> {
    const deadline = Date.now() + policy.paymentWindowMs;
    order.slaDeadline = new Date(deadline);
    let paid = await attemptPayment(input.payment);
    order.intakeDone = true;
    while (!paid) {
      const awaitingTransfer = order.payment.status === 'AWAITING_TRANSFER';
      const amountBefore = order.totals.total;
      const inTime = await waitFor(
        () =>
          !!paymentRetry ||
          (awaitingTransfer && !!transfer) ||
          (awaitingTransfer && order.totals.total !== amountBefore),
        Math.max(0, deadline - Date.now()),
      );
      if (!inTime) {
        order.cancelRequest = { reason: 'payment window expired', actor: SYSTEM_ACTOR };
        throwIfCancelled();
      }
      if (transfer) {
        const notification = transfer;
        transfer = undefined;
        if (
          notification.succeeded &&
          notification.paymentId === order.payment.authorizationId &&
          notification.amount === order.totals.total
        ) {
          order.payment.status = 'CAPTURED';
          order.payment.captured = notification.amount;
          paid = true;
        } else if (notification.succeeded) {
          order.flag('payment_mismatch', `received ${notification.amount} for payment ${notification.paymentId}`);
          await persist(undefined, { actor: SYSTEM_ACTOR, action: 'payment.mismatch', detail: { ...notification } });
        }
        continue;
      }
      const instruction = paymentRetry ?? { method: 'bank_transfer' };
      paymentRetry = undefined;
      paid = await attemptPayment(instruction);
    }
    order.slaDeadline = undefined;
    if (order.payment.status !== 'COD_PENDING') await moveTo('PAID', SYSTEM_ACTOR, `paid by ${order.payment.method}`);
  }

  async function fulfil(): Promise<void> {
    for (const [index, allocation] of order.allocations.entries()) {
      throwIfCancelled();
      const shipmentId = `${order.orderId}-S${index + 1}`;
      const booking = await act.bookShipment({
        orderId: order.orderId,
        shipmentId,
        warehouseCode: allocation.warehouseCode,
        lines: allocation.lines,
        address: order.address,
      });
      order.shipments.push({
        shipmentId,
        warehouseCode: allocation.warehouseCode,
        lines: allocation.lines,
        status: 'BOOKED',
        ...booking,
      });
      compensations.push({
        name: `cancel shipment ${shipmentId}`,
        run: async () => {
          await act.cancelShipment({ orderId: order.orderId, shipmentId, waybill: booking.waybill });
          const shipment = order.shipments.find((s) => s.shipmentId === shipmentId);
          if (shipment) shipment.status = 'CANCELLED';
        },
      });
    }
    await moveTo('FULFILLING', SYSTEM_ACTOR, `${order.shipments.length} shipment(s) booked`);
  }

  async function track(): Promise<void> {
    const stale = new Set<string>();
    while (!order.allDelivered) {
      const eventArrived = await waitFor(() => order.carrierInbox.length > 0, policy.shipmentStaleAfterMs);
      if (!eventArrived) {
        for (const shipment of order.shipments.filter((s) => s.status !== 'DELIVERED')) stale.add(shipment.shipmentId);
        order.flag('carrier_silent', [...stale].join(','));
        await persist(undefined, {
          actor: SYSTEM_ACTOR,
          action: 'shipment.carrier_silent',
          detail: { shipments: [...stale] },
        });
        await act.notifyStaff({
          orderId: order.orderId,
          topic: 'carrier_silent',
          message: `no carrier event for ${[...stale].join(', ')}`,
        });
        continue;
      }
      const event = order.carrierInbox.shift()!;
      const shipment = order.shipmentByWaybill(event.waybill);
      if (!shipment || shipment.status === 'DELIVERED' || shipment.status === 'CANCELLED') continue;
      const wasHandedOver = order.handedToCarrier;
      const leavesWarehouse = shipment.status === 'BOOKED' && event.type !== 'EXCEPTION';
      shipment.status = event.type;
      shipment.lastEventAt = event.occurredAt;
      stale.delete(shipment.shipmentId);
      if (stale.size === 0) order.clear('carrier_silent');
      if (event.type === 'EXCEPTION') {
        shipment.exception = event.exception;
        order.flag('carrier_exception', `${shipment.shipmentId}:${event.exception ?? 'unknown'}`);
        await act.notifyStaff({
          orderId: order.orderId,
          topic: 'carrier_exception',
          message: `${shipment.waybill}: ${event.exception}`,
        });
      } else if (!order.shipments.some((s) => s.status === 'EXCEPTION')) {
        order.clear('carrier_exception');
      }
      await act.recordShipmentEvent({
        orderId: order.orderId,
        shipmentId: shipment.shipmentId,
        eventId: event.eventId,
        status: shipment.status,
        exception: event.exception,
        occurredAt: event.occurredAt,
      });
      if (leavesWarehouse) {
        await act.commitStock({ orderId: order.orderId, warehouseCode: shipment.warehouseCode, actor: 'system' });
      }
      if (!wasHandedOver && order.handedToCarrier) {
        await captureOnline();
        await moveTo('SHIPPED', SYSTEM_ACTOR, `${shipment.waybill} picked up`);
      } else {
        await persist();
      }
    }
  }

  async function captureOnline() {
    if (order.payment.status !== 'AUTHORIZED' || !order.payment.authorizationId) return;
    order.payment.captured = await act.capturePayment({
      orderId: order.orderId,
      paymentId: order.payment.authorizationId,
      amount: order.totals.total,
    });
    order.payment.status = 'CAPTURED';
  }

  async function deliverAndComplete(): Promise<void> {
    if (order.payment.status === 'COD_PENDING' && order.payment.authorizationId) {
      order.payment.captured = await act.capturePayment({
        orderId: order.orderId,
        paymentId: order.payment.authorizationId,
        amount: order.totals.total,
      });
      order.payment.status = 'CAPTURED';
    }
    order.slaDeadline = new Date(Date.now() + policy.autoCompleteAfterMs);
    await moveTo('DELIVERED', SYSTEM_ACTOR, 'all parcels delivered');
    const confirmed = await condition(() => !!receiptConfirmedBy, policy.autoCompleteAfterMs);
    order.slaDeadline = undefined;
    await act.recordSettlement({
      orderId: order.orderId,
      currency: order.totals.currency,
      total: order.totals.total,
      shipping: order.totals.shipping,
      captured: order.payment.captured,
      refunded: order.payment.refunded,
    });
    await moveTo('COMPLETED', receiptConfirmedBy ?? SYSTEM_ACTOR, confirmed ? 'receipt confirmed' : 'auto-completed');
  }

  /** Undoes newest first; a step that cannot be undone is flagged for ops instead of stopping the rest. */
  async function compensate(reason: string, actor: Actor) {
    for (const step of compensations.reverse()) {
      try {
        await step.run();
      } catch (error) {
        if (isCancellation(error)) throw error;
        order.flag('compensation_failed', step.name);
        await act.notifyStaff({
          orderId: order.orderId,
          topic: 'compensation_failed',
          message: `${step.name}: ${(error as Error).message}`,
        });
      }
    }
    compensations.length = 0;
    order.cancelReason = reason;
    order.slaDeadline = undefined;
    order.clear('review_sla_breached');
    await moveTo('CANCELLED', actor, reason);
  }

  try {
    if (!(await intake())) return order.view();
    if (order.status === 'PENDING_REVIEW') await awaitReview();
    await collectPayment();
    await fulfil();
    await track();
    await deliverAndComplete();
  } catch (error) {
    if (error instanceof OrderCancelled) {
      const request = order.cancelRequest!;
      await compensate(request.reason, request.actor);
    } else if (isCancellation(error)) {
      await CancellationScope.nonCancellable(() =>
        compensate('workflow cancelled', { principal: workflowInfo().workflowId, role: 'system' }),
      );
      throw error;
    } else {
      order.flag('failed', (error as Error).message);
      await moveTo('FAILED', SYSTEM_ACTOR, (error as Error).message);
      await act.notifyStaff({ orderId: order.orderId, topic: 'order_failed', message: (error as Error).message });
      throw error;
    }
  }
  return order.view();
}
