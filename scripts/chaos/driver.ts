import type { PlannedOrder } from './plan';

/** The parts of an order view or problem answer the driver looks at. */
export interface AnswerBody {
  status?: string;
  detail?: string;
  cancelReason?: string;
  totals?: { total?: number };
  payment?: { status?: string; transferReference?: string };
}

export interface Answer {
  /** HTTP status; 0 when the last attempt got no answer at all (connection refused or reset, timeout). */
  status: number;
  body: AnswerBody;
  attempts: number;
  /** Date.now() when the first attempt was sent and when the last answer came. */
  startedAt: number;
  at: number;
  error?: string;
}

/** A time the tree was down: from the SIGKILL to the first healthy answer after the restart. */
export interface Outage {
  killedAt: number;
  upAt?: number;
}

export interface OrderRecord {
  plan: PlannedOrder;
  placement?: Answer;
  retryPayment?: Answer;
  transfer?: Answer;
  cancel?: Answer;
  confirmation?: Answer;
  /** Last status read through GET /v1/orders/:id; MISSING when the API knows no such order. */
  lastStatus?: string;
}

export const TERMINAL = ['COMPLETED', 'CANCELLED', 'FAILED'];
const ADDRESS = {
  name: 'Chaos Monkey',
  phone: '13800138000',
  line1: '1 Nanjing Rd',
  city: 'Shanghai',
  postalCode: '200000',
  country: 'CN',
};
const ATTEMPT_TIMEOUT_MS = 30_000;
const LOOK_TIMEOUT_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const placedOk = (answer?: Answer) => answer?.status === 200 || answer?.status === 201;

async function pool<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(size, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
    }),
  );
}

/**
 * HTTP with the patience of a real upstream system: connection errors, 5xx and 429 are retried with backoff
 * until the run's deadline, because the tree is expected to be down for a while several times.
 */
export class Api {
  /** Attempts repeated after a connection error or a 5xx; shows how much of the traffic met an outage. */
  retries = 0;
  stopped = false;

  constructor(
    private readonly baseUrl: string,
    private readonly deadline: number,
  ) {}

  /** Stops retrying: requests in progress return their last answer. */
  stop(): void {
    this.stopped = true;
  }

  async send(
    method: string,
    url: string,
    options: { token: string; body?: unknown; key?: string; once?: boolean; timeoutMs?: number },
  ): Promise<Answer> {
    const startedAt = Date.now();
    let backoff = 250;
    for (let attempt = 1; ; attempt++) {
      let status = 0;
      let body: AnswerBody = {};
      let error: string | undefined;
      try {
        const response = await fetch(`${this.baseUrl}${url}`, {
          method,
          headers: {
            authorization: `Bearer ${options.token}`,
            ...(options.key ? { 'idempotency-key': options.key } : {}),
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: AbortSignal.timeout(options.timeoutMs ?? ATTEMPT_TIMEOUT_MS),
        });
        status = response.status;
        const text = await response.text();
        try {
          body = text ? (JSON.parse(text) as AnswerBody) : {};
        } catch {
          body = { detail: text.slice(0, 200) };
        }
      } catch (caught) {
        status = 0;
        const cause = (caught as { cause?: { code?: string } }).cause;
        error = cause?.code ?? (caught as Error).message;
      }
      const transient = status === 0 || status >= 500 || status === 429;
      if (!transient || options.once || this.stopped || Date.now() >= this.deadline) {
        return { status, body, attempts: attempt, startedAt, at: Date.now(), error };
      }
      this.retries += 1;
      // Jitter, so the orders in flight do not all knock at the same moment when the tree comes back.
      await sleep(backoff * (0.5 + Math.random()));
      backoff = Math.min(backoff * 2, 4000);
    }
  }
}

/** Places the planned orders and acts on them as shop, customer and bank would, recording every answer. */
export class Driver {
  readonly records = new Map<string, OrderRecord>();
  /** Placements answered so far (whatever the answer); kills are timed on this. */
  placed = 0;
  /** Date.now() of the last status change any order showed; a long quiet spell ends the wait early. */
  lastChange = Date.now();
  private readonly awaitingDelivery = new Set<string>();
  private placing = true;

  constructor(
    private readonly api: Api,
    private readonly tokens: { system: string; ops: string },
    private readonly concurrency: number,
    private readonly deadline: number,
    private readonly stallMs: number,
  ) {}

  /** Places and follows up on every order; resolves once placements and their follow-ups are done. */
  async run(plan: readonly PlannedOrder[]): Promise<void> {
    try {
      await pool(plan, this.concurrency, (order) => this.handle(order));
    } finally {
      this.placing = false;
    }
  }

  /**
   * Polls orders until every one is over (or the deadline passes, or none changed for stallMs), confirming
   * receipt of those the plan says to once they are delivered. While placements go on it looks only at orders
   * awaiting a confirmation, to leave the API to the placements; then at every order not known to be over.
   * Runs beside run() from the start.
   */
  async watch(): Promise<void> {
    for (;;) {
      const due = this.placing
        ? [...this.awaitingDelivery].map((id) => this.records.get(id)!)
        : [...this.records.values()].filter(
            (r) => !TERMINAL.includes(r.lastStatus ?? '') && r.lastStatus !== 'MISSING',
          );
      const stalled = !this.placing && Date.now() - this.lastChange > this.stallMs;
      if ((!this.placing && due.length === 0) || stalled || Date.now() >= this.deadline || this.api.stopped) return;
      await pool(due, this.concurrency, async (record) => {
        const status = await this.look(record);
        if (status === 'DELIVERED' && this.awaitingDelivery.delete(record.plan.orderId)) {
          record.confirmation = await this.api.send('POST', `/v1/orders/${record.plan.orderId}/confirm-receipt`, {
            token: this.tokens.system,
            key: `${record.plan.orderId}-confirm`,
          });
          if (record.confirmation.body.status) record.lastStatus = record.confirmation.body.status;
        }
        if (TERMINAL.includes(record.lastStatus ?? '') || record.lastStatus === 'MISSING') {
          this.awaitingDelivery.delete(record.plan.orderId);
        }
      });
      await sleep(1000);
    }
  }

  private async look(record: OrderRecord): Promise<string | undefined> {
    const answer = await this.api.send('GET', `/v1/orders/${record.plan.orderId}`, {
      token: this.tokens.system,
      once: true,
      // A look that hangs (a query waiting for a worker still replaying after a restart) must not hold up the round.
      timeoutMs: LOOK_TIMEOUT_MS,
    });
    const status = answer.status === 200 ? answer.body.status : answer.status === 404 ? 'MISSING' : undefined;
    if (status && status !== record.lastStatus) {
      record.lastStatus = status;
      this.lastChange = Date.now();
    }
    return answer.status === 200 ? answer.body.status : undefined;
  }

  private async handle(order: PlannedOrder): Promise<void> {
    const record: OrderRecord = { plan: order };
    this.records.set(order.orderId, record);
    const id = order.orderId;
    const system = this.tokens.system;
    record.placement = await this.api.send('POST', '/v1/orders', {
      token: system,
      key: id,
      body: {
        orderId: id,
        customerId: order.customerId,
        channel: order.channel,
        lines: order.lines,
        shippingAddress: ADDRESS,
        payment: { method: order.method, ...(order.token ? { token: order.token } : {}) },
      },
    });
    this.placed += 1;
    this.lastChange = Date.now();
    if (!placedOk(record.placement)) return;
    record.lastStatus = record.placement.body.status;

    await sleep(order.followUpDelayMs);
    switch (order.scenario) {
      case 'decline_retry':
        record.retryPayment = await this.api.send('POST', `/v1/orders/${id}/payment`, {
          token: system,
          key: `${id}-pay-2`,
          body: { method: 'card', token: 'tok_visa' },
        });
        break;
      case 'bank_paid': {
        const reference = record.placement.body.payment?.transferReference;
        record.transfer = reference
          ? await this.api.send('POST', `/v1/sandbox/bank-transfers/${encodeURIComponent(reference)}/receive`, {
              token: this.tokens.ops,
              key: `${id}-transfer`,
              body: {},
            })
          : {
              status: -1,
              body: { detail: 'no transfer reference in the placement answer' },
              attempts: 0,
              startedAt: Date.now(),
              at: Date.now(),
            };
        break;
      }
      case 'cancel':
        record.cancel = await this.api.send('POST', `/v1/orders/${id}/cancel`, {
          token: system,
          key: `${id}-cancel`,
          body: { reason: 'chaos: customer changed their mind' },
        });
        break;
      default:
        break;
    }
    if (order.confirm) this.awaitingDelivery.add(id);
  }
}

export interface Expectation {
  accept: string[];
  why: string;
}

/**
 * The end state the driver's own actions and answers call for. Where an answer leaves it open (a follow-up that
 * never got a clear answer, a payment racing an outage and the payment window) both ends are accepted: the money
 * checks still hold either way.
 */
export function expectedOutcome(record: OrderRecord, outages: readonly Outage[], paymentWindowMs: number): Expectation {
  const { plan } = record;
  const detail = (answer?: Answer) => answer?.body.detail ?? '';
  const either = (why: string): Expectation => ({ accept: ['COMPLETED', 'CANCELLED'], why });
  switch (plan.scenario) {
    case 'bank_unpaid':
      return { accept: ['CANCELLED'], why: 'bank transfer left unpaid' };
    case 'cancel': {
      const answer = record.cancel;
      if (answer?.status === 200) return { accept: ['CANCELLED'], why: 'cancel accepted' };
      if (answer?.status === 409 && /handed to the carrier|request a return/.test(detail(answer))) {
        return { accept: ['COMPLETED'], why: 'cancel refused: parcel already picked up' };
      }
      if (answer?.status === 409 && /already CANCELLED|already in progress/.test(detail(answer))) {
        return { accept: ['CANCELLED'], why: 'cancel repeated after it took effect' };
      }
      return either(`cancel answered ${answer?.status ?? 'nothing'}`);
    }
    case 'bank_paid': {
      const answer = record.transfer;
      const paid = answer?.status === 202 || (answer?.status === 409 && /is captured/.test(detail(answer)));
      if (answer && paid) {
        const windowEnd = (record.placement?.at ?? answer.startedAt) + paymentWindowMs;
        const raced = outages.some((o) => o.killedAt < windowEnd && (o.upAt ?? Infinity) > answer.startedAt);
        return raced
          ? either('transfer paid, but an outage overlapped the rest of the payment window')
          : { accept: ['COMPLETED'], why: 'transfer paid within the payment window' };
      }
      if (answer?.status === 409 && /voided|cancel/i.test(detail(answer))) {
        return { accept: ['CANCELLED'], why: 'transfer refused: payment window already closed' };
      }
      return either(`transfer answered ${answer?.status ?? 'nothing'}`);
    }
    case 'decline_retry':
      return record.retryPayment?.status === 200
        ? { accept: ['COMPLETED'], why: 'declined, then paid on retry' }
        : either(`payment retry answered ${record.retryPayment?.status ?? 'nothing'}`);
    default:
      return { accept: ['COMPLETED'], why: `${plan.method} order left to run` };
  }
}
