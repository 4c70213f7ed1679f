import type { MikroORM } from '@mikro-orm/postgresql';
import { Gauge, type Registry } from 'prom-client';
import { CASE_TABLES } from './records';

/**
 * The business as Prometheus sees it, read from PostgreSQL at each scrape, so the figures hold whichever worker did
 * the work: cases by type and status (started = all of them; completed = the ended statuses, by outcome), payment
 * attempts and their success rate, refunds waiting for approval, SLA breaches by case type, and stock at or below
 * its low-stock threshold.
 */
export function registerBusinessMetrics(registry: Registry, orm: MikroORM, paymentWindowMs: number): void {
  if (registry.getSingleMetric('cases')) return;
  const query = <R extends object>(sql: string, params: unknown[] = []) => orm.em.fork().execute<R[]>(sql, params);

  new Gauge({
    name: 'cases',
    help: 'Cases by type and status: every case started, where it stands or how it ended (and a return or complaint’s outcome)',
    labelNames: ['case_type', 'status', 'outcome'] as const,
    registers: [registry],
    async collect() {
      const rows = await query<{ case_type: string; status: string; outcome: string | null; n: number }>(
        Object.entries(CASE_TABLES)
          .map(
            ([type, table]) =>
              `select '${type}' as case_type, status, ${
                type === 'return' || type === 'complaint' ? 'outcome' : 'null::text as outcome'
              }, count(*)::int as n from ${table} group by 2, 3`,
          )
          .join(' union all '),
      );
      this.reset();
      for (const { case_type, status, outcome, n } of rows) this.set({ case_type, status, outcome: outcome ?? '' }, n);
    },
  });

  new Gauge({
    name: 'payments',
    help: 'Payments by method and status (DECLINED: refused by the gateway)',
    labelNames: ['method', 'status'] as const,
    registers: [registry],
    async collect() {
      const rows = await query<{ method: string; status: string; n: number }>(
        'select method, status, count(*)::int as n from payments group by 1, 2',
      );
      this.reset();
      for (const { method, status, n } of rows) this.set({ method, status }, n);
    },
  });

  new Gauge({
    name: 'payment_success_ratio',
    help:
      `Share of the payments of the last ${paymentWindowMs / 3_600_000} h the gateway did not decline, among ` +
      'those it answered (the business target is 0.95 or more; 1 when there were none)',
    registers: [registry],
    async collect() {
      const [row] = await query<{ answered: number; declined: number }>(
        `select count(*) filter (where status not in ('NONE', 'AWAITING_TRANSFER', 'COD_PENDING'))::int as answered,
                count(*) filter (where status = 'DECLINED')::int as declined
           from payments where created_at > now() - make_interval(secs => ?::double precision / 1000)`,
        [paymentWindowMs],
      );
      const answered = row?.answered ?? 0;
      this.set(answered === 0 ? 1 : (answered - (row?.declined ?? 0)) / answered);
    },
  });

  new Gauge({
    name: 'refunds_pending_approval',
    help: 'Refunds waiting for an agent or a supervisor to decide, by who decides',
    labelNames: ['approver'] as const,
    registers: [registry],
    async collect() {
      const rows = await query<{ approver: string; n: number }>(
        `select approver, count(*)::int as n from refunds where status = 'PENDING_APPROVAL' group by 1`,
      );
      this.reset();
      this.set({ approver: 'agent' }, 0);
      this.set({ approver: 'supervisor' }, 0);
      for (const { approver, n } of rows) this.set({ approver }, n);
    },
  });

  new Gauge({
    name: 'sla_breaches',
    help: 'SLA breaches escalated so far, by case type (an order’s review, a refund or return’s approval, a complaint’s response or resolution)',
    labelNames: ['case_type'] as const,
    registers: [registry],
    async collect() {
      const rows = await query<{ case_type: string; n: number }>(
        `select object_type as case_type, count(*)::int as n from audit_log
          where action in ('order.review_escalated', 'refund.escalated', 'return.escalated', 'complaint.escalated')
          group by 1`,
      );
      this.reset();
      for (const type of Object.keys(CASE_TABLES)) this.set({ case_type: type }, 0);
      for (const { case_type, n } of rows) this.set({ case_type }, n);
    },
  });

  new Gauge({
    name: 'stock_low',
    help: 'Stock levels whose available units (on hand less reserved) are at or below their low-stock threshold, by warehouse',
    labelNames: ['warehouse'] as const,
    registers: [registry],
    async collect() {
      const rows = await query<{ warehouse: string; n: number }>(
        `select warehouse_code as warehouse, count(*) filter (where on_hand - reserved <= low_stock_threshold)::int as n
           from stock_levels group by 1`,
      );
      this.reset();
      for (const { warehouse, n } of rows) this.set({ warehouse }, n);
    },
  });
}
