/** The edgezoo metadata every artifact carries, and the tool versions that made it. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { edgezooMetadata, type EdgezooModelInfo } from '../../formats/onnx/index.js';
import { toolRoot } from '../../paths.js';
import { toolVersions as lockedToolVersions } from '../envs.js';
import type { BackendSpec } from '../../catalogue/types.js';

/**
 * What identifies an artifact's origin: the same fields for every format, written as ONNX
 * metadata_props, the TFLite `edgezoo` entry or OpenVINO rt_info. `recipeFingerprint` is the
 * step's fingerprint: it covers the recipe parts, inputs and tool versions that made the file.
 */
export type ArtifactProvenance = EdgezooModelInfo;

let lockedVersions: Promise<Record<string, string>> | undefined;
let edgezooVersion: Promise<string> | undefined;

/**
 * Versions of the tools `backends` use, from the lock files (what `edgezoo setup` installs), plus
 * edgezoo's own version. Keys are pip distribution names.
 */
export async function backendToolVersions(backends: readonly BackendSpec[]): Promise<Record<string, string>> {
  lockedVersions ??= lockedToolVersions().catch(() => ({}));
  const locked = await lockedVersions;
  edgezooVersion ??= readFile(path.join(toolRoot, 'package.json'), 'utf8').then(
    (text) => (JSON.parse(text) as { version: string }).version,
  );
  const versions: Record<string, string> = { edgezoo: await edgezooVersion };
  for (const backend of backends) {
    for (const tool of backend.tools) {
      const version = backend.env ? locked[`${backend.env}/${tool}`] : undefined;
      versions[tool] = version ?? 'unknown';
    }
  }
  return versions;
}

/** ONNX metadata_props / OpenVINO rt_info entries (keys `edgezoo.*`, objects as JSON). */
export function provenanceProps(provenance: ArtifactProvenance): Record<string, string> {
  return edgezooMetadata(provenance);
}

/** The JSON of the TFLite `edgezoo` metadata entry. */
export function provenanceJson(provenance: ArtifactProvenance, extra: Record<string, unknown> = {}): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ ...provenance, ...extra }));
}
