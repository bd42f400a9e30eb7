import {
  closeSync,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { OnnxFormatError } from './errors.js';
import {
  decodeModelProto,
  encodeModelProto,
  TensorProto_DataLocation,
  type ModelProto,
  type TensorProto,
} from './onnx-proto.generated.js';
import { tensorByteLength } from './tensor.js';
import { decodeTopLevel, ProtoWriter } from './wire.js';

/** protobuf cannot represent a message of 2 GiB or more; such models keep weights in external data. */
export const MAX_PROTO_BYTES = 2 ** 31 - 1;

/**
 * Decodes an ONNX ModelProto. Tensor raw_data fields are views of `bytes` (no copy), so keep
 * `bytes` unchanged while the model is in use. Throws OnnxFormatError on anything malformed.
 * External data is not resolved here (see `loadModel`).
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  if (bytes.length === 0) throw new OnnxFormatError('ONNX_NOT_A_MODEL', 'not an ONNX model: the file is empty');
  const model = decodeTopLevel(bytes, decodeModelProto);
  // Random bytes can decode as a valid protobuf; an ONNX model always has these two.
  if (model.irVersion === undefined || model.graph === undefined) {
    throw new OnnxFormatError(
      'ONNX_NOT_A_MODEL',
      `not an ONNX model: no ${model.irVersion === undefined ? 'ir_version' : 'graph'} field`,
    );
  }
  return model;
}

/** Options of `encodeModel`. */
export interface EncodeOptions {
  /** Refuse protos larger than this many bytes; defaults to protobuf's 2 GiB limit (lowered in tests). */
  maxProtoBytes?: number;
}

/**
 * Encodes a ModelProto to bytes (fields in number order, as onnx's C++ writes them). Refuses a
 * model of 2 GiB or more: save it with `saveModel`, which moves large initializers to external data.
 */
export function encodeModel(model: ModelProto, options: EncodeOptions = {}): Uint8Array {
  const limit = options.maxProtoBytes ?? MAX_PROTO_BYTES;
  const writer = new ProtoWriter();
  encodeModelProto(writer, model);
  // Checked before `finish` allocates: the writer so far only holds references to tensor bytes.
  if (writer.length > limit) {
    throw new OnnxFormatError(
      'ONNX_TOO_LARGE',
      `the ONNX model would be ${writer.length} bytes, over the ${limit}-byte limit of one protobuf`,
      {
        hint: 'save it with external data (saveModel with externalData) so large initializers live in a separate file',
      },
    );
  }
  return writer.finish();
}

/** Options of `loadModel`. */
export interface LoadOptions {
  /** Read tensors stored in external files into raw_data (default true). */
  loadExternalData?: boolean;
}

/**
 * Reads and decodes an ONNX file. External data is resolved relative to the file's folder and
 * must stay inside it; after loading, every tensor has its bytes in raw_data. Every error names
 * the file (`<file>: corrupt ONNX data: ...`).
 */
export function loadModel(filePath: string, options: LoadOptions = {}): ModelProto {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(filePath);
  } catch (error) {
    throw new OnnxFormatError(
      'ONNX_READ_FAILED',
      `cannot read ${filePath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      { cause: error },
    );
  }
  try {
    const model = decodeModel(bytes);
    if (options.loadExternalData ?? true) resolveExternalData(model, path.dirname(path.resolve(filePath)));
    return model;
  } catch (error) {
    if (!(error instanceof OnnxFormatError)) throw error;
    throw new OnnxFormatError(error.code, `${filePath}: ${error.message}`, {
      ...(error.offset === undefined ? {} : { offset: error.offset }),
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      cause: error,
    });
  }
}

/** Every tensor of a model: initializers and tensors in attributes, subgraphs included. */
export function* allTensors(model: ModelProto): Generator<TensorProto> {
  const graphs = model.graph ? [model.graph] : [];
  for (const fn of model.functions)
    for (const node of fn.node)
      for (const a of node.attribute) {
        if (a.t) yield a.t;
        yield* a.tensors;
      }
  while (graphs.length > 0) {
    const graph = graphs.pop()!;
    yield* graph.initializer;
    for (const sparse of graph.sparseInitializer) {
      if (sparse.values) yield sparse.values;
      if (sparse.indices) yield sparse.indices;
    }
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        if (attribute.t) yield attribute.t;
        yield* attribute.tensors;
        if (attribute.g) graphs.push(attribute.g);
        graphs.push(...attribute.graphs);
      }
    }
  }
}

function externalField(tensor: TensorProto, key: string): string | undefined {
  return tensor.externalData.find((entry) => entry.key === key)?.value;
}

function parseNonNegative(tensor: TensorProto, key: string): number | undefined {
  const text = externalField(tensor, key);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new OnnxFormatError(
      'ONNX_EXTERNAL_DATA_INVALID',
      `tensor "${tensor.name ?? ''}": external data ${key} "${text}" is not a non-negative integer`,
    );
  }
  return Number(text);
}

/** The distinct external-data locations a model's tensors name, in order of first use. */
export function externalDataLocations(model: ModelProto): string[] {
  const locations = new Set<string>();
  for (const tensor of allTensors(model)) {
    if (tensor.dataLocation !== TensorProto_DataLocation.EXTERNAL) continue;
    const location = externalField(tensor, 'location');
    if (location !== undefined) locations.add(location);
  }
  return [...locations];
}

/**
 * Checks that an external-data `location` names a regular file inside `modelDir`: no absolute
 * paths, no `..` segments, and no symlink (of the file or a folder on the way) leading outside.
 * Returns the file's real path.
 */
export function safeExternalPath(modelDir: string, location: string, tensorName = ''): string {
  const what = `tensor "${tensorName}": external data location "${location}"`;
  if (location === '' || path.isAbsolute(location) || path.win32.isAbsolute(location) || location.includes('\0')) {
    throw new OnnxFormatError('ONNX_EXTERNAL_DATA_UNSAFE', `${what} must be a relative path inside the model's folder`);
  }
  if (location.split(/[\\/]/).includes('..')) {
    throw new OnnxFormatError('ONNX_EXTERNAL_DATA_UNSAFE', `${what} must not contain ".."`);
  }
  const realDir = realpathSync(modelDir);
  let realFile: string;
  try {
    realFile = realpathSync(path.join(realDir, location));
  } catch {
    throw new OnnxFormatError('ONNX_EXTERNAL_DATA_MISSING', `${what} does not exist next to the model`);
  }
  const relative = path.relative(realDir, realFile);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new OnnxFormatError(
      'ONNX_EXTERNAL_DATA_UNSAFE',
      `${what} leads outside the model's folder (through a symlink)`,
    );
  }
  if (!lstatSync(realFile).isFile()) {
    throw new OnnxFormatError('ONNX_EXTERNAL_DATA_UNSAFE', `${what} is not a regular file`);
  }
  return realFile;
}

/**
 * Reads every externally stored tensor of `model` into raw_data, in place (the model was just
 * decoded and belongs to the caller). Offsets and lengths are checked against the file size and
 * the tensor's dims before any buffer is allocated.
 */
export function resolveExternalData(model: ModelProto, modelDir: string): void {
  const openFiles = new Map<string, { fd: number; size: number }>();
  try {
    for (const tensor of allTensors(model)) {
      if (tensor.dataLocation !== TensorProto_DataLocation.EXTERNAL) continue;
      const name = tensor.name ?? '';
      const location = externalField(tensor, 'location');
      if (location === undefined)
        throw new OnnxFormatError(
          'ONNX_EXTERNAL_DATA_INVALID',
          `tensor "${name}" is stored externally but has no location`,
        );
      const file = safeExternalPath(modelDir, location, name);
      let handle = openFiles.get(file);
      if (!handle) {
        const fd = openSync(file, 'r');
        handle = { fd, size: fstatSync(fd).size };
        openFiles.set(file, handle);
      }
      const offset = parseNonNegative(tensor, 'offset') ?? 0;
      if (offset > handle.size) {
        throw new OnnxFormatError(
          'ONNX_EXTERNAL_DATA_INVALID',
          `tensor "${name}": external data offset ${offset} is past the end of "${location}" (${handle.size} bytes)`,
        );
      }
      const expected = tensorByteLength(tensor);
      const length = parseNonNegative(tensor, 'length') ?? expected ?? handle.size - offset;
      if (offset + length > handle.size) {
        throw new OnnxFormatError(
          'ONNX_EXTERNAL_DATA_INVALID',
          `tensor "${name}": external data offset ${offset} + length ${length} is past the end of "${location}" (${handle.size} bytes)`,
        );
      }
      if (expected !== undefined && length !== expected) {
        throw new OnnxFormatError(
          'ONNX_EXTERNAL_DATA_INVALID',
          `tensor "${name}": external data length ${length} does not match its dims [${tensor.dims.join(', ')}] (${expected} bytes)`,
        );
      }
      const data = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const read = readSync(handle.fd, data, done, length - done, offset + done);
        if (read === 0)
          throw new OnnxFormatError('ONNX_EXTERNAL_DATA_INVALID', `tensor "${name}": "${location}" ended early`);
        done += read;
      }
      tensor.rawData = data;
      tensor.externalData = [];
      delete tensor.dataLocation;
    }
  } finally {
    for (const { fd } of openFiles.values()) closeSync(fd);
  }
}

/** How `saveModel` stores large initializers outside the .onnx file. */
export interface ExternalDataOptions {
  /** File name next to the model (default: `<model file name>.data`). */
  location?: string;
  /** Initializers with at least this many bytes of raw_data go to the external file (default 1024). */
  sizeThreshold?: number;
}

/** Options of `saveModel`. */
export interface SaveOptions extends EncodeOptions {
  /**
   * Store large initializers in an external file. Without it, a model too large for one protobuf
   * is saved with external data anyway (default location and threshold).
   */
  externalData?: ExternalDataOptions | boolean;
}

/** What `saveModel` wrote. */
export interface SavedModel {
  modelPath: string;
  modelBytes: number;
  /** The external data file, when one was written. */
  externalDataPath?: string;
  externalDataBytes?: number;
}

/** External data files align each tensor so runtimes may map them directly. */
const EXTERNAL_ALIGNMENT = 64;

/**
 * Writes a model to `filePath` (atomically: temporary file, then rename). With external data,
 * initializers of `sizeThreshold` bytes or more are written to one side file and referenced by
 * location/offset/length; the input model is not changed.
 */
export function saveModel(model: ModelProto, filePath: string, options: SaveOptions = {}): SavedModel {
  const encodeOptions: EncodeOptions =
    options.maxProtoBytes === undefined ? {} : { maxProtoBytes: options.maxProtoBytes };
  let external = options.externalData;
  if (!external) {
    try {
      const bytes = encodeModel(model, encodeOptions);
      writeAtomically(filePath, [bytes]);
      return { modelPath: filePath, modelBytes: bytes.length };
    } catch (error) {
      if (!(error instanceof OnnxFormatError) || error.code !== 'ONNX_TOO_LARGE' || external === false) throw error;
      external = true;
    }
  }
  const settings = external === true ? {} : external;
  const location = settings.location ?? `${path.basename(filePath)}.data`;
  const threshold = settings.sizeThreshold ?? 1024;
  const dataPath = path.join(path.dirname(filePath), location);
  if (location.split(/[\\/]/).includes('..') || path.isAbsolute(location)) {
    throw new OnnxFormatError(
      'ONNX_EXTERNAL_DATA_UNSAFE',
      `external data location "${location}" must be a file name inside the model's folder`,
    );
  }

  const chunks: Uint8Array[] = [];
  let offset = 0;
  const moved = new Map<TensorProto, TensorProto>();
  for (const tensor of model.graph?.initializer ?? []) {
    const raw = tensor.rawData;
    if (!raw || raw.length < threshold) continue;
    const padding = (EXTERNAL_ALIGNMENT - (offset % EXTERNAL_ALIGNMENT)) % EXTERNAL_ALIGNMENT;
    if (padding) chunks.push(new Uint8Array(padding));
    offset += padding;
    chunks.push(raw);
    const { rawData: _dropped, ...rest } = tensor;
    moved.set(tensor, {
      ...rest,
      dataLocation: TensorProto_DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.length) },
      ],
    });
    offset += raw.length;
  }
  const graph = model.graph!;
  const slim: ModelProto = {
    ...model,
    graph: { ...graph, initializer: graph.initializer.map((t) => moved.get(t) ?? t) },
  };
  const bytes = encodeModel(slim, encodeOptions);
  writeAtomically(dataPath, chunks);
  writeAtomically(filePath, [bytes]);
  return { modelPath: filePath, modelBytes: bytes.length, externalDataPath: dataPath, externalDataBytes: offset };
}

/** Writes chunks to a temporary file next to `target`, then renames it into place. */
function writeAtomically(target: string, chunks: Uint8Array[]): void {
  const temporary = `${target}.tmp-${process.pid}`;
  const fd = openSync(temporary, 'w');
  try {
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, target);
}
