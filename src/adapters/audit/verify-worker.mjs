// Entry point of a verify worker thread (see verify-worker.ts): worker threads start without the
// parent's TypeScript loader, so register tsx's here, then load the worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./verify-worker.ts');
