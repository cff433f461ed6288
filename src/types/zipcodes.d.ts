// Minimal typings for the `zipcodes` package (it ships none and there is no
// @types package). Only what this project uses is declared.

declare module 'zipcodes' {
  export interface ZipCodeEntry {
    zip: string;
    latitude: number;
    longitude: number;
    city: string;
    /** USPS state/territory code, including the military AA/AE/AP. */
    state: string;
    /** "US" for US codes (Canadian codes come from a separate table). */
    country: string;
  }
  /** Exact-key lookup: a 5-digit US ZIP string, or a Canadian FSA. */
  export function lookup(zip: string | number): ZipCodeEntry | undefined;
  export function lookupByState(state: string): ZipCodeEntry[];
  export const codes: Readonly<Record<string, ZipCodeEntry>>;
  const zipcodes: {
    lookup: typeof lookup;
    lookupByState: typeof lookupByState;
    codes: typeof codes;
  };
  export default zipcodes;
}

/** The raw US table (used only by scripts/build-location-data.ts). */
declare module 'zipcodes/lib/codes.js' {
  import type { ZipCodeEntry } from 'zipcodes';
  const table: {
    codes: Readonly<Record<string, ZipCodeEntry>>;
    stateMap: Readonly<Record<string, readonly string[]>>;
  };
  export default table;
}
