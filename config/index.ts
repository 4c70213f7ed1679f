import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { LOCALES, parseQuietHours, WEEKDAYS, type DigestTime } from '../domain/notification';
import { complaintSlaPolicy, type ComplaintPolicy, type ComplaintSlaPolicy } from '../domain/complaint';
import { parseDuration } from '../domain/duration';
import type { OrderPolicy } from '../domain/order';
import { REFUND_REASONS, type RefundPolicy } from '../domain/refund';
import { RETURN_REASONS, type ReturnPolicy } from '../domain/return';
import { ROLES, type Principal, type Role } from '../domain/roles';

export { ROLES, type Principal, type Role } from '../domain/roles';

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      try {
        return parseDuration(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });

/** A comma-separated list of names from `allowed`. */
const commaList = <T extends string>(allowed: readonly [T, ...T[]], fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value) =>
      value
        .split(',')
        .map((name) => name.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.enum(allowed)));

const minorUnits = (fallback: number) => z.coerce.number().int().nonnegative().default(fallback);

const tokens = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (!value) return undefined;
    const map = new Map<string, Principal>();
    for (const entry of value
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const match = /^([^=]+)=([a-z]+):(.+)$/.exec(entry);
      if (!match || !(ROLES as readonly string[]).includes(match[2])) {
        ctx.addIssue({
          code: 'custom',
          message: `bad entry "${entry}": use token=role:principal, role one of ${ROLES.join('|')}`,
        });
        return z.NEVER;
      }
      map.set(match[1], { role: match[2] as Role, principal: match[3] });
    }
    return map;
  });

/** Published in this repository, so they authenticate nothing: fine for the sandboxes, refused in production. */
const SANDBOX_WEBHOOK_SECRETS = {
  PAYMENT_WEBHOOK_SECRET: 'sandbox-payment-webhook-secret',
  CARRIER_WEBHOOK_SECRET: 'sandbox-carrier-webhook-secret',
} as const;

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  PUBLIC_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  API_TOKENS: tokens,

  DATABASE_URL: z.string().url().optional(),
  EMBEDDED_POSTGRES_PORT: z.coerce.number().int().min(1).max(65535).default(5433),

  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('orders'),
  TEMPORAL_TLS_CERT_PATH: z.string().optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().optional(),
  TEMPORAL_TLS_CA_PATH: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  TEMPORAL_API_KEY: z.string().optional(),
  TEMPORAL_CLI_PATH: z.string().optional(),
  TEMPORAL_DEV_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  /**
   * SQLite pragmas of the dev server's state file, comma-separated `name=value`. WAL with NORMAL sync: a killed
   * process loses nothing, a power cut of the machine may lose the last commits. Empty: SQLite's FULL sync.
   */
  TEMPORAL_DEV_SQLITE_PRAGMAS: z
    .string()
    .default('journal_mode=wal,synchronous=1')
    .transform((value) =>
      value
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[a-z_]+=[A-Za-z0-9_]+$/, 'each pragma is name=value'))),
  /** `npm run start:cluster`: the Temporal server's frontend port; its other services take the 20 ports after it. */
  CLUSTER_TEMPORAL_PORT: z.coerce.number().int().min(1).max(65515).default(7233),
  /** `npm run start:cluster`: where the Temporal server built from source is kept; DATA_DIR/tools when unset. */
  TEMPORAL_SERVER_DIR: z.string().min(1).optional(),
  /** `npm run start:cluster`: how many worker processes run beside the API. */
  CLUSTER_WORKERS: z.coerce.number().int().min(1).max(16).default(2),

  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().positive().default(100),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().positive().default(40),
  WORKER_SHUTDOWN_GRACE: duration('10s'),
  /** The workflow bundle `npm run bundle` wrote (the Docker image has one); unset, the worker bundles at start. */
  WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),
  /**
   * Where the worker serves the Temporal SDK's own Prometheus metrics (task slots, poll and activity latencies,
   * activity failures by type), e.g. 0.0.0.0:9464; unset for none. `npm start` adds them to the API's /metrics.
   */
  WORKER_METRICS_ADDRESS: z
    .string()
    .regex(/^[\w.-]+:\d{1,5}$/, 'use host:port, e.g. 0.0.0.0:9464')
    .optional(),

  ORDER_PAYMENT_WINDOW: duration('30m'),
  ORDER_REVIEW_SLA: duration('4h'),
  ORDER_EDIT_WINDOW: duration('1h'),
  ORDER_MAX_EDITS: z.coerce.number().int().nonnegative().default(3),
  ORDER_AUTO_COMPLETE_AFTER: duration('7d'),
  ORDER_SHIPMENT_STALE_AFTER: duration('48h'),
  ORDER_PAYMENT_POLL_INTERVAL: duration('10m'),
  ORDER_CARRIER_POLL_INTERVAL: duration('1h'),
  STEP_ATTENTION_AFTER: duration('10m'),
  ORDER_SHIPPING_FEE: minorUnits(800),
  ORDER_FREE_SHIPPING_OVER: minorUnits(9900),
  ORDER_CURRENCY: z.string().length(3).default('CNY'),
  RISK_REVIEW_AMOUNT_OVER: minorUnits(500_000),
  RISK_MAX_UNITS_PER_SKU: z.coerce.number().int().positive().default(20),
  RISK_NEW_CUSTOMER_AMOUNT_OVER: minorUnits(200_000),

  REFUND_AUTO_APPROVE_LIMIT: minorUnits(10_000),
  REFUND_AGENT_LIMIT: minorUnits(200_000),
  REFUND_APPROVAL_SLA: duration('24h'),
  REFUND_AUTO_APPROVE_REASONS: commaList(
    REFUND_REASONS,
    'customer_request_before_shipment,duplicate_payment,wrong_amount,logistics_failure',
  ),

  RETURN_WINDOW: duration('7d'),
  RETURN_QUALITY_WINDOW: duration('15d'),
  RETURN_AUTO_APPROVE_REASONS: commaList(RETURN_REASONS, 'changed_mind'),
  RETURN_APPROVAL_SLA: duration('24h'),
  RETURN_HANDOVER_WINDOW: duration('7d'),

  COMPLAINT_FIRST_RESPONSE_SLA: duration('2h'),
  COMPLAINT_FIRST_RESPONSE_SLA_URGENT: duration('30m'),
  COMPLAINT_RESOLUTION_SLA: duration('48h'),
  COMPLAINT_RESOLUTION_SLA_URGENT: duration('8h'),
  COMPLAINT_ESCALATION_LEVELS: z.coerce.number().int().min(1).max(10).default(3),
  COMPLAINT_SENIOR_ORDER_TOTAL: minorUnits(100_000),
  COMPLAINT_GOODWILL_AGENT_LIMIT: minorUnits(5_000),
  COMPLAINT_RATING_WINDOW: duration('3d'),
  COMPLAINT_REOPEN_WINDOW: duration('7d'),
  COMPLAINT_CUSTOMER_REPLY_WINDOW: duration('7d'),
  COMPLAINT_ASSIGN_RETRY: duration('5m'),
  COMPLAINT_HISTORY_LIMIT: z.coerce.number().int().min(100).default(2000),

  PAYMENT_WEBHOOK_SECRET: z.string().min(16).default(SANDBOX_WEBHOOK_SECRETS.PAYMENT_WEBHOOK_SECRET),
  CARRIER_WEBHOOK_SECRET: z.string().min(16).default(SANDBOX_WEBHOOK_SECRETS.CARRIER_WEBHOOK_SECRET),
  SANDBOX_PAYMENT_LATENCY: duration('0ms'),
  SANDBOX_PAYMENT_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  SANDBOX_CARRIER_MODE: z.enum(['auto', 'manual']).default('auto'),
  SANDBOX_CARRIER_STEP: duration('30s'),
  SANDBOX_CARRIER_LATENCY: duration('0ms'),
  SANDBOX_CARRIER_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  /** Defaulted in loadConfig: 2525, or 0 (any free port) under NODE_ENV=test, where several stacks run at once. */
  SANDBOX_SMTP_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  SANDBOX_SMS_LATENCY: duration('0ms'),
  SANDBOX_SMS_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  SANDBOX_PUSH_LATENCY: duration('0ms'),
  SANDBOX_PUSH_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),

  SMTP_URL: z
    .string()
    .url()
    .refine((url) => /^smtps?:\/\//i.test(url), 'use smtp://host:port or smtps://user:password@host:port')
    .optional(),
  MAIL_FROM: z.string().min(3).default('Order Engine <no-reply@order-engine.local>'),

  /**
   * Bearer token Prometheus scrapes /metrics with; required in production (the figures tell a competitor how the
   * business goes). Unset elsewhere, /metrics is open.
   */
  METRICS_TOKEN: z.string().min(1).optional(),
  /** The window `payment_success_ratio` is measured over. */
  METRICS_PAYMENT_WINDOW: duration('24h'),

  NOTIFY_DISPATCHER: z.stringbool().default(true),
  NOTIFY_LINK_BASE: z.url().default('https://shop.example.com'),
  NOTIFY_STAFF_LOCALE: z.enum(LOCALES).default('zh-CN'),
  NOTIFY_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(50),
  NOTIFY_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(8),
  NOTIFY_LEASE: duration('60s'),
  NOTIFY_POLL_INTERVAL: duration('1s'),
  NOTIFY_RETRY_BASE: duration('10s'),
  NOTIFY_RETRY_MAX: duration('1h'),
  NOTIFY_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(20),
  NOTIFY_QUIET_HOURS: z
    .string()
    .default('22:00-08:00')
    .refine((text) => {
      try {
        parseQuietHours(text);
        return true;
      } catch {
        return false;
      }
    }, 'use HH:MM-HH:MM, e.g. 22:00-08:00, or empty for none'),
  /** Daily and weekly digests go out at this hour of each customer's day (weekly ones on NOTIFY_DIGEST_WEEKDAY). */
  NOTIFY_DIGEST_HOUR: z.coerce.number().int().min(0).max(23).default(8),
  NOTIFY_DIGEST_WEEKDAY: z.enum(WEEKDAYS).default('monday'),
  /** Whether workers create (or bring up to date) the digest schedules in Temporal at start. */
  NOTIFY_DIGEST_SCHEDULES: z.stringbool().default(true),
});

const DEFAULT_SANDBOX_SMTP_PORT = 2525;

export type Config = Omit<z.infer<typeof schema>, 'SANDBOX_SMTP_PORT'> & {
  SANDBOX_SMTP_PORT: number;
  dataDir: string;
  tokens: Map<string, Principal>;
  /** Set when API_TOKENS was absent and tokens were made up for this development run. */
  generatedTokens: boolean;
  publicUrl: string;
};

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const values = parsed.data;
  if (values.NODE_ENV === 'production') {
    const unsafe = [
      ...(values.API_TOKENS ? [] : ['API_TOKENS: required in production']),
      ...weakWebhookSecrets(values),
      ...(values.METRICS_TOKEN && Buffer.byteLength(values.METRICS_TOKEN) >= MIN_SECRET_BYTES
        ? []
        : [
            `METRICS_TOKEN: required in production, at least ${MIN_SECRET_BYTES} bytes (/metrics is not public there); ` +
              'make one with `openssl rand -hex 32`',
          ]),
    ];
    if (unsafe.length) throw new ConfigError(`invalid configuration:\n${unsafe.map((line) => `  ${line}`).join('\n')}`);
  }
  let tokens = values.API_TOKENS;
  const generatedTokens = !tokens;
  if (!tokens) {
    tokens = new Map(
      ROLES.map((role) => [`dev-${role}-${randomBytes(8).toString('hex')}`, { role, principal: `dev-${role}` }]),
    );
  }
  return {
    ...values,
    SANDBOX_SMTP_PORT: values.SANDBOX_SMTP_PORT ?? (values.NODE_ENV === 'test' ? 0 : DEFAULT_SANDBOX_SMTP_PORT),
    dataDir: path.resolve(values.DATA_DIR),
    tokens,
    generatedTokens,
    publicUrl: values.PUBLIC_URL ?? `http://${values.HOST === '0.0.0.0' ? '127.0.0.1' : values.HOST}:${values.PORT}`,
  };
}

const MIN_SECRET_BYTES = 32;
// A random secret of 32 bytes or more has far more distinct characters (hex: about 16, base64: about 30); fewer
// than this means a pattern or a word someone typed.
const MIN_SECRET_DISTINCT_CHARACTERS = 10;

/** Anyone who knows a webhook secret can forge payments and carrier events, so production takes only random ones. */
function weakWebhookSecrets(values: Record<keyof typeof SANDBOX_WEBHOOK_SECRETS, string>): string[] {
  const howTo = 'make one with `openssl rand -hex 32`';
  const problems: string[] = [];
  for (const name of ['PAYMENT_WEBHOOK_SECRET', 'CARRIER_WEBHOOK_SECRET'] as const) {
    const secret = values[name];
    if ((Object.values(SANDBOX_WEBHOOK_SECRETS) as string[]).includes(secret)) {
      problems.push(`${name}: required in production (the sandbox default is public); ${howTo}`);
    } else if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
      problems.push(`${name}: must be at least ${MIN_SECRET_BYTES} bytes in production; ${howTo}`);
    } else if (new Set(secret).size < MIN_SECRET_DISTINCT_CHARACTERS) {
      problems.push(`${name}: looks typed rather than random (too few distinct characters); ${howTo}`);
    }
  }
  if (!problems.length && values.PAYMENT_WEBHOOK_SECRET === values.CARRIER_WEBHOOK_SECRET) {
    problems.push(`CARRIER_WEBHOOK_SECRET: must differ from PAYMENT_WEBHOOK_SECRET; ${howTo}`);
  }
  return problems;
}

/**
 * Where email is handed over: SMTP_URL, else the sandbox mailbox (its address once it listens). Production runs no
 * sandbox mailbox, so there SMTP_URL is required. Checked where mail is sent (the worker's start-up, through
 * openSandboxes) rather than in loadConfig, so the API alone, which sends none, starts without it.
 */
export function emailRelayUrl(cfg: Config, sandboxMailboxUrl: string | undefined): string {
  if (cfg.SMTP_URL) return cfg.SMTP_URL;
  if (cfg.NODE_ENV === 'production' || !sandboxMailboxUrl) {
    throw new ConfigError(
      'invalid configuration:\n  SMTP_URL: required in production (the sandbox mailbox does not run there), e.g. smtps://user:password@relay.example.com:465',
    );
  }
  return sandboxMailboxUrl;
}

let cached: Config | undefined;

/** The process-wide configuration, parsed once on first use. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}

export function orderPolicy(cfg: Config): OrderPolicy {
  return {
    paymentWindowMs: cfg.ORDER_PAYMENT_WINDOW,
    reviewSlaMs: cfg.ORDER_REVIEW_SLA,
    editWindowMs: cfg.ORDER_EDIT_WINDOW,
    maxEdits: cfg.ORDER_MAX_EDITS,
    autoCompleteAfterMs: cfg.ORDER_AUTO_COMPLETE_AFTER,
    shipmentStaleAfterMs: cfg.ORDER_SHIPMENT_STALE_AFTER,
    paymentPollIntervalMs: cfg.ORDER_PAYMENT_POLL_INTERVAL,
    carrierPollIntervalMs: cfg.ORDER_CARRIER_POLL_INTERVAL,
    stepAttentionAfterMs: cfg.STEP_ATTENTION_AFTER,
    risk: {
      reviewAmountOver: cfg.RISK_REVIEW_AMOUNT_OVER,
      maxUnitsPerSku: cfg.RISK_MAX_UNITS_PER_SKU,
      newCustomerAmountOver: cfg.RISK_NEW_CUSTOMER_AMOUNT_OVER,
    },
    refund: refundPolicy(cfg),
  };
}

export function refundPolicy(cfg: Config): RefundPolicy {
  return {
    autoApproveLimit: cfg.REFUND_AUTO_APPROVE_LIMIT,
    agentLimit: cfg.REFUND_AGENT_LIMIT,
    autoApproveReasons: cfg.REFUND_AUTO_APPROVE_REASONS,
    approvalSlaMs: cfg.REFUND_APPROVAL_SLA,
    stepAttentionAfterMs: cfg.STEP_ATTENTION_AFTER,
  };
}

export function returnPolicy(cfg: Config): ReturnPolicy {
  return {
    windowMs: cfg.RETURN_WINDOW,
    qualityWindowMs: cfg.RETURN_QUALITY_WINDOW,
    autoApproveReasons: cfg.RETURN_AUTO_APPROVE_REASONS,
    approvalSlaMs: cfg.RETURN_APPROVAL_SLA,
    handoverWindowMs: cfg.RETURN_HANDOVER_WINDOW,
    carrierPollIntervalMs: cfg.ORDER_CARRIER_POLL_INTERVAL,
    stepAttentionAfterMs: cfg.STEP_ATTENTION_AFTER,
  };
}

export function complaintPolicy(cfg: Config): ComplaintPolicy {
  return {
    sla: complaintSla(cfg),
    escalationLevels: cfg.COMPLAINT_ESCALATION_LEVELS,
    seniorOrderTotal: cfg.COMPLAINT_SENIOR_ORDER_TOTAL,
    goodwillAgentLimit: cfg.COMPLAINT_GOODWILL_AGENT_LIMIT,
    ratingWindowMs: cfg.COMPLAINT_RATING_WINDOW,
    reopenWindowMs: cfg.COMPLAINT_REOPEN_WINDOW,
    customerReplyWindowMs: cfg.COMPLAINT_CUSTOMER_REPLY_WINDOW,
    assignRetryMs: cfg.COMPLAINT_ASSIGN_RETRY,
    historyLimit: cfg.COMPLAINT_HISTORY_LIMIT,
    stepAttentionAfterMs: cfg.STEP_ATTENTION_AFTER,
    refundPolicy: refundPolicy(cfg),
    returnPolicy: returnPolicy(cfg),
  };
}

export function complaintSla(cfg: Config): ComplaintSlaPolicy {
  return complaintSlaPolicy({
    firstResponseMs: cfg.COMPLAINT_FIRST_RESPONSE_SLA,
    firstResponseUrgentMs: cfg.COMPLAINT_FIRST_RESPONSE_SLA_URGENT,
    resolutionMs: cfg.COMPLAINT_RESOLUTION_SLA,
    resolutionUrgentMs: cfg.COMPLAINT_RESOLUTION_SLA_URGENT,
  });
}

/** When digests go out in each customer's day. */
export function digestTime(cfg: Config): DigestTime {
  return { hour: cfg.NOTIFY_DIGEST_HOUR, weekday: cfg.NOTIFY_DIGEST_WEEKDAY };
}
