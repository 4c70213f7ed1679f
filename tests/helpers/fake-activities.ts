import { ApplicationFailure } from '@temporalio/activity';
import type { OrderActivities, OrderRecord } from '../../activities/types';
import type { Allocation, LineRequest } from '../../domain/order';
import { allocate, type StockMap } from '../../domain/rules';
import { ORDER_ERRORS } from '../../workflows/messages';

export const CATALOGUE: Record<string, { name: string; price: number }> = {
  'SKU-A': { name: 'Tea set', price: 12_900 },
  'SKU-B': { name: 'Kettle', price: 25_000 },
  'SKU-C': { name: 'Rice cooker', price: 89_900 },
};

/**
 * In-memory stand-ins for the activities, for workflow tests that exercise timers and decisions
 * without PostgreSQL or providers. They keep the same rules (catalogue prices, stock limits,
 * decline tokens) so the workflow sees realistic answers; `calls` records what was asked, in order.
 */
export function fakeActivities(stock: StockMap = { WH1: { 'SKU-A': 100, 'SKU-B': 100 }, WH2: { 'SKU-C': 10 } }) {
  const calls: { name: string; args: unknown }[] = [];
  const records: OrderRecord[] = [];
  const reserved = new Map<string, Allocation[]>();
  let payments = 0;
  let waybills = 0;
  const log = (name: string, args: unknown) => calls.push({ name, args });

  const activities: OrderActivities = {
    async priceOrder({ currency, lines }) {
      log('priceOrder', lines);
      const priced = lines.map(({ sku, quantity }: LineRequest) => {
        const product = CATALOGUE[sku];
        if (!product) throw ApplicationFailure.nonRetryable(`unknown SKU ${sku}`, ORDER_ERRORS.unknownSku);
        return { sku, name: product.name, quantity, unitPrice: product.price, lineTotal: product.price * quantity };
      });
      const subtotal = priced.reduce((sum, l) => sum + l.lineTotal, 0);
      return { lines: priced, totals: { currency, subtotal, shipping: 0, total: subtotal }, isNewCustomer: false };
    },
    async reserveStock({ orderId, lines }) {
      log('reserveStock', lines);
      const allocation = allocate(lines, stock);
      if (!allocation) throw ApplicationFailure.nonRetryable('not enough stock', ORDER_ERRORS.outOfStock);
      reserved.set(orderId, allocation);
      return allocation;
    },
    async releaseStock({ orderId }) {
      log('releaseStock', orderId);
      reserved.delete(orderId);
    },
    async commitStock(req) {
      log('commitStock', req.warehouseCode);
    },
    async authorizePayment(req) {
      log('authorizePayment', req);
      payments += 1;
      const paymentId = `pay_${payments}`;
      if (req.token === 'tok_decline') return { status: 'declined', paymentId, reason: 'card_declined' };
      return { status: 'authorized', paymentId };
    },
    async openDeferredPayment(req) {
      log('openDeferredPayment', req);
      payments += 1;
      return { paymentId: `pay_${payments}`, reference: req.method === 'bank_transfer' ? `BT-${payments}` : undefined };
    },
    async capturePayment(req) {
      log('capturePayment', req);
      return req.amount;
    },
    async voidPayment(req) {
      log('voidPayment', req.paymentId);
    },
    async refundPayment(req) {
      log('refundPayment', req);
      return req.amount;
    },
    async bookShipment(req) {
      log('bookShipment', req.shipmentId);
      waybills += 1;
      return { carrier: 'sandbox', waybill: `WB${waybills}` };
    },
    async cancelShipment(req) {
      log('cancelShipment', req.waybill);
    },
    async changeShipmentAddress(req) {
      log('changeShipmentAddress', req.waybill);
    },
    async recordShipmentEvent(req) {
      log('recordShipmentEvent', req.status);
    },
    async recordOrder(req) {
      records.push(req);
    },
    async notifyStaff(req) {
      log('notifyStaff', req.topic);
    },
    async recordSettlement(req) {
      log('recordSettlement', req);
    },
  };
  const names = () => calls.map((c) => c.name);
  return { activities, calls, records, reserved, names };
}
