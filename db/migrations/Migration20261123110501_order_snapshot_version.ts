import { Migration } from '@mikro-orm/migrations';

export class Migration20261123110501_order_snapshot_version extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "orders" add column "snapshot_version" int not null default 0;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "orders" drop column "snapshot_version";`);
  }
}
