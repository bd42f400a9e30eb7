import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeNpy,
  encodeNpy,
  float16ToFloat32,
  float32ToFloat16,
  floatToHalfBits,
  halfBitsToFloat,
  NpyFormatError,
  type Dtype,
  type Tensor,
} from '../../src/validate/index.js';

/** A .npy file as numpy writes it, with a header dict given verbatim. */
function npyBytes(header: string, data: Uint8Array, major = 1): Buffer {
  const prefixLength = major === 1 ? 10 : 12;
  const padded = `${header.padEnd(Math.ceil((prefixLength + header.length + 1) / 64) * 64 - prefixLength - 1, ' ')}\n`;
  const prefix = Buffer.alloc(prefixLength);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]).copy(prefix);
  prefix[6] = major;
  if (major === 1) prefix.writeUInt16LE(padded.length, 8);
  else prefix.writeUInt32LE(padded.length, 8);
  return Buffer.concat([prefix, Buffer.from(padded, 'latin1'), data]);
}

describe('npy codec', () => {
  const samples: Tensor[] = [
    { dtype: 'float32', dims: [2, 3], data: new Float32Array([1, -2, 3.5, NaN, Infinity, 0]) },
    { dtype: 'float16', dims: [2], data: float32ToFloat16([1, -0.5]) },
    { dtype: 'int64', dims: [3], data: new BigInt64Array([1n, -2n, 9007199254740993n]) },
    { dtype: 'int32', dims: [1, 1, 2], data: new Int32Array([-5, 7]) },
    { dtype: 'int16', dims: [2], data: new Int16Array([-32768, 32767]) },
    { dtype: 'int8', dims: [2], data: new Int8Array([-128, 127]) },
    { dtype: 'uint8', dims: [4], data: new Uint8Array([0, 1, 254, 255]) },
    { dtype: 'bool', dims: [2], data: new Uint8Array([1, 0]) },
    { dtype: 'float32', dims: [], data: new Float32Array([42]) },
    { dtype: 'float32', dims: [0, 3], data: new Float32Array(0) },
  ];
  for (const tensor of samples) {
    test(`round-trips ${tensor.dtype} [${tensor.dims.join(',')}]`, () => {
      const bytes = encodeNpy(tensor);
      assert.equal((bytes.readUInt16LE(8) + 10) % 64, 0, 'data starts 64-byte aligned as numpy writes it');
      const back = decodeNpy(bytes);
      assert.equal(back.dtype, tensor.dtype);
      assert.deepEqual(back.dims, tensor.dims);
      assert.deepEqual([...back.data], [...tensor.data]);
    });
  }

  test('reads a version 2.0 header and a big-endian array', () => {
    const data = Buffer.alloc(8);
    data.writeInt32BE(-7, 0);
    data.writeInt32BE(300, 4);
    const tensor = decodeNpy(npyBytes("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", data, 2));
    assert.equal(tensor.dtype, 'int32');
    assert.deepEqual([...tensor.data], [-7, 300]);
  });

  test('writes the header numpy writes', () => {
    const bytes = encodeNpy({ dtype: 'float32', dims: [1, 3], data: new Float32Array(3) });
    assert.equal(
      bytes.subarray(10, 128).toString('latin1').trimEnd(),
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }",
    );
    assert.equal(bytes[127], 0x0a, 'the header ends with a newline');
    const oneDim = encodeNpy({ dtype: 'uint8', dims: [5], data: new Uint8Array(5) });
    assert.equal(
      oneDim
        .subarray(10, 10 + oneDim.readUInt16LE(8))
        .toString('latin1')
        .trimEnd(),
      "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }",
    );
  });

  const refusals: Array<[string, Buffer, string]> = [
    [
      'a Fortran-ordered array',
      npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", Buffer.alloc(4)),
      'x.npy: not a usable .npy file: Fortran-ordered arrays are not supported; save numpy.ascontiguousarray(a)',
    ],
    [
      'a pickled object array',
      npyBytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", Buffer.alloc(8)),
      "x.npy: not a usable .npy file: object arrays (pickles) are refused (dtype '|O')",
    ],
    [
      'float64',
      npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", Buffer.alloc(8)),
      "x.npy: not a usable .npy file: dtype '<f8' is not supported (float32, float16, int64, int32, int16, int8, uint8, bool are)",
    ],
    [
      'a structured dtype',
      npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", Buffer.alloc(4)),
      'x.npy: not a usable .npy file: structured (record) dtypes are not supported',
    ],
    [
      'a truncated data section',
      npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", Buffer.alloc(12)),
      'x.npy: not a usable .npy file: shape (2, 2) of <f4 needs 16 data bytes, the file has 12',
    ],
    [
      'a shape far larger than the file',
      npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", Buffer.alloc(4)),
      'x.npy: not a usable .npy file: shape (4294967296, 4294967296) of <f4 needs 73786976294838210000 data bytes, the file has 4',
    ],
    [
      'a header longer than the file',
      Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0xff, 0xff]), Buffer.alloc(10)]),
      'x.npy: not a usable .npy file: header of 65535 bytes runs past the end of the file',
    ],
    [
      'something else',
      Buffer.from('PK\x03\x04 not numpy at all'),
      'x.npy: not a usable .npy file: missing the \\x93NUMPY magic',
    ],
  ];
  for (const [what, bytes, message] of refusals) {
    test(`refuses ${what}`, () => {
      assert.throws(
        () => decodeNpy(bytes, 'x.npy'),
        (error: unknown) => {
          assert.ok(error instanceof NpyFormatError);
          assert.equal(error.code, 'NPY_INVALID');
          assert.equal(error.message, message);
          return true;
        },
      );
    });
  }
});

describe('float16 codec', () => {
  const known: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.333251953125, 0x3555],
    [65504, 0x7bff], // largest half
    [65519.99, 0x7bff], // rounds down below the halfway point
    [65520, 0x7c00], // halfway to the next binade rounds to even = Inf
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie rounds to even (0)
    [3 * 2 ** -25, 0x0002], // tie rounds to even (2)
    [2 ** -14, 0x0400], // smallest normal
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10 rounds to even
    [1 + 3 * 2 ** -11, 0x3c02],
  ];
  for (const [value, bits] of known) {
    test(`${value} <-> 0x${bits.toString(16).padStart(4, '0')}`, () => {
      assert.equal(floatToHalfBits(value), bits);
    });
  }

  test('NaN stays NaN both ways', () => {
    const bits = floatToHalfBits(NaN);
    assert.equal(bits & 0x7c00, 0x7c00);
    assert.notEqual(bits & 0x3ff, 0);
    assert.ok(Number.isNaN(halfBitsToFloat(bits)));
  });

  test('every one of the 65536 half values decodes and re-encodes to itself', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const floats = float16ToFloat32(all);
    const again = float32ToFloat16(floats);
    for (let i = 0; i < 65536; i++) {
      const isHalfNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (isHalfNaN) assert.ok(Number.isNaN(floats[i]!));
      else assert.equal(again[i], i, `0x${i.toString(16)}`);
    }
  });
});

// Type-level check that every dtype the codec claims is listed.
const _dtypes: Dtype[] = ['float32', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];
void _dtypes;
