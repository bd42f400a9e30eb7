/**
 * The zoo on disk: version folders (artifacts under stable names, manifest.json, model card,
 * license), the signed index, yanking. Publishers and `pull` build on this.
 */
export * from './types.js';
export {
  writeModelVersion,
  yankVersion,
  readManifestIfAny,
  parseManifest,
  readYank,
  listVersions,
  VersionImmutableError,
  NoArtifactsError,
  type WriteModelVersionResult,
} from './write.js';
export {
  buildIndex,
  indexModelOf,
  indexVersionOf,
  parseIndex,
  writeIndex,
  zooIndexOf,
  type IndexVersionSources,
  type WriteIndexOptions,
  type WriteIndexResult,
} from './zoo-index.js';
export { renderModelCard, huggingFacePipelineTag, HF_PIPELINE_TAGS } from './card.js';
export { pulledDocumentName } from './document-names.js';
export { artifactIo, inputKind, type ArtifactIo, type IoInput, type IoOutput, type InputKind } from './io-contract.js';
export { javascriptSnippet, pythonSnippet, type PythonRuntime, type SnippetFiles } from './snippets.js';
export {
  parsePrivateKey,
  parsePublicKey,
  signBytes,
  verifyBytes,
  generateSigningKeyPair,
  type SigningKeyPair,
} from './signing.js';
export { stableJson } from './stable-json.js';
export * from './layout.js';
export {
  BUILD_STATUS_FILE,
  readBuildStatus,
  updateBuildStatus,
  type BuildStatus,
  type VersionBuildStatus,
} from './build-status.js';
export { pruneZoo, type PrunedVersion } from './prune.js';
export {
  BUILD_COSTS_FILE,
  readBuildCosts,
  readBuildCostsFile,
  updateBuildCosts,
  type BuildCosts,
} from './build-costs.js';
export {
  mergeZooParts,
  readShardRecord,
  removeShardRecord,
  writeShardRecord,
  SHARD_FILE,
  type MergeResult,
  type ShardRecord,
} from './merge.js';
export { withoutBuildMeasurements, zooIndexDifferences } from './compare.js';
