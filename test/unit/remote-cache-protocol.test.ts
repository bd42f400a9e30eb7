/**
 * The pure parts of the remote cache: the /ac key, the ActionResult codec (checked against a
 * protobuf decoder built from the Remote Execution API's own message definitions), the checks
 * on what a server returns, the settings from flags and environment, and the summary line.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { formatRemoteCacheStats, resolveRemoteCacheSettings } from '../../src/cache/index.js';
import {
  checkRecordMatchesAction,
  decodeActionResult,
  encodeActionResult,
  encodeRecord,
  isSafeRelativePath,
  parseRecord,
  REMOTE_FORMAT,
  RemoteDataError,
  type RemoteEntryRecord,
  remoteActionKey,
} from '../../src/cache/remote-protocol.js';
import type { Fingerprint } from '../../src/plan/index.js';

const fp = 'f'.repeat(64) as Fingerprint;
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

// The messages of build/bazel/remote/execution/v2/remote_execution.proto that an /ac value
// uses, with their field numbers (bazel-remote unmarshals /ac PUTs into ActionResult).
const REMOTE_EXECUTION_PROTO = `
syntax = "proto3";
package build.bazel.remote.execution.v2;
message Digest { string hash = 1; int64 size_bytes = 2; }
message OutputFile { string path = 1; Digest digest = 2; bool is_executable = 4; bytes contents = 5; }
message ExecutedActionMetadata { string worker = 1; }
message ActionResult {
  repeated OutputFile output_files = 2;
  int32 exit_code = 4;
  bytes stdout_raw = 5;
  ExecutedActionMetadata execution_metadata = 9;
}`;
const ActionResult = protobuf
  .parse(REMOTE_EXECUTION_PROTO)
  .root.lookupType('build.bazel.remote.execution.v2.ActionResult');

const record: RemoteEntryRecord = {
  format: REMOTE_FORMAT,
  fingerprint: fp,
  stepId: 'm/convert/onnx/fp32',
  createdAt: '2026-12-01T00:00:00.000Z',
  result: { status: 'ok' },
  files: [
    { path: 'model.onnx', sha256: sha('onnx'), size: 4 },
    { path: 'sub/empty.txt', sha256: sha(''), size: 0 },
  ],
};

describe('remote cache protocol', () => {
  it('keys /ac entries by format version and fingerprint (pinned: a change orphans every shared cache)', () => {
    assert.equal(remoteActionKey(fp), sha(`${REMOTE_FORMAT}\0${fp}`));
    assert.equal(remoteActionKey(fp), 'e9c446a23e24ebcc4b3ff0e93cbe892aca3c391252df21493d30bc490f8e5649');
    assert.notEqual(remoteActionKey('e'.repeat(64) as Fingerprint), remoteActionKey(fp));
  });

  it('writes an ActionResult that a decoder of remote_execution.proto reads, and reads its own back', () => {
    const recordBytes = encodeRecord(record);
    const recordDigest = { sha256: sha(recordBytes.toString()), size: recordBytes.length };
    const bytes = encodeActionResult({ record: recordDigest, files: record.files });
    const decoded = ActionResult.toObject(ActionResult.decode(bytes), { longs: Number }) as {
      outputFiles: Array<{ path: string; digest: { hash: string; sizeBytes?: number } }>;
    };
    assert.deepEqual(
      decoded.outputFiles.map((file) => [file.path, file.digest.hash, file.digest.sizeBytes ?? 0]),
      [
        ['edgezoo-entry.json', recordDigest.sha256, recordDigest.size],
        ['out/model.onnx', sha('onnx'), 4],
        ['out/sub/empty.txt', sha(''), 0],
      ],
    );
    assert.deepEqual(decodeActionResult(bytes), { record: recordDigest, files: record.files });
  });

  it('reads an ActionResult that bazel-remote rewrote (worker metadata added, fields reordered)', () => {
    const message = ActionResult.fromObject({
      executionMetadata: { worker: '10.0.0.7' },
      exitCode: 0,
      outputFiles: [
        { path: 'out/a.bin', digest: { hash: sha('a'), sizeBytes: 5_000_000_000 } },
        { path: 'edgezoo-entry.json', digest: { hash: sha('r'), sizeBytes: 120 } },
      ],
    });
    const decoded = decodeActionResult(ActionResult.encode(message).finish());
    assert.deepEqual(decoded, {
      record: { sha256: sha('r'), size: 120 },
      files: [{ path: 'a.bin', sha256: sha('a'), size: 5_000_000_000 }],
    });
  });

  it('refuses what is not an edgezoo ActionResult with a RemoteDataError', () => {
    const refuses = (bytes: Uint8Array, message: RegExp) =>
      assert.throws(
        () => decodeActionResult(bytes),
        (error: unknown) => {
          assert.ok(error instanceof RemoteDataError);
          assert.match(error.message, message);
          return true;
        },
      );
    refuses(Buffer.from('<html><body>Sign in</body></html>'), /not a valid protobuf|no entry record/);
    const good = encodeActionResult({ record: { sha256: sha('r'), size: 3 }, files: record.files });
    refuses(good.subarray(0, good.length - 3), /truncated|not a valid protobuf|malformed/);
    refuses(
      ActionResult.encode(
        ActionResult.fromObject({ outputFiles: [{ path: 'bazel-out/x.o', digest: { hash: sha('x') } }] }),
      ).finish(),
      /^its action result has an output "bazel-out\/x.o" edgezoo never writes$/,
    );
    refuses(
      ActionResult.encode(
        ActionResult.fromObject({ outputFiles: [{ path: 'edgezoo-entry.json', digest: { hash: 'abc' } }] }),
      ).finish(),
      /^its entry record has no valid sha256$/,
    );
    refuses(new Uint8Array(), /^its action result has no entry record \(not an edgezoo entry\)$/);
  });

  it('checks a record is the one asked for and names only safe paths', () => {
    const parse = (value: unknown) => parseRecord(Buffer.from(JSON.stringify(value)), fp);
    assert.deepEqual(parse(record), record);
    const fails = (value: unknown, message: string) =>
      assert.throws(
        () => parse(value),
        (error: unknown) => error instanceof RemoteDataError && error.message === message,
      );
    fails({ ...record, fingerprint: 'e'.repeat(64) }, 'its entry record belongs to another fingerprint');
    fails({ ...record, format: 'edgezoo-remote-cache/2' }, `its entry record is not in the ${REMOTE_FORMAT} format`);
    fails({ ...record, result: 'ok' }, 'its entry record has no step result');
    for (const bad of ['../escape', '/etc/passwd', 'a//b', 'a/./b', 'a\\b', 'a/..', ''])
      fails(
        { ...record, files: [{ path: bad, sha256: sha(''), size: 0 }] },
        `its entry record names an unsafe path ${JSON.stringify(bad)}`,
      );
    fails(
      { ...record, files: [record.files[0], { ...record.files[0], path: 'MODEL.onnx' }] },
      'its entry record lists MODEL.onnx twice (or in two letter cases)',
    );
    fails({ ...record, files: [{ path: 'x', sha256: sha(''), size: -1 }] }, 'x has no valid size');
    assert.throws(() => parseRecord(Buffer.from('<html>'), fp), /its entry record is not JSON/);
    assert.ok(isSafeRelativePath('a/b.c/d'));
  });

  it('checks the ActionResult and the record list the same files', () => {
    const action = { record: { sha256: sha('r'), size: 1 }, files: record.files };
    checkRecordMatchesAction(record, action);
    assert.throws(
      () =>
        checkRecordMatchesAction(record, {
          ...action,
          files: [{ ...record.files[0]!, sha256: sha('x') }, record.files[1]!],
        }),
      /^Error: its action result and entry record disagree on model.onnx$|disagree on model.onnx/,
    );
    assert.throws(
      () => checkRecordMatchesAction(record, { ...action, files: [record.files[0]!] }),
      /list different files/,
    );
  });
});

describe('remote cache settings', () => {
  const resolve = (flags: Parameters<typeof resolveRemoteCacheSettings>[0], env: NodeJS.ProcessEnv = {}) =>
    resolveRemoteCacheSettings(flags, env);
  const usage = (run: () => unknown, message: string, hint?: string) =>
    assert.throws(run, (error: unknown) => {
      const typed = error as { code?: string; exitCode?: number; message: string; hint?: string };
      assert.equal(typed.code, 'USAGE');
      assert.equal(typed.exitCode, 2);
      assert.equal(typed.message, message);
      if (hint !== undefined) assert.equal(typed.hint, hint);
      return true;
    });

  it('takes the flag, else EDGEZOO_REMOTE_CACHE; --no-remote-cache turns it off', () => {
    assert.equal(resolve({}), undefined);
    assert.equal(resolve({}, { EDGEZOO_REMOTE_CACHE: '' }), undefined);
    assert.equal(resolve({ url: false }, { EDGEZOO_REMOTE_CACHE: 'https://cache.example.org/' }), undefined);
    const fromEnv = resolve({}, { EDGEZOO_REMOTE_CACHE: 'https://cache.example.org/team' });
    assert.equal(fromEnv?.url.href, 'https://cache.example.org/team');
    assert.equal(fromEnv?.readOnly, false);
    assert.deepEqual(fromEnv?.headers, {});
    const fromFlag = resolve({ url: 'http://127.0.0.1:9090/' }, { EDGEZOO_REMOTE_CACHE: 'https://other.example.org/' });
    assert.equal(fromFlag?.url.href, 'http://127.0.0.1:9090/');
  });

  it('reads read-only mode from the flag or EDGEZOO_REMOTE_CACHE_READ_ONLY', () => {
    const url = 'https://cache.example.org/';
    assert.equal(resolve({ url, readOnly: true })?.readOnly, true);
    for (const value of ['1', 'true', 'YES', 'on'])
      assert.equal(resolve({ url }, { EDGEZOO_REMOTE_CACHE_READ_ONLY: value })?.readOnly, true);
    for (const value of ['0', 'false', 'no', ''])
      assert.equal(resolve({ url }, { EDGEZOO_REMOTE_CACHE_READ_ONLY: value })?.readOnly, false);
    usage(
      () => resolve({ url }, { EDGEZOO_REMOTE_CACHE_READ_ONLY: 'maybe' }),
      'EDGEZOO_REMOTE_CACHE_READ_ONLY must be 1 or 0 (true or false), received "maybe"',
    );
    usage(
      () => resolve({ readOnly: true }),
      '--remote-cache-read-only needs a remote cache: pass --remote-cache URL or set EDGEZOO_REMOTE_CACHE',
    );
    // CI may set the variable for every pull request, with or without a cache.
    assert.equal(resolve({}, { EDGEZOO_REMOTE_CACHE_READ_ONLY: '1' }), undefined);
  });

  it('takes credentials from the environment only and never shows them', () => {
    const url = 'https://cache.example.org/';
    assert.deepEqual(resolve({ url }, { EDGEZOO_REMOTE_CACHE_TOKEN: 's3cret' })?.headers, {
      authorization: 'Bearer s3cret',
    });
    assert.deepEqual(
      resolve({ url }, { EDGEZOO_REMOTE_CACHE_USER: 'ci', EDGEZOO_REMOTE_CACHE_PASSWORD: 'pa:ss' })?.headers,
      { authorization: `Basic ${Buffer.from('ci:pa:ss').toString('base64')}` },
    );
    const inUrl = resolve({}, { EDGEZOO_REMOTE_CACHE: 'https://ci:p%40ss@cache.example.org/x/' });
    assert.equal(inUrl?.url.href, 'https://cache.example.org/x/');
    assert.deepEqual(inUrl?.headers, { authorization: `Basic ${Buffer.from('ci:p@ss').toString('base64')}` });
    usage(
      () => resolve({ url: 'https://ci:hunter2@cache.example.org/' }),
      '--remote-cache must not carry credentials: a command line is visible to other users and in CI logs',
      'set EDGEZOO_REMOTE_CACHE_USER and EDGEZOO_REMOTE_CACHE_PASSWORD, or EDGEZOO_REMOTE_CACHE_TOKEN, in the environment',
    );
    usage(
      () => resolve({ url }, { EDGEZOO_REMOTE_CACHE_USER: 'ci' }),
      'set both EDGEZOO_REMOTE_CACHE_USER and EDGEZOO_REMOTE_CACHE_PASSWORD, or neither',
    );
    usage(
      () =>
        resolve(
          { url },
          { EDGEZOO_REMOTE_CACHE_TOKEN: 't', EDGEZOO_REMOTE_CACHE_USER: 'u', EDGEZOO_REMOTE_CACHE_PASSWORD: 'p' },
        ),
      'give either EDGEZOO_REMOTE_CACHE_TOKEN or a user and password for the remote cache, not both',
    );
  });

  it('requires https off loopback, and a plain base URL', () => {
    usage(
      () => resolve({ url: 'http://cache.internal:8080/' }),
      '--remote-cache must be an https:// URL (plain http only on loopback), received "http://cache.internal:8080/"',
      'the action cache is not content-addressed: over plain http anyone on the way could change what a build reads; put TLS in front of the server',
    );
    usage(
      () => resolve({}, { EDGEZOO_REMOTE_CACHE: 'http://u:secret@cache.internal/' }),
      'EDGEZOO_REMOTE_CACHE must be an https:// URL (plain http only on loopback), received "http://cache.internal/"',
    );
    usage(() => resolve({ url: 'ftp://cache/' }), '--remote-cache must be an https:// URL, received "ftp://cache/"');
    usage(() => resolve({ url: 'cache.example.org' }), '--remote-cache is not a valid absolute URL');
    usage(
      () => resolve({ url: 'https://cache.example.org/?x=1' }),
      '--remote-cache must not have a query or fragment, received "https://cache.example.org/?x=1"',
    );
  });
});

describe('remote cache summary line', () => {
  const stats = {
    url: 'https://cache.example.org/',
    readOnly: false,
    hits: 12,
    misses: 3,
    corrupt: 0,
    uploaded: 3,
    notUploaded: 0,
    bytesDown: 43_000_000,
    bytesUp: 8 * 1024 * 1024,
  };
  it('says hits, misses, uploads and bytes, and why the server stopped being used', () => {
    assert.equal(
      formatRemoteCacheStats(stats),
      'remote cache https://cache.example.org/: 12 hits, 3 misses, 3 uploads (41.0 MiB down, 8.0 MiB up)',
    );
    assert.equal(
      formatRemoteCacheStats({ ...stats, readOnly: true, uploaded: 0, bytesUp: 0, corrupt: 1 }),
      'remote cache https://cache.example.org/: 12 hits, 3 misses, 1 corrupt ignored, read-only (41.0 MiB down, 0 B up)',
    );
    assert.equal(
      formatRemoteCacheStats({
        ...stats,
        hits: 0,
        misses: 1,
        bytesDown: 0,
        bytesUp: 0,
        uploaded: 0,
        notUploaded: 2,
        disabled: 'unreachable (connect ECONNREFUSED 127.0.0.1:9, GET ac/x, 3 attempts)',
      }),
      'remote cache https://cache.example.org/: 0 hits, 1 misses, 0 uploads, 2 not uploaded (0 B down, 0 B up); stopped using it: unreachable (connect ECONNREFUSED 127.0.0.1:9, GET ac/x, 3 attempts)',
    );
  });
});
