import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { extractTarGzEntry } from '../../src/fetch/tar.js';
import { extractZipEntry, readZipEntries } from '../../src/fetch/zip.js';

// Fixtures are written by the small encoders below, so the readers are tested against bytes
// whose every field we chose (including broken ones).

interface ZipFixtureEntry {
  name: string;
  data: Buffer;
  method?: 0 | 8;
  /** Overrides the CRC written to the central directory (to test the check). */
  crc?: number;
}

function buildZip(entries: ZipFixtureEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const method = entry.method ?? 8;
    const body = method === 8 ? deflateRawSync(entry.data) : entry.data;
    const name = Buffer.from(entry.name, 'utf8');
    const crc = entry.crc ?? crc32(entry.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

interface TarFixtureEntry {
  name: string;
  data?: Buffer;
  type?: string;
  /** Emit the name as a pax `path` record (for names over 100 bytes). */
  pax?: boolean;
  /** Emit the name as a GNU `L` long-name record. */
  gnuLong?: boolean;
}

function tarHeader(name: string, size: number, type: string): Buffer {
  const header = Buffer.alloc(512);
  header.write(name.slice(0, 100), 0, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write(type, 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

function buildTarGz(entries: TarFixtureEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const data = entry.data ?? Buffer.alloc(0);
    if (entry.pax) {
      const record = (line: string): string => {
        let length = line.length + 3;
        while (`${length} ${line}\n`.length !== length) length = `${length} ${line}\n`.length;
        return `${length} ${line}\n`;
      };
      const body = Buffer.from(record(`path=${entry.name}`), 'utf8');
      blocks.push(tarHeader('PaxHeader', body.length, 'x'), padded(body));
    }
    if (entry.gnuLong) {
      const body = Buffer.from(`${entry.name}\0`, 'utf8');
      blocks.push(tarHeader('././@LongLink', body.length, 'L'), padded(body));
    }
    blocks.push(tarHeader(entry.name, data.length, entry.type ?? '0'), padded(data));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-archives-'));
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
