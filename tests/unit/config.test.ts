import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from '../../config';

const secret = () => randomBytes(32).toString('hex');

function production(env: Record<string, string | undefined> = {}) {
  return loadConfig({
    NODE_ENV: 'production',
    API_TOKENS: 'tok=system:shop',
    PAYMENT_WEBHOOK_SECRET: secret(),
    CARRIER_WEBHOOK_SECRET: secret(),
    METRICS_TOKEN: secret(),
    ...env,
  });
}

function refusal(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('webhook secrets in production', () => {
  it('accepts two distinct random secrets of 32 bytes or more', () => {
    const payment = secret();
    const config = production({ PAYMENT_WEBHOOK_SECRET: payment });
    expect(config.PAYMENT_WEBHOOK_SECRET).toBe(payment);
  });

  it.each(['PAYMENT_WEBHOOK_SECRET', 'CARRIER_WEBHOOK_SECRET'])('refuses %s left unset', (name) => {
    expect(refusal(() => production({ [name]: undefined }))).toMatch(new RegExp(`${name}: .*openssl rand -hex 32`));
  });

  it.each([
    ['the sandbox default', 'sandbox-payment-webhook-secret'],
    ['the other sandbox default', 'sandbox-carrier-webhook-secret'],
    ['shorter than 32 bytes', 'Zq8#vL2!pW5@nR7$kT1%'],
    ['one repeated character', 'x'.repeat(64)],
    ['a short repeated pattern', 'abc123'.repeat(8)],
  ])('refuses a secret that is %s', (_name, value) => {
    expect(refusal(() => production({ PAYMENT_WEBHOOK_SECRET: value }))).toMatch(/PAYMENT_WEBHOOK_SECRET: /);
  });

  it('refuses the same secret for both webhooks', () => {
    const shared = secret();
    const message = refusal(() => production({ PAYMENT_WEBHOOK_SECRET: shared, CARRIER_WEBHOOK_SECRET: shared }));
    expect(message).toMatch(/CARRIER_WEBHOOK_SECRET: .*PAYMENT_WEBHOOK_SECRET/);
  });

  it('names every bad secret at once', () => {
    const message = refusal(() => production({ PAYMENT_WEBHOOK_SECRET: undefined, CARRIER_WEBHOOK_SECRET: undefined }));
    expect(message).toMatch(/PAYMENT_WEBHOOK_SECRET/);
    expect(message).toMatch(/CARRIER_WEBHOOK_SECRET/);
  });

  it('keeps the sandbox defaults outside production', () => {
    const config = loadConfig({ NODE_ENV: 'development' });
    expect(config.PAYMENT_WEBHOOK_SECRET).toBe('sandbox-payment-webhook-secret');
  });
});

describe('the metrics token in production', () => {
  it('is required, and must be long enough', () => {
    expect(refusal(() => production({ METRICS_TOKEN: undefined }))).toMatch(/METRICS_TOKEN: required in production/);
    expect(refusal(() => production({ METRICS_TOKEN: 'short' }))).toMatch(/METRICS_TOKEN: .*32 bytes/);
    expect(production().METRICS_TOKEN).toHaveLength(64);
  });

  it('is optional elsewhere', () => {
    expect(loadConfig({ NODE_ENV: 'development' }).METRICS_TOKEN).toBeUndefined();
  });
});

describe("the dev server's SQLite pragmas", () => {
  it('default to WAL with NORMAL sync, and take a comma-separated list or none', () => {
    expect(loadConfig({}).TEMPORAL_DEV_SQLITE_PRAGMAS).toEqual(['journal_mode=wal', 'synchronous=1']);
    expect(loadConfig({ TEMPORAL_DEV_SQLITE_PRAGMAS: ' synchronous=2 ' }).TEMPORAL_DEV_SQLITE_PRAGMAS).toEqual([
      'synchronous=2',
    ]);
    expect(loadConfig({ TEMPORAL_DEV_SQLITE_PRAGMAS: '' }).TEMPORAL_DEV_SQLITE_PRAGMAS).toEqual([]);
  });

  it('refuse anything but name=value', () => {
    expect(refusal(() => loadConfig({ TEMPORAL_DEV_SQLITE_PRAGMAS: 'journal_mode=wal; drop' }))).toMatch(
      /TEMPORAL_DEV_SQLITE_PRAGMAS.*name=value/,
    );
  });
});
