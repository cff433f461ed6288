/**
 * A worker thread of the parallel chain verifier (AuditLog.verify): verifies one seq range of an
 * org's chain over its own connection and posts the segment back. Loaded through
 * verify-worker.mjs, which registers the TypeScript loader in the thread first.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';
import { verifyRange } from './chain-reader.ts';

export interface VerifyWorkerInput {
  connectionString: string;
  orgId: string;
  fromSeq: number;
  toSeq: number;
  pageSize: number;
}

const input = workerData as VerifyWorkerInput;
const client = new pg.Client({ connectionString: input.connectionString });
client.on('error', () => {});
try {
  await client.connect();
  const segment = await verifyRange(client, input.orgId, input.fromSeq, input.toSeq, input.pageSize);
  parentPort?.postMessage({ ok: true, segment });
} catch (err) {
  parentPort?.postMessage({ ok: false, error: (err as Error).message });
} finally {
  await client.end().catch(() => undefined);
}
