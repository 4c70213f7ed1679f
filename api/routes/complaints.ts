import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { complaintPolicy, returnPolicy, type Config } from '../../config';
import { returnableOrder, returnRefusal } from '../../db/return-eligibility';
import {
  COMPLAINT_CATEGORIES,
  COMPLAINT_CHANNELS,
  COMPLAINT_PRIORITIES,
  COMPLAINT_STATUSES,
  complaintContactRefusal,
  type ComplaintInput,
  type ComplaintView,
  type CustomerLevel,
  type Remedy,
} from '../../domain/complaint';
import { FAILED_GOODS_CHOICES, RETURN_METHODS, RETURN_REASONS, RETURN_TYPES } from '../../domain/return';
import { COMPLAINT_CUSTOMER_ROLES, COMPLAINT_STAFF_ROLES, COMPLAINT_SUPERVISOR_ROLES } from '../../domain/roles';
import {
  acceptResolutionUpdate,
  assignComplaintUpdate,
  awaitComplaintUpdate,
  changePriorityUpdate,
  complaintStateQuery,
  complaintWorkflowId,
  customerMessageUpdate,
  disputeResolutionUpdate,
  noteComplaintUpdate,
  rateComplaintUpdate,
  reopenComplaintUpdate,
  resolveComplaintUpdate,
  respondComplaintUpdate,
} from '../../workflows/complaint-messages';
import type * as workflows from '../../workflows';
import type { ApiDeps } from '../app';
import { actorOf } from '../auth';
import {
  caseAction,
  caseApi,
  hashRequest,
  queueFields,
  queuePage,
  clearFlagAction,
  recoverAction,
  type AnyQueueRow,
  type CaseAction,
  type CaseKind,
} from '../cases';
import { Problem } from '../problems';
import {
  complaintRequestHashFromDb,
  complaintStatusFromDb,
  complaintViewFromDb,
  isoTime,
  withFullTimeline,
} from '../records';
import { COMPLAINT_OPENER_ROLES, COMPLAINT_QUEUE_ROLES, COMPLAINT_READER_ROLES } from '../roles';
import {
  commaSeparated,
  complaintIdParams,
  complaintIdSchema,
  complaintViewSchema,
  idempotencyHeaders,
  lineRequestSchema,
  orderIdSchema,
  pageOf,
  pagingQuery,
  problems,
} from '../schemas';

/**
 * Free text of a complaint: responses, notes, the customer's messages, reasons. Text that cannot be stored (NUL, a
 * lone surrogate, controls) is refused for every route by the text guard before validation.
 */
const complaintText = z.string().trim().min(1).max(4000);

/** Who complains, and how to reach them (CS-4): the domain's rule names the field that breaks it. */
const contactSchema = z
  .object({
    name: z.string().trim().max(100).describe('2-30 characters'),
    phone: z
      .string()
      .trim()
      .min(1)
      .max(20)
      .optional()
      .describe('E.164 (+8613800138000) or an 11-digit CN mobile number'),
    email: z.email().max(254).optional(),
  })
  .describe('A phone number or an email, or both')
  .superRefine((contact, ctx) => {
    const refusal = complaintContactRefusal(contact);
    if (refusal) {
      ctx.addIssue({ code: 'custom', path: refusal.field.split('.').slice(1), message: refusal.reason });
    }
  });

const openComplaintBody = z.object({
  complaintId: complaintIdSchema.optional(),
  channel: z.enum(COMPLAINT_CHANNELS).describe('Where the customer complained'),
  customerId: z.string().trim().min(1).max(64),
  orderId: orderIdSchema.optional().describe('The order the complaint is about, an order of the customer'),
  category: z.enum(COMPLAINT_CATEGORIES).describe('Decides the team that takes it'),
  target: z.string().trim().min(1).max(200).describe('Whom or what the complaint is about: a product, a courier'),
  matter: z.string().trim().min(1).max(200).describe('What it is about, in a line'),
  reason: complaintText.describe('What happened, in the customer’s words'),
  contact: contactSchema,
  priority: z.enum(COMPLAINT_PRIORITIES).default('normal'),
});
type OpenComplaintBody = z.infer<typeof openComplaintBody>;

/** Money the customer is given, integer minor units of the complaint's currency. */
const remedyAmount = z.number().int().positive().max(100_000_000).describe('Minor units of the complaint’s currency');

const remedySchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('explanation') }),
    z.object({ kind: z.literal('goodwill_credit'), amount: remedyAmount }),
    z.object({ kind: z.literal('refund'), amount: remedyAmount }),
    z.object({
      kind: z.literal('return'),
      lines: z.array(lineRequestSchema).min(1).max(50),
      reason: z.enum(RETURN_REASONS),
      type: z.enum(RETURN_TYPES),
      method: z.enum(RETURN_METHODS),
      failedGoods: z.enum(FAILED_GOODS_CHOICES).default('send_back'),
    }),
  ])
  .describe(
    'explanation: nothing but the answer; goodwill_credit: credit to the customer’s balance; refund: money back on ' +
      'the complaint’s order (a refund case); return: goods of the order taken back (a return case)',
  );

/** A complaint as the queue lists it: the view's own fields, who has it, and its age. */
const queuedComplaintSchema = complaintViewSchema
  .pick({
    complaintId: true,
    orderId: true,
    customerId: true,
    channel: true,
    category: true,
    priority: true,
    status: true,
    target: true,
    matter: true,
    needsSenior: true,
    firstResponseDeadline: true,
    resolutionDeadline: true,
    slaPaused: true,
    escalationLevel: true,
    needsAttention: true,
    slaDeadline: true,
    requestedAt: true,
  })
  .extend({
    agentId: z.string().optional().describe('The agent who has it'),
    teamId: z.string().optional(),
    attentionReason: z.string().optional(),
    ageSeconds: z.number().int().describe('Seconds since the complaint was opened'),
  });

const listComplaintsQuery = z.object({
  status: commaSeparated(COMPLAINT_STATUSES, 'statuses'),
  priority: commaSeparated(COMPLAINT_PRIORITIES, 'priorities'),
  assignee: z.string().min(1).max(64).optional().describe('Only complaints assigned to this agent'),
  category: z.enum(COMPLAINT_CATEGORIES).optional(),
  customerId: z.string().min(1).max(64).optional(),
  orderId: orderIdSchema.optional(),
  breached: z.stringbool().optional().describe('Only complaints escalated for a breached SLA (or only not)'),
  needsAttention: z.stringbool().optional().describe('Only complaints flagged for a person (or only not)'),
  flagged: z.stringbool().optional().describe('Same as needsAttention'),
  slaBefore: z.iso.datetime({ offset: true }).optional().describe('Only complaints whose next SLA deadline is earlier'),
  sort: z
    .enum(['oldest', 'sla'])
    .default('oldest')
    .describe('oldest: oldest first; sla: the nearest SLA deadline first, those without one last'),
  ...pagingQuery,
});

const COMPLAINT: CaseKind<ComplaintView> = {
  caseType: 'complaint',
  idParam: 'complaintId',
  params: complaintIdParams,
  viewSchema: complaintViewSchema,
  workflowId: complaintWorkflowId,
  stateQuery: complaintStateQuery,
  viewFromDb: complaintViewFromDb,
  statusFromDb: complaintStatusFromDb,
  auditOutcome: ({ status, priority, assignee }) => ({
    status,
    priority,
    ...(assignee ? { assignee: assignee.agentId } : {}),
  }),
  // The workflow keeps only the latest entries of the timeline; every one it acknowledged is in PostgreSQL.
  complete: withFullTimeline,
};

const REPEAT =
  'The Idempotency-Key names the action: sent again, it is answered with the complaint and changes nothing.';

/** Who may act on a complaint beyond the route's roles is the workflow's to say: an agent only on their own. */
const STAFF_RULE = 'Agents only on the complaints assigned to them (403 otherwise).';

/** What people do to a complaint once it is open. */
function complaintActions(config: Config): CaseAction[] {
  return [
    caseAction({
      method: 'POST',
      path: '/v1/complaints/:complaintId/assign',
      roles: COMPLAINT_SUPERVISOR_ROLES,
      summary: 'Give the complaint to another agent',
      description: `The agent must exist (422 naming agentId otherwise); they need not be on duty. ${REPEAT}`,
      body: z.object({
        agentId: z.string().trim().min(1).max(64).describe('The agent’s principal'),
        reason: complaintText.optional(),
      }),
      update: assignComplaintUpdate,
      args: ({ agentId, reason }, { actor, key }) => ({ actor, key, agentId, ...(reason ? { reason } : {}) }),
      action: () => 'complaint.assign',
      detail: ({ agentId, reason }, { key }) => ({ key, agentId, reason }),
      precheck: async (em, { agentId }) => {
        const [agent] = await em.execute<{ id: string }[]>('select id from complaint_agents where id = ?', [agentId]);
        if (!agent) {
          throw new Problem('rule-violation', `no agent ${agentId}`, [{ field: 'agentId', reason: 'no such agent' }]);
        }
      },
    }),
    caseAction({
      method: 'POST',
      path: '/v1/complaints/:complaintId/respond',
      roles: COMPLAINT_STAFF_ROLES,
      summary: 'Answer the customer',
      description:
        'The first response stops the first-response timer. With `awaitCustomer` the complaint waits for the ' +
        `customer's answer (WAITING_CUSTOMER) and its SLA clock stops until they write back. ${STAFF_RULE} ${REPEAT}`,
      body: z.object({
        text: complaintText,
        awaitCustomer: z.boolean().optional().describe('Wait for the customer’s answer, the SLA clock paused'),
      }),
      update: respondComplaintUpdate,
      args: ({ text, awaitCustomer }, { actor, key }) => ({
        actor,
        key,
        text,
        ...(awaitCustomer !== undefined ? { awaitCustomer } : {}),
      }),
      action: () => 'complaint.respond',
      detail: ({ awaitCustomer }, { key }) => ({ key, awaitCustomer }),
    }),
    caseAction({
      method: 'POST',
      path: '/v1/complaints/:complaintId/note',
      roles: COMPLAINT_STAFF_ROLES,
      summary: 'Add an internal note, never shown to the customer',
      description: `A note is not a response: the SLA timers run on. ${REPEAT}`,
      body: z.object({ text: complaintText }),
      update: noteComplaintUpdate,
      args: ({ text }, { actor, key }) => ({ actor, key, text }),
      action: () => 'complaint.note',
      detail: (_body, { key }) => ({ key }),
    }),
    caseAction({
      method: 'POST',
      path: '/v1/complaints/:complaintId/reply',
      roles: COMPLAINT_CUSTOMER_ROLES,
      summary: 'Record that the customer wrote back',
      description: `A complaint waiting for the customer goes back to its agent, its SLA clock running again. ${REPEAT}`,
      body: z.object({ text: complaintText }),
      update: customerMessageUpdate,
      args: ({ text }, { actor, key }) => ({ actor, key, text }),
      action: () => 'complaint.customer_message',
      detail: (_body, { key }) => ({ key }),
    }),
    caseAction({
      method: 'POST',
      path: '/v1/complaints/:complaintId/priority',
      roles: COMPLAINT_STAFF_ROLES,
      summary: 'Change the complaint’s priority, saying why',
      description:
        'The running SLA timers move to the new priority’s targets, counted from the same start. ' +
        `${STAFF_RULE} ${REPEAT}`,
      body: z.object({ priority: z.enum(COMPLAINT_PRIORITIES), reason: complaintText }),
      update: changePriorityUpdate,
      args: ({ priority, reason }, { actor, key }) => ({ actor, key, priority, reason }),
      action: () => 'complaint.priority',
      detail: ({ priority, reason }, { key }) => ({ key, priority, reason }),
    }),
    caseAction({
      method: 'POST',
      path: '/v1/complaints/:complaintId/resolve',
      roles: COMPLAINT_STAFF_ROLES,
      summary: 'Resolve the complaint with a remedy and an explanation to the customer',
      description:
        'A refund or a return needs a complaint about an order, and is checked like a request of its own before ' +
        'anything starts: a refund no larger than what is left to refund of the order, goods that can come back ' +
        '(422 naming the field otherwise); the remedy then starts its own refund or return case, whose id the ' +
        `resolution names. Goodwill above the agent limit needs a supervisor. ${STAFF_RULE} ${REPEAT}`,
      body: z.object({ remedy: remedySchema, explanation: complaintText }),
      update: resolveComplaintUpdate,
      args: ({ remedy, explanation }, { actor, key }) => ({ actor, key, remedy: remedy satisfies Remedy, explanation }),
      action: () => 'complaint.resolve',
      detail: ({ remedy }, { key }) => ({ key, remedy }),
      precheck: (em, { remedy }, complaintId) => remedyPrecheck(em, config, complaintId, remedy),
    }),
    caseAction({
      method: 'POST',
      path: '/v1/complaints/:complaintId/accept',
      roles: COMPLAINT_CUSTOMER_ROLES,
      summary: 'Record that the customer accepts the resolution',
      description: `The complaint stays RESOLVED until it is rated or the rating window ends. ${REPEAT}`,
      // Fastify hands a POST without a body over as null.
      body: z.object({}).nullish(),
      update: acceptResolutionUpdate,
      args: (_body, { actor, key }) => ({ actor, key }),
      action: () => 'complaint.accept',
      detail: (_body, { key }) => ({ key }),
    }),
    caseAction({
      method: 'POST',
      path: '/v1/complaints/:complaintId/dispute',
      roles: COMPLAINT_CUSTOMER_ROLES,
      summary: 'Record that the customer does not accept the resolution, saying why',
      description: `The complaint goes back to its agent (IN_PROGRESS) for another resolution. ${REPEAT}`,
      body: z.object({ reason: complaintText }),
      update: disputeResolutionUpdate,
      args: ({ reason }, { actor, key }) => ({ actor, key, reason }),
      action: () => 'complaint.dispute',
      detail: ({ reason }, { key }) => ({ key, reason }),
    }),
    caseAction({
      method: 'POST',
      path: '/v1/complaints/:complaintId/rate',
      roles: COMPLAINT_CUSTOMER_ROLES,
      summary: 'Record the customer’s satisfaction with the resolution, 1 to 5: closes the complaint',
      description: REPEAT,
      body: z.object({ score: z.number().int().min(1).max(5), comment: complaintText.optional() }),
      update: rateComplaintUpdate,
      args: ({ score, comment }, { actor, key }) => ({ actor, key, score, ...(comment ? { comment } : {}) }),
      action: () => 'complaint.rate',
      detail: ({ score }, { key }) => ({ key, score }),
    }),
    caseAction({
      method: 'POST',
      path: '/v1/complaints/:complaintId/reopen',
      roles: COMPLAINT_CUSTOMER_ROLES,
      summary: 'Reopen a closed complaint within the reopen window, saying why',
      description: REPEAT,
      body: z.object({ reason: complaintText }),
      update: reopenComplaintUpdate,
      args: ({ reason }, { actor, key }) => ({ actor, key, reason }),
      action: () => 'complaint.reopen',
      detail: ({ reason }, { key }) => ({ key, reason }),
    }),
    recoverAction(
      'complaint',
      '/v1/complaints/:complaintId/recover',
      'fail gives the step up: the complaint is flagged for a person and keeps its status',
    ),
    clearFlagAction('complaint', '/v1/complaints/:complaintId/clear-flag'),
  ];
}

/**
 * Refuses, before the workflow is asked, a refund or a return the complaint's order cannot give: more money than is
 * left to refund, goods that cannot come back. The cases the remedy starts are the arbiters (two may pass here for the
 * last of the money); these only answer early, naming the field. A complaint not yet stored is left to the workflow.
 */
async function remedyPrecheck(em: EntityManager, config: Config, complaintId: string, remedy: Remedy): Promise<void> {
  if (remedy.kind !== 'refund' && remedy.kind !== 'return') return;
  const [complaint] = await em.execute<{ order_id: string | null }[]>('select order_id from complaints where id = ?', [
    complaintId,
  ]);
  if (!complaint) return;
  const orderId = complaint.order_id;
  if (!orderId) {
    throw new Problem('rule-violation', `complaint ${complaintId} is about no order`, [
      { field: 'remedy.kind', reason: `a ${remedy.kind} needs a complaint about an order` },
    ]);
  }
  if (remedy.kind === 'refund') {
    const [money] = await em.execute<{ captured: number; refundable: number; largest: number }[]>(
      `select coalesce(sum(captured_amount), 0)::int as captured,
              coalesce(sum(greatest(captured_amount - refund_claimed, 0)), 0)::int as refundable,
              coalesce(max(captured_amount - refund_claimed), 0)::int as largest
         from payments where order_id = ?`,
      [orderId],
    );
    if (money.captured === 0) {
      throw new Problem('rule-violation', `no money has been captured for order ${orderId}`, [
        { field: 'remedy.kind', reason: 'nothing captured to refund' },
      ]);
    }
    if (remedy.amount > money.refundable) {
      throw new Problem('rule-violation', `refunds of order ${orderId} would exceed what was captured`, [
        { field: 'remedy.amount', reason: `${remedy.amount} asked, ${money.refundable} is still refundable` },
      ]);
    }
    // A refund is paid back on one payment; an order holds more than one only after a method was replaced.
    if (remedy.amount > money.largest) {
      throw new Problem('rule-violation', `a refund comes from one payment of order ${orderId}`, [
        { field: 'remedy.amount', reason: `${remedy.amount} asked, at most ${money.largest} in one refund` },
      ]);
    }
    return;
  }
  const order = await returnableOrder(em, orderId);
  if (!order) {
    throw new Problem('rule-violation', `no order ${orderId}`, [{ field: 'remedy.kind', reason: 'no such order' }]);
  }
  const refusal = await returnRefusal(
    em,
    order,
    { orderId, lines: remedy.lines, reason: remedy.reason },
    returnPolicy(config),
    Date.now(),
  );
  if (refusal) {
    // The order's own refusals (not delivered, past the window) make a return the wrong remedy for it.
    const field = refusal.field === 'orderId' ? 'remedy.kind' : `remedy.${refusal.field}`;
    throw new Problem('rule-violation', `order ${orderId} cannot take this return: ${refusal.reason}`, [
      { field, reason: refusal.reason },
    ]);
  }
}

/** The request as it is compared with a repeat of it: the complaint id is the key, not part of the request. */
function complaintRequest(body: OpenComplaintBody) {
  const { channel, customerId, orderId, category, target, matter, reason, contact, priority } = body;
  return {
    channel,
    customerId,
    ...(orderId ? { orderId } : {}),
    category,
    target,
    matter,
    reason,
    contact: {
      name: contact.name,
      ...(contact.phone ? { phone: contact.phone } : {}),
      ...(contact.email ? { email: contact.email } : {}),
    },
    priority,
  };
}

interface OpeningTerms {
  customerLevel: CustomerLevel;
  orderTotal?: number;
  currency: string;
}

/**
 * Refuses, before any workflow exists, a complaint of nobody or about an order that is not the customer's; reads what
 * decides who takes it (the customer's level, the order's total).
 */
async function openingTerms(
  em: EntityManager,
  asked: { customerId: string; orderId?: string },
  shopCurrency: string,
): Promise<OpeningTerms> {
  const [customer] = await em.execute<{ level: CustomerLevel }[]>('select level from customers where id = ?', [
    asked.customerId,
  ]);
  if (!customer) {
    throw new Problem('unknown-customer', `no customer ${asked.customerId}`, [
      { field: 'customerId', reason: 'no such customer' },
    ]);
  }
  if (!asked.orderId) return { customerLevel: customer.level, currency: shopCurrency };
  const [order] = await em.execute<{ customer_id: string; currency: string; total: number }[]>(
    'select customer_id, currency, total from orders where id = ?',
    [asked.orderId],
  );
  if (!order) {
    throw new Problem('rule-violation', `no order ${asked.orderId}`, [{ field: 'orderId', reason: 'no such order' }]);
  }
  if (order.customer_id !== asked.customerId) {
    throw new Problem('rule-violation', `order ${asked.orderId} is not an order of customer ${asked.customerId}`, [
      { field: 'orderId', reason: `not an order of customer ${asked.customerId}` },
    ]);
  }
  return { customerLevel: customer.level, orderTotal: order.total, currency: order.currency.trim() };
}

export function complaintRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  const { config } = deps;
  const complaints = caseApi(deps, COMPLAINT);

  return async (app) => {
    app.post(
      '/v1/complaints',
      {
        config: { roles: COMPLAINT_OPENER_ROLES },
        schema: {
          tags: ['complaints'],
          summary: 'Open a complaint: assigned at once to an on-duty agent of the team that takes its category',
          description:
            'Idempotent: the complaint id (body `complaintId` or `Idempotency-Key`) names the complaint. Repeating a ' +
            'request returns the same complaint (200); the same id with a different request is a 409. An unknown ' +
            'customer, or an order that is not theirs, is a 422 naming the field. VIP customers and orders above ' +
            '`COMPLAINT_SENIOR_ORDER_TOTAL` go to senior agents; with nobody on duty the complaint waits, OPEN, for ' +
            'the next agent to come on duty.',
          headers: idempotencyHeaders,
          body: openComplaintBody,
          response: { 200: complaintViewSchema, 201: complaintViewSchema, ...problems(400, 401, 403, 409, 422, 503) },
        },
      },
      async (request, reply) => {
        const complaintId = complaints.requestedId(request, request.body.complaintId, 'complaintId', 'cmp');
        const asked = complaintRequest(request.body);
        const requestHash = hashRequest(asked);
        const em = deps.orm.em.fork();
        const actor = actorOf(request);
        const { status, view } = await complaints.startCase(request, em, {
          id: complaintId,
          action: 'complaint.open',
          detail: {
            channel: asked.channel,
            customerId: asked.customerId,
            orderId: asked.orderId,
            category: asked.category,
            priority: asked.priority,
            requestHash,
          },
          requestHash,
          recordedHash: () => complaintRequestHashFromDb(em, complaintId),
          prepare: async (): Promise<ComplaintInput> => {
            const terms = await openingTerms(em, asked, config.ORDER_CURRENCY);
            return {
              complaintId,
              ...asked,
              ...terms,
              requestedBy: actor,
              requestedAt: new Date().toISOString(),
              policy: complaintPolicy(config),
              requestHash,
            };
          },
          workflowType: 'complaintWorkflow' satisfies keyof typeof workflows,
          ready: awaitComplaintUpdate,
          refusal: () => undefined,
        });
        return reply
          .code(status)
          .header('location', `/v1/complaints/${encodeURIComponent(complaintId)}`)
          .send(view);
      },
    );

    complaints.registerView(app, '/v1/complaints/:complaintId', COMPLAINT_READER_ROLES);

    app.get(
      '/v1/complaints',
      {
        config: { roles: COMPLAINT_QUEUE_ROLES },
        schema: {
          tags: ['complaints'],
          summary: 'The complaints queue (from PostgreSQL), oldest first or by SLA deadline',
          querystring: listComplaintsQuery,
          response: { 200: pageOf(queuedComplaintSchema), ...problems(400, 401, 403, 503) },
        },
      },
      async (request) => {
        const { query } = request;
        const filters: [string, unknown][] = [];
        if (query.priority?.length) filters.push(['priority in (?)', query.priority]);
        if (query.assignee) filters.push(['assignee = ?', query.assignee]);
        if (query.category) filters.push(['category = ?', query.category]);
        if (query.customerId) filters.push(['customer_id = ?', query.customerId]);
        if (query.slaBefore) filters.push(['sla_deadline < ?', new Date(query.slaBefore).toISOString()]);
        const breached =
          query.breached === undefined ? [] : [query.breached ? 'escalation_level > 0' : 'escalation_level = 0'];
        const { rows, total } = await queuePage<ComplaintListRow>(
          deps.orm.em.fork(),
          'complaints',
          `channel, category, priority, status, target, matter, needs_senior, assignee, team_id,
           first_response_deadline, resolution_deadline, sla_paused`,
          {
            ...query,
            needsAttention: query.needsAttention ?? query.flagged,
            where: [...filters.map(([clause]) => clause), ...breached],
            params: filters.map(([, value]) => value),
            ...(query.sort === 'sla' ? { orderBy: 'sla_deadline asc nulls last' } : {}),
          },
        );
        return {
          items: rows.map((r) => ({
            complaintId: r.id,
            channel: r.channel,
            category: r.category,
            priority: r.priority,
            status: r.status,
            target: r.target,
            matter: r.matter,
            needsSenior: r.needs_senior,
            ...(r.assignee ? { agentId: r.assignee } : {}),
            ...(r.team_id ? { teamId: r.team_id } : {}),
            ...(r.first_response_deadline ? { firstResponseDeadline: isoTime(r.first_response_deadline) } : {}),
            ...(r.resolution_deadline ? { resolutionDeadline: isoTime(r.resolution_deadline) } : {}),
            slaPaused: r.sla_paused,
            ...queueFields(r),
          })),
          total,
          limit: query.limit,
          offset: query.offset,
        };
      },
    );

    complaints.registerActions(app, complaintActions(config));
  };
}

interface ComplaintListRow extends AnyQueueRow {
  channel: ComplaintView['channel'];
  category: ComplaintView['category'];
  priority: ComplaintView['priority'];
  status: ComplaintView['status'];
  target: string;
  matter: string;
  needs_senior: boolean;
  assignee: string | null;
  team_id: string | null;
  first_response_deadline: string | null;
  resolution_deadline: string | null;
  sla_paused: boolean;
}
