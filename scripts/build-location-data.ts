/**
 * Build-time generator for the location data layer.
 *
 *   npm run build:location        (= tsx scripts/build-location-data.ts)
 *
 * Writes (deterministically; re-running with the same package versions gives
 * byte-identical files):
 *   src/domain/location/data/zip-zones.json   ZIP  -> IANA zones
 *   src/domain/location/data/npa.json         NPA  -> { state, zones }
 * and prints a summary. The runtime (src/domain/location/directory.ts) only
 * reads these JSON files; geo-tz and areacodes are dev dependencies used here.
 *
 * Sources
 *   - zipcodes   (node_modules/zipcodes/lib/codes.js): every US ZIP with a
 *     centroid latitude/longitude and USPS state. Canadian codes live in a
 *     separate file and are ignored.
 *   - geo-tz     (`geo-tz/all`, i.e. timezone-boundary-builder's full dataset):
 *     point -> IANA zone. We use the full dataset rather than the default
 *     "since 1970" one because the latter renames US territories to foreign
 *     zones with the same post-1970 offsets (Palau -> Asia/Tokyo, Majuro ->
 *     Pacific/Tarawa, Chuuk -> Pacific/Port_Moresby, USVI ->
 *     America/Puerto_Rico, ...). For the 50 states + DC both give the same
 *     names (checked over every ZIP centroid).
 *   - areacodes  (node_modules/areacodes/lib/data.json): NPA -> state + a
 *     reference coordinate (the centroid of the NPA's coverage polygon).
 *
 * ZIP -> zones
 *   For each ZIP we look up the zone at its centroid and at RING_POINTS = 8
 *   points on a circle of RADIUS_KM = 8 km around it. Why 8 km: a ZIP is an
 *   area, not a point, and the centroid alone misses ZIPs that straddle a
 *   time-zone line. The US has ~33k ZIP areas over ~9.2M km² of land, i.e. a
 *   mean of ~280 km² (radius ~9.5 km) and a median around 100 km²
 *   (radius ~5.6 km); a circle of 8 km (~200 km²) spans a typical ZIP. Large
 *   western ZIPs can reach further, dense urban ZIPs are much smaller (a
 *   larger radius there only adds zones, i.e. is conservative; nearly all
 *   dense areas are far from a zone line anyway).
 *   Every geo-tz answer is filtered through STATE_ZONES[state]: a sample point
 *   that lands in the ocean (geo-tz returns `Etc/GMT±N`) or in a zone that
 *   cannot occur in the ZIP's state (Canada, Mexico, a neighbouring state's
 *   zone) is ignored. The centroid's own zone MUST be plausible, otherwise
 *   the coordinates are not trusted (see below).
 *
 * Bad-data handling (issue codes end up in zip-zones.json `issues`)
 *   - Military AA/AE/AP ZIPs (APO/FPO/DPO): listed in `military`, no zones
 *     (their coordinates, when present, are the overseas base, and the
 *     recipient's time zone is unknowable from the ZIP).
 *   - Missing / non-finite / 0,0 coordinates -> STATE fallback,
 *     issue MISSING_COORDINATES.
 *   - Wrong sign: US longitudes are west (negative) except GU, MP, PW, FM and
 *     MH (east, positive); latitudes are north except AS. A wrong-signed
 *     coordinate is flipped and accepted only if the flipped centroid's zone
 *     is in STATE_ZONES[state] (issue LONGITUDE_SIGN_FLIPPED /
 *     LATITUDE_SIGN_FLIPPED); otherwise it falls through to the next rule.
 *   - Centroid zone not in STATE_ZONES[state] (ocean, another country, a
 *     zone impossible for the state) -> STATE fallback: the ZIP gets the full
 *     STATE_ZONES[state] set, source `state-fallback`,
 *     issue CENTROID_ZONE_NOT_IN_STATE.
 *   - ZIP_OVERRIDES: a tiny curated table for ZIPs where the USPS state is not
 *     the place's time-zone jurisdiction (Wake Island, filed under HI, keeps
 *     UTC+12), issue CURATED_OVERRIDE.
 *   - A ZIP whose state is neither military nor in STATE_ZONES aborts the
 *     build (the table must be extended deliberately).
 *
 * NPA -> zones
 *   From areacodes: type "local" entries whose stateCode is in STATE_ZONES
 *   (this drops toll-free codes and anything non-US; US territories are kept),
 *   plus NPA_ADDITIONS below (NPAs the package lacks: Puerto Rico and recent
 *   overlays; an overlay borrows the reference coordinate of the NPA it
 *   overlays). Zones:
 *     - state has exactly one zone -> that zone;
 *     - NPA has no reference coordinate -> every zone of the state;
 *     - otherwise the union of the zone sets of the state's ZIPs (trusted
 *       ones: not fallback/override/military) within NPA_RADIUS_KM = 300 km of
 *       the reference coordinate (if no such ZIP exists the coordinate is
 *       unusable -- areacodes puts 907 in the Atlantic -- and every zone of
 *       the state is used), UNION the `include` zones of the curated
 *       NPA_KNOWN_ZONES list of known multi-zone NPAs.
 *     - NPA_KNOWN_ZONES can instead give an `exact` set for an NPA whose whole
 *       area is known to be in one zone while the 300 km circle reaches over a
 *       zone line (Phoenix 602 would otherwise get the Navajo Nation's
 *       America/Denver, Nashville 615 Eastern time, Jacksonville 904 Central
 *       time, ...). An exact set may only NARROW: the build fails unless it is
 *       a subset of the computed set.
 *   An NPA only says where the number was first issued (and ported/mobile
 *   numbers move), so this is a coarse, conservative set: 300 km deliberately
 *   over-covers big NPAs. NPA-NXX rate-centre data (e.g. the LERG or NANPA
 *   central-office code assignments) would narrow it to a rate centre.
 */
import { find } from 'geo-tz/all';
import zipTable from 'zipcodes/lib/codes.js';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STATE_ZONES, isKnownState } from '../src/domain/location/state-zones.ts';

// ---------------------------------------------------------------- parameters

/** Radius of the sampling circle around each ZIP centroid (see header). */
const RADIUS_KM = 8;
/** Number of sample points on that circle (every 45°). */
const RING_POINTS = 8;
/** NPA reference coordinate -> ZIPs considered part of the NPA. */
const NPA_RADIUS_KM = 300;
const EARTH_RADIUS_KM = 6371.0088;

const MILITARY_STATES = new Set(['AA', 'AE', 'AP']);
/** Territories east of the antimeridian (positive longitude). */
const EAST_LONGITUDE_STATES = new Set(['GU', 'MP', 'PW', 'FM', 'MH']);
/** Territories south of the equator. */
const SOUTH_LATITUDE_STATES = new Set(['AS']);

type IssueCode =
  | 'MISSING_COORDINATES'
  | 'LONGITUDE_SIGN_FLIPPED'
  | 'LATITUDE_SIGN_FLIPPED'
  | 'CENTROID_ZONE_NOT_IN_STATE'
  | 'CURATED_OVERRIDE';

/** ZIPs whose USPS state is not their time-zone jurisdiction. */
const ZIP_OVERRIDES: Readonly<Record<string, { zones: readonly string[]; why: string }>> = {
  '96898': {
    zones: ['Pacific/Wake'],
    why: 'Wake Island: USPS files it under HI, but it keeps UTC+12 (Pacific/Wake)',
  },
};

/**
 * US NPAs missing from the areacodes package. `overlayOf` = the NPA whose
 * area it shares (its reference coordinate is reused); without it the NPA
 * gets every zone of its state (irrelevant for PR: one zone).
 */
const NPA_ADDITIONS: ReadonlyArray<{ npa: string; state: string; overlayOf?: string }> = [
  { npa: '787', state: 'PR' },
  { npa: '939', state: 'PR' },
  { npa: '235', state: 'MO', overlayOf: '573' },
  { npa: '324', state: 'FL', overlayOf: '904' },
  { npa: '350', state: 'CA', overlayOf: '209' },
  { npa: '353', state: 'WI', overlayOf: '608' },
  { npa: '363', state: 'NY', overlayOf: '516' },
  { npa: '436', state: 'OH', overlayOf: '440' },
  { npa: '448', state: 'FL', overlayOf: '850' },
  { npa: '471', state: 'MS', overlayOf: '662' },
  { npa: '472', state: 'NC', overlayOf: '910' },
  { npa: '572', state: 'OK', overlayOf: '405' },
  { npa: '645', state: 'FL', overlayOf: '305' },
  { npa: '656', state: 'FL', overlayOf: '813' },
  { npa: '826', state: 'VA', overlayOf: '540' },
  { npa: '840', state: 'CA', overlayOf: '909' },
  { npa: '945', state: 'TX', overlayOf: '214' },
  { npa: '948', state: 'VA', overlayOf: '757' },
  { npa: '983', state: 'CO', overlayOf: '303' },
];

/**
 * Known multi-zone NPAs (and their overlays). `include` is unioned with the
 * computed set; `exact` replaces it (only where the NPA's whole area is known
 * to be in one zone although the 300 km circle reaches another).
 */
const NPA_KNOWN_ZONES: Readonly<Record<string, { include?: readonly string[]; exact?: readonly string[] }>> = {
  // Florida panhandle west of the Apalachicola River is Central.
  '850': { include: ['America/New_York', 'America/Chicago'] },
  '448': { include: ['America/New_York', 'America/Chicago'] },
  // Idaho: south Mountain (Boise), north (panhandle) Pacific.
  '208': { include: ['America/Boise', 'America/Los_Angeles'] },
  '986': { include: ['America/Boise', 'America/Los_Angeles'] },
  // Oregon: Malheur County is Mountain.
  '541': { include: ['America/Los_Angeles', 'America/Boise'] },
  '458': { include: ['America/Los_Angeles', 'America/Boise'] },
  // Dakotas / Nebraska: the Central–Mountain line crosses them.
  '605': { include: ['America/Chicago', 'America/Denver'] },
  '701': { include: [...(STATE_ZONES.ND ?? [])] },
  '308': { include: ['America/Chicago', 'America/Denver'] },
  // Kansas: Sherman, Wallace (785), Greeley, Hamilton (620) are Mountain.
  '785': { include: ['America/Chicago', 'America/Denver'] },
  '620': { include: ['America/Chicago', 'America/Denver'] },
  // Michigan UP: four counties on the Wisconsin line are Central.
  '906': { include: ['America/Detroit', 'America/Menominee'] },
  // Indiana: south (Evansville CT, Tell City CT, Louisville/Cincinnati suburbs, ...).
  '812': {
    include: [
      'America/Chicago',
      'America/Indiana/Indianapolis',
      'America/Indiana/Marengo',
      'America/Indiana/Petersburg',
      'America/Indiana/Tell_City',
      'America/Indiana/Vevay',
      'America/Indiana/Vincennes',
      'America/Kentucky/Louisville',
      'America/New_York',
    ],
  },
  '930': {
    include: [
      'America/Chicago',
      'America/Indiana/Indianapolis',
      'America/Indiana/Marengo',
      'America/Indiana/Petersburg',
      'America/Indiana/Tell_City',
      'America/Indiana/Vevay',
      'America/Indiana/Vincennes',
      'America/Kentucky/Louisville',
      'America/New_York',
    ],
  },
  // Indiana north: Starke County (Knox, CT) and Pulaski (Winamac) are in 574; NW Indiana 219 is CT.
  '574': { include: ['America/Indiana/Indianapolis', 'America/Indiana/Knox', 'America/Indiana/Winamac'] },
  '219': { include: ['America/Chicago'] },
  // Kentucky: west Central, east Eastern; 606 includes Clinton County (CT) and Wayne (Monticello).
  '270': { include: ['America/New_York', 'America/Chicago', 'America/Kentucky/Louisville'] },
  '364': { include: ['America/New_York', 'America/Chicago', 'America/Kentucky/Louisville'] },
  '606': { include: ['America/New_York', 'America/Chicago', 'America/Kentucky/Monticello'] },
  // Tennessee: the ET/CT line runs through 931 and 423.
  '931': { include: ['America/New_York', 'America/Chicago'] },
  '423': { include: ['America/New_York', 'America/Chicago'] },
  // Texas: El Paso and Hudspeth counties (915) are Mountain; far-west 432 is CT with MT neighbours.
  '915': { exact: ['America/Denver'] },
  '432': { include: ['America/Chicago', 'America/Denver'] },
  // Nevada: West Wendover (Elko County) is Mountain.
  '775': { include: ['America/Los_Angeles', 'America/Denver'] },
  // Alaska: one NPA for the whole state.
  '907': { include: [...(STATE_ZONES.AK ?? [])] },
  // Arizona: the Navajo Nation (north-east, 928) observes DST.
  '928': { include: ['America/Phoenix', 'America/Denver'] },

  // ---- Single-zone NPAs whose 300 km circle (or misplaced reference
  // coordinate) reaches across a zone line. Every ZIP of the metro areas they
  // serve has exactly this zone in zip-zones.json, except ZIPs whose 8 km ring
  // spills over a state line (e.g. Farwell TX picks up NM's Denver, DeKalb
  // County AL picks up GA's New_York), which is not where these NPAs are.
  // An `exact` set must be a subset of the computed one (checked below).
  // Phoenix metro and Tucson/south-east Arizona: no DST, no Navajo land (520's
  // areacodes coordinate sits near Payson, hence the Denver spill-over).
  '480': { exact: ['America/Phoenix'] },
  '602': { exact: ['America/Phoenix'] },
  '623': { exact: ['America/Phoenix'] },
  '520': { exact: ['America/Phoenix'] },
  // Middle Tennessee (Nashville) is Central; Knoxville is Eastern.
  '615': { exact: ['America/Chicago'] },
  '629': { exact: ['America/Chicago'] },
  '865': { exact: ['America/New_York'] },
  // North/central Florida peninsula: Eastern (Central starts at the Apalachicola, 850).
  '904': { exact: ['America/New_York'] },
  '324': { exact: ['America/New_York'] },
  '352': { exact: ['America/New_York'] },
  '386': { exact: ['America/New_York'] },
  // Lexington / Northern Kentucky and Louisville / Frankfort: Eastern.
  '859': { exact: ['America/Kentucky/Louisville', 'America/New_York'] },
  '502': { exact: ['America/Kentucky/Louisville', 'America/New_York'] },
  // Lower Peninsula of Michigan: all America/Detroit (Menominee is only in 906).
  '231': { exact: ['America/Detroit'] },
  '616': { exact: ['America/Detroit'] },
  // Eastern Nebraska (Omaha, Lincoln, Norfolk): Central.
  '402': { exact: ['America/Chicago'] },
  '531': { exact: ['America/Chicago'] },
  // Texas Panhandle / Lubbock: Central (Texas Mountain time is El Paso + Hudspeth, 915).
  '806': { exact: ['America/Chicago'] },
  // Alabama outside the Phenix City area (334): Central.
  '205': { exact: ['America/Chicago'] },
  '659': { exact: ['America/Chicago'] },
  '251': { exact: ['America/Chicago'] },
  '256': { exact: ['America/Chicago'] },
  '938': { exact: ['America/Chicago'] },
  // Indianapolis metro and Fort Wayne / north-east Indiana: America/Indiana/Indianapolis.
  '317': { exact: ['America/Indiana/Indianapolis'] },
  '463': { exact: ['America/Indiana/Indianapolis'] },
  '260': { exact: ['America/Indiana/Indianapolis'] },
};

// ------------------------------------------------------------------- helpers

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const outDir = join(root, 'src/domain/location/data');
const require = createRequire(import.meta.url);

function stateZones(state: string): readonly string[] {
  const z = STATE_ZONES[state];
  if (!z) throw new Error(`no STATE_ZONES entry for ${state}`);
  return z;
}

const rad = (d: number): number => (d * Math.PI) / 180;
const deg = (r: number): number => (r * 180) / Math.PI;

/** Point at `distKm` from (lat, lon) along initial bearing `bearingDeg` (great circle). */
function destination(lat: number, lon: number, bearingDeg: number, distKm: number): [number, number] {
  const d = distKm / EARTH_RADIUS_KM;
  const p1 = rad(lat);
  const l1 = rad(lon);
  const b = rad(bearingDeg);
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
  const l2 = l1 + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  let lonOut = deg(l2);
  lonOut = ((((lonOut + 180) % 360) + 360) % 360) - 180; // normalise to [-180, 180)
  return [Math.max(-90, Math.min(90, deg(p2))), lonOut];
}

function haversineKm(aLat: number, aLon: number, bLat: number, bLon: number): number {
  const dp = rad(bLat - aLat);
  const dl = rad(bLon - aLon);
  const h = Math.sin(dp / 2) ** 2 + Math.cos(rad(aLat)) * Math.cos(rad(bLat)) * Math.sin(dl / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

const isEtc = (zone: string): boolean => zone.startsWith('Etc/');

/** geo-tz zones at a point that are plausible for `state`. */
function plausibleZonesAt(lat: number, lon: number, state: string, stats?: SampleStats): string[] {
  const allowed = stateZones(state);
  const out: string[] = [];
  for (const z of find(lat, lon)) {
    if (allowed.includes(z)) out.push(z);
    else if (stats) {
      if (isEtc(z)) stats.ocean++;
      else stats.foreign++;
    }
  }
  return out;
}

interface SampleStats {
  ocean: number;
  foreign: number;
}

function validCoord(lat: unknown, lon: unknown): lat is number {
  return (
    typeof lat === 'number' &&
    typeof lon === 'number' &&
    Number.isFinite(lat) &&
    Number.isFinite(lon) &&
    !(lat === 0 && lon === 0) &&
    Math.abs(lat) <= 90 &&
    Math.abs(lon) <= 180
  );
}

// --------------------------------------------------------------- ZIP -> zones

interface ZipResult {
  zip: string;
  state: string;
  zones: string[]; // sorted
  fallback: boolean;
  issues: IssueCode[];
  /** Coordinate actually used (after a sign flip), for the NPA step. */
  coord?: [number, number];
  trusted: boolean;
}

const sampleStats: SampleStats = { ocean: 0, foreign: 0 };
const usCodes = Object.values(zipTable.codes)
  .filter((c) => c.country === 'US')
  .sort((a, b) => (a.zip < b.zip ? -1 : a.zip > b.zip ? 1 : 0));

const military: string[] = [];
const results: ZipResult[] = [];
const notes: string[] = [];

for (const c of usCodes) {
  const { zip, state } = c;
  if (!/^\d{5}$/.test(zip)) throw new Error(`unexpected ZIP key ${JSON.stringify(zip)}`);
  if (MILITARY_STATES.has(state)) {
    military.push(zip);
    continue;
  }
  if (!isKnownState(state)) {
    throw new Error(`ZIP ${zip}: state ${state} is neither military nor in STATE_ZONES; extend state-zones.ts`);
  }

  const override = ZIP_OVERRIDES[zip];
  if (override) {
    results.push({ zip, state, zones: [...override.zones].sort(), fallback: false, issues: ['CURATED_OVERRIDE'], trusted: false });
    notes.push(`${zip} ${state} ${c.city}: CURATED_OVERRIDE -> ${override.zones.join(',')} (${override.why})`);
    continue;
  }

  const fallback = (issue: IssueCode, detail: string, extra: IssueCode[] = []): void => {
    results.push({ zip, state, zones: [...stateZones(state)].sort(), fallback: true, issues: [...extra, issue], trusted: false });
    notes.push(`${zip} ${state} ${c.city}: ${issue} (${detail}) -> state fallback ${stateZones(state).join(',')}`);
  };

  const lat0 = c.latitude;
  const lon0 = c.longitude;
  if (!validCoord(lat0, lon0)) {
    fallback('MISSING_COORDINATES', `lat=${String(lat0)} lon=${String(lon0)}`);
    continue;
  }

  let lat = lat0;
  let lon = lon0;
  const issues: IssueCode[] = [];
  const lonShouldBePositive = EAST_LONGITUDE_STATES.has(state);
  const latShouldBeNegative = SOUTH_LATITUDE_STATES.has(state);
  const lonWrong = lonShouldBePositive ? lon < 0 : lon > 0;
  const latWrong = latShouldBeNegative ? lat > 0 : lat < 0;
  if (lonWrong || latWrong) {
    const fLat = latWrong ? -lat : lat;
    const fLon = lonWrong ? -lon : lon;
    if (plausibleZonesAt(fLat, fLon, state).length > 0) {
      lat = fLat;
      lon = fLon;
      if (lonWrong) issues.push('LONGITUDE_SIGN_FLIPPED');
      if (latWrong) issues.push('LATITUDE_SIGN_FLIPPED');
      notes.push(`${zip} ${state} ${c.city}: sign flipped (${lat0},${lon0}) -> (${lat},${lon})`);
    }
  }

  const centroid = plausibleZonesAt(lat, lon, state);
  if (centroid.length === 0) {
    fallback('CENTROID_ZONE_NOT_IN_STATE', `(${lat},${lon}) -> ${find(lat, lon).join(',') || 'none'}`);
    continue;
  }
  const zones = new Set(centroid);
  for (let i = 0; i < RING_POINTS; i++) {
    const [pLat, pLon] = destination(lat, lon, (360 / RING_POINTS) * i, RADIUS_KM);
    for (const z of plausibleZonesAt(pLat, pLon, state, sampleStats)) zones.add(z);
  }
  results.push({ zip, state, zones: [...zones].sort(), fallback: false, issues, coord: [lat, lon], trusted: true });
}

// Deduplicate zone sets.
const zoneNames = [...new Set(results.flatMap((r) => r.zones))].sort();
const zoneIndex = new Map(zoneNames.map((z, i) => [z, i] as const));
const setKey = (zones: readonly string[]): string => zones.join('|');
const setKeys = [...new Set(results.map((r) => setKey(r.zones)))].sort((a, b) => {
  const ia = a.split('|').map((z) => zoneIndex.get(z) ?? -1);
  const ib = b.split('|').map((z) => zoneIndex.get(z) ?? -1);
  for (let i = 0; i < Math.min(ia.length, ib.length); i++) {
    const d = (ia[i] ?? 0) - (ib[i] ?? 0);
    if (d !== 0) return d;
  }
  return ia.length - ib.length;
});
const setIndex = new Map(setKeys.map((k, i) => [k, i] as const));
const sets = setKeys.map((k) => k.split('|').map((z) => zoneIndex.get(z) ?? -1));
const zipsBySet: Record<string, string> = {};
for (let i = 0; i < sets.length; i++) {
  zipsBySet[String(i)] = results
    .filter((r) => setIndex.get(setKey(r.zones)) === i)
    .map((r) => r.zip)
    .join(' ');
}
const issuesByZip: Record<string, IssueCode[]> = {};
for (const r of results) if (r.issues.length > 0) issuesByZip[r.zip] = r.issues;

const zipData = {
  generatedBy: 'scripts/build-location-data.ts (npm run build:location)',
  sources: {
    zipcodes: pkgVersion('zipcodes'),
    'geo-tz': `${pkgVersion('geo-tz')} (geo-tz/all)`,
  },
  radiusKm: RADIUS_KM,
  ringPoints: RING_POINTS,
  zones: zoneNames,
  sets,
  zips: zipsBySet,
  fallback: results.filter((r) => r.fallback).map((r) => r.zip).join(' '),
  military: military.join(' '),
  issues: issuesByZip,
};

// --------------------------------------------------------------- NPA -> zones

interface AreaCodeEntry {
  type: string;
  stateCode: string | null;
  location?: { latitude: number | null; longitude: number | null };
}
const areaCodes = JSON.parse(
  readFileSync(require.resolve('areacodes/lib/data.json'), 'utf8'),
) as Record<string, AreaCodeEntry>;

interface NpaSource {
  npa: string;
  state: string;
  coord?: [number, number];
  origin: 'areacodes' | 'curated';
}
const npaSources = new Map<string, NpaSource>();
let skippedNpa = 0;
for (const [npa, e] of Object.entries(areaCodes)) {
  if (e.type !== 'local' || !e.stateCode || !isKnownState(e.stateCode) || !/^[2-9]\d\d$/.test(npa)) {
    skippedNpa++;
    continue;
  }
  const la = e.location?.latitude;
  const lo = e.location?.longitude;
  const src: NpaSource = { npa, state: e.stateCode, origin: 'areacodes' };
  if (validCoord(la, lo)) src.coord = [la, lo as number];
  npaSources.set(npa, src);
}
for (const add of NPA_ADDITIONS) {
  const existing = npaSources.get(add.npa);
  if (existing) {
    if (existing.state !== add.state) {
      throw new Error(`NPA ${add.npa}: areacodes says ${existing.state}, curated overlay says ${add.state}`);
    }
    continue; // the package caught up; keep its coordinate
  }
  const src: NpaSource = { npa: add.npa, state: add.state, origin: 'curated' };
  if (add.overlayOf) {
    const parent = npaSources.get(add.overlayOf);
    if (!parent || parent.state !== add.state) throw new Error(`NPA ${add.npa}: bad overlayOf ${add.overlayOf}`);
    if (parent.coord) src.coord = parent.coord;
  }
  npaSources.set(add.npa, src);
}
for (const npa of Object.keys(NPA_KNOWN_ZONES)) {
  const src = npaSources.get(npa);
  if (!src) throw new Error(`NPA_KNOWN_ZONES ${npa}: unknown NPA`);
  const known = NPA_KNOWN_ZONES[npa];
  for (const z of [...(known?.include ?? []), ...(known?.exact ?? [])]) {
    if (!stateZones(src.state).includes(z)) throw new Error(`NPA_KNOWN_ZONES ${npa}: ${z} not in ${src.state}`);
  }
}

const trustedByState = new Map<string, ZipResult[]>();
for (const r of results) {
  if (!r.trusted || !r.coord) continue;
  const list = trustedByState.get(r.state) ?? [];
  list.push(r);
  trustedByState.set(r.state, list);
}

const npaOut: Record<string, { state: string; zones: string[] }> = {};
const npaMethod = { single: 0, radius: 0, noCoord: 0, exact: 0, empty: 0 };
const npaNotes: string[] = [];
for (const npa of [...npaSources.keys()].sort()) {
  const src = npaSources.get(npa);
  if (!src) continue;
  const all = stateZones(src.state);
  const known = NPA_KNOWN_ZONES[npa];
  let zones: Set<string>;
  if (all.length === 1) {
    zones = new Set(all);
    npaMethod.single++;
  } else if (!src.coord) {
    zones = new Set(all);
    npaMethod.noCoord++;
    npaNotes.push(`${npa} ${src.state}: no reference coordinate -> all ${all.length} state zones`);
  } else {
    const [la, lo] = src.coord;
    zones = new Set<string>();
    for (const r of trustedByState.get(src.state) ?? []) {
      const [zla, zlo] = r.coord ?? [0, 0];
      if (haversineKm(la, lo, zla, zlo) <= NPA_RADIUS_KM) for (const z of r.zones) zones.add(z);
    }
    if (zones.size === 0) {
      // The reference coordinate is nowhere near the state: treat as missing.
      zones = new Set(all);
      npaMethod.empty++;
      npaNotes.push(`${npa} ${src.state}: reference coordinate (${la},${lo}) has no ${src.state} ZIP within ${NPA_RADIUS_KM} km -> all ${all.length} state zones`);
    } else {
      npaMethod.radius++;
    }
    if (known?.exact) {
      const missing = known.exact.filter((z) => !zones.has(z));
      if (missing.length > 0) throw new Error(`NPA_KNOWN_ZONES ${npa}: exact zone(s) ${missing.join(',')} not in computed set`);
      npaNotes.push(`${npa} ${src.state}: computed ${[...zones].sort().join(',')} -> exact ${known.exact.join(',')}`);
      zones = new Set(known.exact);
      npaMethod.exact++;
    }
    for (const z of known?.include ?? []) zones.add(z);
  }
  npaOut[npa] = { state: src.state, zones: [...zones].sort() };
}

const npaData = {
  generatedBy: 'scripts/build-location-data.ts (npm run build:location)',
  sources: { areacodes: pkgVersion('areacodes'), curatedAdditions: NPA_ADDITIONS.map((a) => a.npa).sort() },
  radiusKm: NPA_RADIUS_KM,
  npas: npaOut,
};

// ------------------------------------------------------------------- output

mkdirSync(outDir, { recursive: true });
const zipPath = join(outDir, 'zip-zones.json');
const npaPath = join(outDir, 'npa.json');
writeFileSync(zipPath, serialize(zipData));
writeFileSync(npaPath, serialize(npaData));

const multi = results.filter((r) => !r.fallback && r.zones.length > 1);
const byState = new Map<string, number>();
for (const r of multi) byState.set(r.state, (byState.get(r.state) ?? 0) + 1);
const count = (code: IssueCode): number => results.filter((r) => r.issues.includes(code)).length;

const lines = [
  `ZIP table (${zipcodesCount(usCodes.length)}), radius ${RADIUS_KM} km x ${RING_POINTS} points`,
  `  total US ZIPs        ${usCodes.length}`,
  `  with zones           ${results.length}`,
  `  multi-zone           ${multi.length}  (${[...byState].sort().map(([s, n]) => `${s}:${n}`).join(' ')})`,
  `  sign flipped         ${count('LONGITUDE_SIGN_FLIPPED') + count('LATITUDE_SIGN_FLIPPED')}`,
  `  state fallback       ${results.filter((r) => r.fallback).length}`,
  `  curated override     ${count('CURATED_OVERRIDE')}`,
  `  military (no zones)  ${military.length}`,
  `  ignored samples      ocean ${sampleStats.ocean}, other-zone ${sampleStats.foreign}`,
  `  distinct zones ${zoneNames.length}, distinct sets ${sets.length}`,
  `NPA table: ${Object.keys(npaOut).length} NPAs (skipped ${skippedNpa} toll-free/non-US), radius ${NPA_RADIUS_KM} km`,
  `  single-zone state ${npaMethod.single}, by radius ${npaMethod.radius} (of which narrowed by a curated exact set ${npaMethod.exact}), no coordinate ${npaMethod.noCoord}, unusable coordinate ${npaMethod.empty}`,
  `  multi-zone NPAs: ${Object.entries(npaOut).filter(([, v]) => v.zones.length > 1).map(([k, v]) => `${k}(${v.state}:${v.zones.length})`).join(' ')}`,
  ...npaNotes.map((n) => `  ${n}`),
  'ZIP notes:',
  ...notes.map((n) => `  ${n}`),
  `Wrote ${relative(root, zipPath)} (${bytes(zipPath)}) and ${relative(root, npaPath)} (${bytes(npaPath)})`,
];
console.log(lines.join('\n'));

// ------------------------------------------------------------------ utility

function pkgVersion(name: string): string {
  // Not require.resolve(`${name}/package.json`): geo-tz's "exports" hides it.
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function zipcodesCount(n: number): string {
  return `zipcodes ${pkgVersion('zipcodes')}: ${n} US codes`;
}

function bytes(path: string): string {
  return `${(readFileSync(path).length / 1024).toFixed(1)} KB`;
}

/**
 * JSON with one line per top-level key and per entry of the large maps
 * (zips / npas / issues), so diffs after a regeneration stay readable.
 */
function serialize(obj: Record<string, unknown>): string {
  const out: string[] = [];
  const keys = Object.keys(obj);
  keys.forEach((k, i) => {
    const v = obj[k];
    const comma = i < keys.length - 1 ? ',' : '';
    if (v && typeof v === 'object' && !Array.isArray(v) && ['zips', 'npas', 'issues'].includes(k)) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) {
        out.push(`  ${JSON.stringify(k)}: {}${comma}`);
        return;
      }
      out.push(`  ${JSON.stringify(k)}: {`);
      entries.forEach(([ek, ev], j) => {
        out.push(`    ${JSON.stringify(ek)}: ${JSON.stringify(ev)}${j < entries.length - 1 ? ',' : ''}`);
      });
      out.push(`  }${comma}`);
    } else {
      out.push(`  ${JSON.stringify(k)}: ${JSON.stringify(v)}${comma}`);
    }
  });
  return `{\n${out.join('\n')}\n}\n`;
}
