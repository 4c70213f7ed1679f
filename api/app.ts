import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  type RouteOptions,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { Registry } from 'prom-client';
import type { Config } from '../config';
import { registerAuth } from './auth';
import { registerMetrics } from './metrics';
import { registerBusinessMetrics } from './business-metrics';
import { registerNotificationMetrics } from './notification-metrics';
import { messageRoutes } from './routes/messages';
import { opsRoutes } from './routes/ops';
import { preferenceRoutes } from './routes/preferences';
import { reportRoutes } from './routes/reports';
import { reportPageRoutes } from './routes/report-page';
import { Problem, toProblem, validationErrors } from './problems';
import { auditRoutes } from './routes/audit';
import { catalogueRoutes } from './routes/catalogue';
import { complaintRoutes } from './routes/complaints';
import { healthRoutes } from './routes/health';
import { orderRoutes } from './routes/orders';
import { refundRoutes } from './routes/refunds';
import { returnRoutes } from './routes/returns';
import { sandboxRoutes, type SandboxProviders } from './routes/sandbox';
import { staffRoutes } from './routes/staff';
import { webhookRoutes } from './routes/webhooks';
import { registerTextGuard } from './text-guard';

export interface ApiDeps {
  config: Config;
  temporal: Client;
  orm: MikroORM;
  taskQueue: string;
  /** Registers the /v1/sandbox routes that drive the simulated providers (demos, tests); never in production. */
  sandbox?: SandboxProviders;
  /** Fastify's logger option: false (default) for none, true or pino options for structured logs. */
  logger?: FastifyServerOptions['logger'];
  /** Lets a process that also runs other components expose their metrics on the same /metrics. */
  metricsRegistry?: Registry;
  /** The worker's SDK metrics in this process (`npm start`), served after the API's own at /metrics. */
  workerMetricsUrl?: string;
  /** Sees every route as it is added, e.g. for a test that must cover all of them, including ones added later. */
  onRoute?: (route: RouteOptions) => void;
}

/**
 * A graceful stop: once `close()` begins, new requests get 503 (Fastify's own), and each request still in flight is
 * answered with `Connection: close`, so its keep-alive connection ends with it instead of holding the stop for the
 * keep-alive timeout.
 */
function registerDraining(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
}

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    // Placement may wait for intake (pricing, reservation) inside the workflow.
    requestTimeout: 60_000,
    frameworkErrors: (error, request, reply) => {
      void sendProblem(request, reply, toProblem(error) ?? internalError());
    },
    clientErrorHandler: answerClientError,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  if (deps.onRoute) app.addHook('onRoute', deps.onRoute);
  registerDraining(app);
  registerErrorHandling(app);
  registerAuth(app, deps.config.tokens);
  registerTextGuard(app);
  const registry = deps.metricsRegistry ?? new Registry();
  registerMetrics(app, registry, { token: deps.config.METRICS_TOKEN, alsoFrom: deps.workerMetricsUrl });
  registerNotificationMetrics(registry, deps.orm);
  registerBusinessMetrics(registry, deps.orm, deps.config.METRICS_PAYMENT_WINDOW);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Order engine API',
        version: '1.0.0',
        description:
          'Orders, refunds, returns and complaints as durable workflows. Errors are application/problem+json with a stable `type` URI. ' +
          'Authenticate with `Authorization: Bearer <token>`; webhooks are authenticated by `x-sandbox-signature`.',
      },
      servers: [{ url: deps.config.publicUrl }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes(deps));
  await app.register(orderRoutes(deps));
  await app.register(refundRoutes(deps));
  await app.register(returnRoutes(deps));
  await app.register(complaintRoutes(deps));
  await app.register(staffRoutes(deps));
  await app.register(messageRoutes(deps));
  await app.register(preferenceRoutes(deps));
  await app.register(opsRoutes(deps));
  await app.register(reportRoutes(deps));
  await app.register(reportPageRoutes());
  await app.register(auditRoutes(deps));
  await app.register(catalogueRoutes(deps));
  await app.register(webhookRoutes(deps));
  // Anyone with an ops or system token could fake a bank transfer or a delivery through them.
  if (deps.sandbox && deps.config.NODE_ENV !== 'production') await app.register(sandboxRoutes(deps.sandbox));
  return app;
}

function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    let problem: Problem | undefined;
    if (hasZodFastifySchemaValidationErrors(error)) {
      const where = error.validationContext ?? 'body';
      problem = new Problem('validation', `invalid ${where}`, validationErrors(error.validation, where));
    } else {
      problem = toProblem(error);
    }
    if (!problem) {
      request.log.error({ err: error }, 'unhandled error');
      problem = internalError();
    } else if (problem.status >= 500) {
      request.log.warn({ err: error }, problem.detail);
    }
    return sendProblem(request, reply, problem);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, new Problem('not-found', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}

const internalError = () => new Problem('internal', 'an unexpected error occurred; it has been logged');

/** Also answers what fails before routing (a path that is not UTF-8, a parameter too long): no error handler runs. */
function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: Problem): FastifyReply {
  return reply
    .code(problem.status)
    .headers(problem.headers)
    .type('application/problem+json')
    .send(problem.body(request.url));
}

/**
 * What Node's HTTP parser refuses (a malformed request, a request line and headers over 16 KiB, a request that took
 * too long to arrive) reaches neither a route nor the error handler; it is answered here, on the raw socket.
 */
function answerClientError(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  let problem: Problem;
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    problem = new Problem('headers-too-large', 'the request line and headers are larger than the server accepts');
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    problem = new Problem('request-timeout', 'the request did not arrive in time');
  } else {
    problem = new Problem('validation', 'the request is not well-formed HTTP');
  }
  this.log.debug({ err: error }, problem.detail);
  if (socket.writable) {
    const body = JSON.stringify(problem.body(''));
    socket.write(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\nConnection: close\r\n` +
        `Content-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
