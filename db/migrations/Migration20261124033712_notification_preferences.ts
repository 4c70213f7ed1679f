import { Migration } from '@mikro-orm/migrations';

export class Migration20261124033712_notification_preferences extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "notification_preferences" ("customer_id" text not null, "category" text check ("category" in ('order', 'payment', 'logistics', 'after_sales', 'promotions')) not null, "channels" jsonb not null, "frequency" text check ("frequency" in ('realtime', 'daily', 'weekly')) not null, "updated_at" timestamptz not null default now(), "updated_by" text not null, constraint "notification_preferences_pkey" primary key ("customer_id", "category"));`,
    );

    this.addSql(
      `alter table "customers" add constraint "customers_notify_frequency_check" check("notify_frequency" in ('realtime', 'daily', 'weekly'));`,
    );

    this.addSql(
      `alter table "notification_outbox" add column "digest" text check ("digest" in ('daily', 'weekly')) null, add column "digest_key" text null;`,
    );
    this.addSql(
      `create index "notification_outbox_status_digest_customer_id_index" on "notification_outbox" ("status", "digest", "customer_id");`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "notification_preferences" cascade;`);

    this.addSql(`alter table "customers" drop constraint if exists "customers_notify_frequency_check";`);

    this.addSql(`alter table "customers" alter column "notify_frequency" type text using ("notify_frequency"::text);`);

    this.addSql(`drop index "notification_outbox_status_digest_customer_id_index";`);
    this.addSql(`alter table "notification_outbox" drop column "digest", drop column "digest_key";`);
  }
}
