import { Migration } from '@mikro-orm/migrations';

export class Migration20261123230000_returns extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "returns" ("id" text not null, "order_id" text not null, "customer_id" text not null, "currency" char(3) not null, "status" text not null, "reason" text not null, "type" text not null, "method" text not null, "failed_goods" text not null, "lines" jsonb not null, "evidence" jsonb null, "requested_by" text not null, "requested_role" text not null, "approver" text not null, "decided_by" text null, "decided_role" text null, "decision" text null, "decision_id" text null, "decision_reason" text null, "decided_at" timestamptz null, "reject_reason" text null, "outcome" text null, "waiting_on" text not null, "received_at" timestamptz null, "received_by" text null, "inspection" jsonb null, "refund_id" text null, "refund_amount" int null, "claimed" boolean not null default false, "needs_attention" boolean not null default false, "attention_reason" text null, "escalation_level" int not null default 0, "sla_deadline" timestamptz null, "snapshot_version" int not null default 0, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "returns_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "returns_order_id_index" on "returns" ("order_id");`);
    this.addSql(`create index "returns_status_created_at_index" on "returns" ("status", "created_at");`);

    this.addSql(
      `create table "return_lines" ("id" serial primary key, "return_id" text not null, "order_id" text not null, "sku" text not null, "quantity" int not null, "released" boolean not null default false, constraint return_lines_quantity_check check (quantity > 0));`,
    );
    this.addSql(
      `alter table "return_lines" add constraint "return_lines_return_id_sku_unique" unique ("return_id", "sku");`,
    );
    this.addSql(`create index "return_lines_order_id_sku_index" on "return_lines" ("order_id", "sku");`);

    // Every parcel booked so far carried an order's goods out to its customer.
    this.addSql(
      `alter table "shipments" add column "case_type" text not null default 'order', add column "case_id" text null, add column "direction" text not null default 'outbound', add column "purpose" text null, add column "label_url" text null;`,
    );
    this.addSql(`update "shipments" set "case_id" = "order_id";`);
    this.addSql(`alter table "shipments" alter column "case_id" set not null;`);
    this.addSql(
      `alter table "shipments" add constraint shipments_direction_check check (direction in ('outbound', 'return'));`,
    );
    this.addSql(
      `alter table "shipments" add constraint shipments_purpose_check check (purpose in ('return', 'replacement', 'send_back'));`,
    );
    this.addSql(`create index "shipments_case_type_case_id_index" on "shipments" ("case_type", "case_id");`);

    // A restock looks up the return's own movements before it moves anything.
    this.addSql(`create index "stock_ledger_order_id_index" on "stock_ledger" ("order_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "stock_ledger_order_id_index";`);

    // Without the case columns a return's parcels would read back as shipments of their order.
    this.addSql(`delete from "shipments" where "case_type" <> 'order';`);
    this.addSql(`drop index "shipments_case_type_case_id_index";`);
    this.addSql(`alter table "shipments" drop constraint shipments_direction_check;`);
    this.addSql(`alter table "shipments" drop constraint shipments_purpose_check;`);
    this.addSql(
      `alter table "shipments" drop column "case_type", drop column "case_id", drop column "direction", drop column "purpose", drop column "label_url";`,
    );

    this.addSql(`drop table if exists "return_lines" cascade;`);

    this.addSql(`drop table if exists "returns" cascade;`);
  }
}
