/**
 * The ways of running onnx2tf, in the order the convert step tries them (the first is the
 * default; the rest are tried only after an attempt fails: the converter stops, the artifact
 * needs Flex or custom ops the recipe does not allow, or its outputs disagree with the
 * reference). Each entry is data: `options` (checked by `onnx2tfStrategyOptions`) is what the
 * backend turns into onnx2tf keyword arguments and ONNX graph rewrites; `when` says whether
 * the entry can change anything for a model, so the cascade skips it otherwise.
 *
 * Adding a strategy is adding one entry to ONNX2TF_STRATEGIES (and, for a new graph rewrite,
 * one function to ONNX_GRAPH_REWRITES in onnx-graph-steps.ts). Recipes pin entries by name
 * (`strategies: { tflite: [pseudo-ops] }`).
 */
import { z } from 'zod';
import { BUILTIN_MATH_OPS } from '../../formats/onnx/index.js';
import { ONNX_FUNCTION_OPS, ONNX_GRAPH_REWRITES, POOL_OPS } from './onnx-graph-steps.js';
import type { ConversionStrategy, StrategyContext } from '../../catalogue/types.js';

/**
 * What an onnx2tf strategy may set. Every field is optional; absent fields keep the default
 * behaviour (the default strategy has none).
 */
export const onnx2tfStrategyOptionsSchema = z.strictObject({
  /**
   * Which inputs onnx2tf keeps as they are (-kat): `non-channels-first` (the default rule:
   * rank >= 3 inputs whose recipe layout is not N C ...), `all-but-images` (also every
   * channels-first input that is not a 4-D image, e.g. [1, 3, 16] sequences) or `all` (every
   * input of rank >= 3, 4-D NCHW ones too).
   */
  keepShape: z.enum(['non-channels-first', 'all-but-images', 'all']).optional(),
  /**
   * Give onnx2tf every rank 3..5 input as channels-first (-k) instead of keeping its shape
   * (-kat): onnx2tf then transposes it itself after the input and knows which axis is which
   * where dims are equal (with -kat, a ReduceSum over the last axis of [3, 2, 2] summed axis 1).
   */
  keepChannelsFirst: z.boolean().optional(),
  /**
   * Replace each Resize/Upsample (constant scales or sizes, static shape) with one MatMul per
   * resized axis by its interpolation matrix, which onnxruntime's own Resize of an identity
   * matrix gives: exact for every mode and coordinate transformation, in builtin ops.
   */
  resizeAsMatmul: z.boolean().optional(),
  /** ONNX op types onnx2tf replaces with builtin-only pseudo ops (-rtpo). */
  pseudoOps: z.array(z.string()).optional(),
  /**
   * Op types replaced with their ONNX function body (primitive ops at the model's opset) before
   * the rewrites: ops onnx2tf lacks or converts only in some forms (LayerNormalization with its
   * Mean output, Attention with a mask, RMSNormalization over C, H, W...).
   */
  expandFunctions: z.array(z.string()).optional(),
  /** ONNX graph rewrites applied before onnx2tf, in order (names of ONNX_GRAPH_REWRITES). */
  rewrites: z.array(z.string()).optional(),
  /** Other onnx2tf.convert keyword arguments, as onnx2tf names them (`enable_rnn_unroll: true`). */
  flags: z.record(z.string(), z.json()).optional(),
});

export type Onnx2tfStrategyOptions = z.infer<typeof onnx2tfStrategyOptionsSchema>;

/** The options of an onnx2tf strategy, checked (a bad catalogue entry is a programming error). */
export function onnx2tfStrategyOptions(strategy: ConversionStrategy): Onnx2tfStrategyOptions {
  const parsed = onnx2tfStrategyOptionsSchema.safeParse(strategy.options);
  if (!parsed.success)
    throw new Error(`onnx2tf strategy "${strategy.name}" has invalid options: ${parsed.error.issues[0]?.message}`);
  for (const rewrite of parsed.data.rewrites ?? [])
    if (!ONNX_GRAPH_REWRITES[rewrite])
      throw new Error(`onnx2tf strategy "${strategy.name}" names an unknown graph rewrite "${rewrite}"`);
  return parsed.data;
}

/**
 * Rewrites every strategy applies first: ops onnx2tf 1.29 converts wrong or not at all, where
 * an equivalent ONNX form converts right. Not strategies (nothing to try: the converter's own
 * lowering is never right), and free for models without such ops.
 * - float-mod: onnx2tf lowers Mod(fmod=1) to floor-mod; mixed signs came out wrong.
 * - cast-like: onnx2tf has no CastLike op at all (it stops); a Cast to the known type is the same.
 * - clip-bounds: onnx2tf clips by garbage when Clip's min or max is a tensor computed at run time.
 * - kernel-shape: onnx2tf reads a Conv/ConvTranspose kernel's rank from the optional kernel_shape.
 * - recurrent-states: onnx2tf stops on an LSTM/GRU/RNN without initial states; zeros are the same.
 * - same-pads: onnx2tf pads SAME_LOWER pools wrong (an output one row taller, one column narrower).
 * - split-sizes: onnx2tf splits by num_outputs only evenly (it stopped on 7 into 3).
 * - gather-elements-flat: onnx2tf stopped on a GatherElements with constant indices (the loss
 *   functions' pick of each target class), or gathered along the wrong axis of a channels-last
 *   tensor; a Gather of the flattened data at precomputed positions is exact.
 * - scatter-reductions: onnx2tf stopped on a ScatterElements with a reduction and got ScatterND's
 *   (add, mul, max, min) wrong on every strategy; with constant indices, Gathers of the updates
 *   combined with the data by Add/Mul/Max/Min in index order are exact.
 */
export const ONNX2TF_CORRECTIONS: readonly string[] = [
  'float-mod',
  'cast-like',
  'clip-bounds',
  'kernel-shape',
  'recurrent-states',
  'same-pads',
  'split-sizes',
  'gather-elements-flat',
  'scatter-reductions',
];

/** ONNX recurrent ops (onnx2tf builds them as a Keras RNN: a WHILE loop unless unrolled). */
const RNN_OPS = ['LSTM', 'GRU', 'RNN'];

/** The ops onnx2tf 1.29 can replace with pseudo ops (`-rtpo`; its --help lists them). */
export const ONNX2TF_PSEUDO_OPS = [
  'Asin',
  'Acos',
  'Atan',
  'Abs',
  'PReLU',
  'LeakyReLU',
  'Power',
  'GatherND',
  'Neg',
  'HardSwish',
  'Erf',
  'GeLU',
  'MatMulInteger',
] as const;

/** ONNX op types behind each -rtpo name (onnx2tf names some by their TF op: Power is Pow, PReLU is PRelu). */
const PSEUDO_OP_ONNX_TYPES: Readonly<Record<string, readonly string[]>> = {
  Power: ['Pow'],
  PReLU: ['PRelu'],
  LeakyReLU: ['LeakyRelu'],
  GeLU: ['Gelu'],
};

/** The -rtpo names whose ONNX ops are in the model. */
export function pseudoOpsIn(opTypes: ReadonlySet<string>): string[] {
  return ONNX2TF_PSEUDO_OPS.filter((name) => (PSEUDO_OP_ONNX_TYPES[name] ?? [name]).some((op) => opTypes.has(op)));
}

/** Whether an input is a 4-D channels-first image (what onnx2tf is made to move channels-last). */
function isImage(input: StrategyContext['inputs'][number]): boolean {
  return input.shape.length === 4 && input.layout === 'NCHW';
}

/** Whether a model convolves (its 4-D inputs are then images that onnx2tf should move channels-last). */
function hasConvolution(ctx: StrategyContext): boolean {
  return ctx.opTypes.has('Conv') || ctx.opTypes.has('ConvTranspose');
}

/** The ordered strategy list of the onnx2tf backend. */
export const ONNX2TF_STRATEGIES: readonly [ConversionStrategy, ...ConversionStrategy[]] = [
  {
    name: 'default',
    options: {},
    description: 'onnx2tf as edgezoo runs it first: channels-last images, no pseudo ops',
  },
  {
    name: 'keep-shape',
    options: { keepShape: 'all-but-images' },
    description: 'keep the shape of every rank >= 3 input that is not a 4-D image (-kat): sequences, volumes',
    when: (ctx) => ctx.inputs.some((input) => input.shape.length >= 3 && !isImage(input)),
  },
  {
    name: 'resize-matmul',
    options: { resizeAsMatmul: true },
    description:
      'Resize/Upsample as a MatMul per resized axis with its interpolation matrix (onnxruntime resizing an identity matrix): cubic without Flex, nearest and linear with every rounding and coordinate mode, antialias, crops',
    when: (ctx) => ctx.opTypes.has('Resize') || ctx.opTypes.has('Upsample'),
  },
  {
    name: 'keep-all-shapes',
    options: { keepShape: 'all' },
    description:
      'keep the shape of every rank >= 3 input, 4-D NCHW ones too (-kat): 4-D inputs that are not images (attention heads, normalisation over C, H, W with a [C, H, W] scale), where moving channels last misaligns the other operands; not for models with convolutions, which onnx2tf runs channels-last',
    when: (ctx) => ctx.inputs.some(isImage) && !hasConvolution(ctx),
  },
  {
    name: 'channels-first-inputs',
    options: { keepChannelsFirst: true },
    description:
      'give onnx2tf every rank 3..5 input as channels-first (-k, instead of -kat): it transposes them itself, which keeps axis-dependent ops (reductions) right where two dims are equal',
    when: (ctx) => ctx.inputs.some((input) => input.shape.length >= 3 && input.shape.length <= 5),
  },
  {
    name: 'expand-functions',
    options: { expandFunctions: [...ONNX_FUNCTION_OPS], keepChannelsFirst: true },
    description: `replace ${ONNX_FUNCTION_OPS.join(', ')} with their ONNX function bodies (primitive ops) before onnx2tf, rank 3..5 inputs given channels-first (-k, as channels-first-inputs)`,
    when: (ctx) => ONNX_FUNCTION_OPS.some((op) => ctx.opTypes.has(op)),
  },
  {
    name: 'expand-functions-keep-all-shapes',
    options: { expandFunctions: [...ONNX_FUNCTION_OPS], keepShape: 'all' },
    description:
      'expand-functions with the shape of every rank >= 3 input kept (keep-all-shapes): normalisations over leading axes (LayerNormalization on axis 0 or 1 of a 3-D input), where moving the last axis misaligns the scale and bias',
    when: (ctx) =>
      ONNX_FUNCTION_OPS.some((op) => ctx.opTypes.has(op)) &&
      ctx.inputs.some((input) => input.shape.length >= 3) &&
      !hasConvolution(ctx),
  },
  {
    name: 'rnn-unroll',
    options: { keepShape: 'all-but-images', flags: { enable_rnn_unroll: true }, rewrites: ['slice-noop-axes'] },
    description:
      'LSTM/GRU/RNN models: unroll the recurrence (-eru: no WHILE loop, for delegates and quantizers), keep the shape of state and sequence inputs (-kat), drop no-op Slice axes',
    when: (ctx) => RNN_OPS.some((op) => ctx.opTypes.has(op)),
  },
  {
    name: 'slice-noop-axes',
    options: { rewrites: ['slice-noop-axes'] },
    description:
      'drop the whole-axis entries of multi-axis Slices before onnx2tf, which may apply them to the wrong axis of a channels-last tensor (a zero-length or mis-sliced result)',
    when: (ctx) => ctx.opTypes.has('Slice'),
  },
  {
    name: 'builtin-math',
    options: { rewrites: ['builtin-math'], pseudoOps: [...ONNX2TF_PSEUDO_OPS] },
    description: `rewrite ${BUILTIN_MATH_OPS.join(', ')} (no TFLite kernel: Flex, or no conversion at all) into Exp, Log, Sqrt, Sin, Cos, Abs, Sign, Atan and arithmetic before onnx2tf, with the pseudo ops of pseudo-ops (-rtpo; Atan becomes ATAN2)`,
    when: (ctx) => BUILTIN_MATH_OPS.some((op) => ctx.opTypes.has(op)),
  },
  {
    name: 'pseudo-ops',
    options: { pseudoOps: [...ONNX2TF_PSEUDO_OPS] },
    description: `replace ${ONNX2TF_PSEUDO_OPS.join(', ')} with builtin-only pseudo ops (-rtpo): avoids Flex`,
    when: (ctx) => pseudoOpsIn(ctx.opTypes).length > 0,
  },
  {
    name: 'pools-as-slices',
    options: { rewrites: ['pools-as-slices'] },
    description:
      'compute MaxPool, AveragePool and LpPool as Pad, one strided Slice per window position and Max/Add, axis by axis (a box pool is separable): 3-D and dilated pools, which have no TFLite kernel (FlexMaxPool3D, FlexAvgPool3D, FlexDilation2D), and padding or ceil_mode forms onnx2tf sizes wrong',
    when: (ctx) => POOL_OPS.some((op) => ctx.opTypes.has(op)),
  },
  {
    name: 'no-strict',
    options: { flags: { disable_strict_mode: true } },
    description:
      "skip onnx2tf's accuracy correction (-dsm): it tries other axes and transposes of an op against ONNX on dummy data and can settle on a wrong one when the shapes differ (a 2-D Concat on axis 0 came out joined on axis 1)",
  },
];
