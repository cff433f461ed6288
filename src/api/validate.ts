/**
 * Request validation with zod. Each helper parses one part of the request and returns the
 * schema's output, or throws AppError('INVALID_ARGUMENT') whose details list every problem as
 * `{ path, message }` with the path prefixed by where it was found: `body.items[0].zip`,
 * `query.limit`, `params.id`. Unknown keys of a strict object are reported one per key
 * (`body.colour: unknown field`).
 *
 * Callers should make their object schemas `.strict()` (z.strictObject) so that a misspelt
 * field is an error instead of being silently dropped. Query values arrive as strings (or string
 * arrays when repeated): use `z.coerce.number()` and the like for them.
 */
import type { Request } from 'express';
import { z } from 'zod';
import { AppError } from '../domain/errors.ts';
import { issueDetails } from './errors.ts';

type Part = 'body' | 'query' | 'params';

function parsePart<S extends z.ZodType>(schema: S, value: unknown, part: Part): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = issueDetails(result.error.issues, part);
  const first = details[0];
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  const message = first ? `invalid request ${part}: ${first.path}: ${first.message}${more}` : `invalid request ${part}`;
  throw new AppError('INVALID_ARGUMENT', message, details);
}

/** The parsed JSON body. A missing body (no JSON Content-Type) is validated as `undefined`. */
export function parseBody<S extends z.ZodType>(schema: S, req: Request): z.output<S> {
  return parsePart(schema, req.body, 'body');
}

export function parseQuery<S extends z.ZodType>(schema: S, req: Request): z.output<S> {
  return parsePart(schema, req.query, 'query');
}

export function parseParams<S extends z.ZodType>(schema: S, req: Request): z.output<S> {
  return parsePart(schema, req.params, 'params');
}

/**
 * A uuid path parameter: 8-4-4-4-12 hex digits, any version (the form Postgres' uuid type and
 * our ids use), lower-cased.
 */
export const uuidParam = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a UUID')
  .transform((s) => s.toLowerCase());

/** `{ id }` route parameters, for `/things/:id`. */
export const idParams = z.strictObject({ id: uuidParam });
