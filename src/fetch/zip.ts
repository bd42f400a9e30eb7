import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw, crc32 } from 'node:zlib';
import { isSafeEntryName } from './archive-names.js';
import { ArchiveError } from './errors.js';

/**
 * A small zip reader for wheels: it reads the central directory (zip64 included) with every
 * offset and length checked against the file, and streams one entry out through inflateRaw.
 * It never trusts the local headers for sizes (they may be zero with data descriptors).
 */

/** One file in a zip's central directory. */
export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** A central directory larger than this is not a wheel we want to read into memory. */
const MAX_CENTRAL_DIRECTORY = 256 * 1024 * 1024;

/** Lists the entries of a zip file. `where` names the archive in errors. Throws `ArchiveError`. */
export async function readZipEntries(zipPath: string, where: string): Promise<ZipEntry[]> {
  const handle = await open(zipPath, 'r');
  try {
    const size = (await handle.stat()).size;
    const { offset, length, count } = await findCentralDirectory(handle, size, where);
    const directory = await readExactly(handle, offset, length, where);
    return parseCentralDirectory(directory, count, size, where);
  } finally {
    await handle.close();
  }
}

async function findCentralDirectory(
  handle: FileHandle,
  size: number,
  where: string,
): Promise<{ offset: number; length: number; count: number }> {
  if (size < EOCD_SIZE) throw new ArchiveError(where, 'too small to be a zip file');
  const tailLength = Math.min(size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = size - tailLength;
  const tail = await readExactly(handle, tailStart, tailLength, where);
  let eocd = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE && i + EOCD_SIZE + tail.readUInt16LE(i + 20) <= tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ArchiveError(where, 'no end-of-central-directory record (not a zip file?)');
  let count = tail.readUInt16LE(eocd + 10);
  let length = tail.readUInt32LE(eocd + 12);
  let offset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || length === 0xffffffff || offset === 0xffffffff) {
    const locatorAt = tailStart + eocd - 20;
    if (locatorAt < 0) throw new ArchiveError(where, 'zip64 markers without a zip64 locator');
    const locator = await readExactly(handle, locatorAt, 20, where);
    if (locator.readUInt32LE(0) !== ZIP64_LOCATOR_SIGNATURE)
      throw new ArchiveError(where, 'zip64 markers without a zip64 locator');
    const recordAt = toSafeNumber(locator.readBigUInt64LE(8), where);
    if (recordAt + 56 > size) throw new ArchiveError(where, 'zip64 end record out of bounds');
    const record = await readExactly(handle, recordAt, 56, where);
    if (record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE)
      throw new ArchiveError(where, 'bad zip64 end record signature');
    count = toSafeNumber(record.readBigUInt64LE(32), where);
    length = toSafeNumber(record.readBigUInt64LE(40), where);
    offset = toSafeNumber(record.readBigUInt64LE(48), where);
  }
  if (offset + length > size) throw new ArchiveError(where, 'central directory out of bounds');
  if (length > MAX_CENTRAL_DIRECTORY)
    throw new ArchiveError(where, `central directory of ${length} bytes is too large`);
  return { offset, length, count };
}

function parseCentralDirectory(directory: Buffer, count: number, fileSize: number, where: string): ZipEntry[] {
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let index = 0; index < count; index++) {
    if (at + 46 > directory.length) throw new ArchiveError(where, `central directory ends inside entry ${index}`);
    if (directory.readUInt32LE(at) !== CENTRAL_SIGNATURE)
      throw new ArchiveError(where, `bad central directory signature at entry ${index}`);
    const flags = directory.readUInt16LE(at + 8);
    const method = directory.readUInt16LE(at + 10);
    const crc = directory.readUInt32LE(at + 16);
    let compressedSize = directory.readUInt32LE(at + 20);
    let uncompressedSize = directory.readUInt32LE(at + 24);
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    let localHeaderOffset = directory.readUInt32LE(at + 42);
    const nameStart = at + 46;
    const extraStart = nameStart + nameLength;
    const next = extraStart + extraLength + commentLength;
    if (next > directory.length) throw new ArchiveError(where, `central directory ends inside entry ${index}`);
    // Bit 11: the name is UTF-8; otherwise CP437, whose ASCII part is what wheels use.
    const name = directory.toString(flags & 0x800 ? 'utf8' : 'latin1', nameStart, extraStart);

    // The zip64 extra field holds, in this order, whichever of the three values overflowed.
    let extraAt = extraStart;
    while (extraAt + 4 <= extraStart + extraLength) {
      const id = directory.readUInt16LE(extraAt);
      const size = directory.readUInt16LE(extraAt + 2);
      const dataEnd = extraAt + 4 + size;
      if (dataEnd > extraStart + extraLength) throw new ArchiveError(where, `bad extra field in ${name}`);
      if (id === 0x0001) {
        let field = extraAt + 4;
        const take = (): number => {
          if (field + 8 > dataEnd) throw new ArchiveError(where, `short zip64 field in ${name}`);
          const value = toSafeNumber(directory.readBigUInt64LE(field), where);
          field += 8;
          return value;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      extraAt = dataEnd;
    }

    if (!isSafeEntryName(name)) throw new ArchiveError(where, `unsafe entry name "${name}"`);
    if (localHeaderOffset + 30 + compressedSize > fileSize)
      throw new ArchiveError(where, `entry ${name} out of bounds`);
    entries.push({ name, method, flags, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset });
    at = next;
  }
  return entries;
}

/**
 * Streams one entry to `outPath`, hashing what is written. Checks the declared size, the CRC-32
 * and `maxBytes` (a cap against zip bombs) while inflating.
 */
export async function extractZipEntry(
  zipPath: string,
  entry: ZipEntry,
  outPath: string,
  where: string,
  maxBytes: number = Number.MAX_SAFE_INTEGER,
): Promise<{ sha256: string; bytes: number }> {
  if (entry.flags & 0x1) throw new ArchiveError(where, `entry ${entry.name} is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) {
    throw new ArchiveError(
      where,
      `entry ${entry.name} uses compression method ${entry.method} (only stored and deflate are read)`,
    );
  }
  if (entry.uncompressedSize > maxBytes)
    throw new ArchiveError(where, `entry ${entry.name} is larger than the cap of ${maxBytes} bytes`, {
      tooLarge: true,
    });
  const handle = await open(zipPath, 'r');
  let dataStart: number;
  try {
    const local = await readExactly(handle, entry.localHeaderOffset, 30, where);
    if (local.readUInt32LE(0) !== LOCAL_SIGNATURE) throw new ArchiveError(where, `bad local header for ${entry.name}`);
    dataStart = entry.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (dataStart + entry.compressedSize > (await handle.stat()).size)
      throw new ArchiveError(where, `entry ${entry.name} out of bounds`);
  } finally {
    await handle.close();
  }

  const hash = createHash('sha256');
  let bytes = 0;
  let crc = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (bytes > entry.uncompressedSize) {
        callback(
          new ArchiveError(where, `entry ${entry.name} inflates past its declared ${entry.uncompressedSize} bytes`),
        );
        return;
      }
      hash.update(chunk);
      crc = crc32(chunk, crc);
      callback(null, chunk);
    },
  });
  // createReadStream's `end` is inclusive, so an empty entry needs an empty stream instead.
  const source =
    entry.compressedSize === 0
      ? Readable.from([])
      : createReadStream(zipPath, {
          start: dataStart,
          end: dataStart + entry.compressedSize - 1,
          highWaterMark: 1 << 20,
        });
  try {
    if (entry.method === 8) {
      await pipeline(source, createInflateRaw(), meter, createWriteStream(outPath));
    } else {
      await pipeline(source, meter, createWriteStream(outPath));
    }
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    if ((error as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new ArchiveError(where, `entry ${entry.name} does not inflate: ${(error as Error).message}`);
    }
    throw error;
  }
  if (bytes !== entry.uncompressedSize) {
    throw new ArchiveError(
      where,
      `entry ${entry.name} has ${bytes} bytes, the directory says ${entry.uncompressedSize}`,
    );
  }
  if (crc >>> 0 !== entry.crc32) throw new ArchiveError(where, `entry ${entry.name} fails its CRC-32 check`);
  return { sha256: hash.digest('hex'), bytes };
}

async function readExactly(handle: FileHandle, position: number, length: number, where: string): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  if (bytesRead !== length) throw new ArchiveError(where, `unexpected end of file at byte ${position + bytesRead}`);
  return buffer;
}

function toSafeNumber(value: bigint, where: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ArchiveError(where, 'a zip64 size or offset is out of range');
  return Number(value);
}
