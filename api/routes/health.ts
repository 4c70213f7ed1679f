import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../app';

const CHECK_TIMEOUT_MS = 2_000;

const checkResult = z.enum(['ok', 'unavailable']);
const healthSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ postgres: checkResult, temporal: checkResult }),
});

/** The endpoint is public: callers learn which dependency is down, the log learns why (it may name hosts and users). */
async function check(
  name: string,
  probe: () => Promise<unknown>,
  log: FastifyBaseLogger,
): Promise<'ok' | 'unavailable'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch (error) {
    log.warn({ err: error, dependency: name }, `health check: ${name} unavailable`);
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/health',
      {
        config: { public: true },
        schema: {
          tags: ['operations'],
          summary: 'Readiness: PostgreSQL and Temporal reachable',
          security: [],
          response: { 200: healthSchema, 503: healthSchema },
        },
      },
      async (request, reply) => {
        const [postgres, temporal] = await Promise.all([
          check('postgres', () => deps.orm.em.fork().getConnection().execute('select 1'), request.log),
          check(
            'temporal',
            () =>
              deps.temporal.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () =>
                deps.temporal.workflowService.getSystemInfo({}),
              ),
            request.log,
          ),
        ]);
        const healthy = postgres === 'ok' && temporal === 'ok';
        return reply
          .code(healthy ? 200 : 503)
          .send({ status: healthy ? 'ok' : 'unavailable', checks: { postgres, temporal } });
      },
    );
  };
}
