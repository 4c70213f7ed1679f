import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import type {
  Address,
  CarrierEventType,
  CarrierExceptionKind,
  LineRequest,
  OrderChannel,
  OrderStatus,
  PaymentMethod,
  PaymentStatus,
  ShipmentStatus,
} from '../domain/order';
import type { CaseType } from '../domain/case';
import {
  CUSTOMER_CHANNELS,
  DIGEST_FREQUENCIES,
  LOCALES,
  NOTIFICATION_CATEGORIES,
  NOTIFICATION_FREQUENCIES,
  type CustomerChannel,
  type OutboxStatus,
} from '../domain/notification';
import type { NotificationChannel } from '../domain/ports';
import {
  AGENT_SENIORITIES,
  CUSTOMER_LEVELS,
  type ComplaintCategory,
  type ComplaintChannel,
  type ComplaintContact,
  type ComplaintOutcome,
  type ComplaintPriority,
  type ComplaintResolution,
  type ComplaintStatus,
  type CustomerLevel,
  type RemedyKind,
  type SlaBreach,
  type TimelineKind,
} from '../domain/complaint';
import type { RefundApprover, RefundChannel, RefundOrigin, RefundReason, RefundStatus } from '../domain/refund';
import type {
  Evidence,
  FailedGoodsChoice,
  ReturnMethod,
  ReturnOutcome,
  ReturnReason,
  ReturnStatus,
  ReturnType as ReturnKind,
  ReturnView,
  ReturnWaitingOn,
} from '../domain/return';

/*
 * Tables reference each other by plain id columns rather than ORM relations: rows are written by
 * independent activities that only ever know ids, and this keeps every insert a single-table write.
 * The complaint staff and timeline tables are the exception: their foreign keys are declared as
 * many-to-one relations only so the schema diff keeps them; the activities still write plain ids.
 * Money is always an integer count of minor units.
 */

const createdAt = () =>
  p
    .datetime()
    .defaultRaw('now()')
    .onCreate(() => new Date());
const updatedAt = () =>
  p
    .datetime()
    .defaultRaw('now()')
    .onCreate(() => new Date())
    .onUpdate(() => new Date());

export const ProductSchema = defineEntity({
  name: 'Product',
  tableName: 'products',
  properties: {
    sku: p.text().primary(),
    name: p.text(),
    category: p.text(),
    brand: p.text(),
    price: p.integer(),
    marketPrice: p.integer(),
    currency: p.character().length(3),
    returnable: p.boolean().default(true),
    active: p.boolean().default(true),
    createdAt: createdAt(),
  },
});

export const WarehouseSchema = defineEntity({
  name: 'Warehouse',
  tableName: 'warehouses',
  properties: {
    code: p.text().primary(),
    name: p.text(),
    city: p.text(),
    country: p.text(),
  },
});

export const StockLevelSchema = defineEntity({
  name: 'StockLevel',
  tableName: 'stock_levels',
  properties: {
    warehouseCode: p.text().primary(),
    sku: p.text().primary(),
    onHand: p.integer(),
    reserved: p.integer().default(0),
    lowStockThreshold: p.integer().default(5),
    updatedAt: updatedAt(),
  },
  checks: [
    { name: 'stock_levels_on_hand_check', expression: 'on_hand >= 0' },
    { name: 'stock_levels_reserved_check', expression: 'reserved >= 0' },
    { name: 'stock_levels_reserved_le_on_hand_check', expression: 'reserved <= on_hand' },
  ],
});

export const RESERVATION_STATUSES = ['active', 'released', 'committed'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

export const ReservationSchema = defineEntity({
  name: 'Reservation',
  tableName: 'reservations',
  properties: {
    id: p.integer().primary().autoincrement(),
    orderId: p.text().index(),
    warehouseCode: p.text(),
    sku: p.text(),
    quantity: p.integer(),
    status: p.text().$type<ReservationStatus>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  uniques: [{ properties: ['orderId', 'warehouseCode', 'sku'] }],
});

export const LEDGER_KINDS = ['reserve', 'release', 'commit', 'adjust', 'inbound', 'restock', 'seed', 'return'] as const;
export type LedgerKind = (typeof LEDGER_KINDS)[number];

export const StockLedgerEntrySchema = defineEntity({
  name: 'StockLedgerEntry',
  tableName: 'stock_ledger',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    warehouseCode: p.text(),
    sku: p.text(),
    /** Change to on_hand. */
    delta: p.integer(),
    reservedDelta: p.integer().default(0),
    kind: p.text().$type<LedgerKind>(),
    reason: p.text(),
    actor: p.text(),
    /** The order, or the return, whose goods moved. */
    orderId: p.text().nullable().index(),
    at: createdAt(),
  },
  indexes: [{ properties: ['warehouseCode', 'sku'] }],
});

export const NOTIFY_CHANNELS = CUSTOMER_CHANNELS;
export type NotifyChannel = CustomerChannel;

export const CustomerSchema = defineEntity({
  name: 'Customer',
  tableName: 'customers',
  properties: {
    id: p.text().primary(),
    name: p.text(),
    email: p.text().nullable(),
    phone: p.text().nullable(),
    notifyChannels: p
      .json<NotifyChannel[]>()
      .defaultRaw(`'["email"]'`)
      .onCreate(() => ['email']),
    /** How often by default, for each category the customer has not chosen for (`notification_preferences`). */
    notifyFrequency: p.enum([...NOTIFICATION_FREQUENCIES]).default('realtime'),
    /** VIP customers' complaints go to senior agents. */
    level: p.enum([...CUSTOMER_LEVELS]).default('regular'),
    /** The language the customer's messages are written in. */
    locale: p.enum([...LOCALES]).default('zh-CN'),
    /** The customer's time zone (IANA), for quiet hours. */
    timezone: p.text().default('Asia/Shanghai'),
    createdAt: createdAt(),
  },
});

export const OrderSchema = defineEntity({
  name: 'Order',
  tableName: 'orders',
  properties: {
    id: p.text().primary(),
    customerId: p.text().index(),
    channel: p.text().$type<OrderChannel>().index(),
    status: p.text().$type<OrderStatus>().index(),
    currency: p.character().length(3),
    subtotal: p.integer(),
    shipping: p.integer(),
    total: p.integer(),
    capturedAmount: p.integer().default(0),
    refundedAmount: p.integer().default(0),
    paymentMethod: p.text().$type<PaymentMethod>(),
    shippingAddress: p.json<Address>(),
    needsAttention: p.boolean().default(false),
    /** Since when the case has needed a person, kept by the `case_attention_since` trigger; null when it does not. */
    attentionSince: p.datetime().nullable(),
    attentionReason: p.text().nullable(),
    cancelReason: p.text().nullable(),
    edits: p.integer().default(0),
    /** Hash of the placement request, so a retried placement with the same id is recognised as a duplicate. */
    requestHash: p.text(),
    placedAt: p.datetime().index(),
    updatedAt: updatedAt(),
    completedAt: p.datetime().nullable(),
    /** Version of the workflow snapshot last written, so an older snapshot never overwrites a newer one. */
    snapshotVersion: p.integer().default(0),
  },
  checks: [{ name: 'orders_refunded_le_captured_check', expression: 'refunded_amount <= captured_amount' }],
});

export const OrderLineSchema = defineEntity({
  name: 'OrderLine',
  tableName: 'order_lines',
  properties: {
    id: p.integer().primary().autoincrement(),
    orderId: p.text().index(),
    sku: p.text(),
    name: p.text(),
    quantity: p.integer(),
    unitPrice: p.integer(),
    lineTotal: p.integer(),
  },
});

/** Every status change of every case, whatever its type; `seq` counts from 0 per case. */
export const CaseHistorySchema = defineEntity({
  name: 'CaseHistory',
  tableName: 'case_history',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    caseType: p.text().$type<CaseType>(),
    caseId: p.text(),
    seq: p.integer(),
    fromStatus: p.text().nullable(),
    toStatus: p.text(),
    actor: p.text(),
    reason: p.text().nullable(),
    at: createdAt(),
  },
  uniques: [{ properties: ['caseType', 'caseId', 'seq'] }],
});

export const PaymentSchema = defineEntity({
  name: 'Payment',
  tableName: 'payments',
  properties: {
    id: p.text().primary(),
    orderId: p.text().index(),
    method: p.text().$type<PaymentMethod>(),
    status: p.text().$type<PaymentStatus>(),
    amount: p.integer(),
    currency: p.character().length(3),
    capturedAmount: p.integer().default(0),
    refundedAmount: p.integer().default(0),
    /** Set aside for refunds, paid out or not; the check keeps refunds of a payment within what it captured. */
    refundClaimed: p.integer().default(0),
    /** What the customer quotes on a bank transfer. */
    reference: p.text().nullable().unique(),
    declineReason: p.text().nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  checks: [
    { name: 'payments_refunded_le_captured_check', expression: 'refunded_amount <= captured_amount' },
    {
      name: 'payments_refund_claimed_check',
      expression: 'refund_claimed >= 0 and refund_claimed <= captured_amount',
    },
  ],
});

export const SHIPMENT_DIRECTIONS = ['outbound', 'return'] as const;
export type ShipmentDirection = (typeof SHIPMENT_DIRECTIONS)[number];

/**
 * A parcel of an order (`case_type` 'order') or of an after-sales case: a return parcel coming back (direction
 * `return`), or a replacement or rejected goods going out again. Its carrier events go to the case it names.
 */
export const ShipmentSchema = defineEntity({
  name: 'Shipment',
  tableName: 'shipments',
  properties: {
    id: p.text().primary(),
    orderId: p.text().index(),
    caseType: p.text().$type<CaseType>().default('order'),
    caseId: p.text(),
    direction: p.enum([...SHIPMENT_DIRECTIONS]).default('outbound'),
    /** What an after-sales case's parcel is for (`return`, `replacement`, `send_back`); null for an order's own. */
    purpose: p.text().nullable(),
    /** The label a customer prints for a return parcel they drop off. */
    labelUrl: p.text().nullable(),
    warehouseCode: p.text(),
    carrier: p.text().nullable(),
    waybill: p.text().nullable().unique(),
    status: p.text().$type<ShipmentStatus>(),
    lines: p.json<LineRequest[]>(),
    address: p.json<Address>(),
    exception: p.text().$type<CarrierExceptionKind>().nullable(),
    lastEventAt: p.datetime().nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  indexes: [{ properties: ['caseType', 'caseId'] }],
});

export const TrackingEventSchema = defineEntity({
  name: 'TrackingEvent',
  tableName: 'tracking_events',
  properties: {
    id: p.integer().primary().autoincrement(),
    shipmentId: p.text().index(),
    /** The carrier's event id; unique so a redelivered webhook is recorded once. */
    eventId: p.text().unique(),
    type: p.text().$type<CarrierEventType>(),
    exception: p.text().$type<CarrierExceptionKind>().nullable(),
    occurredAt: p.datetime(),
    receivedAt: createdAt(),
    detail: p.text().nullable(),
  },
});

export const NotificationOutboxSchema = defineEntity({
  name: 'NotificationOutbox',
  tableName: 'notification_outbox',
  properties: {
    id: p.integer().primary().autoincrement(),
    dedupeKey: p.text().unique(),
    customerId: p.text(),
    orderId: p.text().nullable(),
    caseType: p.text().$type<CaseType>().nullable(),
    caseId: p.text().nullable(),
    channel: p.text().$type<NotificationChannel>(),
    template: p.text(),
    payload: p.json<Record<string, unknown>>(),
    status: p.text().$type<OutboxStatus>().default('pending'),
    attempts: p.integer().default(0),
    createdAt: createdAt(),
    sentAt: p.datetime().nullable(),
    /** Not before this: the next attempt after a transient failure. */
    nextAttemptAt: p.datetime().defaultRaw('now()'),
    /** A dispatcher holds the row until then; past it, another takes it over. */
    leasedUntil: p.datetime().nullable(),
    leaseOwner: p.text().nullable(),
    lastError: p.text().nullable(),
    /** The provider's id of the message, once sent. */
    providerMessageId: p.text().nullable(),
    failedAt: p.datetime().nullable(),
    /** The digest a held row waits for (`daily` or `weekly`); null for real-time messages. */
    digest: p.enum([...DIGEST_FREQUENCIES]).nullable(),
    /** The `dedupe_key` of the digest row a digested row went out in. */
    digestKey: p.text().nullable(),
  },
  indexes: [
    { properties: ['status'] },
    { properties: ['status', 'nextAttemptAt'] },
    { properties: ['status', 'digest', 'customerId'] },
  ],
});

/**
 * What a customer chose to hear of one category (order, payment, logistics, after-sales, promotions): on which
 * channels (none: nothing), and how often. A category without a row follows the customer's sign-up channels.
 */
export const NotificationPreferenceSchema = defineEntity({
  name: 'NotificationPreference',
  tableName: 'notification_preferences',
  properties: {
    customerId: p.text().primary(),
    category: p.enum([...NOTIFICATION_CATEGORIES]).primary(),
    channels: p.json<CustomerChannel[]>(),
    frequency: p.enum([...NOTIFICATION_FREQUENCIES]),
    updatedAt: p.datetime().defaultRaw('now()'),
    updatedBy: p.text(),
  },
});

/** The customer's in-app inbox: one message per outbox row (`dedupe_key`), read or not. */
export const CustomerMessageSchema = defineEntity({
  name: 'CustomerMessage',
  tableName: 'customer_messages',
  properties: {
    id: p.bigint().primary().autoincrement(),
    dedupeKey: p.text().unique(),
    customerId: p.text(),
    template: p.text(),
    subject: p.text(),
    body: p.text(),
    link: p.text().nullable(),
    createdAt: createdAt(),
    readAt: p.datetime().nullable(),
  },
  indexes: [{ properties: ['customerId', 'createdAt'] }],
});

/** What ops wrote down about a case while dealing with it (`POST /v1/ops/cases/{caseType}/{caseId}/notes`). */
export const CaseNoteSchema = defineEntity({
  name: 'CaseNote',
  tableName: 'case_notes',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    caseType: p.text().$type<CaseType>(),
    caseId: p.text(),
    author: p.text(),
    role: p.text(),
    text: p.text(),
    createdAt: createdAt(),
  },
  indexes: [{ properties: ['caseType', 'caseId', 'createdAt'] }],
});

/** A team's staff inbox: escalations, SLA breaches and attention flags with a link to the case. */
export const StaffMessageSchema = defineEntity({
  name: 'StaffMessage',
  tableName: 'staff_messages',
  properties: {
    id: p.bigint().primary().autoincrement(),
    dedupeKey: p.text().unique(),
    team: p.text(),
    caseType: p.text().$type<CaseType>().nullable(),
    caseId: p.text().nullable(),
    topic: p.text(),
    subject: p.text(),
    body: p.text(),
    link: p.text().nullable(),
    createdAt: createdAt(),
    readAt: p.datetime().nullable(),
  },
  indexes: [{ properties: ['team', 'createdAt'] }],
});

export const AuditLogSchema = defineEntity({
  name: 'AuditLog',
  tableName: 'audit_log',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    at: createdAt().index(),
    principal: p.text(),
    role: p.text(),
    action: p.text(),
    objectType: p.text(),
    objectId: p.text(),
    result: p.text(),
    detail: p.json<Record<string, unknown>>().nullable(),
    ip: p.text().nullable(),
  },
  indexes: [{ properties: ['objectType', 'objectId'] }],
});

export const SettlementSchema = defineEntity({
  name: 'Settlement',
  tableName: 'settlements',
  properties: {
    id: p.integer().primary().autoincrement(),
    orderId: p.text().unique(),
    currency: p.character().length(3),
    orderTotal: p.integer(),
    captured: p.integer(),
    refunded: p.integer(),
    shipping: p.integer(),
    net: p.integer(),
    settledAt: createdAt(),
  },
});

/**
 * One row per refund: the refund case's snapshot (written by its workflow) and its claim on a payment's captured
 * money (`claimed`, `payment_id`, `refunded_at`, `provider_refund_id`, written only by the money activities).
 */
export const RefundSchema = defineEntity({
  name: 'Refund',
  tableName: 'refunds',
  properties: {
    id: p.text().primary(),
    orderId: p.text().index(),
    customerId: p.text(),
    paymentId: p.text().nullable(),
    amount: p.integer(),
    currency: p.character().length(3),
    reason: p.text().$type<RefundReason>(),
    origin: p.text().$type<RefundOrigin>(),
    status: p.text().$type<RefundStatus>(),
    channel: p.text().$type<RefundChannel>().default('original'),
    requestedBy: p.text(),
    requestedRole: p.text(),
    approver: p.text().$type<RefundApprover>(),
    decidedBy: p.text().nullable(),
    decidedRole: p.text().nullable(),
    decision: p.text().$type<'approve' | 'reject'>().nullable(),
    decisionId: p.text().nullable(),
    decisionReason: p.text().nullable(),
    decidedAt: p.datetime().nullable(),
    rejectReason: p.text().nullable(),
    note: p.text().nullable(),
    lines: p.json<LineRequest[]>().nullable(),
    includeShipping: p.boolean().default(false),
    claimed: p.boolean().default(false),
    providerRefundId: p.text().nullable(),
    refundedAt: p.datetime().nullable(),
    needsAttention: p.boolean().default(false),
    /** Since when the case has needed a person, kept by the `case_attention_since` trigger; null when it does not. */
    attentionSince: p.datetime().nullable(),
    attentionReason: p.text().nullable(),
    escalationLevel: p.integer().default(0),
    slaDeadline: p.datetime().nullable(),
    /** Version of the workflow snapshot last written, so an older snapshot never overwrites a newer one. */
    snapshotVersion: p.integer().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  indexes: [{ properties: ['status', 'createdAt'] }],
  checks: [{ name: 'refunds_amount_check', expression: 'amount > 0' }],
});

/**
 * One row per return: the return case's snapshot (written by its workflow) and whether its lines are claimed
 * (`claimed`, written only by the claim activities beside the lines in `return_lines`).
 */
export const ReturnSchema = defineEntity({
  name: 'Return',
  tableName: 'returns',
  properties: {
    id: p.text().primary(),
    orderId: p.text().index(),
    customerId: p.text(),
    currency: p.character().length(3),
    status: p.text().$type<ReturnStatus>(),
    reason: p.text().$type<ReturnReason>(),
    type: p.text().$type<ReturnKind>(),
    method: p.text().$type<ReturnMethod>(),
    failedGoods: p.text().$type<FailedGoodsChoice>(),
    lines: p.json<LineRequest[]>(),
    evidence: p.json<Evidence>().nullable(),
    requestedBy: p.text(),
    requestedRole: p.text(),
    approver: p.text().$type<ReturnView['approver']>(),
    decidedBy: p.text().nullable(),
    decidedRole: p.text().nullable(),
    decision: p.text().$type<'approve' | 'reject'>().nullable(),
    decisionId: p.text().nullable(),
    decisionReason: p.text().nullable(),
    decidedAt: p.datetime().nullable(),
    rejectReason: p.text().nullable(),
    outcome: p.text().$type<ReturnOutcome>().nullable(),
    waitingOn: p.text().$type<ReturnWaitingOn>(),
    receivedAt: p.datetime().nullable(),
    receivedBy: p.text().nullable(),
    inspection: p.json<NonNullable<ReturnView['inspection']>>().nullable(),
    refundId: p.text().nullable(),
    refundAmount: p.integer().nullable(),
    claimed: p.boolean().default(false),
    needsAttention: p.boolean().default(false),
    /** Since when the case has needed a person, kept by the `case_attention_since` trigger; null when it does not. */
    attentionSince: p.datetime().nullable(),
    attentionReason: p.text().nullable(),
    escalationLevel: p.integer().default(0),
    slaDeadline: p.datetime().nullable(),
    /** Version of the workflow snapshot last written, so an older snapshot never overwrites a newer one. */
    snapshotVersion: p.integer().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  indexes: [{ properties: ['status', 'createdAt'] }],
});

/**
 * The units each return claims of its order's lines: what is left to return is what was ordered minus the lines not
 * released. `order_id` repeats the return's, so a claim sums one order's lines without a join.
 */
export const ReturnLineSchema = defineEntity({
  name: 'ReturnLine',
  tableName: 'return_lines',
  properties: {
    id: p.integer().primary().autoincrement(),
    returnId: p.text(),
    orderId: p.text(),
    sku: p.text(),
    quantity: p.integer(),
    released: p.boolean().default(false),
  },
  uniques: [{ properties: ['returnId', 'sku'] }],
  indexes: [{ properties: ['orderId', 'sku'] }],
  checks: [{ name: 'return_lines_quantity_check', expression: 'quantity > 0' }],
});

export const BALANCE_ENTRY_KINDS = ['refund', 'goodwill'] as const;
export type BalanceEntryKind = (typeof BALANCE_ENTRY_KINDS)[number];

/** Platform balance credited to customers; `reference` is unique, so a retried credit is booked once. */
export const CustomerBalanceEntrySchema = defineEntity({
  name: 'CustomerBalanceEntry',
  tableName: 'customer_balance_ledger',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    customerId: p.text(),
    amount: p.integer(),
    currency: p.character().length(3),
    kind: p.text().$type<BalanceEntryKind>(),
    reference: p.text().unique(),
    createdAt: createdAt(),
  },
});

/** The agents who take complaints of some categories, and the supervisor their escalations go to. */
export const ComplaintTeamSchema = defineEntity({
  name: 'ComplaintTeam',
  tableName: 'complaint_teams',
  properties: {
    id: p.text().primary(),
    name: p.text(),
    categories: p.array<ComplaintCategory>(),
    /** A principal. */
    supervisor: p.text().nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
});

/** An agent (`id` is their principal) of one team; `skills` narrows the team's categories, empty taking them all. */
export const ComplaintAgentSchema = defineEntity({
  name: 'ComplaintAgent',
  tableName: 'complaint_agents',
  properties: {
    id: p.text().primary(),
    name: p.text(),
    /** The agent's team (column `team_id`). */
    team: () => p.manyToOne(ComplaintTeamSchema).fieldName('team_id').index(),
    seniority: p.enum([...AGENT_SENIORITIES]).default('junior'),
    skills: p
      .array<ComplaintCategory>()
      .defaultRaw(`'{}'`)
      .onCreate(() => []),
    onDuty: p.boolean().default(false),
    /** Of two equally loaded agents the one waiting longest gets the next complaint. */
    lastAssignedAt: p.datetime().nullable(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
});

/**
 * One row per complaint: the complaint case's snapshot (written by its workflow) and who has it (`assignee`,
 * `team_id`, `assigned_at`, `assignment_op`, written only by the assignment activity).
 */
export const ComplaintSchema = defineEntity({
  name: 'Complaint',
  tableName: 'complaints',
  properties: {
    id: p.text().primary(),
    customerId: p.text().index(),
    orderId: p.text().nullable().index(),
    channel: p.text().$type<ComplaintChannel>(),
    category: p.text().$type<ComplaintCategory>(),
    priority: p.text().$type<ComplaintPriority>(),
    status: p.text().$type<ComplaintStatus>(),
    target: p.text(),
    matter: p.text(),
    reason: p.text(),
    contact: p.json<ComplaintContact>(),
    currency: p.character().length(3),
    customerLevel: p.text().$type<CustomerLevel>(),
    needsSenior: p.boolean(),
    assignee: p.text().nullable(),
    teamId: p.text().nullable(),
    assignedAt: p.datetime().nullable(),
    /** The assignment call that wrote the assignee, so its retry answers the same. */
    assignmentOp: p.text().nullable(),
    firstResponseAt: p.datetime().nullable(),
    firstResponseDeadline: p.datetime().nullable(),
    resolutionDeadline: p.datetime().nullable(),
    slaPaused: p.boolean().default(false),
    breaches: p
      .json<SlaBreach[]>()
      .defaultRaw(`'[]'`)
      .onCreate(() => []),
    remedy: p.text().$type<RemedyKind>().nullable(),
    resolution: p.json<ComplaintResolution>().nullable(),
    accepted: p.boolean().nullable(),
    rating: p.integer().nullable(),
    ratingComment: p.text().nullable(),
    outcome: p.text().$type<ComplaintOutcome>().nullable(),
    resolvedAt: p.datetime().nullable(),
    closedAt: p.datetime().nullable(),
    reopenCount: p.integer().default(0),
    timelineCount: p.integer().default(0),
    runs: p.integer().default(1),
    requestedBy: p.text(),
    requestedRole: p.text(),
    /** Hash of the request that opened the complaint, so a repeat of it is recognised. */
    requestHash: p.text(),
    needsAttention: p.boolean().default(false),
    /** Since when the case has needed a person, kept by the `case_attention_since` trigger; null when it does not. */
    attentionSince: p.datetime().nullable(),
    attentionReason: p.text().nullable(),
    escalationLevel: p.integer().default(0),
    slaDeadline: p.datetime().nullable(),
    /** Version of the workflow snapshot last written, so an older snapshot never overwrites a newer one. */
    snapshotVersion: p.integer(),
    /** When the customer complained. */
    createdAt: p.datetime(),
    updatedAt: updatedAt(),
  },
  indexes: [
    { properties: ['status', 'slaDeadline'] },
    {
      name: 'complaints_assignee_index',
      expression: `create index "complaints_assignee_index" on "complaints" ("assignee") where status <> 'CLOSED'`,
    },
    {
      name: 'complaints_needs_attention_index',
      expression: `create index "complaints_needs_attention_index" on "complaints" ("needs_attention") where needs_attention`,
    },
  ],
  checks: [{ name: 'complaints_rating_check', expression: 'rating >= 1 and rating <= 5' }],
});

/** Every timeline entry of every complaint, by `seq` from 0 per complaint; the snapshot holds only the latest. */
export const ComplaintEntrySchema = defineEntity({
  name: 'ComplaintEntry',
  tableName: 'complaint_entries',
  properties: {
    /** The complaint (column `complaint_id`). */
    complaint: () => p.manyToOne(ComplaintSchema).fieldName('complaint_id').primary(),
    seq: p.integer().primary(),
    kind: p.text().$type<TimelineKind>(),
    at: p.datetime(),
    actor: p.text(),
    role: p.text(),
    text: p.text().nullable(),
    /** A note for staff; the customer never sees it. */
    internal: p.boolean(),
    detail: p.json<Record<string, unknown>>().nullable(),
  },
});

export type Product = InferEntity<typeof ProductSchema>;
export type Warehouse = InferEntity<typeof WarehouseSchema>;
export type StockLevel = InferEntity<typeof StockLevelSchema>;
export type Reservation = InferEntity<typeof ReservationSchema>;
export type StockLedgerEntry = InferEntity<typeof StockLedgerEntrySchema>;
export type Customer = InferEntity<typeof CustomerSchema>;
export type Order = InferEntity<typeof OrderSchema>;
export type OrderLine = InferEntity<typeof OrderLineSchema>;
export type CaseHistory = InferEntity<typeof CaseHistorySchema>;
export type Payment = InferEntity<typeof PaymentSchema>;
export type Shipment = InferEntity<typeof ShipmentSchema>;
export type TrackingEvent = InferEntity<typeof TrackingEventSchema>;
export type NotificationOutbox = InferEntity<typeof NotificationOutboxSchema>;
export type AuditLog = InferEntity<typeof AuditLogSchema>;
export type Settlement = InferEntity<typeof SettlementSchema>;
export type Refund = InferEntity<typeof RefundSchema>;
export type CustomerBalanceEntry = InferEntity<typeof CustomerBalanceEntrySchema>;
export type Return = InferEntity<typeof ReturnSchema>;
export type ReturnLine = InferEntity<typeof ReturnLineSchema>;
export type ComplaintTeam = InferEntity<typeof ComplaintTeamSchema>;
export type ComplaintAgent = InferEntity<typeof ComplaintAgentSchema>;
export type Complaint = InferEntity<typeof ComplaintSchema>;
export type ComplaintEntry = InferEntity<typeof ComplaintEntrySchema>;

export const entities = [
  ProductSchema,
  WarehouseSchema,
  StockLevelSchema,
  ReservationSchema,
  StockLedgerEntrySchema,
  CustomerSchema,
  OrderSchema,
  OrderLineSchema,
  CaseHistorySchema,
  PaymentSchema,
  ShipmentSchema,
  TrackingEventSchema,
  NotificationOutboxSchema,
  CustomerMessageSchema,
  StaffMessageSchema,
  NotificationPreferenceSchema,
  CaseNoteSchema,
  AuditLogSchema,
  SettlementSchema,
  RefundSchema,
  CustomerBalanceEntrySchema,
  ReturnSchema,
  ReturnLineSchema,
  ComplaintTeamSchema,
  ComplaintAgentSchema,
  ComplaintSchema,
  ComplaintEntrySchema,
];
