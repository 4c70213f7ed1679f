import { condition, getExternalWorkflowHandle, isCancellation, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ReturnActivities } from '../activities/types';
import type { Actor } from '../domain/case';
import { SYSTEM_ACTOR } from '../domain/case';
import { sumQuantities, type LineRequest } from '../domain/order';
import { PROVIDER_ERRORS } from '../domain/ports';
import type { RefundInput } from '../domain/refund';
import type { InspectionLine, ReturnInput, ReturnOutcome, ReturnParcelView, ReturnView } from '../domain/return';
import { isReturnTerminal, refundForLines, returnDecisionRefusal, returnWindowMs } from '../domain/return';
import { RETURN_APPROVER_ROLES, WAREHOUSE_ROLES } from '../domain/roles';
import { caseCore, reject } from './case/core';
import { checkDecision } from './case/decision';
import { CASE_ERRORS } from './case/messages';
import { caseActivities, failureType, StepAbandoned } from './case/steps';
import { carrierEventSignal, orderWorkflowId, returnsChangedSignal } from './messages';
import { startRefundCase } from './child-cases';
import { ReturnCase } from './return-case';
import {
  awaitReturnRequestUpdate,
  decideReturnUpdate,
  inspectReturnUpdate,
  receiveReturnUpdate,
  refundLostReturnUpdate,
  returnStateQuery,
  type ReturnDecision,
} from './return-messages';
import { WaitingOnKey } from './search-attributes';

const raw = caseActivities<ReturnActivities>([
  CASE_ERRORS.ruleViolation,
  CASE_ERRORS.outOfStock,
  CASE_ERRORS.unknownSku,
]);

/** Ends the lifecycle early with a final status (the customer never handed the parcel over). */
class ReturnEnded extends Error {}

/**
 * One return from request to goods back on the shelf (DESIGN §3 Return): the lines are claimed against what the
 * order delivered, approved by the system or an agent, collected or dropped off with a label, received and inspected
 * by the warehouse, then restocked and refunded through a refund case of their own, or replaced by a new parcel.
 */
export async function returnWorkflow(input: ReturnInput): Promise<ReturnView> {
  const ret = new ReturnCase(input);
  const { returnId, orderId, policy } = input;
  let decision: ReturnDecision | undefined;
  let receipt: { actor: Actor; note?: string; at: string } | undefined;
  let inspected: { actor: Actor; lines: InspectionLine[] } | undefined;
  let lostRefund: { actor: Actor; reason: string } | undefined;

  const core = caseCore({
    caseType: 'return',
    caseId: returnId,
    state: ret,
    isTerminal: isReturnTerminal,
    view: () => ret.view(),
    write: (record): Promise<void> => act.recordReturn(record),
    notifyStaff: raw.notifyStaff,
    stepAttentionAfterMs: policy.stepAttentionAfterMs,
    searchAttributes: () => [{ key: WaitingOnKey, value: isReturnTerminal(ret.status) ? null : ret.waitingOn() }],
  });
  const act: ReturnActivities = core.guard(raw, {
    claimReturn: [CASE_ERRORS.ruleViolation],
    cancelShipment: [PROVIDER_ERRORS.refused],
    reserveStock: [CASE_ERRORS.outOfStock, CASE_ERRORS.unknownSku],
  });
  const settled = () => ret.writing === 0;

  setHandler(returnStateQuery, () => ret.view());

  setHandler(awaitReturnRequestUpdate, async () => {
    await condition(() => (ret.taken && settled()) || !!ret.parked);
    return ret.view();
  });

  setHandler(carrierEventSignal, (event) => {
    ret.carrierHints.add(event.waybill);
  });

  setHandler(
    decideReturnUpdate,
    async (request) => {
      if (!decision) decision = request;
      await condition(() => ret.status !== 'PENDING_APPROVAL' && settled());
      return ret.view();
    },
    {
      validator: (request) => {
        const refusal = returnDecisionRefusal(request.actor, ret.view());
        if (refusal) reject(CASE_ERRORS.forbidden, refusal);
        checkDecision(request, decision ?? ret.decision, {
          now: ret.status === 'PENDING_APPROVAL',
          status: ret.status,
          noun: 'return',
        });
      },
    },
  );

  setHandler(
    receiveReturnUpdate,
    async (request) => {
      receipt ??= { ...request, at: new Date().toISOString() };
      await condition(() => ret.status !== 'APPROVED' && ret.status !== 'IN_TRANSIT' && settled());
      return ret.view();
    },
    {
      validator: ({ actor }) => {
        if (!WAREHOUSE_ROLES.includes(actor.role))
          reject(CASE_ERRORS.forbidden, `role ${actor.role} cannot receive returns`);
        if (receipt || ret.receivedAt) return;
        // The warehouse holding the goods is a fact even when the carrier never reported the hand-over.
        if ((ret.status !== 'APPROVED' || !ret.returnParcel) && ret.status !== 'IN_TRANSIT') {
          reject(CASE_ERRORS.wrongState, `the return is ${ret.status}, not on its way to the warehouse`);
        }
        if (lostRefund) reject(CASE_ERRORS.wrongState, 'the return was refunded as lost');
      },
    },
  );

  setHandler(
    inspectReturnUpdate,
    async (request) => {
      inspected ??= request;
      await condition(() => ret.status !== 'RECEIVED' && settled());
      return ret.view();
    },
    {
      validator: ({ actor, lines }) => {
        if (!WAREHOUSE_ROLES.includes(actor.role))
          reject(CASE_ERRORS.forbidden, `role ${actor.role} cannot inspect returns`);
        if (inspected || ret.inspection) reject(CASE_ERRORS.wrongState, 'the return was already inspected');
        if (ret.status !== 'RECEIVED') reject(CASE_ERRORS.wrongState, `the return is ${ret.status}, not received`);
        const refusal = inspectionRefusal(lines, input.lines);
        if (refusal) reject(CASE_ERRORS.ruleViolation, refusal);
      },
    },
  );

  setHandler(
    refundLostReturnUpdate,
    async (request) => {
      lostRefund ??= request;
      await condition(() => ret.status !== 'IN_TRANSIT' && settled());
      return ret.view();
    },
    {
      validator: ({ actor, reason }) => {
        if (!RETURN_APPROVER_ROLES.includes(actor.role)) {
          reject(CASE_ERRORS.forbidden, `role ${actor.role} cannot refund a lost return`);
        }
        if (lostRefund) return;
        if (ret.status !== 'IN_TRANSIT' || !ret.attention.has('return_parcel_lost') || receipt) {
          reject(CASE_ERRORS.wrongState, `the return is ${ret.status} and its parcel is not reported lost`);
        }
        if (!reason.trim()) reject(CASE_ERRORS.ruleViolation, 'a refund without receipt needs a reason');
      },
    },
  );

  /** Tells the order a return opened or closed; an order that has ended takes no signal and needs none. */
  async function tellOrder(): Promise<void> {
    try {
      await getExternalWorkflowHandle(orderWorkflowId(orderId)).signal(returnsChangedSignal, { returnId });
    } catch {
      // The order has completed or was never a workflow here: its settlement is recomputed after the refund.
    }
  }

  async function claim(): Promise<boolean> {
    try {
      ret.claim = await act.claimReturn({
        returnId,
        orderId,
        lines: input.lines,
        reason: input.reason,
        windowMs: returnWindowMs(input.reason, policy),
      });
      core.onUndo('release the claimed lines', () => act.releaseReturn({ returnId }));
      return true;
    } catch (error) {
      if (failureType(error) !== CASE_ERRORS.ruleViolation) throw error;
      ret.rejectReason = (error as Error & { cause?: Error }).cause?.message ?? 'not eligible for return';
      return false;
    }
  }

  async function approve(): Promise<boolean> {
    ret.taken = true;
    if (ret.approver === 'system') {
      await core.moveTo('APPROVED', SYSTEM_ACTOR, `${input.reason}: approved by the system`);
      return true;
    }
    await core.moveTo('PENDING_APPROVAL', input.requestedBy, `${input.reason}: awaiting an agent`);
    await core.escalateAfter(() => !!decision, {
      afterMs: policy.approvalSlaMs,
      levels: 2,
      reason: 'sla_breached',
      topic: 'return_approval_overdue',
      message: (level) => `return ${returnId} for order ${orderId} waits for approval (escalation ${level})`,
      action: 'return.escalated',
    });
    const made = decision!;
    ret.decision = { ...made, at: new Date().toISOString() };
    const audit = {
      actor: made.actor,
      action: made.decision === 'approve' ? 'return.approved' : 'return.rejected',
      detail: { reason: made.reason, decisionId: made.decisionId, lines: input.lines },
    };
    if (made.decision === 'reject') {
      ret.rejectReason = made.reason;
      await act.releaseReturn({ returnId });
      await core.moveTo('REJECTED', made.actor, made.reason, audit);
      return false;
    }
    await core.moveTo('APPROVED', made.actor, made.reason ?? 'approved', audit);
    return true;
  }

  /** Reads the carrier's tracking of a parcel and applies every event not seen before, in order. */
  async function syncParcel(parcel: ReturnParcelView): Promise<void> {
    const tracking = await act.trackShipment({ orderId, waybill: parcel.waybill });
    let changed = false;
    for (const event of tracking?.events ?? []) {
      if (ret.seenEvents.has(event.eventId)) continue;
      ret.seenEvents.add(event.eventId);
      const leavesWarehouse = parcel.status === 'BOOKED' && event.type !== 'EXCEPTION';
      parcel.status = event.type;
      parcel.exception = event.exception;
      parcel.lastEventAt = event.occurredAt;
      changed = true;
      await act.recordShipmentEvent({
        orderId,
        shipmentId: parcel.shipmentId,
        eventId: event.eventId,
        status: parcel.status,
        exception: event.exception,
        occurredAt: event.occurredAt,
      });
      if (parcel.purpose === 'replacement' && leavesWarehouse) {
        await act.commitStock({ orderId: returnId, warehouseCode: parcel.warehouseCode, actor: 'system' });
      }
    }
    if (changed) await core.persist();
  }

  /**
   * Follows a parcel until `done`, `stop` or the deadline. Webhooks only wake it; the facts come from the carrier's
   * tracking, read for a hinted parcel and at least every poll interval. True when `done`.
   */
  async function follow(
    parcel: ReturnParcelView,
    done: () => boolean,
    { until, stop = () => false }: { until?: number; stop?: () => boolean } = {},
  ): Promise<boolean> {
    for (;;) {
      if (done()) return true;
      if (stop()) return false;
      const left = until === undefined ? policy.carrierPollIntervalMs : until - Date.now();
      if (left <= 0) {
        await syncParcel(parcel);
        return done();
      }
      await core.waitFor(
        () => ret.carrierHints.has(parcel.waybill) || stop(),
        Math.min(left, policy.carrierPollIntervalMs),
      );
      ret.carrierHints.delete(parcel.waybill);
      await syncParcel(parcel);
    }
  }

  async function bookReturnParcel(): Promise<ReturnParcelView> {
    const { claim: claimed } = ret;
    const shipmentId = `${returnId}-R1`;
    const booking = await act.bookReturnParcel({
      returnId,
      orderId,
      shipmentId,
      method: input.method,
      from: claimed!.address,
      warehouseCode: claimed!.warehouseCode,
      lines: input.lines,
    });
    const parcel: ReturnParcelView = {
      shipmentId,
      purpose: 'return',
      method: input.method,
      carrier: booking.carrier,
      waybill: booking.waybill,
      warehouseCode: claimed!.warehouseCode,
      status: 'BOOKED',
      labelUrl: booking.labelUrl,
    };
    ret.parcels.push(parcel);
    core.onUndo(`cancel return parcel ${shipmentId}`, async () => {
      if (parcel.status !== 'BOOKED') return;
      try {
        await act.cancelShipment({ orderId, shipmentId, waybill: parcel.waybill });
      } catch (error) {
        if (failureType(error) !== PROVIDER_ERRORS.refused) throw error;
      }
    });
    await core.persist(undefined, {
      actor: SYSTEM_ACTOR,
      action: input.method === 'label' ? 'return.label_issued' : 'return.pickup_booked',
      detail: { waybill: parcel.waybill, labelUrl: parcel.labelUrl },
    });
    return parcel;
  }

  /** Waits for the hand-over to the carrier until the deadline set at approval; past it, the booking is cancelled: EXPIRED. */
  async function awaitHandover(parcel: ReturnParcelView): Promise<void> {
    const handed = () => parcel.status !== 'BOOKED';
    const inTime = await follow(parcel, handed, { until: ret.slaDeadline!.getTime(), stop: () => !!receipt });
    if (!inTime && !receipt && !(await cancelUnhanded(parcel))) {
      ret.slaDeadline = undefined;
      await act.releaseReturn({ returnId });
      await core.moveTo('EXPIRED', SYSTEM_ACTOR, 'not handed to the carrier in time', {
        actor: SYSTEM_ACTOR,
        action: 'return.expired',
        detail: { waybill: parcel.waybill, handoverWindowMs: policy.handoverWindowMs },
      });
      throw new ReturnEnded();
    }
    ret.slaDeadline = undefined;
    if (!receipt) await core.moveTo('IN_TRANSIT', SYSTEM_ACTOR, `${parcel.waybill} handed to the carrier`);
  }

  /** Cancels a booking past its deadline; true when the carrier collected it just now after all. */
  async function cancelUnhanded(parcel: ReturnParcelView): Promise<boolean> {
    try {
      await act.cancelShipment({ orderId, shipmentId: parcel.shipmentId, waybill: parcel.waybill });
    } catch (error) {
      if (failureType(error) !== PROVIDER_ERRORS.refused) throw error;
      // Collected just now: the return goes on. Otherwise the carrier no longer holds the booking at all.
      await syncParcel(parcel);
      if (parcel.status !== 'BOOKED') return true;
    }
    parcel.status = 'CANCELLED';
    return false;
  }

  /** Waits for the warehouse to receive the goods; a parcel the carrier lost waits for an agent to refund anyway. */
  async function awaitArrival(parcel: ReturnParcelView): Promise<'received' | 'lost'> {
    const over = () => !!receipt || !!lostRefund;
    const lost = () => parcel.status === 'EXCEPTION' && parcel.exception === 'lost';
    while (!over()) {
      if (parcel.status === 'DELIVERED' || lost()) {
        // Arrived, or lost: only the warehouse (or an agent, for a lost parcel) moves it on; later scans still count.
        await core.waitFor(() => over() || ret.carrierHints.has(parcel.waybill));
        if (ret.carrierHints.delete(parcel.waybill)) await syncParcel(parcel);
      } else {
        await follow(parcel, () => parcel.status === 'DELIVERED' || lost(), { stop: over });
      }
      if (lost() && !ret.attention.has('return_parcel_lost')) {
        await core.raise('return_parcel_lost', parcel.waybill, {
          topic: 'return_parcel_lost',
          message: `return ${returnId}: the carrier lost ${parcel.waybill}; an agent may refund without receipt`,
          audit: { actor: SYSTEM_ACTOR, action: 'return.parcel_lost', detail: { waybill: parcel.waybill } },
        });
      } else if (!lost() && ret.attention.has('return_parcel_lost') && !lostRefund) {
        // Found again: the carrier scanned it after reporting it lost.
        ret.clear('return_parcel_lost');
        await core.persist();
      }
    }
    if (receipt) {
      if (parcel.status === 'BOOKED') {
        // Brought to the warehouse without the carrier: the courier must not call for it any more.
        try {
          await act.cancelShipment({ orderId, shipmentId: parcel.shipmentId, waybill: parcel.waybill });
          parcel.status = 'CANCELLED';
        } catch (error) {
          if (failureType(error) !== PROVIDER_ERRORS.refused) throw error;
        }
      }
      ret.clear('return_parcel_lost');
      ret.receivedAt = receipt.at;
      ret.receivedBy = receipt.actor.principal;
      await core.moveTo('RECEIVED', receipt.actor, receipt.note ?? 'received by the warehouse', {
        actor: receipt.actor,
        action: 'return.received',
        detail: { note: receipt.note, waybill: parcel.waybill },
      });
      return 'received';
    }
    return 'lost';
  }

  /** Starts the refund case for `lines` and waits for its end; the outcome says whether money went back. */
  async function refundLines(lines: LineRequest[], note: string): Promise<ReturnOutcome | undefined> {
    const amount = refundForLines(lines, ret.claim!.unitPrices);
    if (amount <= 0) return undefined;
    const refundId = `${returnId}-refund`;
    const refundInput: RefundInput = {
      refundId,
      orderId,
      customerId: input.customerId,
      currency: input.currency,
      amount,
      lines,
      reason: 'return_received',
      note,
      origin: 'return',
      requestedBy: input.requestedBy,
      requestedAt: new Date().toISOString(),
      policy: input.refundPolicy,
    };
    ret.refund = { refundId, amount, status: 'REQUESTED' };
    await core.persist();
    const child = await startRefundCase(refundInput);
    const result = await child.result();
    ret.refund.status = result.status;
    await act.resettleOrder({ orderId });
    if (result.status === 'REFUNDED') return 'refunded';
    await core.notifyStaff(
      'return_refund_rejected',
      `return ${returnId}: the refund of ${amount} was rejected (${result.rejectReason ?? 'no reason'})`,
    );
    return 'refund_rejected';
  }

  /** Ships the same goods again: reserved, booked and followed like an order's parcels, until delivered. */
  async function replace(lines: LineRequest[]): Promise<boolean> {
    let allocations;
    try {
      allocations = await act.reserveStock({ orderId: returnId, lines, actor: 'system' });
    } catch (error) {
      const type = failureType(error);
      if (type !== CASE_ERRORS.outOfStock && type !== CASE_ERRORS.unknownSku) throw error;
      return false;
    }
    for (const [index, allocation] of allocations.entries()) {
      const shipmentId = `${returnId}-X${index + 1}`;
      const booking = await act.bookShipment({
        orderId,
        shipmentId,
        warehouseCode: allocation.warehouseCode,
        lines: allocation.lines,
        address: ret.claim!.address,
        caseType: 'return',
        caseId: returnId,
        purpose: 'replacement',
      });
      ret.parcels.push({
        shipmentId,
        purpose: 'replacement',
        carrier: booking.carrier,
        waybill: booking.waybill,
        warehouseCode: allocation.warehouseCode,
        status: 'BOOKED',
      });
    }
    await core.persist(undefined, {
      actor: SYSTEM_ACTOR,
      action: 'return.replacement_shipped',
      detail: { lines, waybills: ret.parcels.filter((p) => p.purpose === 'replacement').map((p) => p.waybill) },
    });
    for (const parcel of ret.parcels.filter((p) => p.purpose === 'replacement')) {
      await follow(parcel, () => {
        if (parcel.status === 'EXCEPTION' && !ret.attention.has('carrier_exception')) {
          ret.flag('carrier_exception', `${parcel.shipmentId}:${parcel.exception ?? 'unknown'}`);
          core.publish();
        }
        return parcel.status === 'DELIVERED';
      });
    }
    ret.clear('carrier_exception');
    return true;
  }

  /** Acts on the warehouse's verdict: passed goods back on the shelf and refunded or replaced, failed ones handled. */
  async function settleInspection(lines: InspectionLine[], actor: Actor): Promise<ReturnOutcome> {
    const passed = mergeLines(lines.filter((l) => l.passed));
    const failed = mergeLines(lines.filter((l) => !l.passed));
    if (passed.length > 0) {
      await act.restockReturn({
        returnId,
        warehouseCode: ret.returnParcel?.warehouseCode ?? ret.claim!.warehouseCode,
        lines: passed,
        actor: actor.principal,
      });
    }
    if (failed.length > 0 && input.failedGoods === 'send_back') {
      const shipmentId = `${returnId}-B1`;
      const warehouseCode = ret.returnParcel?.warehouseCode ?? ret.claim!.warehouseCode;
      const booking = await act.bookShipment({
        orderId,
        shipmentId,
        warehouseCode,
        lines: failed,
        address: ret.claim!.address,
        caseType: 'return',
        caseId: returnId,
        purpose: 'send_back',
      });
      ret.parcels.push({ shipmentId, purpose: 'send_back', ...booking, warehouseCode, status: 'BOOKED' });
      await core.persist();
    }
    if (passed.length === 0) return 'inspection_failed';
    if (input.type === 'exchange' && (await replace(passed))) return 'replaced';
    const outcome = await refundLines(
      passed,
      input.type === 'exchange' ? 'no stock for a replacement: refunded instead' : `return ${returnId}`,
    );
    return outcome ?? 'inspection_failed';
  }

  async function close(outcome: ReturnOutcome, actor: Actor, reason: string): Promise<void> {
    ret.outcome = outcome;
    await core.moveTo('CLOSED', actor, reason, { actor, action: 'return.closed', detail: { outcome } });
  }

  try {
    await core.moveTo('REQUESTED', input.requestedBy, input.reason, {
      actor: input.requestedBy,
      action: 'return.requested',
      detail: { lines: input.lines, reason: input.reason, type: input.type, method: input.method },
    });
    if (!(await claim())) {
      ret.taken = true;
      await core.moveTo('REJECTED', SYSTEM_ACTOR, ret.rejectReason);
      return ret.view();
    }
    await tellOrder();
    if (!(await approve())) return ret.view();
    // The hand-over window runs from approval; the booking is stored with its deadline.
    ret.slaDeadline = new Date(Date.now() + policy.handoverWindowMs);
    const parcel = await bookReturnParcel();
    await awaitHandover(parcel);
    if ((await awaitArrival(parcel)) === 'lost') {
      const { actor, reason } = lostRefund!;
      await core.persist(undefined, { actor, action: 'return.refund_without_receipt', detail: { reason } });
      const outcome = await refundLines(input.lines, `parcel lost by the carrier: ${reason}`);
      ret.clear('return_parcel_lost');
      await close(outcome === 'refunded' ? 'refunded_without_receipt' : 'refund_rejected', actor, reason);
      return ret.view();
    }
    await core.waitFor(() => !!inspected);
    const { actor, lines } = inspected!;
    ret.inspection = { lines: lines.map((l) => ({ ...l })), actor: actor.principal, at: new Date().toISOString() };
    const passedUnits = lines.filter((l) => l.passed).reduce((sum, l) => sum + l.quantity, 0);
    await core.moveTo('INSPECTED', actor, passedUnits > 0 ? `${passedUnits} unit(s) passed` : 'inspection failed', {
      actor,
      action: 'return.inspected',
      detail: { lines },
    });
    const outcome = await settleInspection(lines, actor);
    await close(outcome, SYSTEM_ACTOR, outcomeReason(outcome, input.failedGoods));
  } catch (error) {
    if (error instanceof ReturnEnded) return ret.view();
    ret.taken = true;
    if (error instanceof StepAbandoned) {
      ret.flag('failed', error.message);
      ret.rejectReason = error.message;
      await core.compensate(() => core.moveTo('REJECTED', core.recoveredBy(), error.message));
    } else if (isCancellation(error)) {
      // Cancelled in Temporal by ops: what the return holds (claimed units, an open booking) is given back first.
      ret.rejectReason = 'workflow cancelled';
      await core.compensate(() =>
        core.moveTo('REJECTED', { principal: workflowInfo().workflowId, role: 'system' }, 'workflow cancelled'),
      );
      throw error;
    } else {
      throw error;
    }
  } finally {
    if (isReturnTerminal(ret.status)) await tellOrder();
  }
  return ret.view();
}

/** Why the warehouse's verdict does not match the returned lines; undefined when every returned unit is judged once. */
function inspectionRefusal(lines: InspectionLine[], returned: LineRequest[]): string | undefined {
  if (lines.length === 0) return 'an inspection needs a verdict per returned line';
  const judged = new Map<string, number>();
  for (const line of lines) {
    if (!Number.isInteger(line.quantity) || line.quantity <= 0)
      return `${line.sku}: quantity must be a positive integer`;
    judged.set(line.sku, (judged.get(line.sku) ?? 0) + line.quantity);
  }
  const expected = new Map(mergeLines(returned).map((l) => [l.sku, l.quantity]));
  for (const [sku, quantity] of judged) {
    if (!expected.has(sku)) return `${sku} is not part of this return`;
    if (quantity !== expected.get(sku)) return `${sku}: ${quantity} judged, ${expected.get(sku)} returned`;
  }
  for (const [sku] of expected) if (!judged.has(sku)) return `${sku} has no verdict`;
  return undefined;
}

function mergeLines(lines: LineRequest[]): LineRequest[] {
  return [...sumQuantities(lines)].map(([sku, quantity]) => ({ sku, quantity }));
}

function outcomeReason(outcome: ReturnOutcome, failedGoods: string): string {
  switch (outcome) {
    case 'refunded':
      return 'goods restocked and refunded';
    case 'replaced':
      return 'replacement delivered';
    case 'inspection_failed':
      return failedGoods === 'send_back'
        ? 'inspection failed: goods sent back'
        : 'inspection failed: goods disposed of';
    case 'refund_rejected':
      return 'the refund was rejected';
    default:
      return outcome;
  }
}
