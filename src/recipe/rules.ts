/**
 * Rules that relate several fields, checked on the plain YAML value so they report even when
 * other parts of the recipe are wrong (each rule looks only at the fields it needs and skips
 * values of the wrong type, which the schema already reports).
 */
import path from 'node:path';
import { BUILTIN_CATALOGUE } from '../catalogue/builtin.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import type { BackendSpec } from '../catalogue/types.js';
import { CALIBRATED_PRECISIONS, PRECISION_NAMES } from '../catalogue/precisions.js';
import type { Precision, TargetFormat } from './types.js';
import { FACTORY_PATTERN } from './schema.js';
import { checkProjectPath, normaliseProjectPath } from './project-path.js';
import {
  formatValuePath,
  isMapping,
  ProblemCode,
  type NodePart,
  type ProblemCodeValue,
  type ValuePath,
} from './problems.js';
import { nearest } from './suggest.js';
import { channelsOf, pixelRange, rangeMatchesPixels, roundRangeEnd } from './pixel-range.js';
import { checkSizes } from './size-rules.js';

/** A problem found by a rule, before it gets its file position. */
export interface RuleFinding {
  path: ValuePath;
  part: NodePart;
  code: ProblemCodeValue;
  message: string;
}

const SOURCE_KINDS = ['onnx', 'tflite', 'pytorch', 'package'] as const;
const LOCATION_KINDS = ['url', 'path', 'package'] as const;
const REGISTRIES = ['pypi', 'npm'] as const;

/** How recipes name source kinds in messages. */
const SOURCE_TITLES: Readonly<Record<string, string>> = { onnx: 'ONNX', tflite: 'TFLite', pytorch: 'PyTorch' };

/** Every `format/precision` a recipe may name in `skip` and `tolerances`. */
export function targetKeys(catalogue: Catalogue = BUILTIN_CATALOGUE): string[] {
  return catalogue
    .formatNames()
    .flatMap((format) => catalogue.precisionsOf(format).map((precision) => `${format}/${precision}`));
}

/**
 * Runs every cross-field rule on the plain value of a recipe file named `fileLabel`; formats,
 * precisions and converters are the catalogue's.
 */
export function checkRecipeRules(
  recipe: Record<string, unknown>,
  fileLabel: string,
  catalogue: Catalogue = BUILTIN_CATALOGUE,
): RuleFinding[] {
  const findings: RuleFinding[] = [];
  const report = (findingPath: ValuePath, part: NodePart, code: ProblemCodeValue, message: string) => {
    const label = formatValuePath(findingPath.length > 0 && part === 'key' ? findingPath.slice(0, -1) : findingPath);
    findings.push({ path: findingPath, part, code, message: label === '' ? message : `${label}: ${message}` });
  };

  checkName(recipe, fileLabel, report);
  checkSource(recipe, report, catalogue);
  checkInputs(recipe, report);
  checkSizes(recipe, report);
  checkTargets(recipe, report, catalogue);
  checkSamples(recipe, report);
  checkStream(recipe, report);
  checkLicense(recipe, report);
  checkPreprocess(recipe, report);
  checkLabels(recipe, report);
  checkStrategies(recipe, report, catalogue);
  checkConverterRoutes(recipe, report, catalogue);
  return findings;
}

/**
 * `strategies:` and `allow_ops:` keys name a format or a `format/precision` target; pinned
 * strategies are strategies of the converter that makes the format for this recipe.
 */
function checkStrategies(recipe: Record<string, unknown>, report: Report, catalogue: Catalogue): void {
  const formats = catalogue.formatNames();
  const targets = targetKeys(catalogue);
  for (const field of ['strategies', 'allow_ops'] as const) {
    const value = recipe[field];
    if (!isMapping(value)) continue;
    for (const [key, list] of Object.entries(value)) {
      if (!formats.includes(key) && !targets.includes(key)) {
        report(
          [field, key],
          'key',
          ProblemCode.invalidValue,
          `"${key}" is neither a format (${formats.join(', ')}) nor a format/precision target`,
        );
        continue;
      }
      if (field !== 'strategies' || !Array.isArray(list)) continue;
      const format = key.split('/')[0]!;
      const precision = key.split('/')[1];
      // Pins are strategies of the route the target starts with.
      const backend = precision
        ? catalogue.converterRoutes(format, precision as never, sourceKindOf(recipe), listedConverters(recipe, key))[0]
        : routesOfFormat(recipe, format, catalogue)[0];
      if (!backend) continue;
      const names = backend.strategies.map((s) => s.name);
      list.forEach((name: unknown, index) => {
        if (typeof name === 'string' && !names.includes(name))
          report(
            [field, key, index],
            'value',
            ProblemCode.invalidValue,
            `${backend.name} has no strategy "${name}" (it has ${names.join(', ')})`,
          );
      });
    }
  }
}

type Report = (path: ValuePath, part: NodePart, code: ProblemCodeValue, message: string) => void;

function checkName(recipe: Record<string, unknown>, fileLabel: string, report: Report): void {
  const expected = path.posix.basename(fileLabel.replaceAll('\\', '/')).replace(/\.ya?ml$/i, '');
  if (typeof recipe.name === 'string' && recipe.name !== expected) {
    report(
      ['name'],
      'value',
      ProblemCode.nameMismatch,
      `"${recipe.name}" must equal the file's base name "${expected}" (rename the file or the recipe)`,
    );
  }
}

function presentKeys(value: Record<string, unknown>, kinds: readonly string[]): string[] {
  return Object.keys(value).filter((key) => kinds.includes(key));
}

function exactlyOne(value: Record<string, unknown>, at: ValuePath, kinds: readonly string[], report: Report): void {
  const present = presentKeys(value, kinds);
  const list = kinds.join(', ');
  if (present.length === 0) {
    // Unknown keys are reported with a suggestion already; "none" would only repeat it.
    if (Object.keys(value).some((key) => !kinds.includes(key) && key !== 'sha256' && key !== 'file')) return;
    report(at, 'value', ProblemCode.source, `expected exactly one of ${list}; received none`);
  } else if (present.length > 1) {
    const second = present[1] ?? '';
    report(
      [...at, second],
      'key',
      ProblemCode.source,
      `expected exactly one of ${list}; received ${present.join(' and ')}`,
    );
  }
}

function checkLocation(value: unknown, at: ValuePath, report: Report): void {
  if (!isMapping(value)) return;
  exactlyOne(value, at, LOCATION_KINDS, report);
  if (isMapping(value.package)) exactlyOne(value.package, [...at, 'package'], REGISTRIES, report);
}

function checkSource(recipe: Record<string, unknown>, report: Report, catalogue: Catalogue): void {
  const source = recipe.source;
  if (!isMapping(source)) return;
  exactlyOne(source, ['source'], SOURCE_KINDS, report);
  checkLocation(source.onnx, ['source', 'onnx'], report);
  if (isMapping(source.onnx) && Array.isArray(source.onnx.external_data)) {
    const names = new Map<string, number>();
    source.onnx.external_data.forEach((data: unknown, index) => {
      const at: ValuePath = ['source', 'onnx', 'external_data', index];
      checkLocation(data, at, report);
      if (!isMapping(data) || typeof data.name !== 'string') return;
      const earlier = names.get(data.name);
      if (earlier !== undefined)
        report(
          [...at, 'name'],
          'value',
          ProblemCode.inconsistent,
          `"${data.name}" is already the name of external_data[${earlier}]`,
        );
      else names.set(data.name, index);
    });
  }
  checkLocation(source.tflite, ['source', 'tflite'], report);
  const pytorch = source.pytorch;
  if (isMapping(pytorch)) {
    checkLocation(pytorch.weights, ['source', 'pytorch', 'weights'], report);
    const match = typeof pytorch.factory === 'string' ? FACTORY_PATTERN.exec(pytorch.factory) : null;
    const file = match?.groups?.file;
    if (file !== undefined) {
      const problem = checkProjectPath(file);
      if (problem !== undefined) report(['source', 'pytorch', 'factory'], 'value', ProblemCode.pathEscapes, problem);
    }
  }
  const packaged = source.package;
  if (isMapping(packaged)) {
    exactlyOne(packaged, ['source', 'package'], REGISTRIES, report);
    if (typeof packaged.file === 'string' && !/\.(onnx|tflite)$/.test(packaged.file)) {
      report(
        ['source', 'package', 'file'],
        'value',
        ProblemCode.source,
        `cannot tell the model format of "${packaged.file}"; expected a file ending in .onnx or .tflite (for other files use source.pytorch with weights.package)`,
      );
    }
  }
  // A converter that reads the source itself (not the prepared ONNX) needs a source of its kind.
  const sourceKinds = presentKeys(source, SOURCE_KINDS);
  for (const [key, value] of Object.entries(isMapping(recipe.converters) ? recipe.converters : {})) {
    const format = key.split('/')[0]!;
    const names = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
    names.forEach((name: unknown, index) => {
      const at: ValuePath = typeof value === 'string' ? ['converters', key] : ['converters', key, index];
      if (names.indexOf(name) !== index) {
        report(at, 'value', ProblemCode.inconsistent, `${String(name)} is listed twice`);
        return;
      }
      const backend = catalogue.converterChoices(format).find((b) => b.name === name);
      if (!backend || backend.from === 'onnx' || sourceKinds.length !== 1 || isMapping(source[backend.from])) return;
      report(
        at,
        'value',
        ProblemCode.inconsistent,
        `${backend.name} converts ${SOURCE_TITLES[backend.from] ?? backend.from} models only; this recipe has no ${backend.from} source (use ${catalogue.format(format)?.defaultConverter ?? 'another converter'})`,
      );
    });
  }
}

/** The source kind of a recipe's plain value (`package` sources are ONNX or TFLite: either reads as ONNX here). */
function sourceKindOf(recipe: Record<string, unknown>): string {
  const source = isMapping(recipe.source) ? recipe.source : {};
  return presentKeys(source, SOURCE_KINDS)[0] ?? 'onnx';
}

/** The converters a recipe lists for a target key (`tflite/fp16`, else its format's `tflite`), as names. */
function listedConverters(recipe: Record<string, unknown>, key: string): string[] | undefined {
  const converters = isMapping(recipe.converters) ? recipe.converters : {};
  const value = converters[key] ?? (key.includes('/') ? converters[key.split('/')[0]!] : undefined);
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((name): name is string => typeof name === 'string');
  return undefined;
}

/** The routes of a format when no precision is named: the listed converters, else the default first. */
function routesOfFormat(recipe: Record<string, unknown>, format: string, catalogue: Catalogue) {
  const listed = listedConverters(recipe, format) ?? [];
  const backends = catalogue.targetBackends(format);
  const preferred = catalogue.format(format)?.defaultConverter;
  return [
    ...listed.flatMap((name) => backends.find((b) => b.name === name) ?? []),
    ...backends.filter((b) => b.name === preferred),
    ...backends,
  ];
}

/**
 * Every target the recipe builds has a converter among the ones `converters:` lists for it
 * (a converter that does not make the precision is passed over; none left is a mistake).
 */
function checkConverterRoutes(recipe: Record<string, unknown>, report: Report, catalogue: Catalogue): void {
  const converters = isMapping(recipe.converters) ? recipe.converters : {};
  const skip = isMapping(recipe.skip) ? recipe.skip : {};
  const sourceKind = sourceKindOf(recipe);
  const unmade = new Map<string, { format: string; known: BackendSpec[]; targets: string[]; precisions: string[] }>();
  for (const { format, precisions } of effectiveTargets(recipe, catalogue)) {
    for (const precision of precisions) {
      if (typeof precision !== 'string' || !(catalogue.precisionsOf(format) as string[]).includes(precision)) continue;
      const target = `${format}/${precision}`;
      if (Object.hasOwn(skip, target)) continue;
      const key = converters[target] !== undefined ? target : format;
      const listed = listedConverters(recipe, target);
      if (!listed || listed.length === 0) continue;
      const known = listed.flatMap((name) => catalogue.targetBackends(format).find((b) => b.name === name) ?? []);
      // Unknown names and converters that cannot read the source are reported on their own.
      if (known.length !== listed.length || known.some((b) => b.from !== 'onnx' && b.from !== sourceKind)) continue;
      if (catalogue.converterRoutes(format, precision as Precision, sourceKind, listed).length > 0) continue;
      const entry = unmade.get(key) ?? { format, known, targets: [], precisions: [] };
      entry.targets.push(target);
      entry.precisions.push(precision);
      unmade.set(key, entry);
    }
  }
  for (const [key, { format, known, targets, precisions }] of unmade) {
    const makes = [...new Set(known)].map((b) => `${b.name} makes ${b.precisions.join(', ')}`).join('; ');
    const others = catalogue
      .targetBackends(format)
      .filter((b) => precisions.every((p) => b.precisions.includes(p as Precision)))
      .map((b) => b.name);
    report(
      ['converters', key],
      'value',
      ProblemCode.inconsistent,
      `no listed converter makes ${targets.join(', ')} (${makes}); list one that does (${others.join(', ') || 'none does'}) or skip ${targets.length === 1 ? 'it' : 'them'} with the reason`,
    );
  }
}

function checkInputs(recipe: Record<string, unknown>, report: Report): void {
  if (!Array.isArray(recipe.inputs)) return;
  const names = new Map<string, number>();
  recipe.inputs.forEach((input: unknown, index) => {
    if (!isMapping(input)) return;
    const at: ValuePath = ['inputs', index];
    if (typeof input.name === 'string') {
      const earlier = names.get(input.name);
      if (earlier !== undefined)
        report(
          [...at, 'name'],
          'value',
          ProblemCode.inconsistent,
          `input name "${input.name}" is already used by inputs[${earlier}]`,
        );
      else names.set(input.name, index);
    }
    const dynamic = Array.isArray(input.dynamic) ? input.dynamic.filter((d): d is string => typeof d === 'string') : [];
    const shape = Array.isArray(input.shape) ? input.shape : undefined;
    if (shape !== undefined) {
      shape.forEach((dim: unknown, dimIndex) => {
        if (typeof dim === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(dim) && !dynamic.includes(dim)) {
          report(
            [...at, 'shape', dimIndex],
            'value',
            ProblemCode.dynamicDim,
            `dim "${dim}" is dynamic but not declared; give it a fixed size (edge runtimes need static shapes) or list it in inputs[${index}].dynamic to keep it dynamic on purpose`,
          );
        }
      });
      const symbols = shape.filter((dim): dim is string => typeof dim === 'string');
      dynamic.forEach((name, dynamicIndex) => {
        if (!symbols.includes(name))
          report(
            [...at, 'dynamic', dynamicIndex],
            'value',
            ProblemCode.dynamicDim,
            `"${name}" is not a dim name in inputs[${index}].shape`,
          );
      });
      if (typeof input.layout === 'string' && /^[A-Z]+$/.test(input.layout) && input.layout.length !== shape.length) {
        report(
          [...at, 'layout'],
          'value',
          ProblemCode.inconsistent,
          `layout "${input.layout}" has ${input.layout.length} letters but the shape has ${shape.length} dims; expected one letter per dim`,
        );
      }
    }
    if (input.value !== undefined && shape !== undefined) checkInputValue(recipe, input, at, shape, report);
    const range = input.range;
    if (
      Array.isArray(range) &&
      range.length === 2 &&
      typeof range[0] === 'number' &&
      typeof range[1] === 'number' &&
      !(range[0] < range[1])
    ) {
      report(
        [...at, 'range'],
        'value',
        ProblemCode.inconsistent,
        `expected [low, high] with low < high, received [${range[0]}, ${range[1]}]`,
      );
    }
  });
  if (Array.isArray(recipe.outputs)) {
    const outputNames = new Map<string, number>();
    recipe.outputs.forEach((output: unknown, index) => {
      if (!isMapping(output) || typeof output.name !== 'string') return;
      const earlier = outputNames.get(output.name);
      if (earlier !== undefined)
        report(
          ['outputs', index, 'name'],
          'value',
          ProblemCode.inconsistent,
          `output name "${output.name}" is already used by outputs[${earlier}]`,
        );
      else outputNames.set(output.name, index);
    });
  }
}

/**
 * A constant input's `value`: nested lists in the input's shape (a scalar for `shape: []`), whole
 * numbers for integer dtypes, true/false (or 0/1) for bool, fixed dims only; and a source that
 * prepare folds it into (ONNX or TFLite: PyTorch sources are exported with every input).
 */
function checkInputValue(
  recipe: Record<string, unknown>,
  input: Record<string, unknown>,
  at: ValuePath,
  shape: unknown[],
  report: Report,
): void {
  const where: ValuePath = [...at, 'value'];
  if (isMapping(recipe.source) && recipe.source.pytorch !== undefined) {
    report(
      where,
      'value',
      ProblemCode.inconsistent,
      'a constant input (value:) is folded into the ONNX graph by prepare; PyTorch sources are exported with every input (give the constant in the factory instead)',
    );
    return;
  }
  if (shape.some((dim) => typeof dim !== 'number')) {
    report(where, 'value', ProblemCode.inconsistent, 'a constant input needs a fixed shape (no dynamic dims)');
    return;
  }
  const dims = shape as number[];
  const dtype = typeof input.dtype === 'string' ? input.dtype : 'float32';
  const problem = valueProblem(input.value, dims, dtype);
  if (problem) report(where, 'value', ProblemCode.inconsistent, problem);
}

function valueProblem(value: unknown, dims: readonly number[], dtype: string): string | undefined {
  const describe = `shape [${dims.join(', ')}]`;
  if (dims.length === 0) {
    if (Array.isArray(value)) return `expected a single value for ${describe} (a scalar), received a list`;
    if (dtype === 'bool') {
      if (typeof value === 'boolean' || value === 0 || value === 1) return undefined;
      return `expected true or false for a bool input, received ${JSON.stringify(value)}`;
    }
    if (typeof value !== 'number') return `expected a number (dtype ${dtype}), received ${JSON.stringify(value)}`;
    if (/^(u?int)/.test(dtype) && !Number.isInteger(value))
      return `expected a whole number (dtype ${dtype}), received ${value}`;
    return undefined;
  }
  if (!Array.isArray(value))
    return `expected nested lists in ${describe} (${dims[0]} item(s) at the top), received ${JSON.stringify(value)}`;
  if (value.length !== dims[0])
    return `expected ${dims[0]} item(s) for ${describe}, received a list of ${value.length}`;
  for (const item of value) {
    const problem = valueProblem(item, dims.slice(1), dtype);
    if (problem) return problem;
  }
  return undefined;
}

/** The targets a recipe builds: its own `targets`, or the defaults when it gives none. */
function effectiveTargets(
  recipe: Record<string, unknown>,
  catalogue: Catalogue,
): Array<{ format: TargetFormat; precisions: unknown[]; declared: boolean }> {
  if (recipe.targets === undefined) {
    return catalogue.formats.map((format) => ({
      format: format.name,
      precisions: [...format.defaultPrecisions],
      declared: false,
    }));
  }
  if (!isMapping(recipe.targets)) return [];
  const declared = recipe.targets;
  return catalogue
    .formatNames()
    .filter((format) => Array.isArray(declared[format]))
    .map((format) => ({
      format,
      precisions: declared[format] as unknown[],
      declared: true,
    }));
}

function checkTargets(recipe: Record<string, unknown>, report: Report, catalogue: Catalogue): void {
  const targets = effectiveTargets(recipe, catalogue);
  const keys = targetKeys(catalogue);
  const skip = isMapping(recipe.skip) ? recipe.skip : {};
  const built = new Set<string>();
  let needsCalibration: { path: ValuePath; precision: string } | undefined;
  for (const { format, precisions, declared } of targets) {
    const seen = new Set<unknown>();
    precisions.forEach((precision, index) => {
      if (seen.has(precision))
        report(
          ['targets', format, index],
          'value',
          ProblemCode.inconsistent,
          `precision "${String(precision)}" is listed twice`,
        );
      seen.add(precision);
      if (typeof precision !== 'string') return;
      built.add(`${format}/${precision}`);
      const calibrated =
        (CALIBRATED_PRECISIONS as readonly string[]).includes(precision) &&
        (catalogue.precisionsOf(format) as readonly string[]).includes(precision);
      if (calibrated && declared && !Object.hasOwn(skip, `${format}/${precision}`) && needsCalibration === undefined) {
        needsCalibration = { path: ['targets', format, index], precision };
      }
    });
  }
  if (needsCalibration !== undefined && recipe.calibration === undefined) {
    const name = typeof recipe.name === 'string' ? recipe.name : '<name>';
    report(
      needsCalibration.path,
      'value',
      ProblemCode.calibrationMissing,
      `${needsCalibration.precision} needs calibration samples; add calibration: { samples: models/${name}/calib/*.npy } (or skip this target)`,
    );
  }
  for (const key of Object.keys(skip)) {
    if (!keys.includes(key)) {
      report(['skip', key], 'key', ProblemCode.invalidValue, unknownTargetKeyMessage(key, keys));
    } else if (!built.has(key)) {
      report(
        ['skip', key],
        'key',
        ProblemCode.inconsistent,
        `"${key}" is not among the targets this recipe builds; remove it from skip`,
      );
    }
  }
  if (isMapping(recipe.quantization)) {
    for (const key of Object.keys(recipe.quantization)) {
      const precision = key.split('/')[1] ?? '';
      if (!keys.includes(key)) {
        report(['quantization', key], 'key', ProblemCode.invalidValue, unknownTargetKeyMessage(key, keys));
      } else if (!CALIBRATED_PRECISIONS.includes(precision as Precision)) {
        report(
          ['quantization', key],
          'key',
          ProblemCode.inconsistent,
          `"${key}" is not a calibrated target: only ${CALIBRATED_PRECISIONS.join(' and ')} targets are searched`,
        );
      }
    }
  }
  if (isMapping(recipe.tolerances)) {
    for (const key of Object.keys(recipe.tolerances)) {
      if (!keys.includes(key) && !(PRECISION_NAMES as readonly string[]).includes(key)) {
        report(['tolerances', key], 'key', ProblemCode.invalidValue, unknownTargetKeyMessage(key, keys, true));
      }
    }
  }
}

function unknownTargetKeyMessage(key: string, keys: readonly string[], allowPrecision = false): string {
  const candidates = allowPrecision ? [...PRECISION_NAMES, ...keys] : keys;
  const suggestion = nearest(key, candidates, { ignoreCase: true });
  const expected = allowPrecision
    ? 'a precision (fp16) or "format/precision" (tflite/int8)'
    : '"format/precision" such as "tflite/int8"';
  return `unknown target "${key}"; expected ${expected}${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
}

function checkSamples(recipe: Record<string, unknown>, report: Report): void {
  const calibration = isMapping(recipe.calibration) ? recipe.calibration.samples : undefined;
  const validation = isMapping(recipe.validation) ? recipe.validation.samples : undefined;
  if (
    typeof calibration === 'string' &&
    typeof validation === 'string' &&
    normaliseProjectPath(calibration) === normaliseProjectPath(validation)
  ) {
    report(
      ['validation', 'samples'],
      'value',
      ProblemCode.samplesOverlap,
      'the same samples as calibration.samples; validating on calibration data hides quantisation error, so use a separate set',
    );
  }
}

/**
 * `validation.stream.feedback` pairs an output with an input: the output must be one the recipe
 * names (when it names outputs), the input one of its inputs, and no input fed twice.
 */
function checkStream(recipe: Record<string, unknown>, report: Report): void {
  const stream = isMapping(recipe.validation) ? recipe.validation.stream : undefined;
  if (!isMapping(stream) || !isMapping(stream.feedback)) return;
  const namesOf = (list: unknown) =>
    Array.isArray(list)
      ? list.flatMap((item: unknown) => (isMapping(item) && typeof item.name === 'string' ? [item.name] : []))
      : [];
  const inputs = namesOf(recipe.inputs);
  const outputs = namesOf(recipe.outputs);
  const fed = new Map<string, string>();
  for (const [output, input] of Object.entries(stream.feedback)) {
    const at: ValuePath = ['validation', 'stream', 'feedback', output];
    if (outputs.length > 0 && !outputs.includes(output)) {
      const near = nearest(output, outputs);
      report(
        at,
        'key',
        ProblemCode.inconsistent,
        `"${output}" is not an output of the recipe (outputs: ${outputs.join(', ')})${near ? `; did you mean "${near}"?` : ''}`,
      );
    }
    if (typeof input !== 'string') continue;
    if (inputs.length > 0 && !inputs.includes(input)) {
      const near = nearest(input, inputs);
      report(
        at,
        'value',
        ProblemCode.inconsistent,
        `"${input}" is not an input of the recipe (inputs: ${inputs.join(', ')})${near ? `; did you mean "${near}"?` : ''}`,
      );
    }
    const earlier = fed.get(input);
    if (earlier !== undefined)
      report(at, 'value', ProblemCode.inconsistent, `input "${input}" is already fed back from output "${earlier}"`);
    else fed.set(input, output);
  }
}

function checkLabels(recipe: Record<string, unknown>, report: Report): void {
  if (recipe.labels === undefined) return;
  const outputs = Array.isArray(recipe.outputs) ? recipe.outputs : [];
  if (!outputs.some((output) => isMapping(output) && output.classifier === true))
    report(
      ['labels'],
      'key',
      ProblemCode.inconsistent,
      'name the output they belong to: mark it `classifier: true` under outputs',
    );
}

function checkLicense(recipe: Record<string, unknown>, report: Report): void {
  if (typeof recipe.license === 'string' && /LicenseRef-/.test(recipe.license) && recipe.license_file === undefined) {
    report(
      ['license'],
      'value',
      ProblemCode.inconsistent,
      `${recipe.license} names a license outside the SPDX list; add license_file with its text`,
    );
  }
}

const IMAGE_GLOB = /\.(png|jpe?g)$|\{[^}]*\b(png|jpe?g)\b[^}]*\}$/i;

/**
 * An image input's declared `range` must be what the preprocessing makes of 8-bit pixels: the
 * range drives calibration and random validation inputs and is published on the card. Checked
 * when the samples are images (raw values are then 0..255 for sure); .npy samples hold values of
 * any range, so their recipes are left alone.
 */
function checkRangeAgainstPreprocess(recipe: Record<string, unknown>, report: Report): void {
  const globs = [recipe.calibration, recipe.validation]
    .map((set) => (isMapping(set) && typeof set.samples === 'string' ? set.samples : undefined))
    .filter((glob): glob is string => glob !== undefined);
  if (!globs.some((glob) => IMAGE_GLOB.test(glob)) || !Array.isArray(recipe.inputs)) return;
  const pre = isMapping(recipe.preprocess) ? recipe.preprocess : {};
  const numbers = (value: unknown, fallback: number[]) =>
    Array.isArray(value) && value.every((v) => typeof v === 'number') ? (value as number[]) : fallback;
  const preprocess = {
    scale: typeof pre.scale === 'number' ? pre.scale : 1,
    mean: numbers(pre.mean, [0]),
    std: numbers(pre.std, [1]),
  };
  if (preprocess.std.some((s) => s === 0)) return;
  recipe.inputs.forEach((input: unknown, index) => {
    if (!isMapping(input) || !Array.isArray(input.shape)) return;
    if (input.dtype !== undefined && input.dtype !== 'float32' && input.dtype !== 'float16') return;
    const shape = input.shape as Array<number | string>;
    const layout =
      typeof input.layout === 'string' ? input.layout : shape.length === 4 ? 'NCHW' : 'D'.repeat(shape.length);
    const declared =
      Array.isArray(input.range) && input.range.length === 2 && input.range.every((v) => typeof v === 'number')
        ? (input.range as [number, number])
        : ([0, 1] as [number, number]);
    const pixels = pixelRange(preprocess, channelsOf(shape, layout));
    if (rangeMatchesPixels(declared, pixels)) return;
    const expected = `[${roundRangeEnd(pixels[0])}, ${roundRangeEnd(pixels[1])}]`;
    report(
      input.range === undefined ? ['inputs', index] : ['inputs', index, 'range'],
      'value',
      ProblemCode.inconsistent,
      `range [${declared.join(', ')}] ${input.range === undefined ? '(the default) ' : ''}is not what preprocess makes of image pixels: (0..255 * ${preprocess.scale} - mean) / std gives ${expected}; set range: ${expected}, or change preprocess`,
    );
  });
}

function checkPreprocess(recipe: Record<string, unknown>, report: Report): void {
  checkRangeAgainstPreprocess(recipe, report);
  if (!isMapping(recipe.preprocess)) return;
  const { mean, std } = recipe.preprocess;
  if (Array.isArray(mean) && Array.isArray(std) && mean.length > 1 && std.length > 1 && mean.length !== std.length) {
    report(
      ['preprocess', 'std'],
      'value',
      ProblemCode.inconsistent,
      `has ${std.length} values but mean has ${mean.length}; expected one value per channel (or a single value for all)`,
    );
  }
}
