import { open, stat } from 'node:fs/promises';
import { TfliteFormatError } from './errors.js';
import { readTflite, type TfliteModel } from './reader.js';

/** Flatbuffers address at most 2 GiB; a bigger model keeps only buffer data past that. */
export const MAX_FLATBUFFER_BYTES = 2 ** 31 - 1;
/** First read of a file over 2 GiB: its flatbuffer part is usually small, its data lies past it. */
const FIRST_HEAD_BYTES = 64 * 2 ** 20;

/** A model file's leading bytes (all of it up to 2 GiB), its size, and the model read from them. */
export interface TfliteFileHead {
  readonly bytes: Uint8Array;
  readonly fileSize: number;
  readonly model: TfliteModel;
}

async function readPrefix(path: string, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  const handle = await open(path, 'r');
  try {
    let read = 0;
    while (read < length) {
      const { bytesRead } = await handle.read(bytes, read, length - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return bytes.subarray(0, read);
  } finally {
    await handle.close();
  }
}

/**
 * Reads the TFLite model in `path`. Files up to 2 GiB are read whole. Bigger ones (flatbuffer
 * plus buffers stored past it) are read from a 64 MiB head, grown fourfold up to 2 GiB while the
 * flatbuffer reaches past it, so their weights are located but never loaded.
 * Errors name the file.
 */
export async function readTfliteFile(path: string): Promise<TfliteFileHead> {
  const fileSize = (await stat(path)).size;
  const limit = Math.min(fileSize, MAX_FLATBUFFER_BYTES);
  let length = fileSize > MAX_FLATBUFFER_BYTES ? FIRST_HEAD_BYTES : limit;
  for (;;) {
    const bytes = await readPrefix(path, length);
    try {
      return { bytes, fileSize, model: readTflite(bytes, { fileSize }) };
    } catch (error) {
      if (!(error instanceof TfliteFormatError)) throw error;
      if (length < limit) {
        length = Math.min(limit, length * 4);
        continue;
      }
      const hint = 'the file may be truncated or not a TFLite model: download or convert it again';
      const options =
        error.byteOffset === undefined ? { cause: error, hint } : { cause: error, hint, byteOffset: error.byteOffset };
      throw new TfliteFormatError(`${path}: ${error.message}`, options);
    }
  }
}
