import type { OrderActivities } from '../activities/types';
import { SYSTEM_ACTOR } from '../domain/case';
import type { Allocation, OrderStatus, OrderView, ShipmentView } from '../domain/order';
import type { CarrierEvent } from '../domain/ports';
import { PROVIDER_ERRORS } from '../domain/ports';
import { cancelRefusal } from '../domain/rules';
import type { CaseCore } from './case/core';
import { failureType } from './case/steps';
import type { OrderCase } from './order-case';

export interface ParcelDeps {
  order: OrderCase;
  act: OrderActivities;
  core: CaseCore<OrderStatus, OrderView>;
  /** Acts on a pending cancel request before the next booking. */
  honourCancel(): Promise<void>;
  /** Captures an authorized online payment once the first parcel is handed over. */
  captureOnline(): Promise<void>;
  /**
   * Carrier events go with the order's next snapshot write, in its transaction, instead of a step of their own
   * (orders started with the order-local-tracking patch).
   */
  eventsWithSnapshot: boolean;
}

/**
 * The order's parcels: booking one per warehouse, following them through the carrier's tracking until all that are
 * still on their way have arrived, and cancelling the ones not yet collected.
 */
export function orderParcels({ order, act, core, honourCancel, captureOnline, eventsWithSnapshot }: ParcelDeps) {
  const { orderId, policy } = order.input;

  /** Cancels the parcels not yet collected, newest first; a refusal puts back what was cancelled and is returned. */
  async function cancelBookings(): Promise<string | null> {
    const booked = () => order.shipments.filter((s) => s.status === 'BOOKED');
    if (booked().length > 0) await syncParcels(booked().map((s) => s.waybill!));
    const refusal = cancelRefusal(order.status, order.shipments);
    if (refusal) return refusal;
    const cancelled: Allocation[] = [];
    for (const shipment of booked().reverse()) {
      try {
        await act.cancelShipment({ orderId, shipmentId: shipment.shipmentId, waybill: shipment.waybill! });
      } catch (error) {
        if (failureType(error) !== PROVIDER_ERRORS.refused) throw error;
        // Collected between the look at tracking and the cancel: the order goes on, whole.
        for (const allocation of cancelled) await bookParcel(allocation);
        await syncParcels([shipment.waybill!]);
        return `${shipment.waybill} was collected by the carrier: request a return instead`;
      }
      shipment.status = 'CANCELLED';
      cancelled.push({ warehouseCode: shipment.warehouseCode, lines: shipment.lines });
    }
    return null;
  }

  /** Books one parcel for a warehouse's part of the order, to the address as it is now. */
  async function bookParcel(allocation: Allocation): Promise<void> {
    const shipmentId = `${orderId}-S${order.shipments.length + 1}`;
    const booking = await act.bookShipment({
      orderId,
      shipmentId,
      warehouseCode: allocation.warehouseCode,
      lines: allocation.lines,
      address: order.address,
    });
    const shipment: ShipmentView = { shipmentId, ...allocation, status: 'BOOKED', ...booking };
    order.shipments.push(shipment);
    order.progressAt.set(shipmentId, Date.now());
    core.onUndo(`cancel shipment ${shipmentId}`, async () => {
      if (shipment.status !== 'BOOKED') return;
      await act.cancelShipment({ orderId, shipmentId, waybill: booking.waybill });
      shipment.status = 'CANCELLED';
    });
  }

  async function fulfil(): Promise<void> {
    for (const allocation of order.allocations) {
      await honourCancel();
      await core.exclusive(() => bookParcel(allocation), true);
    }
    // A parcel may have been collected already, seen while checking a cancel request.
    if (!order.handedToCarrier) {
      await core.moveTo('FULFILLING', SYSTEM_ACTOR, `${order.shipments.length} shipment(s) booked`);
    }
  }

  /** Reads the carrier's tracking of these parcels and applies every event not seen before, in order. */
  async function syncParcels(waybills: Iterable<string>): Promise<void> {
    for (const waybill of waybills) {
      const shipment = order.shipmentByWaybill(waybill);
      if (!shipment || shipment.status === 'DELIVERED' || shipment.status === 'CANCELLED') continue;
      const tracking = await act.trackShipment({ orderId, waybill });
      for (const event of tracking?.events ?? []) {
        if (order.firstSighting(event.eventId)) await applyEvent(waybill, event);
      }
    }
  }

  async function applyEvent(waybill: string, event: CarrierEvent): Promise<void> {
    const shipment = order.shipmentByWaybill(waybill)!;
    if (shipment.status === 'DELIVERED' || shipment.status === 'CANCELLED') return;
    const wasHandedOver = order.handedToCarrier;
    const leavesWarehouse = shipment.status === 'BOOKED' && event.type !== 'EXCEPTION';
    shipment.status = event.type;
    shipment.lastEventAt = event.occurredAt;
    order.progressAt.set(shipment.shipmentId, Date.now());
    const silent = (order.attention.get('carrier_silent') ?? '')
      .split(',')
      .filter((id) => id && id !== shipment.shipmentId);
    if (silent.length > 0) order.flag('carrier_silent', silent.join(','));
    else order.clear('carrier_silent');
    if (event.type === 'EXCEPTION') {
      shipment.exception = event.exception;
      order.flag('carrier_exception', `${shipment.shipmentId}:${event.exception ?? 'unknown'}`);
      await core.notifyStaff('carrier_exception', `${waybill}: ${event.exception}`);
    } else {
      shipment.exception = undefined;
      if (!order.shipments.some((s) => s.status === 'EXCEPTION')) order.clear('carrier_exception');
    }
    const record = {
      orderId,
      shipmentId: shipment.shipmentId,
      eventId: event.eventId,
      status: shipment.status,
      exception: event.exception,
      occurredAt: event.occurredAt,
    };
    if (eventsWithSnapshot) order.unrecordedShipmentEvents.push(record);
    else await act.recordShipmentEvent(record);
    if (leavesWarehouse) {
      await act.commitStock({ orderId, warehouseCode: shipment.warehouseCode, actor: 'system' });
    }
    if (!wasHandedOver && order.handedToCarrier) {
      // The pickup is on record before the capture, which may wait on the gateway.
      if (eventsWithSnapshot) await core.persist();
      await captureOnline();
      await core.moveTo('SHIPPED', SYSTEM_ACTOR, `${waybill} picked up`);
    } else {
      await core.persist();
    }
  }

  const openShipments = () => order.shipments.filter((s) => s.status !== 'DELIVERED' && s.status !== 'CANCELLED');

  /** Flags parcels the carrier's own tracking shows no progress for; called only after asking the carrier. */
  async function flagSilentParcels(): Promise<void> {
    const silent = openShipments()
      .filter((s) => Date.now() - order.progressAt.get(s.shipmentId)! >= policy.shipmentStaleAfterMs)
      .map((s) => s.shipmentId);
    const detail = silent.join(',');
    if (detail === (order.attention.get('carrier_silent') ?? '')) return;
    if (silent.length === 0) {
      order.clear('carrier_silent');
      await core.persist();
      return;
    }
    await core.raise('carrier_silent', detail, {
      topic: 'carrier_silent',
      message: `no carrier progress for ${detail}`,
      audit: { actor: SYSTEM_ACTOR, action: 'shipment.carrier_silent', detail: { shipments: silent } },
    });
  }

  /**
   * Follows the parcels until all are delivered. Webhooks only wake it up; the facts come from the carrier's
   * tracking, read for the hinted parcels, and for all open ones when nothing was heard for the poll interval or a
   * parcel is about to count as silent.
   */
  async function track(): Promise<void> {
    while (!order.allDelivered) {
      const flagged = new Set((order.attention.get('carrier_silent') ?? '').split(','));
      const nextSilence = Math.min(
        ...openShipments()
          .filter((s) => !flagged.has(s.shipmentId))
          .map((s) => order.progressAt.get(s.shipmentId)! + policy.shipmentStaleAfterMs - Date.now()),
      );
      const hinted = await core.waitFor(
        () => order.carrierHints.size > 0,
        Math.max(0, Math.min(policy.carrierPollIntervalMs, nextSilence)),
      );
      const waybills = hinted ? [...order.carrierHints] : openShipments().map((s) => s.waybill!);
      order.carrierHints.clear();
      await syncParcels(waybills);
      await flagSilentParcels();
    }
  }

  return { bookParcel, cancelBookings, fulfil, track };
}
