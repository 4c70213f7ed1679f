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

  return { call, until, untilRefund, untilReturn };
}
