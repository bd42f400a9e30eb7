/**
 * Adds or replaces one metadata entry (name -> bytes) in a TFLite model without re-serialising it.
 *
 * Why not rebuild the flatbuffer: re-writing every table would need a faithful copy of every
 * builtin-options union and of fields newer than our schema. Instead the original file is kept
 * byte for byte and a small prefix is placed in front of it holding a new root Model table, new
 * `buffers` and `metadata` vectors, and the new entry. Flatbuffer offsets are relative and point
 * forward, so the new root can point into the original tables behind it, and the original tables'
 * offsets among themselves stay valid as long as the whole block moves by a multiple of the
 * largest alignment it relies on (16 for buffer data; we shift by 64).
 *
 * Offsets that are absolute file positions (Buffer.offset for data stored past the flatbuffer,
 * Operator.large_custom_options_offset) are patched in place by the shift.
 *
 * Cost: the old metadata bytes of a replaced entry and the old root stay in the file as dead
 * bytes (a few hundred bytes plus the old entry); output is deterministic for the same input.
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { TfliteFormatError, TfliteUnsupportedError } from './errors.js';
import { readTfliteFile } from './file.js';
import { CheckedFlatBuffer, type CheckedTable } from './flatbuffers.js';
import { readTflite, TFLITE_FILE_IDENTIFIER } from './reader.js';
import { tables, type FieldSchema } from './schema.generated.js';

/** How the original file moves: a multiple of every alignment inside it (buffer data needs 16). */
const SHIFT_ALIGNMENT = 64;

/** What to put in front of the original file and which absolute offsets inside it to rewrite. */
export interface MetadataWritePlan {
  readonly prefix: Uint8Array;
  /** Positions in the original file whose uint64 value must be replaced. */
  readonly patches: ReadonlyArray<{ readonly position: number; readonly value: bigint }>;
  /** Buffer index that now holds the entry's bytes. */
  readonly bufferIndex: number;
}

type Ref =
  | { readonly in: 'original'; readonly position: number }
  | { readonly in: 'prefix'; readonly position: number };

const F = {
  model: tables.Model.fields,
  buffer: tables.Buffer.fields,
  metadata: tables.Metadata.fields,
  subgraph: tables.SubGraph.fields,
  op: tables.Operator.fields,
};

function align(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/**
 * Plans adding or replacing metadata entry `name` with `data`. `bytes` is the file, or its first
 * 2 GiB when `fileSize` says it is bigger. Throws TfliteFormatError for an unreadable model and
 * TfliteUnsupportedError when its root table has fields this schema does not know.
 */
export function planMetadataWrite(
  bytes: Uint8Array,
  name: string,
  data: Uint8Array,
  options: { fileSize?: number } = {},
): MetadataWritePlan {
  const readRanges: Array<[number, number]> = [];
  const model = readTflite(bytes, { ...options, recordRanges: readRanges });
  const fb = new CheckedFlatBuffer(bytes);
  const root = fb.root();

  const modelFieldsBySlot = new Map<number, FieldSchema>(Object.values(F.model).map((field) => [field.slot, field]));
  for (let slot = 0; slot < root.slotCount; slot++) {
    if (root.slotOffset(slot) !== 0 && !modelFieldsBySlot.has(slot)) {
      throw new TfliteUnsupportedError(
        `cannot rewrite this TFLite model: its Model table has field ${slot}, unknown to the schema edgezoo was generated from`,
        'regenerate src/formats/tflite/schema.generated.ts from a newer ai-edge-litert (scripts/gen-tflite-schema.ts)',
      );
    }
  }

  const bufferTables = root.tables(F.model.buffers, 'buffers');
  const metadataTables = root.tables(F.model.metadata, 'metadata');
  const buffers: Array<Ref | 'new-empty' | 'new-data'> = bufferTables.map((t) => ({
    in: 'original',
    position: t.position,
  }));
  const metadata: Array<Ref | 'new-entry'> = [];

  // Replace in place when the old entry's buffer serves nothing else; otherwise append a buffer.
  const existing = model.metadata.findIndex((entry) => entry.name === name);
  const bufferUsers = countBufferUsers(model);
  let bufferIndex: number;
  const oldBuffer = existing === -1 ? undefined : model.metadata[existing]!.buffer;
  if (oldBuffer !== undefined && oldBuffer !== 0 && bufferUsers.get(oldBuffer) === 1) {
    bufferIndex = oldBuffer;
    buffers[bufferIndex] = 'new-data';
  } else {
    // Buffer 0 means "no data" to LiteRT, so a model without buffers gets an empty one first.
    if (buffers.length === 0) buffers.push('new-empty');
    bufferIndex = buffers.length;
    buffers.push('new-data');
  }
  model.metadata.forEach((entry, i) => {
    if (entry.name !== name) metadata.push({ in: 'original', position: metadataTables[i]!.position });
    else if (i === existing) metadata.push('new-entry');
    // later duplicates of the same name are dropped so readers see one value
  });
  if (existing === -1) metadata.push('new-entry');

  // Lay out the prefix front to back; every offset written points forward (flatbuffers' uoffsets are unsigned).
  let size = 8; // root uoffset + file identifier
  const allocate = (bytes: number, alignment: number) => {
    const position = align(size, alignment);
    size = position + bytes;
    return position;
  };
  const modelSlots = new Map<number, Ref | 'buffers' | 'metadata' | 'scalar'>();
  for (let slot = 0; slot < root.slotCount; slot++) {
    const offset = root.slotOffset(slot);
    if (offset === 0) continue;
    const field = modelFieldsBySlot.get(slot)!;
    const position = root.fieldPosition(field)!;
    modelSlots.set(
      slot,
      field.kind === 'offset' ? { in: 'original', position: fb.follow(position, `model field ${slot}`) } : 'scalar',
    );
  }
  modelSlots.set(F.model.buffers.slot, 'buffers');
  modelSlots.set(F.model.metadata.slot, 'metadata');
  const presentSlots = [...modelSlots.keys()].sort((a, b) => a - b);
  const modelSlotCount = presentSlots[presentSlots.length - 1]! + 1;
  const modelVtable = allocate(4 + 2 * modelSlotCount, 2);
  const modelTable = allocate(4 + 4 * presentSlots.length, 4);
  const buffersVector = allocate(4 + 4 * buffers.length, 4);
  const metadataVector = allocate(4 + 4 * metadata.length, 4);
  const emptyBufferVtable = allocate(4, 2);
  const emptyBufferTable = allocate(4, 4);
  const dataBufferVtable = allocate(6, 2);
  const dataBufferTable = allocate(8, 4);
  const entryVtable = allocate(8, 2);
  const entryTable = allocate(12, 4);
  const nameBytes = new TextEncoder().encode(name);
  const nameString = allocate(4 + nameBytes.length + 1, 4);
  // Buffer data must start 16-byte aligned (schema: force_align 16); its length sits just before.
  const dataVector = align(size + 4, 16) - 4;
  size = dataVector + 4 + data.length;
  const prefixSize = align(size, SHIFT_ALIGNMENT);
  if (prefixSize + (options.fileSize ?? bytes.length) > Number.MAX_SAFE_INTEGER)
    throw new TfliteFormatError(
      `invalid TFLite model: ${options.fileSize ?? bytes.length} bytes is more than offsets can address`,
    );

  const prefix = new Uint8Array(prefixSize);
  const view = new DataView(prefix.buffer);
  const resolve = (ref: Ref) => (ref.in === 'original' ? prefixSize + ref.position : ref.position);
  const writeOffset = (at: number, target: number) => {
    if (target <= at) throw new Error('metadata writer laid out a backward offset');
    view.setUint32(at, target - at, true);
  };
  const writeVtable = (at: number, tableSize: number, fieldOffsets: number[]) => {
    view.setUint16(at, 4 + 2 * fieldOffsets.length, true);
    view.setUint16(at + 2, tableSize, true);
    fieldOffsets.forEach((offset, i) => view.setUint16(at + 4 + 2 * i, offset, true));
  };

  writeOffset(0, modelTable);
  prefix.set(new TextEncoder().encode(TFLITE_FILE_IDENTIFIER), 4);

  const modelFieldOffsets = new Array<number>(modelSlotCount).fill(0);
  presentSlots.forEach((slot, i) => (modelFieldOffsets[slot] = 4 + 4 * i));
  writeVtable(modelVtable, 4 + 4 * presentSlots.length, modelFieldOffsets);
  view.setInt32(modelTable, modelTable - modelVtable, true);
  presentSlots.forEach((slot, i) => {
    const at = modelTable + 4 + 4 * i;
    const content = modelSlots.get(slot)!;
    if (content === 'buffers') writeOffset(at, buffersVector);
    else if (content === 'metadata') writeOffset(at, metadataVector);
    else if (content === 'scalar') {
      // Every scalar of the Model table (version) is 4 bytes wide: copy it as stored.
      const from = root.fieldPosition(modelFieldsBySlot.get(slot)!)!;
      prefix.set(bytes.subarray(from, from + 4), at);
    } else writeOffset(at, resolve(content));
  });

  view.setUint32(buffersVector, buffers.length, true);
  buffers.forEach((entry, i) => {
    const at = buffersVector + 4 + 4 * i;
    writeOffset(at, entry === 'new-empty' ? emptyBufferTable : entry === 'new-data' ? dataBufferTable : resolve(entry));
  });
  view.setUint32(metadataVector, metadata.length, true);
  metadata.forEach((entry, i) => {
    const at = metadataVector + 4 + 4 * i;
    writeOffset(at, entry === 'new-entry' ? entryTable : resolve(entry));
  });

  writeVtable(emptyBufferVtable, 4, []);
  view.setInt32(emptyBufferTable, emptyBufferTable - emptyBufferVtable, true);
  writeVtable(dataBufferVtable, 8, [4]);
  view.setInt32(dataBufferTable, dataBufferTable - dataBufferVtable, true);
  writeOffset(dataBufferTable + 4, dataVector);
  writeVtable(entryVtable, 12, [4, 8]);
  view.setInt32(entryTable, entryTable - entryVtable, true);
  writeOffset(entryTable + 4, nameString);
  view.setUint32(entryTable + 8, bufferIndex, true);
  view.setUint32(nameString, nameBytes.length, true);
  prefix.set(nameBytes, nameString + 4);
  view.setUint32(dataVector, data.length, true);
  prefix.set(data, dataVector + 4);

  const patches = absoluteOffsetPatches(fb, root, bufferTables, BigInt(prefixSize));
  checkPatchesAreNotShared(patches, readRanges);
  return { prefix, patches: patches.map(({ position, value }) => ({ position, value })), bufferIndex };
}

/**
 * Throws when a patched 8-byte field is also read as part of anything but its own table: then
 * moving the offset would change what a reader sees elsewhere (a tensor name, a shape...).
 * Converters never lay tables over each other; crafted files can.
 */
function checkPatchesAreNotShared(
  patches: ReadonlyArray<{ position: number; owner: [number, number] }>,
  ranges: Array<[number, number]>,
): void {
  if (patches.length === 0) return;
  const sorted = [...patches].sort((a, b) => a.position - b.position);
  for (const [start, end] of ranges) {
    // first patch whose 8 bytes could reach into [start, end)
    let low = 0;
    let high = sorted.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (sorted[middle]!.position + 8 <= start) low = middle + 1;
      else high = middle;
    }
    for (let i = low; i < sorted.length && sorted[i]!.position < end; i++) {
      const { owner } = sorted[i]!;
      if (owner[0] !== start || owner[1] !== end) {
        throw new TfliteFormatError(
          `invalid TFLite model: the absolute offset at byte ${sorted[i]!.position} overlaps other data (bytes ${start}..${end}); tables and vectors must not overlap`,
          { byteOffset: sorted[i]!.position },
        );
      }
    }
  }
}

/** How many tensors and metadata entries use each buffer index. */
function countBufferUsers(model: ReturnType<typeof readTflite>): Map<number, number> {
  const users = new Map<number, number>();
  const use = (index: number) => users.set(index, (users.get(index) ?? 0) + 1);
  for (const subgraph of model.subgraphs) for (const tensor of subgraph.tensors) use(tensor.buffer);
  for (const entry of model.metadata) use(entry.buffer);
  return users;
}

/** The absolute file offsets stored in the model, each to be moved by `shift`. */
function absoluteOffsetPatches(fb: CheckedFlatBuffer, root: CheckedTable, bufferTables: CheckedTable[], shift: bigint) {
  const patches = new Map<number, { position: number; value: bigint; owner: [number, number] }>();
  const patch = (table: CheckedTable, field: FieldSchema) => {
    const position = table.fieldPosition(field);
    if (position === undefined) return;
    const value = fb.scalar(position, 'uint64') as bigint;
    const tableSize = fb.uint16(table.vtablePosition + 2);
    // 0 and 1 are markers, not positions (see the reader); a table shared by two vector entries is patched once.
    if (value > 1n)
      patches.set(position, { position, value: value + shift, owner: [table.position, table.position + tableSize] });
  };
  for (const buffer of bufferTables) patch(buffer, F.buffer.offset);
  for (const subgraph of root.tables(F.model.subgraphs, 'subgraphs')) {
    for (const op of subgraph.tables(F.subgraph.operators, 'operators')) patch(op, F.op.largeCustomOptionsOffset);
  }
  return [...patches.values()];
}

/** Applies a plan to a whole model in memory. */
export function applyMetadataWritePlan(bytes: Uint8Array, plan: MetadataWritePlan): Uint8Array {
  const out = new Uint8Array(plan.prefix.length + bytes.length);
  out.set(plan.prefix, 0);
  out.set(bytes, plan.prefix.length);
  const view = new DataView(out.buffer);
  for (const { position, value } of plan.patches) view.setBigUint64(plan.prefix.length + position, value, true);
  return out;
}

/** Returns a copy of `bytes` whose metadata entry `name` holds `data` (added, or replaced). */
export function withTfliteMetadata(bytes: Uint8Array, name: string, data: Uint8Array): Uint8Array {
  return applyMetadataWritePlan(bytes, planMetadataWrite(bytes, name, data));
}

/**
 * Writes `inputPath` with metadata entry `name` = `data` to `outputPath` (may be the same path).
 * Streams the original, so models past 2 GB need no more memory than their flatbuffer part; the
 * output appears complete or not at all (temp file + rename).
 */
export async function writeTfliteMetadata(
  inputPath: string,
  outputPath: string,
  name: string,
  data: Uint8Array,
): Promise<{ bytesWritten: number }> {
  const { bytes: head, fileSize } = await readTfliteFile(inputPath);
  const plan = planMetadataWrite(head, name, data, { fileSize });
  const patchBytes = plan.patches.map(({ position, value }) => {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, value, true);
    return { position, bytes };
  });

  const temporary = `${outputPath}.tmp-${process.pid}`;
  const output = await open(temporary, 'w');
  try {
    await output.write(plan.prefix, 0, plan.prefix.length, 0);
    let position = 0;
    for await (const chunk of createReadStream(inputPath, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      for (const patch of patchBytes) {
        // A patch may straddle two chunks: copy the overlapping part of it into this one.
        const from = Math.max(patch.position, position);
        const to = Math.min(patch.position + 8, position + chunk.length);
        for (let i = from; i < to; i++) chunk[i - position] = patch.bytes[i - patch.position]!;
      }
      await output.write(chunk, 0, chunk.length, plan.prefix.length + position);
      position += chunk.length;
    }
    await output.close();
    await rename(temporary, outputPath);
    return { bytesWritten: plan.prefix.length + position };
  } catch (error) {
    await output.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
}
