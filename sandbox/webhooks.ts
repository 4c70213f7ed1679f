import http from 'node:http';
import https from 'node:https';
import type { Pool } from 'pg';
import { SIGNATURE_HEADER, signPayload } from './signing';

export interface WebhookOptions {
  /** Where events are posted; without it events are recorded but not sent, like a provider with no endpoint set. */
  url?: string;
  secret: string;
  /** Attempts per event before it is given up as failed. */
  attempts?: number;
  /** Wait before the second attempt; doubles after each further failure. */
  backoffMs?: number;
  /** Per-attempt limit, so an endpoint that accepts the connection and never answers cannot hold a delivery forever. */
  timeoutMs?: number;
}

export type DeliveryStatus = 'delivered' | 'failed' | 'abandoned' | 'skipped';

export interface DeliveryOutcome {
  eventId: string;
  status: DeliveryStatus;
  attempts: number;
}

/**
 * Posts signed events the way providers do: fire and forget for the caller, retried with exponential backoff on a
 * non-2xx answer or a network error, each attempt recorded in sandbox.webhook_deliveries. Events that share an
 * ordering key go out one after another, so a receiver sees a parcel's events in the order they happened.
 */
export class WebhookSender {
  private readonly inFlight = new Set<Promise<DeliveryOutcome>>();
  private readonly chains = new Map<string, Promise<DeliveryOutcome>>();
  private readonly wakers = new Set<() => void>();
  private abandoning = false;

  constructor(
    private readonly pool: Pool,
    private readonly source: string,
    private readonly options: WebhookOptions,
  ) {}

  /** Queues the event and returns at once; the promise settles when delivery has succeeded or been given up, never rejects. */
  send(
    eventId: string,
    payload: object,
    orderingKey: string,
    onDelivered?: () => Promise<unknown>,
  ): Promise<DeliveryOutcome> {
    const url = this.options.url;
    if (!url) return Promise.resolve({ eventId, status: 'skipped', attempts: 0 });
    const previous = this.chains.get(orderingKey);
    const delivery = (previous ?? Promise.resolve())
      .then(() => this.deliver(url, eventId, payload, onDelivered))
      .catch((error: unknown): DeliveryOutcome => {
        // Only the bookkeeping can throw here (say the database went away); the caller was promised no rejection.
        this.warn(eventId, error);
        return { eventId, status: 'failed', attempts: 0 };
      });
    this.chains.set(orderingKey, delivery);
    this.inFlight.add(delivery);
    void delivery.finally(() => {
      this.inFlight.delete(delivery);
      if (this.chains.get(orderingKey) === delivery) this.chains.delete(orderingKey);
    });
    return delivery;
  }

  /** Resolves once every queued delivery has finished, including ones queued while waiting. */
  async flush(): Promise<DeliveryOutcome[]> {
    const outcomes: DeliveryOutcome[] = [];
    while (this.inFlight.size > 0) outcomes.push(...(await Promise.all([...this.inFlight])));
    return outcomes;
  }

  /**
   * For shutdown: deliveries waiting to retry stop waiting and are recorded as abandoned; attempts already on the
   * wire finish. Resolves when nothing is left, after which the sender works normally again.
   */
  async abandonRetries(): Promise<void> {
    this.abandoning = true;
    for (const wake of this.wakers) wake();
    try {
      await this.flush();
    } finally {
      this.abandoning = false;
    }
  }

  private async deliver(
    url: string,
    eventId: string,
    payload: object,
    onDelivered?: () => Promise<unknown>,
  ): Promise<DeliveryOutcome> {
    const body = JSON.stringify(payload);
    await this.pool.query(
      `INSERT INTO sandbox.webhook_deliveries (event_id, source, url, payload, status)
       VALUES ($1, $2, $3, $4, 'pending') ON CONFLICT (event_id) DO NOTHING`,
      [eventId, this.source, url, body],
    );
    const maxAttempts = this.options.attempts ?? 5;
    let backoff = this.options.backoffMs ?? 250;
    for (let attempt = 1; ; attempt++) {
      if (this.abandoning) return this.abandon(eventId, attempt - 1);
      let statusCode: number | null = null;
      let error: string | null = null;
      try {
        // Signed per attempt, so a late retry still falls inside the receiver's timestamp tolerance.
        const signature = signPayload(this.options.secret, body, Math.floor(Date.now() / 1000));
        statusCode = await post(url, body, { [SIGNATURE_HEADER]: signature }, this.options.timeoutMs ?? 5000);
      } catch (caught) {
        error = (caught as Error).message;
      }
      const delivered = statusCode !== null && statusCode >= 200 && statusCode < 300;
      await this.pool.query(
        `UPDATE sandbox.webhook_deliveries
            SET attempts = $2, last_status = $3, last_error = $4, status = $5, updated_at = now()
          WHERE event_id = $1`,
        [eventId, attempt, statusCode, error, delivered ? 'delivered' : attempt >= maxAttempts ? 'failed' : 'pending'],
      );
      if (delivered) {
        // The receiver has the event whatever happens next; a failed follow-up must not turn this into a failure.
        await onDelivered?.().catch((caught: unknown) => this.warn(eventId, caught));
        return { eventId, status: 'delivered', attempts: attempt };
      }
      if (attempt >= maxAttempts) return { eventId, status: 'failed', attempts: attempt };
      await this.pause(backoff);
      backoff *= 2;
    }
  }

  private async abandon(eventId: string, attempts: number): Promise<DeliveryOutcome> {
    await this.pool.query(
      `UPDATE sandbox.webhook_deliveries SET status = 'abandoned', updated_at = now() WHERE event_id = $1`,
      [eventId],
    );
    return { eventId, status: 'abandoned', attempts };
  }

  private warn(eventId: string, error: unknown): void {
    process.emitWarning(`sandbox webhook ${eventId} (${this.source}): ${(error as Error).message}`);
  }

  private pause(ms: number): Promise<void> {
    // An attempt that failed after abandonRetries() woke the sleepers must not start a fresh wait.
    if (this.abandoning) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }
}

function post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      target,
      {
        method: 'POST',
        // No keep-alive agent: an idle pooled socket would outlive stop() and keep the process (or a test) running.
        agent: false,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(body);
  });
}
