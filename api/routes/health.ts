import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import type { ApiDeps } from '../app';

const CHECK_TIMEOUT_MS = 2_000;
/**
 * A worker counts as polling when it asked the task queue for work this recently. Workers long-poll for up to about a
 * minute, so a live one is never seen longer ago than that; one that stopped is noticed within this window.
 */
export const WORKER_POLL_WINDOW_MS = 2 * 60_000;

const checkResult = z.enum(['ok', 'unavailable']);
const livenessSchema = z.object({ status: z.literal('ok') });
const readinessSchema = z.object({
  status: z.enum(['ok', 'unavailable']),
  checks: z.object({ postgres: checkResult, temporal: checkResult, worker: checkResult }),
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
    log.warn({ err: error, dependency: name }, `readiness check: ${name} unavailable`);
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  const withDeadline = <R>(call: () => Promise<R>) => deps.temporal.withDeadline(Date.now() + CHECK_TIMEOUT_MS, call);

  /** Some worker has polled the workflow task queue within the window: cases started now will make progress. */
  async function workerPolling(): Promise<void> {
    const { pollers } = await withDeadline(() =>
      deps.temporal.workflowService.describeTaskQueue({
        namespace: deps.temporal.options.namespace,
        taskQueue: { name: deps.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      }),
    );
    const since = Date.now() - WORKER_POLL_WINDOW_MS;
    // Seconds arrive as a protobuf Long (or a number): its decimal string reads as either.
    const lastPoll = (poller: (typeof pollers)[number]) => Number(String(poller.lastAccessTime?.seconds ?? 0)) * 1000;
    if (!(pollers ?? []).some((poller) => lastPoll(poller) >= since)) {
      throw new Error(`no worker polled task queue ${deps.taskQueue} in the last ${WORKER_POLL_WINDOW_MS / 1000} s`);
    }
  }

  return async (app) => {
    app.get(
      '/health',
      {
        config: { public: true },
        schema: {
          tags: ['operations'],
          summary: 'Liveness: the process serves requests (dependencies are /ready’s business)',
          security: [],
          response: { 200: livenessSchema },
        },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/ready',
      {
        config: { public: true },
        schema: {
          tags: ['operations'],
          summary: 'Readiness: PostgreSQL and Temporal answer, and a worker polls the task queue',
          description: 'While the API shuts down it answers 503, so a load balancer stops sending it requests.',
          security: [],
          response: { 200: readinessSchema, 503: readinessSchema },
        },
      },
      async (request, reply) => {
        const [postgres, temporalCheck] = await Promise.all([
          check('postgres', () => deps.orm.em.fork().getConnection().execute('select 1'), request.log),
          check('temporal', () => withDeadline(() => deps.temporal.workflowService.getSystemInfo({})), request.log),
        ]);
        const worker =
          temporalCheck === 'ok' ? await check('worker', workerPolling, request.log) : ('unavailable' as const);
        const ready = postgres === 'ok' && temporalCheck === 'ok' && worker === 'ok';
        return reply
          .code(ready ? 200 : 503)
          .send({ status: ready ? 'ok' : 'unavailable', checks: { postgres, temporal: temporalCheck, worker } });
      },
    );
  };
}
