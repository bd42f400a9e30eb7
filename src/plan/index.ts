/** Planning: recipes -> a DAG of fingerprinted steps. Pure, except `computeInputDigests`. */
export { planBuild, currentPlatform, localInputsOf, PlanError, EDGEZOO_TOOL, CONVERTER_RUNS } from './plan.js';
export type { ConverterRuns, PlanOptions } from './plan.js';
export { fingerprintStep, shortFingerprint, isFingerprint, FINGERPRINT_SCHEMA } from './fingerprint.js';
export type { FingerprintInput, FingerprintResult } from './fingerprint.js';
export { canonicalJson } from './canonical-json.js';
export { computeInputDigests, InputFileMissingError } from './input-digests.js';
export { STEP_KINDS, stepOfKind } from './types.js';
export type {
  BuildPlan,
  Fingerprint,
  InputDigests,
  JsonValue,
  PlannedStep,
  PlannedStepOf,
  ResourceClass,
  StepBase,
  SkippedTarget,
  StepKind,
  ToolchainInfo,
} from './types.js';
export type {
  BenchmarkParams,
  ConvertParams,
  ConvertRunParams,
  FetchParams,
  PackagedTarget,
  PackageParams,
  PrepareParams,
  ProvenanceParams,
  ReferenceParams,
  SourceParams,
  StepParamsByKind,
  ToleranceParams,
  ValidateParams,
} from './params.js';
