// Entry point of a `tcpa plan` worker thread (see plan-worker.ts): worker threads start without
// the parent's TypeScript loader, so register tsx's here, then load the worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./plan-worker.ts');
