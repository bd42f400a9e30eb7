/**
 * Seeded mutation fuzzing of the TFLite reader and metadata writer: every mutant must either read
 * (and then survive a metadata write and read back the same) or fail with a typed error, quickly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  readTflite,
  summarizeTflite,
  TfliteFormatError,
  tfliteFixtures,
  TfliteUnsupportedError,
  withTfliteMetadata,
} from '../../src/formats/tflite/index.js';
import { seededRandom as random } from '../../src/validate/random.js';

const bases = [
  tfliteFixtures.addModel(),
  tfliteFixtures.addModel({ externalConstant: true }),
  tfliteFixtures.fullyConnectedModel('full-integer-int8'),
  tfliteFixtures.kitchenSinkModel(),
  withTfliteMetadata(tfliteFixtures.kitchenSinkModel(), 'edgezoo', new TextEncoder().encode('{"fuzz":true}')),
];

const HUGE = [0xffffffff, 0xfffffffc, 0x7fffffff, 0x80000000, 0x40000000, 0x10000];

function mutate(base: Uint8Array, next: () => number): { bytes: Uint8Array; how: string } {
  const pick = (n: number) => Math.floor(next() * n);
  const bytes = base.slice();
  const view = new DataView(bytes.buffer);
  switch (pick(6)) {
    case 0: {
      const length = pick(bytes.length);
      return { bytes: bytes.subarray(0, length), how: `truncate to ${length}` };
    }
    case 1: {
      const flips = 1 + pick(8);
      for (let i = 0; i < flips; i++) {
        const at = pick(bytes.length);
        bytes[at]! ^= 1 << pick(8);
      }
      return { bytes, how: `flip ${flips} bits` };
    }
    case 2: {
      const at = pick(Math.floor(bytes.length / 4)) * 4;
      const value = HUGE[pick(HUGE.length)]!;
      view.setUint32(at, value, true);
      return { bytes, how: `set uint32 at ${at} to ${value}` };
    }
    case 3: {
      const at = pick(bytes.length);
      const length = 1 + pick(32);
      for (let i = at; i < Math.min(bytes.length, at + length); i++) bytes[i] = pick(256);
      return { bytes, how: `randomise ${length} bytes at ${at}` };
    }
    case 4: {
      const length = pick(512);
      const junk = new Uint8Array(length);
      for (let i = 0; i < length; i++) junk[i] = pick(256);
      if (length >= 8 && next() < 0.5) junk.set([0x54, 0x46, 0x4c, 0x33], 4);
      return { bytes: junk, how: `${length} random bytes` };
    }
    default: {
      // A small vtable or offset value set to point at itself or just outside: the cycle/edge cases.
      const at = pick(Math.floor(bytes.length / 2)) * 2;
      const value = [0, 1, 2, 4, bytes.length - at, bytes.length - at + 1, 0xffff][pick(7)]!;
      if (at + 2 <= bytes.length) view.setUint16(at, value & 0xffff, true);
      return { bytes, how: `set uint16 at ${at} to ${value}` };
    }
  }
}

describe('TFLite reader fuzz', () => {
  it('1000 seeded mutations give a valid read or a typed error, each in bounded time', () => {
    const next = random(20240601);
    let valid = 0;
    let rejected = 0;
    let slowest = 0;
    for (let iteration = 0; iteration < 1000; iteration++) {
      const base = bases[iteration % bases.length]!;
      const { bytes, how } = mutate(base, next);
      const started = performance.now();
      try {
        const model = readTflite(bytes);
        summarizeTflite(model, bytes);
        const written = withTfliteMetadata(bytes, 'edgezoo', new TextEncoder().encode(`{"iteration":${iteration}}`));
        const reread = readTflite(written);
        const shift = written.length - bytes.length;
        // The entry's own buffer may be replaced in place; every other buffer must only have moved.
        const replaced = new Set(model.metadata.filter((m) => m.name === 'edgezoo').map((m) => m.buffer));
        const unmoved = (m: typeof model, by: number) => ({
          ...m,
          metadata: [],
          fileIdentifier: 'TFL3', // the writer always writes the TFLite identifier
          buffers: m.buffers.map((b) =>
            replaced.has(b.index) ? undefined : { ...b, offset: b.location === 'empty' ? 0 : b.offset - by },
          ),
          subgraphs: m.subgraphs.map((s) => ({
            ...s,
            operators: s.operators.map((o) => ({
              ...o,
              customOptions: o.customOptions && { ...o.customOptions, offset: o.customOptions.offset - by },
            })),
          })),
        });
        const expected = unmoved(model, 0);
        const actual = unmoved(reread, shift);
        assert.deepEqual(
          { ...actual, buffers: actual.buffers.slice(0, model.buffers.length) },
          expected,
          `iteration ${iteration} (${how}): the rewrite changed the model`,
        );
        assert.ok(reread.metadata.some((m) => m.name === 'edgezoo'));
        valid++;
      } catch (error) {
        if (!(error instanceof TfliteFormatError) && !(error instanceof TfliteUnsupportedError)) {
          assert.fail(
            `iteration ${iteration} (${how}) threw an untyped error: ${error instanceof Error ? error.stack : String(error)}`,
          );
        }
        rejected++;
      }
      const elapsed = performance.now() - started;
      slowest = Math.max(slowest, elapsed);
      assert.ok(elapsed < 2000, `iteration ${iteration} (${how}) took ${elapsed.toFixed(0)} ms`);
    }
    // Both outcomes must occur, or the mutations test nothing.
    assert.ok(valid > 50, `only ${valid} mutants were readable`);
    assert.ok(rejected > 200, `only ${rejected} mutants were rejected`);
  });
});
