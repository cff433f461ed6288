#!/usr/bin/env node
// The `tcpa` executable. Runs the CLI built by scripts/build-cli.mjs (plain JavaScript) when it
// was built from the sources as they are now, and the TypeScript sources through tsx's loader
// otherwise (or when TCPA_FROM_SOURCE=1): a stale build is never run.
import { fileURLToPath } from 'node:url';
import { freshBuild } from './built-cli.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = new URL('../dist/cli/tcpa/', import.meta.url);

if (process.env.TCPA_FROM_SOURCE !== '1' && freshBuild(root, fileURLToPath(built))) {
  await import(new URL('main.mjs', built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
