/** Maps the schema's output (YAML form, snake_case, defaults applied) onto the Recipe contract. */
import type {
  FileLocation,
  FileSource,
  InputSpec,
  ModelSource,
  ParameterReplacement,
  Precision,
  Recipe,
  TargetFormat,
} from './types.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import { FACTORY_PATTERN, type RecipeYaml } from './schema.js';
import { normaliseProjectPath } from './project-path.js';

type YamlLocation = NonNullable<RecipeYaml['source']['onnx']>;
type YamlPackage = NonNullable<YamlLocation['package']>;

/**
 * Builds the normalised Recipe. Call only on a value that passed the schema and the rules:
 * it relies on them (exactly one source kind, exactly one location per file, pinned packages).
 */
export function normaliseRecipe(yaml: RecipeYaml, catalogue: Catalogue): Recipe {
  const recipe: Recipe = {
    name: yaml.name,
    version: yaml.version,
    license: yaml.license,
    description: yaml.description.trim(),
    task: yaml.task,
    tags: yaml.tags,
    source: normaliseSource(yaml.source),
    inputs: yaml.inputs.map(normaliseInput),
    outputs: yaml.outputs.map((output) => ({
      name: output.name,
      ...(output.layout === undefined ? {} : { layout: output.layout }),
      classifier: output.classifier,
    })),
    preprocess: {
      resize: yaml.preprocess.resize,
      channelOrder: yaml.preprocess.channel_order,
      scale: yaml.preprocess.scale,
      mean: yaml.preprocess.mean,
      std: yaml.preprocess.std,
    },
    validation: {
      // An empty glob means "no samples": validation runs on seeded random inputs.
      samples: yaml.validation.samples === undefined ? '' : normaliseProjectPath(yaml.validation.samples),
      count: yaml.validation.count,
      topk: yaml.validation.topk,
      seed: yaml.validation.seed,
      ...(yaml.validation.stream
        ? {
            stream: {
              feedback: { ...yaml.validation.stream.feedback },
              ...(yaml.validation.stream.chunks === undefined ? {} : { chunks: yaml.validation.stream.chunks }),
            },
          }
        : {}),
    },
    targets: normaliseTargets(yaml.targets, catalogue),
    skip: yaml.skip,
    converters: Object.fromEntries(
      Object.entries(yaml.converters as Record<string, string | string[] | undefined>).flatMap(([key, value]) =>
        value === undefined ? [] : [[key, typeof value === 'string' ? [value] : [...value]]],
      ),
    ),
    strategies: yaml.strategies,
    allowOps: yaml.allow_ops,
    opset: yaml.opset,
    ...(yaml.dequantize ? { dequantize: true } : {}),
    tolerances: Object.fromEntries(
      Object.entries(yaml.tolerances).map(([key, tolerance]) => [
        key,
        Object.fromEntries(Object.entries(tolerance).filter(([, v]) => v !== undefined)),
      ]),
    ),
  };
  if (Object.keys(yaml.quantization).length > 0)
    recipe.quantization = Object.fromEntries(
      Object.entries(yaml.quantization).map(([key, q]) => [
        key,
        {
          ...(q.search !== undefined ? { search: q.search } : {}),
          ...(q.max_attempts !== undefined ? { maxAttempts: q.max_attempts } : {}),
          ...(q.keep_float !== undefined ? { keepFloat: q.keep_float } : {}),
          ...(q.keep_float_ops !== undefined ? { keepFloatOps: q.keep_float_ops } : {}),
          ...(q.op_types !== undefined ? { opTypes: q.op_types } : {}),
          ...(q.activations !== undefined ? { activations: q.activations } : {}),
          ...(q.int16_tensors !== undefined ? { int16Tensors: q.int16_tensors } : {}),
          ...(q.calibration_method !== undefined ? { calibrationMethod: q.calibration_method } : {}),
        },
      ]),
    );
  if (yaml.license_file !== undefined) recipe.licenseFile = normaliseProjectPath(yaml.license_file);
  if (yaml.homepage !== undefined) recipe.homepage = yaml.homepage;
  if (yaml.labels !== undefined)
    recipe.labels =
      typeof yaml.labels === 'string'
        ? { kind: 'path', path: normaliseProjectPath(yaml.labels) }
        : { kind: 'list', values: yaml.labels };
  if (yaml.calibration !== undefined)
    recipe.calibration = { samples: normaliseProjectPath(yaml.calibration.samples), count: yaml.calibration.count };
  if (yaml.replacements !== undefined) {
    recipe.replacements =
      typeof yaml.replacements === 'string'
        ? { kind: 'path', path: normaliseProjectPath(yaml.replacements) }
        : { kind: 'inline', value: yaml.replacements as ParameterReplacement };
  }
  return recipe;
}

function normaliseTargets(targets: RecipeYaml['targets'], catalogue: Catalogue): Recipe['targets'] {
  const out: Recipe['targets'] = {};
  for (const format of catalogue.formatNames() as TargetFormat[]) {
    const precisions = targets[format];
    if (precisions !== undefined) out[format] = precisions as Precision[];
  }
  return out;
}

function normaliseInput(input: RecipeYaml['inputs'][number]): InputSpec {
  return {
    name: input.name,
    shape: input.shape,
    dynamic: input.dynamic,
    // NCHW is what PyTorch and ONNX image models take; other ranks get "D" (any) per dim.
    layout: input.layout ?? (input.shape.length === 4 ? 'NCHW' : 'D'.repeat(input.shape.length)),
    dtype: input.dtype,
    range: input.range,
    ...(input.value !== undefined ? { value: input.value } : {}),
  };
}

function normaliseSource(source: RecipeYaml['source']): ModelSource {
  if (source.onnx !== undefined) return { kind: 'onnx', file: normaliseFile(source.onnx) };
  if (source.tflite !== undefined) return { kind: 'tflite', file: normaliseFile(source.tflite) };
  if (source.pytorch !== undefined) {
    const match = FACTORY_PATTERN.exec(source.pytorch.factory);
    const groups = match?.groups ?? {};
    const factory = { file: normaliseProjectPath(groups.file ?? ''), function: groups.function ?? '' };
    const result: ModelSource = { kind: 'pytorch', factory, kwargs: source.pytorch.kwargs };
    if (source.pytorch.weights !== undefined) result.weights = normaliseFile(source.pytorch.weights);
    return result;
  }
  if (source.package !== undefined) {
    const file: FileSource = {
      location: normalisePackage(source.package),
      sha256: source.package.sha256.toLowerCase(),
      ...(source.package.size === undefined ? {} : { size: source.package.size }),
    };
    return source.package.file.endsWith('.tflite') ? { kind: 'tflite', file } : { kind: 'onnx', file };
  }
  throw new Error('normaliseRecipe: a recipe without a source passed the rules');
}

function normaliseFile(location: YamlLocation): FileSource {
  return {
    location: normaliseLocation(location),
    sha256: location.sha256.toLowerCase(),
    ...(location.size === undefined ? {} : { size: location.size }),
    ...('external_data' in location && location.external_data !== undefined
      ? {
          externalData: location.external_data.map((data) => ({
            name: normaliseProjectPath(data.name),
            file: normaliseFile(data),
          })),
        }
      : {}),
  };
}

function normaliseLocation(location: YamlLocation): FileLocation {
  if (location.url !== undefined) return { kind: 'url', url: location.url };
  if (location.path !== undefined) return { kind: 'path', path: normaliseProjectPath(location.path) };
  if (location.package !== undefined) return normalisePackage(location.package);
  throw new Error('normaliseRecipe: a file location without url, path or package passed the rules');
}

function normalisePackage(spec: YamlPackage): FileLocation {
  const file = normaliseProjectPath(spec.file);
  if (spec.pypi !== undefined) {
    const [name = '', version = ''] = spec.pypi.split('==');
    return { kind: 'package', registry: 'pypi', name, version, file };
  }
  const npm = spec.npm ?? '';
  const at = npm.lastIndexOf('@');
  return { kind: 'package', registry: 'npm', name: npm.slice(0, at), version: npm.slice(at + 1), file };
}
