/** sha256 of bytes and files: the one hashing helper of edgezoo (recipes pin lower-case hex). */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Lower-case hex sha256, the form recipes pin. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Lower-case hex sha256 of bytes or of a string's UTF-8 encoding. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Lower-case hex sha256 of a file's bytes, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await hashFileInto(hash, file);
  return hash.digest('hex');
}

/** The sha256 of a file and its size in bytes, from one read (what a fetched file is checked against). */
export async function sha256FileWithSize(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  const bytes = await hashFileInto(hash, file);
  return { sha256: hash.digest('hex'), bytes };
}

/** Feeds a file's bytes into a running hash and returns how many there were (resuming a download's hash). */
export async function hashFileInto(hash: Hash, file: string): Promise<number> {
  let bytes = 0;
  // 1 MiB reads: fewer syscalls than the 64 KiB default, measurably faster on large models.
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return bytes;
}
