/** Where things live inside a zoo folder and what they are called. */
import path from 'node:path';
import type { TargetFormat } from '../recipe/types.js';

export const INDEX_FILE = 'index.json';
export const INDEX_SIGNATURE_FILE = 'index.json.sig';
export const MANIFEST_FILE = 'manifest.json';
export const CARD_FILE = 'README.md';
export const LICENSE_FILE = 'LICENSE.txt';
export const YANK_FILE = 'yanked.json';

/** The folder of one model version inside a zoo. */
export function versionDir(zooDir: string, name: string, version: string): string {
  return path.join(zooDir, name, version);
}

/**
 * Stable file name of one file of an artifact: `<model>-<version>-<format>-<precision><ext>`,
 * with the extension of the built file (`.onnx`, `.tflite`; `.xml` and `.bin` for OpenVINO IR).
 * A multi-file artifact stays several files with one stem rather than an archive: OpenVINO's
 * `read_model(xml)` finds the weights next to the model with no unpacking, and each file gets
 * its own sha256 and resumable download.
 */
export function artifactFileName(
  name: string,
  version: string,
  format: TargetFormat,
  precision: string,
  extension: string,
): string {
  return `${name}-${version}-${format}-${precision}${extension}`;
}
