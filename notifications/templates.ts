import { CASE_TYPES, type CaseType } from '../domain/case';
import { COMPLAINT_STATUSES, type ComplaintStatus } from '../domain/complaint';
import { ORDER_STATUSES, type OrderStatus } from '../domain/order';
import type { Locale } from '../domain/notification';
import type { NotificationChannel } from '../domain/ports';
import { REFUND_STATUSES, type RefundStatus } from '../domain/refund';
import { RETURN_STATUSES, type ReturnStatus } from '../domain/return';

/**
 * The notification templates: what a row of `notification_outbox` says to its reader, on its channel, in the
 * reader's language. A customer template is named `<caseType>.<status lowercased>` and there is one for every status
 * of every case type; staff messages are `staff.<topic>`; digests (`digest.daily`, `digest.weekly`) list several
 * events of a period in one message. Pure: no I/O, no clock.
 */

export { LOCALES, type Locale } from '../domain/notification';

/** The locale for a language tag (`zh`, `zh-Hans-CN`, `en-GB`...); tags of other languages get `fallback`. */
export function resolveLocale(tag: string | null | undefined, fallback: Locale = 'zh-CN'): Locale {
  const lang = (tag ?? '').trim().toLowerCase().split(/[-_]/)[0];
  if (lang === 'zh') return 'zh-CN';
  if (lang === 'en') return 'en';
  return fallback;
}

export interface TemplateContext {
  locale: Locale;
  customerName?: string;
  /** The shop's customer-facing site, e.g. https://shop.example.com. */
  linkBase: string;
  /** The staff console's base, for staff links. */
  opsBase: string;
  /** IANA time zone the dates and times of digests are shown in; Asia/Shanghai unless told. */
  timeZone?: string;
}

export interface RenderedMessage {
  subject: string;
  text: string;
  html?: string;
  link?: string;
}

/** Every customer template: one per status of every case type. */
export const CUSTOMER_TEMPLATES: string[] = [
  ...ORDER_STATUSES.map((s) => `order.${s.toLowerCase()}`),
  ...REFUND_STATUSES.map((s) => `refund.${s.toLowerCase()}`),
  ...RETURN_STATUSES.map((s) => `return.${s.toLowerCase()}`),
  ...COMPLAINT_STATUSES.map((s) => `complaint.${s.toLowerCase()}`),
];

/** The topics the workflows notify staff about, each with its own subject; any other `staff.*` topic renders too. */
export const STAFF_TOPICS = [
  'carrier_silent',
  'carrier_exception',
  'compensation_failed',
  'complaint_sla_breached',
  'complaint_unassigned',
  'refund_approval_overdue',
  'refund_failed',
  'return_approval_overdue',
  'return_parcel_lost',
  'return_refund_rejected',
  'review_sla_breached',
  'step_failed',
] as const;
export type StaffTopic = (typeof STAFF_TOPICS)[number];

export const DIGEST_TEMPLATES = ['digest.daily', 'digest.weekly'] as const;

type Payload = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------------------------
// Values from the payload

/**
 * A space that only stays between two words: gone at the start and end of a line and next to full-width punctuation,
 * so `您的订单${zid(id)}已发货` reads 您的订单 A1 已发货, 您的订单已发货 without an id, and 退款 A1（¥1.00）.
 */
const SOFT = '\uE000';
const FULL_WIDTH = '，。：；、！？（）「」《》';
const SOFT_NEXT_TO = new RegExp(`${SOFT}+(?=[\\s${FULL_WIDTH}]|$)|(?<=^|[\\s${FULL_WIDTH}])${SOFT}+`, 'gm');

function settle(text: string): string {
  return text.replace(SOFT_NEXT_TO, '').replace(new RegExp(`${SOFT}+`, 'g'), ' ');
}

/** A payload value as text; undefined when missing, empty or not text. */
function str(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') return undefined;
  const text = value.replaceAll(SOFT, '').trim();
  return text === '' ? undefined : text;
}

/** Minor units as a whole number, from a number or a string of digits. */
function minorUnits(value: unknown): number | undefined {
  const amount = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
  // `|| 0` turns -0 into 0, which formats without a sign.
  return typeof amount === 'number' && Number.isSafeInteger(amount) ? amount || 0 : undefined;
}

/** An amount in minor units, in the currency's own notation for the locale: 12900 CNY is ¥129.00 (zh-CN), CN¥129.00 (en). */
export function formatMoney(minor: unknown, currency: unknown, locale: Locale): string | undefined {
  const amount = minorUnits(minor);
  const code = str(currency);
  if (amount === undefined || code === undefined) return undefined;
  try {
    const format = new Intl.NumberFormat(locale, { style: 'currency', currency: code });
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(amount / 10 ** digits);
  } catch {
    return undefined; // not a currency code
  }
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const isRecord = (value: unknown): value is Payload =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** ` id ` (zh, settled later) or '' when there is none. */
const zid = (id: string | undefined): string => (id ? `${SOFT}${id}${SOFT}` : '');
/** ` id` (en) or ''. */
const eid = (id: string | undefined): string => (id ? ` ${id}` : '');

function url(base: string, ...segments: string[]): string {
  return [base.replace(/\/+$/, ''), ...segments.map(encodeURIComponent)].join('/');
}

// ---------------------------------------------------------------------------------------------------------------------
// What each event says

/** One event in words. */
interface Copy {
  /** A few words: the push and in-app title, the SMS's subject in the logs. */
  title: string;
  /** The email subject: the title with the case named. */
  subject: string;
  /** The event in one short sentence: the SMS, the push body, a digest's line. */
  line: string;
  /** What an email or an in-app message adds: amounts, reasons, what happens next. */
  more?: (string | false | undefined)[];
}

interface Link {
  label: string;
  url: string;
}

/** A rendered event: its words and where it points, the first link the main one. */
interface EventMessage {
  title: string;
  subject: string;
  line: string;
  more: string[];
  links: Link[];
}

type CopyOf<F> = Record<Locale, (facts: F) => Copy>;

interface CaseTemplates<S extends string, F> {
  statuses: readonly S[];
  facts(payload: Payload, locale: Locale): F;
  copy: Record<S, CopyOf<F>>;
  links(facts: F, status: S, ctx: TemplateContext): Link[];
}

const list = (items: string[], locale: Locale): string => items.join(locale === 'zh-CN' ? '、' : ', ');

// Orders ------------------------------------------------------------------------------------------------------------

interface OrderFacts {
  orderId?: string;
  total?: string;
  /** The parcels' waybills, listed. */
  waybills?: string;
  many: boolean;
  reason?: string;
}

const orders: CaseTemplates<OrderStatus, OrderFacts> = {
  statuses: ORDER_STATUSES,
  facts(p, locale) {
    const totals = isRecord(p.total) ? p.total : undefined;
    const total = totals
      ? formatMoney(totals.total, totals.currency, locale)
      : formatMoney(p.total, p.currency, locale);
    const waybills = (Array.isArray(p.waybills) ? p.waybills : [p.waybill])
      .map(str)
      .filter((w): w is string => w !== undefined);
    return {
      orderId: str(p.orderId),
      total,
      waybills: waybills.length > 0 ? list(waybills, locale) : undefined,
      many: waybills.length > 1,
      reason: str(p.reason),
    };
  },
  copy: {
    PENDING_REVIEW: {
      'zh-CN': (f) => ({
        title: '订单审核中',
        subject: `您的订单${zid(f.orderId)}正在审核中`,
        line: `您的订单${zid(f.orderId)}已提交，正在审核中，审核通过后我们会第一时间通知您。`,
        more: [f.total && `订单金额：${f.total}`],
      }),
      en: (f) => ({
        title: 'Order under review',
        subject: `Your order${eid(f.orderId)} is being reviewed`,
        line: `We've received your order${eid(f.orderId)} and are reviewing it. We'll let you know as soon as it's confirmed.`,
        more: [f.total && `Order total: ${f.total}`],
      }),
    },
    PENDING_PAYMENT: {
      'zh-CN': (f) => ({
        title: '订单待付款',
        subject: `您的订单${zid(f.orderId)}待付款`,
        line: `您的订单${zid(f.orderId)}待付款${f.total ? `，应付金额${SOFT}${f.total}` : ''}，请尽快完成支付。`,
      }),
      en: (f) => ({
        title: 'Payment due',
        subject: `Your order${eid(f.orderId)} is awaiting payment`,
        line: `Your order${eid(f.orderId)} is awaiting payment${f.total ? ` of ${f.total}` : ''}. Please complete your payment to continue.`,
      }),
    },
    PAID: {
      'zh-CN': (f) => ({
        title: '付款成功',
        subject: `订单${zid(f.orderId)}付款成功`,
        line: `我们已收到您订单${zid(f.orderId)}的付款${f.total ? `${SOFT}${f.total}` : ''}，正在为您备货。`,
      }),
      en: (f) => ({
        title: 'Payment received',
        subject: `Payment received for order${eid(f.orderId)}`,
        line: `We've received your payment${f.total ? ` of ${f.total}` : ''} for your order${eid(f.orderId)} and are getting it ready.`,
      }),
    },
    FULFILLING: {
      'zh-CN': (f) => ({
        title: '订单备货中',
        subject: `您的订单${zid(f.orderId)}正在备货`,
        line: `您的订单${zid(f.orderId)}正在备货出库，发货后我们会再通知您。`,
      }),
      en: (f) => ({
        title: 'Preparing your order',
        subject: `Your order${eid(f.orderId)} is being prepared`,
        line: `Your order${eid(f.orderId)} is being packed. We'll let you know when it ships.`,
      }),
    },
    SHIPPED: {
      'zh-CN': (f) => ({
        title: '订单已发货',
        subject: `您的订单${zid(f.orderId)}已发货`,
        line: `您的订单${zid(f.orderId)}已发货${f.waybills ? `，运单号${SOFT}${f.waybills}` : ''}。`,
        more: ['您可以随时查看物流进度。'],
      }),
      en: (f) => ({
        title: 'Your order has shipped',
        subject: `Your order${eid(f.orderId)} has shipped`,
        line: `Your order${eid(f.orderId)} has shipped.${f.waybills ? ` Tracking number${f.many ? 's' : ''}: ${f.waybills}.` : ''}`,
        more: ['You can follow your parcel at any time.'],
      }),
    },
    DELIVERED: {
      'zh-CN': (f) => ({
        title: '订单已送达',
        subject: `您的订单${zid(f.orderId)}已送达`,
        line: `您的订单${zid(f.orderId)}已送达，请注意查收。`,
        more: [f.waybills && `运单号：${f.waybills}`, '如商品有任何问题，可在订单页面申请退货或退款。'],
      }),
      en: (f) => ({
        title: 'Your order has been delivered',
        subject: `Your order${eid(f.orderId)} has been delivered`,
        line: `Your order${eid(f.orderId)} has been delivered.`,
        more: [
          f.waybills && `Tracking number${f.many ? 's' : ''}: ${f.waybills}`,
          'If anything is wrong with it, you can request a return or a refund from the order page.',
        ],
      }),
    },
    COMPLETED: {
      'zh-CN': (f) => ({
        title: '订单已完成',
        subject: `您的订单${zid(f.orderId)}已完成`,
        line: `您的订单${zid(f.orderId)}已完成，感谢您的购买！`,
      }),
      en: (f) => ({
        title: 'Order complete',
        subject: `Your order${eid(f.orderId)} is complete`,
        line: `Your order${eid(f.orderId)} is complete. Thank you for shopping with us!`,
      }),
    },
    CANCELLED: {
      'zh-CN': (f) => ({
        title: '订单已取消',
        subject: `您的订单${zid(f.orderId)}已取消`,
        line: `您的订单${zid(f.orderId)}已取消。`,
        more: [f.reason && `原因：${f.reason}`, '如您已付款，我们将为您办理退款，并另行通知退款进度。'],
      }),
      en: (f) => ({
        title: 'Order cancelled',
        subject: `Your order${eid(f.orderId)} has been cancelled`,
        line: `Your order${eid(f.orderId)} has been cancelled.`,
        more: [f.reason && `Reason: ${f.reason}`, "If you've already paid, we'll refund you and keep you posted."],
      }),
    },
    FAILED: {
      'zh-CN': (f) => ({
        title: '订单未能完成',
        subject: `您的订单${zid(f.orderId)}未能完成`,
        line: `很抱歉，您的订单${zid(f.orderId)}未能处理完成，我们的客服会尽快与您联系。`,
        more: ['如您已付款，我们将为您办理退款，并另行通知退款进度。'],
      }),
      en: (f) => ({
        title: "We couldn't complete your order",
        subject: `We couldn't complete your order${eid(f.orderId)}`,
        line: `Sorry, we couldn't complete your order${eid(f.orderId)}. Our customer service team will be in touch soon.`,
        more: ["If you've already paid, we'll refund you and keep you posted."],
      }),
    },
  },
  links(f, status, ctx) {
    if (!f.orderId) return [];
    const order = { label: UI[ctx.locale].viewOrder, url: url(ctx.linkBase, 'orders', f.orderId) };
    if (status !== 'SHIPPED' && status !== 'DELIVERED') return [order];
    return [{ label: UI[ctx.locale].trackParcel, url: url(ctx.linkBase, 'orders', f.orderId, 'tracking') }, order];
  },
};

// Refunds -----------------------------------------------------------------------------------------------------------

interface RefundFacts {
  refundId?: string;
  orderId?: string;
  amount?: string;
  reason?: string;
}

/** `（¥1.00）` or ''. */
const zhAmount = (amount: string | undefined): string => (amount ? `（${amount}）` : '');
/** ` of $1.00` or ''. */
const enAmount = (amount: string | undefined): string => (amount ? ` of ${amount}` : '');

const refunds: CaseTemplates<RefundStatus, RefundFacts> = {
  statuses: REFUND_STATUSES,
  facts: (p, locale) => ({
    refundId: str(p.refundId),
    orderId: str(p.orderId),
    amount: formatMoney(p.amount, p.currency, locale),
    reason: str(p.reason),
  }),
  copy: {
    REQUESTED: {
      'zh-CN': (f) => ({
        title: '退款申请已受理',
        subject: `退款申请${zid(f.refundId)}已受理`,
        line: `您的退款申请${zhAmount(f.amount)}已受理${f.refundId ? `，退款单号${SOFT}${f.refundId}` : ''}，我们会尽快处理。`,
        more: [f.orderId && `订单号：${f.orderId}`],
      }),
      en: (f) => ({
        title: 'Refund requested',
        subject: `Refund${eid(f.refundId)} requested`,
        line: `Your refund${eid(f.refundId)}${enAmount(f.amount)} has been requested. We'll process it shortly.`,
        more: [f.orderId && `Order: ${f.orderId}`],
      }),
    },
    PENDING_APPROVAL: {
      'zh-CN': (f) => ({
        title: '退款审核中',
        subject: `退款${zid(f.refundId)}审核中`,
        line: `您的退款${zid(f.refundId)}${zhAmount(f.amount)}正在审核中，结果将尽快通知您。`,
      }),
      en: (f) => ({
        title: 'Refund under review',
        subject: `Your refund${eid(f.refundId)} is under review`,
        line: `Your refund${eid(f.refundId)}${enAmount(f.amount)} is being reviewed. We'll let you know the outcome soon.`,
      }),
    },
    APPROVED: {
      'zh-CN': (f) => ({
        title: '退款已通过审核',
        subject: `退款${zid(f.refundId)}已通过审核`,
        line: `您的退款${zid(f.refundId)}${zhAmount(f.amount)}已通过审核，正在为您办理。`,
      }),
      en: (f) => ({
        title: 'Refund approved',
        subject: `Your refund${eid(f.refundId)} has been approved`,
        line: `Your refund${eid(f.refundId)}${enAmount(f.amount)} has been approved and is being processed.`,
      }),
    },
    REFUNDED: {
      'zh-CN': (f) => ({
        title: '退款成功',
        subject: `退款${zid(f.refundId)}已办理成功`,
        line: `您的退款${zid(f.refundId)}${zhAmount(f.amount)}已办理成功，到账时间以支付渠道为准。`,
        more: [f.orderId && `订单号：${f.orderId}`],
      }),
      en: (f) => ({
        title: 'Refund issued',
        subject: `Your refund${eid(f.refundId)} has been issued`,
        line: `Your refund${eid(f.refundId)}${enAmount(f.amount)} has been issued. It may take a few days to arrive, depending on your payment method.`,
        more: [f.orderId && `Order: ${f.orderId}`],
      }),
    },
    REJECTED: {
      'zh-CN': (f) => ({
        title: '退款申请未通过',
        subject: `退款申请${zid(f.refundId)}未通过`,
        line: `很抱歉，您的退款申请${zid(f.refundId)}未通过审核。`,
        more: [f.reason && `原因：${f.reason}`, f.orderId && `订单号：${f.orderId}`],
      }),
      en: (f) => ({
        title: 'Refund declined',
        subject: `Your refund request${eid(f.refundId)} was declined`,
        line: `Sorry, your refund request${eid(f.refundId)} was declined.`,
        more: [f.reason && `Reason: ${f.reason}`, f.orderId && `Order: ${f.orderId}`],
      }),
    },
    FAILED: {
      'zh-CN': (f) => ({
        title: '退款处理中',
        subject: `退款${zid(f.refundId)}暂未完成`,
        line: `您的退款${zid(f.refundId)}${zhAmount(f.amount)}暂未能退回，我们正在处理，您无需进行任何操作。`,
      }),
      en: (f) => ({
        title: 'Refund delayed',
        subject: `Your refund${eid(f.refundId)} is delayed`,
        line: `We couldn't complete your refund${eid(f.refundId)}${enAmount(f.amount)} yet. We're working on it; no action is needed from you.`,
      }),
    },
  },
  links(f, _status, ctx) {
    if (!f.orderId) return [];
    const label = UI[ctx.locale].viewRefund;
    if (!f.refundId) return [{ label: UI[ctx.locale].viewOrder, url: url(ctx.linkBase, 'orders', f.orderId) }];
    return [{ label, url: url(ctx.linkBase, 'orders', f.orderId, 'refunds', f.refundId) }];
  },
};

// Returns -----------------------------------------------------------------------------------------------------------

interface ReturnFacts {
  returnId?: string;
  orderId?: string;
  exchange: boolean;
  outcome?: string;
  reason?: string;
}

/** 退货 or 换货, return or exchange. */
const kindOf = (f: ReturnFacts, locale: Locale): string =>
  locale === 'zh-CN' ? (f.exchange ? '换货' : '退货') : f.exchange ? 'exchange' : 'return';
const capital = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);
/** `（退货单号 R1）` or ''. */
const zhReturnNo = (f: ReturnFacts): string => (f.returnId ? `（${kindOf(f, 'zh-CN')}单号${SOFT}${f.returnId}）` : '');

const returns: CaseTemplates<ReturnStatus, ReturnFacts> = {
  statuses: RETURN_STATUSES,
  facts: (p) => ({
    returnId: str(p.returnId),
    orderId: str(p.orderId),
    exchange: p.type === 'exchange',
    outcome: str(p.outcome),
    reason: str(p.rejectReason) ?? str(p.reason),
  }),
  copy: {
    REQUESTED: {
      'zh-CN': (f) => ({
        title: `${kindOf(f, 'zh-CN')}申请已受理`,
        subject: `${kindOf(f, 'zh-CN')}申请${zid(f.returnId)}已受理`,
        line: `您${f.orderId ? `订单${zid(f.orderId)}` : ''}的${kindOf(f, 'zh-CN')}申请已受理${f.returnId ? `，${kindOf(f, 'zh-CN')}单号${SOFT}${f.returnId}` : ''}。`,
        more: ['我们会尽快处理，并及时通知您进度。'],
      }),
      en: (f) => ({
        title: `${capital(kindOf(f, 'en'))} request received`,
        subject: `${capital(kindOf(f, 'en'))} request${eid(f.returnId)} received`,
        line: `We've received your ${kindOf(f, 'en')} request${eid(f.returnId)}${f.orderId ? ` for order ${f.orderId}` : ''}.`,
        more: ["We'll process it shortly and keep you posted."],
      }),
    },
    PENDING_APPROVAL: {
      'zh-CN': (f) => ({
        title: `${kindOf(f, 'zh-CN')}审核中`,
        subject: `${kindOf(f, 'zh-CN')}申请${zid(f.returnId)}审核中`,
        line: `您的${kindOf(f, 'zh-CN')}申请${zid(f.returnId)}正在审核中，结果将尽快通知您。`,
      }),
      en: (f) => ({
        title: `${capital(kindOf(f, 'en'))} under review`,
        subject: `Your ${kindOf(f, 'en')} request${eid(f.returnId)} is under review`,
        line: `Your ${kindOf(f, 'en')} request${eid(f.returnId)} is being reviewed. We'll let you know the outcome soon.`,
      }),
    },
    APPROVED: {
      'zh-CN': (f) => ({
        title: `${kindOf(f, 'zh-CN')}申请已通过`,
        subject: `${kindOf(f, 'zh-CN')}申请${zid(f.returnId)}已通过`,
        line: `您的${kindOf(f, 'zh-CN')}申请${zid(f.returnId)}已通过，请按页面提示寄回商品。`,
        more: ['请在规定时间内将商品交给快递，逾期申请将自动失效。'],
      }),
      en: (f) => ({
        title: `${capital(kindOf(f, 'en'))} approved`,
        subject: `Your ${kindOf(f, 'en')} request${eid(f.returnId)} has been approved`,
        line: `Your ${kindOf(f, 'en')} request${eid(f.returnId)} has been approved. Please follow the instructions on the ${kindOf(f, 'en')} page to send the item(s) back.`,
        more: ['Please hand the parcel to the carrier in time; otherwise the request expires.'],
      }),
    },
    IN_TRANSIT: {
      'zh-CN': (f) => ({
        title: '退回商品运输中',
        subject: `${kindOf(f, 'zh-CN')}${zid(f.returnId)}商品寄回中`,
        line: `您的${kindOf(f, 'zh-CN')}商品已交给快递，正在寄回途中${zhReturnNo(f)}。`,
      }),
      en: (f) => ({
        title: 'Your parcel is on its way back',
        subject: `Your ${kindOf(f, 'en')}${eid(f.returnId)} is on its way back`,
        line: `The item(s) for your ${kindOf(f, 'en')}${eid(f.returnId)} are on their way back to us.`,
      }),
    },
    RECEIVED: {
      'zh-CN': (f) => ({
        title: '退回商品已签收',
        subject: `${kindOf(f, 'zh-CN')}${zid(f.returnId)}商品已签收`,
        line: `我们已收到您退回的商品${zhReturnNo(f)}，将尽快完成验货。`,
      }),
      en: (f) => ({
        title: 'We received your parcel',
        subject: `We received the item(s) for your ${kindOf(f, 'en')}${eid(f.returnId)}`,
        line: `We've received the item(s) for your ${kindOf(f, 'en')}${eid(f.returnId)} and will inspect them shortly.`,
      }),
    },
    INSPECTED: {
      'zh-CN': (f) => ({
        title: '验货完成',
        subject: `${kindOf(f, 'zh-CN')}${zid(f.returnId)}验货完成`,
        line: `您退回的商品已验货完成${zhReturnNo(f)}，处理结果将很快通知您。`,
      }),
      en: (f) => ({
        title: 'Inspection complete',
        subject: `Your ${kindOf(f, 'en')}${eid(f.returnId)} has been inspected`,
        line: `We've inspected the item(s) for your ${kindOf(f, 'en')}${eid(f.returnId)}. We'll let you know the result shortly.`,
      }),
    },
    CLOSED: {
      'zh-CN': (f) => {
        const kind = kindOf(f, 'zh-CN');
        const done = f.outcome === 'refunded' || f.outcome === 'replaced' || f.outcome === 'refunded_without_receipt';
        const line =
          f.outcome === 'refunded'
            ? `您的退货${zid(f.returnId)}已完成，退款已为您办理成功。`
            : f.outcome === 'replaced'
              ? `您的换货${zid(f.returnId)}已完成，新商品已送达。`
              : f.outcome === 'refunded_without_receipt'
                ? `您的${kind}${zid(f.returnId)}已办结，我们已为您办理退款。`
                : f.outcome === 'inspection_failed'
                  ? `很抱歉，您退回的商品未通过验货，${kind}${zid(f.returnId)}已关闭。`
                  : f.outcome === 'refund_rejected'
                    ? `您的${kind}${zid(f.returnId)}已关闭，退款未获批准。`
                    : `您的${kind}${zid(f.returnId)}已办结。`;
        return {
          title: done ? `${kind}已完成` : `${kind}已关闭`,
          subject: `${kind}${zid(f.returnId)}${done ? '已完成' : '已关闭'}`,
          line,
          more: [
            f.outcome === 'inspection_failed' && '商品将按您申请时的选择寄回给您或代为处理。',
            !done && '如有疑问，请联系客服。',
          ],
        };
      },
      en: (f) => {
        const kind = kindOf(f, 'en');
        const done = f.outcome === 'refunded' || f.outcome === 'replaced' || f.outcome === 'refunded_without_receipt';
        const line =
          f.outcome === 'refunded'
            ? `Your return${eid(f.returnId)} is complete and your refund has been issued.`
            : f.outcome === 'replaced'
              ? `Your exchange${eid(f.returnId)} is complete and the replacement has been delivered.`
              : f.outcome === 'refunded_without_receipt'
                ? `Your ${kind}${eid(f.returnId)} is closed and we've issued your refund.`
                : f.outcome === 'inspection_failed'
                  ? `Sorry, the item(s) for your ${kind}${eid(f.returnId)} did not pass inspection, so the ${kind} has been closed.`
                  : f.outcome === 'refund_rejected'
                    ? `Your ${kind}${eid(f.returnId)} has been closed; the refund was not approved.`
                    : `Your ${kind}${eid(f.returnId)} has been closed.`;
        return {
          title: `${capital(kind)} ${done ? 'complete' : 'closed'}`,
          subject: `Your ${kind}${eid(f.returnId)} ${done ? 'is complete' : 'has been closed'}`,
          line,
          more: [
            f.outcome === 'inspection_failed' &&
              'The item(s) will be sent back to you or disposed of, as you chose when you made the request.',
            !done && 'If you have any questions, please contact our customer service team.',
          ],
        };
      },
    },
    REJECTED: {
      'zh-CN': (f) => ({
        title: `${kindOf(f, 'zh-CN')}申请未通过`,
        subject: `${kindOf(f, 'zh-CN')}申请${zid(f.returnId)}未通过`,
        line: `很抱歉，您的${kindOf(f, 'zh-CN')}申请${zid(f.returnId)}未通过。`,
        more: [f.reason && `原因：${f.reason}`, f.orderId && `订单号：${f.orderId}`],
      }),
      en: (f) => ({
        title: `${capital(kindOf(f, 'en'))} declined`,
        subject: `Your ${kindOf(f, 'en')} request${eid(f.returnId)} was declined`,
        line: `Sorry, your ${kindOf(f, 'en')} request${eid(f.returnId)} was declined.`,
        more: [f.reason && `Reason: ${f.reason}`, f.orderId && `Order: ${f.orderId}`],
      }),
    },
    EXPIRED: {
      'zh-CN': (f) => ({
        title: `${kindOf(f, 'zh-CN')}已失效`,
        subject: `${kindOf(f, 'zh-CN')}${zid(f.returnId)}已失效`,
        line: `您的${kindOf(f, 'zh-CN')}${zid(f.returnId)}因未在规定时间内寄出，已自动失效。`,
        more: [`如仍需${kindOf(f, 'zh-CN')}，请重新提交申请。`],
      }),
      en: (f) => ({
        title: `${capital(kindOf(f, 'en'))} expired`,
        subject: `Your ${kindOf(f, 'en')}${eid(f.returnId)} has expired`,
        line: `Your ${kindOf(f, 'en')}${eid(f.returnId)} has expired because the item(s) weren't sent back in time.`,
        more: [`If you'd still like to ${f.exchange ? 'exchange' : 'return'} them, please submit a new request.`],
      }),
    },
  },
  links(f, _status, ctx) {
    const label = f.exchange ? UI[ctx.locale].viewExchange : UI[ctx.locale].viewReturn;
    if (f.returnId) return [{ label, url: url(ctx.linkBase, 'returns', f.returnId) }];
    return f.orderId ? [{ label: UI[ctx.locale].viewOrder, url: url(ctx.linkBase, 'orders', f.orderId) }] : [];
  },
};

// Complaints --------------------------------------------------------------------------------------------------------

interface ComplaintFacts {
  complaintId?: string;
  orderId?: string;
  category?: string;
  outcome?: string;
  reason?: string;
}

const CATEGORY: Record<Locale, Record<string, string>> = {
  'zh-CN': { product_quality: '商品质量', logistics: '物流配送', after_sales: '售后服务', staff: '服务态度' },
  en: {
    product_quality: 'product quality',
    logistics: 'delivery',
    after_sales: 'after-sales service',
    staff: 'our staff',
  },
};
const categoryOf = (f: ComplaintFacts, locale: Locale): string | undefined =>
  f.category && Object.hasOwn(CATEGORY[locale], f.category) ? CATEGORY[locale][f.category] : undefined;

const complaints: CaseTemplates<ComplaintStatus, ComplaintFacts> = {
  statuses: COMPLAINT_STATUSES,
  facts: (p) => ({
    complaintId: str(p.complaintId),
    orderId: str(p.orderId),
    category: str(p.category),
    outcome: str(p.outcome),
    reason: str(p.reason),
  }),
  copy: {
    OPEN: {
      'zh-CN': (f) => {
        const category = categoryOf(f, 'zh-CN');
        return {
          title: '投诉已受理',
          subject: `您的投诉${zid(f.complaintId)}已受理`,
          line: `我们已收到您${category ? `关于${category}` : ''}的投诉${f.complaintId ? `，编号${SOFT}${f.complaintId}` : ''}，客服将尽快与您联系。`,
          more: [f.orderId && `关联订单：${f.orderId}`],
        };
      },
      en: (f) => {
        const category = categoryOf(f, 'en');
        return {
          title: 'Complaint received',
          subject: `Your complaint${eid(f.complaintId)} has been received`,
          line: `We've received your complaint${eid(f.complaintId)}${category ? ` about ${category}` : ''}. Our customer service team will be in touch soon.`,
          more: [f.orderId && `Order: ${f.orderId}`],
        };
      },
    },
    IN_PROGRESS: {
      'zh-CN': (f) => ({
        title: '投诉处理中',
        subject: `您的投诉${zid(f.complaintId)}正在处理中`,
        line: `您的投诉${zid(f.complaintId)}正在处理中，我们会尽快给您答复。`,
      }),
      en: (f) => ({
        title: 'Complaint in progress',
        subject: `Your complaint${eid(f.complaintId)} is being handled`,
        line: `Your complaint${eid(f.complaintId)} is being handled. We'll get back to you as soon as possible.`,
      }),
    },
    WAITING_CUSTOMER: {
      'zh-CN': (f) => ({
        title: '请补充信息',
        subject: `投诉${zid(f.complaintId)}需要您补充信息`,
        line: `关于您的投诉${zid(f.complaintId)}，我们需要您补充一些信息，请查看并回复。`,
      }),
      en: (f) => ({
        title: 'We need your reply',
        subject: `Your complaint${eid(f.complaintId)}: we need a few more details`,
        line: `We need a few more details about your complaint${eid(f.complaintId)}. Please take a look and reply.`,
      }),
    },
    ESCALATED: {
      'zh-CN': (f) => ({
        title: '投诉已升级处理',
        subject: `您的投诉${zid(f.complaintId)}已升级处理`,
        line: `您的投诉${zid(f.complaintId)}已升级，将由资深客服优先为您处理。`,
      }),
      en: (f) => ({
        title: 'Complaint escalated',
        subject: `Your complaint${eid(f.complaintId)} has been escalated`,
        line: `Your complaint${eid(f.complaintId)} has been passed to a senior member of our team for priority handling.`,
      }),
    },
    RESOLVED: {
      'zh-CN': (f) => ({
        title: '投诉已处理',
        subject: `您的投诉${zid(f.complaintId)}已处理`,
        line: `您的投诉${zid(f.complaintId)}已处理完毕。`,
        more: [f.reason && `处理说明：${f.reason}`, '欢迎为本次服务评分；如对处理结果不满意，可在投诉页面提出异议。'],
      }),
      en: (f) => ({
        title: 'Complaint resolved',
        subject: `Your complaint${eid(f.complaintId)} has been resolved`,
        line: `Your complaint${eid(f.complaintId)} has been resolved.`,
        more: [
          f.reason && `Resolution: ${f.reason}`,
          "We'd love to hear how we did. If you're not happy with the outcome, you can tell us on the complaint page.",
        ],
      }),
    },
    CLOSED: {
      'zh-CN': (f) => ({
        title: '投诉已关闭',
        subject: `您的投诉${zid(f.complaintId)}已关闭`,
        line:
          f.outcome === 'rated'
            ? `您的投诉${zid(f.complaintId)}已关闭，感谢您的评价！`
            : `您的投诉${zid(f.complaintId)}已关闭，感谢您的耐心与理解。`,
        more: [f.outcome === 'abandoned' && '如问题仍未解决，请联系客服或重新开启投诉。'],
      }),
      en: (f) => ({
        title: 'Complaint closed',
        subject: `Your complaint${eid(f.complaintId)} has been closed`,
        line:
          f.outcome === 'rated'
            ? `Your complaint${eid(f.complaintId)} is now closed. Thank you for your feedback!`
            : `Your complaint${eid(f.complaintId)} is now closed. Thank you for your patience.`,
        more: [
          f.outcome === 'abandoned' &&
            "If your issue hasn't been sorted out, please contact us or reopen the complaint.",
        ],
      }),
    },
  },
  links(f, _status, ctx) {
    if (f.complaintId) {
      return [{ label: UI[ctx.locale].viewComplaint, url: url(ctx.linkBase, 'complaints', f.complaintId) }];
    }
    return f.orderId ? [{ label: UI[ctx.locale].viewOrder, url: url(ctx.linkBase, 'orders', f.orderId) }] : [];
  },
};

// The words around the events ---------------------------------------------------------------------------------------

const UI = {
  'zh-CN': {
    greeting: (name?: string) => (name ? `${name}，您好：` : '您好：'),
    footer: '如有疑问，请联系客服。',
    colon: '：',
    viewOrder: '查看订单',
    trackParcel: '查看物流',
    viewRefund: '查看退款进度',
    viewReturn: '查看退货进度',
    viewExchange: '查看换货进度',
    viewComplaint: '查看投诉',
    viewCase: '查看',
    digestSubject: (weekly: boolean, n: number) => `您的${weekly ? '每周' : '每日'}动态：${n} 条更新`,
    digestIntro: (period: string | undefined, n: number) =>
      period ? `以下是您在${period}的动态（共 ${n} 条）：` : `以下是您的最新动态（共 ${n} 条）：`,
    digestEmpty: '这段时间没有新的动态。',
    digestMore: (n: number) => `另有 ${n} 条更新`,
  },
  en: {
    greeting: (name?: string) => (name ? `Hi ${name},` : 'Hello,'),
    footer: 'If you have any questions, please contact our customer service team.',
    colon: ': ',
    viewOrder: 'View your order',
    trackParcel: 'Track your parcel',
    viewRefund: 'View your refund',
    viewReturn: 'View your return',
    viewExchange: 'View your exchange',
    viewComplaint: 'View your complaint',
    viewCase: 'Open',
    digestSubject: (weekly: boolean, n: number) =>
      `Your ${weekly ? 'weekly' : 'daily'} update: ${n} ${n === 1 ? 'update' : 'updates'}`,
    digestIntro: (period: string | undefined, n: number) =>
      `Here are your ${period ? `updates for ${period}` : 'latest updates'} (${n}):`,
    digestEmpty: 'Nothing new in this period.',
    digestMore: (n: number) => `+${n} more`,
  },
} satisfies Record<Locale, unknown>;

// Staff -------------------------------------------------------------------------------------------------------------

const CASE_LABEL: Record<Locale, Record<CaseType, string>> = {
  'zh-CN': { order: '订单', refund: '退款', return: '退货', complaint: '投诉' },
  en: { order: 'order', refund: 'refund', return: 'return', complaint: 'complaint' },
};

const STAFF_TOPIC_LABEL: Record<Locale, Record<StaffTopic, string>> = {
  'zh-CN': {
    carrier_silent: '承运商长时间无物流更新',
    carrier_exception: '物流异常',
    compensation_failed: '补偿操作失败',
    complaint_sla_breached: '投诉超出 SLA 时限',
    complaint_unassigned: '投诉无法分配',
    refund_approval_overdue: '退款审批超时',
    refund_failed: '退款失败',
    return_approval_overdue: '退货审批超时',
    return_parcel_lost: '退货包裹丢失',
    return_refund_rejected: '退货退款被拒',
    review_sla_breached: '订单审核超时',
    step_failed: '流程步骤失败',
  },
  en: {
    carrier_silent: 'Carrier silent',
    carrier_exception: 'Carrier exception',
    compensation_failed: 'Compensation failed',
    complaint_sla_breached: 'Complaint SLA breached',
    complaint_unassigned: 'Complaint unassigned',
    refund_approval_overdue: 'Refund approval overdue',
    refund_failed: 'Refund failed',
    return_approval_overdue: 'Return approval overdue',
    return_parcel_lost: 'Return parcel lost',
    return_refund_rejected: 'Return refund rejected',
    review_sla_breached: 'Order review overdue',
    step_failed: 'Workflow step failed',
  },
};

const isCaseType = (value: unknown): value is CaseType => (CASE_TYPES as readonly unknown[]).includes(value);
const isStaffTopic = (value: string): value is StaffTopic => (STAFF_TOPICS as readonly string[]).includes(value);

function staffMessage(topic: string, payload: Payload, ctx: TemplateContext): RenderedMessage {
  const { locale } = ctx;
  const caseType = isCaseType(payload.caseType) ? payload.caseType : undefined;
  const caseId = str(payload.caseId);
  const label = isStaffTopic(topic)
    ? STAFF_TOPIC_LABEL[locale][topic]
    : locale === 'zh-CN'
      ? `待处理事项 ${topic}`
      : capital(topic.replaceAll('_', ' '));
  const kase = [caseType && CASE_LABEL[locale][caseType], caseId].filter(Boolean).join(' ');
  const link = caseType && caseId ? url(ctx.opsBase, 'v1', `${caseType}s`, caseId) : undefined;
  const message = str(payload.message);
  const headline = locale === 'zh-CN' ? `${label}${kase ? `（${kase}）` : ''}` : `${label}${kase ? ` (${kase})` : ''}`;
  const open = UI[locale].viewCase + UI[locale].colon;
  const subject =
    locale === 'zh-CN' ? `【运营】${label}${kase ? `：${kase}` : ''}` : `[Ops] ${label}${kase ? `: ${kase}` : ''}`;
  const text = [headline, message, link && `${open}${link}`].filter(Boolean).join('\n');
  const html = htmlPage(locale, subject, [
    `<p><strong>${escapeHtml(headline)}</strong></p>`,
    message ? `<p style="white-space:pre-wrap">${escapeHtml(message)}</p>` : '',
    link
      ? `<p><a href="${escapeHtml(link)}">${escapeHtml(UI[locale].viewCase + (kase ? ` ${kase}` : ''))}</a></p>`
      : '',
  ]);
  return { subject, text, html, ...(link ? { link } : {}) };
}

// Rendering ---------------------------------------------------------------------------------------------------------

type EventRenderer = (payload: Payload, ctx: TemplateContext) => EventMessage;

function renderersOf<S extends string, F>(caseType: CaseType, def: CaseTemplates<S, F>): [string, EventRenderer][] {
  return def.statuses.map((status) => [
    `${caseType}.${status.toLowerCase()}`,
    (payload, ctx) => {
      const facts = def.facts(payload, ctx.locale);
      const copy = def.copy[status][ctx.locale](facts);
      return {
        title: settle(copy.title),
        subject: settle(copy.subject),
        line: settle(copy.line),
        more: (copy.more ?? []).filter((m): m is string => typeof m === 'string' && m !== '').map(settle),
        links: def.links(facts, status, ctx),
      };
    },
  ]);
}

const EVENTS = new Map<string, EventRenderer>([
  ...renderersOf('order', orders),
  ...renderersOf('refund', refunds),
  ...renderersOf('return', returns),
  ...renderersOf('complaint', complaints),
]);

function eventOf(template: string, payload: unknown, ctx: TemplateContext): EventMessage {
  const render = EVENTS.get(template);
  if (!render) throw new Error(`no notification template ${JSON.stringify(template)}`);
  return render(isRecord(payload) ? payload : {}, ctx);
}

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENDED = '^{}\\[~]|€\f';

/** Whether the text fits one SMS: 160 GSM-7 characters (the extension table's count twice), else 70 UCS-2 ones. */
export function fitsOneSms(text: string): boolean {
  let septets = 0;
  for (const char of text) {
    if (GSM_BASIC.includes(char)) septets += 1;
    else if (GSM_EXTENDED.includes(char)) septets += 2;
    else return text.length <= 70;
  }
  return septets <= 160;
}

/** The text with what follows added while the whole still fits one SMS. */
function withinSms(text: string, extra: string | undefined): string {
  return extra && fitsOneSms(text + extra) ? text + extra : text;
}

function htmlPage(locale: Locale, title: string, body: string[]): string {
  return [
    `<!DOCTYPE html><html lang="${locale}"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`,
    '<body style="font-family:sans-serif;line-height:1.6;color:#222">',
    ...body.filter(Boolean),
    '</body></html>',
  ].join('\n');
}

const anchor = (link: Link): string => `<a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a>`;

function eventOnChannel(event: EventMessage, channel: NotificationChannel, ctx: TemplateContext): RenderedMessage {
  const ui = UI[ctx.locale];
  const main = event.links[0];
  const link = main ? { link: main.url } : {};
  switch (channel) {
    case 'sms':
      return {
        subject: event.title,
        text: withinSms(event.line, main && (ctx.locale === 'zh-CN' ? `详情：${main.url}` : ` ${main.url}`)),
        ...link,
      };
    case 'push':
      return { subject: event.title, text: event.line, ...link };
    case 'in_app':
      return {
        subject: event.title,
        text: [event.line, ...(event.more ?? []), main && `${main.label}${ui.colon}${main.url}`]
          .filter(Boolean)
          .join('\n'),
        ...link,
      };
    case 'email':
    case 'staff': {
      const greeting = ui.greeting(str(ctx.customerName));
      const paragraphs = [event.line, ...(event.more ?? [])];
      const text = [
        greeting,
        '',
        ...paragraphs,
        ...(event.links.length > 0 ? ['', ...event.links.map((l) => `${l.label}${ui.colon}${l.url}`)] : []),
        '',
        ui.footer,
      ].join('\n');
      const html = htmlPage(ctx.locale, event.subject, [
        `<p>${escapeHtml(greeting)}</p>`,
        ...paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
        event.links.length > 0 ? `<p>${event.links.map(anchor).join(' | ')}</p>` : '',
        `<p style="color:#888;font-size:12px">${escapeHtml(ui.footer)}</p>`,
      ]);
      return { subject: event.subject, text, html, ...link };
    }
  }
}

// Digests -----------------------------------------------------------------------------------------------------------

function dateOf(value: unknown): Date | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The period in words: its first day for a daily digest, first to last day for a weekly one (`to` is exclusive). */
function periodOf(period: unknown, weekly: boolean, ctx: TemplateContext, timeZone: string): string | undefined {
  if (!isRecord(period)) return undefined;
  const from = dateOf(period.from);
  const to = dateOf(period.to);
  const day = new Intl.DateTimeFormat(ctx.locale, { dateStyle: 'medium', timeZone });
  const last = to && new Date(Math.max(to.getTime() - 1, from?.getTime() ?? -Infinity));
  if (!from) return last ? day.format(last) : undefined;
  const first = day.format(from);
  if (!weekly || !last || day.format(last) === first) return first;
  return ctx.locale === 'zh-CN' ? `${first}至${day.format(last)}` : day.formatRange(from, last);
}

interface DigestLine {
  at?: string;
  line: string;
  link?: Link;
}

function digestMessage(
  weekly: boolean,
  payload: Payload,
  channel: NotificationChannel,
  ctx: TemplateContext,
): RenderedMessage {
  const ui = UI[ctx.locale];
  const timeZone = ctx.timeZone ?? 'Asia/Shanghai';
  const items = Array.isArray(payload.items) ? payload.items : [];
  const clock = new Intl.DateTimeFormat(ctx.locale, {
    ...(weekly ? { month: 'short', day: 'numeric' } : {}),
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZone,
  });
  const lines: DigestLine[] = items.map((item, index) => {
    const template = isRecord(item) ? str(item.template) : undefined;
    if (!template || !isRecord(item)) throw new Error(`digest item ${index} names no notification template`);
    const event = eventOf(template, item.payload, ctx);
    const at = dateOf(item.at);
    return { at: at && clock.format(at), line: event.line, link: event.links[0] };
  });
  const subject = ui.digestSubject(weekly, lines.length);
  const entry = (l: DigestLine): string => (l.at ? `${l.at} ${l.line}` : l.line);

  if (channel === 'sms' || channel === 'push') {
    const budget = channel === 'sms' ? fitsOneSms : (text: string) => [...text].length <= 240;
    let text = subject;
    let shown = 0;
    for (const l of lines) {
      const rest = lines.length - shown - 1;
      const next = `${text}\n${entry(l)}`;
      if (!budget(rest > 0 ? `${next}\n${ui.digestMore(rest)}` : next)) break;
      text = next;
      shown += 1;
    }
    if (shown < lines.length) text += `\n${ui.digestMore(lines.length - shown)}`;
    return { subject, text };
  }

  const intro = ui.digestIntro(periodOf(payload.period, weekly, ctx, timeZone), lines.length);
  const bullets = lines.map((l) => `• ${entry(l)}${l.link ? `\n  ${l.link.url}` : ''}`);
  if (channel === 'in_app') {
    return { subject, text: [intro, ...(lines.length > 0 ? bullets : [ui.digestEmpty])].join('\n') };
  }
  const greeting = ui.greeting(str(ctx.customerName));
  const text = [greeting, '', intro, ...(lines.length > 0 ? bullets : [ui.digestEmpty]), '', ui.footer].join('\n');
  const html = htmlPage(ctx.locale, subject, [
    `<p>${escapeHtml(greeting)}</p>`,
    `<p>${escapeHtml(intro)}</p>`,
    lines.length > 0
      ? `<ul>\n${lines
          .map(
            (l) =>
              `<li>${l.at ? `${escapeHtml(l.at)} ` : ''}${escapeHtml(l.line)}${l.link ? ` ${anchor(l.link)}` : ''}</li>`,
          )
          .join('\n')}\n</ul>`
      : `<p>${escapeHtml(ui.digestEmpty)}</p>`,
    `<p style="color:#888;font-size:12px">${escapeHtml(ui.footer)}</p>`,
  ]);
  return { subject, text, html };
}

/**
 * The message a notification row says on its channel. Customer templates are `<caseType>.<status lowercased>`;
 * `staff.<topic>` renders the same on every channel (subject, text, html); `digest.daily` / `digest.weekly` list
 * their items. Throws for a template there is none of, naming it.
 */
export function renderNotification(
  template: string,
  channel: NotificationChannel,
  payload: Record<string, unknown>,
  ctx: TemplateContext,
): RenderedMessage {
  const data = isRecord(payload) ? payload : {};
  if (template === 'digest.daily' || template === 'digest.weekly') {
    return digestMessage(template === 'digest.weekly', data, channel, ctx);
  }
  if (template.startsWith('staff.') && template.length > 'staff.'.length) {
    return staffMessage(template.slice('staff.'.length), data, ctx);
  }
  return eventOnChannel(eventOf(template, data, ctx), channel, ctx);
}
