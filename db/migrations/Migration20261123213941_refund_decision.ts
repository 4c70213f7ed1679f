import { Migration } from '@mikro-orm/migrations';

export class Migration20261123213941_refund_decision extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "refunds" add column "decided_role" text null, add column "decision_id" text null, add column "decision_reason" text null, add column "decided_at" timestamptz null;`,
    );
    // Decisions taken before the row kept them are read back as the API's reader did until now: from the first
    // carried-out audit row of the decider's action (`refund.approve` or `refund.reject`), at the time the refund left
    // PENDING_APPROVAL. One whose audit row names no decision id stays without, as it showed none before either.
    this.addSql(
      `with "decided" as (
         select distinct on (r."id") r."id", a."role", a."detail"->>'decisionId' as "decision_id",
           case when r."decision" = 'reject' then r."reject_reason" else a."detail"->>'reason' end as "reason",
           coalesce((select h."at" from "case_history" h
                      where h."case_type" = 'refund' and h."case_id" = r."id" and h."from_status" = 'PENDING_APPROVAL'
                      order by h."seq" limit 1), a."at") as "at"
           from "refunds" r
           join "audit_log" a on a."object_type" = 'refund' and a."object_id" = r."id"
             and a."action" = 'refund.' || r."decision" and a."principal" = r."decided_by" and a."result" = 'ok'
          order by r."id", a."id"
       )
       update "refunds" r
          set "decided_role" = d."role", "decision_id" = d."decision_id", "decision_reason" = d."reason",
              "decided_at" = d."at"
         from "decided" d where d."id" = r."id" and d."decision_id" is not null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(
      `alter table "refunds" drop column "decided_role", drop column "decision_id", drop column "decision_reason", drop column "decided_at";`,
    );
  }
}
