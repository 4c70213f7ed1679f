import type { PlannedComplaint, PlannedOrder, PlannedRefund } from './plan';

/** The parts of an order or return view, or of a problem answer, the driver looks at. */
export interface AnswerBody {
  status?: string;
  detail?: string;
  cancelReason?: string;
  totals?: { total?: number };
  payment?: { status?: string; transferReference?: string };
  waitingOn?: string;
  outcome?: string;
  parcels?: { purpose?: string; status?: string }[];
  /** A complaint's agent, rating and resolution. */
  assignee?: { agentId?: string };
  rating?: { score?: number };
  resolution?: { number?: number; remedy?: { kind?: string }; creditReference?: string };
  timelineCount?: number;
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

/** A refund the driver asked for: POST /v1/refunds, and the agent's approval when it awaited one. */
export interface RefundRecord {
  refundId: string;
  reason: PlannedRefund['reason'];
  /** Minor units asked for. */
  amount: number;
  /** The order's status when the driver saw it was time to ask. */
  orderStatus: string;
  request?: Answer;
  approval?: Answer;
}

/**
 * The planned return as the driver took it through: the request (422s while the order's record lags behind the
 * workflow are kept apart, and asked again), the agent's approval, the warehouse's receipt and inspection.
 */
export interface ReturnRecord {
  returnId: string;
  /** The order's status when the driver first asked. */
  orderStatus?: string;
  /** 422 answers asked again later, oldest first. */
  refusals: Answer[];
  request?: Answer;
  approval?: Answer;
  receipt?: Answer;
  inspection?: Answer;
  /** Actions sent again because the last answer was no 200 while the return still called for them. */
  repeats: number;
  /** Last status, whom it waited on and its parcel's status, from the answers and GET /v1/returns/:id. */
  lastStatus?: string;
  waitingOn?: string;
  parcelStatus?: string;
  /** Set when the driver stopped following the return: it ended, or the driver gave up on it. */
  done?: string;
}

/**
 * The planned complaint as the driver took it through: filed as the shop, reassigned by the supervisor when the agent
 * it went to has no token of the driver's, answered, noted on and resolved by its agent, rated as the shop.
 */
export interface ComplaintRecord {
  complaintId: string;
  /** The order's status when the driver filed it. */
  orderStatus?: string;
  open?: Answer;
  /** The supervisor's reassignment, when there was one. */
  assign?: Answer;
  respond?: Answer;
  notes: Answer[];
  resolve?: Answer;
  rate?: Answer;
  /** The agent who worked it, as the views named them. */
  agentId?: string;
  /** Actions sent again after a 403 (the agent had changed) or a 409 (the case was busy handing over). */
  repeats: number;
  /** Last status from the answers. */
  lastStatus?: string;
  /** Set when the driver stopped following the complaint: it closed, or the driver gave up on it (why). */
  done?: string;
}

export interface OrderRecord {
  plan: PlannedOrder;
  placement?: Answer;
  retryPayment?: Answer;
  transfer?: Answer;
  cancel?: Answer;
  confirmation?: Answer;
  /** The refunds of the plan, once requested (scenario refund). */
  refunds?: RefundRecord[];
  /** The return of the plan, once asked for (scenario return). */
  return?: ReturnRecord;
  /** The complaint of the plan, once filed (scenario complaint). */
  complaint?: ComplaintRecord;
  /** Last status read through GET /v1/orders/:id; MISSING when the API knows no such order. */
  lastStatus?: string;
}

export const TERMINAL = ['COMPLETED', 'CANCELLED', 'FAILED'];
/** The order's money was captured (at pickup): a refund may be asked for. */
const REFUNDABLE = ['SHIPPED', 'DELIVERED', 'COMPLETED'];
const ADDRESS = {
  name: 'Chaos Monkey',
  phone: '13800138000',
  line1: '1 Nanjing Rd',
  city: 'Shanghai',
  postalCode: '200000',
  country: 'CN',
};
/** Goods delivered to the customer: a return may be asked for. */
const RETURNABLE = ['DELIVERED', 'COMPLETED'];
const RETURN_TERMINAL = ['CLOSED', 'REJECTED', 'EXPIRED'];
const ATTEMPT_TIMEOUT_MS = 30_000;
const LOOK_TIMEOUT_MS = 10_000;
/**
 * How long a return request refused 422 is asked again: the API judges eligibility on the order's row, which may
 * still say SHIPPED a moment after the workflow said DELIVERED. A refusal that outlasts this is the answer.
 */
const RETURN_REFUSAL_PATIENCE_MS = 60_000;
/** The order has reached the customer (or ended): time for the planned complaint. */
const COMPLAINABLE = ['DELIVERED', ...TERMINAL];
/** Times one action of a complaint is sent again after a 403 or a 409, each after a fresh look at the complaint. */
const MAX_COMPLAINT_ACTION_REPEATS = 5;

/**
 * Times the actions of one return are sent again after an answer other than 200 while the return still calls for them;
 * after a 409 because an action already happened, the next look no longer does.
 */
const MAX_RETURN_ACTION_REPEATS = 5;

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
  /** Orders whose planned refunds wait until they are shipped. */
  private readonly awaitingShipment = new Set<string>();
  /** Orders whose planned return the driver has still to ask for or take through (approval, receipt, inspection). */
  private readonly awaitingReturn = new Set<string>();
  /** Orders whose planned complaint waits for the order to be delivered. */
  private readonly awaitingComplaint = new Set<string>();
  /** Complaints being taken through, each by a flow of its own so a long one holds up no round of the watch. */
  private readonly complaintFlows = new Map<string, Promise<void>>();
  private placing = true;

  constructor(
    private readonly api: Api,
    private readonly tokens: {
      system: string;
      ops: string;
      agent: string;
      warehouse: string;
      supervisor: string;
      /** Per agent principal of the demo complaint staff, the token naming them. */
      complaintAgents: Readonly<Record<string, string>>;
      /** The agent a complaint is reassigned to when the one it went to has no token here. */
      fallbackAgent: string;
    },
    private readonly concurrency: number,
    private readonly deadline: number,
    private readonly stallMs: number,
    /** REFUND_AUTO_APPROVE_LIMIT of the tree: the first refund of an order stays within it. */
    private readonly autoApproveLimit: number,
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
   * receipt of those the plan says to once they are delivered, requesting the planned refunds once they are
   * shipped, taking the planned returns through once delivered and starting the planned complaints' flows once
   * delivered (each runs on its own; the watch ends once they have). While placements go on it looks only at orders
   * awaiting a confirmation, a refund, a return or a complaint, to leave the API to the placements; then at every
   * order not known to be over, and at those still awaiting their refunds, returns or complaints. Runs beside run()
   * from the start.
   */
  async watch(): Promise<void> {
    for (;;) {
      const waiting = new Set([
        ...this.awaitingDelivery,
        ...this.awaitingShipment,
        ...this.awaitingReturn,
        ...this.awaitingComplaint,
      ]);
      const due = [...this.records.values()].filter(
        (r) =>
          waiting.has(r.plan.orderId) ||
          (!this.placing && !TERMINAL.includes(r.lastStatus ?? '') && r.lastStatus !== 'MISSING'),
      );
      const stalled = !this.placing && Date.now() - this.lastChange > this.stallMs;
      const idle = !this.placing && due.length === 0 && this.complaintFlows.size === 0;
      if (idle || stalled || Date.now() >= this.deadline || this.api.stopped) {
        // A complaint's flow ends by itself once the deadline passes or the API stops; it is not left running.
        await Promise.all(this.complaintFlows.values());
        return;
      }
      await pool(due, this.concurrency, async (record) => {
        // An order that has ended stays as it is; only its return is still followed.
        const status = TERMINAL.includes(record.lastStatus ?? '') ? record.lastStatus : await this.look(record);
        if (status && REFUNDABLE.includes(status) && this.awaitingShipment.delete(record.plan.orderId)) {
          await this.requestRefunds(record, status);
        }
        // Before a confirmation of receipt, so that the return is asked for while the order is still DELIVERED.
        if (this.awaitingReturn.has(record.plan.orderId)) {
          await this.advanceReturn(record, record.lastStatus);
          if (record.return?.done) this.awaitingReturn.delete(record.plan.orderId);
        }
        if (COMPLAINABLE.includes(record.lastStatus ?? '') && this.awaitingComplaint.delete(record.plan.orderId)) {
          const id = record.plan.orderId;
          this.complaintFlows.set(
            id,
            this.takeComplaint(record, record.lastStatus!).finally(() => this.complaintFlows.delete(id)),
          );
        }
        if (status === 'DELIVERED' && this.awaitingDelivery.delete(record.plan.orderId)) {
          record.confirmation = await this.api.send('POST', `/v1/orders/${record.plan.orderId}/confirm-receipt`, {
            token: this.tokens.system,
            key: `${record.plan.orderId}-confirm`,
          });
          if (record.confirmation.body.status) record.lastStatus = record.confirmation.body.status;
        }
        if (TERMINAL.includes(record.lastStatus ?? '') || record.lastStatus === 'MISSING') {
          this.awaitingDelivery.delete(record.plan.orderId);
          // A refund scenario order that ended without being captured (cancelled, failed) has nothing to refund.
          if (!REFUNDABLE.includes(record.lastStatus ?? '')) this.awaitingShipment.delete(record.plan.orderId);
          // Placed, yet unknown to the API: there is no order to complain about.
          if (record.lastStatus === 'MISSING' && this.awaitingComplaint.delete(record.plan.orderId)) {
            record.complaint = {
              complaintId: record.plan.complaint!.complaintId,
              notes: [],
              repeats: 0,
              done: 'order MISSING',
            };
          }
        }
      });
      await sleep(1000);
    }
  }

  /**
   * Asks for the order's planned refunds, one after the other, each under its planned id (a retry after a kill is the
   * same request, answered 200 with the refund already there); a refund that awaits an agent's approval gets it, from
   * an agent principal other than the requester, with the decision named by an Idempotency-Key of its own.
   */
  private async requestRefunds(record: OrderRecord, orderStatus: string): Promise<void> {
    const id = record.plan.orderId;
    const total = record.placement?.body.totals?.total ?? 0;
    record.refunds = [];
    for (const planned of record.plan.refunds) {
      const share = Math.max(1, Math.floor(total * planned.share));
      const amount = planned.reason === 'duplicate_payment' ? Math.min(share, this.autoApproveLimit) : share;
      const refund: RefundRecord = { refundId: planned.refundId, reason: planned.reason, amount, orderStatus };
      record.refunds.push(refund);
      if (total <= 0) {
        refund.request = {
          status: -1,
          body: { detail: 'no order total in the placement answer' },
          attempts: 0,
          startedAt: Date.now(),
          at: Date.now(),
        };
        continue;
      }
      refund.request = await this.api.send('POST', '/v1/refunds', {
        token: this.tokens.system,
        key: planned.refundId,
        body: {
          refundId: planned.refundId,
          orderId: id,
          amount,
          reason: planned.reason,
          note: `chaos: ${planned.reason === 'duplicate_payment' ? 'charged twice' : 'scratched on arrival'}`,
        },
      });
      this.lastChange = Date.now();
      if (placedOk(refund.request) && refund.request.body.status === 'PENDING_APPROVAL') {
        refund.approval = await this.api.send('POST', `/v1/refunds/${planned.refundId}/approve`, {
          token: this.tokens.agent,
          key: `${planned.refundId}-approve`,
          body: { reason: 'chaos: checked with the customer' },
        });
        this.lastChange = Date.now();
      }
    }
  }

  /**
   * Takes the planned return one step further each round, as shop, agent and warehouse would: asks for it once the
   * goods are delivered, under its planned id (a repeat after a kill is the same request, answered 200); approves it
   * as the agent when it awaits an agent; records the receipt once the carrier has delivered the parcel to the
   * warehouse, then the planned inspection. Each decision and action carries an Idempotency-Key of its own, so a
   * repeat after a kill is the same one; a 409 because it already happened is followed by a fresh look.
   */
  private async advanceReturn(record: OrderRecord, orderStatus: string | undefined): Promise<void> {
    const planned = record.plan.return!;
    const ret = (record.return ??= { returnId: planned.returnId, refusals: [], repeats: 0 });
    const path = `/v1/returns/${encodeURIComponent(planned.returnId)}`;
    const note = (answer: Answer) => {
      if (!placedOk(answer) || !answer.body.status) return;
      if (answer.body.status !== ret.lastStatus) this.lastChange = Date.now();
      ret.lastStatus = answer.body.status;
      ret.waitingOn = answer.body.waitingOn;
      ret.parcelStatus = answer.body.parcels?.find((p) => p.purpose === 'return')?.status ?? ret.parcelStatus;
    };
    /** Sends an action once, and again while its last answer was no 200 and the return still calls for it. */
    const act = async (field: 'approval' | 'receipt' | 'inspection', action: string, token: string, body: unknown) => {
      const last = ret[field];
      if (last?.status === 200) return;
      if (last) {
        if (ret.repeats >= MAX_RETURN_ACTION_REPEATS) return;
        ret.repeats += 1;
      }
      ret[field] = await this.api.send('POST', `${path}/${action}`, {
        token,
        key: `${planned.returnId}-${action}`,
        body,
      });
      this.lastChange = Date.now();
      note(ret[field]);
    };

    if (!placedOk(ret.request)) {
      if (!RETURNABLE.includes(orderStatus ?? '')) {
        // The goods were never delivered: the order's own verdict says why.
        if (TERMINAL.includes(orderStatus ?? '') || orderStatus === 'MISSING') ret.done = `order ${orderStatus}`;
        return;
      }
      ret.orderStatus ??= orderStatus;
      const answer = await this.api.send('POST', '/v1/returns', {
        token: this.tokens.system,
        key: planned.returnId,
        body: {
          returnId: planned.returnId,
          orderId: record.plan.orderId,
          lines: planned.lines,
          reason: planned.reason,
          type: planned.type,
          method: planned.method,
          failedGoods: planned.failedGoods,
        },
      });
      this.lastChange = Date.now();
      if (answer.status === 422) {
        ret.refusals.push(answer);
        if (answer.at - ret.refusals[0].startedAt < RETURN_REFUSAL_PATIENCE_MS) return;
      }
      ret.request = answer;
      if (!placedOk(answer)) {
        ret.done = `request answered ${answer.status}`;
        return;
      }
      note(answer);
    } else {
      note(await this.api.send('GET', path, { token: this.tokens.system, once: true, timeoutMs: LOOK_TIMEOUT_MS }));
    }

    if (ret.lastStatus === 'PENDING_APPROVAL') {
      await act('approval', 'approve', this.tokens.agent, { reason: 'chaos: the photos show the defect' });
    }
    const arrived = ret.waitingOn === 'warehouse' || ret.parcelStatus === 'DELIVERED';
    if ((ret.lastStatus === 'APPROVED' || ret.lastStatus === 'IN_TRANSIT') && arrived) {
      await act('receipt', 'receive', this.tokens.warehouse, { note: 'chaos: parcel in hand' });
    }
    if (ret.lastStatus === 'RECEIVED') {
      await act('inspection', 'inspect', this.tokens.warehouse, { lines: planned.inspection });
    }
    if (RETURN_TERMINAL.includes(ret.lastStatus ?? '')) ret.done = ret.lastStatus;
  }

  /**
   * Takes the planned complaint through, one action after the other, each under an Idempotency-Key of its own fixed by
   * the plan (a repeat after a kill is the same action, answered 200 with the complaint as it stands): files it as the
   * shop, under its planned id; reassigns it as the supervisor when the agent it went to has no token of the driver's;
   * has that agent respond, add the planned notes and resolve it with the planned remedy; rates it as the shop, which
   * closes it. Every request is retried through outages until the run's deadline; an action refused 403 (the agent
   * changed) or 409 (the case was handing over to its next run) is sent again after a fresh look, a few times.
   */
  private async takeComplaint(record: OrderRecord, orderStatus: string): Promise<void> {
    const planned: PlannedComplaint = record.plan.complaint!;
    const id = planned.complaintId;
    const cmp: ComplaintRecord = (record.complaint = { complaintId: id, orderStatus, notes: [], repeats: 0 });
    const path = `/v1/complaints/${encodeURIComponent(id)}`;
    const note = (answer: Answer) => {
      if (!placedOk(answer)) return;
      if (answer.body.status && answer.body.status !== cmp.lastStatus) this.lastChange = Date.now();
      cmp.lastStatus = answer.body.status ?? cmp.lastStatus;
      cmp.agentId = answer.body.assignee?.agentId ?? cmp.agentId;
    };
    const paced = async (send: () => Promise<Answer>): Promise<Answer> => {
      await sleep(planned.paceMs);
      const answer = await send();
      this.lastChange = Date.now();
      note(answer);
      return answer;
    };
    let reassignments = 0;
    /** The agent's token, reassigning the complaint to the fallback agent when its agent has none here. */
    const agentToken = async (): Promise<string | undefined> => {
      const token = cmp.agentId ? this.tokens.complaintAgents[cmp.agentId] : undefined;
      if (token) return token;
      if (reassignments >= MAX_COMPLAINT_ACTION_REPEATS) return undefined;
      reassignments += 1;
      cmp.assign = await paced(() =>
        this.api.send('POST', `${path}/assign`, {
          token: this.tokens.supervisor,
          key: `${id}-assign-${reassignments}`,
          body: { agentId: this.tokens.fallbackAgent, reason: `chaos: ${cmp.agentId ?? 'nobody'} has no token` },
        }),
      );
      return placedOk(cmp.assign) ? this.tokens.complaintAgents[cmp.agentId ?? ''] : undefined;
    };
    /** Sends one action until it is answered other than 403/409, or it was sent too often; undefined: give up. */
    const act = async (name: string, key: string, token: () => Promise<string | undefined>, body: unknown) => {
      for (let repeat = 0; ; repeat++) {
        const as = await token();
        if (!as) return undefined;
        const answer = await paced(() => this.api.send('POST', `${path}/${name}`, { token: as, key, body }));
        const refused = answer.status === 403 || answer.status === 409;
        if (!refused || repeat >= MAX_COMPLAINT_ACTION_REPEATS || this.api.stopped || Date.now() >= this.deadline) {
          return answer;
        }
        cmp.repeats += 1;
        await sleep(1000);
        note(await this.api.send('GET', path, { token: this.tokens.system, once: true, timeoutMs: LOOK_TIMEOUT_MS }));
      }
    };
    const system = async () => this.tokens.system;
    /** Why the driver gave up: the last answer, or the reassignment's when no agent of the driver's had it. */
    const failed = (step: string, answer?: Answer) => {
      const [what, last] = answer ? [step, answer] : ['assign', cmp.assign];
      cmp.done = `${what} answered ${last?.status ?? 'nothing'} ${last?.body.detail ?? ''}`.trim();
    };

    cmp.open = await paced(() =>
      this.api.send('POST', '/v1/complaints', {
        token: this.tokens.system,
        key: id,
        body: {
          complaintId: id,
          channel: planned.channel,
          customerId: record.plan.customerId,
          orderId: record.plan.orderId,
          category: planned.category,
          target: 'chaos: the goods of the order',
          matter: `chaos: ${planned.category} complaint`,
          reason: `chaos: the customer complains about ${planned.category} of order ${record.plan.orderId}`,
          contact: { name: 'Chaos Monkey', phone: '13800138000' },
          priority: planned.priority,
        },
      }),
    );
    if (!placedOk(cmp.open)) return failed('open', cmp.open);
    cmp.respond = await act('respond', `${id}-respond`, agentToken, { text: 'chaos: sorry, we are looking into it' });
    if (!placedOk(cmp.respond)) return failed('respond', cmp.respond);
    for (let i = 1; i <= planned.notes; i++) {
      const answer = await act('note', `${id}-note-${i}`, agentToken, { text: `chaos: note ${i}` });
      cmp.notes.push(answer ?? { status: -1, body: {}, attempts: 0, startedAt: Date.now(), at: Date.now() });
      if (!placedOk(answer)) return failed(`note ${i}`, answer);
    }
    cmp.resolve = await act('resolve', `${id}-resolve`, agentToken, {
      remedy: planned.remedy,
      explanation: `chaos: ${planned.remedy.kind === 'explanation' ? 'here is what happened' : 'a credit for the trouble'}`,
    });
    if (!placedOk(cmp.resolve)) return failed('resolve', cmp.resolve);
    cmp.rate = await act('rate', `${id}-rate`, system, { score: planned.rating, comment: 'chaos: rated' });
    if (!placedOk(cmp.rate)) return failed('rate', cmp.rate);
    cmp.done = cmp.lastStatus ?? 'rated';
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
    if (order.refunds.length > 0) this.awaitingShipment.add(id);
    if (order.return) this.awaitingReturn.add(id);
    if (order.complaint) this.awaitingComplaint.add(id);

    await sleep(order.followUpDelayMs);
    switch (order.scenario) {
      case 'decline_retry':
        record.retryPayment = await this.api.send('POST', `/v1/orders/${id}/payment`, {
          token: system,
          key: `${id}-pay-2`,
          body: { method: 'card', token: 'tok_visa' },
        });
        break;
      case 'bank_paid':
      case 'bank_paid_cancel': {
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
        if (order.scenario === 'bank_paid_cancel') {
          await sleep(order.followUpDelayMs / 2);
          record.cancel = await this.api.send('POST', `/v1/orders/${id}/cancel`, {
            token: system,
            key: `${id}-cancel`,
            body: { reason: 'chaos: customer paid, then changed their mind' },
          });
        }
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
    case 'bank_paid_cancel':
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
    case 'refund':
      return { accept: ['COMPLETED'], why: `${plan.method} order left to run, part of it refunded once shipped` };
    case 'return':
      return { accept: ['COMPLETED'], why: `${plan.method} order left to run, part of it returned once delivered` };
    case 'complaint':
      return { accept: ['COMPLETED'], why: `${plan.method} order left to run, complained about once delivered` };
    case 'decline_retry':
      return record.retryPayment?.status === 200
        ? { accept: ['COMPLETED'], why: 'declined, then paid on retry' }
        : either(`payment retry answered ${record.retryPayment?.status ?? 'nothing'}`);
    default:
      return { accept: ['COMPLETED'], why: `${plan.method} order left to run` };
  }
}
