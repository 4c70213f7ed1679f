import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, type Registry, collectDefaultMetrics } from 'prom-client';
import { Problem } from './problems';

/**
 * Request count and latency by route template (not raw URL, so ids do not explode the label set) and status,
 * plus the process defaults, served at GET /metrics.
 */
export function registerMetrics(
  app: FastifyInstance,
  registry: Registry,
  { token, alsoFrom }: { token?: string; alsoFrom?: string } = {},
): void {
  if (!registry.getSingleMetric('process_cpu_seconds_total')) collectDefaultMetrics({ register: registry });
  const requests = metric(
    registry,
    'http_requests_total',
    () =>
      new Counter({
        name: 'http_requests_total',
        help: 'HTTP requests answered, by method, route and status',
        labelNames: ['method', 'route', 'status'] as const,
        registers: [registry],
      }),
  );
  const duration = metric(
    registry,
    'http_request_duration_seconds',
    () =>
      new Histogram({
        name: 'http_request_duration_seconds',
        help: 'HTTP request duration in seconds, by method, route and status',
        labelNames: ['method', 'route', 'status'] as const,
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers: [registry],
      }),
  );

  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });

  // Public unless a scrape token is configured (always, in production): then only its bearer reads the figures.
  const expected = token === undefined ? undefined : createHash('sha256').update(token).digest();
  app.get('/metrics', { config: { public: true }, schema: { hide: true } }, async (request, reply) => {
    if (expected) {
      const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
      if (!timingSafeEqual(createHash('sha256').update(given).digest(), expected)) {
        throw new Problem('unauthorized', 'scraping /metrics needs the bearer token METRICS_TOKEN');
      }
    }
    reply.type(registry.contentType);
    const own = await registry.metrics();
    if (!alsoFrom) return own;
    try {
      const sdk = await fetch(alsoFrom, { signal: AbortSignal.timeout(2_000) });
      return sdk.ok ? `${own}\n${await sdk.text()}` : own;
    } catch (error) {
      request.log.warn({ err: error }, 'the worker’s SDK metrics could not be read');
      return own;
    }
  });
}

/** A registry shared with other components (the all-in-one process) may already hold the metric. */
function metric<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
