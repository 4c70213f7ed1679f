import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CUSTOMER_CHANNELS,
  defaultPreference,
  LOCALES,
  NOTIFICATION_CATEGORIES,
  NOTIFICATION_FREQUENCIES,
  type CategoryPreference,
  type CustomerChannel,
  type Locale,
  type NotificationCategory,
  type NotificationFrequency,
} from '../../domain/notification';
import type { ApiDeps } from '../app';
import { actorOf } from '../auth';
import { auditedWork } from '../cases';
import { Problem } from '../problems';
import { isoTime } from '../records';
import { CUSTOMER_PREFERENCE_ROLES } from '../roles';
import { problems } from '../schemas';

/**
 * What each customer hears (NOT-2): per category, the channels (none: nothing) and the frequency; and the language
 * and time zone their messages are written in and their quiet hours kept by. A change applies to the next message;
 * those already written (held for a digest, or sent) stay as they are.
 */

const customerParams = z.object({ customerId: z.string().trim().min(1).max(64) });

const channelsSchema = z
  .array(z.enum(CUSTOMER_CHANNELS))
  .max(CUSTOMER_CHANNELS.length)
  .refine((channels) => new Set(channels).size === channels.length, 'must not repeat a channel')
  .describe('Where the category’s messages go; empty for none');

const categoryBody = z.object({
  channels: channelsSchema,
  frequency: z
    .enum(NOTIFICATION_FREQUENCIES)
    .describe(
      'realtime: each message as it happens; daily / weekly: one digest per channel at the digest hour of the ' +
        'customer’s day (a payment due, a cancelled or failed order still go at once)',
    ),
});

/** A time zone Intl knows (IANA, e.g. Asia/Shanghai, Europe/Berlin, UTC). */
const timeZoneSchema = z
  .string()
  .min(1)
  .max(64)
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone, e.g. Asia/Shanghai')
  .describe('The customer’s time zone: digests and quiet hours follow its clock');

const putBody = z
  .object({
    categories: z
      .partialRecord(z.enum(NOTIFICATION_CATEGORIES), categoryBody)
      .optional()
      .describe('The categories to change; those left out stay as they are'),
    locale: z.enum(LOCALES).optional().describe('The language messages are written in'),
    timeZone: timeZoneSchema.optional(),
  })
  .strict()
  .refine((body) => Object.keys(body.categories ?? {}).length > 0 || body.locale || body.timeZone, {
    message: 'name at least one category, the locale or the time zone',
    // Only of a body otherwise valid: one naming an unknown category alone is wrong for that reason only.
    when: (payload) => payload.issues.length === 0,
  });

const categoryView = categoryBody.extend({
  chosen: z.boolean().describe('Whether the customer chose it; else it follows the channels they signed up with'),
  updatedAt: z.string().optional(),
  updatedBy: z.string().optional(),
});

const preferencesSchema = z
  .object({
    customerId: z.string(),
    locale: z.enum(LOCALES),
    timeZone: z.string(),
    categories: z.object(
      Object.fromEntries(NOTIFICATION_CATEGORIES.map((category) => [category, categoryView])) as Record<
        NotificationCategory,
        typeof categoryView
      >,
    ),
  })
  .meta({ id: 'NotificationPreferences' });
type Preferences = z.infer<typeof preferencesSchema>;

interface CustomerRow {
  locale: Locale;
  timezone: string;
  notify_channels: string[];
  notify_frequency: NotificationFrequency;
}

interface PreferenceRow {
  category: NotificationCategory;
  channels: CustomerChannel[];
  frequency: NotificationFrequency;
  updated_at: string;
  updated_by: string;
}

async function preferencesOf(em: EntityManager, customerId: string): Promise<Preferences> {
  const [customer] = await em.execute<CustomerRow[]>(
    'select locale, timezone, notify_channels, notify_frequency from customers where id = ?',
    [customerId],
  );
  if (!customer) throw new Problem('not-found', `no customer ${customerId}`);
  const chosen = new Map(
    (
      await em.execute<PreferenceRow[]>(
        `select category, channels, frequency, updated_at, updated_by from notification_preferences
          where customer_id = ?`,
        [customerId],
      )
    ).map((row) => [row.category, row]),
  );
  const categories = Object.fromEntries(
    NOTIFICATION_CATEGORIES.map((category) => {
      const row = chosen.get(category);
      const preference: CategoryPreference = row
        ? { channels: row.channels, frequency: row.frequency }
        : defaultPreference(category, customer.notify_channels, customer.notify_frequency);
      return [
        category,
        {
          ...preference,
          chosen: Boolean(row),
          ...(row ? { updatedAt: isoTime(row.updated_at), updatedBy: row.updated_by } : {}),
        },
      ];
    }),
  ) as Preferences['categories'];
  return { customerId, locale: customer.locale, timeZone: customer.timezone, categories };
}

/** Channels chosen that the customer has no address for: email without an email address, SMS without a phone. */
function unreachableChannels(
  categories: Partial<Record<NotificationCategory, { channels: CustomerChannel[] }>>,
  customer: { email: string | null; phone: string | null },
): { field: string; reason: string }[] {
  const missing: Partial<Record<CustomerChannel, string>> = {
    ...(customer.email ? {} : { email: 'the customer has no email address' }),
    ...(customer.phone ? {} : { sms: 'the customer has no phone number' }),
  };
  return Object.entries(categories).flatMap(([category, { channels }]) =>
    channels.flatMap((channel, i) => {
      const reason = missing[channel];
      return reason ? [{ field: `categories.${category}.channels[${i}]`, reason }] : [];
    }),
  );
}

export function preferenceRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/customers/:customerId/notification-preferences',
      {
        config: { roles: CUSTOMER_PREFERENCE_ROLES },
        schema: {
          tags: ['notifications'],
          summary: 'What the customer hears of each category, on which channels and how often',
          params: customerParams,
          response: { 200: preferencesSchema, ...problems(400, 401, 403, 404, 503) },
        },
      },
      async (request) => preferencesOf(deps.orm.em.fork(), request.params.customerId),
    );

    app.put(
      '/v1/customers/:customerId/notification-preferences',
      {
        config: { roles: CUSTOMER_PREFERENCE_ROLES },
        schema: {
          tags: ['notifications'],
          summary: 'Change the channels and frequency of some categories, the language or the time zone',
          description:
            'Categories left out stay as they are. The next message follows the change; messages already held for ' +
            'a digest go out in it. Choosing email for a customer without an email address, or SMS without a ' +
            'phone number, is a 422.',
          params: customerParams,
          body: putBody,
          response: { 200: preferencesSchema, ...problems(400, 401, 403, 404, 422, 503) },
        },
      },
      async (request) => {
        const { customerId } = request.params;
        const { categories = {}, locale, timeZone } = request.body;
        const em = deps.orm.em.fork();
        const { principal } = actorOf(request);
        return auditedWork(
          request,
          em,
          {
            action: 'notification_preferences.put',
            objectType: 'customer',
            objectId: customerId,
            detail: { categories, locale, timeZone },
          },
          () =>
            em.transactional(async (tx) => {
              const [customer] = await tx.execute<{ email: string | null; phone: string | null }[]>(
                `update customers set locale = coalesce(?, locale), timezone = coalesce(?, timezone)
                  where id = ? returning email, phone`,
                [locale ?? null, timeZone ?? null, customerId],
              );
              if (!customer) throw new Problem('not-found', `no customer ${customerId}`);
              const unreachable = unreachableChannels(categories, customer);
              if (unreachable.length > 0) {
                throw new Problem(
                  'rule-violation',
                  `customer ${customerId} cannot be reached on every channel chosen`,
                  unreachable,
                );
              }
              for (const [category, preference] of Object.entries(categories)) {
                await tx.execute(
                  `insert into notification_preferences (customer_id, category, channels, frequency, updated_by)
                   values (?, ?, ?::jsonb, ?, ?)
                   on conflict (customer_id, category) do update set channels = excluded.channels,
                     frequency = excluded.frequency, updated_at = now(), updated_by = excluded.updated_by`,
                  [customerId, category, JSON.stringify(preference.channels), preference.frequency, principal],
                );
              }
              return preferencesOf(tx, customerId);
            }),
        );
      },
    );
  };
}
