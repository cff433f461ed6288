/**
 * Personal-data helpers for logs, audit lines and API answers: a phone number is shown only by
 * its last four digits. Pure (no I/O), so both the domain and the adapters can use it.
 */

/** `+15551234567` → `+1******4567`; anything that is not a phone number → `***`. */
export function maskPhone(value: string | null | undefined): string {
  if (!value) return '';
  const m = /^(whatsapp:)?(\+\d)(\d*)(\d{4})$/.exec(value);
  if (!m) return '***';
  return `${m[1] ?? ''}${m[2] ?? ''}${'*'.repeat((m[3] ?? '').length)}${m[4] ?? ''}`;
}

/** The last four digits of an E.164 number (`+15551234567` → `4567`); `null` when it is not one. */
export function phoneLast4(e164: string | null | undefined): string | null {
  if (!e164) return null;
  const m = /^\+\d{1,11}(\d{4})$/.exec(e164);
  return m?.[1] ?? null;
}
