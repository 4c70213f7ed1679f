import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ProductSchema, StockLevelSchema } from '../../db/entities';
import type { ApiDeps } from '../app';
import { Problem } from '../problems';
import { pagingQuery, problems } from '../schemas';

const productSchema = z
  .object({
    sku: z.string(),
    name: z.string(),
    category: z.string(),
    brand: z.string(),
    price: z.number().int().describe('Minor units'),
    marketPrice: z.number().int().describe('Minor units; the list price shown struck through'),
    currency: z.string(),
    returnable: z.boolean(),
    active: z.boolean(),
  })
  .meta({ id: 'Product' });

const listProductsQuery = z.object({
  category: z.string().optional(),
  brand: z.string().optional(),
  q: z.string().trim().min(1).max(100).optional().describe('Matches SKU or name, case-insensitively'),
  active: z
    .enum(['true', 'false'])
    .transform((value) => value === 'true')
    .optional(),
  ...pagingQuery,
});

const inventorySchema = z.object({
  sku: z.string(),
  name: z.string(),
  warehouses: z.array(
    z.object({
      warehouseCode: z.string(),
      onHand: z.number().int(),
      reserved: z.number().int(),
      available: z.number().int(),
      lowStockThreshold: z.number().int(),
      lowStock: z.boolean().describe('available is at or below the threshold'),
    }),
  ),
  totals: z.object({ onHand: z.number().int(), reserved: z.number().int(), available: z.number().int() }),
});

/** LIKE wildcards in user input are literal characters. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export function catalogueRoutes(deps: ApiDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/v1/products',
      {
        config: { roles: 'any' },
        schema: {
          tags: ['catalogue'],
          summary: 'Search the catalogue',
          querystring: listProductsQuery,
          response: {
            200: z.object({
              items: z.array(productSchema),
              total: z.number().int(),
              limit: z.number().int(),
              offset: z.number().int(),
            }),
            ...problems(400, 401, 503),
          },
        },
      },
      async (request) => {
        const { category, brand, q, active, limit, offset } = request.query;
        const em = deps.orm.em.fork();
        const [products, total] = await em.findAndCount(
          ProductSchema,
          {
            ...(category ? { category } : {}),
            ...(brand ? { brand } : {}),
            ...(active !== undefined ? { active } : {}),
            ...(q ? { $or: [{ sku: { $ilike: likePattern(q) } }, { name: { $ilike: likePattern(q) } }] } : {}),
          },
          { orderBy: { sku: 'asc' }, limit, offset },
        );
        const items = products.map(
          ({ sku, name, category, brand, price, marketPrice, currency, returnable, active }) => ({
            sku,
            name,
            category,
            brand,
            price,
            marketPrice,
            currency,
            returnable,
            active,
          }),
        );
        return { items, total, limit, offset };
      },
    );

    app.get(
      '/v1/inventory/:sku',
      {
        config: { roles: 'any' },
        schema: {
          tags: ['catalogue'],
          summary: 'Stock of one SKU per warehouse',
          params: z.object({ sku: z.string().min(1).max(64) }),
          response: { 200: inventorySchema, ...problems(401, 404, 503) },
        },
      },
      async (request) => {
        const { sku } = request.params;
        const em = deps.orm.em.fork();
        const product = await em.findOne(ProductSchema, { sku }, { fields: ['sku', 'name'] });
        if (!product) throw new Problem('not-found', `no product ${sku}`);
        const levels = await em.find(StockLevelSchema, { sku }, { orderBy: { warehouseCode: 'asc' } });
        const warehouses = levels.map((level) => {
          const available = Math.max(0, level.onHand - level.reserved);
          return {
            warehouseCode: level.warehouseCode,
            onHand: level.onHand,
            reserved: level.reserved,
            available,
            lowStockThreshold: level.lowStockThreshold,
            lowStock: available <= level.lowStockThreshold,
          };
        });
        const sum = (pick: (w: (typeof warehouses)[number]) => number) => warehouses.reduce((t, w) => t + pick(w), 0);
        return {
          sku: product.sku,
          name: product.name,
          warehouses,
          totals: {
            onHand: sum((w) => w.onHand),
            reserved: sum((w) => w.reserved),
            available: sum((w) => w.available),
          },
        };
      },
    );
  };
}
