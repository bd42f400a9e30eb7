/**
 * The one file that imports the `flatbuffers` runtime. It wraps `ByteBuffer` in reads that check
 * every offset and length before trusting it, so a crafted file ends in a TfliteFormatError and
 * never in a crash, a hang or an allocation sized by the attacker. The runtime itself does no
 * bounds checks (it reads `undefined` past the end as 0).
 */
import * as flatbuffers from 'flatbuffers';
import { TfliteFormatError } from './errors.js';
import type { FieldKind, FieldSchema } from './schema.generated.js';

/** Builder for writing flatbuffers (used by the fixture writer); re-exported so no other file imports the runtime. */
export const FlatBufferBuilder = flatbuffers.Builder;
/** The builder's instance type. */
export type FlatBufferBuilder = flatbuffers.Builder;

const kindSize: Record<FieldKind, number> = {
  bool: 1,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  float32: 4,
  float64: 8,
  offset: 4,
};

/** Byte size of one value of a field kind. */
export function sizeOfKind(kind: FieldKind): number {
  return kindSize[kind];
}

/** Scalar element kinds a vector can hold. */
export type ScalarKind = Exclude<FieldKind, 'offset'>;

/** Where a byte vector lies in the file, without copying it. */
export interface ByteRange {
  /** Absolute offset of the first element (after the length prefix). */
  readonly offset: number;
  readonly length: number;
}

/** Limits that keep a hostile file from costing unbounded time. */
export interface ReadLimits {
  /**
   * Most vector elements and tables decoded in total. Needed although each vector is bounded
   * by the file size, because many tables may point at the same long vector.
   */
  readonly maxElements?: number;
  /**
   * When given, every byte range the reader interprets (tables, vtables, vectors, strings) is
   * appended as [start, end). The metadata writer uses it to prove that the absolute offsets it
   * rewrites are not also read as something else, which only a crafted file could arrange.
   */
  readonly recordRanges?: Array<[number, number]>;
}

/**
 * A bounds-checked view of one flatbuffer. `length` is the extent reads may touch; positions
 * are absolute byte offsets into `bytes`.
 */
export class CheckedFlatBuffer {
  readonly length: number;
  private readonly bb: flatbuffers.ByteBuffer;
  private elementsLeft: number;
  private readonly ranges: Array<[number, number]> | undefined;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(
    readonly bytes: Uint8Array,
    limits: ReadLimits = {},
  ) {
    this.length = bytes.length;
    this.bb = new flatbuffers.ByteBuffer(bytes);
    this.elementsLeft = limits.maxElements ?? 2 * bytes.length + 1_000_000;
    this.ranges = limits.recordRanges;
  }

  /** Throws unless [position, position+size) lies inside the buffer. */
  require(position: number, size: number, what: string): void {
    if (!Number.isSafeInteger(position) || position < 0 || size < 0 || position + size > this.length) {
      throw new TfliteFormatError(
        `invalid TFLite model: ${what} at byte ${position} (${size} bytes) runs past the end of the model (${this.length} bytes)`,
        { byteOffset: position },
      );
    }
  }

  /** Charges `count` decoded elements against the budget. */
  spend(count: number, position: number): void {
    this.elementsLeft -= count;
    if (this.elementsLeft < 0) {
      throw new TfliteFormatError(
        'invalid TFLite model: too many elements to decode (tables share vectors in a way no converter writes)',
        {
          byteOffset: position,
        },
      );
    }
  }

  uint8(position: number): number {
    this.require(position, 1, 'a byte');
    return this.bb.readUint8(position);
  }

  uint16(position: number): number {
    this.require(position, 2, 'a uint16');
    return this.bb.readUint16(position);
  }

  int32(position: number): number {
    this.require(position, 4, 'an int32');
    return this.bb.readInt32(position);
  }

  uint32(position: number): number {
    this.require(position, 4, 'a uint32');
    return this.bb.readUint32(position);
  }

  /** Reads one scalar of `kind`; 64-bit integers come back as bigint. */
  scalar(position: number, kind: ScalarKind): number | bigint {
    this.require(position, kindSize[kind], `a ${kind}`);
    switch (kind) {
      case 'bool':
        return this.bb.readUint8(position) === 0 ? 0 : 1;
      case 'int8':
        return this.bb.readInt8(position);
      case 'uint8':
        return this.bb.readUint8(position);
      case 'int16':
        return this.bb.readInt16(position);
      case 'uint16':
        return this.bb.readUint16(position);
      case 'int32':
        return this.bb.readInt32(position);
      case 'uint32':
        return this.bb.readUint32(position);
      case 'int64':
        return this.bb.readInt64(position);
      case 'uint64':
        return this.bb.readUint64(position);
      case 'float32':
        return this.bb.readFloat32(position);
      case 'float64':
        return this.bb.readFloat64(position);
    }
  }

  /** Follows the uoffset stored at `position` and returns the absolute target. */
  follow(position: number, what: string): number {
    const target = position + this.uint32(position);
    if (target >= this.length) {
      throw new TfliteFormatError(
        `invalid TFLite model: ${what} offset at byte ${position} points past the end of the model`,
        {
          byteOffset: position,
        },
      );
    }
    return target;
  }

  /** The root table named by the uoffset at byte 0. */
  root(): CheckedTable {
    this.require(0, 8, 'the file header');
    return this.tableAt(this.follow(0, 'root table'), 'root table');
  }

  /** The 4-byte file identifier after the root offset ("TFL3" for TFLite). */
  fileIdentifier(): string {
    this.require(4, 4, 'the file identifier');
    return String.fromCharCode(...this.bytes.subarray(4, 8));
  }

  tableAt(position: number, what: string): CheckedTable {
    this.spend(1, position);
    this.require(position, 4, what);
    const vtable = position - this.int32(position);
    this.require(vtable, 4, `${what} vtable`);
    const vtableSize = this.uint16(vtable);
    const tableSize = this.uint16(vtable + 2);
    if (vtableSize < 4 || vtableSize % 2 !== 0 || tableSize < 4) {
      throw new TfliteFormatError(`invalid TFLite model: ${what} at byte ${position} has a malformed vtable`, {
        byteOffset: vtable,
      });
    }
    this.require(vtable, vtableSize, `${what} vtable`);
    this.require(position, tableSize, what);
    this.ranges?.push([vtable, vtable + vtableSize], [position, position + tableSize]);
    return new CheckedTable(this, position, vtable, vtableSize, what);
  }

  /** Length and element start of the vector whose uoffset is stored at `position`. */
  vectorAt(position: number, elementSize: number, what: string): { start: number; count: number } {
    const vector = this.follow(position, what);
    const count = this.uint32(vector);
    const start = vector + 4;
    if (count * elementSize > this.length - start) {
      throw new TfliteFormatError(
        `invalid TFLite model: ${what} at byte ${vector} claims ${count} elements, more than the model holds`,
        { byteOffset: vector },
      );
    }
    this.ranges?.push([vector, start + count * elementSize]);
    return { start, count };
  }

  decodeUtf8(start: number, length: number): string {
    return this.decoder.decode(this.bytes.subarray(start, start + length));
  }
}

/** One table, its vtable already checked. Field reads return the schema default when absent. */
export class CheckedTable {
  constructor(
    readonly buffer: CheckedFlatBuffer,
    /** Absolute position of the table (where its soffset to the vtable is). */
    readonly position: number,
    readonly vtablePosition: number,
    readonly vtableSize: number,
    readonly what: string,
  ) {}

  /** Number of slots the vtable describes (present or not). */
  get slotCount(): number {
    return (this.vtableSize - 4) / 2;
  }

  /** The relative offset of `slot` within the table, or 0 when the field is absent. */
  slotOffset(slot: number): number {
    if (slot >= this.slotCount) return 0;
    return this.buffer.uint16(this.vtablePosition + 4 + 2 * slot);
  }

  /** Absolute position of a present field, checked to fit; undefined when absent. */
  fieldPosition(field: FieldSchema): number | undefined {
    const offset = this.slotOffset(field.slot);
    if (offset === 0) return undefined;
    const position = this.position + offset;
    this.buffer.require(position, kindSize[field.kind], `${this.what} field ${field.slot}`);
    return position;
  }

  /** A scalar field as a number (64-bit values must fit a safe integer). */
  number(field: FieldSchema): number {
    const value = this.bigOrNumber(field);
    if (typeof value === 'bigint') {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new TfliteFormatError(
          `invalid TFLite model: ${this.what} field ${field.slot} holds ${value}, too large to be a position or size`,
          {
            byteOffset: this.position,
          },
        );
      }
      return Number(value);
    }
    return value;
  }

  private bigOrNumber(field: FieldSchema): number | bigint {
    if (field.kind === 'offset') throw new Error(`field ${field.slot} of ${this.what} is not a scalar`);
    const position = this.fieldPosition(field);
    return position === undefined ? field.defaultValue : this.buffer.scalar(position, field.kind);
  }

  table(field: FieldSchema, what: string): CheckedTable | undefined {
    const position = this.fieldPosition(field);
    return position === undefined ? undefined : this.buffer.tableAt(this.buffer.follow(position, what), what);
  }

  string(field: FieldSchema, what: string): string | undefined {
    const position = this.fieldPosition(field);
    if (position === undefined) return undefined;
    const { start, count } = this.buffer.vectorAt(position, 1, what);
    this.buffer.spend(count, start);
    return this.buffer.decodeUtf8(start, count);
  }

  /** A vector of tables; each element's uoffset is checked as it is followed. */
  tables(field: FieldSchema, what: string): CheckedTable[] {
    const position = this.fieldPosition(field);
    if (position === undefined) return [];
    const { start, count } = this.buffer.vectorAt(position, 4, what);
    this.buffer.spend(count, start);
    const result: CheckedTable[] = [];
    for (let i = 0; i < count; i++) {
      const element = start + 4 * i;
      result.push(this.buffer.tableAt(this.buffer.follow(element, `${what}[${i}]`), `${what}[${i}]`));
    }
    return result;
  }

  /** A vector of scalars as numbers; 64-bit elements must fit a safe integer. */
  numbers(field: FieldSchema, element: ScalarKind, what: string): number[] | undefined {
    const position = this.fieldPosition(field);
    if (position === undefined) return undefined;
    const size = kindSize[element];
    const { start, count } = this.buffer.vectorAt(position, size, what);
    this.buffer.spend(count, start);
    const result = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      const value = this.buffer.scalar(start + size * i, element);
      if (typeof value === 'bigint') {
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw new TfliteFormatError(`invalid TFLite model: ${what}[${i}] holds ${value}, out of range`, {
            byteOffset: start + size * i,
          });
        }
        result[i] = Number(value);
      } else {
        result[i] = value;
      }
    }
    return result;
  }

  /** Where a byte vector lies, without decoding it. */
  byteRange(field: FieldSchema, what: string): ByteRange | undefined {
    const position = this.fieldPosition(field);
    if (position === undefined) return undefined;
    const { start, count } = this.buffer.vectorAt(position, 1, what);
    return { offset: start, length: count };
  }
}
