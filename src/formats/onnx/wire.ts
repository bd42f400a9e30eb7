/**
 * The protobuf wire layer for ONNX: the only file that imports protobufjs. The generated schema
 * code (onnx-proto.generated.ts) reads and writes through these two small classes, which add
 * what a decoder of untrusted files needs on top of protobufjs: a nesting limit, length checks
 * against the enclosing message (not only the file), wire-type checks, and exact 64-bit integers.
 */
import protobuf from 'protobufjs/minimal.js';
import { OnnxFormatError } from './errors.js';

/** A 64-bit integer: a number when it is a safe integer, else a bigint (e.g. INT64_MAX in Slice). */
export type Int64 = number | bigint;

/** protobuf's C++ default; real ONNX models nest a few levels (subgraphs of If/Loop). */
export const MAX_NESTING_DEPTH = 100;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** Reads one protobuf message tree from a byte buffer; byte fields are views of that buffer. */
export class ProtoReader {
  private readonly reader: protobuf.Reader;
  private depth = 0;

  constructor(bytes: Uint8Array) {
    this.reader = protobuf.Reader.create(bytes);
  }

  /** True while the current message has bytes left. */
  more(): boolean {
    return this.reader.pos < this.reader.len;
  }

  get pos(): number {
    return this.reader.pos;
  }

  /** Reads a field key and checks it: field number above 0, a wire type ONNX can use. */
  tag(messageName: string): number {
    const at = this.reader.pos;
    const key = this.reader.uint32();
    const fieldNumber = key >>> 3;
    const wireType = key & 7;
    if (fieldNumber === 0) {
      throw new OnnxFormatError('ONNX_CORRUPT', `corrupt ONNX data: field number 0 in ${messageName} at byte ${at}`, {
        offset: at,
      });
    }
    if (
      wireType !== WIRE_VARINT &&
      wireType !== WIRE_FIXED64 &&
      wireType !== WIRE_LENGTH_DELIMITED &&
      wireType !== WIRE_FIXED32
    ) {
      // Groups (3, 4) are deprecated and unused by ONNX; 6 and 7 do not exist.
      throw new OnnxFormatError(
        'ONNX_CORRUPT',
        `corrupt ONNX data: wire type ${wireType} in ${messageName} at byte ${at}`,
        { offset: at },
      );
    }
    return key;
  }

  /** Skips a field this schema does not know; a known field with the wrong wire type is an error. */
  skipField(key: number, messageName: string, knownFields: Readonly<Record<number, string>>): void {
    const fieldNumber = key >>> 3;
    const wireType = key & 7;
    const known = knownFields[fieldNumber];
    if (known !== undefined) {
      throw new OnnxFormatError(
        'ONNX_CORRUPT',
        `corrupt ONNX data: ${messageName}.${known} (field ${fieldNumber}) has wire type ${wireType} at byte ${this.reader.pos}`,
        { offset: this.reader.pos },
      );
    }
    switch (wireType) {
      case WIRE_VARINT:
        this.reader.skip();
        break;
      case WIRE_FIXED64:
        this.reader.skip(8);
        break;
      case WIRE_LENGTH_DELIMITED:
        this.reader.skip(this.length());
        break;
      default:
        this.reader.skip(4);
        break;
    }
  }

  /** Reads a length prefix and checks it fits in the current message. */
  private length(): number {
    const at = this.reader.pos;
    const length = this.reader.uint32();
    if (length > this.reader.len - this.reader.pos) {
      throw new OnnxFormatError(
        'ONNX_TRUNCATED',
        `ONNX data is truncated or corrupt: a field at byte ${at} declares ${length} bytes but only ${this.reader.len - this.reader.pos} remain`,
        { offset: at },
      );
    }
    return length;
  }

  /** Decodes a nested message, limiting reads to its declared length and the nesting depth. */
  message<T>(decode: (reader: ProtoReader) => T): T {
    const length = this.length();
    if (this.depth >= MAX_NESTING_DEPTH) {
      throw new OnnxFormatError(
        'ONNX_TOO_DEEP',
        `ONNX data nests messages deeper than ${MAX_NESTING_DEPTH} levels at byte ${this.reader.pos}`,
        {
          offset: this.reader.pos,
        },
      );
    }
    const end = this.reader.pos + length;
    const outerEnd = this.reader.len;
    this.reader.len = end;
    this.depth++;
    const value = decode(this);
    this.depth--;
    this.reader.len = outerEnd;
    return value;
  }

  /** Starts a packed repeated field; returns where it ends. */
  beginPacked(elementSize?: number): number {
    const at = this.reader.pos;
    const length = this.length();
    if (elementSize !== undefined && length % elementSize !== 0) {
      throw new OnnxFormatError(
        'ONNX_CORRUPT',
        `corrupt ONNX data: packed field at byte ${at} has ${length} bytes, not a multiple of ${elementSize}`,
        {
          offset: at,
        },
      );
    }
    return this.reader.pos + length;
  }

  /** Checks a packed varint field ended exactly at its declared end. */
  endPacked(end: number): void {
    if (this.reader.pos !== end) {
      throw new OnnxFormatError(
        'ONNX_CORRUPT',
        `corrupt ONNX data: a packed field overruns its length at byte ${end}`,
        { offset: end },
      );
    }
  }

  int32(): number {
    return this.reader.int32();
  }

  bool(): boolean {
    return this.reader.bool();
  }

  float(): number {
    return this.reader.float();
  }

  double(): number {
    return this.reader.double();
  }

  string(): string {
    return this.reader.string();
  }

  /** A view of the input buffer, never a copy: tensors' raw_data stay where the file was read. */
  bytes(): Uint8Array {
    return this.reader.bytes();
  }

  int64(): Int64 {
    return this.varint64(true);
  }

  uint64(): Int64 {
    return this.varint64(false);
  }

  /** An int64 the schema treats as a count or a dim: it must be a safe integer. */
  int64Number(field: string): number {
    const at = this.reader.pos;
    const value = this.varint64(true);
    if (typeof value !== 'number') {
      throw new OnnxFormatError(
        'ONNX_CORRUPT',
        `corrupt ONNX data: ${field} is ${value}, out of range, at byte ${at}`,
        { offset: at },
      );
    }
    return value;
  }

  /** Reads a varint of up to 10 bytes exactly (protobufjs would need long.js for that). */
  private varint64(signed: boolean): Int64 {
    const buf = this.reader.buf;
    const end = this.reader.len;
    let pos = this.reader.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) {
        throw new OnnxFormatError(
          'ONNX_TRUNCATED',
          `ONNX data is truncated or corrupt: a varint runs past its message at byte ${this.reader.pos}`,
          {
            offset: this.reader.pos,
          },
        );
      }
      const byte = buf[pos++]!;
      if (i < 4) lo |= (byte & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (byte & 0x7f) << 28;
        hi |= (byte & 0x7f) >>> 4;
      } else hi |= (byte & 0x7f) << (7 * i - 32);
      if (byte < 0x80) {
        this.reader.pos = pos;
        const high = signed ? hi | 0 : hi >>> 0;
        const value = high * 4294967296 + (lo >>> 0);
        if (Number.isSafeInteger(value)) return value;
        const big = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
        return signed ? BigInt.asIntN(64, big) : big;
      }
    }
    throw new OnnxFormatError(
      'ONNX_CORRUPT',
      `corrupt ONNX data: a varint is longer than 10 bytes at byte ${this.reader.pos}`,
      {
        offset: this.reader.pos,
      },
    );
  }
}

/** Decodes a whole buffer with a generated top-level decoder, turning every failure into OnnxFormatError. */
export function decodeTopLevel<T>(bytes: Uint8Array, decode: (reader: ProtoReader) => T): T {
  const reader = new ProtoReader(bytes);
  try {
    return decode(reader);
  } catch (error) {
    if (error instanceof OnnxFormatError) throw error;
    // protobufjs reports bounds and varint problems as plain Errors.
    if (error instanceof RangeError && /index out of range/.test(error.message)) {
      throw new OnnxFormatError(
        'ONNX_TRUNCATED',
        `ONNX data is truncated or corrupt: a field runs past its message near byte ${reader.pos}`,
        {
          offset: reader.pos,
          cause: error,
        },
      );
    }
    if (error instanceof Error && /invalid varint/.test(error.message)) {
      throw new OnnxFormatError('ONNX_CORRUPT', `corrupt ONNX data: invalid varint near byte ${reader.pos}`, {
        offset: reader.pos,
        cause: error,
      });
    }
    throw error;
  }
}

function toLongBits(value: Int64): number | { low: number; high: number } {
  if (typeof value === 'number') return value;
  const bits = BigInt.asUintN(64, value);
  return { low: Number(bits & 0xffffffffn) | 0, high: Number(bits >> 32n) | 0 };
}

/** Writes one protobuf message tree; `finish` copies every byte field once into the result. */
export class ProtoWriter {
  private readonly writer = protobuf.Writer.create();

  tag(fieldNumber: number, wireType: number): void {
    this.writer.uint32(((fieldNumber << 3) | wireType) >>> 0);
  }

  int32(value: number): void {
    this.writer.int32(value);
  }

  int64(value: Int64): void {
    this.writer.int64(toLongBits(value) as number);
  }

  uint64(value: Int64): void {
    this.writer.uint64(toLongBits(value) as number);
  }

  bool(value: boolean): void {
    this.writer.bool(value);
  }

  float(value: number): void {
    this.writer.float(value);
  }

  double(value: number): void {
    this.writer.double(value);
  }

  string(value: string): void {
    this.writer.string(value);
  }

  bytes(value: Uint8Array): void {
    this.writer.bytes(value);
  }

  /** Writes a length-delimited sub-message or packed field. */
  delimited(write: () => void): void {
    this.writer.fork();
    write();
    this.writer.ldelim();
  }

  /** Bytes written so far at the top level (valid between top-level fields). */
  get length(): number {
    return this.writer.len;
  }

  finish(): Uint8Array {
    return this.writer.finish();
  }
}

export const WireType = {
  VARINT: WIRE_VARINT,
  FIXED64: WIRE_FIXED64,
  LENGTH_DELIMITED: WIRE_LENGTH_DELIMITED,
  FIXED32: WIRE_FIXED32,
} as const;
