// Whether the CLI built by scripts/build-cli.mjs matches the sources: every input listed in its
// manifest still has the hash it was built from. Used by bin/tcpa.mjs (and its tests).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** True when `builtDir/manifest.json` exists and each input under `root` hashes as recorded. */
export function freshBuild(root, builtDir) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(builtDir, 'manifest.json'), 'utf8'));
  } catch {
    return false;
  }
  const inputs = Object.entries(manifest.inputs ?? {});
  if (inputs.length === 0) return false;
  for (const [path, hash] of inputs) {
    let bytes;
    try {
      bytes = readFileSync(join(root, path));
    } catch {
      return false;
    }
    if (createHash('sha256').update(bytes).digest('hex') !== hash) return false;
  }
  return true;
}
