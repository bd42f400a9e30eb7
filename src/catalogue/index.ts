/**
 * The catalogue: one descriptor per artifact format, converter backend and Python environment,
 * and the `Catalogue` every other part asks about them (see ./types.ts and ./catalogue.ts).
 */
export { BUILTIN_CATALOGUE } from './builtin.js';
export { Catalogue, NoBackendError, PYTORCH_REFERENCE, probeLabel, type CatalogueEntries } from './catalogue.js';
export { CALIBRATED_PRECISIONS, PRECISIONS, PRECISION_NAMES, isPrecision, type Precision } from './precisions.js';
export {
  CATALOGUE_NAME,
  MEMORY_MIB,
  type ArtifactInspection,
  type BackendSpec,
  type BackendStage,
  type ConversionStrategy,
  type EnvSpec,
  type FinishArtifactContext,
  type FinishedArtifact,
  type FormatSpec,
  type MemoryClass,
  type Probe,
  type PythonRequirement,
  type RuntimeContext,
  type RuntimeSpec,
  type SmokeCheck,
} from './types.js';
