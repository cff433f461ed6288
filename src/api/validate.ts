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
 *
 * Before any schema, every string of the part (and every object key) is checked against the
 * one character policy (src/domain/text.ts): NUL, lone surrogates, the other C0 controls but
 * TAB/CR/LF, U+FFFE and U+FFFF are refused here with INVALID_ARGUMENT and the field's path, for
 * every route and every field, whatever its schema (free-form jsonb fields included).
 */
import type { Request } from 'express';
import { z } from 'zod';
import { AppError } from '../domain/errors.ts';
import { textIssues } from '../domain/text.ts';
import { formatPath, issueDetails, type IssueDetail } from './errors.ts';

type Part = 'body' | 'query' | 'params';

function refuse(part: string, details: IssueDetail[]): never {
  const first = details[0];
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  const message = first ? `invalid request ${part}: ${first.path}: ${first.message}${more}` : `invalid request ${part}`;
  throw new AppError('INVALID_ARGUMENT', message, details);
}

/** Throws INVALID_ARGUMENT when a string of `value` (found in `part`, e.g. `body`) breaks the character policy. */
export function assertCleanText(value: unknown, part: string): void {
  const issues = textIssues(value);
  if (issues.length > 0) refuse(part, issues.map((i) => ({ path: formatPath(i.path, part), message: i.message })));
}

function parsePart<S extends z.ZodType>(schema: S, value: unknown, part: Part): z.output<S> {
  assertCleanText(value, part);
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  return refuse(part, issueDetails(result.error.issues, part));
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
