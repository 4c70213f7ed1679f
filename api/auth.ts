import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal, Role } from '../domain/roles';
import { Problem } from './problems';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Roles allowed to call the route; 'any' admits every authenticated caller. */
    roles?: readonly Role[] | 'any';
    /** No bearer token: health, metrics, docs, and webhooks (which check a signature instead). */
    public?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/**
 * Bearer-token authentication and per-route role checks. Every route must declare `config.roles` or
 * `config.public`: a route that declares neither fails at start-up rather than being open by accident.
 */
export function registerAuth(app: FastifyInstance, tokens: ReadonlyMap<string, Principal>): void {
  app.decorateRequest('principal', undefined);

  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/docs')) route.config = { ...route.config, public: true };
    if (!route.config?.public && !route.config?.roles) {
      throw new Error(`route ${route.method} ${route.url} declares neither config.roles nor config.public`);
    }
  });

  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    // Unmatched URLs have no route config; they fall through to the not-found handler.
    if (config.public || !config.roles) return;
    request.principal = authenticate(request, tokens);
    if (config.roles !== 'any' && !config.roles.includes(request.principal.role)) {
      throw new Problem(
        'forbidden',
        `role ${request.principal.role} may not ${request.method} ${request.routeOptions.url}`,
      );
    }
  });
}

function authenticate(request: FastifyRequest, tokens: ReadonlyMap<string, Principal>): Principal {
  const header = request.headers.authorization;
  if (!header) throw unauthorized('missing Authorization header');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw unauthorized('Authorization must be "Bearer <token>"');
  const principal = tokens.get(match[1]);
  if (!principal) throw unauthorized('unknown token');
  return principal;
}

function unauthorized(detail: string): Problem {
  const problem = new Problem('unauthorized', detail);
  problem.headers['www-authenticate'] = 'Bearer realm="order-engine"';
  return problem;
}

/** The authenticated caller of a route that declared roles; such routes never run without one. */
export function actorOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error(`route ${request.routeOptions.url} used actorOf without declaring roles`);
  return { principal: request.principal.principal, role: request.principal.role };
}
