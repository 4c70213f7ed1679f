import { SHIPPING_ADDRESS } from './fixtures';

/** A small JSON client for tests that talk to the running API over real HTTP. */
export function apiClient(baseUrl: () => string, defaultToken: string) {
  async function call(
    method: string,
    url: string,
    body?: unknown,
    token = defaultToken,
    headers: Record<string, string> = {},
  ) {
    const response = await fetch(`${baseUrl()}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      location: response.headers.get('location'),
      body: (await response.json()) as Record<string, any>,
    };
  }

  /** Polls a case's view at `url` until `ready` holds; workflows move on asynchronously after webhooks and timers. */
  async function poll(url: string, ready: (view: Record<string, any>) => boolean, seconds = 20) {
    for (let i = 0; i < seconds * 10; i += 1) {
      const { body } = await call('GET', url);
      if (ready(body)) return body;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${url} never reached the expected state`);
  }

  /** Polls the order until `ready` holds. */
  const until = (orderId: string, ready: (view: Record<string, any>) => boolean, seconds = 20) =>
    poll(`/v1/orders/${orderId}`, ready, seconds);

  /** Polls the refund until `ready` holds. */
  const untilRefund = (refundId: string, ready: (view: Record<string, any>) => boolean, seconds = 20) =>
    poll(`/v1/refunds/${refundId}`, ready, seconds);

  /** Polls the return until `ready` holds. */
  const untilReturn = (returnId: string, ready: (view: Record<string, any>) => boolean, seconds = 20) =>
    poll(`/v1/returns/${returnId}`, ready, seconds);

  /**
   * Places an order of C-1001 (one cable, 39.00 + 8.00 shipping, to Shanghai, by card) with the default token, changed
   * by `overrides`; answers its id once the placement was accepted.
   */
  async function placeOrder(
    overrides: { channel?: string; quantity?: number; token?: string; city?: string } = {},
  ): Promise<string> {
    const placed = await call('POST', '/v1/orders', {
      customerId: 'C-1001',
      channel: overrides.channel ?? 'web',
      lines: [{ sku: 'ACC-ANKER-USBC1M', quantity: overrides.quantity ?? 1 }],
      shippingAddress: { ...SHIPPING_ADDRESS, ...(overrides.city ? { city: overrides.city } : {}) },
      payment: { method: 'card', token: overrides.token ?? 'tok_visa' },
    });
    expect(placed.status).toBe(201);
    return placed.body.orderId as string;
  }

  /**
   * A card order of C-1001 for two cables (2 × 39.00 + 8.00 shipping, `CAPTURED_CABLES`) whose payment was captured:
   * placed, then its parcel picked up by the sandbox carrier (scanned with `opsToken`).
   */
  async function capturedOrder(opsToken: string): Promise<string> {
    const orderId = await placeOrder({ quantity: 2 });
    const fulfilling = await until(orderId, (v) => v.status === 'FULFILLING');
    const scanned = await call(
      'POST',
      `/v1/sandbox/parcels/${fulfilling.shipments[0].waybill}/events`,
      { type: 'PICKED_UP' },
      opsToken,
    );
    expect(scanned.status).toBe(202);
    const shipped = await until(orderId, (v) => v.payment.captured === CAPTURED_CABLES);
    expect(shipped.totals.total).toBe(CAPTURED_CABLES);
    return orderId;
  }

  return { call, until, untilRefund, untilReturn, placeOrder, capturedOrder };
}

/** What `capturedOrder` captures: two cables at 39.00 and 8.00 shipping. */
export const CAPTURED_CABLES = 2 * 3900 + 800;

/** Polls `read` until `ready` holds (10 s), for what the engine writes a moment after it answered. */
export async function eventually<T>(read: () => Promise<T>, ready: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 200; i += 1) {
    const value = await read();
    if (ready(value)) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`never happened: ${what}`);
}
