import { MikroORM } from '@mikro-orm/postgresql';
import { ormConfig } from './mikro-orm.config';

/** Connects and applies pending migrations. Callers fork `orm.em` per unit of work (global context is off). */
export async function openOrm(url: string): Promise<MikroORM> {
  const orm = await MikroORM.init(ormConfig(url));
  try {
    await orm.migrator.up();
  } catch (error) {
    await orm.close(true);
    throw error;
  }
  return orm;
}
