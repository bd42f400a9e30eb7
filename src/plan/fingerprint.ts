import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { Fingerprint, InputDigests, StepKind, ToolchainInfo } from './types.js';

/**
 * Bumped when edgezoo changes what a runner writes for the same inputs (file layout, result
 * shape) in a way the tool versions do not capture, so old cache entries stop matching.
 */
// 2: prepare upgrades old opsets and fp16 drops value_info (the first zoo build fixes).
export const FINGERPRINT_SCHEMA = 2;

/** What `fingerprintStep` hashes. */
export interface FingerprintInput {
  kind: StepKind;
  /** The step's params: plain JSON data (see ./params.ts). */
  params: object;
  /** Fingerprints of the dependency steps, in the step's `deps` order. */
  depFingerprints: Fingerprint[];
  /** Digest keys of the local files the step reads. */
  inputFiles: string[];
  tools: string[];
}

/** A step's fingerprint and the tools whose versions were missing from the toolchain record. */
export interface FingerprintResult {
  fingerprint: Fingerprint;
  missingTools: string[];
}

/**
 * The sha256 of everything that decides a step's outputs. Each field and why it is in the key:
 * - schema: edgezoo's own output layout; bumping it invalidates every entry at once;
 * - kind: two kinds never share outputs even with equal params;
 * - params: the recipe settings the runner uses (canonical JSON, so key order does not matter);
 * - deps: the fingerprints of the steps whose outputs this one reads. Their outputs are
 *   content-addressed by those fingerprints, so hashing the fingerprint stands for hashing
 *   the bytes, and a change anywhere upstream ripples down without re-reading any file;
 * - inputs: content hashes of local files read directly (samples, replacement JSON, model
 *   code, license text): editing such a file must rebuild, renaming a recipe must not;
 * - tools: exact versions of the converters/runtimes called; a new onnx2tf makes new bytes;
 * - platform: os/arch/node major; converters and runtimes can differ across them.
 * Paths of the project and the time are deliberately absent: the same recipe in another
 * checkout hits the same entries.
 */
export function fingerprintStep(
  input: FingerprintInput,
  toolchain: ToolchainInfo,
  digests: InputDigests,
  canonicalMemo?: WeakMap<object, string>,
): FingerprintResult {
  const missingTools: string[] = [];
  const tools: Record<string, string> = {};
  for (const tool of input.tools) {
    const version = toolchain.versions[tool];
    if (version === undefined) missingTools.push(tool);
    tools[tool] = version ?? 'unknown';
  }
  const inputs: Record<string, string> = {};
  for (const key of input.inputFiles) {
    const digest = digests[key];
    if (digest === undefined) {
      // A programming error in the caller (the digests come from the same recipes), not a user error.
      throw new Error(`no input digest for "${key}": computeInputDigests must run over the same recipes`);
    }
    inputs[key] = digest;
  }
  const keyText = canonicalJson(
    {
      schema: FINGERPRINT_SCHEMA,
      kind: input.kind,
      params: input.params,
      deps: input.depFingerprints,
      inputs,
      tools,
      platform: toolchain.platform,
    },
    canonicalMemo,
  );
  return { fingerprint: createHash('sha256').update(keyText).digest('hex') as Fingerprint, missingTools };
}

/** The first 12 hex digits, for people. */
export function shortFingerprint(fingerprint: Fingerprint): string {
  return fingerprint.slice(0, 12);
}

/** Checks that a string has the shape of a fingerprint (64 lower-case hex digits). */
export function isFingerprint(text: string): text is Fingerprint {
  return /^[0-9a-f]{64}$/.test(text);
}
