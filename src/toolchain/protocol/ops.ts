/**
 * Every operation of the Python worker, defined once: its request (the `args` of a request line)
 * and its reply (the `result` of a successful reply), as zod schemas.
 *
 * - TypeScript callers are typed from these (`OpRequest<'onnx.slim'>`, `OpReply<'onnx.slim'>`);
 *   the worker parses each reply with its schema, so a reply of another shape is a clear error.
 * - scripts/gen-schema.ts writes them as JSON Schema to worker-protocol.schema.json, which the
 *   worker (src/toolchain/worker.py) checks every request against before it calls the op, and
 *   which it compares with the ops its ops_*.py modules register when it starts.
 *
 * Requests are strict objects (an unknown key is a typo, refused); replies are plain objects (a
 * key the TypeScript side does not read yet is dropped). An argument left out takes the Python
 * function's default, named in its description. Keep to what scripts/gen-schema.ts can write as
 * the JSON Schema subset the Python validator reads (test/unit/worker-protocol.test.ts checks):
 * no refinements, transforms, tuples or recursive types.
 */
import { z } from 'zod';

/** A file or folder path; relative paths resolve in the worker's working directory. */
const FilePath = z.string().min(1);
const Int = z.number().int();
const StringList = z.array(z.string());
/** Options handed on to a tool's own keyword arguments, unchecked here. */
const ToolOptions = z.record(z.string(), z.unknown());

/** A file an op wrote. */
const WrittenFile = z.object({ path: z.string(), bytes: Int.min(0) });

/**
 * A PyTorch model as src/toolchain/python/torch_source.py builds it: a factory in a Python file
 * of the project (never an installed module: see FACTORY_PATTERN in src/recipe/schema.ts), called
 * with `kwargs`, then the state dict loaded with weights_only=True.
 */
export const TorchSourceSchema = z.strictObject({
  file: FilePath.describe('the factory file (absolute); its folder is put on sys.path'),
  callable: z.string().min(1).describe('the factory function; returns an nn.Module'),
  kwargs: ToolOptions.optional(),
  stateDict: FilePath.optional().describe('weights, loaded with torch.load(weights_only=True)'),
  outputNames: StringList.optional().describe(
    "the recipe's names of every output, in the order forward returns them; default output_0, output_1... (a dict's keys)",
  ),
});
export type TorchSource = z.input<typeof TorchSourceSchema>;

/** An example input of a PyTorch export: random values of `shape`, or the first sample of an .npy. */
const ExampleInput = z.union([
  z.strictObject({ shape: z.array(Int.min(0)), dtype: z.string().optional().describe('default float32') }),
  z.strictObject({ npy: FilePath }),
]);

const QuantType = z.enum(['QInt8', 'QUInt8', 'QInt16', 'QUInt16']);

/** Calibration samples of one model input: an .npy stacked on `batchAxis` (null: on a new leading axis). */
const CalibrationInput = z.strictObject({
  name: z.string().optional().describe('the model input (ONNX); TFLite takes the list in interpreter order'),
  npy: FilePath,
  batchAxis: Int.min(0).nullable(),
});

/** Layers worst first, by the tool's own error analysis. */
const LayerRanking = z.object({
  layers: z.array(
    z.object({
      node: z.string().describe('what the quantizer excludes: ONNX node name, TFLite output tensor name'),
      tensor: z.string(),
      opType: z.string(),
      score: z.number().describe('higher is worse'),
      sqnr: z.number().nullable().optional(),
      keep: z.array(z.string()).optional().describe('what to exclude to keep it float: producer and consumers'),
    }),
  ),
  heads: z.array(z.string()).optional().describe('the ops from each output back to its last weighted op'),
  metric: z.string(),
});

/** A tensor of a loaded model as its runtime reports it. */
const WireTensorInfo = z.object({
  name: z.string(),
  /** Fixed dims are numbers; a dynamic dim is '?'. */
  dims: z.array(z.union([Int, z.string()])),
  dtype: z.string(),
  quantization: z
    .object({ scale: z.array(z.number()), zeroPoint: z.array(Int), axis: Int.optional() })
    .optional()
    .describe('set for quantised integer tensors (TFLite)'),
});
export type WireTensorInfo = z.output<typeof WireTensorInfo>;

/** `{name: .npy}` feeds of a validate op, in the model's own input names. */
const Feeds = z.record(z.string(), FilePath);
/** A model handle of validate.load, valid in the worker process that loaded it only. */
const Handle = Int.min(1);

/** One op's contract. */
interface OpSchema<Req extends z.ZodType = z.ZodType, Rep extends z.ZodType = z.ZodType> {
  /** One line on what the op does (goes into the JSON Schema). */
  summary: string;
  request: Req;
  reply: Rep;
}

function op<Req extends z.ZodType, Rep extends z.ZodType>(schema: OpSchema<Req, Rep>): OpSchema<Req, Rep> {
  return schema;
}

/** The worker's operations by name. The Python worker registers the same names with `@op`. */
export const OPS = {
  ping: op({
    summary: 'liveness: echoes `echo`, with the pid and RSS of the worker',
    request: z.strictObject({ echo: z.unknown().optional() }),
    reply: z.object({ pong: z.literal(true), echo: z.unknown(), pid: Int, rssMb: z.number() }),
  }),
  versions: op({
    summary: 'the Python version and the installed version of each named pip distribution',
    request: z.strictObject({ distributions: z.array(z.string().min(1)).min(1) }),
    reply: z.object({
      python: z.string(),
      /** Distribution name as asked -> version, or null when it is not installed. */
      distributions: z.record(z.string(), z.string().nullable()),
    }),
  }),

  'onnx.slim': op({
    summary: 'onnxslim.slim(model, output, **options)',
    request: z.strictObject({ model: FilePath, output: FilePath, options: ToolOptions.nullable().optional() }),
    reply: WrittenFile,
  }),
  'onnx.quantize_dynamic': op({
    summary:
      'int8 weights, activations quantised at run time, with onnxruntime (default op types MatMul, Gemm, Conv, LSTM, Attention; Conv with uint8 weights, the only ConvInteger the CPU provider runs)',
    request: z.strictObject({
      model: FilePath,
      output: FilePath,
      weightType: QuantType.optional(),
      opTypes: StringList.nullable().optional(),
      perChannel: z.boolean().optional(),
      extraOptions: ToolOptions.nullable().optional(),
      /** Keep this share (0..0.5) of the Conv/MatMul/Gemm nodes float: those whose weights quantise worst. */
      keepFloatShare: z.number().gt(0).max(0.5).optional(),
      /** Rescale each Conv's output channels to one range before quantising (default true). */
      convPerChannel: z.boolean().optional(),
    }),
    /**
     * `quantized`: the source op types quantised, with their node counts; with keepFloatShare,
     * `keptFloat` (node names, worst first) out of `ranked` nodes.
     */
    reply: WrittenFile.extend({
      quantized: z.record(z.string(), z.number().int()),
      keptFloat: z.array(z.string()).optional(),
      ranked: Int.min(0).optional(),
    }),
  }),
  'onnx.float16': op({
    summary: 'fp16 weights and compute through onnxconverter-common; float32 inputs and outputs by default',
    request: z.strictObject({
      model: FilePath,
      output: FilePath,
      keepIoTypes: z.boolean().optional(),
      opBlockList: StringList.nullable().optional(),
    }),
    /** `blocked`: op types kept in float32 because onnxruntime refused them in float16. */
    reply: WrittenFile.extend({ blocked: z.array(z.string()) }),
  }),
  'onnx.dequantize': op({
    summary:
      'a dynamically quantized model (DynamicQuantizeLinear + ConvInteger/MatMulInteger) rewritten to float Conv/MatMul',
    request: z.strictObject({ model: FilePath, output: FilePath }),
    reply: WrittenFile.extend({ rewritten: Int.min(0), left: z.array(z.string()) }),
  }),
  'onnx.upgrade_opset': op({
    summary: 'the model at a default-domain opset (onnx.version_converter), kept only if onnxruntime loads it',
    request: z.strictObject({ model: FilePath, output: FilePath, opset: Int.min(1) }),
    reply: z.object({
      from: Int.nullable(),
      to: Int.nullable(),
      upgraded: z.boolean(),
      reason: z.string().optional(),
    }),
  }),
  'onnx.expand_functions': op({
    summary:
      'nodes of the given op types that ONNX defines as functions (LayerNormalization, Attention...) replaced with the function body at the model opset',
    request: z.strictObject({ model: FilePath, output: FilePath, opTypes: StringList }),
    /** `expanded`: the op type of each node replaced; `output` is null when none was. */
    reply: z.object({ expanded: StringList, output: FilePath.nullable() }),
  }),

  'onnx.resize_to_matmul': op({
    summary:
      'each Resize/Upsample with constant scales or sizes and a static shape as one MatMul per resized axis with its interpolation matrix',
    request: z.strictObject({ model: FilePath, output: FilePath }),
    /** `rewritten`: the nodes replaced; `output` is null when none was. */
    reply: z.object({ rewritten: StringList, output: FilePath.nullable() }),
  }),

  'onnx2tf.convert': op({
    summary: 'ONNX -> SavedModel + TFLite (float32, float16, optionally dynamic-range and integer) with onnx2tf',
    request: z.strictObject({
      model: FilePath,
      outputDir: FilePath,
      name: z.string().min(1).nullable().optional().describe('file base name; default the model file name'),
      dynamicRangeQuant: z.boolean().optional(),
      integerQuant: z.boolean().optional(),
      quantType: z.enum(['per-channel', 'per-tensor']).optional(),
      inputQuantDtype: z.enum(['int8', 'uint8', 'float32']).optional(),
      outputQuantDtype: z.enum(['int8', 'uint8', 'float32']).optional(),
      calibration: z
        .array(
          z.strictObject({
            input: z.string(),
            npy: FilePath.describe('NHWC for images, float32'),
            mean: z.union([z.number(), z.string(), z.array(z.unknown())]).optional(),
            std: z.union([z.number(), z.string(), z.array(z.unknown())]).optional(),
          }),
        )
        .nullable()
        .optional(),
      batchSize: Int.min(1).nullable().optional(),
      overwriteInputShape: StringList.nullable().optional(),
      paramReplacementFile: FilePath.nullable().optional(),
      notUseOnnxsim: z.boolean().optional(),
      keepNchwInputNames: StringList.nullable().optional(),
      keepShapeAbsolutelyInputNames: StringList.nullable().optional(),
      verbosity: z.enum(['debug', 'info', 'warn', 'error']).optional(),
      options: ToolOptions.nullable().optional().describe('more onnx2tf.convert keyword arguments'),
    }),
    reply: z.object({
      outputDir: z.string(),
      /** onnx2tf's suffix (float32, float16, dynamic_range_quant, full_integer_quant...) -> file. */
      tflite: z.record(z.string(), z.string()),
      savedModel: z.boolean(),
      new: StringList,
    }),
  }),

  'openvino.convert': op({
    summary: 'ONNX or TFLite -> OpenVINO IR (.xml + .bin) with openvino.convert_model',
    request: z.strictObject({
      model: FilePath,
      output: FilePath.describe('the .xml; the .bin goes beside it'),
      compressToFp16: z.boolean().optional().describe("default false (ovc's own default is true)"),
      inputShapes: z.record(z.string(), z.array(Int)).nullable().optional(),
      rtInfo: z.record(z.string(), z.string()).nullable().optional().describe('stored under rt_info "edgezoo"'),
    }),
    reply: z.object({ xml: WrittenFile, bin: WrittenFile }),
  }),
  'nncf.quantize': op({
    summary: 'ONNX -> OpenVINO IR int8 with nncf.quantize (post-training, calibrated)',
    request: z.strictObject({
      model: FilePath.describe('ONNX, read with openvino.convert_model'),
      output: FilePath.describe('the .xml; the .bin goes beside it'),
      calibration: z.array(CalibrationInput).describe('one per model input'),
      subsetSize: Int.min(1).optional().describe('samples nncf uses; default 300'),
      preset: z.enum(['performance', 'mixed']).optional().describe('default performance'),
      rtInfo: z.record(z.string(), z.string()).nullable().optional().describe('stored under rt_info "edgezoo"'),
    }),
    reply: z.object({ xml: WrittenFile, bin: WrittenFile, fakeQuantize: Int.min(0) }),
  }),
  'openvino.info': op({
    summary: "an IR's inputs, outputs (-1 for each dynamic dim), op counts and edgezoo rt_info",
    request: z.strictObject({ model: FilePath }),
    reply: z.object({
      inputs: z.array(z.object({ name: z.string(), shape: z.array(Int), dtype: z.string() })),
      outputs: z.array(z.object({ name: z.string(), shape: z.array(Int), dtype: z.string() })),
      ops: z.record(z.string(), Int),
      edgezoo: z.record(z.string(), z.string()),
    }),
  }),

  'tf2onnx.from_tflite': op({
    summary: 'TFLite -> ONNX with tf2onnx (keeping FullyConnected biases tf2onnx 1.17 drops)',
    request: z.strictObject({
      model: FilePath,
      output: FilePath,
      opset: Int.min(1).optional().describe('default 17'),
      options: ToolOptions.nullable().optional(),
    }),
    reply: WrittenFile,
  }),

  'torch.onnx_export': op({
    summary: 'PyTorch -> ONNX with torch.onnx.export',
    request: z.strictObject({
      source: TorchSourceSchema,
      inputs: z.array(ExampleInput),
      output: FilePath,
      opset: Int.min(1).optional().describe('default 18'),
      dynamo: z.boolean().optional().describe('the dynamo exporter (opset >= 18); default true'),
      inputNames: StringList.nullable().optional(),
      dynamicAxes: ToolOptions.nullable().optional(),
      externalData: z.boolean().optional(),
      optimize: z.boolean().optional(),
    }),
    reply: WrittenFile,
  }),
  'quant.onnx_static': op({
    summary: 'QDQ quantization with onnxruntime, some nodes excluded or only some op types quantised',
    request: z.strictObject({
      model: FilePath,
      output: FilePath,
      calibration: z.array(CalibrationInput).describe('one per model input'),
      preprocessedOutput: FilePath.nullable().optional().describe("where to keep quant_pre_process's model"),
      preprocess: z.boolean().optional().describe('quant_pre_process first; default true'),
      perChannel: z.boolean().optional().describe('default true'),
      activationType: QuantType.optional().describe('default QInt8'),
      weightType: QuantType.optional().describe('default QInt8'),
      calibrateMethod: z.enum(['MinMax', 'Entropy', 'Percentile', 'Distribution']).optional(),
      nodesToExclude: StringList.nullable().optional().describe('node names kept float'),
      excludeOpTypes: StringList.nullable().optional().describe('every node of these op types kept float'),
      opTypes: StringList.nullable().optional().describe('only these op types are quantised'),
      limit: Int.min(1).nullable().optional().describe('calibration samples used at most'),
      extraOptions: ToolOptions.nullable().optional(),
      tensorTypes: z
        .record(z.string(), QuantType)
        .nullable()
        .optional()
        .describe('activations quantised to another type (16-bit ones through TensorQuantOverrides)'),
    }),
    reply: WrittenFile.extend({ nodes: Int.min(0) }),
  }),
  'quant.onnx_rank': op({
    summary: 'activations ranked by their own quantization error (SQNR with the full quantization scales)',
    request: z.strictObject({
      floatModel: FilePath.describe('the model quantize_static read (pre-processed)'),
      qdqModel: FilePath,
      calibration: z.array(CalibrationInput),
      limit: Int.min(1).optional().describe('samples used; default 8'),
    }),
    reply: LayerRanking,
  }),
  'quant.tflite': op({
    summary: 'a float32 .tflite quantised: int8 (MLIR quantizer, denylisted nodes kept float) or 16x8',
    request: z.strictObject({
      model: FilePath,
      output: FilePath,
      calibration: z.array(CalibrationInput).describe('in interpreter input order and layout'),
      activations: z.enum(['int8', 'int16']).optional().describe('default int8'),
      ioType: z.enum(['int8', 'float32']).optional().describe('int8 activations only; default int8'),
      denylistedNodes: StringList.nullable().optional().describe('output tensor names kept float (int8 only)'),
      denylistedOps: StringList.nullable().optional().describe('op names kept float (int8 only)'),
      allowFloat: z.boolean().optional().describe('int16: ops without a 16x8 kernel stay float; default true'),
      perChannel: z.boolean().optional().describe('default true'),
      limit: Int.min(1).nullable().optional(),
    }),
    reply: WrittenFile,
  }),
  'quant.tflite_rank': op({
    summary: 'activations ranked by their own quantization error (SQNR with the full int8 scales)',
    request: z.strictObject({
      model: FilePath.describe('the float32 .tflite'),
      calibration: z.array(CalibrationInput),
      limit: Int.min(1).optional().describe('samples used; default 8'),
    }),
    reply: LayerRanking,
  }),
  'litert_torch.convert': op({
    summary: 'PyTorch -> TFLite with litert-torch: float32, or int8 through PT2E (calibrated)',
    request: z.strictObject({
      source: TorchSourceSchema,
      inputs: z.array(ExampleInput),
      output: FilePath,
      quantize: z.enum(['pt2e_int8']).nullable().optional(),
      calibration: z.array(FilePath).nullable().optional().describe('.npy per input, samples on axis 0'),
      perChannel: z.boolean().optional(),
    }),
    reply: WrittenFile.extend({
      outputs: z
        .array(z.object({ name: z.string(), shape: z.array(Int), dtype: z.string() }))
        .describe("the source's outputs, named as the signature keys name them"),
    }),
  }),

  'validate.load': op({
    summary: 'loads a model in its runtime and keeps it in this worker process under a handle',
    request: z.strictObject({
      runtime: z.enum(['litert', 'openvino', 'pytorch']),
      model: z.union([FilePath, TorchSourceSchema]).describe('a file, or for pytorch a torch source'),
      threads: Int.min(1).optional(),
    }),
    reply: z.object({
      handle: Handle,
      inputs: z.array(WireTensorInfo),
      outputs: z.array(WireTensorInfo),
      loadSeconds: z.number(),
      rssDeltaBytes: z.number(),
    }),
  }),
  'validate.run': op({
    summary: 'runs a loaded model once; outputs are written as <outputDir>/<index>.npy',
    request: z.strictObject({ handle: Handle, inputs: Feeds, outputDir: FilePath }),
    reply: z.object({
      outputs: z.array(z.object({ name: z.string(), npy: z.string(), dims: z.array(Int), dtype: z.string() })),
      seconds: z.number(),
    }),
  }),
  'validate.intermediates': op({
    summary:
      'runs a TFLite or OpenVINO model once keeping every intermediate tensor; the float ones as <outputDir>/<index>.npy, in execution order',
    request: z.strictObject({
      runtime: z.enum(['litert', 'openvino']),
      model: FilePath,
      inputs: Feeds,
      outputDir: FilePath,
      maxElements: Int.min(1).optional(),
    }),
    reply: z.object({
      tensors: z.array(
        z.object({ name: z.string(), npy: z.string(), dims: z.array(Int), dtype: z.string(), op: z.string() }),
      ),
    }),
  }),
  'validate.benchmark': op({
    summary: 'times `iterations` invocations of a loaded model after `warmup` untimed ones',
    request: z.strictObject({
      handle: Handle,
      inputs: Feeds,
      warmup: Int.min(0).optional(),
      iterations: Int.min(1).optional(),
    }),
    reply: z.object({
      latenciesMs: z.array(z.number()),
      medianMs: z.number(),
      p90Ms: z.number(),
      peakRssDeltaBytes: z.number(),
    }),
  }),
  'validate.release': op({
    summary: 'forgets a loaded model (an unknown handle is not an error)',
    request: z.strictObject({ handle: Handle }),
    reply: z.object({ released: Int }),
  }),
} as const satisfies Record<string, OpSchema>;

/** The name of a worker operation. */
export type OpName = keyof typeof OPS;
/** What a caller passes as an op's `args`. */
export type OpRequest<N extends OpName> = z.input<(typeof OPS)[N]['request']>;
/** What an op's reply parses to. */
export type OpReply<N extends OpName> = z.output<(typeof OPS)[N]['reply']>;

export const OP_NAMES = Object.keys(OPS) as OpName[];

export function isOpName(name: string): name is OpName {
  return Object.hasOwn(OPS, name);
}

/**
 * The ops that keep a model in the worker process (src/toolchain/session.ts reloads it when the
 * process was replaced): `load` returns a handle, `release` forgets it, the others take it.
 */
export const MODEL_OPS = {
  load: 'validate.load',
  run: 'validate.run',
  benchmark: 'validate.benchmark',
  release: 'validate.release',
} as const satisfies Record<string, OpName>;
export type ModelOpName = (typeof MODEL_OPS)[keyof typeof MODEL_OPS];
