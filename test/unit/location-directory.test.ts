import { describe, expect, it } from 'vitest';
import { lookupNpa, lookupZip, type ZipLookup } from '../../src/domain/location/directory.ts';
import { STATE_ZONES, US_ZONES, isKnownState } from '../../src/domain/location/state-zones.ts';
import zipJson from '../../src/domain/location/data/zip-zones.json' with { type: 'json' };
import npaJson from '../../src/domain/location/data/npa.json' with { type: 'json' };

function ok(zip: string): Extract<ZipLookup, { ok: true }> {
  const r = lookupZip(zip);
  if (!r.ok) throw new Error(`expected ${zip} to resolve, got ${r.code}: ${r.message}`);
  return r;
}

describe('lookupZip: well-known single-zone ZIPs', () => {
  it.each([
    ['10001', 'NY', 'America/New_York'], // Manhattan
    ['90210', 'CA', 'America/Los_Angeles'], // Beverly Hills
    ['85001', 'AZ', 'America/Phoenix'], // Phoenix: no DST
    ['96813', 'HI', 'Pacific/Honolulu'],
    ['00901', 'PR', 'America/Puerto_Rico'], // San Juan
    ['96910', 'GU', 'Pacific/Guam'], // Hagåtña
    ['99501', 'AK', 'America/Anchorage'],
    ['32501', 'FL', 'America/Chicago'], // Pensacola: FL panhandle is Central
    ['32301', 'FL', 'America/New_York'], // Tallahassee: east of the Apalachicola
    ['79901', 'TX', 'America/Denver'], // El Paso is Mountain
    ['00802', 'VI', 'America/St_Thomas'],
    ['96799', 'AS', 'Pacific/Pago_Pago'],
    ['96950', 'MP', 'Pacific/Saipan'],
  ])('%s (%s) -> %s', (zip, state, zone) => {
    const r = ok(zip);
    expect(r).toEqual({ ok: true, zip, state, zones: [zone], source: 'zip', issues: [] });
  });

  it('86515 Window Rock (Navajo Nation, AZ) observes DST: America/Denver', () => {
    const r = ok('86515');
    expect(r.state).toBe('AZ');
    expect(r.zones).toContain('America/Denver');
  });
});

describe('lookupZip: ZIPs near a time-zone line get every plausible zone', () => {
  it('86045 Tuba City AZ: Navajo (DST) next to Hopi Moenkopi (no DST)', () => {
    expect(ok('86045').zones).toEqual(['America/Denver', 'America/Phoenix']);
  });
  it('89883 West Wendover NV: city on Mountain time, rest of Elko County Pacific', () => {
    const r = ok('89883');
    expect(r.state).toBe('NV');
    expect(r.zones).toEqual(['America/Denver', 'America/Los_Angeles']);
  });
});

describe('lookupZip: input handling and errors', () => {
  it('accepts ZIP+4 and surrounding whitespace, returns the 5-digit ZIP', () => {
    expect(ok('10001-1234')).toMatchObject({ zip: '10001', zones: ['America/New_York'] });
    expect(ok(' 10001 ').zip).toBe('10001');
  });

  it.each(['1234', '123456', '10001-12', '1000I', '', '10001 1234', '100011234'])(
    'rejects %j as INVALID_ZIP',
    (zip) => {
      const r = lookupZip(zip);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.code).toBe('INVALID_ZIP');
    },
  );

  it('unknown 5-digit ZIP -> UNKNOWN_ZIP', () => {
    expect(lookupZip('00000')).toMatchObject({ ok: false, zip: '00000', code: 'UNKNOWN_ZIP' });
  });

  it.each([
    ['09001', 'AE'],
    ['96201', 'AP'],
    ['34001', 'AA'],
  ])('military %s (%s) -> MILITARY_ZIP', (zip, state) => {
    expect(lookupZip(zip)).toMatchObject({ ok: false, zip, state, code: 'MILITARY_ZIP' });
  });
});

describe('lookupZip: bad source data', () => {
  it('10200 (NY, published with longitude +73.95) is sign-flipped back to Manhattan', () => {
    expect(ok('10200')).toEqual({
      ok: true,
      zip: '10200',
      state: 'NY',
      zones: ['America/New_York'],
      source: 'zip',
      issues: ['LONGITUDE_SIGN_FLIPPED'],
    });
  });

  it('96898 Wake Island (filed under HI) keeps UTC+12, not Honolulu', () => {
    expect(ok('96898')).toMatchObject({ state: 'HI', zones: ['Pacific/Wake'], issues: ['CURATED_OVERRIDE'] });
  });
});

describe('lookupZip: performance contract', () => {
  it('returns shared, frozen arrays', () => {
    const a = ok('10001');
    const b = ok('10002');
    expect(a.zones).toBe(b.zones);
    expect(Object.isFrozen(a.zones)).toBe(true);
    expect(Object.isFrozen(a.issues)).toBe(true);
    expect(() => (a.zones as string[]).push('x')).toThrow();
  });
});

describe('lookupNpa', () => {
  it.each([
    ['212', 'NY', ['America/New_York']],
    ['305', 'FL', ['America/New_York']], // Miami: Eastern only
    ['850', 'FL', ['America/Chicago', 'America/New_York']], // panhandle spans both
    ['208', 'ID', ['America/Boise', 'America/Los_Angeles']], // south Mountain, north Pacific
    ['808', 'HI', ['Pacific/Honolulu']],
    ['787', 'PR', ['America/Puerto_Rico']], // not in the areacodes package: curated
    ['939', 'PR', ['America/Puerto_Rico']],
    ['602', 'AZ', ['America/Phoenix']], // Phoenix metro: no Navajo land
    ['915', 'TX', ['America/Denver']], // El Paso
    ['615', 'TN', ['America/Chicago']], // Nashville
  ])('%s -> %s %j', (npa, state, zones) => {
    expect(lookupNpa(npa)).toEqual({ npa, state, zones });
  });

  it('928 (northern AZ) includes the Navajo Nation', () => {
    expect(lookupNpa('928')?.zones).toEqual(['America/Denver', 'America/Phoenix']);
  });

  it('907 covers every Alaska zone', () => {
    expect(lookupNpa('907')?.zones).toEqual([...(STATE_ZONES.AK ?? [])].sort());
  });

  it('recent overlays missing from the package are present', () => {
    expect(lookupNpa('945')?.state).toBe('TX');
    expect(lookupNpa('983')?.state).toBe('CO');
  });

  it.each(['800', '888', '123', '12', 'abc', '2125'])('%j -> undefined', (npa) => {
    expect(lookupNpa(npa)).toBeUndefined();
  });
});

describe('STATE_ZONES', () => {
  it('has the 50 states, DC and 8 territories, no military codes', () => {
    expect(Object.keys(STATE_ZONES)).toHaveLength(59);
    for (const c of ['PR', 'VI', 'GU', 'MP', 'AS', 'FM', 'MH', 'PW', 'DC']) expect(isKnownState(c)).toBe(true);
    for (const c of ['AA', 'AE', 'AP', 'XX', 'ny']) expect(isKnownState(c)).toBe(false);
  });

  it('multi-zone states', () => {
    expect(STATE_ZONES.KY).toEqual([
      'America/Chicago',
      'America/Kentucky/Louisville',
      'America/Kentucky/Monticello',
      'America/New_York',
    ]);
    expect(STATE_ZONES.AZ).toEqual(['America/Denver', 'America/Phoenix']);
    expect(STATE_ZONES.MI).toEqual(['America/Detroit', 'America/Menominee']);
  });

  it('US_ZONES is the sorted unique union', () => {
    expect(US_ZONES).toEqual([...new Set(Object.values(STATE_ZONES).flat())].sort());
  });

  it('every zone is a valid IANA zone for Intl', () => {
    for (const z of US_ZONES) expect(() => new Intl.DateTimeFormat('en-US', { timeZone: z })).not.toThrow();
  });
});

describe('generated data invariants', () => {
  it('every ZIP zone set is non-empty, valid, and within its state (except curated overrides)', () => {
    const data = zipJson as { zones: string[]; sets: number[][]; zips: Record<string, string>; issues: Record<string, string[]> };
    let count = 0;
    const problems: string[] = []; // collected, so 40k ZIPs cost one assertion
    for (const [setIdx, list] of Object.entries(data.zips)) {
      const set = (data.sets[Number(setIdx)] ?? []).map((i) => data.zones[i]);
      if (set.length === 0 || set.some((z) => z === undefined)) problems.push(`bad set ${setIdx}`);
      for (const zip of list.split(' ')) {
        count++;
        const r = lookupZip(zip);
        if (!r.ok) {
          problems.push(`${zip}: ${r.code}`);
          continue;
        }
        if (r.zones.join() !== set.join()) problems.push(`${zip}: ${r.zones.join()} != ${set.join()}`);
        if (r.issues.includes('CURATED_OVERRIDE')) continue;
        const allowed = STATE_ZONES[r.state] ?? [];
        for (const z of r.zones) if (!allowed.includes(z)) problems.push(`${zip} ${r.state}: ${z}`);
      }
    }
    expect(problems).toEqual([]);
    expect(count).toBeGreaterThan(40_000);
  });

  it('every NPA has a known state and zones within it', () => {
    const data = npaJson as { npas: Record<string, { state: string; zones: string[] }> };
    for (const [npa, { state, zones }] of Object.entries(data.npas)) {
      expect(isKnownState(state), npa).toBe(true);
      expect(zones.length, npa).toBeGreaterThan(0);
      for (const z of zones) expect(STATE_ZONES[state], `${npa} ${z}`).toContain(z);
    }
  });
});
