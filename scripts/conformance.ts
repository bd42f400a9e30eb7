/**
 * Conformance benchmark: the onnx package's backend node tests (single-op float32 models with
 * their expected outputs) built by the real `edgezoo build`, as a user would build them.
 *
 *   node --import tsx scripts/conformance.ts [--filter REGEX] [--limit N] [--jobs N]
 *     [--targets tflite/fp32,openvino/fp32,onnx/fp16] [--out DIR] [--json] [--write-doc]
 *     [--node-dir DIR]
 *
 * 1. scripts/conformance_cases.py (the "tf" environment's Python) reads every case, keeps the
 *    float32 ones that onnxruntime itself reproduces, and writes each model with its own input
 *    tensors as .npy validation samples into a scratch project (`--out`, else a temporary
 *    folder that is removed afterwards).
 * 2. Inputs that feed a weight, scale or bias slot (Conv W, Resize scales: constants in a real
 *    model) and every integer or bool input (axes, shapes, indices, flags) become `value:`
 *    constants that prepare folds into the graph; float32 inputs, scalars too, are fed from the
 *    case's data. Cases a recipe still cannot express (other dtypes, zero-size dims, constants
 *    over 20000 elements or holding NaN) are counted as their own category and not built.
 * 3. One recipe per remaining case; `edgezoo build --all --json` builds them with the real CLI
 *    and its real converters, validating each artifact against onnxruntime on the case's inputs.
 * 4. Each target of each case is read back from its manifest: passed (for TFLite: and no Flex
 *    op, "builtin-only"), or failed with the build's reason and a failure category.
 *
 * Prints pass rates per target and per op and every failure with its reason; `--json` prints
 * the whole result as JSON; `--write-doc` rewrites docs/conformance.md. On a full run (no
 * --filter / --limit) exit status 1 when a target misses its goal (issue 12's "Must show").
 * With `--out DIR` the project (and its build cache) is kept, so a second run rebuilds nothing.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { toolRoot } from '../src/paths.js';
import { envDef } from '../src/toolchain/envs.js';
import { readNpy } from '../src/validate/npy.js';

type Target = `${'onnx' | 'tflite' | 'openvino'}/${string}`;

/** What issue 12 asks of each target on the whole corpus: the share of cases built right. */
const GOALS: Record<string, number> = { 'tflite/fp32': 0.9, 'openvino/fp32': 0.97, 'onnx/fp16': 0.95 };
const DEFAULT_TARGETS: Target[] = ['tflite/fp32', 'openvino/fp32', 'onnx/fp16'];
const TARGET_RE = /^(onnx\/(fp32|fp16|dynamic-int8)|tflite\/(fp32|fp16|dynamic-int8)|openvino\/(fp32|fp16))$/;

interface TensorInfo {
  name: string;
  dtype: string;
  shape: Array<number | string>;
}

/** One case as scripts/conformance_cases.py reports it. */
export interface CaseRecord {
  case: string;
  op: string;
  nodes?: number;
  opset?: number;
  status: 'ok' | 'out-of-scope' | 'ort-mismatch';
  reason?: string;
  inputs?: TensorInfo[];
  outputs?: TensorInfo[];
  /** Graph inputs that feed a weight, scale or bias slot (Conv W, LSTM R, ...): constants in a real model. */
  parameterInputs?: string[];
}

/** The outcome of one target of one built case. */
export interface TargetResult {
  target: string;
  passed: boolean;
  /** Failure category (see `categorize`); absent when passed. */
  category?: string;
  /** The category from the reason alone, when `category` is the case's own (weights as inputs). */
  reasonCategory?: string;
  reason?: string;
  maxAbs?: number;
  flexOps?: string[];
  /** The converter and strategy that made a passing artifact (`onnx2tf pools-as-slices`). */
  strategy?: string;
  /** Of a failed target: every converter strategy the build tried, in order (`onnx2tf default`). */
  strategiesTried?: string[];
}

export interface CaseResult {
  case: string;
  recipe: string;
  op: string;
  expanded: boolean;
  /** Graph inputs feeding weight slots; a converter failure on such a case is filed under its own category. */
  parameterInputs: string[];
  /** `built` cases have per-target results; the others say why they were not built. */
  status: 'built' | 'out-of-scope' | 'ort-mismatch' | 'inexpressible';
  reason?: string;
  targets: TargetResult[];
}

export interface ConformanceReport {
  corpus: { nodeDir: string; onnx: string; onnxruntime: string; cases: number };
  targets: string[];
  filter?: string;
  limit?: number;
  counts: { outOfScope: number; ortMismatch: number; inexpressible: number; built: number };
  inexpressibleBy: Record<string, number>;
  perTarget: Record<string, { passed: number; total: number; rate: number; goal?: number; goalMet?: boolean }>;
  perTargetCategories: Record<string, Record<string, number>>;
  cases: CaseResult[];
  buildSeconds: number;
}

export interface Options {
  filter?: string;
  limit?: number;
  jobs: number;
  targets: Target[];
  out?: string;
  json: boolean;
  writeDoc: boolean;
  nodeDir: string;
}

function usage(message: string): never {
  process.stderr.write(`conformance: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const tf = envDef('tf');
  const options: Options = {
    jobs: 1,
    targets: DEFAULT_TARGETS,
    json: false,
    writeDoc: false,
    nodeDir: path.join(tf.dir, 'lib', 'python3.11', 'site-packages', 'onnx', 'backend', 'test', 'data', 'node'),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => argv[++i] ?? usage(`${arg} needs a value`);
    const positive = (text: string) => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 1) usage(`${arg} must be a whole number of at least 1, received "${text}"`);
      return n;
    };
    if (arg === '--filter') options.filter = value();
    else if (arg === '--limit') options.limit = positive(value());
    else if (arg === '--jobs') options.jobs = positive(value());
    else if (arg === '--out') options.out = path.resolve(value());
    else if (arg === '--node-dir') options.nodeDir = path.resolve(value());
    else if (arg === '--json') options.json = true;
    else if (arg === '--write-doc') options.writeDoc = true;
    else if (arg === '--targets') {
      const targets = value()
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      for (const t of targets) if (!TARGET_RE.test(t)) usage(`unknown target "${t}" (e.g. tflite/fp32, openvino/fp16)`);
      if (targets.length === 0) usage('--targets needs at least one target');
      options.targets = targets as Target[];
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${usageText()}\n`);
      process.exit(0);
    } else usage(`unknown option "${arg}" (see --help)`);
  }
  if (options.filter !== undefined) {
    try {
      new RegExp(options.filter);
    } catch (error) {
      usage(`--filter is not a regular expression: ${(error as Error).message}`);
    }
  }
  if (!existsSync(options.nodeDir))
    usage(`no onnx node tests at ${options.nodeDir} (run \`edgezoo setup\`, or --node-dir)`);
  return options;
}

function usageText(): string {
  return [
    'usage: node --import tsx scripts/conformance.ts [options]',
    '  --filter REGEX    only cases whose name (test_...) matches',
    '  --limit N         only the first N buildable cases (after --filter)',
    '  --jobs N          converter steps at once (default 1; the machine is shared)',
    `  --targets LIST    comma-separated format/precision (default ${DEFAULT_TARGETS.join(',')})`,
    '  --out DIR         keep the scratch project there (its cache makes a rerun fast)',
    '  --json            print the report as JSON',
    '  --write-doc       rewrite docs/conformance.md with the results',
    "  --node-dir DIR    the onnx backend node tests (default: the tf environment's onnx package)",
    'Exit status: 0, or 1 on a full run whose pass rate misses a goal, 2 on wrong usage.',
  ].join('\n');
}

/** The recipe schema's limit on `name`. */
const MAX_RECIPE_NAME = 64;

/** `test_layer_normalization_2d` -> `layer-normalization-2d`: a valid recipe and file name. */
export function recipeName(testCase: string): string {
  const name = testCase
    .replace(/^test_/, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (name.length <= MAX_RECIPE_NAME) return name;
  // Recipe names are capped; a hash of the full name keeps long cases apart.
  const hash = createHash('sha256').update(testCase).digest('hex').slice(0, 8);
  return `${name.slice(0, MAX_RECIPE_NAME - 9).replace(/-+$/, '')}-${hash}`;
}

/** Input dtypes a recipe can give (fed float32; constants of these). */
const RECIPE_DTYPES = new Set(['float32', 'int64', 'int32', 'int8', 'uint8', 'bool']);

/** The most elements a constant input may have in a recipe (its YAML stays well under 1 MiB). */
export const MAX_CONSTANT_ELEMENTS = 20_000;

/**
 * The inputs a case's recipe gives as constants (`value:`), folded into the graph by prepare:
 * those feeding a weight, scale or bias slot (a real model has constants there) and every input
 * that is not float32 (shapes, axes, indices and flags that a model has baked in).
 */
export function constantInputNames(record: Pick<CaseRecord, 'inputs' | 'parameterInputs'>): Set<string> {
  const names = new Set(record.parameterInputs ?? []);
  for (const input of record.inputs ?? []) if (input.dtype !== 'float32') names.add(input.name);
  return names;
}

/**
 * Why a recipe cannot express a case's inputs, or undefined when it can: a dtype recipes do not
 * have, a zero-size or symbolic dim, or nothing left to feed once the constants are folded.
 * Scalar inputs (`shape: []`) and integer or bool constants are fine.
 */
export function inexpressibleReason(
  inputs: readonly TensorInfo[],
  constants: ReadonlySet<string> = new Set(),
): string | undefined {
  const other = inputs.find((i) => !RECIPE_DTYPES.has(i.dtype));
  if (other) return `${other.dtype} input (no recipe dtype)`;
  if (inputs.some((i) => i.shape.some((d) => typeof d !== 'number' || d < 1))) return 'zero-size or symbolic input dim';
  if (inputs.every((i) => constants.has(i.name))) return 'every input is a constant (nothing to feed)';
  return undefined;
}

/** Why a constant's data cannot be a recipe `value:` (too large, NaN or infinite), or undefined. */
export function constantProblem(values: ArrayLike<number | bigint>): string | undefined {
  if (values.length > MAX_CONSTANT_ELEMENTS)
    return `a constant input of ${values.length} elements (more than ${MAX_CONSTANT_ELEMENTS} for a recipe value:)`;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (typeof v === 'number' && !Number.isFinite(v)) return 'a constant input holds NaN or infinity';
  }
  return undefined;
}

/** A tensor's values as the nested YAML flow lists of a recipe `value:` (a scalar for rank 0). */
export function valueText(dims: readonly number[], values: ArrayLike<number | bigint>, dtype: string): string {
  const item = (v: number | bigint) =>
    dtype === 'bool' ? (Number(v) !== 0 ? 'true' : 'false') : typeof v === 'bigint' ? v.toString() : String(v);
  let at = 0;
  const walk = (axis: number): string => {
    if (axis === dims.length) return item(values[at++]!);
    return `[${Array.from({ length: dims[axis]! }, () => walk(axis + 1)).join(', ')}]`;
  };
  return walk(0);
}

/** The YAML recipe of one case: its model, its shapes, its own inputs as validation samples or constants. */
export function caseRecipe(
  record: CaseRecord,
  name: string,
  sha256: string,
  targets: readonly Target[],
  constants: ReadonlyMap<string, string> = new Map(),
): string {
  const byFormat = new Map<string, string[]>();
  for (const t of targets) {
    const [format, precision] = t.split('/') as [string, string];
    byFormat.set(format, [...(byFormat.get(format) ?? []), precision]);
  }
  const inputs = (record.inputs ?? []).map((i) => {
    const value = constants.get(i.name);
    return value === undefined
      ? `  - { name: ${JSON.stringify(i.name)}, shape: [${i.shape.join(', ')}], range: [-1, 1] }`
      : `  - { name: ${JSON.stringify(i.name)}, dtype: ${i.dtype}, shape: [${i.shape.join(', ')}], value: ${value} }`;
  });
  return [
    `name: ${name}`,
    'version: 1.0.0',
    'license: Apache-2.0',
    `description: ONNX backend node test ${record.case} (${record.op}), from the onnx package.`,
    'task: conformance',
    'source:',
    '  onnx:',
    `    path: models/${record.case}/model.onnx`,
    `    sha256: ${sha256}`,
    'inputs:',
    ...inputs,
    `validation: { samples: models/${record.case}/val/*.npy, count: 1 }`,
    'targets:',
    ...[...byFormat].map(([format, precisions]) => `  ${format}: [${precisions.join(', ')}]`),
    '',
  ].join('\n');
}

/**
 * The `value:` text of each constant input of a case, read from its sample file, which is moved
 * out of the validation samples (to models/<case>/const/); or why one cannot be a recipe value.
 */
async function caseConstants(
  project: string,
  record: CaseRecord,
  names: ReadonlySet<string>,
): Promise<{ values: Map<string, string> } | { problem: string }> {
  const values = new Map<string, string>();
  const inputs = record.inputs ?? [];
  const folder = path.join(project, 'models', record.case);
  for (const input of inputs.filter((i) => names.has(i.name))) {
    const file = path.join(folder, 'val', inputs.length === 1 ? '0.npy' : `0.${input.name}.npy`);
    const moved = path.join(folder, 'const', `${input.name}.npy`);
    const source = existsSync(file) ? file : moved;
    const tensor = await readNpy(source);
    const data = tensor.data as ArrayLike<number | bigint>;
    const problem = constantProblem(data);
    if (problem) return { problem };
    values.set(input.name, valueText(tensor.dims, data, input.dtype));
    if (source === file) {
      await mkdir(path.dirname(moved), { recursive: true });
      await rename(file, moved);
    }
  }
  return { values };
}

/**
 * Failure categories, first match wins: data, so the taxonomy can grow without code. Each
 * pattern runs on the build's reason for the target (the converter's error tail or validation's
 * reason); the prefix says where a fix would live.
 */
export const FAILURE_CATEGORIES: ReadonlyArray<{ category: string; pattern: RegExp }> = [
  // Before the strategy cascade an artifact with Flex ops was built and rejected here; since, the
  // convert step's judge rejects each attempt ("... rejected (ops): needs Flex ops FlexSinh").
  { category: 'tflite: needs Flex ops', pattern: /^needs Flex ops|rejected \(ops\): needs Flex ops/ },
  { category: 'tflite: op has no builtin or Flex kernel', pattern: /is neither a custom op nor a flex op/ },
  { category: 'prepare failed', pattern: /^prepare: |blocked by [^ ]+\/prepare/ },
  {
    category: 'validation: inputs paired by position (artifact reorders them)',
    pattern: /^\0other-input|cannot transpose layout \w+ into \w+: different ranks/,
  },
  {
    category: 'validation: input layout not applied (artifact input serving_default_<name>:0)',
    pattern: /does not fit the artifact's input/,
  },
  { category: 'validation: output permuted (same dims, other order)', pattern: /^\0permuted/ },
  { category: 'validation: output shape differs', pattern: /shape \[[^\]]*\] differs from the reference's/ },
  { category: 'validation: wrong numbers', pattern: /max abs error|cosine similarity/ },
  {
    category: 'onnx fp16: duplicate Cast names (unnamed nodes)',
    pattern: /onnxruntime cannot load.*two nodes with same node name/,
  },
  {
    category: 'onnx fp16: output or Cast typed float16 where float is expected',
    pattern: /onnxruntime cannot load.*Type Error/,
  },
  { category: 'onnx fp16: onnxruntime cannot load the fp16 model', pattern: /onnxruntime cannot load/ },
  { category: 'validation did not run', pattern: /^validation did not run/ },
  { category: 'openvino: openvino.info crash on a dynamic shape', pattern: /to_shape was called on a dynamic shape/ },
  { category: 'openvino: op not converted', pattern: /ovc failed \(OpConversionFailure/ },
  { category: 'openvino: conversion error', pattern: /ovc|openvino/i },
  { category: 'onnx2tf: conversion error', pattern: /onnx2tf failed/ },
  { category: 'onnx fp16: conversion error', pattern: /float16|onnxconverter/ },
  { category: 'worker died', pattern: /worker died|SIG[A-Z]+/ },
];

/** True when an output shape difference is only an axis order: the same dims, permuted. */
export function isPermutedShape(reason: string): boolean {
  const shapes = [...reason.matchAll(/shape \[([^\]]*)\] differs from the reference's \[([^\]]*)\]/g)];
  if (shapes.length === 0) return false;
  const sorted = (dims: string) =>
    dims
      .split(',')
      .map((d) => d.trim())
      .sort()
      .join(',');
  return shapes.every(([, got, want]) => got !== want && sorted(got!) === sorted(want!));
}

/**
 * True when validation fed a sample to another artifact input than the one of its name: TFLite
 * inputs are `serving_default_<name>:0`, and pairing falls back to position when names differ.
 * (A rank mismatch, "cannot transpose layout NCHW into D", is the same fault seen earlier.)
 */
export function isOtherInput(reason: string): boolean {
  const match = reason.match(/input '([^']+)': the sample's shape .* does not fit the artifact's input '([^']+)'/);
  if (!match) return false;
  const artifactName = match[2]!.replace(/^serving_default_/, '').replace(/:\d+$/, '');
  return artifactName !== match[1];
}

export function categorize(reason: string): string {
  // Permuted outputs and inputs fed to the wrong artifact input are harness questions (layout,
  // binding), not converter faults: tagged first so they stay apart from other shape failures.
  const text = isPermutedShape(reason)
    ? `\0permuted ${reason}`
    : isOtherInput(reason)
      ? `\0other-input ${reason}`
      : reason;
  for (const { category, pattern } of FAILURE_CATEGORIES) if (pattern.test(text)) return category;
  return 'other';
}

const execFileAsync = promisify(execFile);

async function listCases(
  options: Options,
  project: string,
): Promise<{ onnx: string; onnxruntime: string; cases: CaseRecord[] }> {
  const args = [path.join(toolRoot, 'scripts', 'conformance_cases.py'), options.nodeDir, project];
  if (options.filter !== undefined) args.push('--filter', options.filter);
  const { stdout } = await execFileAsync(envDef('tf').python, args, { maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(stdout) as { onnx: string; onnxruntime: string; cases: CaseRecord[] };
}

async function sha256Of(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

/** Reasons from the build's event stream, per model and target, for targets with no manifest entry. */
interface StreamFacts {
  firstFailure: Map<string, string>;
  targetFailure: Map<string, string>;
}

/** Runs `edgezoo build --all --json` in the project; progress on stderr (stdout may be --json). */
async function runBuild(project: string, jobs: number, total: number): Promise<StreamFacts> {
  const cli = path.join(toolRoot, 'src', 'cli', 'edgezoo.mjs');
  // --no-benchmark: pass rates need no latencies, and timing every artifact alone doubled the run.
  const child = spawn(process.execPath, [cli, 'build', '--all', '--json', '--no-benchmark', '--jobs', String(jobs)], {
    cwd: project,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const facts: StreamFacts = { firstFailure: new Map(), targetFailure: new Map() };
  let packaged = 0;
  let planned = false;
  let stderrTail = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    let event: { type: string; model?: string; step?: string; kind?: string; reason?: string; blockedBy?: string };
    try {
      event = JSON.parse(line);
    } catch {
      continue;
    }
    if (event.type === 'plan') planned = true;
    if (event.type === 'step-failed' && event.model && event.reason && !event.blockedBy) {
      if (!facts.firstFailure.has(event.model)) facts.firstFailure.set(event.model, `${event.kind}: ${event.reason}`);
      const target = event.step?.match(/\/(?:convert|validate)\/(.+)$/)?.[1];
      if (target) facts.targetFailure.set(`${event.model}|${target}`, event.reason);
    }
    if (
      (event.type === 'step-done' || event.type === 'step-cached' || event.type === 'step-failed') &&
      event.kind === 'package'
    ) {
      packaged += 1;
      if (packaged % 10 === 0 || packaged === total)
        process.stderr.write(`conformance: ${packaged}/${total} cases built\n`);
    }
  }
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  // Exit 1 means some target failed, which is what this benchmark measures; 2 or a crash is a harness fault.
  if (!planned || (code !== 0 && code !== 1)) throw new Error(`edgezoo build exited ${code}:\n${stderrTail}`);
  return facts;
}

interface ManifestLike {
  artifacts: Array<{
    format: string;
    precision: string;
    flexOps?: string[];
    conversion?: { converter?: string; strategy?: string };
    validation: { metrics: Record<string, { maxAbs: number }> };
  }>;
  failed: Array<{
    format: string;
    precision: string;
    reason: string;
    validation?: { metrics: Record<string, { maxAbs: number }> };
  }>;
  skipped: Array<{ format: string; precision: string; reason: string }>;
}

function worstMaxAbs(metrics: Record<string, { maxAbs: number }> | undefined): number | undefined {
  const values = Object.values(metrics ?? {}).map((m) => m.maxAbs);
  return values.length ? Math.max(...values) : undefined;
}

async function readResults(
  project: string,
  name: string,
  targets: readonly Target[],
  facts: StreamFacts,
): Promise<TargetResult[]> {
  const manifestPath = path.join(project, 'artifacts', 'zoo', name, '1.0.0', 'manifest.json');
  let manifest: ManifestLike | undefined;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ManifestLike;
  } catch {
    manifest = undefined;
  }
  return targets.map((target): TargetResult => {
    const [format, precision] = target.split('/');
    const built = manifest?.artifacts.find((a) => a.format === format && a.precision === precision);
    if (built) {
      const maxAbs = worstMaxAbs(built.validation.metrics);
      const flex = built.flexOps ?? [];
      if (format === 'tflite' && flex.length > 0) {
        const reason = `needs Flex ops: ${flex.join(', ')}`;
        return {
          target,
          passed: false,
          category: categorize(reason),
          reason,
          flexOps: flex,
          ...(maxAbs === undefined ? {} : { maxAbs }),
        };
      }
      const { converter, strategy } = built.conversion ?? {};
      return {
        target,
        passed: true,
        ...(maxAbs === undefined ? {} : { maxAbs }),
        ...(converter && strategy ? { strategy: `${converter} ${strategy}` } : {}),
      };
    }
    const failed = manifest?.failed.find((a) => a.format === format && a.precision === precision);
    const prepareFailure = facts.firstFailure.get(name);
    // A target blocked by a failed prepare step says only that: the prepare step's own reason is the one to read.
    const reason =
      (failed === undefined || /blocked by [^ ]+\/prepare/.test(failed.reason)) &&
      prepareFailure?.startsWith('prepare: ')
        ? prepareFailure
        : (failed?.reason ??
          facts.targetFailure.get(`${name}|${format}/${precision}`) ??
          prepareFailure ??
          'no manifest and no failure event (harness fault)');
    const maxAbs = worstMaxAbs(failed?.validation?.metrics);
    const tried = strategiesTried(reason);
    return {
      target,
      passed: false,
      category: categorize(reason),
      reason: oneLine(reason),
      ...(tried.length > 0 ? { strategiesTried: tried } : {}),
      ...(maxAbs === undefined ? {} : { maxAbs }),
    };
  });
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 400 ? `${flat.slice(0, 397)}...` : flat;
}

export function summarize(
  options: Options,
  corpus: ConformanceReport['corpus'],
  cases: CaseResult[],
  buildSeconds: number,
): ConformanceReport {
  const built = cases.filter((c) => c.status === 'built');
  const perTarget: ConformanceReport['perTarget'] = {};
  const perTargetCategories: ConformanceReport['perTargetCategories'] = {};
  for (const target of options.targets) {
    const results = built.flatMap((c) => c.targets.filter((t) => t.target === target));
    const passed = results.filter((r) => r.passed).length;
    const rate = results.length ? passed / results.length : 0;
    const goal = GOALS[target];
    perTarget[target] = {
      passed,
      total: results.length,
      rate,
      ...(goal === undefined ? {} : { goal, goalMet: rate >= goal }),
    };
    const categories: Record<string, number> = {};
    for (const r of results)
      if (!r.passed) categories[r.category ?? 'other'] = (categories[r.category ?? 'other'] ?? 0) + 1;
    perTargetCategories[target] = categories;
  }
  const inexpressibleBy: Record<string, number> = {};
  for (const c of cases.filter((c) => c.status === 'inexpressible')) {
    const key = (c.reason ?? '').replace(/ \(a constant.*$/, '');
    inexpressibleBy[key] = (inexpressibleBy[key] ?? 0) + 1;
  }
  return {
    corpus,
    targets: options.targets,
    ...(options.filter === undefined ? {} : { filter: options.filter }),
    ...(options.limit === undefined ? {} : { limit: options.limit }),
    counts: {
      outOfScope: cases.filter((c) => c.status === 'out-of-scope').length,
      ortMismatch: cases.filter((c) => c.status === 'ort-mismatch').length,
      inexpressible: cases.filter((c) => c.status === 'inexpressible').length,
      built: built.length,
    },
    inexpressibleBy,
    perTarget,
    perTargetCategories,
    cases,
    buildSeconds,
  };
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)} %`;
}

/**
 * The strategies a failure reason names as tried, in order: the build lists each attempt as
 * `<converter> <strategy>: failed|rejected ...` after "N strategies tried:" (an artifact judged
 * and rejected), or gives the first attempt's error followed by `also tried <converter>
 * <strategy>: ...` lines (a converter error).
 */
export function strategiesTried(reason: string): string[] {
  const listed = [...reason.matchAll(/(?:tried: |; )([a-z0-9-]+) ([a-z0-9-]+): (?:failed|rejected|passed)/g)].map(
    (m) => `${m[1]} ${m[2]}`,
  );
  const also = [...reason.matchAll(/also tried ([a-z0-9-]+) ([a-z0-9-]+):/g)].map((m) => `${m[1]} ${m[2]}`);
  // "also tried" follows the first attempt's own message, which is the converter's default.
  const only = /\/convert\/[^:]+: ([a-z0-9-]+) failed/.exec(reason)?.[1];
  const first =
    listed.length > 0 ? [] : also.length > 0 ? [`${also[0]!.split(' ')[0]} default`] : only ? [`${only} default`] : [];
  return [...new Set([...first, ...listed, ...also])];
}

/** Pass rates per op: op -> target -> [passed, total]. */
function perOp(report: ConformanceReport): Map<string, Map<string, [number, number]>> {
  const table = new Map<string, Map<string, [number, number]>>();
  for (const c of report.cases) {
    if (c.status !== 'built') continue;
    const row = table.get(c.op) ?? new Map<string, [number, number]>();
    for (const t of c.targets) {
      const cell = row.get(t.target) ?? [0, 0];
      row.set(t.target, [cell[0] + (t.passed ? 1 : 0), cell[1] + 1]);
    }
    table.set(c.op, row);
  }
  return new Map([...table].sort(([a], [b]) => a.localeCompare(b)));
}

function textReport(report: ConformanceReport): string[] {
  const lines: string[] = [];
  const { counts } = report;
  lines.push(
    `onnx ${report.corpus.onnx} node tests: ${report.corpus.cases} cases; ${counts.outOfScope} not float32, ${counts.ortMismatch} not reproduced by onnxruntime ${report.corpus.onnxruntime}, ${counts.inexpressible} not expressible as a recipe yet, ${counts.built} built (${report.buildSeconds.toFixed(0)} s)`,
  );
  for (const [reason, n] of Object.entries(report.inexpressibleBy)) lines.push(`  not expressible: ${reason}: ${n}`);
  lines.push('', 'target          passed/built   rate     goal');
  for (const [target, s] of Object.entries(report.perTarget)) {
    const goal = s.goal === undefined ? '' : `${percent(s.goal)} ${s.goalMet ? 'met' : 'MISSED'}`;
    lines.push(`${target.padEnd(16)}${`${s.passed}/${s.total}`.padEnd(15)}${percent(s.rate).padEnd(9)}${goal}`);
    for (const [category, n] of Object.entries(report.perTargetCategories[target] ?? {}).sort((a, b) => b[1] - a[1]))
      lines.push(`    ${String(n).padStart(4)}  ${category}`);
  }
  lines.push('', `op${' '.repeat(30)}${report.targets.map((t) => t.padEnd(16)).join('')}`);
  for (const [op, row] of perOp(report)) {
    const cells = report.targets.map((t) => {
      const [p, n] = row.get(t) ?? [0, 0];
      return `${p}/${n}`.padEnd(16);
    });
    lines.push(`${op.padEnd(32)}${cells.join('')}`);
  }
  lines.push('', 'failures:');
  for (const c of report.cases) {
    for (const t of c.targets) if (!t.passed) lines.push(`  ${c.case} ${t.target} [${t.category}]: ${t.reason}`);
  }
  return lines;
}

export function markdownReport(report: ConformanceReport): string {
  const { counts } = report;
  const out: string[] = [
    '# Conformance: ONNX backend node tests through `edgezoo build`',
    '',
    '<!-- Written by `node --import tsx scripts/conformance.ts --write-doc`; do not edit by hand. -->',
    '',
    `Corpus: the node tests shipped in onnx ${report.corpus.onnx} (${report.corpus.cases} cases)${report.filter ? `, filter \`${report.filter}\`` : ''}${report.limit ? `, first ${report.limit}` : ''}.`,
    `Each case in scope is a recipe (its own inputs as validation samples) built by the real CLI; every artifact`,
    `is validated against onnxruntime ${report.corpus.onnxruntime} with the default thresholds. A TFLite artifact counts as passed only`,
    'when it validates and needs no Flex op (builtin-only).',
    '',
    '| cases | count |',
    '| --- | --- |',
    `| not float32 (an output or every input of another type, sequences, training ops) | ${counts.outOfScope} |`,
    `| onnxruntime does not reproduce the expected outputs | ${counts.ortMismatch} |`,
    ...Object.entries(report.inexpressibleBy).map(
      ([reason, n]) => `| not expressible as a recipe yet: ${reason} | ${n} |`,
    ),
    `| **built** | **${counts.built}** |`,
    '',
    '## Pass rate per target',
    '',
    '| target | passed / built | rate | goal |',
    '| --- | --- | --- | --- |',
    ...Object.entries(report.perTarget).map(
      ([t, s]) =>
        `| ${t} | ${s.passed} / ${s.total} | ${percent(s.rate)} | ${s.goal === undefined ? '' : `${percent(s.goal)} (${s.goalMet ? 'met' : 'missed'})`} |`,
    ),
    '',
    '## Failures by category',
    '',
    `| category | ${report.targets.join(' | ')} |`,
    `| --- | ${report.targets.map(() => '---').join(' | ')} |`,
  ];
  const categories = new Set(Object.values(report.perTargetCategories).flatMap((c) => Object.keys(c)));
  for (const category of [...categories].sort())
    out.push(
      `| ${category} | ${report.targets.map((t) => report.perTargetCategories[t]?.[category] ?? 0).join(' | ')} |`,
    );
  out.push(
    '',
    '## Per op',
    '',
    `| op | ${report.targets.join(' | ')} |`,
    `| --- | ${report.targets.map(() => '---').join(' | ')} |`,
  );
  for (const [op, row] of perOp(report)) {
    out.push(
      `| ${op} | ${report.targets
        .map((t) => {
          const [p, n] = row.get(t) ?? [0, 0];
          return n === 0 ? '' : p === n ? `${p}/${n}` : `**${p}/${n}**`;
        })
        .join(' | ')} |`,
    );
  }
  out.push(
    '',
    '## Strategies that made the passing artifacts',
    '',
    'The first strategy is what every model gets; the others ran only after it failed (a converter error, Flex ops, wrong numbers).',
    '',
    '| target | strategy | cases |',
    '| --- | --- | --- |',
  );
  const winners = new Map<string, number>();
  for (const c of report.cases)
    for (const t of c.targets)
      if (t.passed && t.strategy)
        winners.set(`${t.target}|${t.strategy}`, (winners.get(`${t.target}|${t.strategy}`) ?? 0) + 1);
  for (const [key, n] of [...winners].sort(
    ([a, x], [b, y]) => a.split('|')[0]!.localeCompare(b.split('|')[0]!) || y - x,
  )) {
    const [target, strategy] = key.split('|');
    out.push(`| ${target} | ${strategy} | ${n} |`);
  }
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  out.push(
    '',
    '## What still fails',
    '',
    '| case | op | target | category | strategies tried | reason |',
    '| --- | --- | --- | --- | --- | --- |',
  );
  for (const c of report.cases)
    for (const t of c.targets)
      if (!t.passed) {
        // The reason up to its list of attempts (the strategies column names them).
        const reason = (t.reason ?? '').replace(/\s*\(?\d+ strateg(y|ies) tried:.*$/, '').slice(0, 200);
        out.push(
          `| ${c.case} | ${c.op} | ${t.target} | ${t.category} | ${(t.strategiesTried ?? []).map((s) => s.replace(/^\S+ /, '')).join(', ')} | ${cell(reason)} |`,
        );
      }
  out.push('');
  return out.join('\n');
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const project = options.out ?? (await mkdtemp(path.join(os.tmpdir(), 'edgezoo-conformance-')));
  try {
    // A kept project (--out) may hold recipes of an earlier run with another filter: `build --all`
    // would build those too. Its models/ and build cache stay, so unchanged cases are cache hits.
    await rm(path.join(project, 'recipes'), { recursive: true, force: true });
    await mkdir(path.join(project, 'recipes'), { recursive: true });
    const listed = await listCases(options, project);
    const cases: CaseResult[] = [];
    const toBuild: Array<{ record: CaseRecord; result: CaseResult; constants: Map<string, string> }> = [];
    for (const record of listed.cases) {
      const base = {
        case: record.case,
        recipe: recipeName(record.case),
        op: record.op,
        expanded: /expanded/.test(record.case),
        parameterInputs: record.parameterInputs ?? [],
        targets: [],
      };
      if (record.status !== 'ok') {
        cases.push({ ...base, status: record.status, ...(record.reason ? { reason: record.reason } : {}) });
        continue;
      }
      const constantNames = constantInputNames(record);
      const why = inexpressibleReason(record.inputs ?? [], constantNames);
      if (why !== undefined) {
        cases.push({ ...base, status: 'inexpressible', reason: why });
        continue;
      }
      if (options.limit !== undefined && toBuild.length >= options.limit) continue;
      const constants = await caseConstants(project, record, constantNames);
      if ('problem' in constants) {
        cases.push({ ...base, status: 'inexpressible', reason: constants.problem });
        continue;
      }
      const result: CaseResult = { ...base, status: 'built' };
      cases.push(result);
      toBuild.push({ record, result, constants: constants.values });
    }
    const names = new Set<string>();
    for (const { record, result, constants } of toBuild) {
      if (names.has(result.recipe)) throw new Error(`two cases map to recipe ${result.recipe}`);
      names.add(result.recipe);
      const sha = await sha256Of(path.join(project, 'models', record.case, 'model.onnx'));
      await writeFile(
        path.join(project, 'recipes', `${result.recipe}.yaml`),
        caseRecipe(record, result.recipe, sha, options.targets, constants),
      );
    }
    const started = Date.now();
    if (toBuild.length > 0) {
      const facts = await runBuild(project, options.jobs, toBuild.length);
      for (const { result } of toBuild) {
        result.targets = await readResults(project, result.recipe, options.targets, facts);
      }
    }
    const report = summarize(
      options,
      { nodeDir: options.nodeDir, onnx: listed.onnx, onnxruntime: listed.onnxruntime, cases: listed.cases.length },
      cases,
      (Date.now() - started) / 1000,
    );
    if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`${textReport(report).join('\n')}\n`);
    if (options.writeDoc) {
      const doc = path.join(toolRoot, 'docs', 'conformance.md');
      await mkdir(path.dirname(doc), { recursive: true });
      await writeFile(doc, markdownReport(report));
      if (!options.json) process.stdout.write(`wrote ${path.relative(process.cwd(), doc)}\n`);
    }
    const fullRun = options.filter === undefined && options.limit === undefined;
    const missed = Object.entries(report.perTarget).filter(([, s]) => s.goalMet === false);
    if (fullRun && missed.length > 0) {
      process.stderr.write(`conformance: goal missed for ${missed.map(([t]) => t).join(', ')}\n`);
      return 1;
    }
    return 0;
  } finally {
    if (options.out === undefined) await rm(project, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
