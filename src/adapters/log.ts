/**
 * The one place a pino logger is built for the API and the workers, so every process redacts the
 * same fields: credentials (auth tokens, keys, passwords, the Authorization and Cookie headers,
 * Twilio's request signature) and personal data (phone numbers, message bodies, TwiML).
 *
 * Each sensitive field name is redacted at the top level of a log object (`{ phone }`) and one
 * level down (`{ contact: { phone } }`, `{ params: { To } }`), which is pino's `*.name` wildcard.
 * pino does not redact deeper levels or the message string: log masked or reduced values instead
 * (`maskPhone` from src/domain/privacy.ts, a body's length) and never interpolate them into `msg`.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger };

export const REDACTED = '[redacted]';

/** Field names redacted wherever pino can reach them (top level and one level down). */
const SENSITIVE_FIELDS = [
  // credentials
  'authToken',
  'key',
  'apiKey',
  'secret',
  'password',
  // personal data: message content
  'body',
  'twiml',
  'Body',
  // personal data: phone numbers (ours and Twilio's webhook casing)
  'phone',
  'phoneE164',
  'to',
  'from',
  'To',
  'From',
] as const;

/** Every path handed to pino's `redact`; exported so tests and reviews can see the full list. */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-twilio-signature"]',
  'res.headers["set-cookie"]',
  'message.body',
  '*.message.body',
  ...SENSITIVE_FIELDS,
  ...SENSITIVE_FIELDS.map((field) => `*.${field}`),
];

export interface LoggerOptions {
  /** pino level; default `info`. */
  level?: string;
  /** The `name` field on every line (e.g. `api`, `dispatcher`). */
  name?: string;
  /** Where lines go; default pino's (stdout). Tests pass an in-memory stream. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const options = {
    level: opts.level ?? 'info',
    ...(opts.name === undefined ? {} : { name: opts.name }),
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
