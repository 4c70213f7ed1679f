import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../app';

const CHECK_TIMEOUT_MS = 2_000;

const checkResult = z.union([z.literal('ok'), z.string()]);
const healthSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ postgres: checkResult, temporal: checkResult }),
});

async function check(probe: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch (error) {
    return `failed: ${(error as Error).message}`;
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
      async (_request, reply) => {
        const [postgres, temporal] = await Promise.all([
          check(() => deps.orm.em.fork().getConnection().execute('select 1')),
          check(() =>
            deps.temporal.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () =>
              deps.temporal.workflowService.getSystemInfo({}),
            ),
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
