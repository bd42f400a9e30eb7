import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { buildTarGz, buildZip, padded, tarHeader } from './archive-fixtures.js';
import { extractTarGzEntry } from '../../src/fetch/tar.js';
import { extractZipEntry, readZipEntries } from '../../src/fetch/zip.js';

// Fixtures are written by the small encoders in archive-fixtures.ts, so the readers are tested
// against bytes whose every field we chose (including broken ones).

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-archives-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('zip reader (wheels)', () => {
  const model = randomBytes(300_000);
  const text = Buffer.from('print("hello")\n'.repeat(1000));

  it('lists entries and extracts deflated and stored ones, hashing what it writes', async () => {
    const zipPath = path.join(dir, 'ok.whl');
    await writeFile(
      zipPath,
      buildZip([
        { name: 'pkg/__init__.py', data: text },
        { name: 'pkg/models/net.onnx', data: model, method: 0 },
        { name: 'pkg/empty.txt', data: Buffer.alloc(0) },
      ]),
    );
    const entries = await readZipEntries(zipPath, 'ok.whl');
    assert.deepEqual(
      entries.map((entry) => entry.name),
      ['pkg/__init__.py', 'pkg/models/net.onnx', 'pkg/empty.txt'],
    );
    for (const [index, data] of [text, model, Buffer.alloc(0)].entries()) {
      const out = path.join(dir, `out-${index}`);
      const result = await extractZipEntry(zipPath, entries[index]!, out, 'ok.whl');
      assert.equal(result.sha256, sha(data));
      assert.equal(result.bytes, data.length);
      assert.deepEqual(await readFile(out), data);
    }
  });

  it('refuses entry names that climb out or are absolute', async () => {
    for (const name of ['../evil.py', '/etc/passwd', 'a/../../b']) {
      const zipPath = path.join(dir, 'evil.whl');
      await writeFile(zipPath, buildZip([{ name, data: text }]));
      await assert.rejects(readZipEntries(zipPath, 'evil.whl'), {
        code: 'ARCHIVE_INVALID',
        message: `cannot read archive evil.whl: unsafe entry name "${name}"`,
      });
    }
  });

  it('detects a bad CRC, a non-zip and a cut-off file', async () => {
    const crcPath = path.join(dir, 'crc.whl');
    await writeFile(crcPath, buildZip([{ name: 'a.py', data: text, crc: 12345 }]));
    const [entry] = await readZipEntries(crcPath, 'crc.whl');
    await assert.rejects(extractZipEntry(crcPath, entry!, path.join(dir, 'crc-out'), 'crc.whl'), {
      message: 'cannot read archive crc.whl: entry a.py fails its CRC-32 check',
    });

    const junkPath = path.join(dir, 'junk.whl');
    await writeFile(junkPath, randomBytes(5000));
    await assert.rejects(readZipEntries(junkPath, 'junk.whl'), {
      message: 'cannot read archive junk.whl: no end-of-central-directory record (not a zip file?)',
    });

    const whole = buildZip([{ name: 'a.py', data: text }]);
    const cutPath = path.join(dir, 'cut.whl');
    // Keep the end record but lose the start of the file: offsets now point past the data.
    await writeFile(cutPath, whole.subarray(whole.length - 200));
    await assert.rejects(readZipEntries(cutPath, 'cut.whl'), { code: 'ARCHIVE_INVALID' });
  });

  it('caps what an entry may inflate to', async () => {
    const zipPath = path.join(dir, 'bomb.whl');
    await writeFile(zipPath, buildZip([{ name: 'zeros.bin', data: Buffer.alloc(2_000_000) }]));
    const [entry] = await readZipEntries(zipPath, 'bomb.whl');
    await assert.rejects(extractZipEntry(zipPath, entry!, path.join(dir, 'bomb-out'), 'bomb.whl', 1000), {
      message: 'cannot read archive bomb.whl: entry zeros.bin is larger than the cap of 1000 bytes',
    });
  });
});

describe('tar.gz reader (npm packs)', () => {
  const index = Buffer.from('module.exports = 42;\n');
  const weights = randomBytes(200_000);
  const longName = `package/${'deep/'.repeat(30)}model.onnx`;

  it('extracts a file under package/, stripping the first component', async () => {
    const tgz = path.join(dir, 'ok.tgz');
    await writeFile(
      tgz,
      buildTarGz([
        { name: 'package/', type: '5' },
        { name: 'package/package.json', data: Buffer.from('{}') },
        { name: 'package/index.js', data: index },
        { name: 'package/weights.bin', data: weights },
      ]),
    );
    const out = path.join(dir, 'weights-out');
    const result = await extractTarGzEntry(tgz, 'weights.bin', out, 'ok.tgz', { stripComponents: 1 });
    assert.equal(result.extracted?.sha256, sha(weights));
    assert.deepEqual(await readFile(out), weights);
    assert.deepEqual(result.names, ['package.json', 'index.js', 'weights.bin']);
  });

  it('reads pax and GNU long names', async () => {
    const tgz = path.join(dir, 'long.tgz');
    const gnuName = `package/${'gnu/'.repeat(30)}x.js`;
    await writeFile(
      tgz,
      buildTarGz([
        { name: longName, data: weights, pax: true },
        { name: gnuName, data: index, gnuLong: true },
      ]),
    );
    const wanted = longName.slice('package/'.length);
    const result = await extractTarGzEntry(tgz, `./${wanted}`, path.join(dir, 'long-out'), 'long.tgz', {
      stripComponents: 1,
    });
    assert.equal(result.extracted?.sha256, sha(weights));
    const gnu = await extractTarGzEntry(tgz, gnuName.slice('package/'.length), path.join(dir, 'gnu-out'), 'long.tgz', {
      stripComponents: 1,
    });
    assert.equal(gnu.extracted?.sha256, sha(index));
  });

  it('reports every file name when the wanted one is missing', async () => {
    const tgz = path.join(dir, 'missing.tgz');
    await writeFile(
      tgz,
      buildTarGz([
        { name: 'package/index.js', data: index },
        { name: 'package/lib/a.js', data: index },
      ]),
    );
    const result = await extractTarGzEntry(tgz, 'main.js', path.join(dir, 'x'), 'missing.tgz', { stripComponents: 1 });
    assert.equal(result.extracted, undefined);
    assert.deepEqual(result.names, ['index.js', 'lib/a.js']);
  });

  it('refuses unsafe names, links in place of the file, bad checksums and non-gzip data', async () => {
    const evil = path.join(dir, 'evil.tgz');
    await writeFile(evil, buildTarGz([{ name: 'package/../../evil.js', data: index }]));
    await assert.rejects(extractTarGzEntry(evil, 'index.js', path.join(dir, 'x'), 'evil.tgz'), {
      message: 'cannot read archive evil.tgz: unsafe entry name "package/../../evil.js"',
    });

    const link = path.join(dir, 'link.tgz');
    await writeFile(link, buildTarGz([{ name: 'package/index.js', type: '2' }]));
    await assert.rejects(extractTarGzEntry(link, 'index.js', path.join(dir, 'x'), 'link.tgz', { stripComponents: 1 }), {
      message: 'cannot read archive link.tgz: entry index.js is a link or special file, not a regular file',
    });

    const raw = Buffer.concat([tarHeader('package/index.js', index.length, '0'), padded(index), Buffer.alloc(1024)]);
    raw[0] = 'X'.charCodeAt(0); // the stored checksum no longer matches
    const corrupt = path.join(dir, 'corrupt.tgz');
    await writeFile(corrupt, gzipSync(raw));
    await assert.rejects(extractTarGzEntry(corrupt, 'index.js', path.join(dir, 'x'), 'corrupt.tgz'), {
      message: 'cannot read archive corrupt.tgz: a tar header fails its checksum',
    });

    const notGzip = path.join(dir, 'plain.tgz');
    await writeFile(notGzip, randomBytes(2048));
    await assert.rejects(extractTarGzEntry(notGzip, 'index.js', path.join(dir, 'x'), 'plain.tgz'), {
      code: 'ARCHIVE_INVALID',
    });
  });

  it('refuses a tarball that ends inside an entry', async () => {
    const whole = gzipSync(
      Buffer.concat([tarHeader('package/w.bin', weights.length, '0'), padded(weights)]).subarray(0, 10_000),
    );
    const cut = path.join(dir, 'cut.tgz');
    await writeFile(cut, whole);
    await assert.rejects(extractTarGzEntry(cut, 'w.bin', path.join(dir, 'x'), 'cut.tgz', { stripComponents: 1 }), {
      message: 'cannot read archive cut.tgz: the tarball ends inside an entry',
    });
  });
});
