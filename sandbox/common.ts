import { createHash, randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { PROVIDER_ERRORS } from '../domain/ports';

/** The request can never succeed as sent (bad state, bad input, reused key): retrying it is pointless. */
export class ProviderRefusedError extends Error {
  override readonly name = PROVIDER_ERRORS.refused;
}

/** A transient outage: nothing changed at the provider, so the same call may be retried with the same key. */
export class ProviderUnavailableError extends Error {
  override readonly name = PROVIDER_ERRORS.unavailable;
}

export interface FaultSettings {
  /** Delay added to every call of the provider's API, reads included, as a slow provider would. */
  latencyMs: number;
  /** Share of API calls, 0..1, that fail with ProviderUnavailable before reading or touching any state. */
  failureRate: number;
}

export class FaultInjector {
  constructor(
    private settings: FaultSettings,
    private readonly random: () => number,
  ) {
    validateFaults(settings);
  }

  update(settings: Partial<FaultSettings>): void {
    const next = { ...this.settings, ...settings };
    validateFaults(next);
    this.settings = next;
  }

  /** Runs before a call does anything, so an injected failure is indistinguishable from a request that never arrived. */
  async apply(operation: string): Promise<void> {
    if (this.settings.latencyMs > 0) await sleep(this.settings.latencyMs);
    if (this.random() < this.settings.failureRate) {
      throw new ProviderUnavailableError(`sandbox: injected outage during ${operation}`);
    }
  }
}

function validateFaults({ latencyMs, failureRate }: FaultSettings): void {
  if (!(latencyMs >= 0 && Number.isFinite(latencyMs))) {
    throw new RangeError(`latencyMs must be >= 0, got ${latencyMs}`);
  }
  if (!(failureRate >= 0 && failureRate <= 1)) throw new RangeError(`failureRate must be in 0..1, got ${failureRate}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function randomId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Runs DDL under a cluster-wide advisory lock: two processes creating the same tables at once would otherwise race on
 * the catalog and one would fail with a duplicate-type error despite IF NOT EXISTS.
 */
export async function ensureSchema(pool: Pool, statements: readonly string[]): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('sandbox.schema', 0))`);
    for (const statement of statements) await client.query(statement);
  });
}

/** DDL for the idempotency table `sandbox.<name>`: one row per key that completed an operation, with its response. */
export function operationsDdl(name: string, subjectColumn: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS sandbox.${name} (
      key          text PRIMARY KEY,
      operation    text NOT NULL,
      ${subjectColumn} text NOT NULL,
      request_hash text NOT NULL,
      response     jsonb,
      created_at   timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE INDEX IF NOT EXISTS ${name}_subject_idx ON sandbox.${name} (${subjectColumn}, operation)`,
  ];
}

/** JSON with object keys sorted, so equal requests hash equally whatever order their fields were written in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, field]) => field !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, field]) => `${JSON.stringify(key)}:${canonicalJson(field)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface IdempotentCall<T> {
  table: string;
  subjectColumn: string;
  key: string;
  operation: string;
  /** Everything that defines the request except the key itself. */
  request: unknown;
  /** Does the work inside the caller's transaction; `subject` is the payment or parcel the operation belongs to. */
  execute: (client: PoolClient) => Promise<{ response: T; subject: string }>;
}

/**
 * Idempotency as providers implement it: the first completed call under a key stores its response; a repeat with the
 * same request gets that response without doing anything; a repeat with a different request is refused. Refusals are
 * not stored, so a key whose call was refused may be retried once the state allows it.
 */
export async function runIdempotent<T>(pool: Pool, call: IdempotentCall<T>): Promise<T> {
  if (!call.key) throw new ProviderRefusedError('sandbox: an idempotency key is required');
  const requestHash = createHash('sha256')
    .update(canonicalJson({ operation: call.operation, request: call.request }))
    .digest('hex');
  return withTransaction(pool, async (client) => {
    // Serialises concurrent calls under one key, so the loser sees the winner's stored response.
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`${call.table}:${call.key}`]);
    const stored = await client.query<{ request_hash: string; response: T }>(
      `SELECT request_hash, response FROM ${call.table} WHERE key = $1`,
      [call.key],
    );
    if (stored.rows[0]) {
      if (stored.rows[0].request_hash !== requestHash) {
        throw new ProviderRefusedError(`sandbox: idempotency key ${call.key} was already used for a different request`);
      }
      return stored.rows[0].response;
    }
    const { response, subject } = await call.execute(client);
    await client.query(
      `INSERT INTO ${call.table} (key, operation, ${call.subjectColumn}, request_hash, response)
       VALUES ($1, $2, $3, $4, $5)`,
      [call.key, call.operation, subject, requestHash, JSON.stringify(response ?? null)],
    );
    return response;
  });
}

export function assertAmount(amount: number): void {
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new ProviderRefusedError(`sandbox: amount must be a positive integer in minor units, got ${amount}`);
  }
}
