import fc from 'fast-check';
import type { RouteOptions } from 'fastify';
import { ROLES, type Role } from '../../config';
import { DEMO_CUSTOMERS, DEMO_SKUS } from '../../db/seed';
import { SIGNATURE_HEADER, signPayload } from '../../sandbox/signing';
import { SHIPPING_ADDRESS } from '../helpers/fixtures';
import { fullStack } from '../helpers/stack';

/**
 * Throws arbitrary and nearly valid input at every route of the running engine (embedded PostgreSQL, Temporal dev
 * server, worker, API over HTTP) with valid credentials. Whatever the input, the API answers in time, never with a
 * 5xx, refuses it with problem+json (read-only routes may also answer it), and leaves no order row or workflow.
 * The routes come from the app itself, so a route added later is covered without touching this file.
 */

const RUNS_PER_ROUTE = 25;
const REQUEST_TIMEOUT_MS = 10_000;

const tokenOf = (role: Role) => `bad-input-${role}`;

const routes: RouteOptions[] = [];
const stack = fullStack(
  'bad-input',
  { API_TOKENS: ROLES.map((role) => `${tokenOf(role)}=${role}:fuzz-${role}`).join(',') },
  (route) => routes.push(route),
);

// --- what gets thrown -------------------------------------------------------------------------------------------

/** Text that breaks things: NUL, lone surrogates, controls, bidi overrides, noncharacters, escapes, injections. */
const nastyText = fc.constantFrom(
  '\u0000',
  '\ud800',
  '\udfff',
  '\u0007',
  '\u001b[31m',
  '\u007f',
  '\u202e',
  '\ufffe',
  '%00',
  '%ED%A0%80',
  "'; drop table orders; --",
  '../../etc/passwd',
  '{{7*7}}',
  '\\',
  '"',
);
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
/** Cannot spell a demo customer or SKU (no C, A, …), so no generated placement can name a real one and succeed. */
const plainCharacter = fc.constantFrom(...'abcXYZ019-_. ');
const plainText = (minLength = 0, maxLength = 40) =>
  fc.string({ unit: plainCharacter, minLength, maxLength: Math.max(minLength, maxLength) });
const text = fc.oneof(
  { weight: 2, arbitrary: plainText() },
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.oneof({ weight: 4, arbitrary: plainCharacter }, codeUnit), maxLength: 40 }),
  },
  { weight: 1, arbitrary: fc.tuple(plainText(), nastyText, plainText()).map((parts) => parts.join('')) },
);
/** Text PostgreSQL would refuse (NUL, a lone surrogate) or that has no business in an order (other C0 controls). */
const unstorable = fc
  .tuple(plainText(), fc.constantFrom('\u0000', '\ud800', '\udc00', '\u0001', '\u001b'), plainText())
  .map((parts) => parts.join(''));
const recentDate = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true });
const hugeNumber = fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -(2 ** 63), 1e21, 5e-324, -0);
/** Alternating objects and arrays, deeper than any schema goes (and shallow enough for JSON.stringify's stack). */
const deeplyNested = fc.integer({ min: 20, max: 1_000 }).map((depth) => {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i += 1) value = i % 2 ? [value] : { a: value };
  return value;
});

const { wild } = fc.letrec<{ wild: unknown }>((tie) => ({
  wild: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.integer(),
    fc.double(),
    hugeNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('wild'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(text, fc.constantFrom('__proto__', 'constructor')), tie('wild'), { maxKeys: 4 }),
    deeplyNested,
  ),
}));

interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
}

interface OpenApiParameter {
  in: 'path' | 'query' | 'header';
  name: string;
  schema?: JsonSchema;
}

interface OpenApiOperation {
  parameters?: OpenApiParameter[];
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}

interface OpenApi {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

type TextMaker = (minLength?: number, maxLength?: number) => fc.Arbitrary<string>;

/** Real customer ids and SKUs: with them a placement gets past every lookup, as far as starting the workflow. */
const KNOWN_VALUES = [...DEMO_CUSTOMERS.map((customer) => customer.id), ...DEMO_SKUS];
const plainOrKnownText: TextMaker = (minLength, maxLength) =>
  fc.oneof(plainText(minLength, maxLength), fc.constantFrom(...KNOWN_VALUES));

/** A value the schema (the route's own, from its OpenAPI description) accepts; any where it says nothing. */
function conforming(
  schema: JsonSchema | undefined,
  spec: OpenApi,
  textOf: TextMaker = plainText,
): fc.Arbitrary<unknown> {
  if (!schema) return wild;
  const nested = (inner: JsonSchema | undefined) => conforming(inner, spec, textOf);
  if (schema.$ref) return nested(spec.components?.schemas?.[schema.$ref.split('/').pop()!]);
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf ?? schema.allOf;
  if (alternatives?.length) return fc.oneof(...alternatives.map(nested));
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const properties = schema.properties ?? {};
      const model = Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, nested(value)]));
      return fc.record(model, { requiredKeys: (schema.required ?? []).filter((key) => key in properties) });
    }
    case 'array': {
      const minLength = Math.min(schema.minItems ?? 0, 3);
      return fc.array(nested(schema.items), { minLength, maxLength: Math.max(minLength, 3) });
    }
    case 'string':
      if (schema.format === 'date-time') return recentDate.map((date) => date.toISOString());
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern));
      return textOf(schema.minLength, Math.min(schema.maxLength ?? 40, 40));
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    default:
      return wild;
  }
}

/**
 * Replaces one part of `value` (the `at`-th of those `replaceable`, cyclically), or the whole of it when it has none.
 */
function corrupt(value: unknown, at: number, replacement: unknown, replaceable = (_part: unknown) => true): unknown {
  const copy = structuredClone(value);
  const slots: { parent: Record<string, unknown>; key: string }[] = [];
  const pending = [copy];
  while (pending.length) {
    const node = pending.pop();
    if (node === null || typeof node !== 'object') continue;
    for (const [key, member] of Object.entries(node)) {
      if (replaceable(member)) slots.push({ parent: node as Record<string, unknown>, key });
      pending.push(member);
    }
  }
  if (!slots.length) return replacement;
  const slot = slots[at % slots.length];
  slot.parent[slot.key] = replacement;
  return copy;
}

/**
 * Input shaped by the schema with one part broken (a wrong type, bad text, a missing field, deep nesting), now and
 * then intact or entirely wild: what passes the outer checks and breaks deep inside is what finds real bugs.
 */
function nearlyConforming(schema: JsonSchema | undefined, spec: OpenApi): fc.Arbitrary<unknown> {
  const broken = fc
    .tuple(conforming(schema, spec), fc.nat(), fc.oneof(wild, text, fc.constant(undefined)))
    .map(([value, at, replacement]) => corrupt(value, at, replacement));
  // Valid everywhere but in one string, which holds what cannot be stored: real ids take it past every lookup, so
  // only refusing such text up front keeps it out of PostgreSQL and out of a workflow.
  const poisoned = fc
    .tuple(conforming(schema, spec, plainOrKnownText), fc.nat(), unstorable)
    .map(([value, at, poison]) => corrupt(value, at, poison, (part) => typeof part === 'string'));
  return fc.oneof(
    { weight: 5, arbitrary: broken },
    { weight: 3, arbitrary: poisoned },
    { weight: 2, arbitrary: conforming(schema, spec) },
    { weight: 1, arbitrary: wild },
  );
}

/** UTF-8 percent-encoding of every byte outside the unreserved set; a lone surrogate becomes U+FFFD, as on the wire. */
function percentEncode(value: string): string {
  return [...Buffer.from(value, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9\-._~]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).padStart(2, '0')}`,
    )
    .join('');
}

const asText = (value: unknown) => (typeof value === 'string' ? value : (JSON.stringify(value) ?? ''));

/** Raw path segments no encoder would produce: bad escapes, invalid UTF-8, a parameter too long to route. */
const rawSegment = fc.constantFrom('%', '%zz', '%ED%A0%80', '%C0%AF', '%00', 'A'.repeat(300));

function segment(schema: JsonSchema | undefined, spec: OpenApi): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: nearlyConforming(schema, spec).map((value) => percentEncode(asText(value))) },
    { weight: 1, arbitrary: rawSegment },
  );
}

function queryString(parameters: OpenApiParameter[], spec: OpenApi): fc.Arbitrary<string> {
  const properties = Object.fromEntries(parameters.map((parameter) => [parameter.name, parameter.schema ?? {}]));
  const named = nearlyConforming({ type: 'object', properties }, spec);
  const extra = fc.dictionary(text, text, { maxKeys: 2 });
  return fc.tuple(named, extra).map(([known, unknown]) => {
    const fields = known !== null && typeof known === 'object' ? known : { [asText(known)]: '' };
    const pairs = Object.entries({ ...unknown, ...fields }).flatMap(([key, value]) =>
      (Array.isArray(value) ? value : [value]).map((item) => `${percentEncode(key)}=${percentEncode(asText(item))}`),
    );
    return pairs.length ? `?${pairs.join('&')}` : '';
  });
}

/** Header values as HTTP can carry them: Latin-1 without controls (NUL, line breaks, DEL). */
const headerText = fc
  .string({
    unit: fc
      .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
      .map((code) => String.fromCharCode(code)),
    maxLength: 80,
  })
  .map((value) => value.trim());

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Bodies that are not JSON, or JSON no serializer would write: truncated, NUL, overflowing, 100 000 levels deep. */
const RAW_BODIES = [
  '',
  '{',
  '[1,',
  '{"a":1}{',
  'nul',
  '\u0000',
  '{"customerId":"\u0000"}',
  '1e99999',
  '"\\ud800"',
  `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
];

interface Attempt {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** Everything one route may be sent, with credentials it accepts. */
function attempts(route: RouteOptions, method: string, spec: OpenApi): fc.Arbitrary<Attempt> {
  const openApiPath = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
  // HEAD routes are GET's, undocumented.
  const operation = spec.paths[openApiPath]?.[method === 'HEAD' ? 'get' : method.toLowerCase()] ?? {};
  const parameters = operation.parameters ?? [];
  const parameterSchema = (name: string) => parameters.find((p) => p.in === 'path' && p.name === name)?.schema;

  const pathParts = route.url.split(/(:[A-Za-z0-9_]+|\*)/).map((part) => {
    if (part === '*') return segment(undefined, spec);
    if (part.startsWith(':')) return segment(parameterSchema(part.slice(1)), spec);
    return fc.constant(part);
  });
  const url = fc
    .tuple(
      fc.tuple(...pathParts),
      queryString(
        parameters.filter((p) => p.in === 'query'),
        spec,
      ),
    )
    .map(([parts, query]) => parts.join('') + query);

  const jsonBody = nearlyConforming(operation.requestBody?.content?.['application/json']?.schema, spec).map(
    (value) => JSON.stringify(value) ?? 'null',
  );
  const body = BODY_METHODS.has(method)
    ? fc.oneof({ weight: 8, arbitrary: jsonBody }, { weight: 1, arbitrary: fc.constantFrom(...RAW_BODIES) })
    : fc.constant(undefined);
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant('application/json') },
    { weight: 1, arbitrary: fc.constantFrom('application/json; charset=utf-16', 'text/plain', 'application/xml') },
  );
  const idempotencyKey = fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.oneof(headerText, fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/)) },
  );

  return fc.record({ url, body, contentType, idempotencyKey }).map((generated) => {
    const headers: Record<string, string> = { ...credentials(route, generated.body) };
    if (generated.body !== undefined) headers['content-type'] = generated.contentType;
    if (generated.idempotencyKey !== null) headers['idempotency-key'] = generated.idempotencyKey;
    return { method, url: generated.url, headers, body: generated.body };
  });
}

const WEBHOOK_SECRETS: Record<string, () => string> = {
  '/v1/webhooks/payment': () => stack.config.PAYMENT_WEBHOOK_SECRET,
  '/v1/webhooks/carrier': () => stack.config.CARRIER_WEBHOOK_SECRET,
};

function credentials(route: RouteOptions, body: string | undefined): Record<string, string> {
  const secret = WEBHOOK_SECRETS[route.url];
  if (secret) return { [SIGNATURE_HEADER]: signPayload(secret(), body ?? '', Math.floor(Date.now() / 1000)) };
  const roles = route.config?.roles;
  if (!roles) return {};
  return { authorization: `Bearer ${tokenOf(roles === 'any' ? 'system' : roles[0])}` };
}

// --- what must hold ---------------------------------------------------------------------------------------------

async function send(attempt: Attempt): Promise<{ status: number; type: string | null; body: string }> {
  let response: Response;
  try {
    response = await fetch(`${stack.config.publicUrl}${attempt.url}`, {
      method: attempt.method,
      headers: attempt.headers,
      body: attempt.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as Error).cause as Error | undefined;
    throw new Error(
      `no answer to ${attempt.method} ${attempt.url}: ${(error as Error).message} ${cause?.message ?? ''}`,
    );
  }
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
}

async function orderRows(): Promise<number> {
  const { rows } = await stack.sql.query<{ n: number }>('select count(*)::int as n from orders');
  return rows[0].n;
}

async function workflowIds(): Promise<string[]> {
  const ids: string[] = [];
  for await (const execution of stack.temporal.client.workflow.list()) ids.push(execution.workflowId);
  return ids.sort();
}

const READ_ONLY = new Set(['GET', 'HEAD']);
/** Routes that replace a record whole (staff, sandbox faults): input that passes validation is stored, not a mistake. */
const REPLACING = new Set([
  'PUT /v1/complaint-teams/:teamId',
  'PUT /v1/agents/:agentId',
  'PUT /v1/sandbox/faults/:channel',
]);

describe('text PostgreSQL cannot store, in an order that is otherwise valid', () => {
  const order = () => ({
    customerId: 'C-1001',
    channel: 'web',
    lines: [{ sku: 'ACC-ANKER-USBC1M', quantity: 1 }],
    shippingAddress: { ...SHIPPING_ADDRESS },
    payment: { method: 'card', token: 'tok_visa' },
  });
  const fields = [
    'customerId',
    'lines[0].sku',
    'shippingAddress.name',
    'shippingAddress.line1',
    'shippingAddress.city',
    'shippingAddress.postalCode',
  ];
  const cases = fields.flatMap((field) => ['\u0000', '\ud800'].map((bad): [string, string] => [field, bad]));

  // Before: a 500 from PostgreSQL for the ids, and for the address a workflow retrying its database write forever
  // while the request waited on it.
  test.each(cases)('is refused with 400 naming %s (%j), before anything is stored or started', async (field, bad) => {
    const body = order() as any;
    const keys = field.replace(/\[(\d+)\]/g, '.$1').split('.');
    const parent = keys.slice(0, -1).reduce((target, key) => target[key], body);
    parent[keys[keys.length - 1]] = `${parent[keys[keys.length - 1]]}${bad}x`;
    const orderId = `bad-text-${keys.join('-')}-${bad.charCodeAt(0)}`;
    const answer = await send({
      method: 'POST',
      url: '/v1/orders',
      headers: { authorization: `Bearer ${tokenOf('system')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, orderId }),
    });
    expect(answer.status).toBe(400);
    expect(answer.type).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(answer.body).errors).toEqual([{ field, reason: expect.any(String) }]);
    const { rows } = await stack.sql.query('select 1 from orders where id = $1', [orderId]);
    expect(rows).toEqual([]);
    await expect(stack.temporal.client.workflow.getHandle(`order-${orderId}`).describe()).rejects.toThrow(/not found/i);
  });
});

test('no input makes any route answer 5xx, hang, or leave an order or a workflow behind', async () => {
  const spec = stack.app.swagger() as unknown as OpenApi;
  const targets = routes.flatMap((route) => [route.method].flat().map((method) => ({ route, method })));
  expect(targets.map(({ method, route }) => `${method} ${route.url}`)).toEqual(
    expect.arrayContaining(['POST /v1/orders', 'POST /v1/orders/:orderId/cancel', 'POST /v1/webhooks/payment']),
  );

  const ordersBefore = await orderRows();
  const workflowsBefore = await workflowIds();
  for (const { route, method } of targets) {
    await fc.assert(
      fc.asyncProperty(attempts(route, method, spec), async (attempt) => {
        const answer = await send(attempt);
        const refused = answer.status >= 400 && answer.status < 500;
        const mayAccept = READ_ONLY.has(method) || REPLACING.has(`${method} ${route.url}`);
        const answered = mayAccept ? answer.status < 400 || refused : refused;
        const problem = answer.status < 400 || /^application\/problem\+json/.test(answer.type ?? '');
        if (!answered || !problem) {
          throw new Error(
            `${attempt.method} ${attempt.url} → ${answer.status} ${answer.type}: ${answer.body.slice(0, 500)}`,
          );
        }
      }),
      { numRuns: RUNS_PER_ROUTE },
    );
    expect([`${method} ${route.url}`, await orderRows()]).toEqual([`${method} ${route.url}`, ordersBefore]);
  }
  expect(await workflowIds()).toEqual(workflowsBefore);
});
