import { ApplicationFailure } from '@temporalio/activity';
import type {
  ComplaintActivities,
  ComplaintRecord,
  OrderActivities,
  OrderRecord,
  RefundActivities,
  ReturnActivities,
} from '../../activities/types';
import type { AgentSeniority, ComplaintCategory, TimelineEntry } from '../../domain/complaint';
import type { CaseRecord } from '../../domain/case';
import type {
  Allocation,
  CarrierEventType,
  CarrierExceptionKind,
  LineRequest,
  ShipmentStatus,
} from '../../domain/order';
import type { CarrierEvent, GatewayPayment } from '../../domain/ports';
import { PROVIDER_ERRORS } from '../../domain/ports';
import type { RefundView } from '../../domain/refund';
import type { ReturnView } from '../../domain/return';
import { allocate, type StockMap } from '../../domain/rules';
import { ORDER_ERRORS } from '../../workflows/messages';
import { SHIPPING_ADDRESS } from './fixtures';

export const CATALOGUE: Record<string, { name: string; price: number }> = {
  'SKU-A': { name: 'Tea set', price: 12_900 },
  'SKU-B': { name: 'Kettle', price: 25_000 },
  'SKU-C': { name: 'Rice cooker', price: 89_900 },
};

const UNDO_STEPS = ['cancelShipment', 'voidPayment', 'refundPayment', 'releaseStock'];

const refused = (message: string) => ApplicationFailure.nonRetryable(message, PROVIDER_ERRORS.refused);

/**
 * In-memory stand-ins for the activities, for workflow tests that exercise timers and decisions without PostgreSQL
 * or providers. They keep the same rules (catalogue prices, stock limits, decline tokens) and keep the providers'
 * side of the story (`payments` at the gateway, `parcels` at the carrier), so a test can make a fact true at the
 * provider without telling the workflow, or tell the workflow something the provider never said. `calls` records
 * what was asked, in order.
 */
export function fakeActivities(stock: StockMap = { WH1: { 'SKU-A': 100, 'SKU-B': 100 }, WH2: { 'SKU-C': 10 } }) {
  const calls: { name: string; args: unknown }[] = [];
  const records: OrderRecord[] = [];
  const refundRecords: CaseRecord<RefundView>[] = [];
  /** Money set aside per refund id, as the database's claims do. */
  const claims = new Map<string, { paymentId: string; amount: number }>();
  /** What the gateway does with the next refund calls, oldest first; empty means it refunds. */
  const refundFaults: ('refuse' | 'outage')[] = [];
  const returnRecords: CaseRecord<ReturnView>[] = [];
  /** Lines claimed per return id, as the database's return_lines do; a released claim is removed. */
  const returnClaims = new Map<string, LineRequest[]>();
  /** Reasons the next return claims are refused with, oldest first; empty means they are eligible. */
  const returnRefusals: string[] = [];
  /** What the next `openReturns` calls answer, oldest first; then 0. */
  const openReturnCounts: number[] = [];
  /** The next settlements find a return opened meanwhile (true), oldest first; then they settle. */
  const settlementRefusals: boolean[] = [];
  const complaintRecords: ComplaintRecord[] = [];
  /** The stored timeline per complaint, by seq, as complaint_entries keeps it; `entryWrites` counts every write. */
  const timelines = new Map<string, Map<number, TimelineEntry>>();
  let entryWrites = 0;
  /** Complaint agents, as complaint_agents and complaint_teams hold them (one team per agent). */
  const agents: FakeAgent[] = [];
  /** Who holds each complaint, as the complaints row says; closed ones drop out of the counts. */
  const assignees = new Map<string, string | null>();
  const closedComplaints = new Set<string>();
  /** Balance credited, by reference. */
  const credits = new Map<string, number>();
  const reserved = new Map<string, Allocation[]>();
  const payments = new Map<string, GatewayPayment>();
  const parcels = new Map<string, { status: ShipmentStatus; events: CarrierEvent[] }>();
  let paymentCount = 0;
  let waybillCount = 0;
  let eventCount = 0;
  const log = (name: string, args: unknown) => calls.push({ name, args });

  function openPayment(req: { orderId: string; method: GatewayPayment['method']; amount: number; currency: string }) {
    paymentCount += 1;
    const payment: GatewayPayment = {
      paymentId: `pay_${paymentCount}`,
      status: 'pending',
      capturedAmount: 0,
      refundedAmount: 0,
      ...req,
    };
    payments.set(payment.paymentId, payment);
    return payment;
  }

  function payment(paymentId: string): GatewayPayment {
    const found = payments.get(paymentId);
    if (!found) throw refused(`no payment ${paymentId}`);
    return found;
  }

  function claimed(paymentId: string): number {
    return [...claims.values()].filter((c) => c.paymentId === paymentId).reduce((sum, c) => sum + c.amount, 0);
  }

  function claim(refundId: string, orderId: string, amount: number, paymentId?: string) {
    const existing = claims.get(refundId);
    if (existing) return payment(existing.paymentId);
    const candidates = [...payments.values()].filter(
      (p) => p.orderId === orderId && (!paymentId || p.paymentId === paymentId),
    );
    const chosen = candidates.reverse().find((p) => p.capturedAmount - claimed(p.paymentId) >= amount);
    if (!chosen) {
      const left = candidates.reduce((sum, p) => sum + p.capturedAmount - claimed(p.paymentId), 0);
      throw ApplicationFailure.nonRetryable(`only ${left} is left to refund`, ORDER_ERRORS.ruleViolation);
    }
    claims.set(refundId, { paymentId: chosen.paymentId, amount });
    return chosen;
  }

  /** The gateway's refund, keyed like the real one: the same key twice moves money once. */
  const refundKeys = new Set<string>();
  function gatewayRefund(key: string, paymentId: string, amount: number, reason: string): string {
    const refunded = payment(paymentId);
    if (refundKeys.has(key)) return `re_${key}`;
    const fault = refundFaults.shift();
    if (fault === 'outage') throw ApplicationFailure.retryable('gateway unavailable', PROVIDER_ERRORS.unavailable);
    if (fault === 'refuse') throw refused(`refund of ${paymentId} refused`);
    if (amount > refunded.capturedAmount - refunded.refundedAmount) throw refused('refund exceeds captured');
    refundKeys.add(key);
    refunded.refundedAmount += amount;
    refunded.refunds = [
      ...(refunded.refunds ?? []),
      { id: `re_${key}`, amount, reason, createdAt: new Date().toISOString() },
    ];
    if (refunded.refundedAmount === refunded.capturedAmount) refunded.status = 'refunded';
    return `re_${key}`;
  }

  const activities: OrderActivities & RefundActivities & ReturnActivities & ComplaintActivities = {
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
      const opened = openPayment(req);
      if (req.token === 'tok_decline') {
        opened.status = 'declined';
        return { status: 'declined', paymentId: opened.paymentId, reason: 'card_declined' };
      }
      opened.status = 'authorized';
      return { status: 'authorized', paymentId: opened.paymentId };
    },
    async openDeferredPayment(req) {
      log('openDeferredPayment', req);
      const opened = openPayment(req);
      return {
        paymentId: opened.paymentId,
        reference: req.method === 'bank_transfer' ? `BT-${opened.paymentId}` : undefined,
      };
    },
    async capturePayment(req) {
      log('capturePayment', req);
      const captured = payment(req.paymentId);
      if (captured.status !== 'authorized' && captured.status !== 'pending') {
        throw refused(`cannot capture ${req.paymentId}, it is ${captured.status}`);
      }
      Object.assign(captured, { status: 'captured', capturedAmount: req.amount });
      return req.amount;
    },
    async voidPayment(req) {
      log('voidPayment', req.paymentId);
      const voided = payment(req.paymentId);
      if (voided.status !== 'authorized' && voided.status !== 'pending') {
        throw refused(`cannot void ${req.paymentId}, it is ${voided.status}`);
      }
      voided.status = 'voided';
    },
    async refundPayment(req) {
      log('refundPayment', req);
      claim(req.refundId, req.orderId, req.amount, req.paymentId);
      gatewayRefund(`${req.refundId}:1`, req.paymentId, req.amount, req.reason);
      return req.amount;
    },
    async recordRefund(req) {
      refundRecords.push(req);
    },
    async claimRefund(req) {
      log('claimRefund', req);
      const chosen = claim(req.refundId, req.orderId, req.amount, req.paymentId);
      return { paymentId: chosen.paymentId, method: chosen.method };
    },
    async releaseRefund(req) {
      log('releaseRefund', req.refundId);
      claims.delete(req.refundId);
    },
    async executeRefund(req) {
      log('executeRefund', req);
      return {
        providerRefundId: gatewayRefund(`${req.refundId}:${req.attempt}`, req.paymentId, req.amount, req.reason),
      };
    },
    async payoutRefund(req) {
      log('payoutRefund', req);
      return { providerRefundId: `po_${req.refundId}:${req.attempt}` };
    },
    async syncPayment(req) {
      log('syncPayment', req.paymentId);
      const found = payments.get(req.paymentId);
      return found && found.orderId === req.orderId ? { ...found } : null;
    },
    async bookShipment(req) {
      log('bookShipment', req.shipmentId);
      waybillCount += 1;
      const waybill = `WB${waybillCount}`;
      parcels.set(waybill, { status: 'BOOKED', events: [] });
      return { carrier: 'sandbox', waybill };
    },
    async cancelShipment(req) {
      log('cancelShipment', req.waybill);
      const parcel = parcels.get(req.waybill)!;
      if (parcel.status !== 'BOOKED') throw refused(`${req.waybill} is ${parcel.status}`);
      parcel.status = 'CANCELLED';
    },
    async changeShipmentAddress(req) {
      log('changeShipmentAddress', req);
      const parcel = parcels.get(req.waybill)!;
      if (parcel.status !== 'BOOKED') throw refused(`${req.waybill} is ${parcel.status}`);
    },
    async trackShipment(req) {
      log('trackShipment', req.waybill);
      const parcel = parcels.get(req.waybill);
      return parcel ? { waybill: req.waybill, status: parcel.status, events: [...parcel.events] } : null;
    },
    async recordShipmentEvent(req) {
      log('recordShipmentEvent', req.status);
    },
    async recordOrder(req) {
      records.push(req);
      // Orders with local tracking record the carrier events they applied with the snapshot: logged as recorded.
      for (const event of req.shipmentEvents ?? []) log('recordShipmentEvent', event.status);
    },
    async notifyStaff(req) {
      log('notifyStaff', req.topic);
    },
    async recordSettlement(req) {
      log('recordSettlement', req);
      // A return recorded between the order's look and its settlement: the settlement waits for it.
      return !settlementRefusals.shift();
    },
    async openReturns(req) {
      log('openReturns', req.orderId);
      return openReturnCounts.shift() ?? 0;
    },
    async recordComplaint(req) {
      log('recordComplaint', req.view.status);
      complaintRecords.push(structuredClone(req));
      const stored = timelines.get(req.view.complaintId) ?? new Map<number, TimelineEntry>();
      timelines.set(req.view.complaintId, stored);
      for (const entry of req.entries) {
        entryWrites += 1;
        if (!stored.has(entry.seq)) stored.set(entry.seq, { ...entry });
      }
      if (req.view.status === 'CLOSED') closedComplaints.add(req.view.complaintId);
      else closedComplaints.delete(req.view.complaintId);
    },
    async assignComplaint({ complaintId, category, senior, agentId, exclude = [] }) {
      log('assignComplaint', agentId ?? category);
      const open = (id: string) =>
        [...assignees].filter(([c, a]) => a === id && c !== complaintId && !closedComplaints.has(c)).length;
      let chosen: FakeAgent | undefined;
      if (agentId) {
        chosen = agents.find((a) => a.agentId === agentId);
        if (!chosen) throw ApplicationFailure.nonRetryable(`no agent ${agentId}`, 'RuleViolation');
      } else {
        chosen = agents
          .filter((a) => a.onDuty && a.categories.includes(category) && !exclude.includes(a.agentId))
          .filter((a) => !senior || a.seniority === 'senior')
          .sort((a, b) => open(a.agentId) - open(b.agentId) || a.agentId.localeCompare(b.agentId))[0];
      }
      assignees.set(complaintId, chosen?.agentId ?? null);
      return chosen
        ? { agentId: chosen.agentId, teamId: chosen.teamId, supervisor: chosen.supervisor, seniority: chosen.seniority }
        : null;
    },
    async creditGoodwill({ reference, amount }) {
      log('creditGoodwill', reference);
      credits.set(reference, amount);
    },
    async recordReturn(req) {
      returnRecords.push(req);
    },
    async claimReturn(req) {
      log('claimReturn', req);
      const refusal = returnRefusals.shift();
      if (refusal) throw ApplicationFailure.nonRetryable(refusal, ORDER_ERRORS.ruleViolation);
      returnClaims.set(req.returnId, req.lines);
      return {
        unitPrices: Object.fromEntries(Object.entries(CATALOGUE).map(([sku, p]) => [sku, p.price])),
        warehouseCode: 'WH1',
        address: { ...SHIPPING_ADDRESS },
        deliveredAt: new Date().toISOString(),
      };
    },
    async releaseReturn(req) {
      log('releaseReturn', req.returnId);
      returnClaims.delete(req.returnId);
    },
    async bookReturnParcel(req) {
      log('bookReturnParcel', req);
      waybillCount += 1;
      const waybill = `RW${waybillCount}`;
      parcels.set(waybill, { status: 'BOOKED', events: [] });
      return {
        carrier: 'sandbox',
        waybill,
        ...(req.method === 'label' ? { labelUrl: `http://labels.test/${waybill}` } : {}),
      };
    },
    async restockReturn(req) {
      log('restockReturn', req);
    },
    async resettleOrder(req) {
      log('resettleOrder', req.orderId);
    },
  };

  /** The carrier scans a parcel: a fact at the carrier, which the workflow learns by webhook hint or by polling. */
  function scan(waybill: string, type: CarrierEventType, exception?: CarrierExceptionKind): CarrierEvent {
    const parcel = parcels.get(waybill)!;
    eventCount += 1;
    const event: CarrierEvent = {
      eventId: `evt_${eventCount}`,
      waybill,
      type,
      ...(exception ? { exception } : {}),
      occurredAt: new Date().toISOString(),
    };
    parcel.events.push(event);
    if (type !== 'EXCEPTION' || exception !== 'delayed') parcel.status = type;
    return event;
  }

  /** The customer's transfer reaches the gateway (the whole amount unless told otherwise). */
  function transferArrives(paymentId: string, amount?: number): GatewayPayment {
    const arrived = payment(paymentId);
    Object.assign(arrived, { status: 'captured', capturedAmount: amount ?? arrived.amount });
    return { ...arrived };
  }

  const names = () => calls.map((c) => c.name);
  /** What was recorded of each call of one activity, in order. */
  const argsOf = (name: string) => calls.filter((c) => c.name === name).map((c) => c.args);
  /** The staff messages sent, by topic. */
  const staffTopics = () => argsOf('notifyStaff') as string[];
  /** The undo calls made so far, in order, each with what is recorded of it (waybill, payment id, order id). */
  const undoCalls = () => calls.filter((c) => UNDO_STEPS.includes(c.name)).map((c) => [c.name, c.args]);
  /** The complaint's timeline as stored, by seq. */
  const timelineOf = (complaintId: string) =>
    [...(timelines.get(complaintId)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  return {
    activities,
    calls,
    records,
    complaintRecords,
    timelineOf,
    entryWrites: () => entryWrites,
    agents,
    assignees,
    credits,
    refundRecords,
    returnRecords,
    returnClaims,
    returnRefusals,
    openReturnCounts,
    settlementRefusals,
    claims,
    refundFaults,
    reserved,
    payments,
    parcels,
    names,
    argsOf,
    staffTopics,
    undoCalls,
    scan,
    transferArrives,
  };
}

export type FakeActivities = ReturnType<typeof fakeActivities>;

export interface FakeAgent {
  agentId: string;
  teamId: string;
  supervisor?: string;
  seniority: AgentSeniority;
  categories: ComplaintCategory[];
  onDuty: boolean;
}

/** A payment the gateway captured for an order, as the order workflow would have left it. */
export function capturedPayment(
  fakes: FakeActivities,
  orderId: string,
  amount: number,
  paymentId = `pay_${orderId}`,
): GatewayPayment {
  const payment: GatewayPayment = {
    paymentId,
    orderId,
    method: 'card',
    status: 'captured',
    amount,
    currency: 'CNY',
    capturedAmount: amount,
    refundedAmount: 0,
  };
  fakes.payments.set(paymentId, payment);
  return payment;
}
