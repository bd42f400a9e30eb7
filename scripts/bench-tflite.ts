/**
 * Measures the TFLite reader, inspect and metadata writer on a synthetic model of realistic shape
 * (a chain of FULLY_CONNECTED ops with inline float weights), built in memory.
 *
 *   node --import tsx scripts/bench-tflite.ts [--ops 400] [--weight-kib 256]
 *
 * Prints one JSON object: model size, and milliseconds for build, read, summarise, in-memory
 * metadata write, and file metadata write (streamed), plus peak RSS; then its goals on stderr.
 * Goals (regression guards, about 3x the figures of a loaded 2-core machine): reading and
 * summarising locate the weights without copying them, under 1 ms per MiB of model; writing
 * metadata into a copy of the file under 10 ms per MiB.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  buildTfliteModel,
  readTflite,
  summarizeTflite,
  withTfliteMetadata,
  writeTfliteMetadata,
  type OperatorSpec,
  type TensorSpec,
} from '../src/formats/tflite/index.js';
import { benchOptions, goal, machineLine, numberOption, printGoalsOnStderr, summariseGoals } from './lib/bench.js';

const options = benchOptions('node --import tsx scripts/bench-tflite.ts [--ops 400] [--weight-kib 256]', {
  ops: { type: 'string', default: '400' },
  'weight-kib': { type: 'string', default: '256' },
});
const ops = numberOption('ops', options.ops);
const weightBytes = numberOption('weight-kib', options['weight-kib']) * 1024;
const width = 64;

function time<T>(work: () => T): [T, number] {
  const started = performance.now();
  const result = work();
  return [result, Math.round((performance.now() - started) * 10) / 10];
}

const weights = new Uint8Array(weightBytes);
for (let i = 0; i < weights.length; i++) weights[i] = (i * 2654435761) >>> 24;
const tensors: TensorSpec[] = [{ name: 'input', dtype: 'FLOAT32', shape: [1, width] }];
const buffers = [{}];
const operators: OperatorSpec[] = [];
for (let i = 0; i < ops; i++) {
  buffers.push({ data: weights });
  tensors.push({
    name: `layer${i}/weights`,
    dtype: 'FLOAT32',
    shape: [width, weightBytes / 4 / width],
    buffer: buffers.length - 1,
  });
  tensors.push({ name: `layer${i}/output`, dtype: 'FLOAT32', shape: [1, width] });
  operators.push({
    opcodeIndex: 0,
    inputs: [tensors.length - 3, tensors.length - 2, -1],
    outputs: [tensors.length - 1],
  });
}

const [bytes, buildMs] = time(() =>
  buildTfliteModel({
    operatorCodes: [{ op: 'FULLY_CONNECTED' }],
    subgraphs: [{ name: 'main', tensors, inputs: [0], outputs: [tensors.length - 1], operators }],
    buffers,
  }),
);
const [model, readMs] = time(() => readTflite(bytes));
const [, summarizeMs] = time(() => summarizeTflite(model, bytes));
const manifest = new TextEncoder().encode(
  JSON.stringify({ model: 'bench', files: Array.from({ length: 50 }, (_, i) => `file-${i}`) }),
);
const [, writeInMemoryMs] = time(() => withTfliteMetadata(bytes, 'edgezoo', manifest));

const dir = mkdtempSync(path.join(tmpdir(), 'edgezoo-bench-tflite-'));
try {
  const file = path.join(dir, 'bench.tflite');
  writeFileSync(file, bytes);
  const started = performance.now();
  await writeTfliteMetadata(file, path.join(dir, 'out.tflite'), 'edgezoo', manifest);
  const writeFileMs = Math.round((performance.now() - started) * 10) / 10;
  console.log(
    JSON.stringify({
      modelMiB: Math.round((bytes.length / 2 ** 20) * 10) / 10,
      operators: ops,
      tensors: tensors.length,
      buildMs,
      readMs,
      summarizeMs,
      writeInMemoryMs,
      writeFileMs,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
  const modelMiB = bytes.length / 2 ** 20;
  printGoalsOnStderr();
  goal('read and summarise, per MiB of model', (readMs + summarizeMs) / modelMiB, '<', 1, 'ms');
  goal('metadata written into a file copy, per MiB of model', writeFileMs / modelMiB, '<', 10, 'ms');
  console.error(machineLine());
  summariseGoals();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
