import { Pool } from 'pg';
import type { Config } from '../config';
import { parseQuietHours } from '../domain/notification';
import type { MessageSender, NotificationChannel } from '../domain/ports';
import { Dispatcher } from './dispatcher';
import { inAppSender, staffSender } from './inboxes';
import { renderNotification } from './templates';

/**
 * The outbox dispatcher as the worker runs it (NOTIFY_DISPATCHER): the channel providers that leave the engine
 * (`senders`: email, SMS, push), the in-app and staff inboxes in PostgreSQL, and the templates in each customer's
 * language. Started with the worker, stopped before it.
 */
export function startDispatcher(
  config: Config,
  databaseUrl: string,
  senders: Partial<Record<NotificationChannel, MessageSender>>,
  log: (message: string, detail?: Record<string, unknown>) => void = () => undefined,
): { stop(): Promise<void> } {
  if (!config.NOTIFY_DISPATCHER) return { stop: async () => undefined };
  const pool = new Pool({ connectionString: databaseUrl, max: config.NOTIFY_CONCURRENCY + 2 });
  const dispatcher = new Dispatcher({
    pool,
    senders: { ...senders, in_app: inAppSender(pool), staff: staffSender(pool) },
    render: (row, recipient) =>
      renderNotification(row.template, row.channel, row.payload, {
        locale: recipient?.locale ?? config.NOTIFY_STAFF_LOCALE,
        customerName: recipient?.name,
        timeZone: recipient?.timezone,
        linkBase: config.NOTIFY_LINK_BASE,
        opsBase: config.publicUrl,
      }),
    batchSize: config.NOTIFY_BATCH_SIZE,
    concurrency: config.NOTIFY_CONCURRENCY,
    leaseMs: config.NOTIFY_LEASE,
    pollMs: config.NOTIFY_POLL_INTERVAL,
    retry: { baseMs: config.NOTIFY_RETRY_BASE, maxMs: config.NOTIFY_RETRY_MAX },
    maxAttempts: config.NOTIFY_MAX_ATTEMPTS,
    quietHours: parseQuietHours(config.NOTIFY_QUIET_HOURS),
    log,
  });
  dispatcher.start();
  return {
    async stop() {
      await dispatcher.stop();
      await pool.end();
    },
  };
}
