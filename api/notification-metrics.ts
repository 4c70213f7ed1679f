import type { MikroORM } from '@mikro-orm/postgresql';
import { Gauge, type Registry } from 'prom-client';

/**
 * The outbox as Prometheus sees it, read from PostgreSQL at each scrape, so the figures hold whichever process (and
 * however many dispatchers) sent the messages: messages by channel and status, retried attempts by channel, and the
 * age of the oldest message still waiting to be sent.
 */
export function registerNotificationMetrics(registry: Registry, orm: MikroORM): void {
  if (registry.getSingleMetric('notification_outbox_messages')) return;
  const query = <R extends object>(sql: string) => orm.em.fork().execute<R[]>(sql);
  new Gauge({
    name: 'notification_outbox_messages',
    help: 'Notifications in the outbox by channel and status (pending, sending, sent, failed)',
    labelNames: ['channel', 'status'] as const,
    registers: [registry],
    async collect() {
      const rows = await query<{ channel: string; status: string; n: number }>(
        'select channel, status, count(*)::int as n from notification_outbox group by channel, status',
      );
      this.reset();
      for (const { channel, status, n } of rows) this.set({ channel, status }, n);
    },
  });
  new Gauge({
    name: 'notification_outbox_retries',
    help: 'Attempts beyond the first, by channel: how often sending had to be tried again',
    labelNames: ['channel'] as const,
    registers: [registry],
    async collect() {
      const rows = await query<{ channel: string; n: number }>(
        `select channel, coalesce(sum(greatest(attempts - 1, 0)), 0)::int as n from notification_outbox group by channel`,
      );
      this.reset();
      for (const { channel, n } of rows) this.set({ channel }, n);
    },
  });
  new Gauge({
    name: 'notification_outbox_oldest_pending_seconds',
    help: 'Age of the oldest notification not yet sent nor failed (0 when none waits)',
    registers: [registry],
    async collect() {
      const [row] = await query<{ age: number | null }>(
        `select extract(epoch from now() - min(created_at))::float as age
           from notification_outbox where status in ('pending', 'sending')`,
      );
      this.set(row?.age ?? 0);
    },
  });
}
