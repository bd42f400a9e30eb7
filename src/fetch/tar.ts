import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { isSafeEntryName, normaliseEntryName } from './archive-names.js';
import { ArchiveError } from './errors.js';

/**
 * A small streaming reader for gzipped tarballs (npm packs): ustar, pax `path` records and GNU long
 * names, with header checksums and every size checked. It reads the archive once, front to back,
 * writing the wanted entry out as it passes and collecting the names of all others.
 */

const BLOCK = 512;
/** pax and GNU long-name records are metadata; anything larger is not a package we read. */
const MAX_META_RECORD = 1024 * 1024;

/** What a pass over a tarball found. */
export interface TarExtraction {
  /** Names of regular files, after `stripComponents`. */
  names: string[];
  /** Set when the wanted entry was found and written. */
  extracted?: { sha256: string; bytes: number };
}

/**
 * Reads `tgzPath` and writes the regular file named `wanted` (after dropping the first
 * `stripComponents` path parts, as npm does with `package/`) to `outPath`. Stops early once it is
 * written. Throws `ArchiveError` for corrupt data, unsafe names, or a wanted entry that is a link.
 */
export async function extractTarGzEntry(
  tgzPath: string,
  wanted: string,
  outPath: string,
  where: string,
  options: { stripComponents?: number; maxBytes?: number; maxTotalBytes?: number } = {},
): Promise<TarExtraction> {
  const strip = options.stripComponents ?? 0;
  const maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
  const wantedName = normaliseEntryName(wanted);
  const source = createReadStream(tgzPath, { highWaterMark: 1 << 20 });
  const gunzip = createGunzip();
  source.pipe(gunzip);
  source.on('error', (error) => gunzip.destroy(error));
  const reader = new BlockReader(gunzip[Symbol.asyncIterator](), where, options.maxTotalBytes);
  const names: string[] = [];
  let pendingLongName: string | undefined;
  let pendingPaxPath: string | undefined;
  try {
    for (;;) {
      const header = await reader.readOrEnd(BLOCK);
      if (header === undefined || header.every((byte) => byte === 0)) break;
      const entry = parseHeader(header, where);
      const paddedSize = Math.ceil(entry.size / BLOCK) * BLOCK;

      if (entry.type === 'x' || entry.type === 'L') {
        if (entry.size > MAX_META_RECORD)
          throw new ArchiveError(where, `a ${entry.type} record of ${entry.size} bytes is too large`);
        const body = (await reader.read(paddedSize)).subarray(0, entry.size);
        if (entry.type === 'L') pendingLongName = body.toString('utf8').replace(/\0+$/, '');
        else pendingPaxPath = parsePaxPath(body, where) ?? pendingPaxPath;
        continue;
      }
      const rawName = pendingPaxPath ?? pendingLongName ?? entry.name;
      pendingPaxPath = undefined;
      pendingLongName = undefined;
      if (entry.type === 'g' || entry.type === 'K') {
        await reader.skip(paddedSize);
        continue;
      }
      if (!isSafeEntryName(rawName.replace(/\/+$/, '')))
        throw new ArchiveError(where, `unsafe entry name "${rawName}"`);
      const name = normaliseEntryName(rawName).split('/').slice(strip).join('/');
      const isFile = entry.type === '0' || entry.type === '\0' || entry.type === '7';
      if (name === wantedName && !isFile && entry.type !== '5') {
        throw new ArchiveError(where, `entry ${name} is a link or special file, not a regular file`);
      }
      if (!isFile || name === '') {
        await reader.skip(paddedSize);
        continue;
      }
      names.push(name);
      if (name !== wantedName) {
        await reader.skip(paddedSize);
        continue;
      }
      if (entry.size > maxBytes)
        throw new ArchiveError(where, `entry ${name} is larger than the cap of ${maxBytes} bytes`, { tooLarge: true });
      const extracted = await writeEntry(reader, entry.size, outPath);
      return { names, extracted };
    }
  } catch (error) {
    if (error instanceof ArchiveError) throw error;
    if ((error as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new ArchiveError(where, `not a valid gzip stream: ${(error as Error).message}`);
    }
    throw error;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  return { names };
}

async function writeEntry(
  reader: BlockReader,
  size: number,
  outPath: string,
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  const out = createWriteStream(outPath);
  let remaining = size;
  try {
    while (remaining > 0) {
      const chunk = await reader.readUpTo(remaining);
      remaining -= chunk.length;
      hash.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
    }
  } finally {
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  }
  return { sha256: hash.digest('hex'), bytes: size };
}

interface TarHeader {
  name: string;
  size: number;
  type: string;
}

function parseHeader(block: Buffer, where: string): TarHeader {
  const storedChecksum = readOctal(block, 148, 8, where, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  if (sum !== storedChecksum) throw new ArchiveError(where, 'a tar header fails its checksum');
  const name = cString(block, 0, 100);
  const isUstar = block.toString('latin1', 257, 262) === 'ustar';
  const prefix = isUstar ? cString(block, 345, 155) : '';
  return {
    name: prefix ? `${prefix}/${name}` : name,
    size: readSize(block, where),
    type: String.fromCharCode(block[156] ?? 0),
  };
}

function readSize(block: Buffer, where: string): number {
  // GNU base-256: high bit of the first byte set, then a big-endian number.
  if (((block[124] ?? 0) & 0x80) !== 0) {
    let value = 0n;
    for (let i = 125; i < 136; i++) value = (value << 8n) | BigInt(block[i] ?? 0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ArchiveError(where, 'a tar entry size is out of range');
    return Number(value);
  }
  return readOctal(block, 124, 12, where, 'size');
}

function readOctal(block: Buffer, start: number, length: number, where: string, field: string): number {
  const text = block
    .toString('latin1', start, start + length)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new ArchiveError(where, `a tar header has a bad ${field} field "${text}"`);
  return parseInt(text, 8);
}

function cString(block: Buffer, start: number, length: number): string {
  const end = block.indexOf(0, start);
  return block.toString('utf8', start, end === -1 || end > start + length ? start + length : end);
}

/** Reads the `path` keyword of a pax record set: lines of `<len> <key>=<value>\n`. */
function parsePaxPath(body: Buffer, where: string): string | undefined {
  let at = 0;
  let found: string | undefined;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space === -1) break;
    const length = Number(body.toString('latin1', at, space));
    if (!Number.isSafeInteger(length) || length <= 0 || at + length > body.length) {
      throw new ArchiveError(where, 'a pax header record is malformed');
    }
    const record = body.toString('utf8', space + 1, at + length - 1);
    const equals = record.indexOf('=');
    if (equals > 0 && record.slice(0, equals) === 'path') found = record.slice(equals + 1);
    at += length;
  }
  return found;
}

/** Pulls exact byte counts out of a stream of chunks without copying more than needed. */
class BlockReader {
  private buffered: Buffer[] = [];
  private bufferedLength = 0;
  private ended = false;
  private inflated = 0;
  constructor(
    private readonly chunks: AsyncIterator<unknown>,
    private readonly where: string,
    /** Stop once the gzip stream has inflated to more than this (the size the package lists). */
    private readonly maxTotalBytes = Number.MAX_SAFE_INTEGER,
  ) {}

  private async fill(minimum: number): Promise<void> {
    while (this.bufferedLength < minimum && !this.ended) {
      const next = await this.chunks.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const chunk = next.value as Buffer;
      this.inflated += chunk.length;
      if (this.inflated > this.maxTotalBytes)
        throw new ArchiveError(
          this.where,
          `the tarball inflates past ${this.maxTotalBytes} bytes, more than its listed contents take`,
          { tooLarge: true },
        );
      this.buffered.push(chunk);
      this.bufferedLength += chunk.length;
    }
  }

  private take(length: number): Buffer {
    const all = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedLength);
    const taken = all.subarray(0, length);
    const rest = all.subarray(length);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedLength = rest.length;
    return taken;
  }

  /** Exactly `length` bytes, or undefined at a clean end of stream. */
  async readOrEnd(length: number): Promise<Buffer | undefined> {
    await this.fill(length);
    if (this.bufferedLength === 0 && this.ended) return undefined;
    if (this.bufferedLength < length) throw new ArchiveError(this.where, 'the tarball ends inside a header');
    return this.take(length);
  }

  async read(length: number): Promise<Buffer> {
    await this.fill(length);
    if (this.bufferedLength < length) throw new ArchiveError(this.where, 'the tarball ends inside an entry');
    return this.take(length);
  }

  /** Between 1 and `length` bytes, whatever is at hand, so large entries stream in chunks. */
  async readUpTo(length: number): Promise<Buffer> {
    await this.fill(1);
    if (this.bufferedLength === 0) throw new ArchiveError(this.where, 'the tarball ends inside an entry');
    return this.take(Math.min(length, this.bufferedLength));
  }

  async skip(length: number): Promise<void> {
    let remaining = length;
    while (remaining > 0) remaining -= (await this.readUpTo(remaining)).length;
  }
}
