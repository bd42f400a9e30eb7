/**
 * OpenVINO IR in TypeScript: reads the `.xml` half of an IR (the graph; weights stay in the
 * `.bin`) and summarises it the way `edgezoo inspect` shows the other formats: inputs and
 * outputs with shapes (dynamic dims as `?` or `lo..hi`) and element types, op counts, the
 * quantisation kind the constants show, and the edgezoo entries of its rt_info.
 * Why not `openvino.Core().read_model`: it needs the Python env and a TensorFlow-sized process
 * for a text file, and its Python shape accessors throw on partial shapes.
 * Only this file imports the XML parser.
 */
import { readFile, stat } from 'node:fs/promises';
import { XMLParser } from 'fast-xml-parser';
import { EdgezooError, firstLine } from '../../errors.js';

/** An IR .xml over this size is refused (the zoo's largest is well under 2 MB). */
export const MAX_IR_XML_BYTES = 256 * 1024 * 1024;

/** A file that is not an OpenVINO IR .xml this reader understands. Code `OPENVINO_INVALID`. */
export class OpenvinoFormatError extends EdgezooError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('OPENVINO_INVALID', message, options);
  }
}

/** One input (Parameter) or output (Result) of an IR. */
export interface OpenvinoTensorSignature {
  /** The tensor name a runtime looks it up by (the port's first `names` entry), else the layer name. */
  name: string;
  /** Element type as OpenVINO writes it: f32, f16, i64, u8... */
  dtype: string;
  /** Dims: numbers when static, `?` when unknown, `lo..hi` when bounded. */
  shape: Array<number | string>;
}

/** What the constants and ops say about how the IR is quantised. */
export type OpenvinoQuantizationKind = 'float32' | 'float16-weights' | 'int8-weights' | 'fake-quantize';

/** What `edgezoo inspect` shows about an IR; JSON-serialisable. */
export interface OpenvinoSummary {
  format: 'openvino';
  /** The `version` of `<net>` (the IR version, 11 for current OpenVINO). */
  irVersion: number | null;
  name: string;
  xmlBytes: number;
  /** The `.bin` beside the `.xml`, when it is there. */
  weights: { file: string; bytes: number } | null;
  inputs: OpenvinoTensorSignature[];
  outputs: OpenvinoTensorSignature[];
  /** Ops other than Parameter, Result and Const (what `Model.get_ordered_ops` counts minus those). */
  opCount: number;
  /** Layer type -> count over every layer, most frequent first. */
  ops: Record<string, number>;
  /** Bytes of constant data by element type. */
  constantBytes: Record<string, number>;
  /** The `rt_info/edgezoo` entries (`edgezoo.name`, `edgezoo.layouts`, ...) as written. */
  edgezoo: Record<string, string>;
  /** The OpenVINO version that wrote it, from rt_info. */
  runtimeVersion?: string;
  flags: {
    transposeCount: number;
    quantization: OpenvinoQuantizationKind;
    /** Input or output names with a dim that is not static. */
    dynamicTensors: string[];
  };
}

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  // Every element an array, so one layer and many layers read alike.
  isArray: () => true,
  parseAttributeValue: false,
  parseTagValue: false,
  processEntities: true,
  allowBooleanAttributes: true,
});

/** True for the first bytes of an IR .xml: an XML document whose root is `<net`. */
export function looksLikeOpenvinoIr(header: Uint8Array): boolean {
  const text = new TextDecoder().decode(header).replace(/^\uFEFF/, '');
  return /^\s*(<\?xml[^>]*\?>\s*)?<net[\s>]/.test(text);
}

/** Reads and summarises an IR `.xml` (the `.bin` is only measured). */
export async function inspectOpenvinoIr(xmlPath: string): Promise<OpenvinoSummary> {
  let size: number;
  try {
    size = (await stat(xmlPath)).size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EdgezooError(
      'FILE_NOT_FOUND',
      code === 'ENOENT' ? `${xmlPath} does not exist` : `cannot read ${xmlPath}: ${code ?? String(error)}`,
    );
  }
  if (size > MAX_IR_XML_BYTES)
    throw new OpenvinoFormatError(`${xmlPath}: ${size} bytes is more than an IR .xml may have (${MAX_IR_XML_BYTES})`);
  const summary = parseOpenvinoIr(await readFile(xmlPath, 'utf8'), xmlPath);
  const binPath = xmlPath.replace(/\.xml$/i, '.bin');
  const bin = binPath === xmlPath ? undefined : await stat(binPath).catch(() => undefined);
  return { ...summary, xmlBytes: size, weights: bin ? { file: binPath, bytes: bin.size } : null };
}

/** Summarises IR XML text; `where` names it in errors. */
export function parseOpenvinoIr(text: string, where: string): OpenvinoSummary {
  let document: XmlNode;
  try {
    document = parser.parse(text, true) as XmlNode;
  } catch (error) {
    throw new OpenvinoFormatError(`${where}: not well-formed XML: ${firstLine(error)}`, { cause: error });
  }
  const net = first(document.net);
  if (!net) throw new OpenvinoFormatError(`${where}: no <net> root element; not an OpenVINO IR .xml`);
  const layers = children(first(net.layers), 'layer');
  const ops: Record<string, number> = {};
  const constantBytes: Record<string, number> = {};
  const inputs: OpenvinoTensorSignature[] = [];
  const outputs: OpenvinoTensorSignature[] = [];
  let lowPrecisionInts = false;
  for (const layer of layers) {
    const type = attribute(layer, 'type');
    if (!type) throw new OpenvinoFormatError(`${where}: layer ${attribute(layer, 'id') ?? '?'} has no type`);
    ops[type] = (ops[type] ?? 0) + 1;
    const data = first(layer.data);
    if (type === 'Const' && data) {
      const dtype = attribute(data, 'element_type') ?? '?';
      constantBytes[dtype] = (constantBytes[dtype] ?? 0) + Number(attribute(data, 'size') ?? 0);
      if (/^[iu](8|4)$/.test(dtype) && Number(attribute(data, 'size') ?? 0) > 64) lowPrecisionInts = true;
    }
    if (type === 'Parameter') inputs.push(portSignature(layer, 'output', data, where));
    if (type === 'Result') outputs.push(resultSignature(layer, layers, net, where));
  }
  const rtInfo = first(net.rt_info);
  const edgezoo: Record<string, string> = {};
  for (const [key, value] of Object.entries(first(rtInfo?.edgezoo) ?? {})) {
    const entry = first(value);
    const text = entry ? attribute(entry, 'value') : undefined;
    if (text !== undefined) edgezoo[key] = text;
  }
  const runtimeVersion = attribute(first(rtInfo?.Runtime_version) ?? {}, 'value');
  const opCount = Object.entries(ops)
    .filter(([type]) => type !== 'Parameter' && type !== 'Result' && type !== 'Const')
    .reduce((n, [, count]) => n + count, 0);
  const quantization: OpenvinoQuantizationKind =
    (ops.FakeQuantize ?? 0) > 0
      ? 'fake-quantize'
      : lowPrecisionInts
        ? 'int8-weights'
        : (constantBytes.f16 ?? 0) > 0
          ? 'float16-weights'
          : 'float32';
  const irVersion = Number(attribute(net, 'version'));
  return {
    format: 'openvino',
    irVersion: Number.isInteger(irVersion) ? irVersion : null,
    name: attribute(net, 'name') ?? '',
    xmlBytes: text.length,
    weights: null,
    inputs,
    outputs,
    opCount,
    ops: Object.fromEntries(Object.entries(ops).sort(([a, x], [b, y]) => y - x || a.localeCompare(b))),
    constantBytes,
    edgezoo,
    ...(runtimeVersion ? { runtimeVersion } : {}),
    flags: {
      transposeCount: ops.Transpose ?? 0,
      quantization,
      dynamicTensors: [...inputs, ...outputs]
        .filter((t) => t.shape.some((d) => typeof d !== 'number'))
        .map((t) => t.name),
    },
  };
}

/** A Parameter's signature: its output port (names, dims), the element type from `<data>`. */
function portSignature(layer: XmlNode, side: 'input' | 'output', data: XmlNode | undefined, where: string) {
  const port = first(children(first(layer[side]), 'port'));
  if (!port) throw new OpenvinoFormatError(`${where}: layer "${attribute(layer, 'name')}" has no ${side} port`);
  const names = attribute(port, 'names');
  const shapeText = data ? attribute(data, 'shape') : undefined;
  return {
    name: firstName(names) ?? attribute(layer, 'name') ?? '',
    dtype: (data && attribute(data, 'element_type')) ?? precisionType(attribute(port, 'precision')),
    shape: shapeText !== undefined ? parseShape(shapeText) : portDims(port),
  };
}

/**
 * A Result's signature: the tensor it returns is named on the output port of the layer feeding
 * it (the Result's own port carries only dims), found through `<edges>`.
 */
function resultSignature(layer: XmlNode, layers: XmlNode[], net: XmlNode, where: string): OpenvinoTensorSignature {
  const port = first(children(first(layer.input), 'port'));
  if (!port) throw new OpenvinoFormatError(`${where}: Result "${attribute(layer, 'name')}" has no input port`);
  const id = attribute(layer, 'id');
  const edge = children(first(net.edges), 'edge').find(
    (e) => attribute(e, 'to-layer') === id && attribute(e, 'to-port') === attribute(port, 'id'),
  );
  let name: string | undefined;
  if (edge) {
    const source = layers.find((l) => attribute(l, 'id') === attribute(edge, 'from-layer'));
    const sourcePort = children(first(source?.output), 'port').find(
      (p) => attribute(p, 'id') === attribute(edge, 'from-port'),
    );
    name = firstName(sourcePort ? attribute(sourcePort, 'names') : undefined);
  }
  return {
    name: name ?? attribute(layer, 'name') ?? '',
    dtype: precisionType(attribute(port, 'precision')),
    shape: portDims(port),
  };
}

/** `1,3,?,224` or `1,3,1..10,224` (IR `<data shape>`) as dims. */
function parseShape(text: string): Array<number | string> {
  if (text.trim() === '') return [];
  return text.split(',').map((dim) => {
    const trimmed = dim.trim();
    return /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed === '-1' ? '?' : trimmed;
  });
}

function portDims(port: XmlNode): Array<number | string> {
  return children(port, 'dim').map((dim) => {
    const text = typeof dim === 'string' ? dim : String((dim as XmlNode)['#text'] ?? '');
    return /^\d+$/.test(text.trim()) ? Number(text.trim()) : text.trim() === '-1' ? '?' : text.trim();
  });
}

/** Port `precision` (FP32, I64) as an element type (f32, i64). */
function precisionType(precision: string | undefined): string {
  if (!precision) return '?';
  const match = /^(FP|I|U|BOOL|BF)(\d*)$/.exec(precision.toUpperCase());
  if (!match) return precision.toLowerCase();
  const [, kind, bits] = match;
  return kind === 'FP' ? `f${bits}` : kind === 'BOOL' ? 'boolean' : `${kind!.toLowerCase()}${bits}`;
}

/** The first of a port's comma-separated tensor names (a comma inside a name is escaped as `\,`). */
function firstName(names: string | undefined): string | undefined {
  if (!names) return undefined;
  const match = /^((?:[^,\\]|\\.)*)/.exec(names);
  const name = match?.[1]?.replace(/\\(.)/g, '$1');
  return name ? name : undefined;
}

function first(value: unknown): XmlNode | undefined {
  const item = Array.isArray(value) ? value[0] : value;
  return item !== null && typeof item === 'object' ? (item as XmlNode) : undefined;
}

function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const value = node?.[name];
  if (!Array.isArray(value)) return [];
  return value.map((item) => (item !== null && typeof item === 'object' ? (item as XmlNode) : { '#text': item }));
}

function attribute(node: XmlNode, name: string): string | undefined {
  const value = node[`@${name}`];
  if (value === undefined) return undefined;
  return String(Array.isArray(value) ? value[0] : value);
}

/** Human-readable lines for `edgezoo inspect`. */
export function formatOpenvinoSummary(summary: OpenvinoSummary): string[] {
  const tensor = (t: OpenvinoTensorSignature) => `  ${t.name}: ${t.dtype} [${t.shape.join(', ')}]`;
  const constants = Object.entries(summary.constantBytes)
    .map(([dtype, bytes]) => `${dtype} ${bytes}`)
    .join(', ');
  const lines = [
    `format: OpenVINO IR (version ${summary.irVersion ?? '?'}), ${summary.xmlBytes} bytes of XML, ${
      summary.weights ? `${summary.weights.bytes} bytes of weights` : 'no .bin beside it'
    }${summary.runtimeVersion ? `, written by OpenVINO ${summary.runtimeVersion}` : ''}`,
    `quantization: ${summary.flags.quantization}${constants ? ` (constants: ${constants} bytes)` : ''}`,
    'inputs:',
    ...summary.inputs.map(tensor),
    'outputs:',
    ...summary.outputs.map(tensor),
    `ops: ${summary.opCount} (${Object.entries(summary.ops)
      .filter(([op]) => op !== 'Parameter' && op !== 'Result' && op !== 'Const')
      .map(([op, n]) => `${op} ${n}`)
      .join(', ')})`,
  ];
  if (summary.flags.transposeCount > 0) lines.push(`transposes: ${summary.flags.transposeCount}`);
  if (summary.flags.dynamicTensors.length > 0)
    lines.push(`dynamic dims in: ${summary.flags.dynamicTensors.join(', ')}`);
  const entries = Object.entries(summary.edgezoo);
  if (entries.length > 0) lines.push(`edgezoo rt_info: ${entries.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  return lines;
}
