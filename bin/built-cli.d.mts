/** True when `builtDir/manifest.json` exists and each input under `root` hashes as recorded. */
export function freshBuild(root: string, builtDir: string): boolean;
