import { WorkflowFailedError } from '@temporalio/client';
import type { OrderInput } from '../../domain/order';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import {
  changeAddressUpdate,
  cancelOrderUpdate,
  carrierEventSignal,
  confirmReceiptUpdate,
  editLinesUpdate,
  ORDER_ERRORS,
  orderStateQuery,
  paymentNotificationSignal,
  retryPaymentUpdate,
  reviewOrderUpdate,
} from '../../workflows/messages';
import { callsOf, expectRejection } from '../helpers/assertions';
import { fakeActivities, type FakeActivities } from '../helpers/fake-activities';
import { agent } from '../helpers/fixtures';
import {
  deliverAll,
  HOUR,
  orderInput,
  type OrderHandle,
  TWO_WAREHOUSES,
  policy,
  scanAndNotify,
  waitForStatus,
  workflowTestEnv,
} from '../helpers/workflow-env';
import { localActivityTypes, recordHistory } from '../helpers/histories';

const { withWorker, env: testEnv } = workflowTestEnv();
const env = { sleep: (ms: number) => testEnv().sleep(ms) };

test('an unpaid bank-transfer order is cancelled when the payment window ends and its stock released', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const input = orderInput({ payment: { method: 'bank_transfer' } });
    const handle = await start(input);
    const waiting = await handle.query(orderStateQuery);
    expect(waiting.status).toBe('PENDING_PAYMENT');
    expect(waiting.payment.status).toBe('AWAITING_TRANSFER');
    expect(fakes.reserved.has(input.orderId)).toBe(true);
    await env.sleep(policy.paymentWindowMs - 60_000);
    expect((await handle.query(orderStateQuery)).status).toBe('PENDING_PAYMENT');
    await env.sleep(120_000);
    const result = await handle.result();
    expect(result.status).toBe('CANCELLED');
    expect(result.cancelReason).toBe('payment window expired');
    const paymentId = waiting.payment.authorizationId!;
    expect(fakes.undoCalls()).toEqual([
      ['voidPayment', paymentId],
      ['releaseStock', input.orderId],
    ]);
    expect(fakes.payments.get(paymentId)?.status).toBe('voided');
    expect(fakes.reserved.has(input.orderId)).toBe(false);
  });
});

test('a bank transfer notification pays the order before the window ends', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const handle = await start(orderInput({ payment: { method: 'bank_transfer' } }));
    const view = await handle.query(orderStateQuery);
    await env.sleep(policy.paymentPollIntervalMs / 2);
    fakes.transferArrives(view.payment.authorizationId!);
    await handle.signal(paymentNotificationSignal, {
      eventId: 'evt-1',
      paymentId: view.payment.authorizationId!,
      succeeded: true,
      amount: view.totals.total,
      currency: 'CNY',
    });
    const fulfilling = await waitForStatus(handle, 'FULFILLING');
    expect(fulfilling.payment).toMatchObject({ status: 'CAPTURED', captured: view.totals.total });
    expect(fulfilling.history.map((h) => h.to)).toEqual(['PENDING_PAYMENT', 'PAID', 'FULFILLING']);
  });
});

test('a risky order escalates when unreviewed past the SLA, then proceeds on approval', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const handle = await start(orderInput({ lines: [{ sku: 'SKU-C', quantity: 6 }] }));
    const pending = await handle.query(orderStateQuery);
    expect(pending.status).toBe('PENDING_REVIEW');
    expect(pending.reviewReasons).toContain('amount_over_threshold');
    await env.sleep(policy.reviewSlaMs + 60_000);
    const escalated = await handle.query(orderStateQuery);
    expect(escalated.needsAttention).toBe(true);
    expect(escalated.attentionReasons).toContain('review_sla_breached');
    expect(await callsOf(fakes, 'notifyStaff', 1)).toEqual(['review_sla_breached']);

    await expectRejection(
      handle.executeUpdate(reviewOrderUpdate, {
        args: [{ decision: 'approve', actor: { principal: 'wh', role: 'warehouse' } }],
      }),
      'Forbidden',
      /role warehouse cannot review orders/,
    );
    const approved = await handle.executeUpdate(reviewOrderUpdate, { args: [{ decision: 'approve', actor: agent }] });
    expect(approved.needsAttention).toBe(false);
    await waitForStatus(handle, 'FULFILLING');
    await recordHistory('order-reviewed-fulfilling', handle);
  });
});

test('a rejected review cancels the order and releases its stock', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const input = orderInput({ lines: [{ sku: 'SKU-C', quantity: 6 }] });
    const handle = await start(input);
    expect((await handle.query(orderStateQuery)).status).toBe('PENDING_REVIEW');
    expect(fakes.reserved.get(input.orderId)).toEqual([
      { warehouseCode: 'WH2', lines: [{ sku: 'SKU-C', quantity: 6 }] },
    ]);
    await expectRejection(
      handle.executeUpdate(reviewOrderUpdate, { args: [{ decision: 'reject', actor: agent }] }),
      'RuleViolation',
      /a rejection needs a reason/,
    );
    expect(fakes.names()).not.toContain('releaseStock');
    const rejected = await handle.executeUpdate(reviewOrderUpdate, {
      args: [{ decision: 'reject', reason: 'suspected fraud', actor: agent }],
    });
    expect(rejected.status).toBe('CANCELLED');
    expect(rejected.cancelReason).toBe('review rejected: suspected fraud');
    expect(fakes.undoCalls()).toEqual([['releaseStock', input.orderId]]);
    expect(fakes.reserved.has(input.orderId)).toBe(false);
    expect(fakes.names()).not.toContain('authorizePayment');
  });
});

test('an order runs intake and the card authorisation inside its first workflow task, as local steps', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const handle = await start(orderInput());
    await waitForStatus(handle, 'FULFILLING');
    const events = (await handle.fetchHistory()).events ?? [];
    // The commands of the first workflow task: everything up to the second one being scheduled.
    const firstCompleted = events.findIndex((e) => e.workflowTaskCompletedEventAttributes);
    const next = events.findIndex((e, i) => i > firstCompleted && e.workflowTaskScheduledEventAttributes);
    const firstTask = events.slice(firstCompleted, next);
    // Each step once, with no activity task queued before the order was recorded PAID: the pricing and the reservation
    // side by side (finishing in either order), then the record of PENDING_PAYMENT beside the authorisation, then PAID.
    const steps = localActivityTypes(firstTask);
    expect(steps).toHaveLength(5);
    expect(steps.slice(0, 2).sort()).toEqual(['priceOrder', 'reserveStock']);
    expect(steps.slice(2, 4).sort()).toEqual(['authorizePayment', 'recordOrder']);
    expect(steps[4]).toBe('recordOrder');
    const lastMarker = firstTask.map((e) => !!e.markerRecordedEventAttributes).lastIndexOf(true);
    expect(firstTask.slice(0, lastMarker).filter((e) => e.activityTaskScheduledEventAttributes)).toEqual([]);
    const view = await handle.query(orderStateQuery);
    expect(view.history.slice(0, 2).map((h) => h.to)).toEqual(['PENDING_PAYMENT', 'PAID']);
  });
});

test('a placement prices beside the reservation, and records PENDING_PAYMENT beside the card authorisation', async () => {
  const fakes = fakeActivities();
  const started = new Set<string>();
  const waitedInVain: string[] = [];
  /** Holds the step until its partner has started: run one after the other, it would wait in vain. */
  function besidePartner<K extends keyof FakeActivities['activities']>(
    name: K,
    step: string,
    partner: string,
    applies: (...args: unknown[]) => boolean = () => true,
  ) {
    const original = fakes.activities[name] as (...args: unknown[]) => Promise<unknown>;
    fakes.activities[name] = (async (...args: unknown[]) => {
      if (applies(...args)) {
        started.add(step);
        for (const until = Date.now() + 3_000; !started.has(partner) && Date.now() < until;) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        if (!started.has(partner)) waitedInVain.push(step);
      }
      return original(...args);
    }) as FakeActivities['activities'][K];
  }
  const pendingRecord = (req: unknown) => (req as { transition?: { to: string } }).transition?.to === 'PENDING_PAYMENT';
  besidePartner('priceOrder', 'price', 'reserve');
  besidePartner('reserveStock', 'reserve', 'price');
  besidePartner('authorizePayment', 'authorize', 'record PENDING_PAYMENT');
  besidePartner('recordOrder', 'record PENDING_PAYMENT', 'authorize', pendingRecord);
  await withWorker(fakes, async (start) => {
    const input = orderInput();
    const handle = await start(input);
    await waitForStatus(handle, 'FULFILLING');
    expect([...started].sort()).toEqual(['authorize', 'price', 'record PENDING_PAYMENT', 'reserve']);
    expect(waitedInVain).toEqual([]);
    // Each ran once, and PAID was written only after the record of PENDING_PAYMENT.
    expect(fakes.argsOf('priceOrder')).toHaveLength(1);
    expect(fakes.argsOf('reserveStock')).toHaveLength(1);
    expect(fakes.argsOf('authorizePayment')).toHaveLength(1);
    const moves = fakes.records.flatMap((r) => r.transition?.to ?? []);
    expect(moves.slice(0, 2)).toEqual(['PENDING_PAYMENT', 'PAID']);
    expect(fakes.reserved.has(input.orderId)).toBe(true);
  });
});

test('a pricing that fails beside a reservation that held gives the stock back and cancels the order', async () => {
  const fakes = fakeActivities();
  // The product left the catalogue between the API's check and the order's pricing; its stock is still on hand.
  fakes.activities.priceOrder = async () => {
    throw ApplicationFailure.nonRetryable('unknown SKU SKU-A', ORDER_ERRORS.unknownSku);
  };
  await withWorker(fakes, async (start) => {
    const input = orderInput();
    // No placement waiting on it: an update arriving as the order ends would have its first task run again.
    const handle = await start(input, { awaitIntake: false });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'CANCELLED', cancelReason: 'unknown_sku' });
    expect(fakes.argsOf('reserveStock')).toHaveLength(1);
    expect(fakes.undoCalls()).toEqual([['releaseStock', input.orderId]]);
    expect(fakes.reserved.has(input.orderId)).toBe(false);
    expect(fakes.names()).not.toContain('authorizePayment');
  });
});

/** Places an order with the fake activities and has the carrier deliver all of it; answers the delivered order. */
async function deliveredOrder(fakes: FakeActivities, start: (input: OrderInput) => Promise<OrderHandle>) {
  const handle = await start(orderInput());
  await waitForStatus(handle, 'FULFILLING');
  await deliverAll(fakes, handle);
  await waitForStatus(handle, 'DELIVERED');
  return handle;
}

test('a carrier webhook has the order read the tracking as a local step and record its events with the order, in the task its signal opens', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const handle = await deliveredOrder(fakes, start);
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    // Only the booking and the capture go through the task queue; every tracking read was a local step.
    expect(scheduled.sort()).toEqual(['bookShipment', 'capturePayment']);
    const reads = localActivityTypes(events).filter((type) => type === 'trackShipment');
    expect(reads.length).toBeGreaterThanOrEqual(1);
    expect(reads).toHaveLength(fakes.argsOf('trackShipment').length);
    // The tracking read and the events it brought are recorded by the workflow task that took the signal.
    const signalled = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes);
    const completed = events.findIndex((e, i) => i > signalled && e.workflowTaskCompletedEventAttributes);
    const nextScheduled = events.findIndex((e, i) => i > completed && e.workflowTaskScheduledEventAttributes);
    const task = localActivityTypes(events.slice(completed, nextScheduled));
    expect(task[0]).toBe('trackShipment');
    expect(task).toContain('recordOrder');
    // Each event is written with a snapshot of the order that applied it, once, in the carrier's order.
    expect(localActivityTypes(events)).not.toContain('recordShipmentEvent');
    const withSnapshots = fakes.records.flatMap((record) => (record.shipmentEvents ?? []).map((e) => e.status));
    expect(withSnapshots).toEqual(['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED']);
    // The pickup is on record before the capture, and the capture before the order is SHIPPED.
    const pickup = fakes.records.findIndex((r) => r.shipmentEvents?.some((e) => e.status === 'PICKED_UP'));
    const shipped = fakes.records.findIndex((r) => r.transition?.to === 'SHIPPED');
    expect(fakes.records[pickup].view.status).toBe('FULFILLING');
    expect(shipped).toBeGreaterThan(pickup);
    expect(fakes.records[shipped].shipmentEvents).toBeUndefined();
  });
});

test('an order upserts only the search attributes that changed, and nothing when a write changes none', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const handle = await deliveredOrder(fakes, start);
    const upserts = ((await handle.fetchHistory()).events ?? []).flatMap((e) => {
      const fields = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
      return fields ? [fields] : [];
    });
    const last = new Map<string, string>();
    for (const fields of upserts) {
      const entries = Object.entries(fields).map(([key, payload]) => [key, Buffer.from(payload.data ?? []).toString()]);
      expect(entries.length).toBeGreaterThan(0);
      for (const [key, value] of entries) {
        expect(last.get(key)).not.toBe(value);
        last.set(key, value);
      }
    }
    // The recorded shipment events in between changed no attribute: one upsert per status, and one for the patch.
    const statuses = (await handle.query(orderStateQuery)).history.length;
    expect(upserts).toHaveLength(statuses + 1);
  });
});

test('a delivered order completes by itself after the auto-complete period, with a settlement', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const handle = await start(orderInput());
    await waitForStatus(handle, 'FULFILLING');
    await deliverAll(fakes, handle);
    const delivered = await waitForStatus(handle, 'DELIVERED');
    expect(delivered.payment).toMatchObject({ status: 'CAPTURED', captured: delivered.totals.total });
    await env.sleep(policy.autoCompleteAfterMs - HOUR);
    expect((await handle.query(orderStateQuery)).status).toBe('DELIVERED');
    await env.sleep(2 * HOUR);
    const completed = await handle.result();
    expect(completed.status).toBe('COMPLETED');
    expect(completed.history.at(-1)).toMatchObject({ to: 'COMPLETED', reason: 'auto-completed' });
    await recordHistory('order-auto-completed', handle);
    const settlements = fakes.calls.filter((c) => c.name === 'recordSettlement').map((c) => c.args);
    expect(settlements).toEqual([
      {
        orderId: completed.orderId,
        currency: 'CNY',
        total: completed.totals.total,
        shipping: completed.totals.shipping,
      },
    ]);
  });
});

test('confirming receipt completes a delivered order at once', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const handle = await start(orderInput({ payment: { method: 'cod' } }));
    await waitForStatus(handle, 'FULFILLING');
    expect(fakes.names()).not.toContain('capturePayment');
    await deliverAll(fakes, handle);
    const delivered = await waitForStatus(handle, 'DELIVERED');
    expect(fakes.calls.filter((c) => c.name === 'capturePayment').map((c) => c.args)).toEqual([
      expect.objectContaining({ amount: delivered.totals.total }),
    ]);
    const completed = await handle.executeUpdate(confirmReceiptUpdate, { args: [{ actor: agent }] });
    expect(completed.status).toBe('COMPLETED');
    expect(completed.history.at(-1)).toMatchObject({ reason: 'receipt confirmed', actor: 'alice' });
  });
});

test('a declined card can be retried with another method inside the window', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const handle = await start(orderInput({ payment: { method: 'card', token: 'tok_decline' } }));
    const declined = await handle.query(orderStateQuery);
    expect(declined.payment).toMatchObject({ status: 'DECLINED', lastDeclineReason: 'card_declined' });
    const retried = await handle.executeUpdate(retryPaymentUpdate, {
      args: [{ payment: { method: 'wallet', token: 'wallet_ok' }, actor: agent }],
    });
    expect(retried.payment).toMatchObject({ method: 'wallet', status: 'AUTHORIZED', attempts: 2 });
    await waitForStatus(handle, 'FULFILLING');
  });
});

test('line edits are re-priced and re-reserved, at most three', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const handle = await start(orderInput({ payment: { method: 'bank_transfer' } }));
    for (let quantity = 2; quantity <= 4; quantity += 1) {
      const edited = await handle.executeUpdate(editLinesUpdate, {
        args: [{ lines: [{ sku: 'SKU-B', quantity }], actor: agent }],
      });
      expect(edited.totals.total).toBe(25_000 * quantity);
      expect(edited.edits).toBe(quantity - 1);
    }
    await expectRejection(
      handle.executeUpdate(editLinesUpdate, { args: [{ lines: [{ sku: 'SKU-B', quantity: 1 }], actor: agent }] }),
      'RuleViolation',
      /at most 3 edits/,
    );
    expect(fakes.calls.filter((c) => c.name === 'reserveStock').map((c) => c.args)).toEqual([
      [{ sku: 'SKU-A', quantity: 2 }],
      [{ sku: 'SKU-B', quantity: 2 }],
      [{ sku: 'SKU-B', quantity: 3 }],
      [{ sku: 'SKU-B', quantity: 4 }],
    ]);
    // Each edit re-opens the transfer for the new amount; wait for the last one so no activity is left running.
    for (let i = 0; i < 100; i += 1) {
      const { payment, totals } = await handle.query(orderStateQuery);
      if (payment.amount === totals.total && payment.status === 'AWAITING_TRANSFER') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect((await handle.query(orderStateQuery)).payment).toMatchObject({
      amount: 100_000,
      status: 'AWAITING_TRANSFER',
    });
  });
});

test('a line edit after the edit window is refused', async () => {
  const late = fakeActivities();
  await withWorker(late, async (start) => {
    // A payment window longer than the edit window, so the order still awaits payment when the edit comes.
    const handle = await start(
      orderInput({
        payment: { method: 'bank_transfer' },
        policy: { ...policy, paymentWindowMs: 2 * policy.editWindowMs },
      }),
    );
    await env.sleep(policy.editWindowMs + 60_000);
    await expectRejection(
      handle.executeUpdate(editLinesUpdate, { args: [{ lines: [{ sku: 'SKU-B', quantity: 1 }], actor: agent }] }),
      'RuleViolation',
      /the edit window after placement has passed/,
    );
    expect(late.calls.filter((c) => c.name === 'reserveStock')).toHaveLength(1);
    expect((await handle.query(orderStateQuery)).edits).toBe(0);
  });
});

test('cancelling after payment undoes bookings, payment and stock, newest first', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const input = orderInput({ lines: TWO_WAREHOUSES });
    const handle = await start(input);
    const fulfilling = await waitForStatus(handle, 'FULFILLING');
    expect(fulfilling.shipments.map((s) => [s.warehouseCode, s.waybill, s.lines])).toEqual([
      ['WH1', 'WB1', [{ sku: 'SKU-A', quantity: 1 }]],
      ['WH2', 'WB2', [{ sku: 'SKU-C', quantity: 1 }]],
    ]);
    const cancelled = await handle.executeUpdate(cancelOrderUpdate, {
      args: [{ reason: 'customer changed mind', actor: agent }],
    });
    expect(cancelled.status).toBe('CANCELLED');
    expect(fakes.undoCalls()).toEqual([
      ['cancelShipment', 'WB2'],
      ['cancelShipment', 'WB1'],
      ['voidPayment', fulfilling.payment.authorizationId],
      ['releaseStock', input.orderId],
    ]);
    expect(cancelled.payment.status).toBe('VOIDED');
    expect(cancelled.shipments.map((s) => s.status)).toEqual(['CANCELLED', 'CANCELLED']);
    expect((await handle.result()).status).toBe('CANCELLED');
    await recordHistory('order-cancelled-after-payment', handle);
  });
});

test('cancelling the workflow itself still runs the compensations', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const input = orderInput();
    const handle = await start(input);
    const fulfilling = await waitForStatus(handle, 'FULFILLING');
    await handle.cancel();
    const failure = await handle.result().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(fakes.undoCalls()).toEqual([
      ['cancelShipment', 'WB1'],
      ['voidPayment', fulfilling.payment.authorizationId],
      ['releaseStock', input.orderId],
    ]);
    expect(fakes.records.at(-1)?.view.status).toBe('CANCELLED');
  });
});

test('a shipment silent past the configured time, or reporting an exception, flags the order', async () => {
  const fakes = fakeActivities();
  await withWorker(fakes, async (start) => {
    const staleAfterMs = 10 * 60_000;
    const handle = await start(orderInput({ policy: { ...policy, shipmentStaleAfterMs: staleAfterMs } }));
    const view = await waitForStatus(handle, 'FULFILLING');
    await env.sleep(staleAfterMs + 60_000);
    expect((await handle.query(orderStateQuery)).attentionReasons).toContain('carrier_silent');
    const waybill = view.shipments[0].waybill!;
    await scanAndNotify(fakes, handle, waybill, 'PICKED_UP');
    const shipped = await waitForStatus(handle, 'SHIPPED');
    expect(shipped.attentionReasons).not.toContain('carrier_silent');
    const lost = fakes.scan(waybill, 'EXCEPTION', 'lost');
    // The webhook is redelivered: the second one finds nothing new at the carrier.
    await handle.signal(carrierEventSignal, lost);
    await handle.signal(carrierEventSignal, lost);
    for (let i = 0; i < 50 && !(await handle.query(orderStateQuery)).needsAttention; i += 1)
      await new Promise((r) => setTimeout(r, 50));
    const flagged = await handle.query(orderStateQuery);
    expect(flagged.attentionReasons).toContain('carrier_exception');
    expect(flagged.shipments[0]).toMatchObject({ status: 'EXCEPTION', exception: 'lost' });
    expect(await callsOf(fakes, 'recordShipmentEvent', 2)).toEqual(['PICKED_UP', 'EXCEPTION']);
    // One notification each: the redelivered webhook tells staff nothing new.
    expect(await callsOf(fakes, 'notifyStaff', 2)).toEqual(['carrier_silent', 'carrier_exception']);
  });
});

test('an address change the carrier refuses comes back as a rule violation and keeps the old address', async () => {
  const fakes = fakeActivities();
  fakes.activities.changeShipmentAddress = async () => {
    throw ApplicationFailure.nonRetryable('parcel already collected', 'ProviderRefused');
  };
  await withWorker(fakes, async (start) => {
    const input = orderInput();
    const handle = await start(input);
    await waitForStatus(handle, 'FULFILLING');
    const moved = { ...input.shippingAddress, line1: '9 Other St' };
    await expectRejection(
      handle.executeUpdate(changeAddressUpdate, { args: [{ address: moved, actor: agent }] }),
      'RuleViolation',
      /the carrier no longer accepts an address change for WB1/,
    );
    expect((await handle.query(orderStateQuery)).shippingAddress.line1).toBe(input.shippingAddress.line1);
  });
});
