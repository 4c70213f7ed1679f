import { condition, isCancellation, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import type { OrderActivities } from '../activities/types';
import type { Actor } from '../domain/case';
import { SYSTEM_ACTOR } from '../domain/case';
import type { OrderInput, OrderStatus, OrderView, PaymentInstruction } from '../domain/order';
import { isTerminal, ONLINE_METHODS } from '../domain/order';
import { PROVIDER_ERRORS } from '../domain/ports';
import { ORDER_REVIEWER_ROLES } from '../domain/roles';
import { addressChangeRefusal, assessRisk, cancelRefusal, lineEditRefusal } from '../domain/rules';
import { caseCore, reject } from './case/core';
import { asLocalStep, caseActivities, failureType, StepAbandoned } from './case/steps';
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
  returnsChangedSignal,
  reviewOrderUpdate,
} from './messages';
import { OrderCase, type CancelRequest } from './order-case';
import { orderMoney } from './order-money';
import { orderParcels } from './order-parcels';
import { OrderStatusKey, OrderTotalKey, PaymentMethodKey } from './search-attributes';

const REFUSALS = [ORDER_ERRORS.unknownSku, ORDER_ERRORS.outOfStock];

/**
 * The steps an order runs as local activities, inside its workflow task: its own records, its stock, and the payment
 * calls a customer waits on at checkout. A placement then answers after one workflow task instead of a server round
 * trip per step; each is idempotent (keyed by order, attempt or version), so running one twice after a crash is safe.
 * Carrier bookings and changes, captures and refunds stay activities on the task queue.
 */
const LOCAL_STEPS: (keyof OrderActivities & string)[] = [
  'priceOrder',
  'reserveStock',
  'releaseStock',
  'commitStock',
  'authorizePayment',
  'openDeferredPayment',
  'recordOrder',
  'recordShipmentEvent',
  'recordSettlement',
  'openReturns',
  'notifyStaff',
];

/**
 * Marks orders started with local steps, which also upsert only the search attributes that changed; those started
 * before run every step as an activity and upsert everything on every write, as they were recorded.
 */
export const LOCAL_STEPS_PATCH = 'order-local-steps';

/**
 * Marks orders that run local steps (as LOCAL_STEPS_PATCH) and follow their parcels inside the workflow task a
 * carrier webhook's signal opens: the order reads the tracking as a local step (a read that changes nothing at the
 * carrier) and records the events it applied with its next snapshot write, in one transaction, instead of an activity
 * task, a second workflow task and a write per event. Orders started before run those as they were recorded.
 */
export const LOCAL_TRACKING_PATCH = 'order-local-tracking';

/**
 * Marks orders (with local steps and tracking, as LOCAL_TRACKING_PATCH) whose intake runs its independent steps side by
 * side: the pricing beside the reservation, and the record of PENDING_PAYMENT beside the first payment attempt, which
 * acts on the gateway's answer only once that record is written. A placement then waits for three steps in a row
 * instead of five. Orders started before ran them one after another, and replay that way.
 */
export const PARALLEL_INTAKE_PATCH = 'order-parallel-intake';

const PAID = ['AUTHORIZED', 'CAPTURED', 'COD_PENDING'];

class OrderCancelled extends Error {
  constructor(readonly request: CancelRequest) {
    super(request.reason);
  }
}

/** One order from placement to completion or cancellation (DESIGN §3 Order). */
export async function orderWorkflow(input: OrderInput): Promise<OrderView> {
  // A newer patch implies the older ones, so an order started now carries one marker (and one upsert of it).
  const parallelIntake = patched(PARALLEL_INTAKE_PATCH);
  const localTracking = parallelIntake || patched(LOCAL_TRACKING_PATCH);
  const localSteps = localTracking || patched(LOCAL_STEPS_PATCH);
  const { orderId, policy } = input;
  const raw = caseActivities<OrderActivities>(
    REFUSALS,
    localSteps
      ? {
          names: localTracking ? [...LOCAL_STEPS, 'trackShipment'] : LOCAL_STEPS,
          attentionAfterMs: policy.stepAttentionAfterMs,
        }
      : undefined,
  );
  const order = new OrderCase(input);
  let review: { approve: boolean; reason?: string; actor: Actor } | undefined;
  let paymentRetry: { payment: PaymentInstruction; ticket: number } | undefined;
  let retryTickets = 0;
  let retriesDone = 0;
  let receiptConfirmedBy: Actor | undefined;
  /** Who the order's undoing is done for: the refunds it starts name them as requester. */
  let undoneBy: Actor = SYSTEM_ACTOR;
  /** The write of PENDING_PAYMENT while it runs beside the first payment attempt (parallel intake). */
  let placing: Promise<void> | undefined;

  const now = () => new Date();

  const core = caseCore({
    caseType: 'order',
    caseId: orderId,
    state: order,
    isTerminal,
    view: () => order.view(),
    // The core guards the write (as a local step when it is one); orders started before local steps guarded it twice,
    // and replay as they ran.
    write: localSteps
      ? asLocalStep(async (record) => {
          // Carrier events applied since the last write go with this one; they are forgotten once it is done, so a
          // write retried or running beside another carries them again (each is recorded once, by its id).
          const shipmentEvents = [...order.unrecordedShipmentEvents];
          await raw.recordOrder({
            ...record,
            requestHash: input.requestHash,
            ...(shipmentEvents.length > 0 ? { shipmentEvents } : {}),
          });
          order.unrecordedShipmentEvents = order.unrecordedShipmentEvents.filter((e) => !shipmentEvents.includes(e));
        })
      : (record) => act.recordOrder({ ...record, requestHash: input.requestHash }),
    notifyStaff: raw.notifyStaff,
    stepAttentionAfterMs: policy.stepAttentionAfterMs,
    // Came with local steps: one upsert per write that changes what ops filter on.
    publishChangesOnly: localSteps,
    searchAttributes: () => [
      { key: OrderStatusKey, value: order.status },
      { key: OrderTotalKey, value: order.totals.total },
      { key: PaymentMethodKey, value: order.payment.method },
    ],
    interrupt: {
      pending: () => !!order.cancelRequest,
      honour: () => honourCancel(),
      refusal: 'the order is being cancelled',
    },
  });
  const { persist, moveTo, waitFor, exclusive, publish } = core;

  const act: OrderActivities = core.guard(raw, {
    priceOrder: [ORDER_ERRORS.unknownSku],
    authorizePayment: [PROVIDER_ERRORS.refused],
    reserveStock: [ORDER_ERRORS.outOfStock, ORDER_ERRORS.unknownSku],
    voidPayment: [PROVIDER_ERRORS.refused],
    cancelShipment: [PROVIDER_ERRORS.refused],
    changeShipmentAddress: [PROVIDER_ERRORS.refused],
  });

  const { returnMoney, takeTransferIfArrived, settleBack, returnStrayMoney, captureOnline } = orderMoney({
    order,
    act,
    core,
    undoneBy: () => undoneBy,
  });
  const { cancelBookings, fulfil, track } = orderParcels({
    order,
    act,
    core,
    honourCancel,
    captureOnline,
    eventsWithSnapshot: localTracking,
  });

  /**
   * Acts on a pending cancel request: throws OrderCancelled when it goes ahead, returns when it must be refused. Goods
   * the carrier already collected cannot be cancelled, so the carrier's tracking is read first (a pickup waiting in
   * the inbox counts) and the bookings are cancelled before anything else is undone.
   */
  async function honourCancel(): Promise<void> {
    const request = order.cancelRequest;
    if (!request) return;
    await condition(() => !order.busy);
    order.busy = true;
    let refusal: string | null;
    try {
      refusal = await cancelBookings();
    } catch (error) {
      order.busy = false;
      throw error;
    }
    if (!refusal) throw new OrderCancelled(request);
    request.refused = refusal;
    order.cancelRequest = undefined;
    order.busy = false;
  }

  setHandler(orderStateQuery, () => order.view());

  setHandler(awaitIntakeUpdate, async () => {
    await condition(() => order.intakeDone || !!order.parked || isTerminal(order.status));
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
        if (!ORDER_REVIEWER_ROLES.includes(actor.role))
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
      const request: CancelRequest = { reason, actor };
      order.cancelRequest = request;
      await condition(() => (isTerminal(order.status) && order.writing === 0) || request.refused !== undefined);
      if (request.refused) reject(ORDER_ERRORS.wrongState, request.refused);
      if (order.status !== 'CANCELLED') reject(ORDER_ERRORS.wrongState, `order is ${order.status}`);
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
      const ticket = ++retryTickets;
      paymentRetry = { payment, ticket };
      await condition(
        () => retriesDone >= ticket || (paymentRetry?.ticket === ticket && order.status !== 'PENDING_PAYMENT'),
      );
      if (retriesDone < ticket) {
        paymentRetry = undefined;
        reject(ORDER_ERRORS.wrongState, `order is ${order.status}, not awaiting payment`);
      }
      await condition(() => order.writing === 0);
      return order.view();
    },
    {
      validator: (_request) => {
        if (order.status !== 'PENDING_PAYMENT')
          reject(ORDER_ERRORS.wrongState, `order is ${order.status}, not awaiting payment`);
        if (!order.intakeDone) reject(ORDER_ERRORS.wrongState, 'the first payment attempt is still running');
        if (order.cancelRequest) reject(ORDER_ERRORS.wrongState, 'the order is being cancelled');
        if (paymentRetry || order.busy) reject(ORDER_ERRORS.wrongState, 'a payment attempt or edit is in progress');
        if (PAID.includes(order.payment.status)) reject(ORDER_ERRORS.wrongState, 'the order is already paid');
      },
    },
  );

  /** Why lines cannot change now, as [failure type, message]; checked by the validator and again once it is our turn. */
  function editRefusal(): [string, string] | undefined {
    if (!order.intakeDone) return [ORDER_ERRORS.wrongState, 'the order is still being taken in'];
    if (order.cancelRequest) return [ORDER_ERRORS.wrongState, 'the order is being cancelled'];
    if (PAID.includes(order.payment.status)) return [ORDER_ERRORS.wrongState, 'the order is already paid'];
    const refusal = lineEditRefusal({
      status: order.status,
      placedAt: workflowInfo().startTime.toISOString(),
      now: Date.now(),
      editsSoFar: order.edits,
      editWindowMs: policy.editWindowMs,
      maxEdits: policy.maxEdits,
    });
    if (refusal)
      return [order.status === 'PENDING_PAYMENT' ? ORDER_ERRORS.ruleViolation : ORDER_ERRORS.wrongState, refusal];
    return undefined;
  }

  setHandler(
    editLinesUpdate,
    async ({ lines, actor }) =>
      exclusive(async () => {
        const refusal = editRefusal();
        if (refusal) reject(...refusal);
        // A transfer that arrived unannounced paid for the basket as it is.
        if (await takeTransferIfArrived()) reject(ORDER_ERRORS.wrongState, 'the order is already paid');
        const priced = await act.priceOrder({ customerId: input.customerId, currency: input.currency, lines });
        order.allocations = await act.reserveStock({ orderId, lines, actor: actor.principal });
        order.lines = priced.lines;
        order.totals = priced.totals;
        order.edits += 1;
        // The new basket is judged afresh, also when a reviewer approved the old one.
        order.reviewReasons = assessRisk(
          { total: priced.totals.total, lines, isNewCustomer: priced.isNewCustomer },
          policy.risk,
        );
        const audit = { actor, action: 'order.edit_lines', detail: { lines } };
        if (order.reviewReasons.length === 0) {
          await persist(undefined, audit);
          return order.view();
        }
        if (order.payment.status === 'AWAITING_TRANSFER' && order.payment.authorizationId) {
          await returnMoney(order.payment.authorizationId, 'superseded');
          order.payment.status = 'VOIDED';
        }
        review = undefined;
        order.slaDeadline = new Date(Date.now() + policy.reviewSlaMs);
        await persist(order.transition('PENDING_REVIEW', now(), actor, order.reviewReasons.join(', ')), audit);
        return order.view();
      }),
    {
      validator: ({ lines }) => {
        const refusal = editRefusal();
        if (refusal) reject(...refusal);
        if (lines.length === 0) reject(ORDER_ERRORS.ruleViolation, 'an order needs at least one line');
      },
    },
  );

  setHandler(
    changeAddressUpdate,
    async ({ address, actor }) =>
      exclusive(async () => {
        const refusal = addressChangeRefusal(order.status, order.shipments);
        if (refusal) reject(ORDER_ERRORS.ruleViolation, refusal);
        const previous = order.address;
        const changed: { shipmentId: string; waybill: string }[] = [];
        for (const shipment of order.shipments.filter((s) => s.status === 'BOOKED' && s.waybill)) {
          const parcel = { shipmentId: shipment.shipmentId, waybill: shipment.waybill! };
          try {
            await act.changeShipmentAddress({ ...parcel, address, version: ++order.addressVersion });
            changed.push(parcel);
          } catch (error) {
            if (failureType(error) !== PROVIDER_ERRORS.refused) throw error;
            // Collected meanwhile: the parcels already changed go back, so the order never ships to two addresses.
            for (const done of changed) {
              try {
                await act.changeShipmentAddress({ ...done, address: previous, version: ++order.addressVersion });
              } catch (rollback) {
                if (failureType(rollback) !== PROVIDER_ERRORS.refused) throw rollback;
                // Collected meanwhile too: the parcels now go to two addresses, which a person must sort out.
                order.flag('address_split', `${done.waybill} keeps the new address`);
                publish();
              }
            }
            reject(ORDER_ERRORS.ruleViolation, `the carrier no longer accepts an address change for ${parcel.waybill}`);
          }
        }
        order.address = address;
        await persist(undefined, { actor, action: 'order.change_address', detail: { address } });
        return order.view();
      }),
    {
      validator: (_request) => {
        const refusal = order.cancelRequest
          ? 'the order is being cancelled'
          : addressChangeRefusal(order.status, order.shipments);
        if (refusal) reject(ORDER_ERRORS.ruleViolation, refusal);
      },
    },
  );

  setHandler(
    confirmReceiptUpdate,
    async ({ actor }) => {
      receiptConfirmedBy = actor;
      // With a return still open the order completes once it closes; the confirmation is taken now.
      await condition(() => (order.status === 'COMPLETED' || order.awaitingReturns) && order.writing === 0);
      return order.view();
    },
    {
      validator: (_request) => {
        if (order.status !== 'DELIVERED') reject(ORDER_ERRORS.wrongState, `order is ${order.status}, not delivered`);
      },
    },
  );

  // Both are hints: whoever can post to the webhook could say anything, so the provider is asked before acting.
  setHandler(paymentNotificationSignal, () => {
    order.transferHint = true;
  });

  setHandler(carrierEventSignal, (event) => {
    order.carrierHints.add(event.waybill);
  });

  setHandler(returnsChangedSignal, () => {
    order.returnsHint = true;
  });

  /** Cancels at intake when the catalogue or stock changed since the API checked the request. */
  async function refuseAtIntake(error: unknown): Promise<false> {
    const type = failureType(error);
    if (type !== ORDER_ERRORS.outOfStock && type !== ORDER_ERRORS.unknownSku) throw error;
    order.cancelReason = type === ORDER_ERRORS.outOfStock ? 'out_of_stock' : 'unknown_sku';
    await moveTo('CANCELLED', input.placedBy, ((error as Error).cause as Error | undefined)?.message);
    order.intakeDone = true;
    return false;
  }

  /** Gives back the order's reserved stock: the undo of its reservation. */
  const releaseStock = () => act.releaseStock({ orderId, reason: 'order cancelled', actor: 'system' });

  /** Prices and reserves at once; answers the priced order, or undefined once the order is refused and cancelled. */
  async function priceAndReserve() {
    const pricing = act.priceOrder({ customerId: input.customerId, currency: input.currency, lines: input.lines });
    const reserving = act.reserveStock({ orderId, lines: input.lines, actor: 'system' });
    const [priced, reserved] = await Promise.allSettled([pricing, reserving]);
    if (priced.status === 'rejected') {
      // Pricing failed where reserving did not: the stock goes back before the order ends, as when it was refused.
      if (reserved.status === 'fulfilled') await releaseStock();
      await refuseAtIntake(priced.reason);
      return undefined;
    }
    if (reserved.status === 'rejected') {
      await refuseAtIntake(reserved.reason);
      return undefined;
    }
    return { priced: priced.value, allocations: reserved.value };
  }

  async function intake(): Promise<boolean> {
    let priced;
    let allocations;
    if (parallelIntake) {
      const done = await priceAndReserve();
      if (!done) return false;
      ({ priced, allocations } = done);
    } else {
      try {
        priced = await act.priceOrder({ customerId: input.customerId, currency: input.currency, lines: input.lines });
      } catch (error) {
        return refuseAtIntake(error);
      }
    }
    order.lines = priced.lines;
    order.totals = priced.totals;
    order.reviewReasons = assessRisk(
      { total: priced.totals.total, lines: input.lines, isNewCustomer: priced.isNewCustomer },
      policy.risk,
    );
    if (allocations) {
      order.allocations = allocations;
    } else {
      try {
        order.allocations = await act.reserveStock({ orderId, lines: input.lines, actor: 'system' });
      } catch (error) {
        return refuseAtIntake(error);
      }
    }
    core.onUndo('release stock', releaseStock);
    core.onUndo('return payment', () => settleBack());
    const first: OrderStatus = order.reviewReasons.length > 0 ? 'PENDING_REVIEW' : 'PENDING_PAYMENT';
    if (first === 'PENDING_REVIEW') order.slaDeadline = new Date(Date.now() + policy.reviewSlaMs);
    const recorded = moveTo(first, input.placedBy, order.reviewReasons.join(', ') || 'placed');
    if (parallelIntake && first === 'PENDING_PAYMENT') {
      // Written beside the first payment attempt, which waits for it before acting on the gateway's answer. Its failure
      // is raised there, not here.
      placing = recorded;
      placing.catch(() => undefined);
    } else {
      await recorded;
    }
    // An order awaiting payment answers placement only after its first payment attempt.
    if (first === 'PENDING_REVIEW') order.intakeDone = true;
    return true;
  }

  /**
   * Waits for the record of PENDING_PAYMENT written beside the first payment attempt and raises its failure. The attempt
   * calls it once it has noted the gateway's answer (so an order unwound for that failure gives back what the gateway
   * holds) and before it writes or moves on.
   */
  async function placed(): Promise<void> {
    const record = placing;
    placing = undefined;
    await record;
  }

  async function awaitReview(): Promise<void> {
    await core.escalateAfter(() => !!review, {
      afterMs: policy.reviewSlaMs,
      levels: 1,
      firstDeadline: order.slaDeadline?.getTime(),
      reason: 'review_sla_breached',
      topic: 'review_sla_breached',
      message: () => `order ${orderId} waits for review`,
      action: 'order.review_escalated',
    });
    const decision = review!;
    if (!decision.approve) {
      order.cancelRequest = { reason: `review rejected: ${decision.reason}`, actor: decision.actor };
      await honourCancel();
    }
    await moveTo('PENDING_PAYMENT', decision.actor, 'review approved');
  }

  /** Runs one payment attempt; true when the order may move on to fulfilment. */
  async function attemptPayment(instruction: PaymentInstruction): Promise<boolean> {
    return exclusive(async () => {
      // The transfer being replaced may have arrived unannounced: then it pays, and the new method is not charged.
      if (await takeTransferIfArrived()) return true;
      if (order.payment.status === 'AWAITING_TRANSFER' && order.payment.authorizationId) {
        await returnMoney(order.payment.authorizationId, 'superseded');
        order.clear('payment_mismatch');
      }
      order.payment = {
        ...order.payment,
        method: instruction.method,
        status: 'NONE',
        attempts: order.payment.attempts + 1,
        amount: order.totals.total,
        lastDeclineReason: undefined,
      };
      const attempt = order.payment.attempts;
      const amount = order.totals.total;
      if (ONLINE_METHODS.includes(instruction.method)) {
        const decline = async (reason: string) => {
          if (placing) await placed();
          order.payment.status = 'DECLINED';
          order.payment.lastDeclineReason = reason;
          await persist(undefined, { actor: SYSTEM_ACTOR, action: 'payment.declined', detail: { reason } });
          return false;
        };
        let result;
        try {
          result = await act.authorizePayment({
            orderId,
            attempt,
            method: instruction.method,
            token: instruction.token,
            amount,
            currency: order.totals.currency,
          });
        } catch (error) {
          // The gateway refuses the request itself (a method or token it does not take): for the customer, a decline.
          if (failureType(error) !== PROVIDER_ERRORS.refused) throw error;
          return decline('refused_by_gateway');
        }
        order.payment.authorizationId = result.paymentId;
        order.notePayment(result.paymentId, 0, 0);
        if (result.status === 'declined') return decline(result.reason);
        order.payment.status = 'AUTHORIZED';
        if (placing) await placed();
        return true;
      }
      const method = instruction.method as 'bank_transfer' | 'cod';
      const deferred = await act.openDeferredPayment({
        orderId,
        attempt,
        method,
        amount,
        currency: order.totals.currency,
      });
      order.payment.authorizationId = deferred.paymentId;
      order.payment.transferReference = deferred.reference;
      order.notePayment(deferred.paymentId, 0, 0);
      order.payment.status = method === 'cod' ? 'COD_PENDING' : 'AWAITING_TRANSFER';
      if (placing) await placed();
      if (method === 'cod') return true;
      await persist(undefined, {
        actor: SYSTEM_ACTOR,
        action: 'payment.awaiting_transfer',
        detail: { reference: deferred.reference },
      });
      return false;
    }, true);
  }

  /** 'paid' once the order may ship (cash on delivery included), 'review' when an edit sent it back to review. */
  async function collectPayment(): Promise<'paid' | 'review'> {
    const deadline = Date.now() + policy.paymentWindowMs;
    order.slaDeadline = new Date(deadline);
    let paid = await attemptPayment(order.instruction);
    order.intakeDone = true;
    while (!paid) {
      const awaiting = () => order.payment.status === 'AWAITING_TRANSFER';
      const amountBefore = order.totals.total;
      const left = deadline - Date.now();
      const woke = await waitFor(
        () =>
          !!paymentRetry ||
          order.status === 'PENDING_REVIEW' ||
          order.payment.status === 'CAPTURED' ||
          order.transferHint ||
          (awaiting() && order.totals.total !== amountBefore),
        awaiting() ? Math.min(left, policy.paymentPollIntervalMs) : left,
      );
      if (order.status === 'PENDING_REVIEW') return 'review';
      const windowOver = Date.now() >= deadline;
      // Told it arrived, silent for the poll interval, or about to give up: the gateway has the last word.
      if (awaiting() && (order.transferHint || !woke || windowOver)) {
        order.transferHint = false;
        paid = await exclusive(() => takeTransferIfArrived(), true);
        if (paid) break;
      }
      order.transferHint = false;
      if (order.payment.status === 'CAPTURED') {
        paid = true;
      } else if (windowOver) {
        order.cancelRequest = { reason: 'payment window expired', actor: SYSTEM_ACTOR };
        await honourCancel();
      } else if (paymentRetry) {
        const retry = paymentRetry;
        paymentRetry = undefined;
        try {
          order.instruction = retry.payment;
          paid = await attemptPayment(retry.payment);
        } finally {
          retriesDone = retry.ticket;
        }
      } else if (awaiting() && order.totals.total !== amountBefore) {
        paid = await attemptPayment({ method: 'bank_transfer' });
      }
    }
    order.slaDeadline = undefined;
    if (order.payment.status !== 'COD_PENDING') await moveTo('PAID', SYSTEM_ACTOR, `paid by ${order.payment.method}`);
    return 'paid';
  }

  async function deliverAndComplete(): Promise<void> {
    if (order.payment.status === 'COD_PENDING' && order.payment.authorizationId) {
      const paymentId = order.payment.authorizationId;
      const captured = await act.capturePayment({ orderId, paymentId, amount: order.totals.total });
      order.notePayment(paymentId, captured, 0);
      order.payment.status = 'CAPTURED';
    }
    order.slaDeadline = new Date(Date.now() + policy.autoCompleteAfterMs);
    await moveTo('DELIVERED', SYSTEM_ACTOR, 'all parcels delivered');
    const confirmed = await condition(() => !!receiptConfirmedBy, policy.autoCompleteAfterMs);
    order.slaDeadline = undefined;
    await awaitOpenReturns();
    await returnStrayMoney();
    const settlement = {
      orderId,
      currency: order.totals.currency,
      total: order.totals.total,
      shipping: order.totals.shipping,
    };
    // A return recorded since the last look holds the settlement back too.
    while (!(await act.recordSettlement(settlement))) await awaitOpenReturns();
    await moveTo('COMPLETED', receiptConfirmedBy ?? SYSTEM_ACTOR, confirmed ? 'receipt confirmed' : 'auto-completed');
  }

  /**
   * Settles only once no return of the order is open, so the settlement counts what returns refund; the records are
   * the fact, a return's signal only says when to look again. A return opened after settlement re-settles the order.
   */
  async function awaitOpenReturns(): Promise<void> {
    for (;;) {
      order.returnsHint = false;
      const open = await act.openReturns({ orderId });
      if (open === 0) break;
      if (!order.awaitingReturns) {
        order.awaitingReturns = true;
        await persist(undefined, { actor: SYSTEM_ACTOR, action: 'order.completion_awaits_returns', detail: { open } });
      }
      await waitFor(() => order.returnsHint, policy.carrierPollIntervalMs);
    }
    order.awaitingReturns = false;
  }

  /** Undoes what the order holds, newest first, then ends it as `to`. */
  async function unwind(reason: string, actor: Actor, to: 'CANCELLED' | 'FAILED' = 'CANCELLED') {
    undoneBy = actor;
    // A payment call that failed beside the placement's record: that record is written (or given up) first.
    if (placing) await placed().catch(() => undefined);
    await core.compensate(async () => {
      order.clear('review_sla_breached');
      if (to === 'CANCELLED') order.cancelReason = reason;
      await moveTo(to, actor, reason);
    });
  }

  try {
    if (!(await intake())) return order.view();
    for (;;) {
      if (order.status === 'PENDING_REVIEW') await awaitReview();
      if ((await collectPayment()) === 'paid') break;
    }
    await fulfil();
    await track();
    await deliverAndComplete();
  } catch (error) {
    if (error instanceof OrderCancelled) {
      await unwind(error.request.reason, error.request.actor);
    } else if (error instanceof StepAbandoned) {
      order.flag('failed', error.message);
      await unwind(error.message, core.recoveredBy(), 'FAILED');
    } else if (isCancellation(error)) {
      await unwind('workflow cancelled', { principal: workflowInfo().workflowId, role: 'system' });
      throw error;
    } else {
      throw error;
    }
  }
  return order.view();
}
