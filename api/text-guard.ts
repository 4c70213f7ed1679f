import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Problem, fieldPath, type FieldError } from './problems';

/**
 * Why a string cannot be taken in, or undefined when it can. PostgreSQL refuses NUL in text and a lone surrogate in
 * jsonb, so such a string would fail (or retry forever) somewhere downstream; the other C0 controls are never
 * meaningful in an order and only hide things from the people reading it. Tab, line feed and carriage return stay
 * allowed everywhere: free text (reasons, address lines, carrier details) uses them, and in an identifier they only
 * fail the lookup like any other unknown value.
 */
export function unstorableText(text: string): string | undefined {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === 0x00) return 'must not contain NUL (U+0000)';
    if (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) {
      return 'must not contain control characters other than tab, line feed and carriage return';
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (code > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return 'must not contain a lone surrogate';
      i += 1;
    }
  }
  return undefined;
}

// Enough for a caller to see what to fix; a body made of thousands of bad strings does not need as many entries.
const MAX_ERRORS = 20;

/** A bad key is reported by a printable form of itself: the answer is JSON and may be logged. */
const printable = (key: string) => (unstorableText(key) ? key.replace(/[\p{Cc}\p{Cs}]/gu, '\ufffd') : key);

/** A place in the input; paths are only spelled out for errors, so deep nesting costs no copying. */
interface Place {
  value: unknown;
  key?: string;
  parent?: Place;
}

function pathOf(place: Place): string {
  const keys: string[] = [];
  for (let at: Place | undefined = place; at?.key !== undefined; at = at.parent) keys.push(printable(at.key));
  return fieldPath(keys.reverse());
}

/** Every string in a parsed input, keys included, walked without recursion: nesting depth is the caller's choice. */
function findUnstorable(input: unknown, errors: FieldError[], field?: string): void {
  const pending: Place[] = [{ value: input }];
  for (let i = 0; i < pending.length && errors.length < MAX_ERRORS; i += 1) {
    const place = pending[i];
    if (typeof place.value === 'string') {
      const reason = unstorableText(place.value);
      if (reason) errors.push({ field: field ?? pathOf(place), reason });
    } else if (place.value !== null && typeof place.value === 'object') {
      for (const [key, value] of Object.entries(place.value)) {
        const reason = unstorableText(key);
        const member = { value, key, parent: place };
        if (reason) errors.push({ field: pathOf(member), reason: `name ${reason}` });
        pending.push(member);
      }
    }
  }
}

/** Headers the API reads as data; HTTP's own headers are checked by Node's HTTP parser, which refuses controls. */
const DATA_HEADERS = ['idempotency-key'] as const;

function unstorableInput(request: FastifyRequest): FieldError[] {
  const errors: FieldError[] = [];
  findUnstorable(request.params, errors);
  findUnstorable(request.query, errors);
  for (const header of DATA_HEADERS) findUnstorable(request.headers[header], errors, header);
  findUnstorable(request.body, errors);
  return errors.slice(0, MAX_ERRORS);
}

/**
 * Refuses, for every route, text that cannot be stored: in params, query string, data headers and body, whatever the
 * route's schema says. It runs before validation (so before any handler reaches PostgreSQL or Temporal) and after
 * body parsing, which for the webhooks is where their signature is checked.
 */
export function registerTextGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request) => {
    const errors = unstorableInput(request);
    if (errors.length) throw new Problem('validation', 'the request holds text that cannot be stored', errors);
  });
}
