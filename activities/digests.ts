import type { EntityManager } from '@mikro-orm/postgresql';
import { digestPeriod, type DigestTime } from '../domain/notification';
import type { DigestActivities } from './types';

/** Where a customer without a (known) time zone is taken to live, as the templates show their times. */
const FALLBACK_TIME_ZONE = 'Asia/Shanghai';

interface HeldRow {
  id: number;
  customer_id: string;
  channel: string;
  template: string;
  payload: Record<string, unknown>;
  created_at: Date;
  timezone: string | null;
}

function periodOf(at: Date, timeZone: string | null, frequency: 'daily' | 'weekly', time: DigestTime) {
  try {
    return digestPeriod(at, timeZone ?? FALLBACK_TIME_ZONE, frequency, time);
  } catch {
    // A time zone Intl does not know: the period is the fallback zone's.
    return digestPeriod(at, FALLBACK_TIME_ZONE, frequency, time);
  }
}

export function digestActivities(fork: () => EntityManager): DigestActivities {
  return {
    /**
     * One transaction: the held rows of periods that have ended become one `digest.<frequency>` row per customer and
     * channel, and are marked digested with its key. A retry (or a run that overlaps) finds them digested or locked;
     * a period's rows that came late (after its digest) go in a digest of their own, keyed by its first row.
     */
    async collectDigests({ frequency, at, hour, weekday }) {
      const now = new Date(at);
      return fork().transactional(async (em) => {
        const held: HeldRow[] = await em.execute(
          `select o.id, o.customer_id, o.channel, o.template, o.payload, o.created_at, c.timezone
             from notification_outbox o left join customers c on c.id = o.customer_id
            where o.status = 'held' and o.digest = ? and o.created_at < ?
            order by o.customer_id, o.channel, o.created_at, o.id
              for update of o skip locked`,
          [frequency, now],
        );
        const groups = new Map<string, HeldRow[]>();
        for (const row of held) {
          const key = `${row.customer_id}\u0000${row.channel}`;
          groups.set(key, [...(groups.get(key) ?? []), row]);
        }
        let digests = 0;
        let messages = 0;
        for (const rows of groups.values()) {
          const period = periodOf(now, rows[0].timezone, frequency, { hour, weekday });
          const due = rows.filter((row) => new Date(row.created_at) < period.to);
          if (due.length === 0) continue;
          const { customer_id: customerId, channel } = due[0];
          const digestKey = `digest:${frequency}:${customerId}:${channel}:${period.to.toISOString()}:${due[0].id}`;
          await em.execute(
            `insert into notification_outbox (dedupe_key, customer_id, channel, template, payload)
             values (?, ?, ?, ?, ?::jsonb) on conflict (dedupe_key) do nothing`,
            [
              digestKey,
              customerId,
              channel,
              `digest.${frequency}`,
              JSON.stringify({
                period: { from: period.from.toISOString(), to: period.to.toISOString() },
                items: due.map((row) => ({
                  template: row.template,
                  payload: row.payload,
                  at: new Date(row.created_at).toISOString(),
                })),
              }),
            ],
          );
          await em.execute(
            `update notification_outbox set status = 'digested', digest_key = ? where id in (?) and status = 'held'`,
            [digestKey, due.map((row) => row.id)],
          );
          digests += 1;
          messages += due.length;
        }
        return { digests, messages };
      });
    },
  };
}
