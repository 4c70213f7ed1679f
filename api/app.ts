import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { Registry } from 'prom-client';
import type { Config } from '../config';
import type { SandboxCarrier, SandboxPaymentGateway } from '../sandbox';
import { registerAuth } from './auth';
import { registerMetrics } from './metrics';
import { Problem, toProblem, validationErrors } from './problems';
import { catalogueRoutes } from './routes/catalogue';
import { healthRoutes } from './routes/health';
import { orderRoutes } from './routes/orders';
import { sandboxRoutes } from './routes/sandbox';
import { webhookRoutes } from './routes/webhooks';

export interface ApiDeps {
  config: Config;
  temporal: Client;
  orm: MikroORM;
  taskQueue: string;
  /** Registers the /v1/sandbox routes that drive the simulated providers (demos, tests). */
  sandbox?: { gateway: SandboxPaymentGateway; carrier: SandboxCarrier };
  /** Fastify's logger option: false (default) for none, true or pino options for structured logs. */
  logger?: FastifyServerOptions['logger'];
  /** Lets a process that also runs other components expose their metrics on the same /metrics. */
  metricsRegistry?: Registry;
}

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    // Placement may wait for intake (pricing, reservation) inside the workflow.
    requestTimeout: 60_000,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  registerAuth(app, deps.config.tokens);
  registerMetrics(app, deps.metricsRegistry ?? new Registry());

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Order engine API',
        version: '1.0.0',
        description:
          'Orders as durable workflows. Errors are application/problem+json with a stable `type` URI. ' +
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
  await app.register(catalogueRoutes(deps));
  await app.register(webhookRoutes(deps));
  if (deps.sandbox) await app.register(sandboxRoutes(deps.sandbox));
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
      problem = new Problem('internal', 'an unexpected error occurred; it has been logged');
    } else if (problem.status >= 500) {
      request.log.warn({ err: error }, problem.detail);
    }
    return reply
      .code(problem.status)
      .headers(problem.headers)
      .type('application/problem+json')
      .send(problem.body(request.url));
  });

  app.setNotFoundHandler((request, reply) => {
    const problem = new Problem('not-found', `no route ${request.method} ${request.url.split('?')[0]}`);
    return reply.code(404).type('application/problem+json').send(problem.body(request.url));
  });
}
