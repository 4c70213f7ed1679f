import type { Pool } from 'pg';
import type { Delivery, MessageSender } from '../domain/ports';

/**
 * The in-app inbox as a channel: each message is a row of `customer_messages`, stored once per idempotency key, and
 * listed to the customer's app at `GET /v1/customers/{id}/messages`.
 */
export function inAppSender(pool: Pool): MessageSender {
  return {
    channel: 'in_app',
    async send(delivery: Delivery) {
      const { rows } = await pool.query<{ id: string }>(
        `with inserted as (
           insert into customer_messages (dedupe_key, customer_id, template, subject, body, link)
           values ($1, $2, $3, $4, $5, $6) on conflict (dedupe_key) do nothing returning id)
         select id from inserted union all select id from customer_messages where dedupe_key = $1 limit 1`,
        [
          delivery.idempotencyKey,
          delivery.to,
          delivery.about?.template ?? 'message',
          delivery.subject,
          delivery.text,
          delivery.link ?? null,
        ],
      );
      return { providerMessageId: `inbox-${rows[0].id}` };
    },
  };
}

/** The staff inboxes as a channel: one row of `staff_messages` per message, in the team named by `to`. */
export function staffSender(pool: Pool): MessageSender {
  return {
    channel: 'staff',
    async send(delivery: Delivery) {
      const { caseType, caseId } = delivery.about ?? {};
      const topic = delivery.about?.topic ?? delivery.about?.template?.replace(/^staff\./, '') ?? 'message';
      const { rows } = await pool.query<{ id: string }>(
        `with inserted as (
           insert into staff_messages (dedupe_key, team, case_type, case_id, topic, subject, body, link)
           values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (dedupe_key) do nothing returning id)
         select id from inserted union all select id from staff_messages where dedupe_key = $1 limit 1`,
        [
          delivery.idempotencyKey,
          delivery.to,
          caseType ?? null,
          caseId ?? null,
          topic,
          delivery.subject,
          delivery.text,
          delivery.link ?? null,
        ],
      );
      return { providerMessageId: `staff-${rows[0].id}` };
    },
  };
}
