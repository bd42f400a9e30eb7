import { readFile, writeFile } from 'node:fs/promises';
import { NpyFormatError } from './errors.js';
import { allocate, DTYPE_BYTES, type Dtype, type Tensor } from './tensor.js';

/**
 * The .npy format (numpy.lib.format), versions 1.0, 2.0 and 3.0, for plain numeric C-ordered
 * arrays. Everything read is bounds-checked against the file's size before anything is
 * allocated; object arrays (which numpy stores as pickles), structured dtypes and Fortran
 * order are refused rather than guessed at.
 */

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** numpy type character + size -> our dtype. */
const DESCR_TO_DTYPE: Readonly<Record<string, Dtype>> = {
  f4: 'float32',
  f2: 'float16',
  i8: 'int64',
  i4: 'int32',
  i2: 'int16',
  i1: 'int8',
  u1: 'uint8',
  b1: 'bool',
};

const DTYPE_TO_DESCR: Readonly<Record<Dtype, string>> = {
  float32: '<f4',
  float16: '<f2',
  int64: '<i8',
  int32: '<i4',
  int16: '<i2',
  int8: '|i1',
  uint8: '|u1',
  bool: '|b1',
};

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/**
 * Parses the header dict, a Python literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }`. Only this fixed form is
 * accepted: numpy always writes exactly these three keys.
 */
function parseHeader(text: string, file: string): NpyHeader {
  const fail = (problem: string): never => {
    throw new NpyFormatError(file, problem);
  };
  const descrList = /'descr'\s*:\s*\[/.test(text);
  if (descrList) fail('structured (record) dtypes are not supported');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1] ?? fail(`header has no 'descr': ${text.trim()}`);
  const fortran =
    /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1] ?? fail(`header has no 'fortran_order': ${text.trim()}`);
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1] ?? fail(`header has no 'shape': ${text.trim()}`);
  const shape = shapeText
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      // numpy may write 3L on Python 2-era files.
      const digits = part.replace(/L$/, '');
      if (!/^\d+$/.test(digits)) fail(`shape entry '${part}' is not a non-negative integer`);
      return Number(digits);
    });
  return { descr, fortranOrder: fortran === 'True', shape };
}

/** Decodes a .npy file's bytes. `file` names it in error messages. */
export function decodeNpy(bytes: Uint8Array, file = '<buffer>'): Tensor {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < 10 || !buffer.subarray(0, 6).equals(MAGIC))
    throw new NpyFormatError(file, 'missing the \\x93NUMPY magic');
  const major = buffer[6]!;
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = buffer.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buffer.length < 12) throw new NpyFormatError(file, 'truncated header');
    headerLength = buffer.readUInt32LE(8);
    headerStart = 12;
  } else {
    throw new NpyFormatError(file, `format version ${major}.${buffer[7]} is not supported (1.0, 2.0 and 3.0 are)`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > buffer.length)
    throw new NpyFormatError(file, `header of ${headerLength} bytes runs past the end of the file`);
  const header = parseHeader(buffer.toString(major === 3 ? 'utf8' : 'latin1', headerStart, dataStart), file);

  if (header.fortranOrder)
    throw new NpyFormatError(file, 'Fortran-ordered arrays are not supported; save numpy.ascontiguousarray(a)');
  const match = /^([<>=|])([a-zA-Z])(\d+)$/.exec(header.descr);
  if (header.descr.includes('O'))
    throw new NpyFormatError(file, `object arrays (pickles) are refused (dtype '${header.descr}')`);
  const dtype = match ? DESCR_TO_DTYPE[`${match[2]}${match[3]}`] : undefined;
  if (!match || dtype === undefined) {
    throw new NpyFormatError(
      file,
      `dtype '${header.descr}' is not supported (float32, float16, int64, int32, int16, int8, uint8, bool are)`,
    );
  }
  const bigEndian = match[1] === '>';

  const bytesPerElement = DTYPE_BYTES[dtype];
  const available = buffer.length - dataStart;
  // Multiply in floating point so a hostile shape cannot overflow into a small count.
  let count = 1;
  for (const dim of header.shape) count *= dim;
  if (count * bytesPerElement !== available) {
    throw new NpyFormatError(
      file,
      `shape (${header.shape.join(', ')}) of ${header.descr} needs ${count * bytesPerElement} data bytes, the file has ${available}`,
    );
  }
  const data = allocate(dtype, count);
  const target = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  target.set(buffer.subarray(dataStart));
  if (bigEndian && bytesPerElement > 1) swapBytes(target, bytesPerElement);
  return { dtype, dims: header.shape, data };
}

function swapBytes(bytes: Uint8Array, width: number): void {
  for (let offset = 0; offset < bytes.length; offset += width) {
    for (let i = 0, j = width - 1; i < j; i++, j--) {
      const t = bytes[offset + i]!;
      bytes[offset + i] = bytes[offset + j]!;
      bytes[offset + j] = t;
    }
  }
}

/** Encodes a tensor as .npy (version 1.0 unless the header needs 2.0), little-endian, C order. */
export function encodeNpy(tensor: Tensor): Buffer {
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  const dict = `{'descr': '${DTYPE_TO_DESCR[tensor.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // numpy pads the header with spaces and a newline so the data starts 64-byte aligned.
  let prefixLength = 10;
  let major = 1;
  if (dict.length + 1 + prefixLength > 0xffff) {
    prefixLength = 12;
    major = 2;
  }
  const total = Math.ceil((prefixLength + dict.length + 1) / 64) * 64;
  const headerText = `${dict.padEnd(total - prefixLength - 1, ' ')}\n`;
  const prefix = Buffer.alloc(prefixLength);
  MAGIC.copy(prefix, 0);
  prefix[6] = major;
  prefix[7] = 0;
  if (major === 1) prefix.writeUInt16LE(headerText.length, 8);
  else prefix.writeUInt32LE(headerText.length, 8);
  const data = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  return Buffer.concat([prefix, Buffer.from(headerText, 'latin1'), data]);
}

/** Reads and decodes a .npy file. */
export async function readNpy(file: string): Promise<Tensor> {
  return decodeNpy(await readFile(file), file);
}

/** Encodes and writes a .npy file. */
export async function writeNpy(file: string, tensor: Tensor): Promise<void> {
  await writeFile(file, encodeNpy(tensor));
}
