import { ApplicationFailure } from '@temporalio/common';
import type { OrderView } from '../../domain/order';
import type { refundWorkflow } from '../../workflows';
import { refundWorkflowId } from '../../workflows/refund-messages';
import {
  awaitIntakeUpdate,
  cancelOrderUpdate,
  carrierEventSignal,
  changeAddressUpdate,
  editLinesUpdate,
  orderStateQuery,
  paymentNotificationSignal,
  recoverStepUpdate,
  retryPaymentUpdate,
  reviewOrderUpdate,
} from '../../workflows/messages';
import { NeedsAttentionKey } from '../../workflows/search-attributes';
import { expectRejection } from '../helpers/assertions';
import { fakeActivities, type FakeActivities } from '../helpers/fake-activities';
import { agent, opsActor } from '../helpers/fixtures';
import {
  orderInput,
  TWO_WAREHOUSES,
  policy,
  scanAndNotify,
  waitForStatus,
  waitForView,
  workflowTestEnv,
} from '../helpers/workflow-env';

/**
 * Money and trust: webhooks are hints that the providers confirm, outages and refusals never kill an order, and
 * concurrent requests (edits, cancels, payment retries, address changes) never work on a stale view.
 */

const { withWorker, env } = workflowTestEnv();
const MINUTE = 60_000;

/** Holds every call of one fake activity until the test lets them go; `started` tells whether one arrived. */
function hold<K extends keyof FakeActivities['activities']>(fakes: FakeActivities, name: K) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let started = false;
  const original = fakes.activities[name] as (...args: unknown[]) => Promise<unknown>;
  fakes.activities[name] = (async (...args: unknown[]) => {
    started = true;
    await opened;
    return original(...args);
  }) as FakeActivities['activities'][K];
  return { open, started: () => started };
}

const count = (fakes: FakeActivities, name: string) => fakes.names().filter((n) => n === name).length;
const held = (fakes: FakeActivities, orderId: string) =>
  [...fakes.payments.values()]
    .filter((p) => p.orderId === orderId)
    .reduce((sum, p) => sum + p.capturedAmount - p.refundedAmount, 0);

async function until(check: () => boolean, what: string) {
  for (let i = 0; i < 100 && !check(); i += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!check()) throw new Error(`never happened: ${what}`);
}

describe('payment facts come from the gateway', () => {
  test('a forged payment notification moves nothing; the gateway confirming the transfer pays the order', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput({ payment: { method: 'bank_transfer' } }));
      const view = await handle.query(orderStateQuery);
      const forged = {
        eventId: 'evt-forged',
        paymentId: view.payment.authorizationId!,
        succeeded: true,
        amount: view.totals.total,
        currency: 'CNY',
      };
      await handle.signal(paymentNotificationSignal, forged);
      await until(() => count(fakes, 'syncPayment') >= 1, 'the gateway asked');
      expect((await handle.query(orderStateQuery)).status).toBe('PENDING_PAYMENT');
      expect((await handle.query(orderStateQuery)).payment).toMatchObject({ status: 'AWAITING_TRANSFER', captured: 0 });

      fakes.transferArrives(view.payment.authorizationId!);
      await handle.signal(paymentNotificationSignal, { ...forged, eventId: 'evt-real' });
      const paid = await waitForStatus(handle, 'FULFILLING');
      expect(paid.payment).toMatchObject({ status: 'CAPTURED', captured: view.totals.total });
    });
  });

  test('a transfer whose notification never comes is found at the gateway after the poll interval', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput({ payment: { method: 'bank_transfer' } }));
      const { payment } = await handle.query(orderStateQuery);
      fakes.transferArrives(payment.authorizationId!);
      await env().sleep(policy.paymentPollIntervalMs + MINUTE);
      const paid = await waitForStatus(handle, 'FULFILLING');
      expect(paid.history.map((h) => h.to)).toEqual(['PENDING_PAYMENT', 'PAID', 'FULFILLING']);
    });
  });

  test('a transfer that arrived unannounced as the window closes pays the order instead of being voided', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(
        orderInput({
          payment: { method: 'bank_transfer' },
          policy: { ...policy, paymentPollIntervalMs: 10 * policy.paymentWindowMs },
        }),
      );
      const { payment } = await handle.query(orderStateQuery);
      await env().sleep(policy.paymentWindowMs - MINUTE);
      fakes.transferArrives(payment.authorizationId!);
      await env().sleep(2 * MINUTE);
      await waitForStatus(handle, 'FULFILLING');
      expect(fakes.names()).not.toContain('voidPayment');
      expect(fakes.names()).not.toContain('releaseStock');
    });
  });

  test('a card retry after the transfer already arrived uses the transfer and charges no card', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput({ payment: { method: 'bank_transfer' } }));
      const { payment, totals } = await handle.query(orderStateQuery);
      fakes.transferArrives(payment.authorizationId!);
      const answer = await handle.executeUpdate(retryPaymentUpdate, {
        args: [{ payment: { method: 'card', token: 'tok_visa' }, actor: agent }],
      });
      expect(answer.payment).toMatchObject({ method: 'bank_transfer', status: 'CAPTURED', captured: totals.total });
      expect(fakes.names()).not.toContain('authorizePayment');
      expect(fakes.names()).not.toContain('voidPayment');
      await waitForStatus(handle, 'FULFILLING');
    });
  });

  test('cancelling an order whose transfer arrived unannounced refunds the money (a refund case) instead of voiding', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(
        orderInput({
          payment: { method: 'bank_transfer' },
          policy: { ...policy, paymentPollIntervalMs: policy.paymentWindowMs },
        }),
      );
      const { payment, orderId } = await handle.query(orderStateQuery);
      fakes.transferArrives(payment.authorizationId!, 1_000);
      const cancelled = await handle.executeUpdate(cancelOrderUpdate, {
        args: [{ reason: 'changed mind', actor: agent }],
      });
      expect(cancelled.status).toBe('CANCELLED');
      expect(fakes.undoCalls()).toEqual([['releaseStock', orderId]]);
      expect(cancelled.refunds).toEqual([
        expect.objectContaining({ refundId: `${orderId}-cancel-1`, amount: 1_000, reason: 'order_cancelled' }),
      ]);
      const refund = await env()
        .client.workflow.getHandle<typeof refundWorkflow>(refundWorkflowId(`${orderId}-cancel-1`))
        .result();
      expect(refund).toMatchObject({ status: 'REFUNDED', paymentId: payment.authorizationId, approver: 'system' });
      expect(held(fakes, orderId)).toBe(0);
    });
  });

  test('a transfer paying more than the total has the excess refunded', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput({ payment: { method: 'bank_transfer' } }));
      const { payment, totals, orderId } = await handle.query(orderStateQuery);
      fakes.transferArrives(payment.authorizationId!, totals.total + 500);
      await handle.signal(paymentNotificationSignal, {
        eventId: 'e1',
        paymentId: payment.authorizationId!,
        succeeded: true,
        amount: totals.total + 500,
        currency: 'CNY',
      });
      await waitForStatus(handle, 'FULFILLING');
      expect(fakes.argsOf('refundPayment')).toEqual([
        expect.objectContaining({
          refundId: expect.stringContaining('-excess-'),
          paymentId: payment.authorizationId,
          amount: 500,
          reason: 'wrong_amount',
        }),
      ]);
      expect(held(fakes, orderId)).toBe(totals.total);
    });
  });
  test('a payment the gateway refuses outright is a decline the customer can retry, not a parked order', async () => {
    const fakes = fakeActivities();
    fakes.activities.authorizePayment = async () => {
      throw ApplicationFailure.nonRetryable('sandbox: card needs a token', 'ProviderRefused');
    };
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput());
      const view = await handle.query(orderStateQuery);
      expect(view.status).toBe('PENDING_PAYMENT');
      expect(view.payment).toMatchObject({ status: 'DECLINED', lastDeclineReason: 'refused_by_gateway' });
      expect(view.attentionReasons).toEqual([]);
      const retried = await handle.executeUpdate(retryPaymentUpdate, {
        args: [{ payment: { method: 'cod' }, actor: agent }],
      });
      expect(retried.payment.status).toBe('COD_PENDING');
    });
  });
});

describe('carrier facts come from tracking', () => {
  test('a forged pickup webhook neither captures nor commits stock', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput());
      const { shipments } = await waitForStatus(handle, 'FULFILLING');
      await handle.signal(carrierEventSignal, {
        eventId: 'evt-forged',
        waybill: shipments[0].waybill!,
        type: 'DELIVERED',
        occurredAt: new Date().toISOString(),
      });
      await until(() => count(fakes, 'trackShipment') >= 1, 'tracking read');
      const after = await handle.query(orderStateQuery);
      expect(after.status).toBe('FULFILLING');
      expect(after.shipments[0].status).toBe('BOOKED');
      expect(fakes.names()).not.toContain('capturePayment');
      expect(fakes.names()).not.toContain('commitStock');
    });
  });

  test('parcels whose webhooks were all lost are caught up by polling, without a silent-parcel flag', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(
        orderInput({ policy: { ...policy, carrierPollIntervalMs: 30 * MINUTE, shipmentStaleAfterMs: 2 * 3_600_000 } }),
      );
      const { shipments } = await waitForStatus(handle, 'FULFILLING');
      for (const type of ['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED'] as const) {
        fakes.scan(shipments[0].waybill!, type);
      }
      await env().sleep(31 * MINUTE);
      const delivered = await waitForStatus(handle, 'DELIVERED');
      expect(delivered.payment.status).toBe('CAPTURED');
      expect(delivered.attentionReasons).not.toContain('carrier_silent');
      expect(count(fakes, 'capturePayment')).toBe(1);
    });
  });
});

describe('cancellation never races the goods', () => {
  test('a cancel after the carrier collected the parcel (pickup not yet heard of) is refused and the payment kept', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput());
      const { shipments } = await waitForStatus(handle, 'FULFILLING');
      fakes.scan(shipments[0].waybill!, 'PICKED_UP');
      await expectRejection(
        handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'too late', actor: agent }] }),
        'WrongState',
        /order is SHIPPED: request a return instead/,
      );
      const shipped = await handle.query(orderStateQuery);
      expect(shipped.status).toBe('SHIPPED');
      expect(shipped.payment.status).toBe('CAPTURED');
      expect(fakes.names()).not.toContain('voidPayment');
      expect(fakes.names()).not.toContain('releaseStock');
    });
  });

  test('a booking the carrier refuses to cancel midway puts the cancelled parcels back; the order is delivered without them', async () => {
    const fakes = fakeActivities();
    const cancelShipment = fakes.activities.cancelShipment;
    fakes.activities.cancelShipment = async (req) => {
      // The first parcel is collected just as its cancellation is asked for.
      if (req.waybill === 'WB1') fakes.scan('WB1', 'PICKED_UP');
      return cancelShipment(req);
    };
    await withWorker(fakes, async (start) => {
      const handle = await start(
        orderInput({
          lines: TWO_WAREHOUSES,
        }),
      );
      const fulfilling = await waitForStatus(handle, 'FULFILLING');
      expect(fulfilling.shipments.map((s) => s.waybill)).toEqual(['WB1', 'WB2']);
      await expectRejection(
        handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'changed mind', actor: agent }] }),
        'WrongState',
        /WB1 was collected by the carrier: request a return instead/,
      );
      const view = await waitForStatus(handle, 'SHIPPED');
      expect(view.shipments.map((s) => [s.warehouseCode, s.status])).toEqual([
        ['WH1', 'PICKED_UP'],
        ['WH2', 'CANCELLED'],
        ['WH2', 'BOOKED'],
      ]);
      expect(view.payment.status).toBe('CAPTURED');
      expect(fakes.names()).not.toContain('releaseStock');
      // The cancelled parcel never arrives: the order is delivered once every parcel still on its way is.
      const rebooked = view.shipments[2].waybill!;
      for (const type of ['IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED'] as const) {
        await scanAndNotify(fakes, handle, 'WB1', type);
      }
      for (const type of ['PICKED_UP', 'IN_TRANSIT', 'OUT_FOR_DELIVERY', 'DELIVERED'] as const) {
        await scanAndNotify(fakes, handle, rebooked, type);
      }
      const delivered = await waitForStatus(handle, 'DELIVERED');
      expect(delivered.shipments.map((s) => s.status)).toEqual(['DELIVERED', 'CANCELLED', 'DELIVERED']);
    });
  });

  test('undo steps of a business cancel all run even when the workflow is cancelled meanwhile', async () => {
    const fakes = fakeActivities();
    const voiding = hold(fakes, 'voidPayment');
    await withWorker(fakes, async (start) => {
      const input = orderInput();
      const handle = await start(input);
      await waitForStatus(handle, 'FULFILLING');
      const cancel = handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'changed mind', actor: agent }] });
      await until(voiding.started, 'void started');
      await handle.cancel();
      voiding.open();
      await cancel.catch(() => undefined);
      await until(() => fakes.names().includes('releaseStock'), 'stock released');
      expect((await handle.result()).status).toBe('CANCELLED');
      expect(fakes.payments.get('pay_1')?.status).toBe('voided');
      // Each undo step ran once, in order, although the workflow was cancelled in the middle of them.
      expect(fakes.undoCalls()).toEqual([
        ['cancelShipment', 'WB1'],
        ['voidPayment', 'pay_1'],
        ['releaseStock', input.orderId],
      ]);
    });
  });
});

describe('edits are judged and serialised', () => {
  test('an edit into a risky basket goes back to review; it cannot be paid until approved', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(
        orderInput({ lines: [{ sku: 'SKU-B', quantity: 1 }], payment: { method: 'bank_transfer' } }),
      );
      const first = await handle.query(orderStateQuery);
      const edited = await handle.executeUpdate(editLinesUpdate, {
        args: [{ lines: [{ sku: 'SKU-B', quantity: 25 }], actor: agent }],
      });
      expect(edited.status).toBe('PENDING_REVIEW');
      expect(edited.reviewReasons).toEqual(expect.arrayContaining(['amount_over_threshold', 'many_units:SKU-B']));
      expect(fakes.payments.get(first.payment.authorizationId!)?.status).toBe('voided');
      await expectRejection(
        handle.executeUpdate(retryPaymentUpdate, {
          args: [{ payment: { method: 'card', token: 'tok_visa' }, actor: agent }],
        }),
        'WrongState',
        /order is PENDING_REVIEW, not awaiting payment/,
      );
      expect(fakes.names()).not.toContain('authorizePayment');
      const approved = await handle.executeUpdate(reviewOrderUpdate, { args: [{ decision: 'approve', actor: agent }] });
      expect(approved.status).toBe('PENDING_PAYMENT');
      const reopened = await waitForView(
        handle,
        (v) => v.payment.status === 'AWAITING_TRANSFER' && v.payment.amount === 25 * 25_000,
        'a transfer for the new total',
      );
      expect(reopened.payment.attempts).toBe(2);
    });
  });

  test('editing a basket a reviewer approved into another risky one needs another review', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(
        orderInput({ lines: [{ sku: 'SKU-B', quantity: 21 }], payment: { method: 'bank_transfer' } }),
      );
      await handle.executeUpdate(reviewOrderUpdate, { args: [{ decision: 'approve', actor: agent }] });
      await waitForView(handle, (v) => v.payment.status === 'AWAITING_TRANSFER', 'awaiting transfer');
      const edited = await handle.executeUpdate(editLinesUpdate, {
        args: [{ lines: [{ sku: 'SKU-A', quantity: 30 }], actor: agent }],
      });
      expect(edited.status).toBe('PENDING_REVIEW');
      expect(edited.history.map((h) => h.to)).toEqual(['PENDING_REVIEW', 'PENDING_PAYMENT', 'PENDING_REVIEW']);
    });
  });

  test('edits and payment retries are refused before intake is done instead of hanging', async () => {
    const fakes = fakeActivities();
    const authorizing = hold(fakes, 'authorizePayment');
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput({ payment: { method: 'card', token: 'tok_decline' } }), {
        awaitIntake: false,
      });
      await until(authorizing.started, 'first attempt running');
      const edit = expectRejection(
        handle.executeUpdate(editLinesUpdate, { args: [{ lines: [{ sku: 'SKU-B', quantity: 1 }], actor: agent }] }),
        'WrongState',
        /the order is still being taken in/,
      );
      const retry = expectRejection(
        handle.executeUpdate(retryPaymentUpdate, {
          args: [{ payment: { method: 'wallet', token: 'w' }, actor: agent }],
        }),
        'WrongState',
        /the first payment attempt is still running/,
      );
      // Let the held attempt go even when a refusal is wrong, so a failure ends the test instead of hanging it.
      try {
        await Promise.all([edit, retry]);
      } finally {
        authorizing.open();
      }
      const placed = await handle.executeUpdate(awaitIntakeUpdate);
      expect(placed.payment).toMatchObject({ method: 'card', status: 'DECLINED', attempts: 1 });
      expect(count(fakes, 'reserveStock')).toBe(1);
      expect(count(fakes, 'authorizePayment')).toBe(1);
    });
  });

  test('an edit arriving while a cancellation runs is refused and reserves nothing', async () => {
    const fakes = fakeActivities();
    const releasing = hold(fakes, 'releaseStock');
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput({ payment: { method: 'bank_transfer' } }));
      const cancel = handle.executeUpdate(cancelOrderUpdate, { args: [{ reason: 'changed mind', actor: agent }] });
      await until(releasing.started, 'compensation running');
      try {
        await expectRejection(
          handle.executeUpdate(editLinesUpdate, { args: [{ lines: [{ sku: 'SKU-B', quantity: 1 }], actor: agent }] }),
          'WrongState',
          /the order is being cancelled/,
        );
      } finally {
        releasing.open();
      }
      expect((await cancel).status).toBe('CANCELLED');
      expect(count(fakes, 'reserveStock')).toBe(1);
    });
  });
});

describe('address changes', () => {
  const moved = (line1: string) => ({ ...orderInput().shippingAddress, line1 });

  test('A to B and back to A are three distinct carrier requests', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput());
      await waitForStatus(handle, 'FULFILLING');
      for (const line1 of ['2 Other St', '1 Nanjing Rd', '2 Other St']) {
        await handle.executeUpdate(changeAddressUpdate, { args: [{ address: moved(line1), actor: agent }] });
      }
      const sent = fakes.calls.filter((c) => c.name === 'changeShipmentAddress').map((c) => c.args);
      expect(sent.map((a) => (a as { version: number }).version)).toEqual([1, 2, 3]);
      expect((await handle.query(orderStateQuery)).shippingAddress.line1).toBe('2 Other St');
    });
  });

  test('a change made while a parcel is being booked reaches that parcel', async () => {
    const fakes = fakeActivities();
    const booking = hold(fakes, 'bookShipment');
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput());
      await until(booking.started, 'booking started');
      const change = handle.executeUpdate(changeAddressUpdate, {
        args: [{ address: moved('9 New Rd'), actor: agent }],
      });
      booking.open();
      await change;
      await waitForStatus(handle, 'FULFILLING');
      // Booked with the old address, then changed at the carrier once the booking existed.
      expect(fakes.names().filter((n) => n === 'bookShipment' || n === 'changeShipmentAddress')).toEqual([
        'bookShipment',
        'changeShipmentAddress',
      ]);
      expect(fakes.argsOf('changeShipmentAddress')).toEqual([
        expect.objectContaining({ waybill: 'WB1', address: expect.objectContaining({ line1: '9 New Rd' }) }),
      ]);
      expect((await handle.query(orderStateQuery)).shippingAddress.line1).toBe('9 New Rd');
    });
  });

  test('a change the carrier refuses for one parcel of two is rolled back on the other', async () => {
    const fakes = fakeActivities();
    await withWorker(fakes, async (start) => {
      const input = orderInput({
        lines: TWO_WAREHOUSES,
        payment: { method: 'cod' },
      });
      const handle = await start(input);
      await waitForStatus(handle, 'FULFILLING');
      // The second parcel is collected, but the order has not heard of it yet.
      fakes.parcels.get('WB2')!.status = 'PICKED_UP';
      await expectRejection(
        handle.executeUpdate(changeAddressUpdate, { args: [{ address: moved('9 New Rd'), actor: agent }] }),
        'RuleViolation',
        /the carrier no longer accepts an address change for WB2/,
      );
      const sent = fakes.calls
        .filter((c) => c.name === 'changeShipmentAddress')
        .map((c) => c.args as { waybill: string; version: number; address: { line1: string } });
      expect(sent.map((a) => [a.waybill, a.version, a.address.line1])).toEqual([
        ['WB1', 1, '9 New Rd'],
        ['WB2', 2, '9 New Rd'],
        ['WB1', 3, input.shippingAddress.line1],
      ]);
      expect((await handle.query(orderStateQuery)).shippingAddress.line1).toBe(input.shippingAddress.line1);
    });
  });

  test('a rollback the carrier refuses too leaves the order flagged for a person to sort out', async () => {
    const fakes = fakeActivities();
    const change = fakes.activities.changeShipmentAddress;
    fakes.activities.changeShipmentAddress = async (req) => {
      // Both parcels are collected right after the first one took the new address.
      if (req.waybill === 'WB1' && req.version === 1) {
        await change(req);
        fakes.parcels.get('WB1')!.status = 'PICKED_UP';
        fakes.parcels.get('WB2')!.status = 'PICKED_UP';
        return;
      }
      return change(req);
    };
    await withWorker(fakes, async (start) => {
      const handle = await start(
        orderInput({
          lines: TWO_WAREHOUSES,
          payment: { method: 'cod' },
        }),
      );
      await waitForStatus(handle, 'FULFILLING');
      await expectRejection(
        handle.executeUpdate(changeAddressUpdate, { args: [{ address: moved('9 New Rd'), actor: agent }] }),
        'RuleViolation',
        /the carrier no longer accepts an address change for WB2/,
      );
      const view = await handle.query(orderStateQuery);
      expect(view.attentionReasons).toContain('address_split');
    });
  });
});

describe('steps that keep failing flag the order instead of failing it', () => {
  test('a step retrying past the attention time raises NeedsAttention, which clears when it succeeds', async () => {
    const fakes = fakeActivities();
    let outage = true;
    const book = fakes.activities.bookShipment;
    fakes.activities.bookShipment = async (req) => {
      if (outage) throw ApplicationFailure.retryable('carrier down', 'ProviderUnavailable');
      return book(req);
    };
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput({ policy: { ...policy, stepAttentionAfterMs: 2_000 } }));
      const flagged = await waitForView(handle, (v) => v.needsAttention, 'attention');
      expect(flagged.attentionReasons).toEqual(['step_retrying']);
      expect((await handle.describe()).typedSearchAttributes.get(NeedsAttentionKey)).toBe(true);
      outage = false;
      const fulfilling = await waitForStatus(handle, 'FULFILLING');
      expect(fulfilling.needsAttention).toBe(false);
      expect((await handle.describe()).typedSearchAttributes.get(NeedsAttentionKey)).toBe(false);
    });
  });

  test('a local step (the stock reservation at intake) retrying past the attention time is flagged, then clears', async () => {
    const fakes = fakeActivities();
    let outage = true;
    const reserve = fakes.activities.reserveStock;
    fakes.activities.reserveStock = async (req) => {
      if (outage) throw ApplicationFailure.retryable('database unavailable', 'ConnectionError');
      return reserve(req);
    };
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput({ policy: { ...policy, stepAttentionAfterMs: 2_000 } }), {
        awaitIntake: false,
      });
      const flagged = await waitForView(handle, (v) => v.needsAttention, 'attention');
      expect(flagged.attentionReasons).toEqual(['step_retrying']);
      expect(flagged.payment.status).toBe('NONE');
      expect(fakes.reserved.has(flagged.orderId)).toBe(false);
      expect((await handle.describe()).typedSearchAttributes.get(NeedsAttentionKey)).toBe(true);
      outage = false;
      const paid = await waitForView(handle, (v) => v.payment.status === 'AUTHORIZED' && !v.needsAttention, 'paid');
      expect(paid.attentionReasons).toEqual([]);
      expect(fakes.reserved.has(paid.orderId)).toBe(true);
    });
  });

  test('a step refused for good parks the order for ops, who retry it', async () => {
    const fakes = fakeActivities();
    let refusals = 1;
    const capture = fakes.activities.capturePayment;
    fakes.activities.capturePayment = async (req) => {
      if (refusals-- > 0) throw ApplicationFailure.nonRetryable('authorization expired', 'ProviderRefused');
      return capture(req);
    };
    await withWorker(fakes, async (start) => {
      const handle = await start(orderInput());
      const { shipments } = await waitForStatus(handle, 'FULFILLING');
      await scanAndNotify(fakes, handle, shipments[0].waybill!, 'PICKED_UP');
      const parked = await waitForView(handle, (v) => v.attentionReasons.includes('step_failed'), 'parked');
      expect(parked.status).toBe('FULFILLING');
      // The notification is sent after the flag is raised, and not awaited: wait for it, then check what it said.
      await until(() => count(fakes, 'notifyStaff') >= 1, 'staff notified');
      expect(fakes.argsOf('notifyStaff')).toEqual(['step_failed']);
      await expectRejection(
        handle.executeUpdate(recoverStepUpdate, { args: [{ action: 'retry', reason: 'x', actor: agent }] }),
        'Forbidden',
        /role agent cannot do that/,
      );
      await handle.executeUpdate(recoverStepUpdate, {
        args: [{ action: 'retry', reason: 'renewed', actor: opsActor }],
      });
      const shipped = await waitForStatus(handle, 'SHIPPED');
      expect(shipped).toMatchObject({ needsAttention: false, payment: { status: 'CAPTURED' } });
      expect(count(fakes, 'capturePayment')).toBe(1);
    });
  });

  test('ops giving up the record of a placement ends the order FAILED and voids the card authorised beside it', async () => {
    const fakes = fakeActivities();
    const recordOrder = fakes.activities.recordOrder;
    fakes.activities.recordOrder = async (req) => {
      if (req.transition?.to === 'PENDING_PAYMENT') throw ApplicationFailure.nonRetryable('row refused', 'Refused');
      return recordOrder(req);
    };
    await withWorker(fakes, async (start) => {
      const input = orderInput();
      const handle = await start(input);
      // The gateway answered beside the failing record, and the order waits on that record before moving on.
      const parked = await waitForView(
        handle,
        (v) => v.attentionReasons.includes('step_failed') && v.payment.status === 'AUTHORIZED',
        'parked with the card authorised',
      );
      expect(parked.status).toBe('PENDING_PAYMENT');
      expect(fakes.payments.get('pay_1')?.status).toBe('authorized');
      await handle.executeUpdate(recoverStepUpdate, {
        args: [{ action: 'fail', reason: 'database refuses the row', actor: opsActor }],
      });
      const failed: OrderView = await handle.result();
      expect(failed.status).toBe('FAILED');
      expect(fakes.undoCalls()).toEqual([
        ['voidPayment', 'pay_1'],
        ['releaseStock', input.orderId],
      ]);
      expect(fakes.payments.get('pay_1')?.status).toBe('voided');
      expect(fakes.reserved.has(input.orderId)).toBe(false);
      expect(fakes.records.map((r) => r.transition?.to).filter(Boolean)).toEqual(['FAILED']);
    });
  });

  test('ops giving a refused step up ends the order FAILED with everything it held released', async () => {
    const fakes = fakeActivities();
    fakes.activities.bookShipment = async () => {
      throw ApplicationFailure.nonRetryable('no service to this address', 'ProviderRefused');
    };
    await withWorker(fakes, async (start) => {
      const input = orderInput();
      const handle = await start(input);
      await waitForView(handle, (v) => v.attentionReasons.includes('step_failed'), 'parked');
      await handle.executeUpdate(recoverStepUpdate, {
        args: [{ action: 'fail', reason: 'undeliverable', actor: opsActor }],
      });
      const failed: OrderView = await handle.result();
      expect(failed.status).toBe('FAILED');
      expect(failed.attentionReasons).toContain('failed');
      // Nothing was booked, so nothing to cancel at the carrier: the payment is voided, then the stock released.
      expect(fakes.undoCalls()).toEqual([
        ['voidPayment', 'pay_1'],
        ['releaseStock', input.orderId],
      ]);
      expect(fakes.payments.get('pay_1')?.status).toBe('voided');
      expect(fakes.reserved.has(input.orderId)).toBe(false);
    });
  });
});
