import fc from 'fast-check';
import { CASE_TYPES, type CaseType } from '../../domain/case';
import { COMPLAINT_STATUSES } from '../../domain/complaint';
import { ORDER_STATUSES } from '../../domain/order';
import { NOTIFICATION_CHANNELS } from '../../domain/ports';
import { REFUND_STATUSES } from '../../domain/refund';
import { RETURN_STATUSES } from '../../domain/return';
import {
  CUSTOMER_TEMPLATES,
  LOCALES,
  STAFF_TOPICS,
  escapeHtml,
  fitsOneSms,
  formatMoney,
  renderNotification,
  resolveLocale,
  type Locale,
  type RenderedMessage,
  type TemplateContext,
} from '../../notifications/templates';

const SHOP = 'https://shop.example.com';
const OPS = 'https://ops.example.com';
const ctxOf = (locale: Locale, extra: Partial<TemplateContext> = {}): TemplateContext => ({
  locale,
  linkBase: SHOP,
  opsBase: OPS,
  customerName: locale === 'zh-CN' ? '王小明' : 'Alice',
  ...extra,
});

const CUSTOMER_CHANNELS = ['email', 'sms', 'push', 'in_app'] as const;
const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;
const LEFTOVERS = /undefined|NaN|null|\[object Object\]|[{}]|\uE000/;

const ORDER_ID = 'ORD-20261123-0042';
/** Refunds other cases start are named after them, so refund ids run long. */
const REFUND_ID = `${ORDER_ID}-cancel-1`;
const RETURN_ID = 'RET-20261123-0007';
const COMPLAINT_ID = 'CMP-20261123-0003';

/** What each case type's activities write, plus the status and reason recordTransition adds. */
const PAYLOADS: Record<CaseType, Record<string, unknown>> = {
  order: {
    orderId: ORDER_ID,
    total: { currency: 'CNY', subtotal: 11900, shipping: 1000, total: 12900 },
    waybills: ['SF1234567890'],
    reason: 'customer changed their mind',
  },
  refund: { refundId: REFUND_ID, orderId: ORDER_ID, amount: 12900, currency: 'CNY', reason: 'not eligible' },
  return: {
    returnId: RETURN_ID,
    orderId: ORDER_ID,
    type: 'refund',
    outcome: 'refunded',
    rejectReason: 'outside the return window',
  },
  complaint: {
    complaintId: COMPLAINT_ID,
    orderId: ORDER_ID,
    category: 'logistics',
    priority: 'high',
    outcome: 'rated',
    reason: 'we credited 20 yuan to your balance',
  },
};
const CASE_ID: Record<CaseType, string> = {
  order: ORDER_ID,
  refund: REFUND_ID,
  return: RETURN_ID,
  complaint: COMPLAINT_ID,
};

const caseTypeOf = (template: string): CaseType => template.split('.')[0] as CaseType;

function payloadOf(template: string): Record<string, unknown> {
  const status = template.split('.')[1].toUpperCase();
  return { ...PAYLOADS[caseTypeOf(template)], status };
}

function expectedLink(template: string): string {
  switch (caseTypeOf(template)) {
    case 'order':
      return template === 'order.shipped' || template === 'order.delivered'
        ? `${SHOP}/orders/${ORDER_ID}/tracking`
        : `${SHOP}/orders/${ORDER_ID}`;
    case 'refund':
      return `${SHOP}/orders/${ORDER_ID}/refunds/${REFUND_ID}`;
    case 'return':
      return `${SHOP}/returns/${RETURN_ID}`;
    case 'complaint':
      return `${SHOP}/complaints/${COMPLAINT_ID}`;
  }
}

/** Every char in GSM 03.38's basic table (¥ included), or its extension (counted twice). */
const GSM = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\[~\]|€]*$/;
const gsmLength = (text: string): number => [...text].reduce((n, c) => n + ('^{}\\[~]|€'.includes(c) ? 2 : 1), 0);

function parts(message: RenderedMessage): string[] {
  return [message.subject, message.text, message.html ?? '', message.link ?? ''];
}

describe('the customer templates', () => {
  test('there is one per status of every case type', () => {
    const expected = [
      ...ORDER_STATUSES.map((s) => `order.${s.toLowerCase()}`),
      ...REFUND_STATUSES.map((s) => `refund.${s.toLowerCase()}`),
      ...RETURN_STATUSES.map((s) => `return.${s.toLowerCase()}`),
      ...COMPLAINT_STATUSES.map((s) => `complaint.${s.toLowerCase()}`),
    ];
    expect([...CUSTOMER_TEMPLATES].sort()).toEqual(expected.sort());
    expect(CUSTOMER_TEMPLATES).toEqual(
      expect.arrayContaining(['order.shipped', 'refund.refunded', 'return.approved', 'complaint.resolved']),
    );
  });

  const cases = CUSTOMER_TEMPLATES.flatMap((template) =>
    CUSTOMER_CHANNELS.flatMap((channel) => LOCALES.map((locale) => [template, channel, locale] as const)),
  );

  test.each(cases)('%s on %s in %s', (template, channel, locale) => {
    const message = renderNotification(template, channel, payloadOf(template), ctxOf(locale));
    expect(message.subject.trim()).not.toBe('');
    expect(message.text.trim()).not.toBe('');
    expect(message.text).toContain(CASE_ID[caseTypeOf(template)]);
    for (const part of parts(message)) expect(part).not.toMatch(LEFTOVERS);
    expect(message.link).toBe(expectedLink(template));

    if (locale === 'zh-CN') {
      expect(message.subject).toMatch(CJK);
      expect(message.text).toMatch(CJK);
    } else {
      for (const part of parts(message)) expect(part).not.toMatch(CJK);
    }

    switch (channel) {
      case 'email':
        expect(message.html).toContain(`<html lang="${locale}">`);
        expect(message.html).toContain(`href="${expectedLink(template)}"`);
        expect(message.text).toContain(expectedLink(template));
        expect(message.text).toContain(locale === 'zh-CN' ? '王小明' : 'Alice');
        break;
      case 'sms':
        if (locale === 'zh-CN') expect(message.text.length).toBeLessThanOrEqual(70);
        else {
          expect(message.text).toMatch(GSM);
          expect(gsmLength(message.text)).toBeLessThanOrEqual(160);
        }
        expect(fitsOneSms(message.text)).toBe(true);
        expect(message.html).toBeUndefined();
        break;
      case 'push':
        expect(message.html).toBeUndefined();
        expect(message.subject.length).toBeLessThanOrEqual(locale === 'zh-CN' ? 20 : 50);
        break;
      case 'in_app':
        expect(message.text).toContain(expectedLink(template));
        expect(message.html).toBeUndefined();
        break;
    }
  });

  test('each status of a case type says something of its own', () => {
    for (const locale of LOCALES) {
      for (const type of CASE_TYPES) {
        const templates = CUSTOMER_TEMPLATES.filter((t) => caseTypeOf(t) === type);
        const lines = templates.map((t) => renderNotification(t, 'push', payloadOf(t), ctxOf(locale)).text);
        expect(new Set(lines).size).toBe(templates.length);
      }
    }
  });

  test('no customer message falls back to naming the raw status', () => {
    for (const template of CUSTOMER_TEMPLATES) {
      for (const locale of LOCALES) {
        const { subject, text } = renderNotification(template, 'email', payloadOf(template), ctxOf(locale));
        expect(`${subject}\n${text}`).not.toMatch(/\b[A-Z]+_[A-Z_]+\b|status/);
        expect(`${subject}\n${text}`).not.toContain(template.split('.')[1].toUpperCase());
      }
    }
  });

  test('reads naturally in both languages', () => {
    const shipped = (locale: Locale) =>
      renderNotification('order.shipped', 'sms', payloadOf('order.shipped'), ctxOf(locale)).text;
    expect(shipped('zh-CN')).toBe(`您的订单 ${ORDER_ID} 已发货，运单号 SF1234567890。`);
    expect(shipped('en')).toBe(
      `Your order ${ORDER_ID} has shipped. Tracking number: SF1234567890. ${SHOP}/orders/${ORDER_ID}/tracking`,
    );
    const email = renderNotification('order.shipped', 'email', payloadOf('order.shipped'), ctxOf('zh-CN'));
    expect(email.subject).toBe(`您的订单 ${ORDER_ID} 已发货`);
    expect(email.text.split('\n')[0]).toBe('王小明，您好：');
    const anonymous = renderNotification('order.shipped', 'email', payloadOf('order.shipped'), {
      ...ctxOf('en'),
      customerName: undefined,
    });
    expect(anonymous.text.split('\n')[0]).toBe('Hello,');
  });
});

describe('money', () => {
  test('formats minor units with the currency’s own digits', () => {
    expect(new Intl.NumberFormat('zh-CN', { style: 'currency', currency: 'CNY' }).format(12.3)).toBe('¥12.30');
    expect(formatMoney(12900, 'CNY', 'zh-CN')).toBe('¥129.00');
    // English names the yuan CN¥ so it cannot be taken for the yen (¥ in English).
    expect(formatMoney(12900, 'CNY', 'en')).toBe('CN¥129.00');
    expect(formatMoney(1290, 'JPY', 'en')).toBe('¥1,290');
    expect(formatMoney(1290, 'JPY', 'zh-CN')).toBe('JP¥1,290');
    expect(formatMoney(12345678, 'CNY', 'zh-CN')).toBe('¥123,456.78');
    expect(formatMoney('5050', 'CNY', 'zh-CN')).toBe('¥50.50');
    expect(formatMoney(-0, 'CNY', 'en')).toBe('CN¥0.00');
    for (const [minor, currency] of [
      [undefined, 'CNY'],
      [12900, undefined],
      [NaN, 'CNY'],
      [12.5, 'CNY'],
      ['12,900', 'CNY'],
      [12900, 'not a currency'],
    ] as const) {
      expect(formatMoney(minor, currency, 'en')).toBeUndefined();
    }
  });

  test('order totals and refund amounts appear in the messages', () => {
    const paid = (locale: Locale) =>
      renderNotification('order.paid', 'email', payloadOf('order.paid'), ctxOf(locale)).text;
    expect(paid('zh-CN')).toContain('¥129.00');
    expect(paid('zh-CN')).not.toContain('CN¥');
    expect(paid('en')).toContain('CN¥129.00');
    const refunded = renderNotification(
      'refund.refunded',
      'sms',
      { ...PAYLOADS.refund, amount: 5050, currency: 'CNY' },
      ctxOf('zh-CN'),
    );
    expect(refunded.text).toContain('（¥50.50）');
    const usd = renderNotification('refund.approved', 'push', { ...PAYLOADS.refund, currency: 'USD' }, ctxOf('en'));
    expect(usd.text).toContain('$129.00');
  });
});

describe('links', () => {
  test('name the case, with ids URL-encoded and the base’s trailing slash dropped', () => {
    const ctx = ctxOf('en', { linkBase: `${SHOP}/` });
    expect(renderNotification('order.paid', 'push', { orderId: 'A/B C' }, ctx).link).toBe(`${SHOP}/orders/A%2FB%20C`);
    expect(renderNotification('order.delivered', 'push', { orderId: 'A?1' }, ctx).link).toBe(
      `${SHOP}/orders/A%3F1/tracking`,
    );
    expect(renderNotification('refund.approved', 'push', { orderId: 'O#1', refundId: 'R&1' }, ctx).link).toBe(
      `${SHOP}/orders/O%231/refunds/R%261`,
    );
    expect(renderNotification('return.approved', 'push', { returnId: 'R 1' }, ctx).link).toBe(`${SHOP}/returns/R%201`);
    expect(renderNotification('complaint.open', 'push', { complaintId: 'C/1' }, ctx).link).toBe(
      `${SHOP}/complaints/C%2F1`,
    );
  });

  test('a shipped order’s email points at the tracking page and the order, and names the waybills', () => {
    const payload = { ...PAYLOADS.order, waybills: ['SF1', 'YT2'] };
    const zh = renderNotification('order.shipped', 'email', payload, ctxOf('zh-CN'));
    expect(zh.text).toContain('运单号 SF1、YT2');
    expect(zh.text).toContain(`查看物流：${SHOP}/orders/${ORDER_ID}/tracking`);
    expect(zh.text).toContain(`查看订单：${SHOP}/orders/${ORDER_ID}`);
    const en = renderNotification('order.shipped', 'email', payload, ctxOf('en'));
    expect(en.text).toContain('Tracking numbers: SF1, YT2.');
    expect(en.html).toContain(`<a href="${SHOP}/orders/${ORDER_ID}/tracking">Track your parcel</a>`);
    const none = renderNotification('order.shipped', 'sms', { ...PAYLOADS.order, waybills: [] }, ctxOf('zh-CN'));
    expect(none.text).toBe(`您的订单 ${ORDER_ID} 已发货。`);
  });
});

describe('payload text from users', () => {
  const hostile = `<script>alert("x")</script> & 'y'`;
  const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;';

  test.each([
    ['order.cancelled', { reason: hostile }],
    ['refund.rejected', { reason: hostile }],
    ['return.rejected', { rejectReason: hostile }],
    ['complaint.resolved', { reason: hostile }],
  ] as const)('is escaped in the html of %s', (template, extra) => {
    for (const locale of LOCALES) {
      const message = renderNotification(template, 'email', { ...payloadOf(template), ...extra }, ctxOf(locale));
      expect(message.html).toContain(escaped);
      expect(message.html).not.toContain('<script');
      expect(message.text).toContain(hostile);
    }
  });

  test('the customer’s name is escaped too', () => {
    const message = renderNotification(
      'order.paid',
      'email',
      PAYLOADS.order,
      ctxOf('en', { customerName: '<b>Bo</b>' }),
    );
    expect(message.html).toContain('Hi &lt;b&gt;Bo&lt;/b&gt;,');
  });
});

describe('missing payload fields', () => {
  const payloads: Record<string, unknown>[] = [
    {},
    { status: 'X' },
    { orderId: ORDER_ID },
    { orderId: ORDER_ID, total: { currency: 'CNY' } },
    { orderId: ORDER_ID, total: { total: 100 } },
    { orderId: ORDER_ID, waybills: [null, 42, ''] },
    { refundId: REFUND_ID, amount: 'lots', currency: 'CNY' },
    { refundId: REFUND_ID, amount: 100 },
    { returnId: RETURN_ID, type: 'exchange', outcome: 'something new' },
    { complaintId: COMPLAINT_ID, category: 'weather', orderId: null },
    { orderId: { nested: true }, reason: ['a'], total: 'abc' },
  ];

  test('never render undefined, NaN or objects', () => {
    for (const template of CUSTOMER_TEMPLATES) {
      for (const payload of payloads) {
        for (const channel of CUSTOMER_CHANNELS) {
          for (const locale of LOCALES) {
            const message = renderNotification(template, channel, payload, ctxOf(locale));
            expect(message.subject.trim()).not.toBe('');
            expect(message.text.trim()).not.toBe('');
            for (const part of parts(message)) expect(part).not.toMatch(LEFTOVERS);
            for (const part of parts(message)) expect(part).not.toMatch(/ {2}|^ | $|\s[，。：）]|（\s/m);
          }
        }
      }
    }
  });

  test('use what is there', () => {
    expect(renderNotification('order.shipped', 'sms', {}, ctxOf('zh-CN'))).toEqual({
      subject: '订单已发货',
      text: '您的订单已发货。',
    });
    expect(renderNotification('order.shipped', 'push', {}, ctxOf('en')).text).toBe('Your order has shipped.');
    const refund = renderNotification('refund.approved', 'push', { refundId: 'R1', orderId: 'O1' }, ctxOf('zh-CN'));
    expect(refund.text).toBe('您的退款 R1 已通过审核，正在为您办理。');
    expect(refund.link).toBe(`${SHOP}/orders/O1/refunds/R1`);
    expect(renderNotification('refund.approved', 'push', { refundId: 'R1' }, ctxOf('en')).link).toBeUndefined();
  });
});

describe('returns and complaints', () => {
  test('an exchange is called one', () => {
    const payload = { ...PAYLOADS.return, type: 'exchange' };
    expect(renderNotification('return.approved', 'push', payload, ctxOf('zh-CN')).text).toContain('换货申请');
    expect(renderNotification('return.approved', 'push', payload, ctxOf('en')).text).toContain('exchange request');
    const email = renderNotification('return.approved', 'email', payload, ctxOf('en'));
    expect(email.text).toContain(`View your exchange: ${SHOP}/returns/${RETURN_ID}`);
  });

  test('a closed return says how it ended', () => {
    const outcomes = [
      'refunded',
      'replaced',
      'refunded_without_receipt',
      'inspection_failed',
      'refund_rejected',
      undefined,
    ];
    for (const locale of LOCALES) {
      const lines = outcomes.map(
        (outcome) => renderNotification('return.closed', 'push', { ...PAYLOADS.return, outcome }, ctxOf(locale)).text,
      );
      expect(new Set(lines).size).toBe(outcomes.length);
    }
    const failed = renderNotification(
      'return.closed',
      'email',
      { ...PAYLOADS.return, outcome: 'inspection_failed' },
      ctxOf('zh-CN'),
    );
    expect(failed.subject).toBe(`退货 ${RETURN_ID} 已关闭`);
    expect(failed.text).toContain('未通过验货');
  });

  test('a closed complaint thanks for a rating only when there was one', () => {
    const rated = renderNotification('complaint.closed', 'push', PAYLOADS.complaint, ctxOf('zh-CN')).text;
    expect(rated).toContain('感谢您的评价');
    const unrated = renderNotification(
      'complaint.closed',
      'push',
      { ...PAYLOADS.complaint, outcome: 'closed_without_rating' },
      ctxOf('zh-CN'),
    ).text;
    expect(unrated).not.toContain('评价');
  });

  test('a resolved complaint gives the resolution; an opened one names the category', () => {
    const resolved = renderNotification('complaint.resolved', 'email', PAYLOADS.complaint, ctxOf('en'));
    expect(resolved.text).toContain('Resolution: we credited 20 yuan to your balance');
    expect(renderNotification('complaint.open', 'push', PAYLOADS.complaint, ctxOf('zh-CN')).text).toContain(
      '关于物流配送的投诉',
    );
  });
});

describe('staff messages', () => {
  const payload = (caseType: CaseType, topic: string) => ({
    caseType,
    caseId: 'R-1',
    topic,
    message: 'refund R-1 of 12900 for order O-1: card expired',
  });

  const cases = STAFF_TOPICS.flatMap((topic) => LOCALES.map((locale) => [topic, locale] as const));

  test.each(cases)('staff.%s in %s', (topic, locale) => {
    const message = renderNotification(`staff.${topic}`, 'staff', payload('refund', topic), ctxOf(locale));
    expect(message.subject).toContain('R-1');
    expect(message.subject).toContain(locale === 'zh-CN' ? '退款' : 'refund');
    expect(message.text).toContain('refund R-1 of 12900 for order O-1: card expired');
    expect(message.text).toContain(`${OPS}/v1/refunds/R-1`);
    expect(message.link).toBe(`${OPS}/v1/refunds/R-1`);
    expect(message.html).toContain(`href="${OPS}/v1/refunds/R-1"`);
    for (const part of parts(message)) expect(part).not.toMatch(LEFTOVERS);
    if (locale === 'zh-CN') expect(message.subject).toMatch(CJK);
    else for (const part of parts(message)) expect(part).not.toMatch(CJK);
    expect(renderNotification(`staff.${topic}`, 'email', payload('refund', topic), ctxOf(locale))).toEqual(message);
  });

  test('every topic has a subject of its own, naming it', () => {
    for (const locale of LOCALES) {
      const subjects = STAFF_TOPICS.map(
        (topic) => renderNotification(`staff.${topic}`, 'staff', payload('order', topic), ctxOf(locale)).subject,
      );
      expect(new Set(subjects).size).toBe(STAFF_TOPICS.length);
    }
    expect(renderNotification('staff.refund_failed', 'staff', payload('refund', 'x'), ctxOf('en')).subject).toBe(
      '[Ops] Refund failed: refund R-1',
    );
    expect(renderNotification('staff.refund_failed', 'staff', payload('refund', 'x'), ctxOf('zh-CN')).subject).toBe(
      '【运营】退款失败：退款 R-1',
    );
  });

  test('link to the case in the staff console, per case type', () => {
    for (const caseType of CASE_TYPES) {
      const message = renderNotification('staff.step_failed', 'staff', payload(caseType, 'step_failed'), ctxOf('en'));
      expect(message.link).toBe(`${OPS}/v1/${caseType}s/R-1`);
    }
    const odd = renderNotification('staff.step_failed', 'staff', { caseType: 'order', caseId: 'a/b' }, ctxOf('en'));
    expect(odd.link).toBe(`${OPS}/v1/orders/a%2Fb`);
  });

  test('any other topic renders with the generic template', () => {
    for (const locale of LOCALES) {
      const message = renderNotification('staff.brand_new_topic', 'staff', payload('return', 'x'), ctxOf(locale));
      expect(message.subject).toContain(locale === 'zh-CN' ? 'brand_new_topic' : 'Brand new topic');
      expect(message.text).toContain('card expired');
      expect(message.link).toBe(`${OPS}/v1/returns/R-1`);
    }
    const bare = renderNotification('staff.something', 'staff', {}, ctxOf('en'));
    expect(bare).toEqual({ subject: '[Ops] Something', text: 'Something', html: expect.any(String) });
  });

  test('escape the message in html', () => {
    const message = renderNotification(
      'staff.step_failed',
      'staff',
      { caseType: 'order', caseId: 'O-1', message: '<img src=x onerror=alert(1)>' },
      ctxOf('en'),
    );
    expect(message.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(message.html).not.toContain('<img');
  });
});

describe('digests', () => {
  const items = [
    {
      template: 'order.shipped',
      payload: { orderId: 'O-1', waybills: ['SF1'], total: { currency: 'CNY', total: 12900 } },
      at: '2026-11-23T01:15:00Z',
    },
    {
      template: 'refund.refunded',
      payload: { refundId: 'R-1', orderId: 'O-1', amount: 5000, currency: 'CNY' },
      at: '2026-11-23T05:00:00Z',
    },
    { template: 'complaint.resolved', payload: { complaintId: 'C-1', reason: '<b>sorry</b>' }, at: 'not a date' },
  ];
  const daily = { period: { from: '2026-11-22T16:00:00Z', to: '2026-11-23T16:00:00Z' }, items };
  const links = [`${SHOP}/orders/O-1/tracking`, `${SHOP}/orders/O-1/refunds/R-1`, `${SHOP}/complaints/C-1`];

  test('a daily digest lists its three items with their links', () => {
    const zh = renderNotification('digest.daily', 'email', daily, ctxOf('zh-CN'));
    expect(zh.subject).toBe('您的每日动态：3 条更新');
    expect(zh.text).toContain('以下是您在2026年11月23日的动态（共 3 条）：');
    expect(zh.text).toContain('• 09:15 您的订单 O-1 已发货，运单号 SF1。');
    expect(zh.text).toContain('• 13:00 您的退款 R-1（¥50.00）已办理成功');
    expect(zh.text).toContain('• 您的投诉 C-1 已处理完毕。');
    for (const link of links) {
      expect(zh.text).toContain(link);
      expect(zh.html).toContain(`href="${link}"`);
    }
    expect(zh.html?.match(/<li>/g)).toHaveLength(3);

    const en = renderNotification('digest.daily', 'email', daily, ctxOf('en'));
    expect(en.subject).toBe('Your daily update: 3 updates');
    expect(en.text).toContain('Here are your updates for Nov 23, 2026 (3):');
    expect(en.text).toContain('• 09:15 Your order O-1 has shipped. Tracking number: SF1.');
    for (const message of [zh, en]) for (const part of parts(message)) expect(part).not.toMatch(LEFTOVERS);
    for (const part of parts(en)) expect(part).not.toMatch(CJK);
  });

  test('a weekly digest names the week, the time zone told', () => {
    const week = { period: { from: '2026-11-16T00:00:00Z', to: '2026-11-23T00:00:00Z' }, items };
    const en = renderNotification('digest.weekly', 'email', week, ctxOf('en', { timeZone: 'UTC' }));
    expect(en.subject).toBe('Your weekly update: 3 updates');
    expect(en.text).toMatch(/Here are your updates for Nov 16\s–\s22, 2026 \(3\):/);
    expect(en.text).toContain('Nov 23, 01:15 Your order O-1');
    const zh = renderNotification('digest.weekly', 'in_app', week, ctxOf('zh-CN', { timeZone: 'UTC' }));
    expect(zh.subject).toBe('您的每周动态：3 条更新');
    expect(zh.text).toContain('以下是您在2026年11月16日至2026年11月22日的动态（共 3 条）：');
  });

  test('short channels list what fits and count the rest', () => {
    for (const locale of LOCALES) {
      const sms = renderNotification('digest.daily', 'sms', daily, ctxOf(locale));
      expect(fitsOneSms(sms.text)).toBe(true);
      expect(sms.text).toMatch(locale === 'zh-CN' ? /另有 \d 条更新$/ : /\+\d more$/);
      const push = renderNotification('digest.daily', 'push', daily, ctxOf(locale));
      expect(push.text.startsWith(push.subject)).toBe(true);
    }
  });

  test('one item, or none', () => {
    const one = renderNotification('digest.daily', 'email', { ...daily, items: items.slice(0, 1) }, ctxOf('en'));
    expect(one.subject).toBe('Your daily update: 1 update');
    const none = renderNotification('digest.weekly', 'in_app', { items: [] }, ctxOf('zh-CN'));
    expect(none.subject).toBe('您的每周动态：0 条更新');
    expect(none.text).toContain('这段时间没有新的动态。');
  });

  test('an item with an unknown template fails the digest, naming it', () => {
    expect(() =>
      renderNotification(
        'digest.daily',
        'email',
        { items: [{ template: 'order.teleported', payload: {} }] },
        ctxOf('en'),
      ),
    ).toThrow(/order\.teleported/);
    expect(() => renderNotification('digest.daily', 'email', { items: [{}] }, ctxOf('en'))).toThrow(/digest item 0/);
  });
});

describe('unknown templates', () => {
  test.each([
    'order.teleported',
    'order.SHIPPED',
    'orders.shipped',
    'shipped',
    'digest.monthly',
    'staff.',
    '',
    'order.',
  ])('%j throws, naming it', (template) => {
    expect(() => renderNotification(template, 'email', {}, ctxOf('en'))).toThrow(JSON.stringify(template));
  });

  test('not even a prototype key', () => {
    expect(() => renderNotification('order.constructor', 'email', {}, ctxOf('en'))).toThrow('order.constructor');
    expect(() => renderNotification('__proto__', 'email', {}, ctxOf('en'))).toThrow('__proto__');
  });
});

describe('every channel renders', () => {
  test('customer templates on the staff channel take the email form', () => {
    const staff = renderNotification('order.paid', 'staff', PAYLOADS.order, ctxOf('en'));
    expect(staff).toEqual(renderNotification('order.paid', 'email', PAYLOADS.order, ctxOf('en')));
    for (const channel of NOTIFICATION_CHANNELS) {
      expect(renderNotification('staff.refund_failed', channel, {}, ctxOf('en')).subject).toContain('Refund failed');
    }
  });
});

test('resolveLocale maps language tags', () => {
  expect(resolveLocale('zh')).toBe('zh-CN');
  expect(resolveLocale('zh-Hans-CN')).toBe('zh-CN');
  expect(resolveLocale('en-GB')).toBe('en');
  expect(resolveLocale('EN_us')).toBe('en');
  expect(resolveLocale('fr')).toBe('zh-CN');
  expect(resolveLocale(undefined, 'en')).toBe('en');
});

describe('properties', () => {
  /** Tags the email html is built of; what is left once they are gone must hold no markup. */
  const OUR_TAGS = /<!DOCTYPE html>|<\/?(?:html|head|meta|title|body|p|strong|a|ul|li)(?:\s[^<>]*)?>/g;
  const nasty = fc.constantFrom('<', '>', '&', '"', "'", '&amp;', '<script>', '"><img src=x onerror=alert(1)>', '中');
  const text = fc
    .oneof(
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.string({ unit: fc.oneof(nasty, fc.constantFrom('a', ' ', '，', '\n', '😀')), maxLength: 12 }),
    )
    .filter((s) => !/undefined|NaN|null/.test(s));
  const value = fc.oneof(text, fc.constant(undefined), fc.integer(), fc.double(), fc.constant(null));
  const payload = fc.record({
    orderId: value,
    refundId: value,
    returnId: value,
    complaintId: value,
    caseId: value,
    caseType: fc.oneof(fc.constantFrom(...CASE_TYPES), text),
    message: value,
    reason: value,
    rejectReason: value,
    amount: value,
    currency: fc.oneof(fc.constantFrom('CNY', 'JPY', 'USD'), text),
    total: fc.oneof(value, fc.record({ total: value, currency: fc.oneof(fc.constant('CNY'), text) })),
    waybills: fc.array(value, { maxLength: 3 }),
    type: fc.oneof(fc.constantFrom('refund', 'exchange'), text),
    outcome: value,
    category: value,
  });
  const template = fc.constantFrom(...CUSTOMER_TEMPLATES, ...STAFF_TOPICS.map((t) => `staff.${t}`), 'staff.other');

  test('payload strings never break the email html nor render undefined', () => {
    fc.assert(
      fc.property(template, payload, fc.constantFrom(...LOCALES), fc.option(text), (name, data, locale, customer) => {
        const message = renderNotification(name, 'email', data, ctxOf(locale, { customerName: customer ?? undefined }));
        const html = message.html ?? '';
        const markupLeft = html.replace(OUR_TAGS, '');
        expect(markupLeft).not.toMatch(/[<>]/);
        expect(html).not.toMatch(/&(?!(?:amp|lt|gt|quot|#39);)/);
        for (const anchor of html.match(/<a\s[^>]*>/g) ?? []) expect(anchor).toMatch(/^<a href="[^"<>]*">$/);
        for (const part of parts(message)) expect(part).not.toMatch(/undefined|NaN|\[object Object\]|\uE000/);
        // A reason the message shows is shown escaped, whole.
        const reason = typeof data.reason === 'string' ? data.reason.trim() : '';
        if (name === 'order.cancelled' && reason !== '') expect(html).toContain(escapeHtml(reason));
      }),
      { numRuns: 500 },
    );
  });

  test('short channels never render undefined either', () => {
    fc.assert(
      fc.property(
        template,
        payload,
        fc.constantFrom(...LOCALES),
        fc.constantFrom(...CUSTOMER_CHANNELS),
        (n, d, l, c) => {
          const message = renderNotification(n, c, d, ctxOf(l));
          expect(message.subject.trim()).not.toBe('');
          for (const part of parts(message)) expect(part).not.toMatch(/undefined|NaN|\[object Object\]|\uE000/);
        },
      ),
      { numRuns: 300 },
    );
  });
});
