/**
 * SMS segments: how many parts a text goes out as, which is what carriers and Twilio count for
 * 10DLC and toll-free throughput (and bill). Computed by Twilio's own `sms-segments-calculator`
 * (MIT, no I/O, no network; the same rules as Twilio's online segment calculator):
 *
 * - **GSM-7** when every character is in the GSM 03.38 basic or extension table: 160 septets in
 *   one segment, 153 per segment when concatenated (7 go to the user data header). Extension
 *   characters (`€ [ ] { } \ ^ ~ |` and the form feed) take two septets (an escape and the
 *   character) and are never split across two segments.
 * - **UCS-2** as soon as one character is not: 70 UTF-16 code units in one segment, 67 per segment
 *   when concatenated; a character outside the BMP (most emoji) is two units.
 *
 * Without Twilio's Smart Encoding (which a messaging service may apply, turning e.g. curly quotes
 * into straight ones) — so the count here is never below what the provider counts: the rate
 * limiter reserving by it can only be slower than the limit, never faster.
 */
import { SegmentedMessage } from 'sms-segments-calculator';
import type { Channel } from './calendar/schema.ts';

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsSegmentCount {
  segments: number;
  encoding: SmsEncoding;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) of the body. */
  units: number;
}

export function smsSegmentCount(body: string): SmsSegmentCount {
  const m = new SegmentedMessage(body, 'auto');
  const encoding: SmsEncoding = m.encodingName === 'UCS-2' ? 'UCS-2' : 'GSM-7';
  return { segments: Math.max(1, m.segmentsCount), encoding, units: encoding === 'UCS-2' ? body.length : m.numberOfCharacters };
}

/** The segments of a text's body; a call has none (null). */
export function timerSegments(channel: Channel, payload: unknown): number | null {
  if (channel !== 'sms') return null;
  const body = typeof payload === 'object' && payload !== null ? (payload as { body?: unknown }).body : undefined;
  return typeof body === 'string' ? smsSegmentCount(body).segments : 1;
}

/**
 * The unit of a provider's throughput limit: `messages` (a long code's 1 message per second, calls)
 * or `segments` (10DLC and toll-free, counted by carriers in segments).
 */
export type RateUnit = 'messages' | 'segments';

/** How many slots of a send-rate bucket one send takes: 1, or its segments when the limit is in segments (a call is always 1). */
export function rateCost(unit: RateUnit, channel: Channel, segments: number | null): number {
  if (unit === 'messages' || channel !== 'sms') return 1;
  return Math.max(1, segments ?? 1);
}
