/**
 * Location directory: ZIP code / area code (NPA) -> the IANA time zones the
 * recipient may be in.
 *
 * Pure runtime lookups: no I/O. The tables are generated at build time by
 * scripts/build-location-data.ts (see src/domain/location/data/README.md) and
 * bundled as JSON; the ZIP's state comes from the `zipcodes` package.
 *
 * Hot-path notes: indexes are built lazily on first use, results are cached
 * per ZIP / NPA and returned as shared, frozen objects (including the `zones`
 * and `issues` arrays). Do not mutate them (it throws in strict mode); copy
 * first if you need to.
 */
import zipcodes from 'zipcodes';
import zipJson from './data/zip-zones.json' with { type: 'json' };
import npaJson from './data/npa.json' with { type: 'json' };
import { STATE_ZONES } from './state-zones.ts';

export type ZipLookup =
  | { ok: true; zip: string; state: string; zones: string[]; source: 'zip' | 'state-fallback'; issues: string[] }
  | { ok: false; zip: string; code: 'INVALID_ZIP' | 'UNKNOWN_ZIP' | 'MILITARY_ZIP'; message: string; state?: string };

export type NpaLookup = { npa: string; state: string; zones: string[] };

/** Shape of data/zip-zones.json (see the generator for the meaning of each field). */
interface ZipZonesFile {
  radiusKm: number;
  zones: string[];
  sets: number[][];
  /** set index -> space-separated ZIPs */
  zips: Record<string, string>;
  /** space-separated ZIPs whose zones are the whole state's (coordinates not trusted) */
  fallback: string;
  /** space-separated APO/FPO/DPO ZIPs (AA/AE/AP) */
  military: string;
  issues: Record<string, string[]>;
}
interface NpaFile {
  npas: Record<string, { state: string; zones: string[] }>;
}

const MILITARY_STATES: ReadonlySet<string> = new Set(['AA', 'AE', 'AP']);
const ZIP_RE = /^(\d{5})(?:-\d{4})?$/;
const NPA_RE = /^[2-9]\d\d$/;
const NO_ISSUES: string[] = Object.freeze([]) as unknown as string[];

interface ZipIndex {
  zones: Map<string, string[]>;
  fallback: Set<string>;
  military: Set<string>;
  issues: Map<string, string[]>;
}

let zipIndex: ZipIndex | undefined;
const zipCache = new Map<string, ZipLookup>();
let npaIndex: Map<string, NpaLookup> | undefined;

function frozen(values: readonly string[]): string[] {
  return Object.freeze([...values]) as unknown as string[];
}

function splitZips(list: string): string[] {
  return list === '' ? [] : list.split(' ');
}

function getZipIndex(): ZipIndex {
  if (zipIndex) return zipIndex;
  const data = zipJson as ZipZonesFile;
  const setArrays = data.sets.map((set) =>
    frozen(
      set.map((i) => {
        const name = data.zones[i];
        if (name === undefined) throw new Error(`zip-zones.json: bad zone index ${i}`);
        return name;
      }),
    ),
  );
  const zones = new Map<string, string[]>();
  for (const [setIdx, list] of Object.entries(data.zips)) {
    const arr = setArrays[Number(setIdx)];
    if (!arr) throw new Error(`zip-zones.json: bad set index ${setIdx}`);
    for (const zip of splitZips(list)) zones.set(zip, arr);
  }
  const issues = new Map<string, string[]>();
  for (const [zip, codes] of Object.entries(data.issues)) issues.set(zip, frozen(codes));
  zipIndex = {
    zones,
    fallback: new Set(splitZips(data.fallback)),
    military: new Set(splitZips(data.military)),
    issues,
  };
  return zipIndex;
}

/**
 * Time zones for a US ZIP code ("02134" or ZIP+4 "02134-1234"; surrounding
 * whitespace is ignored, nothing else is normalised).
 *
 * ok:true  -> `zones` is every zone the ZIP's area may be in (usually one).
 *             `source` is 'state-fallback' when the ZIP's coordinates were
 *             unusable and the whole state's zones are returned; `issues`
 *             lists data-quality codes (e.g. LONGITUDE_SIGN_FLIPPED).
 * ok:false -> INVALID_ZIP (not 5 digits / ZIP+4), UNKNOWN_ZIP (not a known US
 *             ZIP), MILITARY_ZIP (APO/FPO/DPO: the time zone is unknowable).
 */
export function lookupZip(zip: string): ZipLookup {
  const m = typeof zip === 'string' ? ZIP_RE.exec(zip.trim()) : null;
  const zip5 = m?.[1];
  if (zip5 === undefined) {
    return {
      ok: false,
      zip: String(zip),
      code: 'INVALID_ZIP',
      message: `"${String(zip)}" is not a 5-digit ZIP code or ZIP+4 (NNNNN or NNNNN-NNNN)`,
    };
  }
  const cached = zipCache.get(zip5);
  if (cached) return cached;
  const result = resolveZip(zip5);
  zipCache.set(zip5, result);
  return result;
}

function resolveZip(zip: string): ZipLookup {
  const idx = getZipIndex();
  const entry = zipcodes.lookup(zip);
  const state = entry?.state;
  if (state === undefined || entry?.country !== 'US') {
    return Object.freeze({ ok: false, zip, code: 'UNKNOWN_ZIP', message: `ZIP ${zip} is not a known US ZIP code` });
  }
  if (MILITARY_STATES.has(state) || idx.military.has(zip)) {
    return Object.freeze({
      ok: false,
      zip,
      state,
      code: 'MILITARY_ZIP',
      message: `ZIP ${zip} is a military APO/FPO/DPO address (${state}); the recipient's time zone cannot be derived from it`,
    });
  }
  const zones = idx.zones.get(zip);
  if (zones) {
    return Object.freeze({
      ok: true,
      zip,
      state,
      zones,
      source: idx.fallback.has(zip) ? 'state-fallback' : 'zip',
      issues: idx.issues.get(zip) ?? NO_ISSUES,
    });
  }
  // Known to `zipcodes` but absent from the generated table (package upgraded
  // without re-running the generator): fall back to the whole state.
  const stateZones = STATE_ZONES[state];
  if (!stateZones) {
    return Object.freeze({
      ok: false,
      zip,
      state,
      code: 'UNKNOWN_ZIP',
      message: `ZIP ${zip} has state ${state}, which has no time-zone data`,
    });
  }
  return Object.freeze({
    ok: true,
    zip,
    state,
    zones: frozen(stateZones),
    source: 'state-fallback',
    issues: frozen(['NOT_IN_GENERATED_DATA']),
  });
}

/**
 * State and possible time zones for a US (incl. territories) area code.
 * `npa` must be exactly three digits, first digit 2-9. Returns undefined for
 * toll-free, non-US and unknown NPAs. The zone set is coarse (an NPA can span
 * hundreds of km and a mobile number can be anywhere); see data/README.md.
 */
export function lookupNpa(npa: string): NpaLookup | undefined {
  if (typeof npa !== 'string' || !NPA_RE.test(npa)) return undefined;
  return getNpaIndex().get(npa);
}

function getNpaIndex(): Map<string, NpaLookup> {
  if (npaIndex) return npaIndex;
  const data = npaJson as NpaFile;
  const byKey = new Map<string, string[]>(); // share identical zone arrays
  const map = new Map<string, NpaLookup>();
  for (const [npa, { state, zones }] of Object.entries(data.npas)) {
    const key = zones.join('|');
    let arr = byKey.get(key);
    if (!arr) {
      arr = frozen(zones);
      byKey.set(key, arr);
    }
    map.set(npa, Object.freeze({ npa, state, zones: arr }));
  }
  npaIndex = map;
  return npaIndex;
}
