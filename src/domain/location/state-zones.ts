/**
 * Every IANA time zone that can apply anywhere inside each US state, DC and
 * territory (USPS two-letter codes).
 *
 * This is the "plausibility envelope" used by the location data layer:
 *  - the build script (scripts/build-location-data.ts) only accepts a geo-tz
 *    answer for a ZIP if it is in STATE_ZONES[state] (anything else is ocean,
 *    Canada/Mexico, or bad coordinates);
 *  - when a ZIP's coordinates cannot be trusted, or a phone number only tells
 *    us the state, the WHOLE set for the state is used, so that a send is only
 *    allowed when it is allowed in every zone the recipient could be in.
 *
 * Zone names are exactly the ones geo-tz's full-fidelity dataset
 * (`geo-tz/all`, timezone-boundary-builder) returns for these places. That
 * dataset keeps the distinct US-territory names (America/St_Thomas,
 * Pacific/Saipan, Pacific/Palau, Pacific/Chuuk, ...) which the default
 * "since 1970" dataset merges into foreign zones (Asia/Tokyo, Pacific/Tarawa,
 * Pacific/Port_Moresby, ...). For the 50 states + DC both datasets agree.
 *
 * Notes on the less obvious entries:
 *  - AL: America/New_York is included because Phenix City and its
 *    neighbourhood (Russell/Lee counties, next to Columbus GA) observe Eastern
 *    time, and timezone-boundary-builder puts them in America/New_York.
 *  - AZ: America/Phoenix (no DST) + America/Denver (Navajo Nation observes DST;
 *    the Hopi Reservation inside it does not and is America/Phoenix).
 *  - IN: besides the America/Indiana/* zones, America/Chicago (NW and SW
 *    Indiana), America/New_York (Dearborn/Ohio counties, Cincinnati area) and
 *    America/Kentucky/Louisville (Clark/Floyd/Harrison counties, Louisville
 *    area) are returned by geo-tz for Indiana locations.
 *  - MI: America/Menominee covers the four Central-time Upper Peninsula
 *    counties bordering Wisconsin.
 *  - NV: America/Denver for West Wendover (Elko County, Mountain time).
 *  - OR: America/Boise for most of Malheur County (Mountain time).
 *  - Unofficial local practice that the tz database does not model (e.g.
 *    Kenton OK, Jackpot NV) is NOT included.
 *  - FM: Yap and Chuuk are UTC+10 (Pacific/Chuuk), Pohnpei and Kosrae UTC+11.
 *  - Wake Island (USPS ZIP 96898, filed under "HI") is deliberately not in HI:
 *    it keeps UTC+12. The build script handles that ZIP with a curated override.
 *  - Military "states" AA/AE/AP are not geographic and are NOT in this table.
 */
export const STATE_ZONES: Readonly<Record<string, readonly string[]>> = deepFreeze({
  AK: [
    'America/Adak',
    'America/Anchorage',
    'America/Juneau',
    'America/Metlakatla',
    'America/Nome',
    'America/Sitka',
    'America/Yakutat',
  ],
  AL: ['America/Chicago', 'America/New_York'],
  AR: ['America/Chicago'],
  AS: ['Pacific/Pago_Pago'],
  AZ: ['America/Denver', 'America/Phoenix'],
  CA: ['America/Los_Angeles'],
  CO: ['America/Denver'],
  CT: ['America/New_York'],
  DC: ['America/New_York'],
  DE: ['America/New_York'],
  FL: ['America/Chicago', 'America/New_York'],
  FM: ['Pacific/Chuuk', 'Pacific/Kosrae', 'Pacific/Pohnpei'],
  GA: ['America/New_York'],
  GU: ['Pacific/Guam'],
  HI: ['Pacific/Honolulu'],
  IA: ['America/Chicago'],
  ID: ['America/Boise', 'America/Los_Angeles'],
  IL: ['America/Chicago'],
  IN: [
    'America/Chicago',
    'America/Indiana/Indianapolis',
    'America/Indiana/Knox',
    'America/Indiana/Marengo',
    'America/Indiana/Petersburg',
    'America/Indiana/Tell_City',
    'America/Indiana/Vevay',
    'America/Indiana/Vincennes',
    'America/Indiana/Winamac',
    'America/Kentucky/Louisville',
    'America/New_York',
  ],
  KS: ['America/Chicago', 'America/Denver'],
  KY: [
    'America/Chicago',
    'America/Kentucky/Louisville',
    'America/Kentucky/Monticello',
    'America/New_York',
  ],
  LA: ['America/Chicago'],
  MA: ['America/New_York'],
  MD: ['America/New_York'],
  ME: ['America/New_York'],
  MH: ['Pacific/Kwajalein', 'Pacific/Majuro'],
  MI: ['America/Detroit', 'America/Menominee'],
  MN: ['America/Chicago'],
  MO: ['America/Chicago'],
  MP: ['Pacific/Saipan'],
  MS: ['America/Chicago'],
  MT: ['America/Denver'],
  NC: ['America/New_York'],
  ND: [
    'America/Chicago',
    'America/Denver',
    'America/North_Dakota/Beulah',
    'America/North_Dakota/Center',
    'America/North_Dakota/New_Salem',
  ],
  NE: ['America/Chicago', 'America/Denver'],
  NH: ['America/New_York'],
  NJ: ['America/New_York'],
  NM: ['America/Denver'],
  NV: ['America/Denver', 'America/Los_Angeles'],
  NY: ['America/New_York'],
  OH: ['America/New_York'],
  OK: ['America/Chicago'],
  OR: ['America/Boise', 'America/Los_Angeles'],
  PA: ['America/New_York'],
  PR: ['America/Puerto_Rico'],
  PW: ['Pacific/Palau'],
  RI: ['America/New_York'],
  SC: ['America/New_York'],
  SD: ['America/Chicago', 'America/Denver'],
  TN: ['America/Chicago', 'America/New_York'],
  TX: ['America/Chicago', 'America/Denver'],
  UT: ['America/Denver'],
  VA: ['America/New_York'],
  VI: ['America/St_Thomas'],
  VT: ['America/New_York'],
  WA: ['America/Los_Angeles'],
  WI: ['America/Chicago'],
  WV: ['America/New_York'],
  WY: ['America/Denver'],
});

/** Sorted, de-duplicated union of every zone in STATE_ZONES. */
export const US_ZONES: readonly string[] = Object.freeze(
  [...new Set(Object.values(STATE_ZONES).flat())].sort(),
);

/** True for a USPS state/DC/territory code present in STATE_ZONES (case-sensitive, upper case). */
export function isKnownState(code: string): boolean {
  return Object.prototype.hasOwnProperty.call(STATE_ZONES, code);
}

function deepFreeze(
  table: Record<string, string[]>,
): Readonly<Record<string, readonly string[]>> {
  for (const zones of Object.values(table)) Object.freeze(zones);
  return Object.freeze(table);
}
