import type { EntityManager } from '@mikro-orm/postgresql';
import { config, type Config } from '../config';
import {
  COMPLAINT_CATEGORIES,
  type AgentSeniority,
  type ComplaintCategory,
  type CustomerLevel,
} from '../domain/complaint';
import {
  ComplaintAgentSchema,
  ComplaintTeamSchema,
  CustomerSchema,
  ProductSchema,
  StockLedgerEntrySchema,
  StockLevelSchema,
  WarehouseSchema,
  type NotifyChannel,
} from './entities';
import { openOrm } from './orm';
import { resolveDatabase } from './postgres';

/** Prices in CNY fen. */
export const DEMO_PRODUCTS = [
  {
    sku: 'PHN-XM14-256',
    name: 'Xiaomi 14 256GB Black',
    category: 'phones',
    brand: 'Xiaomi',
    price: 399_900,
    marketPrice: 429_900,
  },
  {
    sku: 'PHN-HWP60-256',
    name: 'Huawei P60 Pro 256GB',
    category: 'phones',
    brand: 'Huawei',
    price: 588_800,
    marketPrice: 698_800,
  },
  {
    sku: 'LAP-LNXX16-512',
    name: 'Lenovo Xiaoxin Pro 16 512GB',
    category: 'laptops',
    brand: 'Lenovo',
    price: 549_900,
    marketPrice: 599_900,
  },
  {
    sku: 'AUD-SONY-XM5',
    name: 'Sony WH-1000XM5 Headphones',
    category: 'audio',
    brand: 'Sony',
    price: 249_900,
    marketPrice: 299_900,
  },
  {
    sku: 'KIT-MIDEA-RC4L',
    name: 'Midea 4L Smart Rice Cooker',
    category: 'kitchen',
    brand: 'Midea',
    price: 29_900,
    marketPrice: 39_900,
  },
  {
    sku: 'HOM-XM-AP4',
    name: 'Xiaomi Air Purifier 4',
    category: 'home',
    brand: 'Xiaomi',
    price: 99_900,
    marketPrice: 129_900,
  },
  {
    sku: 'GRO-LJTEA-250',
    name: 'West Lake Longjing Tea 250g',
    category: 'grocery',
    brand: 'Xihu',
    price: 26_800,
    marketPrice: 32_800,
    returnable: false,
  },
  {
    sku: 'APP-LINING-RUN42',
    name: 'Li-Ning Red Rabbit 6 Running Shoes EU42',
    category: 'apparel',
    brand: 'Li-Ning',
    price: 59_900,
    marketPrice: 69_900,
  },
  {
    sku: 'BOK-3BODY-SET',
    name: 'The Three-Body Problem Trilogy (Boxed Set)',
    category: 'books',
    brand: 'Chongqing Publishing',
    price: 9_300,
    marketPrice: 9_300,
  },
  {
    sku: 'ACC-ANKER-USBC1M',
    name: 'Anker USB-C to USB-C Cable 1m',
    category: 'accessories',
    brand: 'Anker',
    price: 3_900,
    marketPrice: 4_900,
  },
] as const;

export const DEMO_SKUS = DEMO_PRODUCTS.map((product) => product.sku);

export const DEMO_WAREHOUSES = [
  { code: 'SH1', name: 'Shanghai Jiading DC', city: 'Shanghai', country: 'CN' },
  { code: 'BJ1', name: 'Beijing Daxing DC', city: 'Beijing', country: 'CN' },
  { code: 'GZ1', name: 'Guangzhou Baiyun DC', city: 'Guangzhou', country: 'CN' },
] as const;

/**
 * Laptops are only in BJ1, tea only in SH1 and running shoes only in GZ1, so an order mixing them
 * splits across warehouses. The headphones start below their low-stock threshold in SH1 and the air
 * purifier is sold out everywhere.
 */
export const DEMO_STOCK = [
  { warehouseCode: 'SH1', sku: 'PHN-XM14-256', onHand: 40 },
  { warehouseCode: 'SH1', sku: 'PHN-HWP60-256', onHand: 15 },
  { warehouseCode: 'SH1', sku: 'AUD-SONY-XM5', onHand: 3 },
  { warehouseCode: 'SH1', sku: 'KIT-MIDEA-RC4L', onHand: 60 },
  { warehouseCode: 'SH1', sku: 'GRO-LJTEA-250', onHand: 120 },
  { warehouseCode: 'SH1', sku: 'BOK-3BODY-SET', onHand: 200 },
  { warehouseCode: 'SH1', sku: 'ACC-ANKER-USBC1M', onHand: 500 },
  { warehouseCode: 'SH1', sku: 'HOM-XM-AP4', onHand: 0 },
  { warehouseCode: 'BJ1', sku: 'PHN-XM14-256', onHand: 25 },
  { warehouseCode: 'BJ1', sku: 'LAP-LNXX16-512', onHand: 12 },
  { warehouseCode: 'BJ1', sku: 'AUD-SONY-XM5', onHand: 20 },
  { warehouseCode: 'BJ1', sku: 'BOK-3BODY-SET', onHand: 80 },
  { warehouseCode: 'BJ1', sku: 'ACC-ANKER-USBC1M', onHand: 300 },
  { warehouseCode: 'GZ1', sku: 'PHN-HWP60-256', onHand: 30 },
  { warehouseCode: 'GZ1', sku: 'KIT-MIDEA-RC4L', onHand: 45 },
  { warehouseCode: 'GZ1', sku: 'APP-LINING-RUN42', onHand: 35 },
  { warehouseCode: 'GZ1', sku: 'ACC-ANKER-USBC1M', onHand: 250 },
] as const;

/** Zhang Min is a VIP: her complaints go to senior agents. */
export const DEMO_CUSTOMERS: readonly {
  id: string;
  name: string;
  email: string | null;
  phone: string | null;
  notifyChannels: NotifyChannel[];
  level: CustomerLevel;
}[] = [
  {
    id: 'C-1001',
    name: 'Li Wei',
    email: 'li.wei@example.com',
    phone: '+8613800138000',
    notifyChannels: ['email', 'sms'],
    level: 'regular',
  },
  {
    id: 'C-1002',
    name: 'Zhang Min',
    email: 'zhang.min@example.com',
    phone: null,
    notifyChannels: ['email'],
    level: 'vip',
  },
  {
    id: 'C-1003',
    name: 'Wang Fang',
    email: null,
    phone: '+8613900139000',
    notifyChannels: ['in_app'],
    level: 'regular',
  },
];

/** The principal of the development supervisor token (config: `dev-<role>`): escalations of every team go to them. */
const DEV_SUPERVISOR = 'dev-supervisor';

/**
 * A team per group of complaint categories, and a general desk taking them all, so the development agent token
 * (`dev-agent`) can be given complaints of any category.
 */
export const DEMO_TEAMS: readonly {
  id: string;
  name: string;
  categories: readonly ComplaintCategory[];
  supervisor: string;
}[] = [
  { id: 'quality', name: 'Product quality', categories: ['product_quality'], supervisor: DEV_SUPERVISOR },
  { id: 'logistics', name: 'Logistics', categories: ['logistics'], supervisor: DEV_SUPERVISOR },
  { id: 'service', name: 'After-sales service', categories: ['after_sales', 'staff'], supervisor: DEV_SUPERVISOR },
  { id: 'general', name: 'General desk', categories: COMPLAINT_CATEGORIES, supervisor: DEV_SUPERVISOR },
];

/** On duty from the start; empty skills take every category of the agent's team. */
export const DEMO_AGENTS: readonly {
  id: string;
  name: string;
  teamId: string;
  seniority: AgentSeniority;
  skills: readonly ComplaintCategory[];
}[] = [
  { id: 'dev-agent', name: 'Development agent', teamId: 'general', seniority: 'junior', skills: [] },
  { id: 'agent-li', name: 'Li Na', teamId: 'quality', seniority: 'senior', skills: [] },
  { id: 'agent-wang', name: 'Wang Lei', teamId: 'logistics', seniority: 'junior', skills: [] },
  { id: 'agent-zhao', name: 'Zhao Jun', teamId: 'service', seniority: 'senior', skills: [] },
  // A senior on the general desk, so VIP complaints of every category (logistics has no senior) find someone.
  { id: 'agent-chen', name: 'Chen Jie', teamId: 'general', seniority: 'senior', skills: [] },
];

// Arbitrary constant shared by every process that seeds, so concurrent first starts seed once.
const SEED_LOCK = 7_315_001;

/**
 * The demo complaint staff, once: into a database with no teams yet, so a database seeded before complaints existed
 * gets them too, and a supervisor's later changes to teams and agents are never undone by the next start.
 */
async function seedDemoStaff(tx: EntityManager): Promise<void> {
  if ((await tx.count(ComplaintTeamSchema)) > 0) return;
  for (const team of DEMO_TEAMS) tx.create(ComplaintTeamSchema, { ...team, categories: [...team.categories] });
  for (const { teamId, ...agent } of DEMO_AGENTS) {
    tx.create(ComplaintAgentSchema, { ...agent, team: teamId, skills: [...agent.skills], onDuty: true });
  }
}

/**
 * Inserts the demo catalogue, warehouses, stock and customers into an empty database; returns whether it did. The demo
 * complaint staff is added whenever there is none.
 */
export async function seedDemoData(em: EntityManager): Promise<boolean> {
  return em.fork().transactional(async (tx) => {
    await tx.getConnection().execute('select pg_advisory_xact_lock(?)', [SEED_LOCK]);
    await seedDemoStaff(tx);
    if ((await tx.count(ProductSchema)) > 0) return false;

    for (const product of DEMO_PRODUCTS) tx.create(ProductSchema, { currency: 'CNY', ...product });
    for (const warehouse of DEMO_WAREHOUSES) tx.create(WarehouseSchema, warehouse);
    for (const stock of DEMO_STOCK) {
      tx.create(StockLevelSchema, stock);
      tx.create(StockLedgerEntrySchema, {
        warehouseCode: stock.warehouseCode,
        sku: stock.sku,
        delta: stock.onHand,
        reservedDelta: 0,
        kind: 'seed',
        reason: 'demo catalogue',
        actor: 'system',
      });
    }
    for (const customer of DEMO_CUSTOMERS)
      tx.create(CustomerSchema, { ...customer, notifyChannels: [...customer.notifyChannels] });
    return true;
  });
}

/**
 * `npm start` seeds an empty database so the quick start works with no set-up; a production database gets demo
 * products, stock and customers only when someone runs `npm run seed` on purpose.
 */
export function seedsOnStart(cfg: Pick<Config, 'NODE_ENV'>): boolean {
  return cfg.NODE_ENV !== 'production';
}

/** `npm run seed`: applies pending migrations, then seeds the configured database if it is empty. */
async function main(): Promise<void> {
  const db = await resolveDatabase(config(), (message) => console.log(message));
  try {
    const orm = await openOrm(db.url);
    try {
      console.log((await seedDemoData(orm.em)) ? 'seeded demo data' : 'the database already has products: not seeded');
    } finally {
      await orm.close(true);
    }
  } finally {
    await db.stop();
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exitCode = 1;
  });
}
