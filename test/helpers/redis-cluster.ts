/**
 * A Redis Cluster of the test's own on loopback: `masters` redis-server processes with
 * `--cluster-enabled yes` on free ports (their cluster bus on free ports too, `--cluster-port`),
 * no persistence, joined by `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`.
 * `stop()` kills them and removes their node files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisNode } from '../../src/config.ts';
import { freePort, until } from './engine.ts';
import { alive, captureOutput, stopChild } from './processes.ts';

export interface LocalCluster {
  nodes: RedisNode[];
  /** `host:port,host:port,…` for REDIS_CLUSTER_NODES. */
  spec: string;
  stop(): Promise<void>;
}

async function ping(port: number): Promise<boolean> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

async function clusterOk(port: number, masters: number): Promise<boolean> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    await c.connect();
    const info = (await c.call('CLUSTER', 'INFO')) as string;
    return /cluster_state:ok/.test(info) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(info) && /cluster_slots_assigned:16384/.test(info);
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const output = captureOutput(child, 20_000);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output());
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${output()}`));
    });
  });
}

export async function startLocalCluster(masters = 3): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tcpa-cluster-'));
  const procs: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(procs.map((p) => stopChild(p, 5000)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) {
      for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        const bus = await freePort();
        const proc = spawn(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, '--save', '', '--appendonly', 'no'],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        const output = captureOutput(proc);
        try {
          await until(async () => {
            if (!alive(proc)) throw new Error(`redis-server exited: ${output()}`);
            return ping(port);
          }, 10_000, 100);
          procs.push(proc);
          ports.push(port);
          break;
        } catch (err) {
          await stopChild(proc, 2000);
          if (attempt >= 3) throw err; // a port was taken between freePort() and the bind: try others
        }
      }
    }
    const nodes = ports.map((port) => ({ host: '127.0.0.1', port }));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `${n.host}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], 60_000);
    await until(async () => (await Promise.all(ports.map((p) => clusterOk(p, masters)))).every(Boolean), 30_000, 200);
    return { nodes, spec: nodes.map((n) => `${n.host}:${n.port}`).join(','), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
