/**
 * The zoo on disk: what `writeModelVersion` takes, and the versioned JSON documents it writes
 * (`manifest.json` per model version, `index.json` for the whole zoo, `yanked.json` when a
 * version is withdrawn). The zod schemas are the source of truth: `pull` reads indexes from
 * other machines, so every document is validated on the way in, and the TypeScript types are
 * inferred from the same schemas.
 */
import { z } from 'zod';
import { PRECISION_NAMES } from '../catalogue/precisions.js';
import { CATALOGUE_NAME } from '../catalogue/types.js';
import type { Precision, Recipe, TargetFormat } from '../recipe/types.js';

export const MANIFEST_SCHEMA = 'edgezoo.manifest/1';
export const INDEX_SCHEMA = 'edgezoo.index/1';
export const YANK_SCHEMA = 'edgezoo.yank/1';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex sha256 (64 characters)');
/**
 * A format name of the catalogue that built the zoo. Any catalogue name, not only the formats this
 * edgezoo knows: `pull` must still list a zoo that a newer edgezoo built with one more format.
 */
const formatSchema = z.string().regex(CATALOGUE_NAME, 'a format name: lower-case letters, digits and dashes');
const precisionSchema = z.enum(PRECISION_NAMES as [Precision, ...Precision[]]);
/** Model names: the recipe rule (lower-case letters, digits, dashes); also keeps paths and tags safe. */
const modelName = z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'lower-case letters, digits and dashes');
/** A file name inside a version folder: no separators, no dot-dot, so a hostile index cannot escape `--out`. */
const plainFileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a plain file name');

/** Quantisation parameters of a tensor (per-tensor: one value; per-channel: one per channel along `axis`). */
export const quantizationSchema = z.object({
  scale: z.array(z.number()),
  zeroPoint: z.array(z.number()),
  axis: z.number().int().optional(),
});

/** One input or output of an artifact as the runtime sees it. */
export const tensorSignatureSchema = z.object({
  name: z.string(),
  dtype: z.string(),
  shape: z.array(z.union([z.number().int(), z.string()])),
  /** The recipe input / source model output this tensor is (converters rename: `serving_default_x:0`, `PartitionedCall:2`). */
  source: z.string().optional(),
  /** Axis letters (NCHW, NHWC, ...), when known: TFLite artifacts are usually NHWC where the source is NCHW. */
  layout: z.string().optional(),
  /** The permutation from the source tensor: axis i of this tensor is axis perm[i] of the source's (any rank). */
  perm: z.array(z.number().int().nonnegative()).optional(),
  quantization: quantizationSchema.optional(),
});
export type TensorSignature = z.infer<typeof tensorSignatureSchema>;

export const artifactSignatureSchema = z.object({
  inputs: z.array(tensorSignatureSchema),
  outputs: z.array(tensorSignatureSchema),
});
export type ArtifactSignature = z.infer<typeof artifactSignatureSchema>;

/** How far one output of an artifact is from the reference model, over the validation samples. */
export const outputMetricsSchema = z.object({
  maxAbs: z.number(),
  meanAbs: z.number(),
  rmse: z.number(),
  cosine: z.number(),
  /** Classifier outputs only: share of samples whose top-1 class agrees (0..1). */
  top1: z.number().optional(),
  /** Classifier outputs only: top-k agreement (0..1). */
  topk: z.number().optional(),
});
export type OutputMetrics = z.infer<typeof outputMetricsSchema>;

export const validationFiguresSchema = z.object({
  status: z.enum(['passed', 'failed']),
  /** Per output name. */
  metrics: z.record(z.string(), outputMetricsSchema),
  samples: z.number().int().optional(),
  /** The samples were seeded random inputs (the recipe gave none): the card says so. */
  synthetic: z.boolean().optional(),
  /** Why it failed, in one line, when it did. */
  reason: z.string().optional(),
});
export type ValidationFigures = z.infer<typeof validationFiguresSchema>;

export const benchmarkFiguresSchema = z.object({
  loadMs: z.number(),
  medianMs: z.number(),
  p90Ms: z.number(),
  threads: z.number().int(),
  peakRssMb: z.number(),
  /** The runtime and version that ran it, e.g. `onnxruntime-node 1.30.0`. */
  runtime: z.string().optional(),
  /** The machine it ran on: CPU model, cores, memory, OS and architecture, Node version. */
  host: z.string().optional(),
  /** The same, field by field. */
  machine: z
    .object({
      cpu: z.string(),
      cores: z.number().int(),
      memoryMiB: z.number().int(),
      os: z.string(),
      arch: z.string(),
      node: z.string(),
    })
    .optional(),
});
export type BenchmarkFigures = z.infer<typeof benchmarkFiguresSchema>;

/** One file of an artifact inside a version folder. OpenVINO IR has two: the `.xml` model and the `.bin` weights. */
export const artifactFileSchema = z.object({
  name: plainFileName,
  role: z.enum(['model', 'weights']),
  sha256: sha256Hex,
  size: z.number().int().nonnegative(),
});
export type ArtifactFile = z.infer<typeof artifactFileSchema>;

/** What the quantization search chose for a calibrated artifact (src/quant/search.ts). */
export const artifactQuantizationSchema = z.object({
  /** The configuration that passed (`quant-full`, `quant-keep-float-5`, `quant-pinned`...). */
  strategy: z.string(),
  activations: z.enum(['int8', 'int16']),
  /** Layers kept float by name (ONNX node names, TFLite output tensor names). */
  keptFloat: z.array(z.string()),
  keptFloatOps: z.array(z.string()),
  /** ONNX: the only op types quantised, when limited. */
  opTypes: z.array(z.string()).nullable(),
  /** ONNX: activations (tensor names) given 16-bit Q/DQ; the rest is int8. */
  int16Tensors: z.array(z.string()).optional(),
  /** ONNX: the calibration method, when not MinMax. */
  calibrationMethod: z.string().optional(),
  /** int16: ops without a 16x8 kernel fell back to float. */
  floatFallback: z.boolean().nullable(),
  /** Layers the model has, as the ranking counted them, when known. */
  layers: z.number().int().nullable(),
});
export type ArtifactQuantization = z.infer<typeof artifactQuantizationSchema>;

/** One conversion attempt that did not pass, as the manifest records it (src/build/attempts.ts). */
export const conversionAttemptSchema = z.object({
  converter: z.string(),
  strategy: z.string(),
  /** What failed: the converter (`convert`), the ops of what it made (`ops`), its outputs (`numbers`). */
  stage: z.enum(['convert', 'ops', 'numbers']).optional(),
  reason: z.string().optional(),
});

/**
 * How an artifact was made: the converter and strategy that passed, the attempts that failed
 * before it (the strategy cascade: other strategies, other converter routes), and, when one of
 * those failed first, the recipe lines that pin the winner.
 */
export const artifactConversionSchema = z.object({
  converter: z.string(),
  strategy: z.string(),
  failedAttempts: z.array(conversionAttemptSchema),
  pin: z.array(z.string()).optional(),
});
export type ArtifactConversion = z.infer<typeof artifactConversionSchema>;

/** A downloadable artifact as recorded in `manifest.json`. Only artifacts that passed validation get here. */
export const manifestArtifactSchema = z.object({
  format: formatSchema,
  precision: precisionSchema,
  /** The first file is the one a runtime opens; for OpenVINO the `.bin` follows. */
  files: z.array(artifactFileSchema).min(1),
  signature: artifactSignatureSchema,
  validation: validationFiguresSchema,
  benchmark: benchmarkFiguresSchema.optional(),
  toolVersions: z.record(z.string(), z.string()),
  /** Transpose ops in the graph: a converter that did not move the layout cleanly leaves many. */
  transposeCount: z.number().int().optional(),
  /** TFLite ops that need the Flex delegate (SELECT_TF_OPS); most edge runtimes lack it. */
  flexOps: z.array(z.string()).optional(),
  /** Size of this artifact over the fp32 reference model. */
  sizeRatio: z.number().optional(),
  /** Calibrated artifacts: what the quantization search chose (what stayed float). */
  quantization: artifactQuantizationSchema.optional(),
  /** The converter and strategy that made it, and the attempts that failed first (absent in older manifests). */
  conversion: artifactConversionSchema.optional(),
});
export type ManifestArtifact = z.infer<typeof manifestArtifactSchema>;

export const skippedTargetSchema = z.object({ format: formatSchema, precision: precisionSchema, reason: z.string() });
export type SkippedTarget = z.infer<typeof skippedTargetSchema>;

/** A target that was built or tried and failed: conversion error, or validation outside tolerance. Never downloadable. */
export const failedTargetSchema = z.object({
  format: formatSchema,
  precision: precisionSchema,
  reason: z.string(),
  validation: validationFiguresSchema.optional(),
});
export type FailedTarget = z.infer<typeof failedTargetSchema>;

export const provenanceSourceSchema = z.object({
  kind: z.string(),
  sha256: sha256Hex,
  /** Where the source came from, as the recipe names it (a URL, a project path, `pypi:name==1.2.3/file`). */
  location: z.string(),
});
export type ProvenanceSource = z.infer<typeof provenanceSourceSchema>;

export const manifestInputSchema = z.object({
  name: z.string(),
  shape: z.array(z.union([z.number(), z.string()])),
  layout: z.string(),
  dtype: z.string(),
  range: z.tuple([z.number(), z.number()]),
});

export const manifestSchema = z.object({
  schema: z.literal(MANIFEST_SCHEMA),
  name: modelName,
  version: z.string(),
  license: z.string(),
  licenseFile: z.object({ name: plainFileName, sha256: sha256Hex, size: z.number().int().nonnegative() }).optional(),
  description: z.string(),
  task: z.string(),
  homepage: z.string().optional(),
  tags: z.array(z.string()),
  /** Class names of the classifier output, in index order, when the recipe gives them. */
  labels: z.array(z.string()).optional(),
  inputs: z.array(manifestInputSchema),
  outputs: z.array(z.object({ name: z.string(), layout: z.string().optional(), classifier: z.boolean() })),
  preprocess: z.object({
    resize: z.boolean(),
    channelOrder: z.enum(['rgb', 'bgr']),
    scale: z.number(),
    mean: z.array(z.number()),
    std: z.array(z.number()),
  }),
  /**
   * A stateful model: which outputs go back in as which inputs at the next step (how it was
   * validated, on chained steps, and how an app must run it).
   */
  stream: z.object({ feedback: z.record(z.string(), z.string()), chunks: z.number().int().optional() }).optional(),
  source: provenanceSourceSchema,
  recipeFingerprint: z.string(),
  toolVersions: z.record(z.string(), z.string()),
  artifacts: z.array(manifestArtifactSchema),
  skipped: z.array(skippedTargetSchema),
  failed: z.array(failedTargetSchema),
});
/** `artifacts/zoo/<model>/<version>/manifest.json`. Immutable once written, like every file in a version folder. */
export type Manifest = z.infer<typeof manifestSchema>;

export const yankSchema = z.object({ schema: z.literal(YANK_SCHEMA), reason: z.string(), at: z.string() });
/** `yanked.json` next to a manifest: the one file a version folder may gain after publication. */
export type YankRecord = z.infer<typeof yankSchema>;

/** A file in the index, with its URL relative to index.json. */
export const indexFileSchema = z.object({
  name: plainFileName,
  role: z.enum(['model', 'weights']),
  url: z.string(),
  sha256: sha256Hex,
  size: z.number().int().nonnegative(),
});
export type IndexFile = z.infer<typeof indexFileSchema>;

export const indexArtifactSchema = manifestArtifactSchema.omit({ files: true }).extend({
  /** The primary file (what a runtime opens), repeated from `files[0]` for simple consumers. */
  url: z.string(),
  sha256: sha256Hex,
  /** Bytes of all files of the artifact. */
  size: z.number().int().nonnegative(),
  files: z.array(indexFileSchema).min(1),
});
export type IndexArtifact = z.infer<typeof indexArtifactSchema>;

export const indexVersionSchema = z.object({
  version: z.string(),
  license: z.string(),
  licenseFile: z.object({ url: z.string(), sha256: sha256Hex, size: z.number().int().nonnegative() }).optional(),
  manifest: z.object({ url: z.string(), sha256: sha256Hex }),
  /** URL of the model card (README.md). */
  card: z.string(),
  /** sha256 and size of the card, so `pull` can verify it (absent in indexes made before they were recorded). */
  cardSha256: sha256Hex.optional(),
  cardSize: z.number().int().nonnegative().optional(),
  yanked: z.object({ reason: z.string(), at: z.string() }).optional(),
  source: provenanceSourceSchema,
  recipeFingerprint: z.string(),
  toolVersions: z.record(z.string(), z.string()),
  artifacts: z.array(indexArtifactSchema),
  skipped: z.array(skippedTargetSchema),
  /** Listed so people see what was tried; never downloadable (no url). */
  failed: z.array(failedTargetSchema.pick({ format: true, precision: true, reason: true })),
});
export type IndexVersion = z.infer<typeof indexVersionSchema>;

export const indexModelSchema = z.object({
  name: modelName,
  description: z.string(),
  task: z.string(),
  license: z.string(),
  tags: z.array(z.string()),
  /** Newest first (semver order). */
  versions: z.array(indexVersionSchema),
});
export type IndexModel = z.infer<typeof indexModelSchema>;

export const zooIndexSchema = z.object({
  schema: z.literal(INDEX_SCHEMA),
  /** Sorted by name. No timestamp, so an unchanged zoo gives a byte-identical (and identically signed) index. */
  models: z.array(indexModelSchema),
});
/** `artifacts/zoo/index.json`: every model, version and downloadable artifact of a zoo. */
export type ZooIndex = z.infer<typeof zooIndexSchema>;

/** One artifact handed to `writeModelVersion` by the packaging step. */
export interface ArtifactInput {
  format: TargetFormat;
  precision: Precision;
  /** Path of the built file to copy in (for OpenVINO: the `.xml`); the zoo file gets its extension. */
  file: string;
  /** sha256 of `file` as the build recorded it; re-checked while copying. */
  sha256: string;
  size: number;
  /** Further files of the artifact (OpenVINO's `.bin`), each named in the zoo with its own extension. */
  companionFiles?: Array<{ file: string; sha256?: string }>;
  signature: ArtifactSignature;
  validation: ValidationFigures;
  benchmark?: BenchmarkFigures;
  toolVersions?: Record<string, string>;
  transposeCount?: number;
  flexOps?: string[];
  sizeRatio?: number;
  quantization?: ArtifactQuantization;
  conversion?: ArtifactConversion;
}

/** Everything the packaging step knows about one model version. */
export interface ModelVersionInput {
  recipe: Recipe;
  artifacts: ArtifactInput[];
  skipped: SkippedTarget[];
  failed: FailedTarget[];
  source: ProvenanceSource;
  recipeFingerprint: string;
  toolVersions: Record<string, string>;
  /** The license text shipped with the source, written as `LICENSE.txt` in the version folder. */
  licenseText?: string;
  /** Class names of the classifier output (the recipe's `labels`, read). */
  labels?: string[];
}
