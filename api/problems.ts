import {
  ServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  isGrpcServiceError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { CASE_ERRORS } from '../workflows/case/messages';

export const PROBLEM_BASE = 'https://order-engine.dev/problems/';

/** Every problem type the API answers with; the URI is part of the contract, the title only describes it. */
export const PROBLEM_TYPES = {
  validation: { status: 400, title: 'Invalid request' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Not allowed' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'request-timeout': { status: 408, title: 'Request not received in time' },
  conflict: { status: 409, title: 'Conflict' },
  'wrong-state': { status: 409, title: 'Not possible in the current state' },
  'payload-too-large': { status: 413, title: 'Request body too large' },
  'uri-too-long': { status: 414, title: 'URI too long' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'rule-violation': { status: 422, title: 'Business rule violated' },
  'unknown-sku': { status: 422, title: 'Unknown product' },
  'out-of-stock': { status: 422, title: 'Out of stock' },
  'unknown-customer': { status: 422, title: 'Unknown customer' },
  'payment-declined': { status: 422, title: 'Payment declined' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  'headers-too-large': { status: 431, title: 'Request headers too large' },
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'Service unavailable' },
} as const;

export type ProblemType = keyof typeof PROBLEM_TYPES;

export interface FieldError {
  field: string;
  reason: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  errors?: FieldError[];
}

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string(),
    errors: z.array(z.object({ field: z.string(), reason: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });

export class Problem extends Error {
  readonly status: number;
  /** Extra response headers, e.g. Retry-After on 429 and 503, WWW-Authenticate on 401. */
  readonly headers: Record<string, string> = {};

  constructor(
    readonly problemType: ProblemType,
    readonly detail: string,
    readonly errors?: FieldError[],
  ) {
    super(detail);
    this.name = 'Problem';
    this.status = PROBLEM_TYPES[problemType].status;
  }

  body(instance: string): ProblemBody {
    return {
      type: PROBLEM_BASE + this.problemType,
      title: PROBLEM_TYPES[this.problemType].title,
      status: this.status,
      detail: this.detail,
      instance,
      ...(this.errors?.length ? { errors: this.errors } : {}),
    };
  }
}

/** The failure types workflows of every case type raise (CASE_ERRORS) and the problem each one becomes. */
const FAILURE_PROBLEMS: Record<string, ProblemType> = {
  [CASE_ERRORS.wrongState]: 'wrong-state',
  [CASE_ERRORS.ruleViolation]: 'rule-violation',
  [CASE_ERRORS.forbidden]: 'forbidden',
  [CASE_ERRORS.outOfStock]: 'out-of-stock',
  [CASE_ERRORS.unknownSku]: 'unknown-sku',
  [CASE_ERRORS.paymentDeclined]: 'payment-declined',
};

const STATUS_PROBLEMS: Record<number, ProblemType> = {
  400: 'validation',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  409: 'conflict',
  413: 'payload-too-large',
  414: 'uri-too-long',
  415: 'unsupported-media-type',
  429: 'rate-limited',
  503: 'unavailable',
};

/**
 * `/lines/0/quantity` (fastify's instancePath) → `lines[0].quantity`. Numeric segments are array indexes: none of the
 * request schemas has an object keyed by digits.
 */
export function fieldPath(segments: readonly (string | number)[]): string {
  return segments
    .filter((segment) => segment !== '')
    .reduce<string>((path, segment) => {
      if (typeof segment === 'number' || /^\d+$/.test(segment)) return `${path}[${segment}]`;
      return path ? `${path}.${segment}` : String(segment);
    }, '');
}

interface SchemaValidationIssue {
  instancePath: string;
  message?: string;
}

/** One entry per field, the first reason zod gave for it; a field with several broken rules is still one problem to fix. */
export function validationErrors(issues: readonly SchemaValidationIssue[], context?: string): FieldError[] {
  const byField = new Map<string, string>();
  for (const issue of issues) {
    const field = fieldPath(issue.instancePath.split('/')) || context || 'body';
    if (!byField.has(field)) byField.set(field, issue.message ?? 'invalid');
  }
  return [...byField].map(([field, reason]) => ({ field, reason }));
}

/** Finds the first ApplicationFailure in a cause chain (update failure → activity failure → application failure). */
function applicationFailure(error: unknown): ApplicationFailure | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (current instanceof ApplicationFailure && current.type && FAILURE_PROBLEMS[current.type]) return current;
  }
  return undefined;
}

function grpcCode(error: unknown): number | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (isGrpcServiceError(current)) return current.code;
  }
  return undefined;
}

/** gRPC status codes (grpc-js is only a transitive dependency, so its enum is not imported). */
const grpcStatus = { DEADLINE_EXCEEDED: 4, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14 } as const;

const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  '57P01',
  '57P03',
]);

/**
 * Turns anything a handler threw into a Problem, or undefined for a real bug (answered as 500 internal).
 * Outages of Temporal or PostgreSQL are 503s: the request may succeed when retried.
 */
export function toProblem(error: unknown): Problem | undefined {
  if (error instanceof Problem) return error;
  if (error instanceof WorkflowNotFoundError) return new Problem('not-found', `no case ${error.workflowId}`);
  if (error instanceof WorkflowUpdateFailedError) {
    const failure = applicationFailure(error);
    if (failure) return new Problem(FAILURE_PROBLEMS[failure.type!], failure.message);
    return undefined;
  }
  if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    return withRetryAfter(new Problem('unavailable', 'the case did not answer in time; retry the request'), 5);
  }
  if (error instanceof ServiceError || isGrpcServiceError(error)) {
    const code = grpcCode(error);
    if (code === grpcStatus.RESOURCE_EXHAUSTED) {
      return withRetryAfter(new Problem('rate-limited', 'the workflow service is rate limiting; retry later'), 1);
    }
    if (code === grpcStatus.UNAVAILABLE || code === grpcStatus.DEADLINE_EXCEEDED) {
      return withRetryAfter(new Problem('unavailable', 'the workflow service is unavailable'), 5);
    }
    return undefined;
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && CONNECTION_ERRORS.has(code)) {
    return withRetryAfter(new Problem('unavailable', 'the database is unavailable'), 5);
  }
  const statusCode = (error as { statusCode?: unknown } | undefined)?.statusCode;
  if (typeof statusCode === 'number' && STATUS_PROBLEMS[statusCode]) {
    return new Problem(STATUS_PROBLEMS[statusCode], (error as Error).message);
  }
  return undefined;
}

function withRetryAfter(problem: Problem, seconds: number): Problem {
  problem.headers['retry-after'] = String(seconds);
  return problem;
}
