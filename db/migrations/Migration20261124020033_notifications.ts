import { Migration } from '@mikro-orm/migrations';

export class Migration20261124020033_notifications extends Migration {
  /**
   * The dispatcher's bookkeeping on the outbox (leases, retry times, errors, provider ids), the in-app and staff
   * inboxes, and the customer's language and time zone.
   */
  override async up(): Promise<void> {
    this.addSql(
      `create table "customer_messages" ("id" bigserial primary key, "dedupe_key" text not null, "customer_id" text not null, "template" text not null, "subject" text not null, "body" text not null, "link" text null, "created_at" timestamptz not null default now(), "read_at" timestamptz null);`,
    );
    this.addSql(
      `alter table "customer_messages" add constraint "customer_messages_dedupe_key_unique" unique ("dedupe_key");`,
    );
    this.addSql(
      `create index "customer_messages_customer_id_created_at_index" on "customer_messages" ("customer_id", "created_at");`,
    );

    this.addSql(
      `create table "staff_messages" ("id" bigserial primary key, "dedupe_key" text not null, "team" text not null, "case_type" text null, "case_id" text null, "topic" text not null, "subject" text not null, "body" text not null, "link" text null, "created_at" timestamptz not null default now(), "read_at" timestamptz null);`,
    );
    this.addSql(
      `alter table "staff_messages" add constraint "staff_messages_dedupe_key_unique" unique ("dedupe_key");`,
    );
    this.addSql(`create index "staff_messages_team_created_at_index" on "staff_messages" ("team", "created_at");`);

    this.addSql(
      `alter table "customers" add column "locale" text check ("locale" in ('zh-CN', 'en')) not null default 'zh-CN', add column "timezone" text not null default 'Asia/Shanghai';`,
    );

    this.addSql(
      `alter table "notification_outbox" add column "next_attempt_at" timestamptz not null default now(), add column "leased_until" timestamptz null, add column "lease_owner" text null, add column "last_error" text null, add column "provider_message_id" text null, add column "failed_at" timestamptz null;`,
    );
    this.addSql(
      `create index "notification_outbox_status_next_attempt_at_index" on "notification_outbox" ("status", "next_attempt_at");`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "customer_messages" cascade;`);

    this.addSql(`drop table if exists "staff_messages" cascade;`);

    this.addSql(`alter table "customers" drop column "locale", drop column "timezone";`);

    this.addSql(`drop index "notification_outbox_status_next_attempt_at_index";`);
    this.addSql(
      `alter table "notification_outbox" drop column "next_attempt_at", drop column "leased_until", drop column "lease_owner", drop column "last_error", drop column "provider_message_id", drop column "failed_at";`,
    );
  }
}
