/**
 * The YAML form of a recipe, as one zod schema: the source of truth for validation, for
 * recipes/recipe.schema.json (editor autocompletion) and for the generated reference. Every
 * field has a description, and a default where one makes sense. Rules that relate several
 * fields (exactly one source kind, calibration for int8, ...) live in rules.ts; this file only
 * says what each field may hold on its own.
 */
import semver from 'semver';
import { z } from 'zod';
import { BUILTIN_CATALOGUE } from '../catalogue/builtin.js';
import type { Catalogue } from '../catalogue/catalogue.js';
import { PRECISION_NAMES } from '../catalogue/precisions.js';
import { CATALOGUE_NAME } from '../catalogue/types.js';
import { checkProjectPath } from './project-path.js';
import { MAX_SAMPLE_COUNT, MAX_TENSOR_ELEMENTS } from './size-rules.js';
import { checkSpdxExpression } from './spdx.js';
import type { InputValue } from './types.js';

/** Every precision any format knows, in the order people read them. */
export const ALL_PRECISIONS = PRECISION_NAMES;
export const TENSOR_DTYPES = ['float32', 'float16', 'int64', 'int32', 'int8', 'uint8', 'bool'] as const;

const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;
// A factory is a Python file of the project under models/<name>/ and a function in it. A package's
// module is not accepted: whatever the factory names is imported and run by the build, so a
// recipe could otherwise run any installed module (`os:system` with a `command` kwarg).
export const FACTORY_PATTERN =
  /^(?<file>(?:\.\/)?models\/[A-Za-z0-9_.-]+\/(?:[A-Za-z0-9_.-]+\/)*[A-Za-z0-9_.-]+\.py):(?<function>[A-Za-z_][A-Za-z0-9_]*)$/;
const PYPI_PIN = /^(?<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)==(?<version>[0-9][A-Za-z0-9.+!_-]*)$/;
const NPM_PIN = /^(?<name>(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*)@(?<version>[^@\s]+)$/;
const HTTP_URL = /^(https:\/\/[^\s/]+|http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?)(\/\S*)?$/;

/** A path or glob that must stay inside the project. */
function projectPath(description: string, options: { extension?: string } = {}) {
  return z
    .string()
    .superRefine((value, ctx) => {
      const problem = checkProjectPath(value);
      if (problem !== undefined)
        ctx.addIssue({ code: 'custom', message: problem, input: value, params: { rule: 'path' } });
      else if (options.extension !== undefined && !value.endsWith(options.extension))
        ctx.addIssue({ code: 'custom', message: `expected a ${options.extension} file`, input: value });
    })
    .describe(description);
}

const sha256 = z
  .string()
  .regex(SHA256, { message: 'expected a sha256: 64 hexadecimal digits' })
  .describe('sha256 of the file, 64 hex digits (`sha256sum FILE`). Downloads and local files are checked against it.');

// Query parameters that carry a secret (a token, a signed URL's signature), by name.
const CREDENTIAL_PARAMETER = /token|secret|passw|api[-_]?key|^key$|auth|session|signature|^sig$|credential/i;

/**
 * Why a URL written in a recipe carries credentials, or undefined. A recipe is copied into the
 * manifest, the model card, index.json, the published site and `plan --json`, so a secret in it
 * would be published; the message never repeats the secret.
 */
export function urlCredentialProblem(value: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return undefined;
  }
  const consequence =
    'a recipe is copied into the manifest, the model card, index.json, the site and `plan --json`, so edgezoo downloads recipe URLs without credentials: put the file where it can be read without them, in a registry package or in the project';
  if (parsed.username !== '' || parsed.password !== '')
    return `the URL carries a user name or password (user:password@), which is refused: ${consequence}`;
  for (const name of parsed.searchParams.keys())
    if (CREDENTIAL_PARAMETER.test(name))
      return `the URL's query parameter "${name}" looks like a credential, which is refused: ${consequence}`;
  return undefined;
}

const size = z
  .number()
  .int()
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .describe(
    'Size of the file in bytes (`stat -c %s FILE`). Optional; when given, a download or a file unpacked from a package is cut off as soon as it grows past it, before the sha256 check (an archive entry that inflates to gigabytes is refused at once).',
  );

const url = z
  .string()
  .superRefine((value, ctx) => {
    const credentials = urlCredentialProblem(value);
    if (credentials !== undefined) ctx.addIssue({ code: 'custom', message: credentials, input: value });
    else if (!HTTP_URL.test(value))
      ctx.addIssue({
        code: 'custom',
        message: `expected an https:// URL (plain http only for 127.0.0.1/localhost), received ${JSON.stringify(value)}`,
        input: value,
      });
  })
  .describe(
    'An https:// URL to download the file from (plain http is accepted only for 127.0.0.1 and localhost), without credentials: no user:password@ and no token or signature in the query.',
  );

/** A file inside a registry package pinned to one exact version. */
const packageFile = z
  .strictObject({
    pypi: z
      .string()
      .regex(PYPI_PIN, {
        message: 'expected a PyPI requirement pinned to one version, such as "facenet-pytorch==2.6.0"',
      })
      .optional()
      .describe('PyPI distribution pinned to one exact version: `name==1.2.3`.'),
    npm: z
      .string()
      .regex(NPM_PIN, { message: 'expected an npm package pinned to one version, such as "@scope/name@1.2.3"' })
      .refine((value) => semver.valid(NPM_PIN.exec(value)?.groups?.version ?? '') !== null, {
        message: 'expected an exact npm version (name@1.2.3), not a range',
      })
      .optional()
      .describe('npm package pinned to one exact version: `name@1.2.3` or `@scope/name@1.2.3`.'),
    file: z
      .string()
      .superRefine((value, ctx) => {
        const problem = checkProjectPath(value);
        if (problem !== undefined)
          ctx.addIssue({
            code: 'custom',
            message: problem.replace('the project root', 'the package root').replace('the project', 'the package'),
            input: value,
          });
      })
      .describe('Path of the file inside the installed package, e.g. `facenet_pytorch/data/onet.pt`.'),
  })
  .describe('A file shipped inside a registry package. Give exactly one of `pypi` or `npm`.');

/** Where a file comes from: exactly one of url, path or package, plus its sha256. */
const fileLocation = z
  .strictObject({
    url: url.optional(),
    path: projectPath('Repository-relative path of the file, e.g. `models/x/model.onnx`.').optional(),
    package: packageFile.optional(),
    sha256,
    size: size.optional(),
  })
  .describe('Where the file comes from: exactly one of `url`, `path` or `package`, and its `sha256`.');

// A name the .onnx file gives as an external-data location: relative, no segment starting with a
// dot (so no `..` and no hidden files), written beside the fetched model under exactly this name.
const EXTERNAL_DATA_NAME = /^(?!\.)[A-Za-z0-9_.-]+(?:\/(?!\.)[A-Za-z0-9_.-]+)*$/;

/** One external-data file of an ONNX model: where it comes from, its sha256, and the name the model uses. */
const externalDataFile = fileLocation
  .extend({
    name: z
      .string()
      .regex(EXTERNAL_DATA_NAME, {
        message:
          'expected the location the model gives for this file, relative to the .onnx file, such as "model.onnx.data" (no ".." and no segment starting with a dot)',
      })
      .describe(
        'The `location` the .onnx file gives for this data, relative to it, such as `model.onnx.data`; the file is fetched beside the model under this name.',
      ),
  })
  .describe(
    'An external-data file of the ONNX model: `name`, exactly one of `url`, `path` or `package`, and `sha256`.',
  );

/** An ONNX model file, with the files holding its external data when it has some. */
const onnxFileLocation = fileLocation
  .extend({
    external_data: z
      .array(externalDataFile)
      .min(1)
      .optional()
      .describe(
        'Files holding tensors the model stores outside the .onnx (ONNX external data), each checked against its sha256 and fetched beside the model. Every location the model names must be listed.',
      ),
  })
  .describe('Where the file comes from: exactly one of `url`, `path` or `package`, and its `sha256`.');

const pytorchSource = z
  .strictObject({
    factory: z
      .string()
      .regex(FACTORY_PATTERN, {
        message:
          'expected a Python file of the project under models/ and its function, such as "models/my-model/model.py:build" (not a module of an installed package: the build imports and runs the factory)',
      })
      .describe(
        'Builds the torch.nn.Module: a Python file of the project under `models/<name>/` and the function in it (`models/x/model.py:build`). The build imports and runs this code.',
      ),
    weights: fileLocation
      .optional()
      .describe(
        'State dict loaded with torch.load(weights_only=True) into the built module; leave out when the factory loads its own weights.',
      ),
    kwargs: z.record(z.string(), z.unknown()).default({}).describe('Keyword arguments passed to the factory.'),
  })
  .describe('A PyTorch model built by a factory function, exported to ONNX (or converted by litert-torch).');

const source = z
  .strictObject({
    onnx: onnxFileLocation.optional().describe('An ONNX model file.'),
    tflite: fileLocation.optional().describe('A TFLite (LiteRT) model file.'),
    pytorch: pytorchSource.optional(),
    package: packageFile
      .extend({ sha256, size: size.optional() })
      .optional()
      .describe(
        'Short form for a model file inside a registry package; its format comes from the extension (.onnx or .tflite).',
      ),
  })
  .describe('Where the model comes from: exactly one of `onnx`, `tflite`, `pytorch` or `package`.');

const dimName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'expected a dim name (letters, digits, underscore)' });

const inputValue: z.ZodType<InputValue> = z.lazy(() =>
  z.union([z.number(), z.boolean(), z.array(inputValue)], { message: 'expected a number, true/false or a list' }),
);

const input = z
  .strictObject({
    name: z.string().min(1).describe('Input name as in the model graph.'),
    shape: z
      .array(
        z.union([z.number().int().min(1).max(MAX_TENSOR_ELEMENTS), dimName], {
          message: 'expected a positive integer or the name of a dynamic dim',
        }),
      )
      .describe(
        'Shape the artifacts are built with. Numbers are fixed dims; a name keeps that dim dynamic and must be listed in `dynamic`; `[]` is a scalar.',
      ),
    dynamic: z
      .array(dimName)
      .default([])
      .describe('Dim names in `shape` that stay dynamic on purpose (edge runtimes prefer static shapes).'),
    layout: z
      .string()
      .regex(/^[A-Z]+$/, { message: 'expected one upper-case letter per dim, such as NCHW' })
      .optional()
      .describe(
        'Axis meaning, one letter per dim (N batch, C channels, H, W, L length, D any). Default: NCHW for 4-D inputs, D for every dim otherwise.',
      ),
    dtype: z.enum(TENSOR_DTYPES).default('float32').describe('Element type of the input.'),
    range: z
      .tuple([z.number(), z.number()])
      .default([0, 1])
      .describe('Value range of the input after preprocessing, [low, high]; used for random inputs and calibration.'),
    value: inputValue
      .optional()
      .describe(
        'A constant for this input (a number, true/false, or nested lists in its shape): folded into the graph before conversion, so the artifacts do not take it (a sample rate, a flag).',
      ),
  })
  .describe('One model input.');

const output = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .describe(
        'Output name as in the model graph. A PyTorch source has no graph: its outputs are named in the order forward returns them, every one (none named: output_0, output_1, ...).',
      ),
    layout: z
      .string()
      .regex(/^[A-Z]+$/, { message: 'expected one upper-case letter per dim, such as NC' })
      .optional()
      .describe('Axis meaning, one letter per dim.'),
    classifier: z
      .boolean()
      .default(false)
      .describe('The output holds class scores: validation reports top-1/top-k agreement on it.'),
  })
  .describe('Names, layout and role of one output.');

const preprocess = z
  .strictObject({
    resize: z.boolean().default(true).describe('Images only: resize to the input height and width.'),
    channel_order: z.enum(['rgb', 'bgr']).default('rgb').describe('Channel order the model expects for image samples.'),
    scale: z
      .number()
      .positive()
      .default(1)
      .describe('Multiplies raw values first; 0.00392156862745098 (1/255) turns 8-bit pixels into [0, 1].'),
    mean: z
      .array(z.number())
      .min(1)
      .default([0])
      .describe('Subtracted after scaling, per channel (one value applies to all channels).'),
    std: z
      .array(z.number().positive())
      .min(1)
      .default([1])
      .describe('Divides after subtracting the mean, per channel (one value applies to all channels).'),
  })
  .prefault({})
  .describe('How raw samples (images or .npy) become model input: x = (raw * scale - mean) / std.');

const calibration = z
  .strictObject({
    samples: projectPath(
      'Glob of repository-relative .npy files or images (png/jpg) that look like real inputs, e.g. `models/x/calib/*.npy`.',
    ),
    count: z
      .number()
      .int()
      .min(1)
      .max(MAX_SAMPLE_COUNT)
      .default(64)
      .describe('How many of the matched files to use (sorted by name, first N).'),
  })
  .describe('Samples for int8 and int16-act quantisation. Required when a target needs them.');

const validation = z
  .strictObject({
    samples: projectPath(
      'Glob of repository-relative .npy files or images; leave out to validate on random inputs within each input range.',
    ).optional(),
    count: z
      .number()
      .int()
      .min(1)
      .max(MAX_SAMPLE_COUNT)
      .default(16)
      .describe('How many samples (or random inputs) to compare on.'),
    topk: z.number().int().min(1).default(5).describe('k of the top-k agreement reported for classifier outputs.'),
    seed: z.number().int().min(0).default(0).describe('Seed for random inputs when no samples are given.'),
    stream: z
      .strictObject({
        feedback: z
          .record(z.string().min(1), z.string().min(1))
          .refine((value) => Object.keys(value).length > 0, 'name at least one output: input pair')
          .describe(
            'Output -> input: each sample after the first of a stream gets this output of the step before as that input (the recurrent state), e.g. `{ stateN: state }`.',
          ),
        chunks: z
          .number()
          .int()
          .min(2)
          .optional()
          .describe(
            'Samples per stream: the samples, in order, are cut into streams of this many chained steps, each starting from its first sample as given. Default: one stream of every sample.',
          ),
      })
      .optional()
      .describe(
        'Stateful models: validate on chained steps, the state fed back, so errors that grow over a stream show (the reference runs the same chain).',
      ),
  })
  .prefault({})
  .describe('How every artifact is compared with the source model.');

const replacementOperation = z
  .looseObject({
    op_name: z.string().min(1).describe('Name of the ONNX node to change.'),
    param_target: z.enum(['inputs', 'attributes', 'outputs', 'op']).describe('What to change on the node.'),
    param_name: z.string().min(1).describe('Which input, attribute or output to change.'),
    values: z.unknown().optional().describe('The new value(s).'),
  })
  .describe('One onnx2tf parameter replacement; extra onnx2tf fields (pre_process_transpose_perm, ...) pass through.');

const inlineReplacements = z
  .strictObject({
    format_version: z.literal(1).describe('onnx2tf parameter-replacement format version; always 1.'),
    operations: z.array(replacementOperation).min(1).describe('The replacements, applied in order.'),
  })
  .describe('onnx2tf parameter replacements given inline.');

/**
 * A parameter-replacement JSON file a recipe names: the inline form's content, with whatever
 * else onnx2tf files carry at the top level kept.
 */
export const replacementFileSchema = z.looseObject({
  format_version: z.literal(1),
  operations: z.array(replacementOperation).min(1),
});

const replacements = z
  .union(
    [
      projectPath('Repository-relative onnx2tf parameter-replacement JSON file.', { extension: '.json' }),
      inlineReplacements,
    ],
    {
      message:
        'expected a path to an onnx2tf parameter-replacement .json file, or the same content inline (format_version, operations)',
    },
  )
  .describe('Fixes for layers a converter gets wrong, in the onnx2tf parameter-replacement format (a file or inline).');

const tolerance = z
  .strictObject({
    atol: z.number().min(0).optional().describe('Maximum absolute error per element.'),
    rtol: z.number().min(0).optional().describe('Relative error allowed on top of atol.'),
    cosine: z.number().min(-1).max(1).optional().describe('Minimum cosine similarity per output.'),
    top1: z.number().min(0).max(1).optional().describe('Minimum top-1 agreement (0..1) on classifier outputs.'),
    topk: z.number().min(0).max(1).optional().describe('Minimum top-k agreement (0..1) on classifier outputs.'),
  })
  .describe('Thresholds that override the defaults.');

function precisionList(catalogue: Catalogue, format: string) {
  const allowed = catalogue.precisionsOf(format);
  return z
    .array(z.enum(allowed as [string, ...string[]]))
    .min(1)
    .optional()
    .describe(`Precisions to build as ${format}: ${allowed.join(', ')}.`);
}

/** `targets`: one optional precision list per format of the catalogue. */
function targetsSchema(catalogue: Catalogue) {
  return z
    .strictObject(
      Object.fromEntries(catalogue.formats.map((format) => [format.name, precisionList(catalogue, format.name)])),
    )
    .default(() => Object.fromEntries(catalogue.formats.map((format) => [format.name, [...format.defaultPrecisions]])))
    .describe('Artifacts to build: target format -> precisions. Default: every precision that needs no calibration.');
}

/**
 * `converters`: for each format that offers a choice of backend, keyed by the format or a
 * `format/precision` target: one converter (only it), or an ordered list (tried in that order,
 * each where it makes the precision).
 */
function convertersSchema(catalogue: Catalogue) {
  const entries = catalogue.formats.flatMap((format) => {
    const choices = catalogue.converterChoices(format.name);
    if (choices.length === 0 || format.defaultConverter === undefined) return [];
    const names = choices.map((b) => b.name) as [string, ...string[]];
    const described = choices.map((b) => `${b.name} (${b.summary}; ${b.precisions.join(', ')})`);
    const list =
      described.length > 1 ? `${described.slice(0, -1).join(', ')} or ${described.at(-1)}` : (described[0] ?? '');
    const choice = (description: string) =>
      z
        .union([z.enum(names), z.array(z.enum(names)).min(1)])
        .optional()
        .describe(description);
    return [
      [
        format.name,
        choice(
          `Tool(s) that make ${format.title}: ${list}. One name: only that converter. A list: tried in order, each where it makes the precision, the next when one fails to convert or to validate. Default: ${format.defaultConverter} first, then the others that read the source.`,
        ),
      ],
      ...catalogue
        .precisionsOf(format.name)
        .map(
          (precision) =>
            [
              `${format.name}/${precision}`,
              choice(`Like \`converters.${format.name}\`, for ${format.name}/${precision} only (wins over it).`),
            ] as const,
        ),
    ];
  });
  return z
    .strictObject(Object.fromEntries(entries))
    .prefault({})
    .describe(
      'Which converter makes each format, where there is a choice, keyed by format (tflite) or "format/precision" (tflite/fp16; the more precise key wins).',
    );
}

/** `strategies`: pins of converter strategies by format or `format/precision`; names the catalogue's. */
function strategiesSchema(catalogue: Catalogue) {
  const lists = catalogue.backends
    .filter((backend) => backend.stage === 'convert' && backend.strategies.length > 1)
    .map((backend) => `${backend.name}: ${backend.strategies.map((s) => s.name).join(', ')}`);
  return z
    .record(z.string(), z.array(z.string().regex(CATALOGUE_NAME)).min(1))
    .default({})
    .describe(
      `Pins how a target is converted, keyed by format (tflite) or "format/precision" (tflite/fp16): the converter's strategies to try, in order (${lists.join('; ')}). Default: the converter's default strategy, and its others only after a failure; the build prints these lines when another one won.`,
    );
}

const schemas = new WeakMap<Catalogue, ReturnType<typeof buildRecipeYamlSchema>>();

/** The YAML form of a recipe for the formats and backends of `catalogue`. */
export function recipeYamlSchema(catalogue: Catalogue = BUILTIN_CATALOGUE) {
  let schema = schemas.get(catalogue);
  if (!schema) {
    schema = buildRecipeYamlSchema(catalogue);
    schemas.set(catalogue, schema);
  }
  return schema;
}

function buildRecipeYamlSchema(catalogue: Catalogue) {
  return z
    .strictObject({
      name: z
        .string()
        .max(64)
        .regex(KEBAB, { message: 'expected lower-case letters, digits and single dashes, such as "mobilenet-v2"' })
        .describe('Model name: lower-case letters, digits and dashes; must equal the file name (recipes/<name>.yaml).'),
      version: z
        .string()
        .refine((value) => semver.valid(value) === value, { message: 'expected a semver version such as "1.0.0"' })
        .describe('Semver version of this model in the zoo, e.g. "1.0.0". A published version never changes.'),
      license: z
        .string()
        .superRefine((value, ctx) => {
          const problem = checkSpdxExpression(value);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: value });
        })
        .describe(
          'SPDX license id or expression of the model weights, e.g. Apache-2.0, MIT, "CC-BY-NC-4.0", or LicenseRef-<name> with `license_file`.',
        ),
      license_file: projectPath('Repository-relative path of the license text, when the source ships one.').optional(),
      description: z.string().min(1).describe('One or two sentences for the model card: what the model does.'),
      task: z
        .string()
        .regex(KEBAB, { message: 'expected a kebab-case task such as "image-classification"' })
        .describe(
          'What the model does, kebab-case: image-classification, object-detection, face-detection, segmentation, ...',
        ),
      homepage: url.optional().describe('Where the model is described (paper, repository).'),
      tags: z
        .array(z.string().regex(KEBAB, { message: 'expected a kebab-case tag' }))
        .default([])
        .describe('Kebab-case keywords for search.'),
      source,
      labels: z
        .union([
          projectPath('Repository-relative text file with one class name per line.'),
          z.array(z.string().min(1)).min(1),
        ])
        .optional()
        .describe(
          'Class names of the classifier output, in index order: a repository-relative text file with one per line, or a list. The model card and its code print them.',
        ),
      inputs: z.array(input).min(1).describe('Model inputs: fixes dynamic dims, names the layout and value range.'),
      outputs: z
        .array(output)
        .default([])
        .describe('Optional: names, layouts and classifier flags of outputs (others come from the model).'),
      preprocess,
      calibration: calibration.optional(),
      validation,
      replacements: replacements.optional(),
      targets: targetsSchema(catalogue),
      skip: z
        .record(z.string(), z.string().min(1))
        .default({})
        .describe('Targets known not to build, as "format/precision": reason (shown on the model card).'),
      converters: convertersSchema(catalogue),
      strategies: strategiesSchema(catalogue),
      allow_ops: z
        .record(z.string(), z.array(z.string().min(1)).min(1))
        .default({})
        .describe(
          'Flex or custom ops an artifact may need, by name as `edgezoo inspect` lists them (FlexAtan), keyed by format (tflite) or "format/precision". Default: none, so TFLite artifacts are builtin-only (stock LiteRT runs them); a conversion that needs others tries the next strategy, then fails.',
        ),
      opset: z.number().int().min(7).max(23).default(17).describe('ONNX opset for exports and conversions.'),
      quantization: z
        .record(
          z.string(),
          z.strictObject({
            search: z
              .boolean()
              .optional()
              .describe('false: build only the full quantization (no search). Default true.'),
            max_attempts: z
              .number()
              .int()
              .min(1)
              .max(10)
              .optional()
              .describe('At most this many attempts (default 7).'),
            keep_float: z
              .array(z.string().min(1))
              .optional()
              .describe(
                'Pin: layers kept float (ONNX node names; TFLite output tensor names), as the search prints them.',
              ),
            keep_float_ops: z
              .array(z.string().min(1))
              .optional()
              .describe('Pin: op types kept float (TFLite MEAN, ONNX Softmax).'),
            op_types: z
              .array(z.string().min(1))
              .optional()
              .describe('Pin (ONNX): quantise only these op types (Conv, ConvTranspose, MatMul, Gemm).'),
            activations: z.enum(['int8', 'int16']).optional().describe('Pin: the activation type.'),
            int16_tensors: z
              .array(z.string().min(1))
              .optional()
              .describe(
                'Pin (ONNX int8): activations (tensor names) given 16-bit Q/DQ while the rest stays int8, as the search prints them.',
              ),
            calibration_method: z
              .enum(['MinMax', 'Percentile', 'Entropy'])
              .optional()
              .describe("Pin (ONNX): onnxruntime's calibration method (default MinMax)."),
          }),
        )
        .default({})
        .describe(
          'The quantization search of calibrated targets, keyed by "format/precision" (tflite/int8): turn it off, bound it, or pin the configuration it printed. Any of keep_float, keep_float_ops, op_types, int16_tensors, calibration_method, activations pins one configuration (no search).',
        ),
      dequantize: z
        .boolean()
        .default(false)
        .describe(
          'The source is dynamically quantized (DynamicQuantizeLinear + ConvInteger/MatMulInteger, as onnxruntime quantize_dynamic writes): prepare rewrites those blocks to float Conv/MatMul with dequantized weights, so every converter sees float ops.',
        ),
      tolerances: z
        .record(z.string(), tolerance)
        .default({})
        .describe(
          'Overrides of the default validation thresholds, keyed by precision (fp16) or "format/precision" (tflite/int8).',
        ),
    })
    .meta({
      title: 'edgezoo recipe',
      description:
        'One model of the edgezoo zoo: where it comes from, its inputs, and which edge artifacts to build and validate.',
    });
}

/** The YAML form of a recipe for the built-in catalogue. */
export const RecipeYamlSchema = recipeYamlSchema();

/** A recipe after schema parsing (defaults applied), before normalisation. */
export type RecipeYaml = z.output<typeof RecipeYamlSchema>;

/** The JSON Schema for editors (draft-07, the draft YAML language servers support best). */
export function recipeJsonSchema(catalogue: Catalogue = BUILTIN_CATALOGUE): Record<string, unknown> {
  const schema = z.toJSONSchema(recipeYamlSchema(catalogue), {
    io: 'input',
    target: 'draft-07',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return schema;
}

/** recipes/recipe.schema.json as committed: the JSON Schema, 2-space indented, newline at the end. */
export function renderRecipeJsonSchema(catalogue: Catalogue = BUILTIN_CATALOGUE): string {
  return `${JSON.stringify(recipeJsonSchema(catalogue), null, 2)}\n`;
}
