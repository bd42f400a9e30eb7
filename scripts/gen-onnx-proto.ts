/**
 * Generates src/formats/onnx/onnx-proto.generated.ts from ONNX's own schema (onnx-ml.proto, the
 * superset with map and opaque types): TypeScript interfaces, enums, and decode/encode functions
 * that read and write through src/formats/onnx/wire.ts. Run it when moving to a new ONNX version:
 *
 *   node --import tsx scripts/gen-onnx-proto.ts [--proto path/to/onnx-ml.proto] [--onnx-version 1.23.2]
 *
 * Without --proto it downloads the `onnx` wheel from PyPI with pip (no install) and reads the
 * .proto it ships. The output is committed and never edited by hand.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const DEFAULT_ONNX_VERSION = '1.23.2';
const OUTPUT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../src/formats/onnx/onnx-proto.generated.ts',
);

/**
 * int64 fields that are dims, counts or versions: decoded as `number` (an out-of-range value is a
 * corrupt file). Every other int64 keeps full range as `number | bigint`.
 */
const INT64_AS_NUMBER = new Set([
  'ModelProto.ir_version',
  'ModelProto.model_version',
  'OperatorSetIdProto.version',
  'TensorProto.dims',
  'TensorProto.Segment.begin',
  'TensorProto.Segment.end',
  'SparseTensorProto.dims',
  'TensorShapeProto.Dimension.dim_value',
  'ShardedDimProto.axis',
  'SimpleShardedDimProto.dim_value',
  'SimpleShardedDimProto.num_shards',
  'IntIntListEntryProto.key',
]);

function parseArgs(argv: string[]): { proto?: string; onnxVersion: string } {
  const result: { proto?: string; onnxVersion: string } = { onnxVersion: DEFAULT_ONNX_VERSION };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--proto') result.proto = argv[++i];
    else if (argv[i] === '--onnx-version') result.onnxVersion = argv[++i] ?? DEFAULT_ONNX_VERSION;
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  return result;
}

function protoFromWheel(onnxVersion: string): { text: string; origin: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-onnx-proto-'));
  try {
    execFileSync('pip', ['download', '--no-deps', '--only-binary=:all:', '-q', `onnx==${onnxVersion}`, '-d', dir], {
      stdio: 'inherit',
    });
    const wheel = readdirSync(dir).find((name) => name.endsWith('.whl'));
    if (!wheel) throw new Error(`pip downloaded no wheel of onnx==${onnxVersion}`);
    const text = execFileSync(
      'python3',
      [
        '-c',
        'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read("onnx/onnx-ml.proto").decode())',
        path.join(dir, wheel),
      ],
      { encoding: 'utf8' },
    );
    return { text, origin: `onnx/onnx-ml.proto from the PyPI wheel onnx==${onnxVersion}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Type names in TypeScript: nested messages joined with `_` like protoc does (TypeProto_Tensor). */
function tsName(type: protobuf.ReflectionObject): string {
  const parts: string[] = [];
  let current: protobuf.ReflectionObject | null = type;
  while (current && !(current instanceof protobuf.Namespace && !(current instanceof protobuf.Type))) {
    parts.unshift(current.name);
    current = current.parent;
  }
  return parts.join('_');
}

function protoPath(type: protobuf.Type): string {
  return tsName(type).replace(/_/g, '.');
}

interface ScalarInfo {
  ts: string;
  wire: number;
  read: string;
  write: string;
  fixedSize?: number;
}

function scalarInfo(field: protobuf.Field, owner: protobuf.Type): ScalarInfo | undefined {
  const fieldPath = `${protoPath(owner)}.${field.name}`;
  switch (field.type) {
    case 'float':
      return { ts: 'number', wire: 5, read: 'r.float()', write: 'float', fixedSize: 4 };
    case 'double':
      return { ts: 'number', wire: 1, read: 'r.double()', write: 'double', fixedSize: 8 };
    case 'int32':
      return { ts: 'number', wire: 0, read: 'r.int32()', write: 'int32' };
    case 'bool':
      return { ts: 'boolean', wire: 0, read: 'r.bool()', write: 'bool' };
    case 'string':
      return { ts: 'string', wire: 2, read: 'r.string()', write: 'string' };
    case 'bytes':
      return { ts: 'Uint8Array', wire: 2, read: 'r.bytes()', write: 'bytes' };
    case 'int64':
      return INT64_AS_NUMBER.has(fieldPath)
        ? { ts: 'number', wire: 0, read: `r.int64Number('${fieldPath}')`, write: 'int64' }
        : { ts: 'Int64', wire: 0, read: 'r.int64()', write: 'int64' };
    case 'uint64':
      return { ts: 'Int64', wire: 0, read: 'r.uint64()', write: 'uint64' };
    default:
      if (field.resolvedType instanceof protobuf.Enum)
        return { ts: 'number', wire: 0, read: 'r.int32()', write: 'int32' };
      return undefined;
  }
}

function collect(namespace: protobuf.NamespaceBase, types: protobuf.Type[], enums: protobuf.Enum[]): void {
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type) {
      types.push(nested);
      collect(nested, types, enums);
    } else if (nested instanceof protobuf.Enum) enums.push(nested);
  }
}

function docOf(obj: { comment: string | null }): string {
  if (!obj.comment) return '';
  const firstParagraph = obj.comment
    .split(/\n\s*\n/)[0]!
    .replace(/\*\//g, '* /')
    .trim();
  return `/** ${firstParagraph.split('\n').join('\n * ')} */\n`;
}

function generate(protoText: string, origin: string): string {
  const root = protobuf.parse(protoText, { keepCase: true, alternateCommentMode: true }).root;
  root.resolveAll();
  const onnx = root.lookup('onnx') as protobuf.Namespace;
  const types: protobuf.Type[] = [];
  const enums: protobuf.Enum[] = [];
  collect(onnx, types, enums);

  const out: string[] = [];
  const sha = createHash('sha256').update(protoText).digest('hex');
  out.push(`// GENERATED by scripts/gen-onnx-proto.ts from ${origin}`);
  out.push(`// (sha256 ${sha}). Do not edit: change the generator and run it again.`);
  out.push('/* eslint-disable */');
  out.push(`import { ProtoReader, ProtoWriter, type Int64 } from './wire.js';`);
  out.push('');
  out.push(`/** Where this schema came from. */`);
  out.push(`export const ONNX_SCHEMA_SOURCE = ${JSON.stringify(origin)};`);
  out.push('');

  for (const enumType of enums) {
    out.push(`${docOf(enumType)}export const ${tsName(enumType)} = {`);
    for (const [name, value] of Object.entries(enumType.values)) out.push(`  ${name}: ${value},`);
    out.push('} as const;');
    out.push('');
  }

  for (const type of types) {
    const name = tsName(type);
    const fields = [...type.fieldsArray].sort((a, b) => a.id - b.id);
    out.push(`${docOf(type)}export interface ${name} {`);
    for (const field of fields) {
      const scalar = scalarInfo(field, type);
      const tsType = scalar ? scalar.ts : tsName(field.resolvedType!);
      const doc = field.comment ? `  /** ${field.comment.split('\n')[0]!.replace(/\*\//g, '* /')} */\n` : '';
      if (field.repeated) out.push(`${doc}  ${camel(field.name)}: ${tsType}[];`);
      else out.push(`${doc}  ${camel(field.name)}?: ${tsType};`);
    }
    out.push('}');
    out.push('');

    const repeated = fields.filter((f) => f.repeated);
    out.push(`/** A ${name} with every repeated field empty, then \`init\` on top. */`);
    out.push(`export function new${name}(init: Partial<${name}> = {}): ${name} {`);
    out.push(
      `  return { ${repeated.map((f) => `${camel(f.name)}: []`).join(', ')}${repeated.length ? ', ' : ''}...init };`,
    );
    out.push('}');
    out.push('');

    out.push(
      `const ${name}_FIELDS: Readonly<Record<number, string>> = { ${fields.map((f) => `${f.id}: '${f.name}'`).join(', ')} };`,
    );
    out.push('');
    out.push(`export function decode${name}(r: ProtoReader): ${name} {`);
    out.push(`  const m = new${name}();`);
    out.push('  while (r.more()) {');
    out.push(`    const key = r.tag('${protoPath(type)}');`);
    out.push('    switch (key) {');
    for (const field of fields) {
      const prop = `m.${camel(field.name)}`;
      const scalar = scalarInfo(field, type);
      if (!scalar) {
        const decoder = `decode${tsName(field.resolvedType!)}`;
        out.push(
          `      case ${(field.id << 3) | 2}: ${field.repeated ? `${prop}.push(r.message(${decoder}))` : `${prop} = r.message(${decoder})`}; break;`,
        );
        continue;
      }
      if (!field.repeated) {
        out.push(`      case ${(field.id << 3) | scalar.wire}: ${prop} = ${scalar.read}; break;`);
        continue;
      }
      out.push(`      case ${(field.id << 3) | scalar.wire}: ${prop}.push(${scalar.read}); break;`);
      if (scalar.wire !== 2) {
        // Accept both encodings of a repeated number, as protobuf parsers must.
        const size = scalar.fixedSize === undefined ? '' : String(scalar.fixedSize);
        out.push(
          `      case ${(field.id << 3) | 2}: { const end = r.beginPacked(${size}); while (r.pos < end) ${prop}.push(${scalar.read}); r.endPacked(end); break; }`,
        );
      }
    }
    out.push(`      default: r.skipField(key, '${protoPath(type)}', ${name}_FIELDS);`);
    out.push('    }');
    out.push('  }');
    out.push('  return m;');
    out.push('}');
    out.push('');

    // Fields in number order, as protobuf's C++ serializer writes them, so files re-encode byte for byte.
    out.push(`export function encode${name}(w: ProtoWriter, m: ${name}): void {`);
    for (const field of fields) {
      const prop = `m.${camel(field.name)}`;
      const scalar = scalarInfo(field, type);
      if (!scalar) {
        const encoder = `encode${tsName(field.resolvedType!)}`;
        if (field.repeated)
          out.push(`  for (const v of ${prop} ?? []) { w.tag(${field.id}, 2); w.delimited(() => ${encoder}(w, v)); }`);
        else
          out.push(
            `  if (${prop} !== undefined) { w.tag(${field.id}, 2); const v = ${prop}; w.delimited(() => ${encoder}(w, v)); }`,
          );
        continue;
      }
      if (!field.repeated) {
        out.push(`  if (${prop} !== undefined) { w.tag(${field.id}, ${scalar.wire}); w.${scalar.write}(${prop}); }`);
      } else if (field.options?.['packed'] === true && scalar.wire !== 2) {
        out.push(
          `  if (${prop} !== undefined && ${prop}.length > 0) { w.tag(${field.id}, 2); const list = ${prop}; w.delimited(() => { for (const v of list) w.${scalar.write}(v); }); }`,
        );
      } else {
        out.push(`  for (const v of ${prop} ?? []) { w.tag(${field.id}, ${scalar.wire}); w.${scalar.write}(v); }`);
      }
    }
    out.push('}');
    out.push('');
  }
  return out.join('\n');
}

const args = parseArgs(process.argv.slice(2));
const source = args.proto
  ? { text: readFileSync(args.proto, 'utf8'), origin: path.basename(args.proto) }
  : protoFromWheel(args.onnxVersion);
writeFileSync(OUTPUT, generate(source.text, source.origin));
process.stdout.write(`wrote ${path.relative(process.cwd(), OUTPUT)}\n`);
