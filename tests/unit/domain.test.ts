import { ConfigError, loadConfig } from '../../config';
import { parseDuration } from '../../domain/duration';
import { formatMoney } from '../../domain/money';
import type { ShipmentView } from '../../domain/order';
import { addressChangeRefusal, allocate, assessRisk, cancelRefusal, lineEditRefusal } from '../../domain/rules';

const risk = { reviewAmountOver: 500_000, maxUnitsPerSku: 20, newCustomerAmountOver: 200_000 };
const shipment = (status: ShipmentView['status']): ShipmentView => ({
  shipmentId: 's',
  warehouseCode: 'W',
  lines: [],
  status,
});

describe('durations', () => {
  test.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['7d', 604_800_000],
    ['250', 250],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test.each(['5 minutes', '1h 30m', '-5m', '1.5h', ''])('%s is refused', (text) => {
    expect(() => parseDuration(text)).toThrow(RangeError);
  });
});

test('money prints from minor units without floating point', () => {
  expect(formatMoney({ amount: 549_900, currency: 'CNY' })).toBe('5499.00 CNY');
  expect(formatMoney({ amount: -5, currency: 'CNY' })).toBe('-0.05 CNY');
});

describe('risk rules', () => {
  test('an ordinary order needs no review', () => {
    expect(assessRisk({ total: 10_000, lines: [{ sku: 'A', quantity: 2 }], isNewCustomer: true }, risk)).toEqual([]);
  });
  test('amount, units of one SKU (summed over lines) and new-customer size each flag', () => {
    const reasons = assessRisk(
      {
        total: 600_000,
        lines: [
          { sku: 'A', quantity: 15 },
          { sku: 'A', quantity: 6 },
        ],
        isNewCustomer: true,
      },
      risk,
    );
    expect(reasons).toEqual(['amount_over_threshold', 'many_units:A', 'new_customer_large_order']);
  });
  test('a returning customer may place a larger order unreviewed', () => {
    expect(assessRisk({ total: 300_000, lines: [{ sku: 'A', quantity: 1 }], isNewCustomer: false }, risk)).toEqual([]);
    expect(assessRisk({ total: 300_000, lines: [{ sku: 'A', quantity: 1 }], isNewCustomer: true }, risk)).toEqual([
      'new_customer_large_order',
    ]);
  });
});

describe('line edits', () => {
  const base = {
    status: 'PENDING_PAYMENT' as const,
    placedAt: '2026-01-01T00:00:00Z',
    now: Date.parse('2026-01-01T00:30:00Z'),
    editsSoFar: 0,
    editWindowMs: 3_600_000,
    maxEdits: 3,
  };
  test('allowed while awaiting payment within the window', () => expect(lineEditRefusal(base)).toBeNull());
  test('refused after payment, after the window and after the third edit', () => {
    expect(lineEditRefusal({ ...base, status: 'PAID' })).toMatch(/awaiting payment/);
    expect(lineEditRefusal({ ...base, now: Date.parse('2026-01-01T01:00:01Z') })).toMatch(/edit window/);
    expect(lineEditRefusal({ ...base, editsSoFar: 3 })).toMatch(/at most 3/);
  });
});

describe('cancel and address changes', () => {
  test('possible until a parcel is handed to the carrier', () => {
    expect(cancelRefusal('FULFILLING', [shipment('BOOKED')])).toBeNull();
    expect(addressChangeRefusal('FULFILLING', [shipment('BOOKED')])).toBeNull();
    expect(cancelRefusal('FULFILLING', [shipment('BOOKED'), shipment('PICKED_UP')])).toMatch(/return/);
    expect(addressChangeRefusal('FULFILLING', [shipment('PICKED_UP')])).toMatch(/handed/);
    expect(cancelRefusal('SHIPPED', [])).toMatch(/return/);
    expect(cancelRefusal('CANCELLED', [])).toMatch(/already/);
  });
});

describe('warehouse allocation', () => {
  const stock = { SH1: { A: 5, B: 1 }, BJ1: { A: 2, B: 10 }, GZ1: { C: 3 } };
  test('one warehouse holding every line wins', () => {
    expect(
      allocate(
        [
          { sku: 'A', quantity: 2 },
          { sku: 'B', quantity: 1 },
        ],
        stock,
      ),
    ).toEqual([
      {
        warehouseCode: 'BJ1',
        lines: [
          { sku: 'A', quantity: 2 },
          { sku: 'B', quantity: 1 },
        ],
      },
    ]);
  });
  test('otherwise lines split, taking from the fullest warehouse first', () => {
    expect(
      allocate(
        [
          { sku: 'A', quantity: 6 },
          { sku: 'C', quantity: 1 },
        ],
        stock,
      ),
    ).toEqual([
      { warehouseCode: 'BJ1', lines: [{ sku: 'A', quantity: 1 }] },
      { warehouseCode: 'GZ1', lines: [{ sku: 'C', quantity: 1 }] },
      { warehouseCode: 'SH1', lines: [{ sku: 'A', quantity: 5 }] },
    ]);
  });
  test('null when stock cannot cover the order', () => {
    expect(allocate([{ sku: 'A', quantity: 8 }], stock)).toBeNull();
    expect(allocate([{ sku: 'Z', quantity: 1 }], stock)).toBeNull();
  });
});

describe('configuration', () => {
  test('parses durations, tokens and money thresholds from the environment', () => {
    const config = loadConfig({
      ORDER_PAYMENT_WINDOW: '15m',
      API_TOKENS: 'abc=agent:alice',
      RISK_REVIEW_AMOUNT_OVER: '1000',
    });
    expect(config.ORDER_PAYMENT_WINDOW).toBe(900_000);
    expect(config.tokens.get('abc')).toEqual({ role: 'agent', principal: 'alice' });
    expect(config.RISK_REVIEW_AMOUNT_OVER).toBe(1000);
  });
  test('names the variable that is wrong', () => {
    expect(() => loadConfig({ ORDER_PAYMENT_WINDOW: 'soon' })).toThrow(/ORDER_PAYMENT_WINDOW/);
    expect(() => loadConfig({ API_TOKENS: 'abc=king:arthur' })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/API_TOKENS/);
  });
});
