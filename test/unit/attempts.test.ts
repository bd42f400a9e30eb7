/**
 * The attempt loop (src/build/attempts.ts) without a converter: order, laziness (the strategy
 * context is built only after a failure), pins, the structural judge, failure records.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  runGroupAttempts,
  describeFailedAttempts,
  opsVerdict,
  pinLines,
  runAttempts,
  strategyCandidates,
} from '../../src/build/attempts.js';
import type { BackendSpec, StrategyContext } from '../../src/catalogue/types.js';
import { onnx2tfBackend } from '../../src/toolchain/backends/onnx2tf.js';
import { keepShapeInputNames } from '../../src/toolchain/backends/onnx2tf.js';
import { pseudoOpsIn } from '../../src/toolchain/backends/onnx2tf-strategies.js';

const ctx = (opTypes: string[], shape: number[] = [1, 3, 8, 8], layout = 'NCHW'): StrategyContext => ({
  precision: 'fp32',
  inputs: [{ name: 'x', shape, layout }],
  opTypes: new Set(opTypes),
  sourceKind: 'onnx',
});

const names = (backend: BackendSpec, c: () => StrategyContext, pinned: string[] | null = null) =>
  [...strategyCandidates([backend], pinned, c)].map((x) => x.strategy.name);

test('the default comes first and the context is built only when a second candidate is read', () => {
  let built = 0;
  const iterator = strategyCandidates([onnx2tfBackend], null, () => {
    built += 1;
    return ctx(['Atan'], [1, 16], 'NC');
  });
  assert.equal(iterator.next().value?.strategy.name, 'default');
  assert.equal(built, 0);
  assert.equal(iterator.next().value?.strategy.name, 'pseudo-ops');
  assert.equal(built, 1);
});

test('strategies apply by their predicate: pseudo ops for Atan, keep-shape for sequences', () => {
  assert.deepEqual(
    names(onnx2tfBackend, () => ctx(['Conv', 'Relu'])),
    ['default', 'channels-first-inputs', 'no-strict'],
  );
  assert.deepEqual(
    names(onnx2tfBackend, () => ctx(['Atan'], [1, 16], 'NC')),
    ['default', 'pseudo-ops', 'no-strict'],
  );
  // A 4-D input without convolutions may be attention heads: keep-all-shapes; Sinh: builtin-math.
  assert.deepEqual(
    names(onnx2tfBackend, () => ctx(['MatMul', 'Sinh'])),
    ['default', 'keep-all-shapes', 'channels-first-inputs', 'builtin-math', 'no-strict'],
  );
  // Ops ONNX defines as functions: their bodies, with the 4-D input kept too.
  assert.deepEqual(
    names(onnx2tfBackend, () => ctx(['LayerNormalization'])),
    [
      'default',
      'keep-all-shapes',
      'channels-first-inputs',
      'expand-functions',
      'expand-functions-keep-all-shapes',
      'no-strict',
    ],
  );
  assert.deepEqual(
    names(onnx2tfBackend, () => ctx(['Relu'], [1, 4, 16], 'NCW')),
    ['default', 'keep-shape', 'channels-first-inputs', 'no-strict'],
  );
  // A 3-D input: the expanded function body with the shape kept (LayerNormalization on axis 0).
  assert.deepEqual(
    names(onnx2tfBackend, () => ctx(['LayerNormalization'], [3, 4, 5], 'NCW')),
    [
      'default',
      'keep-shape',
      'channels-first-inputs',
      'expand-functions',
      'expand-functions-keep-all-shapes',
      'no-strict',
    ],
  );
  // ...not for a model that convolves (onnx2tf runs it channels-last).
  assert.ok(
    !names(onnx2tfBackend, () => ctx(['LayerNormalization', 'Conv'], [3, 4, 5], 'NCW')).includes(
      'expand-functions-keep-all-shapes',
    ),
  );
  assert.deepEqual(pseudoOpsIn(new Set(['Pow', 'PRelu', 'Sinh'])), ['PReLU', 'Power']);
  assert.deepEqual(keepShapeInputNames([{ name: 'x', shape: [1, 4, 16], layout: 'NCW' }]), []);
  assert.deepEqual(keepShapeInputNames([{ name: 'x', shape: [1, 4, 16], layout: 'NCW' }], 'all-but-images'), ['x']);
});

test('a pin is exactly the strategies named, in order, whatever the predicates say', () => {
  assert.deepEqual(
    names(onnx2tfBackend, () => ctx(['Relu']), ['pseudo-ops', 'default']),
    ['pseudo-ops', 'default'],
  );
  assert.throws(() => names(onnx2tfBackend, () => ctx([]), ['nope']), /onnx2tf has no strategy "nope"/);
});

test('the loop stops at the first pass and records every attempt', async () => {
  const logs: string[] = [];
  const outcome = await runAttempts({
    candidates: ['a', 'b', 'c', 'd'],
    label: (c) => ({ converter: 'tool', strategy: c }),
    attempt: async (c) => {
      if (c === 'a') throw new Error('no module Mystery\nmore');
      return c;
    },
    judge: async (r) =>
      r === 'b' ? { ok: false, stage: 'ops', reason: 'needs Flex ops FlexAtan', ops: ['FlexAtan'] } : { ok: true },
    log: (line) => logs.push(line),
  });
  assert.equal(outcome.winner?.candidate, 'c');
  assert.equal(outcome.winner?.index, 2);
  assert.deepEqual(
    outcome.attempts.map((a) => [a.strategy, a.outcome, a.stage, a.reason]),
    [
      ['a', 'failed', 'convert', 'no module Mystery'],
      ['b', 'failed', 'ops', 'needs Flex ops FlexAtan'],
      ['c', 'passed', undefined, undefined],
    ],
  );
  assert.ok(logs.some((line) => line.includes('attempt 3 (tool c) passed')));
  assert.match(
    describeFailedAttempts(outcome.attempts.slice(0, 2)),
    /^ops FlexAtan; 2 strategies tried: tool a: failed/,
  );
});

test('fatal errors end the loop instead of failing one attempt', async () => {
  await assert.rejects(
    runAttempts({
      candidates: ['a', 'b'],
      label: (c) => ({ converter: 'tool', strategy: c }),
      attempt: async () => {
        throw new Error('out of memory');
      },
      judge: async () => ({ ok: true }),
      fatal: (error) => (error as Error).message === 'out of memory',
      log: () => {},
    }),
    /out of memory/,
  );
});

test('the structural judge: Flex and custom ops fail unless allowed by name', () => {
  assert.deepEqual(opsVerdict({ flexOps: [], customOps: [] }, []), { ok: true });
  const verdict = opsVerdict({ flexOps: ['FlexAtan', 'FlexSinh'], customOps: ['Mystery'] }, ['FlexSinh']);
  assert.equal(verdict.ok, false);
  assert.deepEqual(!verdict.ok && verdict.ops, ['FlexAtan', 'Mystery']);
  assert.deepEqual(opsVerdict({ flexOps: ['FlexAtan'], customOps: [] }, ['FlexAtan']), { ok: true });
});

test('pin lines name the strategy, and the converter when another route won', () => {
  assert.deepEqual(
    pinLines({
      format: 'tflite',
      precision: 'fp32',
      winner: { converter: 'onnx2tf', strategy: 'pseudo-ops' },
      recipeConverter: 'onnx2tf',
    }),
    ['strategies: { tflite/fp32: [pseudo-ops] }'],
  );
  assert.deepEqual(
    pinLines({
      format: 'tflite',
      precision: 'fp32',
      winner: { converter: 'litert-torch', strategy: 'default' },
      recipeConverter: 'onnx2tf',
    }),
    ['converters: { tflite/fp32: litert-torch }', 'strategies: { tflite/fp32: [default] }'],
  );
});

test('grouped attempts: a route only for the keys it makes, remembered failures replayed instead of run', async () => {
  const ran: string[] = [];
  const remembered: string[] = [];
  const outcomes = await runGroupAttempts<string, { converter: string; strategy: string }, string>({
    keys: ['fp32', 'fp16'],
    candidates: [
      { converter: 'litert-torch', strategy: 'default' },
      { converter: 'onnx2tf', strategy: 'default' },
    ],
    label: (c) => c,
    // litert-torch makes fp32 only.
    appliesTo: (c, key) => c.converter === 'onnx2tf' || key === 'fp32',
    recall: async (c, key) =>
      c.converter === 'litert-torch' && key === 'fp32'
        ? {
            record: {
              converter: c.converter,
              strategy: c.strategy,
              outcome: 'failed',
              stage: 'convert',
              reason: 'no',
              seconds: 3,
            },
            error: new Error('no'),
          }
        : undefined,
    remember: async (c, key) => void remembered.push(`${c.converter}/${key}`),
    attempt: async (c, keys) => {
      ran.push(`${c.converter}: ${keys.join(', ')}`);
      return new Map(keys.map((key) => [key, `${c.converter}-${key}`]));
    },
    judge: async () => ({ ok: true }),
    log: () => undefined,
  });
  assert.deepEqual(ran, ['onnx2tf: fp32, fp16']);
  assert.deepEqual(remembered, []);
  const fp32 = outcomes.get('fp32')!;
  assert.equal(fp32.winner?.result, 'onnx2tf-fp32');
  assert.deepEqual(
    fp32.attempts.map((a) => [a.converter, a.outcome, a.remembered]),
    [
      ['litert-torch', 'failed', true],
      ['onnx2tf', 'passed', undefined],
    ],
  );
  assert.deepEqual(
    outcomes.get('fp16')!.attempts.map((a) => a.converter),
    ['onnx2tf'],
  );
});
