import { Migration } from '@mikro-orm/migrations';

const CASE_TABLES = ['orders', 'refunds', 'returns', 'complaints'];

export class Migration20261124043346_ops_attention extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "case_notes" ("id" bigserial primary key, "case_type" text not null, "case_id" text not null, "author" text not null, "role" text not null, "text" text not null, "created_at" timestamptz not null default now());`,
    );
    this.addSql(
      `create index "case_notes_case_type_case_id_created_at_index" on "case_notes" ("case_type", "case_id", "created_at");`,
    );

    this.addSql(`alter table "complaints" add column "attention_since" timestamptz null;`);

    this.addSql(`alter table "orders" add column "attention_since" timestamptz null;`);

    this.addSql(`alter table "refunds" add column "attention_since" timestamptz null;`);

    this.addSql(`alter table "returns" add column "attention_since" timestamptz null;`);

    // Since when each case has needed a person: set when its snapshot first says so, kept while it does, cleared
    // after, whichever activity writes the snapshot. Cases flagged already count from now.
    this.addSql(
      `create function case_attention_since() returns trigger language plpgsql as $$
       begin
         if new.needs_attention then
           new.attention_since := coalesce(new.attention_since, now());
         else
           new.attention_since := null;
         end if;
         return new;
       end $$;`,
    );
    for (const table of CASE_TABLES) {
      this.addSql(
        `create trigger "${table}_attention_since" before insert or update of needs_attention on "${table}"
           for each row execute function case_attention_since();`,
      );
      this.addSql(`update "${table}" set attention_since = now() where needs_attention;`);
    }
  }

  override async down(): Promise<void> {
    for (const table of CASE_TABLES) this.addSql(`drop trigger if exists "${table}_attention_since" on "${table}";`);
    this.addSql(`drop function if exists case_attention_since();`);
    this.addSql(`drop table if exists "case_notes" cascade;`);

    this.addSql(`alter table "complaints" drop column "attention_since";`);

    this.addSql(`alter table "orders" drop column "attention_since";`);

    this.addSql(`alter table "refunds" drop column "attention_since";`);

    this.addSql(`alter table "returns" drop column "attention_since";`);
  }
}
