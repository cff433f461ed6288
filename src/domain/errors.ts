/**
 * Stable error codes. Every error the engine reports to a user carries one of these; adapters
 * map them to exit codes (CLI) or HTTP statuses (API) in one place each.
 */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'INVALID_ZIP',
  'UNKNOWN_ZIP',
  'INVALID_PHONE',
  'INVALID_INSTANT',
  'INVALID_CHANNEL',
  'INVALID_POLICY',
  'INVALID_PURPOSE',
  'INVALID_ROW',
  'FILE_UNREADABLE',
  'CALENDAR_INVALID',
  'NOT_FOUND',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'CONFLICT',
  'IDEMPOTENCY_MISMATCH',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
  }

  toJSON(): { code: ErrorCode; message: string; details?: unknown } {
    return this.details === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, details: this.details };
  }
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${String(value)}`);
}
