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
 *
 * Speed: the library splits every text into grapheme clusters first, which made it ~15 % of the
 * API's CPU when creating timers in batches. A text whose every character is in the library's own
 * GSM-7 table is counted here directly (no two GSM characters form one grapheme but CR LF, which
 * the library splits back into two), with the library's packing: 1,120 bits in a lone
 * segment, else greedy parts of 1,072 bits (1,120 less the 48-bit user data header), a two-septet
 * extension character never split. Everything else goes to the library.
 * test/unit/sms-segments.test.ts checks the two agree on generated texts.
 */
import { SegmentedMessage } from 'sms-segments-calculator';
import UnicodeToGsmModule from 'sms-segments-calculator/dist/libs/UnicodeToGSM.js';
import type { Channel } from './calendar/schema.ts';

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsSegmentCount {
  segments: number;
  encoding: SmsEncoding;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) of the body. */
  units: number;
}

// The CommonJS module's default export, whichever way the loader hands it over.
const GSM: Record<number, number[] | undefined> =
  (UnicodeToGsmModule as unknown as { default?: Record<number, number[]> }).default ?? (UnicodeToGsmModule as unknown as Record<number, number[]>);
/** Septets per character code of the GSM-7 tables (1 basic, 2 extension); 0 = not GSM-7. */
const SEPTETS = new Uint8Array(0x10000);
for (const [code, units] of Object.entries(GSM)) if (units) SEPTETS[Number(code)] = units.length;

const LONE_BITS = 1120;
const PART_BITS = 1072;

/** The count of a text of GSM-7 characters, or undefined for the library to count. */
function gsmFastPath(body: string): SmsSegmentCount | undefined {
  // One pass: the septets, and the parts of 1,072 bits they would fill once concatenated.
  let units = 0;
  let parts = 1;
  let free = PART_BITS;
  for (let i = 0; i < body.length; i++) {
    const septets = SEPTETS[body.charCodeAt(i)]!;
    if (septets === 0) return undefined;
    units += septets;
    if (free < septets * 7) {
      parts++;
      free = PART_BITS;
    }
    free -= septets * 7;
  }
  return { segments: units * 7 <= LONE_BITS ? 1 : parts, encoding: 'GSM-7', units };
}

export function smsSegmentCount(body: string): SmsSegmentCount {
  return gsmFastPath(body) ?? viaLibrary(body);
}

function viaLibrary(body: string): SmsSegmentCount {
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
