import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { ApiDeps } from '../app';
import { Problem } from '../problems';
import { REPORT_ROLES } from '../roles';
import { problems } from '../schemas';

/**
 * Reports (RPT-1..3), read from PostgreSQL: orders by status, channel, region or day; sales (totals, average order
 * value, top products); after-sales quality per period or per agent; settlement reconciliation. Each answers JSON, or
 * CSV with `format=csv`. Money is in minor units; durations in seconds.
 */

const DAY_MS = 86_400_000;

/** A report: JSON as each route describes, or CSV text with `format=csv`. */
const REPORT_BODY = z.union([z.record(z.string(), z.unknown()), z.string()]);

const periodQuery = {
  from: z.iso.datetime({ offset: true }).optional().describe('Start of the period (inclusive); 30 days before `to`'),
  to: z.iso.datetime({ offset: true }).optional().describe('End of the period (exclusive); now'),
  format: z.enum(['json', 'csv']).default('json'),
};

function period(query: { from?: string; to?: string }): { from: Date; to: Date } {
  const to = query.to ? new Date(query.to) : new Date();
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - 30 * DAY_MS);
  if (from >= to)
    throw new Problem('validation', 'the period must end after it starts', [
      { field: 'from', reason: 'must be before to' },
    ]);
  if (to.getTime() - from.getTime() > 3 * 366 * DAY_MS) {
    throw new Problem('validation', 'a report covers at most three years', [{ field: 'from', reason: 'too far back' }]);
  }
  return { from, to };
}

/** One CSV field: quoted when it holds a comma, a quote or a line break; a leading =, +, - or @ is defused. */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (/^[=+\-@]/.test(text) && typeof value === 'string') text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows as CSV with a header of their keys, or the JSON body as it is. */
function answer<T extends Record<string, unknown>>(
  reply: FastifyReply,
  format: 'json' | 'csv',
  name: string,
  rows: T[],
  body: Record<string, unknown>,
) {
  if (format === 'json') return body;
  const columns = rows.length > 0 ? Object.keys(rows[0]) : [];
  const lines = [columns.join(','), ...rows.map((row) => columns.map((c) => csvField(row[c])).join(','))];
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${name}.csv"`)
    .send(`${lines.join('\r\n')}\r\n`);
}

const ORDER_GROUPS = {
  status: 'o.status',
  channel: 'o.channel',
  region: `coalesce(nullif(o.shipping_address->>'region', ''), o.shipping_address->>'city')`,
  day: `to_char(o.placed_at at time zone 'UTC', 'YYYY-MM-DD')`,
} as const;

/** Orders that count as sales: placed and not cancelled or failed. */
const SOLD = `o.status not in ('CANCELLED', 'FAILED')`;

const num = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));

async function afterSales(em: EntityManager, from: Date, to: Date, by: 'period' | 'agent') {
  const group = by === 'agent' ? `coalesce(c.assignee, '(unassigned)')` : `'all'`;
  const rows = await em.execute<Record<string, unknown>[]>(
    `select ${group} as key,
            count(*)::int as complaints,
            avg(extract(epoch from c.first_response_at - c.created_at))::float as first_response_seconds,
            avg(extract(epoch from c.resolved_at - c.created_at))::float as handling_seconds,
            count(*) filter (where c.resolved_at is not null)::int as resolved,
            count(*) filter (where c.rating is not null)::int as rated,
            avg(c.rating)::float as rating_average,
            count(*) filter (where c.rating = 1)::int as rating_1, count(*) filter (where c.rating = 2)::int as rating_2,
            count(*) filter (where c.rating = 3)::int as rating_3, count(*) filter (where c.rating = 4)::int as rating_4,
            count(*) filter (where c.rating = 5)::int as rating_5,
            count(*) filter (where jsonb_array_length(c.breaches) > 0)::int as breached
       from complaints c where c.created_at >= ? and c.created_at < ?
      group by 1 order by 1`,
    [from, to],
  );
  const [totals] = await em.execute<Record<string, unknown>[]>(
    `select (select count(*)::int from orders o where o.placed_at >= ? and o.placed_at < ?) as orders,
            (select count(*)::int from returns r where r.created_at >= ? and r.created_at < ?) as returns,
            (select count(*)::int from refunds f where f.created_at >= ? and f.created_at < ?) as refunds,
            (select coalesce(sum(f.amount), 0)::bigint from refunds f
              where f.status = 'REFUNDED' and f.created_at >= ? and f.created_at < ?) as refunded,
            (select coalesce(sum(b.amount), 0)::bigint from customer_balance_ledger b
              where b.kind = 'goodwill' and b.created_at >= ? and b.created_at < ?) as goodwill,
            (select count(*)::int from case_history h
              where h.case_type in ('refund', 'return', 'complaint') and h.at >= ? and h.at < ?) as changes,
            (select count(*)::int from case_history h
              where h.case_type in ('refund', 'return', 'complaint') and h.at >= ? and h.at < ?
                and exists (
                  select 1 from notification_outbox n
                   where n.case_type = h.case_type and n.case_id = h.case_id and n.status in ('sent', 'digested')
                     and left(n.dedupe_key, length(h.case_type || ':' || h.case_id || ':' || h.seq || ':'))
                         = h.case_type || ':' || h.case_id || ':' || h.seq || ':')) as told`,
    [from, to, from, to, from, to, from, to, from, to, from, to, from, to],
  );
  const orders = num(totals.orders);
  const rate = (n: number) => (orders === 0 ? 0 : n / orders);
  return {
    rows: rows.map((row) => ({
      [by === 'agent' ? 'agent' : 'period']: row.key === 'all' ? `${from.toISOString()}/${to.toISOString()}` : row.key,
      complaints: num(row.complaints),
      firstResponseSeconds: row.first_response_seconds === null ? null : Math.round(num(row.first_response_seconds)),
      handlingSeconds: row.handling_seconds === null ? null : Math.round(num(row.handling_seconds)),
      resolutionRate: num(row.complaints) === 0 ? 0 : num(row.resolved) / num(row.complaints),
      rated: num(row.rated),
      ratingAverage: row.rating_average === null ? null : num(row.rating_average),
      rating1: num(row.rating_1),
      rating2: num(row.rating_2),
      rating3: num(row.rating_3),
      rating4: num(row.rating_4),
      rating5: num(row.rating_5),
      slaBreached: num(row.breached),
    })),
    rates: {
      orders,
      returnRate: rate(num(totals.returns)),
      refundRate: rate(num(totals.refunds)),
      complaintRate: rate(rows.reduce((sum, row) => sum + num(row.complaints), 0)),
    },
    cost: { refunded: num(totals.refunded), goodwill: num(totals.goodwill) },
    // Transparency: of the status changes of refunds, returns and complaints, the share the customer was told of.
    transparency: num(totals.changes) === 0 ? 1 : num(totals.told) / num(totals.changes),
  };
}

export function reportRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/reports/orders',
      {
        config: { roles: REPORT_ROLES },
        schema: {
          tags: ['reports'],
          summary: 'Orders and their value by status, channel, region or day (UTC)',
          querystring: z.object({
            ...periodQuery,
            groupBy: z.enum(['status', 'channel', 'region', 'day']).default('status'),
          }),
          response: { 200: REPORT_BODY, ...problems(400, 401, 403, 503) },
        },
      },
      async (request, reply) => {
        const { from, to } = period(request.query);
        const { groupBy, format } = request.query;
        const rows = await deps.orm.em.fork().execute<{ key: string; orders: number; value: string }[]>(
          `select ${ORDER_GROUPS[groupBy]} as key, count(*)::int as orders, coalesce(sum(o.total), 0)::bigint as value
             from orders o where o.placed_at >= ? and o.placed_at < ? group by 1 order by 1`,
          [from, to],
        );
        const items = rows.map((row) => ({ [groupBy]: row.key, orders: row.orders, value: num(row.value) }));
        return answer(reply, format, `orders-by-${groupBy}`, items, {
          from: from.toISOString(),
          to: to.toISOString(),
          groupBy,
          items,
          total: { orders: items.reduce((s, i) => s + i.orders, 0), value: items.reduce((s, i) => s + i.value, 0) },
        });
      },
    );

    app.get(
      '/v1/reports/sales',
      {
        config: { roles: REPORT_ROLES },
        schema: {
          tags: ['reports'],
          summary: 'Sales: orders, revenue and average order value, and the top products by revenue',
          description: 'Counts orders neither cancelled nor failed.',
          querystring: z.object({ ...periodQuery, top: z.coerce.number().int().min(1).max(100).default(10) }),
          response: { 200: REPORT_BODY, ...problems(400, 401, 403, 503) },
        },
      },
      async (request, reply) => {
        const { from, to } = period(request.query);
        const { top, format } = request.query;
        const em = deps.orm.em.fork();
        const [[totals], products] = await Promise.all([
          em.execute<{ orders: number; revenue: string }[]>(
            `select count(*)::int as orders, coalesce(sum(o.total), 0)::bigint as revenue
               from orders o where ${SOLD} and o.placed_at >= ? and o.placed_at < ?`,
            [from, to],
          ),
          em.execute<{ sku: string; name: string; units: number; revenue: string }[]>(
            `select l.sku, min(l.name) as name, sum(l.quantity)::int as units, sum(l.line_total)::bigint as revenue
               from order_lines l join orders o on o.id = l.order_id
              where ${SOLD} and o.placed_at >= ? and o.placed_at < ?
              group by l.sku order by revenue desc, l.sku limit ?`,
            [from, to, top],
          ),
        ]);
        const topProducts = products.map((p, i) => ({
          rank: i + 1,
          sku: p.sku,
          name: p.name,
          units: p.units,
          revenue: num(p.revenue),
        }));
        const revenue = num(totals.revenue);
        return answer(reply, format, 'sales-top-products', topProducts, {
          from: from.toISOString(),
          to: to.toISOString(),
          orders: totals.orders,
          revenue,
          averageOrderValue: totals.orders === 0 ? 0 : Math.round(revenue / totals.orders),
          topProducts,
        });
      },
    );

    app.get(
      '/v1/reports/after-sales',
      {
        config: { roles: REPORT_ROLES },
        schema: {
          tags: ['reports'],
          summary:
            'After-sales quality: response, handling, resolution, satisfaction, cost and the return, refund and complaint rates',
          querystring: z.object({ ...periodQuery, by: z.enum(['period', 'agent']).default('period') }),
          response: { 200: REPORT_BODY, ...problems(400, 401, 403, 503) },
        },
      },
      async (request, reply) => {
        const { from, to } = period(request.query);
        const { by, format } = request.query;
        const report = await afterSales(deps.orm.em.fork(), from, to, by);
        return answer(reply, format, `after-sales-by-${by}`, report.rows, {
          from: from.toISOString(),
          to: to.toISOString(),
          by,
          items: report.rows,
          ...report.rates,
          cost: report.cost,
          transparency: report.transparency,
        });
      },
    );

    app.get(
      '/v1/reports/settlement',
      {
        config: { roles: REPORT_ROLES },
        schema: {
          tags: ['reports'],
          summary: 'Settlement reconciliation: captured − refunded = settled per completed order, mismatches listed',
          querystring: z.object(periodQuery),
          response: { 200: REPORT_BODY, ...problems(400, 401, 403, 503) },
        },
      },
      async (request, reply) => {
        const { from, to } = period(request.query);
        const rows = await deps.orm.em
          .fork()
          .execute<
            { order_id: string; captured: number; refunded: number; net: number; paid: string; refunds: string }[]
          >(
            `select s.order_id, s.captured, s.refunded, s.net,
                  coalesce((select sum(p.captured_amount) from payments p where p.order_id = s.order_id), 0)::bigint as paid,
                  coalesce((select sum(p.refunded_amount) from payments p where p.order_id = s.order_id), 0)::bigint
                    as refunds
             from settlements s where s.settled_at >= ? and s.settled_at < ? order by s.settled_at, s.order_id`,
            [from, to],
          );
        const items = rows.map((row) => {
          const reasons = [
            ...(row.captured - row.refunded !== row.net ? ['net is not captured - refunded'] : []),
            ...(num(row.paid) !== row.captured ? ['captured differs from the payments'] : []),
            ...(num(row.refunds) !== row.refunded ? ['refunded differs from the payments'] : []),
          ];
          return {
            orderId: row.order_id,
            captured: row.captured,
            refunded: row.refunded,
            settled: row.net,
            paymentsCaptured: num(row.paid),
            paymentsRefunded: num(row.refunds),
            mismatch: reasons.join('; '),
          };
        });
        const mismatches = items.filter((i) => i.mismatch);
        return answer(reply, request.query.format, 'settlement', items, {
          from: from.toISOString(),
          to: to.toISOString(),
          settled: items.length,
          captured: items.reduce((s, i) => s + i.captured, 0),
          refunded: items.reduce((s, i) => s + i.refunded, 0),
          net: items.reduce((s, i) => s + i.settled, 0),
          mismatches,
          items,
        });
      },
    );
  };
}
