import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  buildIndex,
  generateSigningKeyPair,
  parseIndex,
  parsePrivateKey,
  parsePublicKey,
  readManifestIfAny,
  verifyBytes,
  writeIndex,
  writeModelVersion,
  yankVersion,
  VersionImmutableError,
} from '../../src/zoo/index.js';
import { sha256File } from '../../src/util/hash.js';
import { sampleVersionInput, writeSampleVersion } from '../fixtures/sample-zoo.js';

let root: string;
let zoo: string;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgezoo-zoo-'));
  zoo = path.join(root, 'zoo');
});
after(async () => rm(root, { recursive: true, force: true }));

describe('writeModelVersion', () => {
  test('writes artifacts under stable names, the manifest, the card and the license', async () => {
    const result = await writeSampleVersion(
      zoo,
      'tiny-net',
      '1.0.0',
      [
        { format: 'onnx', precision: 'fp32' },
        { format: 'tflite', precision: 'int8' },
        { format: 'openvino', precision: 'fp16' },
        { format: 'onnx', precision: 'int8', status: 'failed' },
      ],
      { licenseText: 'Apache License 2.0 (sample text)\n' },
    );
    assert.equal(result.written, true);
    const files = (await readdir(result.dir)).sort();
    assert.deepEqual(files, [
      'LICENSE.txt',
      'README.md',
      'manifest.json',
      'tiny-net-1.0.0-onnx-fp32.onnx',
      'tiny-net-1.0.0-openvino-fp16.bin',
      'tiny-net-1.0.0-openvino-fp16.xml',
      'tiny-net-1.0.0-tflite-int8.tflite',
    ]);
    const manifest = JSON.parse(await readFile(path.join(result.dir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.schema, 'edgezoo.manifest/1');
    assert.deepEqual(
      manifest.artifacts.map((a: { format: string; precision: string }) => `${a.format}/${a.precision}`),
      ['onnx/fp32', 'openvino/fp16', 'tflite/int8'],
    );
    const ov = manifest.artifacts[1];
    assert.deepEqual(
      ov.files.map((f: { role: string }) => f.role),
      ['model', 'weights'],
    );
    assert.equal(ov.files[1].sha256, await sha256File(path.join(result.dir, 'tiny-net-1.0.0-openvino-fp16.bin')));
    assert.deepEqual(manifest.failed, [
      {
        format: 'onnx',
        precision: 'int8',
        reason: 'cosine 0.41 below 0.99 on logits',
        validation: manifest.failed[0].validation,
      },
    ]);
    assert.equal(manifest.failed[0].validation.status, 'failed');
    assert.equal(manifest.licenseFile.name, 'LICENSE.txt');

    const card = await readFile(path.join(result.dir, 'README.md'), 'utf8');
    assert.match(
      card,
      /^---\nlicense: apache-2\.0\nlicense_link: LICENSE\.txt\nlibrary_name: onnx\npipeline_tag: image-classification\n/,
    );
    assert.match(card, /^\| onnx \| fp32 \| 1\.0 KiB \| 1\.75 ms \| cos 0\.99999, top-1 100\.0 % \| 1\.00x \| - \|$/m);
    assert.match(card, /^\| input \| image \| \[1, 3, 8, 8\] \| float32 \| NCHW \| \[-2.118, 2.64\] \|$/m);
    assert.match(
      card,
      /^\| tflite\/int8 \| input int8 \[1, 8, 8, 3\] NHWC q\(0\.007813, -128\) \| logits float32 \[1, 10\] \|/m,
    );
    assert.match(
      card,
      /^\| tflite\/int8 \| logits \| 0.000012 \| 0.0000021 \| 0.0000033 \| 0.999990 \| 100.0 % \| 100.0 % \|$/m,
    );
    assert.match(card, /p90 2\.25 ms, load 12\.5 ms, peak RSS 64 MB, onnxruntime-node 1\.30\.0/);
    assert.match(card, /^\| tflite\/int16-act \| not needed for a sample \|$/m);
    assert.match(card, /^\| onnx\/int8 \| FAILED \| cosine 0.41 below 0.99 on logits \|$/m);
    assert.match(card, /- Source sha256: `a{64}`/);
    assert.ok(!card.includes('tiny-net-1.0.0-onnx-int8.onnx'), 'a failed artifact has no file and no link');
  });

  test('rewriting identical bytes is a no-op that keeps the published manifest', async () => {
    const dir = path.join(zoo, 'tiny-net', '1.0.0');
    const before = await stat(path.join(dir, 'manifest.json'));
    const input = await sampleVersionInput(
      path.join(root, 'rebuild'),
      'tiny-net',
      '1.0.0',
      [
        { format: 'onnx', precision: 'fp32' },
        { format: 'tflite', precision: 'int8' },
        { format: 'openvino', precision: 'fp16' },
        { format: 'onnx', precision: 'int8', status: 'failed' },
      ],
      { licenseText: 'Apache License 2.0 (sample text)\n' },
    );
    input.artifacts[0]!.benchmark!.medianMs = 9.99; // a re-run measures other latencies
    const result = await writeModelVersion(zoo, input);
    assert.equal(result.written, false);
    assert.equal((await stat(path.join(dir, 'manifest.json'))).mtimeMs, before.mtimeMs);
    assert.equal(result.manifest.artifacts[0]!.benchmark!.medianMs, 1.75);
  });

  test('different bytes under a published version are refused, naming the file and both sha256', async () => {
    const input = await sampleVersionInput(
      path.join(root, 'changed'),
      'tiny-net',
      '1.0.0',
      [
        { format: 'onnx', precision: 'fp32', seed: 'other bytes' },
        { format: 'tflite', precision: 'int8' },
        { format: 'openvino', precision: 'fp16' },
      ],
      { licenseText: 'Apache License 2.0 (sample text)\n' },
    );
    const dir = path.join(zoo, 'tiny-net', '1.0.0');
    const old = await sha256File(path.join(dir, 'tiny-net-1.0.0-onnx-fp32.onnx'));
    await assert.rejects(writeModelVersion(zoo, input), (error: unknown) => {
      assert.ok(error instanceof VersionImmutableError);
      assert.equal(error.code, 'VERSION_IMMUTABLE');
      assert.equal(
        error.message,
        `${path.join(dir, 'tiny-net-1.0.0-onnx-fp32.onnx')} is already published with sha256 ${old}; the new one has sha256 ${input.artifacts[0]!.sha256}`,
      );
      assert.equal(
        error.hint,
        `a published version never changes: bump \`version\` in recipes/tiny-net.yaml, or delete ${dir} if it was never published`,
      );
      return true;
    });
    assert.equal(
      await sha256File(path.join(dir, 'tiny-net-1.0.0-onnx-fp32.onnx')),
      old,
      'the published file is untouched',
    );
  });

  test('adding a target to a published version is refused', async () => {
    const input = await sampleVersionInput(
      path.join(root, 'added'),
      'tiny-net',
      '1.0.0',
      [
        { format: 'onnx', precision: 'fp32' },
        { format: 'tflite', precision: 'int8' },
        { format: 'openvino', precision: 'fp16' },
        { format: 'onnx', precision: 'fp16' },
      ],
      { licenseText: 'Apache License 2.0 (sample text)\n' },
    );
    await assert.rejects(
      writeModelVersion(zoo, input),
      /tiny-net@1\.0\.0 is already published without .*tiny-net-1\.0\.0-onnx-fp16\.onnx/,
    );
  });

  test('a build output that changed since it was recorded is refused', async () => {
    const input = await sampleVersionInput(path.join(root, 'corrupt'), 'other-net', '0.1.0', [
      { format: 'onnx', precision: 'fp32' },
    ]);
    await writeFile(input.artifacts[0]!.file, 'tampered');
    await assert.rejects(writeModelVersion(zoo, input), { code: 'SHA256_MISMATCH' });
    assert.equal(await readManifestIfAny(path.join(zoo, 'other-net', '0.1.0')), undefined);
  });

  test('a version where no artifact passed is not written', async () => {
    const input = await sampleVersionInput(path.join(root, 'allfailed'), 'dead-net', '1.0.0', [
      { format: 'onnx', precision: 'fp32', status: 'failed' },
      { format: 'tflite', precision: 'int8', status: 'failed' },
    ]);
    await assert.rejects(writeModelVersion(zoo, input), {
      code: 'NO_ARTIFACTS',
      message: 'no version written for dead-net@1.0.0: none of its 2 targets passed',
    });
    await assert.rejects(stat(path.join(zoo, 'dead-net')), { code: 'ENOENT' });
  });

  test('a version that is not semver is refused', async () => {
    const input = await sampleVersionInput(path.join(root, 'badver'), 'other-net', 'v1', [
      { format: 'onnx', precision: 'fp32' },
    ]);
    await assert.rejects(writeModelVersion(zoo, input), {
      code: 'VERSION_INVALID',
      message: 'version "v1" of other-net is not a semver version (like 1.0.0)',
    });
  });
});

describe('index and yank', () => {
  test('the index lists every version and downloadable artifact, newest first, never failed ones as files', async () => {
    await writeSampleVersion(zoo, 'tiny-net', '1.1.0', [{ format: 'onnx', precision: 'fp32' }]);
    await writeSampleVersion(zoo, 'alpha-net', '2.0.0', [{ format: 'tflite', precision: 'fp16' }]);
    const { index, bytes } = await writeIndex(zoo);
    assert.equal(index.schema, 'edgezoo.index/1');
    assert.deepEqual(
      index.models.map((m) => m.name),
      ['alpha-net', 'tiny-net'],
    );
    const tiny = index.models[1]!;
    assert.deepEqual(
      tiny.versions.map((v) => v.version),
      ['1.1.0', '1.0.0'],
    );
    const v100 = tiny.versions[1]!;
    assert.deepEqual(
      v100.artifacts.map((a) => a.url),
      [
        'tiny-net/1.0.0/tiny-net-1.0.0-onnx-fp32.onnx',
        'tiny-net/1.0.0/tiny-net-1.0.0-openvino-fp16.xml',
        'tiny-net/1.0.0/tiny-net-1.0.0-tflite-int8.tflite',
      ],
    );
    assert.equal(v100.artifacts[1]!.files.length, 2);
    assert.equal(v100.artifacts[1]!.size, 1024 + 2048);
    assert.equal(v100.artifacts[2]!.signature.inputs[0]!.layout, 'NHWC');
    assert.equal(v100.artifacts[0]!.benchmark!.medianMs, 1.75);
    assert.deepEqual(v100.failed, [{ format: 'onnx', precision: 'int8', reason: 'cosine 0.41 below 0.99 on logits' }]);
    assert.ok(!bytes.toString().includes('onnx-int8.onnx'));
    assert.equal(v100.licenseFile!.url, 'tiny-net/1.0.0/LICENSE.txt');
    assert.deepEqual(parseIndex(bytes.toString(), 'index.json'), JSON.parse(bytes.toString()));
    const again = await writeIndex(zoo);
    assert.ok(again.bytes.equals(bytes), 'an unchanged zoo gives the same index bytes');
  });

  test('yank marks a version without deleting it', async () => {
    const record = await yankVersion(zoo, 'tiny-net', '1.1.0', 'wrong labels', new Date('2025-01-02T03:04:05Z'));
    assert.deepEqual(record, { schema: 'edgezoo.yank/1', reason: 'wrong labels', at: '2025-01-02T03:04:05.000Z' });
    const index = await buildIndex(zoo);
    const v = index.models[1]!.versions[0]!;
    assert.deepEqual(v.yanked, { reason: 'wrong labels', at: '2025-01-02T03:04:05.000Z' });
    assert.equal(v.artifacts.length, 1, 'a yanked version keeps its files');
    await assert.rejects(yankVersion(zoo, 'tiny-net', '9.9.9', 'x'), {
      code: 'VERSION_NOT_FOUND',
      message: `tiny-net@9.9.9 is not in the zoo at ${zoo}`,
      hint: 'versions of tiny-net: 1.1.0, 1.0.0',
    });
  });

  test('an index with a missing artifact file is refused', async () => {
    const broken = path.join(root, 'broken-zoo');
    const { dir } = await writeSampleVersion(broken, 'gone-net', '1.0.0', [{ format: 'onnx', precision: 'fp32' }]);
    await rm(path.join(dir, 'gone-net-1.0.0-onnx-fp32.onnx'));
    await assert.rejects(writeIndex(broken), {
      code: 'ZOO_INCOMPLETE',
      message: `${path.join(dir, 'gone-net-1.0.0-onnx-fp32.onnx')} is listed in its manifest but missing`,
    });
  });

  test('an index of another schema is refused with what this edgezoo reads', () => {
    assert.throws(() => parseIndex('{"schema":"edgezoo.index/2","models":[]}', 'https://x/index.json'), {
      code: 'INDEX_INVALID',
      message: 'https://x/index.json has schema "edgezoo.index/2"; this edgezoo reads "edgezoo.index/1"',
    });
  });
});

describe('signing', () => {
  test('signs the exact index bytes; any change breaks the signature', async () => {
    const keys = generateSigningKeyPair();
    const { bytes } = await writeIndex(zoo, { signingKey: parsePrivateKey(keys.privateKeyBase64) });
    const sig = await readFile(path.join(zoo, 'index.json.sig'), 'utf8');
    assert.match(sig, /^[A-Za-z0-9+/]{86}==\n$/);
    const pub = parsePublicKey(keys.publicKeyPem);
    assert.equal(verifyBytes(bytes, sig, pub), true);
    assert.equal(verifyBytes(Buffer.concat([bytes, Buffer.from(' ')]), sig, pub), false);
    assert.equal(verifyBytes(bytes, sig, parsePublicKey(generateSigningKeyPair().publicKeyBase64)), false);
    assert.equal(verifyBytes(bytes, 'garbage', pub), false);
    await writeIndex(zoo);
    await assert.rejects(stat(path.join(zoo, 'index.json.sig')), { code: 'ENOENT' });
  });

  test('a key that is not ed25519 PKCS8 is refused with a hint', () => {
    assert.throws(() => parsePrivateKey('bm90IGEga2V5'), {
      code: 'SIGNING_KEY_INVALID',
      message: 'EDGEZOO_SIGNING_KEY is not a private key (expected PEM or base64 PKCS8 of an ed25519 key)',
    });
  });
});
