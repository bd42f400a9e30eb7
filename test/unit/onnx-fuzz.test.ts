import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeModel, encodeModel, inspectModel, OnnxFormatError } from '../../src/formats/onnx/index.js';
import { convNet } from './onnx-fixtures.js';

/** xorshift32: the same mutations on every run. */
function rng(seed: number) {
  let state = seed >>> 0 || 1;
  return (limit: number) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % limit;
  };
}

type Mutation = 'truncate' | 'bitflip' | 'huge-length' | 'random-bytes' | 'random-file';

function mutate(valid: Uint8Array, kind: Mutation, next: (limit: number) => number): Uint8Array {
  const bytes = Uint8Array.from(valid);
  switch (kind) {
    case 'truncate':
      return bytes.subarray(0, next(bytes.length));
    case 'bitflip': {
      for (let i = 0, n = 1 + next(8); i < n; i++) bytes[next(bytes.length)]! ^= 1 << next(8);
      return bytes;
    }
    case 'huge-length': {
      // Overwrite 5 bytes with a maximal varint, as a corrupt length prefix would be.
      const at = next(bytes.length - 5);
      bytes.set([0xff, 0xff, 0xff, 0xff, 0x0f], at);
      return bytes;
    }
    case 'random-bytes': {
      const at = next(bytes.length);
      for (let i = at; i < Math.min(bytes.length, at + 1 + next(32)); i++) bytes[i] = next(256);
      return bytes;
    }
    case 'random-file':
      return Uint8Array.from({ length: next(512) }, () => next(256));
  }
}

test('600 seeded mutations of a valid ONNX file each decode or fail with OnnxFormatError, in bounded time', () => {
  const valid = encodeModel(convNet());
  const kinds: Mutation[] = ['truncate', 'bitflip', 'huge-length', 'random-bytes', 'random-file'];
  const outcomes: Record<string, number> = {};
  let slowest = 0;
  for (let seed = 1; seed <= 600; seed++) {
    const next = rng(seed * 2654435761);
    const kind = kinds[seed % kinds.length]!;
    const input = mutate(valid, kind, next);
    const started = performance.now();
    try {
      const model = decodeModel(input);
      inspectModel(model); // a decoded model must also be safe to summarise
      encodeModel(model);
      outcomes['decoded'] = (outcomes['decoded'] ?? 0) + 1;
    } catch (error) {
      if (!(error instanceof OnnxFormatError)) {
        assert.fail(`seed ${seed} (${kind}) threw ${error instanceof Error ? error.stack : String(error)}`);
      }
      outcomes[error.code] = (outcomes[error.code] ?? 0) + 1;
    }
    slowest = Math.max(slowest, performance.now() - started);
  }
  const total = Object.values(outcomes).reduce((a, b) => a + b, 0);
  assert.equal(total, 600);
  assert.ok((outcomes['ONNX_TRUNCATED'] ?? 0) > 50, JSON.stringify(outcomes));
  assert.ok(slowest < 500, `slowest mutation took ${slowest.toFixed(1)} ms`);
});
