/**
 * Helpers for tests of the Python worker: model code that behaves as model code can
 * (test/fixtures/worker/model_code.py, loaded by the real `validate.load` op in the torch env),
 * and process checks.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { toolRoot } from '../../src/paths.js';
import type { OpRequest } from '../../src/toolchain/protocol/index.js';

export const MODEL_CODE = path.join(toolRoot, 'test', 'fixtures', 'worker', 'model_code.py');

/** A `validate.load` request that runs `callable(**kwargs)` of model_code.py as PyTorch model code. */
export function modelCode(callable: string, kwargs: Record<string, unknown> = {}): OpRequest<'validate.load'> {
  return { runtime: 'pytorch', model: { file: MODEL_CODE, callable, kwargs } };
}

/** True while `pid` runs (a zombie, dead but not yet reaped, counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Milliseconds until every pid is gone; rejects after `limitMs` naming the ones still alive. */
export async function msUntilGone(pids: readonly number[], limitMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0) return Date.now() - started;
    if (Date.now() - started > limitMs) throw new Error(`still alive after ${limitMs} ms: ${left.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The "<worker pid> <child pid>" that model_code.spawning writes, once written. */
export async function spawnedPids(pidfile: string, limitMs = 60_000): Promise<[worker: number, child: number]> {
  const started = Date.now();
  while (!existsSync(pidfile) || !readFileSync(pidfile, 'utf8').endsWith('\n')) {
    if (Date.now() - started > limitMs) throw new Error(`${pidfile} was not written within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const [worker, child] = readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
  return [worker!, child!];
}
