import { Migration } from '@mikro-orm/migrations';

export class Migration20261123180410_payments_refunded_le_captured extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "payments" add constraint payments_refunded_le_captured_check check(refunded_amount <= captured_amount);`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "payments" drop constraint payments_refunded_le_captured_check;`);
  }
}
