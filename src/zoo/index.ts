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
  type WriteModelVersionResult,
} from './write.js';
export { buildIndex, writeIndex, parseIndex, type WriteIndexOptions, type WriteIndexResult } from './zoo-index.js';
export { renderModelCard } from './card.js';
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
