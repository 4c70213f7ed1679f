import type { WorkflowHandle } from '@temporalio/client';
import type { RefundView } from '../../domain/refund';
import type { ReturnView } from '../../domain/return';
import { CASE_ERRORS } from '../../workflows/case/messages';
import {
  carrierEventSignal,
  confirmReceiptUpdate,
  orderStateQuery,
  returnsChangedSignal,
} from '../../workflows/messages';
import { refundWorkflowId } from '../../workflows/refund-messages';
import {
  decideReturnUpdate,
  inspectReturnUpdate,
  receiveReturnUpdate,
  refundLostReturnUpdate,
  returnStateQuery,
} from '../../workflows/return-messages';
import { expectRejection } from '../helpers/assertions';
import { capturedPayment, CATALOGUE, fakeActivities, type FakeActivities } from '../helpers/fake-activities';
import { agent, supervisor, warehouseActor } from '../helpers/fixtures';
import {
  deliverAll,
  HOUR,
  orderInput,
  policy,
  returnInput,
  returnsPolicy,
  startReturn,
  waitForReturn,
  waitForStatus,
  waitForView,
  workflowTestEnv,
} from '../helpers/workflow-env';
import { recordHistory } from '../helpers/histories';

const { withWorker, env } = workflowTestEnv();
const PRICE_A = CATALOGUE['SKU-A'].price;
const PRICE_B = CATALOGUE['SKU-B'].price;

/** The carrier scans the parcel and posts its webhook to the return. */
async function scan(
  fakes: FakeActivities,
  handle: WorkflowHandle,
  waybill: string,
  ...rest: Parameters<FakeActivities['scan']> extends [string, ...infer R] ? R : never
): Promise<void> {
  await handle.signal(carrierEventSignal, fakes.scan(waybill, ...rest));
}

async function carry(fakes: FakeActivities, handle: WorkflowHandle, waybill: string): Promise<void> {
  for (const type of ['PICKED_UP', 'IN_TRANSIT', 'DELIVERED'] as const) await scan(fakes, handle, waybill, type);
}

const returnParcel = (view: ReturnView) => view.parcels.find((p) => p.purpose === 'return')!;
const statuses = (view: ReturnView) => view.history.map((h) => h.to);

describe('return workflow', () => {
  it('takes a changed-mind return through pickup, receipt and inspection to a refund case of the returned lines', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-r1', 2 * PRICE_A + PRICE_B);
    await withWorker(fakes, async () => {
      const input = returnInput({
        orderId: 'o-r1',
        lines: [
          { sku: 'SKU-A', quantity: 2 },
          { sku: 'SKU-B', quantity: 1 },
        ],
      });
      const { handle, view } = await startReturn(env().client, input);
      expect(view.approver).toBe('system');
      const booked = await waitForReturn(handle, (v) => v.parcels.length === 1, 'a booked pickup');
      expect(booked.status).toBe('APPROVED');
      expect(booked.waitingOn).toBe('carrier');
      const parcel = returnParcel(booked);
      expect(parcel).toMatchObject({ method: 'pickup', status: 'BOOKED', warehouseCode: 'WH1' });
      expect(fakes.argsOf('bookReturnParcel')).toEqual([
        expect.objectContaining({
          returnId: input.returnId,
          method: 'pickup',
          warehouseCode: 'WH1',
          lines: input.lines,
        }),
      ]);

      // A receipt before the goods are even on their way is refused with its reason? No: the hand-over comes first here.
      await carry(fakes, handle, parcel.waybill);
      const arrived = await waitForReturn(handle, (v) => v.waitingOn === 'warehouse', 'waiting on the warehouse');
      expect(arrived.status).toBe('IN_TRANSIT');

      await expectRejection(
        handle.executeUpdate(receiveReturnUpdate, { args: [{ actor: agent }] }),
        CASE_ERRORS.forbidden,
        /agent cannot receive/,
      );
      const received = await handle.executeUpdate(receiveReturnUpdate, { args: [{ actor: warehouseActor }] });
      expect(received.status).toBe('RECEIVED');
      expect(received.receivedBy).toBe('wang');

      await expectRejection(
        handle.executeUpdate(inspectReturnUpdate, {
          args: [{ actor: warehouseActor, lines: [{ sku: 'SKU-A', quantity: 1, passed: true }] }],
        }),
        CASE_ERRORS.ruleViolation,
        /SKU-A: 1 judged, 2 returned/,
      );
      const inspected = await handle.executeUpdate(inspectReturnUpdate, {
        args: [
          {
            actor: warehouseActor,
            lines: [
              { sku: 'SKU-A', quantity: 2, passed: true },
              { sku: 'SKU-B', quantity: 1, passed: true, note: 'sealed' },
            ],
          },
        ],
      });
      expect(inspected.status).toBe('INSPECTED');

      const done = await handle.result();
      expect(done.status).toBe('CLOSED');
      expect(done.outcome).toBe('refunded');
      expect(statuses(done)).toEqual(['REQUESTED', 'APPROVED', 'IN_TRANSIT', 'RECEIVED', 'INSPECTED', 'CLOSED']);
      expect(done.refund).toEqual({
        refundId: `${input.returnId}-refund`,
        amount: 2 * PRICE_A + PRICE_B,
        status: 'REFUNDED',
      });
      expect(fakes.argsOf('restockReturn')).toEqual([
        expect.objectContaining({ returnId: input.returnId, warehouseCode: 'WH1', lines: input.lines, actor: 'wang' }),
      ]);
      const refund: RefundView = await env()
        .client.workflow.getHandle(refundWorkflowId(done.refund!.refundId))
        .result();
      expect(refund).toMatchObject({
        reason: 'return_received',
        origin: 'return',
        approver: 'system',
        status: 'REFUNDED',
      });
      expect(fakes.payments.get('pay_o-r1')!.refundedAmount).toBe(2 * PRICE_A + PRICE_B);
      expect(fakes.argsOf('resettleOrder')).toEqual(['o-r1']);
      await recordHistory('return-refunded', handle);
    });
  });

  it('sends quality claims to an agent: roles and the requester are refused, a rejection releases the claim', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async () => {
      const input = returnInput({ orderId: 'o-r2', reason: 'quality', requestedBy: agent });
      const { handle, view } = await startReturn(env().client, input);
      expect(view).toMatchObject({ status: 'PENDING_APPROVAL', approver: 'agent', waitingOn: 'agent' });
      expect(fakes.returnClaims.get(input.returnId)).toEqual(input.lines);

      const decide = (actor = supervisor, decision: 'approve' | 'reject' = 'reject', reason?: string) =>
        handle.executeUpdate(decideReturnUpdate, {
          args: [{ decision, actor, decisionId: `d-${actor.principal}`, reason }],
        });
      await expectRejection(decide(warehouseActor), CASE_ERRORS.forbidden, /warehouse cannot decide/);
      await expectRejection(decide(agent, 'approve'), CASE_ERRORS.forbidden, /requested/);
      await expectRejection(decide(supervisor, 'reject'), CASE_ERRORS.ruleViolation, /needs a reason/);

      const rejected = await decide(supervisor, 'reject', 'scratches are from use');
      expect(rejected.status).toBe('REJECTED');
      expect(rejected.rejectReason).toBe('scratches are from use');
      expect(rejected.history.at(-1)).toMatchObject({ to: 'REJECTED', actor: 'sam', reason: 'scratches are from use' });
      expect(fakes.returnClaims.has(input.returnId)).toBe(false);
      expect(fakes.names()).not.toContain('bookReturnParcel');
      // The customer hears of it through the transition's notification, written with the REJECTED record.
      expect(fakes.returnRecords.some((r) => r.transition?.to === 'REJECTED')).toBe(true);
      expect((await handle.result()).status).toBe('REJECTED');
    });
  });

  it('answers an ineligible request with the claim refusal and never books a parcel', async () => {
    const fakes = fakeActivities();
    fakes.returnRefusals.push('the return window of 7 days after delivery has passed');
    await withWorker(fakes, async () => {
      const { handle, view } = await startReturn(env().client, returnInput({ orderId: 'o-r3' }));
      expect(view.status).toBe('REJECTED');
      expect(view.rejectReason).toMatch(/window of 7 days/);
      expect((await handle.result()).status).toBe('REJECTED');
      expect(fakes.names()).not.toContain('bookReturnParcel');
    });
  });

  it('expires a label never handed to the carrier within the window: booking cancelled, lines released', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async () => {
      const input = returnInput({ orderId: 'o-r4', method: 'label' });
      const { handle } = await startReturn(env().client, input);
      const booked = await waitForReturn(handle, (v) => v.parcels.length === 1, 'a label');
      expect(booked.waitingOn).toBe('customer');
      expect(returnParcel(booked).labelUrl).toMatch(/^http:\/\/labels\.test\/RW/);
      // The window runs from the booking, right after approval.
      const deadline = Date.parse(booked.slaDeadline!) - Date.parse(booked.history.at(-1)!.at);
      expect(deadline).toBeGreaterThanOrEqual(returnsPolicy.handoverWindowMs);
      expect(deadline).toBeLessThan(returnsPolicy.handoverWindowMs + 60_000);

      await env().sleep(returnsPolicy.handoverWindowMs - HOUR);
      expect((await handle.query(returnStateQuery)).status).toBe('APPROVED');
      await env().sleep(2 * HOUR);
      const done = await handle.result();
      expect(done.status).toBe('EXPIRED');
      expect(returnParcel(done).status).toBe('CANCELLED');
      expect(fakes.argsOf('cancelShipment')).toEqual([returnParcel(done).waybill]);
      expect(fakes.returnClaims.has(input.returnId)).toBe(false);
      expect(fakes.names()).not.toContain('restockReturn');
    });
  });

  it('keeps a parcel handed over just before the deadline, read at the carrier even without a webhook', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async () => {
      const { handle } = await startReturn(env().client, returnInput({ orderId: 'o-r5', method: 'label' }));
      const booked = await waitForReturn(handle, (v) => v.parcels.length === 1, 'a label');
      await env().sleep(returnsPolicy.handoverWindowMs / 2);
      // Dropped off, but the webhook never arrives: the poll or the deadline's last look finds it.
      fakes.scan(returnParcel(booked).waybill, 'PICKED_UP');
      await env().sleep(returnsPolicy.handoverWindowMs);
      const view = await waitForReturn(handle, (v) => v.status === 'IN_TRANSIT', 'IN_TRANSIT');
      expect(view.waitingOn).toBe('carrier');
      expect(fakes.names()).not.toContain('cancelShipment');
    });
  });

  it('flags a parcel the carrier lost for an agent, who refunds it without receipt and nothing is restocked', async () => {
    const fakes = fakeActivities();
    capturedPayment(fakes, 'o-r6', 50_000);
    await withWorker(fakes, async () => {
      const input = returnInput({ orderId: 'o-r6', lines: [{ sku: 'SKU-B', quantity: 1 }] });
      const { handle } = await startReturn(env().client, input);
      const booked = await waitForReturn(handle, (v) => v.parcels.length === 1, 'a pickup');
      const { waybill } = returnParcel(booked);
      await scan(fakes, handle, waybill, 'PICKED_UP');
      await waitForReturn(handle, (v) => v.status === 'IN_TRANSIT', 'IN_TRANSIT');
      await expectRejection(
        handle.executeUpdate(refundLostReturnUpdate, { args: [{ actor: agent, reason: 'customer called' }] }),
        CASE_ERRORS.wrongState,
        /not reported lost/,
      );
      await scan(fakes, handle, waybill, 'EXCEPTION', 'lost');
      const lost = await waitForReturn(handle, (v) => v.attentionReasons.includes('return_parcel_lost'), 'flagged');
      expect(lost.waitingOn).toBe('agent');

      await expectRejection(
        handle.executeUpdate(refundLostReturnUpdate, { args: [{ actor: warehouseActor, reason: 'lost' }] }),
        CASE_ERRORS.forbidden,
      );
      await handle.executeUpdate(refundLostReturnUpdate, {
        args: [{ actor: agent, reason: 'carrier confirmed loss' }],
      });
      const done = await handle.result();
      expect(done).toMatchObject({ status: 'CLOSED', outcome: 'refunded_without_receipt', needsAttention: false });
      expect(done.refund).toMatchObject({ amount: PRICE_B, status: 'REFUNDED' });
      expect(done.history.at(-1)).toMatchObject({ actor: 'alice', reason: 'carrier confirmed loss' });
      expect(fakes.names()).not.toContain('restockReturn');
      expect(fakes.payments.get('pay_o-r6')!.refundedAmount).toBe(PRICE_B);
      expect(fakes.staffTopics()).toContain('return_parcel_lost');
    });
  });

  it('tells the customer when inspection fails and sends the goods back, without restock or refund', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async () => {
      const input = returnInput({ orderId: 'o-r7', failedGoods: 'send_back' });
      const { handle } = await startReturn(env().client, input);
      const booked = await waitForReturn(handle, (v) => v.parcels.length === 1, 'a pickup');
      await carry(fakes, handle, returnParcel(booked).waybill);
      await handle.executeUpdate(receiveReturnUpdate, { args: [{ actor: warehouseActor, note: 'box dented' }] });
      await handle.executeUpdate(inspectReturnUpdate, {
        args: [{ actor: warehouseActor, lines: [{ sku: 'SKU-A', quantity: 1, passed: false, note: 'water damage' }] }],
      });
      const done = await handle.result();
      expect(done).toMatchObject({ status: 'CLOSED', outcome: 'inspection_failed' });
      expect(done.inspection!.lines).toEqual([{ sku: 'SKU-A', quantity: 1, passed: false, note: 'water damage' }]);
      expect(done.history.at(-1)!.reason).toBe('inspection failed: goods sent back');
      expect(done.parcels.map((p) => p.purpose)).toEqual(['return', 'send_back']);
      expect(fakes.argsOf('bookShipment')).toEqual([`${input.returnId}-B1`]);
      expect(fakes.names()).not.toContain('restockReturn');
      expect(done.refund).toBeUndefined();
      // The customer's notification goes with the INSPECTED and CLOSED transitions.
      expect(fakes.returnRecords.filter((r) => r.transition).map((r) => r.transition!.to)).toContain('CLOSED');
    });
  });

  it('replaces an exchange: stock reserved under the return, the parcel booked for the return case and followed', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async () => {
      const input = returnInput({ orderId: 'o-r8', type: 'exchange', reason: 'changed_mind' });
      const { handle } = await startReturn(env().client, input);
      const booked = await waitForReturn(handle, (v) => v.parcels.length === 1, 'a pickup');
      await carry(fakes, handle, returnParcel(booked).waybill);
      await handle.executeUpdate(receiveReturnUpdate, { args: [{ actor: warehouseActor }] });
      await handle.executeUpdate(inspectReturnUpdate, {
        args: [{ actor: warehouseActor, lines: [{ sku: 'SKU-A', quantity: 1, passed: true }] }],
      });
      const shipping = await waitForReturn(handle, (v) => v.parcels.length === 2, 'a replacement parcel');
      const replacement = shipping.parcels[1];
      expect(replacement).toMatchObject({
        purpose: 'replacement',
        shipmentId: `${input.returnId}-X1`,
        status: 'BOOKED',
      });
      expect(shipping.waitingOn).toBe('carrier');
      expect(fakes.reserved.get(input.returnId)).toEqual([{ warehouseCode: 'WH1', lines: input.lines }]);
      await carry(fakes, handle, replacement.waybill);
      const done = await handle.result();
      expect(done).toMatchObject({ status: 'CLOSED', outcome: 'replaced' });
      expect(done.refund).toBeUndefined();
      expect(fakes.argsOf('commitStock')).toEqual(['WH1']);
      expect(fakes.argsOf('restockReturn')).toHaveLength(1);
    });
  });

  it('takes goods brought to the warehouse before any hand-over, and cancels the courier', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async () => {
      const input = returnInput({ orderId: 'o-r10' });
      const { handle } = await startReturn(env().client, input);
      const booked = await waitForReturn(handle, (v) => v.parcels.length === 1, 'a pickup');
      const received = await handle.executeUpdate(receiveReturnUpdate, { args: [{ actor: warehouseActor }] });
      expect(received.status).toBe('RECEIVED');
      expect(returnParcel(received).status).toBe('CANCELLED');
      expect(fakes.argsOf('cancelShipment')).toEqual([returnParcel(booked).waybill]);
      expect(statuses(received)).toEqual(['REQUESTED', 'APPROVED', 'RECEIVED']);
    });
  });

  it('closes as refund_rejected and tells staff when the refund case finds nothing left to refund', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async () => {
      const { handle } = await startReturn(env().client, returnInput({ orderId: 'o-r11' }));
      const booked = await waitForReturn(handle, (v) => v.parcels.length === 1, 'a pickup');
      await carry(fakes, handle, returnParcel(booked).waybill);
      await handle.executeUpdate(receiveReturnUpdate, { args: [{ actor: warehouseActor }] });
      await handle.executeUpdate(inspectReturnUpdate, {
        args: [{ actor: warehouseActor, lines: [{ sku: 'SKU-A', quantity: 1, passed: true }] }],
      });
      const done = await handle.result();
      expect(done).toMatchObject({ status: 'CLOSED', outcome: 'refund_rejected' });
      expect(done.refund).toMatchObject({ amount: PRICE_A, status: 'REJECTED' });
      expect(fakes.staffTopics()).toContain('return_refund_rejected');
    });
  });

  it('gives back the claimed units and the booking when ops cancel the workflow', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async () => {
      const input = returnInput({ orderId: 'o-r12' });
      const { handle } = await startReturn(env().client, input);
      const booked = await waitForReturn(handle, (v) => v.parcels.length === 1, 'a pickup');
      await handle.cancel();
      await expect(handle.result()).rejects.toThrow();
      expect(fakes.argsOf('cancelShipment')).toEqual([returnParcel(booked).waybill]);
      expect(fakes.returnClaims.has(input.returnId)).toBe(false);
      expect(fakes.returnRecords.at(-1)!.view).toMatchObject({
        status: 'REJECTED',
        rejectReason: 'workflow cancelled',
      });
    });
  });

  it('escalates a return waiting for approval at the SLA and again at twice it', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async () => {
      const { handle } = await startReturn(
        env().client,
        returnInput({ orderId: 'o-r9', reason: 'damaged_in_transit' }),
      );
      await env().sleep(returnsPolicy.approvalSlaMs + HOUR);
      const first = await waitForReturn(handle, (v) => v.escalationLevel === 1, 'escalation 1');
      expect(first.attentionReasons).toContain('sla_breached');
      await env().sleep(returnsPolicy.approvalSlaMs);
      await waitForReturn(handle, (v) => v.escalationLevel === 2, 'escalation 2');
      expect(fakes.staffTopics().filter((t) => t === 'return_approval_overdue')).toHaveLength(2);
      const approved = await handle.executeUpdate(decideReturnUpdate, {
        args: [{ decision: 'approve', actor: agent, decisionId: 'd-1' }],
      });
      expect(approved.status).toBe('APPROVED');
      expect(approved.needsAttention).toBe(false);
    });
  });
});

describe('order completion with open returns', () => {
  it('settles only once the open returns have closed, and a confirmation is answered meanwhile', async () => {
    const fakes = fakeActivities();
    fakes.openReturnCounts.push(1, 1);
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput());
      await waitForStatus(handle, 'FULFILLING');
      await deliverAll(fakes, handle);
      await waitForStatus(handle, 'DELIVERED');
      const confirmed = await handle.executeUpdate(confirmReceiptUpdate, {
        args: [{ actor: { principal: 'cus_1', role: 'system' } }],
      });
      expect(confirmed.status).toBe('DELIVERED');
      expect(fakes.names()).not.toContain('recordSettlement');

      // The poll finds the return still open; its signal brings the next look, which finds none.
      await env().sleep(policy.carrierPollIntervalMs + 1000);
      expect((await handle.query(orderStateQuery)).status).toBe('DELIVERED');
      await handle.signal(returnsChangedSignal, { returnId: 'ret-1' });
      const done = await waitForView(handle, (v) => v.status === 'COMPLETED', 'COMPLETED');
      expect(done.history.at(-1)!.reason).toBe('receipt confirmed');
      expect(fakes.argsOf('openReturns')).toHaveLength(3);
      expect(fakes.names().indexOf('recordSettlement')).toBeGreaterThan(fakes.names().lastIndexOf('openReturns'));
    });
  });
  it('goes back to waiting when a return was recorded between its look and its settlement', async () => {
    const fakes = fakeActivities();
    fakes.settlementRefusals.push(true);
    fakes.openReturnCounts.push(0, 1);
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput());
      await waitForStatus(handle, 'FULFILLING');
      await deliverAll(fakes, handle);
      await waitForStatus(handle, 'DELIVERED');
      await env().sleep(policy.autoCompleteAfterMs + 1000);
      const waiting = await waitForView(handle, () => fakes.argsOf('openReturns').length === 2, 'a second look');
      expect(waiting.status).toBe('DELIVERED');
      await handle.signal(returnsChangedSignal, { returnId: 'ret-late' });
      const done = await waitForView(handle, (v) => v.status === 'COMPLETED', 'COMPLETED');
      expect(done.history.at(-1)!.reason).toBe('auto-completed');
      expect(fakes.argsOf('recordSettlement')).toHaveLength(2);
      expect(fakes.names().filter((n) => n === 'openReturns' || n === 'recordSettlement')).toEqual([
        'openReturns',
        'recordSettlement',
        'openReturns',
        'openReturns',
        'recordSettlement',
      ]);
    });
  });
});
