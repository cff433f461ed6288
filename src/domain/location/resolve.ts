/**
 * Who is this contact, legally and in time: the set of candidate (jurisdiction, zone) pairs a
 * send must satisfy, each with its source. One mechanism covers boundary zips (several zones),
 * zip/area-code disagreement (both states' rules, both zones) and unknown locations.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { lookupNpa, lookupZip } from './directory.ts';
import { STATE_ZONES } from './state-zones.ts';

/** Where a candidate comes from. */
export type CandidateSource =
  | 'zip'
  | 'zip-state-fallback'
  | 'area-code'
  | 'area-code-presumption'
  | 'unresolved-strictest';

export interface Candidate {
  /** Two-letter state/territory code, or `*` (every jurisdiction) for the strictest fallback. */
  readonly jurisdiction: string;
  readonly zone: string;
  readonly source: CandidateSource;
}

export type LocationIssueCode =
  | 'INVALID_ZIP'
  | 'UNKNOWN_ZIP'
  | 'MILITARY_ZIP'
  | 'ZIP_COORDINATES_DISTRUSTED'
  | 'INVALID_PHONE'
  | 'NON_US_PHONE'
  | 'UNKNOWN_AREA_CODE'
  | 'NO_LOCATION';

export interface LocationIssue {
  readonly code: LocationIssueCode;
  readonly message: string;
}

export interface PhoneInfo {
  readonly e164: string;
  /** NANP area code (NPA), when the number is North American. */
  readonly areaCode?: string;
  readonly country?: string;
}

export interface Location {
  /** Stable key of the candidate list, in order and with sources (memo key for the decision planner). */
  readonly key: string;
  readonly zip?: string;
  /** State of the zip (or of the area code when there is no zip). */
  readonly state?: string;
  /** Every zone any candidate is in, sorted. */
  readonly zones: readonly string[];
  readonly phone?: PhoneInfo;
  readonly candidates: readonly Candidate[];
  /** False when the contact could not be placed (see `issues`); `decide` applies the `unresolved` option. */
  readonly resolved: boolean;
  readonly issues: readonly LocationIssue[];
}

/** States whose statutes presume a number with their area code is in-state (FL 501.059, OK 775C, CT 42-288a). */
export const AREA_CODE_PRESUMPTION_STATES: ReadonlySet<string> = new Set(['FL', 'OK', 'CT']);

const PRESUMPTION_SORTED = [...AREA_CODE_PRESUMPTION_STATES].sort();
const PRESUMPTION_LIST = PRESUMPTION_SORTED.join(', ');
/** What an unknown US area code adds: every presumption state in each of its zones. */
const UNKNOWN_AREA_CODE_CANDIDATES: readonly Candidate[] = PRESUMPTION_SORTED.flatMap((state) =>
  (STATE_ZONES[state] ?? []).map((zone) => ({ jurisdiction: state, zone, source: 'area-code-presumption' as const })),
);

/** Input errors (the request itself is malformed) as opposed to unresolvable contacts. */
export const INPUT_ERROR_CODES: ReadonlySet<LocationIssueCode> = new Set(['INVALID_ZIP', 'INVALID_PHONE']);

/** Well-formed contacts that cannot be placed: `decide` applies the `unresolved` option to them. */
export const UNRESOLVABLE_CODES: ReadonlySet<LocationIssueCode> = new Set(['UNKNOWN_ZIP', 'MILITARY_ZIP', 'NON_US_PHONE']);

export function parsePhone(raw: string): PhoneInfo | LocationIssue {
  const parsed = parsePhoneNumberFromString(raw, 'US');
  if (!parsed || !parsed.isValid()) return { code: 'INVALID_PHONE', message: 'not a valid phone number' };
  const e164 = parsed.number;
  if (parsed.countryCallingCode !== '1') return { code: 'NON_US_PHONE', message: `country calling code +${parsed.countryCallingCode} is not NANP` };
  return { e164, areaCode: parsed.nationalNumber.slice(0, 3), country: parsed.country };
}

/**
 * The candidates in their order, with their sources: a plan built for one location is shared by
 * every location with this key, and it carries the candidates a decision reports (the zip's zone
 * gives `localSendAt`) and the order of its reasons. A sorted set would let a New York zip with a
 * Hawaii phone and a Hawaii zip with a New York phone share whichever plan came first.
 */
function keyOf(candidates: readonly Candidate[]): string {
  return candidates.map((c) => `${c.jurisdiction}@${c.zone}~${c.source}`).join(',');
}

function build(parts: Omit<Location, 'key' | 'zones'>): Location {
  return {
    ...parts,
    key: keyOf(parts.candidates),
    // Frozen: locations are memoised and shared (and views print this list as it is).
    zones: Object.freeze([...new Set(parts.candidates.map((c) => c.zone))].sort()),
  };
}

const zipMemo = new Map<string, Location>();
/** Bound on the memo (zip × area code pairs): a file with very many distinct pairs cannot grow it without limit. */
const ZIP_MEMO_MAX = 200_000;
/** Zip-only inputs by zip (a separate map: a zip string may contain any character). */
const zipOnlyMemo = new Map<string, Location>();

/**
 * Resolve a contact from its zip and/or phone. Pure and memoised per (zip, area code).
 * Unresolvable contacts come back with `resolved: false` and the reason in `issues`.
 */
export function resolveLocation(input: { zip?: string; phone?: string }): Location {
  // Zip only (the common bulk case): memoised by the zip itself, no key to build.
  if (input.phone === undefined && input.zip !== undefined) {
    const hit = zipOnlyMemo.get(input.zip);
    if (hit) return hit;
    const location = resolveUncached(input);
    if (zipOnlyMemo.size >= ZIP_MEMO_MAX) zipOnlyMemo.clear();
    zipOnlyMemo.set(input.zip, location);
    return location;
  }
  return resolveUncached(input);
}

function resolveUncached(input: { zip?: string; phone?: string }): Location {
  const issues: LocationIssue[] = [];
  const candidates: Candidate[] = [];
  let phone: PhoneInfo | undefined;
  if (input.phone !== undefined) {
    const p = parsePhone(input.phone);
    if ('code' in p) issues.push(p);
    else phone = p;
  }
  const memoKey = input.zip !== undefined && issues.length === 0 ? `${input.zip}|${phone?.areaCode ?? ''}|${phone?.country ?? ''}` : undefined;
  if (memoKey) {
    const hit = zipMemo.get(memoKey);
    if (hit) return phone ? { ...hit, phone } : hit;
    if (zipMemo.size >= ZIP_MEMO_MAX) zipMemo.clear();
  }
  let state: string | undefined;
  let zip: string | undefined;
  let resolved = true;
  if (input.zip !== undefined) {
    const z = lookupZip(input.zip);
    if (z.ok) {
      zip = z.zip;
      state = z.state;
      const source: CandidateSource = z.source === 'zip' ? 'zip' : 'zip-state-fallback';
      for (const zone of z.zones) candidates.push({ jurisdiction: z.state, zone, source });
      if (z.source !== 'zip') issues.push({ code: 'ZIP_COORDINATES_DISTRUSTED', message: `zip ${z.zip}: coordinates not trusted (${z.issues.join(', ')}); using every zone of ${z.state}` });
    } else {
      zip = z.zip;
      state = z.state;
      resolved = false;
      issues.push({ code: z.code, message: z.message });
    }
  }
  if (phone?.areaCode) {
    if (phone.country !== undefined && phone.country !== 'US' && !['PR', 'VI', 'GU', 'MP', 'AS'].includes(phone.country)) {
      resolved = false;
      issues.push({ code: 'NON_US_PHONE', message: `number belongs to ${phone.country}, outside the US calendars` });
    } else {
      const npa = lookupNpa(phone.areaCode);
      if (npa) {
        const source: CandidateSource = AREA_CODE_PRESUMPTION_STATES.has(npa.state) ? 'area-code-presumption' : 'area-code';
        for (const zone of npa.zones) candidates.push({ jurisdiction: npa.state, zone, source });
        state ??= npa.state;
      } else {
        // A US area code the table does not know (a new overlay): it may be a presumption
        // state's, so the number gets every such state's rules, in every zone of the state — never none.
        for (const candidate of UNKNOWN_AREA_CODE_CANDIDATES) candidates.push(candidate);
        issues.push({
          code: 'UNKNOWN_AREA_CODE',
          message: `area code ${phone.areaCode} is not in the area-code table: it may belong to a state that presumes the holders of its area codes are in-state, so the rules of ${PRESUMPTION_LIST} apply`,
        });
        if (input.zip === undefined) resolved = false;
      }
    }
  }
  if (input.zip === undefined && input.phone === undefined) {
    resolved = false;
    issues.push({ code: 'NO_LOCATION', message: 'neither a zip nor a phone number was given' });
  }
  if (candidates.length === 0) resolved = false;
  const location = build({ zip, state, phone, candidates: resolved ? candidates : [], resolved, issues });
  if (memoKey) zipMemo.set(memoKey, phone ? { ...location, phone: undefined } : location);
  return location;
}

/** Candidates for an unresolved contact under `unresolved: 'strictest'`: every jurisdiction in every US zone. */
export function strictestCandidates(usZones: readonly string[]): Candidate[] {
  return usZones.map((zone) => ({ jurisdiction: '*', zone, source: 'unresolved-strictest' as const }));
}

export function withCandidates(location: Location, candidates: readonly Candidate[]): Location {
  return build({ ...location, candidates, resolved: true });
}
