import { Migration } from '@mikro-orm/migrations';

export class Migration20261123092759_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "audit_log" ("id" bigserial primary key, "at" timestamptz not null default now(), "principal" text not null, "role" text not null, "action" text not null, "object_type" text not null, "object_id" text not null, "result" text not null, "detail" jsonb null, "ip" text null);`,
    );
    this.addSql(`create index "audit_log_at_index" on "audit_log" ("at");`);
    this.addSql(`create index "audit_log_object_type_object_id_index" on "audit_log" ("object_type", "object_id");`);

    this.addSql(
      `create table "customers" ("id" text not null, "name" text not null, "email" text null, "phone" text null, "notify_channels" jsonb not null default '["email"]', "notify_frequency" text not null default 'realtime', "created_at" timestamptz not null default now(), constraint "customers_pkey" primary key ("id"));`,
    );

    this.addSql(
      `create table "notification_outbox" ("id" serial primary key, "dedupe_key" text not null, "customer_id" text not null, "order_id" text null, "channel" text not null, "template" text not null, "payload" jsonb not null, "status" text not null default 'pending', "attempts" int not null default 0, "created_at" timestamptz not null default now(), "sent_at" timestamptz null);`,
    );
    this.addSql(
      `alter table "notification_outbox" add constraint "notification_outbox_dedupe_key_unique" unique ("dedupe_key");`,
    );
    this.addSql(`create index "notification_outbox_status_index" on "notification_outbox" ("status");`);

    this.addSql(
      `create table "orders" ("id" text not null, "customer_id" text not null, "channel" text not null, "status" text not null, "currency" char(3) not null, "subtotal" int not null, "shipping" int not null, "total" int not null, "captured_amount" int not null default 0, "refunded_amount" int not null default 0, "payment_method" text not null, "shipping_address" jsonb not null, "needs_attention" boolean not null default false, "attention_reason" text null, "cancel_reason" text null, "edits" int not null default 0, "request_hash" text not null, "placed_at" timestamptz not null, "updated_at" timestamptz not null default now(), "completed_at" timestamptz null, constraint "orders_pkey" primary key ("id"), constraint orders_refunded_le_captured_check check (refunded_amount <= captured_amount));`,
    );
    this.addSql(`create index "orders_customer_id_index" on "orders" ("customer_id");`);
    this.addSql(`create index "orders_channel_index" on "orders" ("channel");`);
    this.addSql(`create index "orders_status_index" on "orders" ("status");`);
    this.addSql(`create index "orders_placed_at_index" on "orders" ("placed_at");`);

    this.addSql(
      `create table "order_lines" ("id" serial primary key, "order_id" text not null, "sku" text not null, "name" text not null, "quantity" int not null, "unit_price" int not null, "line_total" int not null);`,
    );
    this.addSql(`create index "order_lines_order_id_index" on "order_lines" ("order_id");`);

    this.addSql(
      `create table "order_status_history" ("id" serial primary key, "order_id" text not null, "seq" int not null, "from_status" text null, "to_status" text not null, "actor" text not null, "reason" text null, "at" timestamptz not null default now());`,
    );
    this.addSql(
      `alter table "order_status_history" add constraint "order_status_history_order_id_seq_unique" unique ("order_id", "seq");`,
    );

    this.addSql(
      `create table "payments" ("id" text not null, "order_id" text not null, "method" text not null, "status" text not null, "amount" int not null, "currency" char(3) not null, "captured_amount" int not null default 0, "refunded_amount" int not null default 0, "reference" text null, "decline_reason" text null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "payments_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "payments_order_id_index" on "payments" ("order_id");`);
    this.addSql(`alter table "payments" add constraint "payments_reference_unique" unique ("reference");`);

    this.addSql(
      `create table "products" ("sku" text not null, "name" text not null, "category" text not null, "brand" text not null, "price" int not null, "market_price" int not null, "currency" char(3) not null, "returnable" boolean not null default true, "active" boolean not null default true, "created_at" timestamptz not null default now(), constraint "products_pkey" primary key ("sku"));`,
    );

    this.addSql(
      `create table "reservations" ("id" serial primary key, "order_id" text not null, "warehouse_code" text not null, "sku" text not null, "quantity" int not null, "status" text not null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now());`,
    );
    this.addSql(`create index "reservations_order_id_index" on "reservations" ("order_id");`);
    this.addSql(
      `alter table "reservations" add constraint "reservations_order_id_warehouse_code_sku_unique" unique ("order_id", "warehouse_code", "sku");`,
    );

    this.addSql(
      `create table "settlements" ("id" serial primary key, "order_id" text not null, "currency" char(3) not null, "order_total" int not null, "captured" int not null, "refunded" int not null, "shipping" int not null, "net" int not null, "settled_at" timestamptz not null default now());`,
    );
    this.addSql(`alter table "settlements" add constraint "settlements_order_id_unique" unique ("order_id");`);

    this.addSql(
      `create table "shipments" ("id" text not null, "order_id" text not null, "warehouse_code" text not null, "carrier" text null, "waybill" text null, "status" text not null, "lines" jsonb not null, "address" jsonb not null, "exception" text null, "last_event_at" timestamptz null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "shipments_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "shipments_order_id_index" on "shipments" ("order_id");`);
    this.addSql(`alter table "shipments" add constraint "shipments_waybill_unique" unique ("waybill");`);

    this.addSql(
      `create table "stock_ledger" ("id" bigserial primary key, "warehouse_code" text not null, "sku" text not null, "delta" int not null, "reserved_delta" int not null default 0, "kind" text not null, "reason" text not null, "actor" text not null, "order_id" text null, "at" timestamptz not null default now());`,
    );
    this.addSql(`create index "stock_ledger_warehouse_code_sku_index" on "stock_ledger" ("warehouse_code", "sku");`);

    this.addSql(
      `create table "stock_levels" ("warehouse_code" text not null, "sku" text not null, "on_hand" int not null, "reserved" int not null default 0, "low_stock_threshold" int not null default 5, "updated_at" timestamptz not null default now(), constraint "stock_levels_pkey" primary key ("warehouse_code", "sku"), constraint stock_levels_on_hand_check check (on_hand >= 0), constraint stock_levels_reserved_check check (reserved >= 0), constraint stock_levels_reserved_le_on_hand_check check (reserved <= on_hand));`,
    );

    this.addSql(
      `create table "tracking_events" ("id" serial primary key, "shipment_id" text not null, "event_id" text not null, "type" text not null, "exception" text null, "occurred_at" timestamptz not null, "received_at" timestamptz not null default now(), "detail" text null);`,
    );
    this.addSql(`create index "tracking_events_shipment_id_index" on "tracking_events" ("shipment_id");`);
    this.addSql(`alter table "tracking_events" add constraint "tracking_events_event_id_unique" unique ("event_id");`);

    this.addSql(
      `create table "warehouses" ("code" text not null, "name" text not null, "city" text not null, "country" text not null, constraint "warehouses_pkey" primary key ("code"));`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "audit_log" cascade;`);

    this.addSql(`drop table if exists "customers" cascade;`);

    this.addSql(`drop table if exists "notification_outbox" cascade;`);

    this.addSql(`drop table if exists "orders" cascade;`);

    this.addSql(`drop table if exists "order_lines" cascade;`);

    this.addSql(`drop table if exists "order_status_history" cascade;`);

    this.addSql(`drop table if exists "payments" cascade;`);

    this.addSql(`drop table if exists "products" cascade;`);

    this.addSql(`drop table if exists "reservations" cascade;`);

    this.addSql(`drop table if exists "settlements" cascade;`);

    this.addSql(`drop table if exists "shipments" cascade;`);

    this.addSql(`drop table if exists "stock_ledger" cascade;`);

    this.addSql(`drop table if exists "stock_levels" cascade;`);

    this.addSql(`drop table if exists "tracking_events" cascade;`);

    this.addSql(`drop table if exists "warehouses" cascade;`);
  }
}
