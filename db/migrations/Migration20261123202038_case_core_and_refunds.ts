import { Migration } from '@mikro-orm/migrations';

export class Migration20261123202038_case_core_and_refunds extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "case_history" ("id" bigserial primary key, "case_type" text not null, "case_id" text not null, "seq" int not null, "from_status" text null, "to_status" text not null, "actor" text not null, "reason" text null, "at" timestamptz not null default now());`,
    );
    this.addSql(
      `alter table "case_history" add constraint "case_history_case_type_case_id_seq_unique" unique ("case_type", "case_id", "seq");`,
    );

    this.addSql(
      `create table "customer_balance_ledger" ("id" bigserial primary key, "customer_id" text not null, "amount" int not null, "currency" char(3) not null, "kind" text not null, "reference" text not null, "created_at" timestamptz not null default now());`,
    );
    this.addSql(
      `alter table "customer_balance_ledger" add constraint "customer_balance_ledger_reference_unique" unique ("reference");`,
    );

    this.addSql(
      `create table "refunds" ("id" text not null, "order_id" text not null, "customer_id" text not null, "payment_id" text null, "amount" int not null, "currency" char(3) not null, "reason" text not null, "origin" text not null, "status" text not null, "channel" text not null default 'original', "requested_by" text not null, "requested_role" text not null, "approver" text not null, "decided_by" text null, "decision" text null, "reject_reason" text null, "note" text null, "lines" jsonb null, "include_shipping" boolean not null default false, "claimed" boolean not null default false, "provider_refund_id" text null, "refunded_at" timestamptz null, "needs_attention" boolean not null default false, "attention_reason" text null, "escalation_level" int not null default 0, "sla_deadline" timestamptz null, "snapshot_version" int not null default 0, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "refunds_pkey" primary key ("id"), constraint refunds_amount_check check (amount > 0));`,
    );
    this.addSql(`create index "refunds_order_id_index" on "refunds" ("order_id");`);
    this.addSql(`create index "refunds_status_created_at_index" on "refunds" ("status", "created_at");`);

    this.addSql(
      `insert into "case_history" ("case_type", "case_id", "seq", "from_status", "to_status", "actor", "reason", "at")
       select 'order', "order_id", "seq", "from_status", "to_status", "actor", "reason", "at" from "order_status_history"
       order by "id";`,
    );
    this.addSql(`drop table if exists "order_status_history" cascade;`);

    this.addSql(`alter table "notification_outbox" add column "case_type" text null, add column "case_id" text null;`);
    this.addSql(
      `update "notification_outbox" set "case_type" = 'order', "case_id" = "order_id" where "order_id" is not null;`,
    );

    this.addSql(`alter table "payments" add column "refund_claimed" int not null default 0;`);
    // Money refunded before refunds had rows of their own becomes one refund per payment, so the order's refunded
    // total (now summed from refunds) stays what it was and new claims see what is left. Only the order's own refunds
    // existed: a cancel, a replaced (duplicate) payment, or a transfer's excess.
    this.addSql(
      `insert into "refunds" ("id", "order_id", "customer_id", "payment_id", "amount", "currency", "reason", "origin",
         "status", "requested_by", "requested_role", "approver", "claimed", "refunded_at", "created_at", "updated_at")
       select 'legacy-' || p."id", p."order_id", o."customer_id", p."id", p."refunded_amount", p."currency",
         case when o."status" = 'CANCELLED' then 'order_cancelled'
              when p."refunded_amount" = p."captured_amount" then 'duplicate_payment'
              else 'wrong_amount' end,
         'order', 'REFUNDED', 'system', 'system', 'system', true, p."updated_at", p."updated_at", p."updated_at"
       from "payments" p join "orders" o on o."id" = p."order_id"
       where p."refunded_amount" > 0;`,
    );
    this.addSql(`update "payments" set "refund_claimed" = "refunded_amount";`);
    this.addSql(
      `alter table "payments" add constraint payments_refund_claimed_check check(refund_claimed >= 0 and refund_claimed <= captured_amount);`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(
      `create table "order_status_history" ("id" serial primary key, "order_id" text not null, "seq" int4 not null, "from_status" text null, "to_status" text not null, "actor" text not null, "reason" text null, "at" timestamptz(6) not null default now());`,
    );
    this.addSql(
      `alter table "order_status_history" add constraint "order_status_history_order_id_seq_unique" unique ("order_id", "seq");`,
    );
    this.addSql(
      `insert into "order_status_history" ("order_id", "seq", "from_status", "to_status", "actor", "reason", "at")
       select "case_id", "seq", "from_status", "to_status", "actor", "reason", "at" from "case_history"
       where "case_type" = 'order' order by "id";`,
    );

    this.addSql(`drop table if exists "case_history" cascade;`);

    this.addSql(`drop table if exists "customer_balance_ledger" cascade;`);

    this.addSql(`drop table if exists "refunds" cascade;`);

    this.addSql(`alter table "notification_outbox" drop column "case_type", drop column "case_id";`);

    this.addSql(`alter table "payments" drop constraint payments_refund_claimed_check;`);
    this.addSql(`alter table "payments" drop column "refund_claimed";`);
  }
}
