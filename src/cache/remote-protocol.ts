/**
 * What edgezoo stores in a bazel-remote style HTTP cache, and how it checks what it reads back
 * (pure: no I/O). An entry is two kinds of objects:
 * - `/cas/<sha256>`: every output file, and one small JSON record (`RemoteEntryRecord`) with the
 *   step's result and the list of files. Content-addressed, so every byte read is checkable.
 * - `/ac/<key>`: a Remote Execution API v2 `ActionResult` protobuf listing those blobs. Not
 *   content-addressed; it is what `remoteActionKey(fingerprint)` names. It is a real
 *   ActionResult (not our JSON) because bazel-remote refuses anything else under /ac unless
 *   started with --disable_http_ac_validation, and answers 404 for an ActionResult whose blobs
 *   it does not hold: a reader never sees an entry with a file missing on such a server.
 */
import { createHash } from 'node:crypto';
import protobuf from 'protobufjs/minimal.js';
import type { Fingerprint, JsonValue } from '../plan/types.js';
import { RemoteDataError } from './remote-errors.js';

/**
 * The version of the remote layout, hashed into every /ac key. Bump it when the record or the
 * ActionResult layout changes: an older or newer edgezoo then never reads entries it cannot
 * understand; both generations share one server without seeing each other.
 */
export const REMOTE_FORMAT = 'edgezoo-remote-cache/1';

/** The ActionResult output path of the entry record; output files are under `out/`. */
export const RECORD_OUTPUT_PATH = 'edgezoo-entry.json';
const OUTPUT_PREFIX = 'out/';

/** Largest ActionResult we read (one entry lists a few dozen files; this is generous). */
export const MAX_ACTION_RESULT_BYTES = 1 << 20;
/** Largest entry record we read. */
export const MAX_RECORD_BYTES = 16 << 20;

/** sha256 of zero bytes: never uploaded nor fetched (bazel does the same). */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A blob of the content-addressed store. */
export interface Digest {
  sha256: string;
  size: number;
}

/** One output file of a remote entry. */
export interface RemoteFile extends Digest {
  /** POSIX path relative to the entry's output folder. */
  path: string;
}

/** The JSON stored in the CAS for each entry. */
export interface RemoteEntryRecord {
  format: typeof REMOTE_FORMAT;
  fingerprint: Fingerprint;
  stepId: string;
  createdAt: string;
  result: JsonValue;
  files: RemoteFile[];
}

export { RemoteDataError } from './remote-errors.js';

/**
 * The /ac key of a step: sha256 of the format version and the fingerprint. A 64-hex key is
 * what bazel-remote accepts; the fingerprint already covers edgezoo's own output schema, the
 * tools and the platform (see fingerprintStep).
 */
export function remoteActionKey(fingerprint: Fingerprint): string {
  return createHash('sha256').update(`${REMOTE_FORMAT}\0${fingerprint}`).digest('hex');
}

/** Lower-case hex sha256 of bytes in memory. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The entry record's bytes (compact JSON; its sha256 is its CAS key). */
export function encodeRecord(record: RemoteEntryRecord): Buffer {
  return Buffer.from(JSON.stringify(record));
}

/**
 * Checks a fetched record (whose bytes already matched their sha256) describes the entry we
 * asked for and only safe files. Throws RemoteDataError.
 */
export function parseRecord(bytes: Buffer, fingerprint: Fingerprint): RemoteEntryRecord {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RemoteDataError('its entry record is not JSON');
  }
  const record = value as Partial<RemoteEntryRecord> | null;
  if (record === null || typeof record !== 'object' || record.format !== REMOTE_FORMAT)
    throw new RemoteDataError(`its entry record is not in the ${REMOTE_FORMAT} format`);
  if (record.fingerprint !== fingerprint) throw new RemoteDataError('its entry record belongs to another fingerprint');
  if (typeof record.stepId !== 'string' || typeof record.createdAt !== 'string')
    throw new RemoteDataError('its entry record lacks stepId or createdAt');
  const result = record.result as { status?: unknown } | undefined;
  if (result === null || typeof result !== 'object' || (result.status !== 'ok' && result.status !== 'failed'))
    throw new RemoteDataError('its entry record has no step result');
  if (!Array.isArray(record.files)) throw new RemoteDataError('its entry record has no file list');
  const seen = new Set<string>();
  for (const file of record.files as unknown[]) {
    const { path: filePath, sha256, size } = (file ?? {}) as Partial<RemoteFile>;
    if (typeof filePath !== 'string' || !isSafeRelativePath(filePath))
      throw new RemoteDataError(`its entry record names an unsafe path ${JSON.stringify(filePath)}`);
    if (seen.has(filePath.toLowerCase()))
      throw new RemoteDataError(`its entry record lists ${filePath} twice (or in two letter cases)`);
    seen.add(filePath.toLowerCase());
    checkDigest({ sha256, size } as Digest, filePath);
  }
  return record as RemoteEntryRecord;
}

/**
 * True for a relative POSIX path that stays inside its folder: no absolute path, no `.` or
 * `..` segment, no empty segment, no backslash or NUL. A lying server could otherwise make us
 * write anywhere.
 */
export function isSafeRelativePath(candidate: string): boolean {
  if (candidate.length === 0 || candidate.length > 1024) return false;
  if (candidate.includes('\\') || candidate.includes('\0')) return false;
  if (candidate.startsWith('/')) return false;
  const segments = candidate.split('/');
  return segments.every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

function checkDigest(digest: Digest, what: string): void {
  if (typeof digest.sha256 !== 'string' || !SHA256_HEX.test(digest.sha256))
    throw new RemoteDataError(`${what} has no valid sha256`);
  if (typeof digest.size !== 'number' || !Number.isSafeInteger(digest.size) || digest.size < 0)
    throw new RemoteDataError(`${what} has no valid size`);
}

/** The pointers an /ac entry holds: the record's digest and every output file's. */
export interface ActionResultContent {
  record: Digest;
  files: RemoteFile[];
}

// Field numbers of build.bazel.remote.execution.v2 (remote_execution.proto).
const ACTION_RESULT_OUTPUT_FILES = 2;
const OUTPUT_FILE_PATH = 1;
const OUTPUT_FILE_DIGEST = 2;
const DIGEST_HASH = 1;
const DIGEST_SIZE_BYTES = 2;
const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;

/** Encodes the /ac value: an ActionResult with one OutputFile per blob (record first). */
export function encodeActionResult(content: ActionResultContent): Uint8Array {
  const writer = protobuf.Writer.create();
  const outputs: RemoteFile[] = [
    { path: RECORD_OUTPUT_PATH, ...content.record },
    ...content.files.map((file) => ({ ...file, path: `${OUTPUT_PREFIX}${file.path}` })),
  ];
  for (const output of outputs) {
    writer.uint32((ACTION_RESULT_OUTPUT_FILES << 3) | WIRE_LENGTH_DELIMITED).fork();
    writer.uint32((OUTPUT_FILE_PATH << 3) | WIRE_LENGTH_DELIMITED).string(output.path);
    // Every OutputFile carries a digest, even an empty file's: bazel-remote dereferences it.
    writer.uint32((OUTPUT_FILE_DIGEST << 3) | WIRE_LENGTH_DELIMITED).fork();
    writer.uint32((DIGEST_HASH << 3) | WIRE_LENGTH_DELIMITED).string(output.sha256);
    writer.uint32((DIGEST_SIZE_BYTES << 3) | WIRE_VARINT).int64(output.size);
    writer.ldelim();
    writer.ldelim();
  }
  return writer.finish();
}

/**
 * Decodes an /ac value into the record's digest and the output files. Unknown fields are
 * skipped (bazel-remote adds execution metadata). Throws RemoteDataError for anything that is
 * not such an ActionResult: a truncated body, an HTML page, another tool's entry.
 */
export function decodeActionResult(bytes: Uint8Array): ActionResultContent {
  let record: Digest | undefined;
  const files: RemoteFile[] = [];
  try {
    const reader = protobuf.Reader.create(bytes);
    while (reader.pos < reader.len) {
      const key = reader.uint32();
      if (key >>> 3 !== ACTION_RESULT_OUTPUT_FILES || (key & 7) !== WIRE_LENGTH_DELIMITED) {
        reader.skipType(key & 7);
        continue;
      }
      const output = decodeOutputFile(reader, reader.uint32() + reader.pos);
      if (output.path === RECORD_OUTPUT_PATH) {
        if (record) throw new RemoteDataError('its action result lists two entry records');
        record = { sha256: output.sha256, size: output.size };
      } else if (output.path.startsWith(OUTPUT_PREFIX)) {
        files.push({ ...output, path: output.path.slice(OUTPUT_PREFIX.length) });
      } else {
        throw new RemoteDataError(
          `its action result has an output ${JSON.stringify(output.path)} edgezoo never writes`,
        );
      }
    }
  } catch (error) {
    if (error instanceof RemoteDataError) throw error;
    throw new RemoteDataError(`its action result is not a valid protobuf (${(error as Error).message})`);
  }
  if (!record) throw new RemoteDataError('its action result has no entry record (not an edgezoo entry)');
  checkDigest(record, 'its entry record');
  if (record.size > MAX_RECORD_BYTES) throw new RemoteDataError('its entry record is too large');
  for (const file of files) checkDigest(file, file.path);
  return { record, files };
}

function decodeOutputFile(reader: protobuf.Reader, end: number): RemoteFile {
  if (end > reader.len) throw new RemoteDataError('its action result is truncated');
  let filePath: string | undefined;
  let digest: Digest | undefined;
  while (reader.pos < end) {
    const key = reader.uint32();
    if (key >>> 3 === OUTPUT_FILE_PATH && (key & 7) === WIRE_LENGTH_DELIMITED) filePath = reader.string();
    else if (key >>> 3 === OUTPUT_FILE_DIGEST && (key & 7) === WIRE_LENGTH_DELIMITED)
      digest = decodeDigest(reader, reader.uint32() + reader.pos);
    else reader.skipType(key & 7);
  }
  if (reader.pos !== end) throw new RemoteDataError('its action result is malformed');
  if (filePath === undefined || digest === undefined)
    throw new RemoteDataError('its action result has an output without a path or digest');
  return { path: filePath, ...digest };
}

function decodeDigest(reader: protobuf.Reader, end: number): Digest {
  if (end > reader.len) throw new RemoteDataError('its action result is truncated');
  let sha256 = '';
  let size = 0;
  while (reader.pos < end) {
    const key = reader.uint32();
    if (key >>> 3 === DIGEST_HASH && (key & 7) === WIRE_LENGTH_DELIMITED) sha256 = reader.string();
    else if (key >>> 3 === DIGEST_SIZE_BYTES && (key & 7) === WIRE_VARINT) size = toSafeInteger(reader.int64());
    else reader.skipType(key & 7);
  }
  if (reader.pos !== end) throw new RemoteDataError('its action result is malformed');
  return { sha256, size };
}

/** An int64 as a number; -1 (an invalid size) when it is not a safe integer. */
function toSafeInteger(value: protobuf.Long | number): number {
  // protobufjs gives a Long when the long package is installed, a number otherwise.
  const number = typeof value === 'number' ? value : value.high * 0x1_0000_0000 + (value.low >>> 0);
  return Number.isSafeInteger(number) ? number : -1;
}

/**
 * Checks the /ac pointers and the record agree on the files (same paths, same digests), so
 * what we download is exactly what the record describes.
 */
export function checkRecordMatchesAction(record: RemoteEntryRecord, action: ActionResultContent): void {
  const byPath = new Map(action.files.map((file) => [file.path, file]));
  if (byPath.size !== action.files.length || action.files.length !== record.files.length)
    throw new RemoteDataError('its action result and entry record list different files');
  for (const file of record.files) {
    const listed = byPath.get(file.path);
    if (!listed || listed.sha256 !== file.sha256 || listed.size !== file.size)
      throw new RemoteDataError(`its action result and entry record disagree on ${file.path}`);
  }
}
