/** The edgezoo metadata every artifact carries, and the tool versions that made it. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { edgezooMetadata } from '../../formats/onnx/index.js';
import { toolRoot } from '../../paths.js';
import { toolVersions as lockedToolVersions } from '../envs.js';
import type { ConverterBackend } from './types.js';

/** What identifies an artifact's origin (the same fields for every format). */
export interface ArtifactProvenance {
  name: string;
  version: string;
  license: string;
  sourceSha256: string;
  /** The step's fingerprint: it covers the recipe parts, inputs and tool versions that made the file. */
  recipeFingerprint: string;
  toolVersions: Record<string, string>;
  /** Layout of each input and output, by artifact tensor name. */
  layouts: Record<string, string>;
}

let lockedVersions: Promise<Record<string, string>> | undefined;

/**
 * Versions of the tools `backends` use, from the lock files (what `edgezoo setup` installs), plus
 * edgezoo's own version. Keys are pip distribution names.
 */
export async function backendToolVersions(backends: readonly ConverterBackend[]): Promise<Record<string, string>> {
  lockedVersions ??= lockedToolVersions().catch(() => ({}));
  const locked = await lockedVersions;
  const pkg = JSON.parse(await readFile(path.join(toolRoot, 'package.json'), 'utf8')) as { version: string };
  const versions: Record<string, string> = { edgezoo: pkg.version };
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
