import type { EntityManager } from '@mikro-orm/postgresql';
import type { Carrier } from '../domain/ports';
import { providerCall } from './provider';
import type { OrderActivities, ShipmentEventRecord } from './types';

/**
 * Stores a tracking event once (by its id) and sets the shipment's state to it, inside the caller's transaction. The
 * events of one shipment come in the order the carrier reported them, so the last one written is its state.
 */
export async function writeShipmentEvent(
  em: EntityManager,
  { shipmentId, eventId, status, exception, occurredAt }: ShipmentEventRecord,
): Promise<void> {
  await em.execute(
    `insert into tracking_events (shipment_id, event_id, type, exception, occurred_at) values (?, ?, ?, ?, ?)
     on conflict (event_id) do nothing`,
    [shipmentId, eventId, status, exception ?? null, occurredAt],
  );
  await em.execute(
    `update shipments set status = ?, exception = ?, last_event_at = ?, updated_at = now() where id = ?`,
    [status, exception ?? null, occurredAt, shipmentId],
  );
}

export function shippingActivities(
  fork: () => EntityManager,
  carrier: Carrier,
): Pick<
  OrderActivities,
  'bookShipment' | 'cancelShipment' | 'changeShipmentAddress' | 'trackShipment' | 'recordShipmentEvent'
> {
  return {
    async bookShipment(req) {
      const { orderId, shipmentId, warehouseCode, lines, address, caseType = 'order', caseId = orderId } = req;
      const booking = await providerCall(() =>
        carrier.book({
          idempotencyKey: `${shipmentId}:book`,
          shipmentId,
          orderId,
          fromWarehouse: warehouseCode,
          to: address,
          lines,
        }),
      );
      await fork().execute(
        `insert into shipments (id, order_id, case_type, case_id, purpose, warehouse_code, carrier, waybill, status,
           lines, address)
         values (?, ?, ?, ?, ?, ?, ?, ?, 'BOOKED', ?::jsonb, ?::jsonb)
         on conflict (id) do update set carrier = excluded.carrier, waybill = excluded.waybill, updated_at = now()`,
        [
          shipmentId,
          orderId,
          caseType,
          caseId,
          req.purpose ?? null,
          warehouseCode,
          booking.carrier,
          booking.waybill,
          JSON.stringify(lines),
          JSON.stringify(address),
        ],
      );
      return booking;
    },

    async cancelShipment({ shipmentId, waybill }) {
      await providerCall(() => carrier.cancel({ idempotencyKey: `${shipmentId}:cancel`, waybill }));
      await fork().execute(`update shipments set status = 'CANCELLED', updated_at = now() where id = ?`, [shipmentId]);
    },

    async changeShipmentAddress({ shipmentId, waybill, address, version }) {
      await providerCall(() =>
        carrier.changeAddress({ idempotencyKey: `${shipmentId}:address:${version}`, waybill, address }),
      );
      await fork().execute(`update shipments set address = ?::jsonb, updated_at = now() where id = ?`, [
        JSON.stringify(address),
        shipmentId,
      ]);
    },

    async trackShipment({ waybill }) {
      return providerCall(() => carrier.track(waybill));
    },

    async recordShipmentEvent(event) {
      await fork().transactional((em) => writeShipmentEvent(em, event));
    },
  };
}
