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
 * Stable file name of an artifact: `<model>-<version>-<format>-<precision>.<ext>`.
 * OpenVINO IR stays two files (`.xml` and `.bin` with the same stem) rather than an archive:
 * `read_model(xml)` finds the weights next to the model with no unpacking, and each file gets
 * its own sha256 and resumable download.
 */
export function artifactFileName(
  name: string,
  version: string,
  format: TargetFormat,
  precision: string,
  role: 'model' | 'weights' = 'model',
): string {
  const ext = format === 'onnx' ? 'onnx' : format === 'tflite' ? 'tflite' : role === 'model' ? 'xml' : 'bin';
  return `${name}-${version}-${format}-${precision}.${ext}`;
}
