import { Migration } from '@mikro-orm/migrations';

export class Migration20261124010000_complaints extends Migration {
  override async up(): Promise<void> {
    // VIP customers' complaints go to senior agents (CS-8).
    this.addSql(
      `alter table "customers" add column "level" text not null default 'regular', add constraint customers_level_check check (level in ('regular', 'vip'));`,
    );

    this.addSql(
      `create table "complaint_teams" ("id" text not null, "name" text not null, "categories" text[] not null, "supervisor" text null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "complaint_teams_pkey" primary key ("id"));`,
    );

    // An agent's id is their principal; `skills` narrows the team's categories for them, empty taking all of them.
    this.addSql(
      `create table "complaint_agents" ("id" text not null, "name" text not null, "team_id" text not null, "seniority" text not null default 'junior', "skills" text[] not null default '{}', "on_duty" boolean not null default false, "last_assigned_at" timestamptz null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "complaint_agents_pkey" primary key ("id"), constraint complaint_agents_seniority_check check (seniority in ('junior', 'senior')));`,
    );
    this.addSql(
      `alter table "complaint_agents" add constraint "complaint_agents_team_id_foreign" foreign key ("team_id") references "complaint_teams" ("id") on update cascade;`,
    );
    this.addSql(`create index "complaint_agents_team_id_index" on "complaint_agents" ("team_id");`);

    // The snapshot written by the complaint's workflow, and who has the case (`assignee`, `team_id`, `assigned_at`,
    // `assignment_op`), written only by the assignment activity.
    this.addSql(
      `create table "complaints" ("id" text not null, "customer_id" text not null, "order_id" text null, "channel" text not null, "category" text not null, "priority" text not null, "status" text not null, "target" text not null, "matter" text not null, "reason" text not null, "contact" jsonb not null, "currency" char(3) not null, "customer_level" text not null, "needs_senior" boolean not null, "assignee" text null, "team_id" text null, "assigned_at" timestamptz null, "assignment_op" text null, "first_response_at" timestamptz null, "first_response_deadline" timestamptz null, "resolution_deadline" timestamptz null, "sla_paused" boolean not null default false, "breaches" jsonb not null default '[]', "remedy" text null, "resolution" jsonb null, "accepted" boolean null, "rating" int null, "rating_comment" text null, "outcome" text null, "resolved_at" timestamptz null, "closed_at" timestamptz null, "reopen_count" int not null default 0, "timeline_count" int not null default 0, "runs" int not null default 1, "requested_by" text not null, "requested_role" text not null, "request_hash" text not null, "needs_attention" boolean not null default false, "attention_reason" text null, "escalation_level" int not null default 0, "sla_deadline" timestamptz null, "snapshot_version" int not null, "created_at" timestamptz not null, "updated_at" timestamptz not null default now(), constraint "complaints_pkey" primary key ("id"), constraint complaints_rating_check check (rating >= 1 and rating <= 5));`,
    );
    this.addSql(`create index "complaints_status_sla_deadline_index" on "complaints" ("status", "sla_deadline");`);
    // An agent's open complaints: what assignment counts.
    this.addSql(`create index "complaints_assignee_index" on "complaints" ("assignee") where status <> 'CLOSED';`);
    this.addSql(`create index "complaints_customer_id_index" on "complaints" ("customer_id");`);
    this.addSql(`create index "complaints_order_id_index" on "complaints" ("order_id");`);
    this.addSql(
      `create index "complaints_needs_attention_index" on "complaints" ("needs_attention") where needs_attention;`,
    );

    // Every timeline entry of every complaint; the snapshot keeps only the latest.
    this.addSql(
      `create table "complaint_entries" ("complaint_id" text not null, "seq" int not null, "kind" text not null, "at" timestamptz not null, "actor" text not null, "role" text not null, "text" text null, "internal" boolean not null, "detail" jsonb null, constraint "complaint_entries_pkey" primary key ("complaint_id", "seq"));`,
    );
    this.addSql(
      `alter table "complaint_entries" add constraint "complaint_entries_complaint_id_foreign" foreign key ("complaint_id") references "complaints" ("id") on update cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "complaint_entries" cascade;`);

    this.addSql(`drop table if exists "complaints" cascade;`);

    this.addSql(`drop table if exists "complaint_agents" cascade;`);

    this.addSql(`drop table if exists "complaint_teams" cascade;`);

    this.addSql(`alter table "customers" drop constraint customers_level_check;`);
    this.addSql(`alter table "customers" drop column "level";`);
  }
}
