/**
 * Regenerates src/formats/tflite/schema.generated.ts from the TFLite schema that the
 * `ai-edge-litert` PyPI wheel ships as flatc-generated Python (`schema_py_generated.py`).
 *
 *   node --import tsx scripts/gen-tflite-schema.ts [path/to/python | path/to/schema_py_generated.py]
 *
 * Default: the toolchain venv artifacts/envs/tf/bin/python. We read the Python rather than
 * schema.fbs because the wheel carries no .fbs and flatc is not installed; the generated Python
 * states, per table, every field's slot, scalar type and default (`XAddY` -> `PrependTSlot`),
 * and every enum's values, which is all the reader and the metadata writer need.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outputPath = path.join(repoRoot, 'src/formats/tflite/schema.generated.ts');

function locateSchema(arg: string | undefined): { file: string; version: string } {
  if (arg?.endsWith('.py') && !arg.endsWith('python')) return { file: arg, version: 'unknown' };
  const python = arg ?? path.join(repoRoot, 'artifacts/envs/tf/bin/python');
  const out = execFileSync(
    python,
    [
      '-c',
      'import ai_edge_litert, os, importlib.metadata as m; ' +
        'print(os.path.join(os.path.dirname(ai_edge_litert.__file__), "schema_py_generated.py")); ' +
        'print(m.version("ai-edge-litert"))',
    ],
    { encoding: 'utf8' },
  );
  const [file, version] = out.trim().split('\n');
  if (!file || !version) throw new Error(`could not locate schema_py_generated.py with ${python}`);
  return { file, version };
}

const scalarKinds: Record<string, string> = {
  Bool: 'bool',
  Int8: 'int8',
  Uint8: 'uint8',
  Int16: 'int16',
  Uint16: 'uint16',
  Int32: 'int32',
  Uint32: 'uint32',
  Int64: 'int64',
  Uint64: 'uint64',
  Float32: 'float32',
  Float64: 'float64',
  UOffsetTRelative: 'offset',
};

interface FieldOut {
  name: string;
  slot: number;
  kind: string;
  defaultValue: number;
  vector?: { elementSize: number; alignment: number };
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function parseSchema(source: string) {
  const lines = source.split('\n');
  const enums = new Map<string, Array<[string, number]>>();
  const tables = new Map<string, { fieldCount: number; fields: FieldOut[] }>();

  // Enums: `class X(object):` whose body is only `NAME = <int>` lines.
  for (let i = 0; i < lines.length; i++) {
    const head = /^class (\w+)\(object\):$/.exec(lines[i] ?? '');
    if (!head) continue;
    const values: Array<[string, number]> = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j] ?? '';
      const value = /^ {4}(\w+) = (-?\d+)$/.exec(line);
      if (value) values.push([value[1]!, Number(value[2])]);
      else if (line.trim() !== '') break;
    }
    if (values.length > 0 && !/__slots__/.test(lines[j] ?? '')) enums.set(head[1]!, values);
  }

  for (let i = 0; i < lines.length; i++) {
    const start = /^def (\w+)Start\(builder\):$/.exec(lines[i] ?? '');
    const count = /builder\.StartObject\((\d+)\)/.exec(lines[i + 1] ?? '');
    if (start && count) tables.set(start[1]!, { fieldCount: Number(count[1]), fields: [] });
  }
  const tableNames = [...tables.keys()].sort((a, b) => b.length - a.length);
  const ownerOf = (functionName: string, marker: string): [string, string] | undefined => {
    for (const table of tableNames) {
      if (functionName.startsWith(table + marker)) return [table, functionName.slice(table.length + marker.length)];
    }
    return undefined;
  };

  const vectorShapes = new Map<string, { elementSize: number; alignment: number }>();
  for (let i = 0; i < lines.length; i++) {
    const def = /^def (\w+)\(builder, /.exec(lines[i] ?? '');
    if (!def) continue;
    const body = lines[i + 1] ?? '';
    const vector = /return builder\.StartVector\((\d+), numElems, (\d+)\)/.exec(body);
    if (vector && def[1]!.endsWith('Vector')) {
      const owner = ownerOf(def[1]!.slice(0, -'Vector'.length), 'Start');
      if (owner) {
        vectorShapes.set(`${owner[0]}.${owner[1]}`, { elementSize: Number(vector[1]), alignment: Number(vector[2]) });
      }
      continue;
    }
    const slot = /builder\.Prepend(\w+)Slot\((\d+), .*, (-?[\d.]+|True|False)\)$/.exec(body);
    if (!slot) continue;
    const owner = ownerOf(def[1]!, 'Add');
    if (!owner) continue;
    const kind = scalarKinds[slot[1]!];
    if (!kind) throw new Error(`unknown slot type ${slot[1]} in ${def[1]}`);
    const rawDefault = slot[3]!;
    const defaultValue = rawDefault === 'True' ? 1 : rawDefault === 'False' ? 0 : Number(rawDefault);
    tables.get(owner[0])!.fields.push({ name: lowerFirst(owner[1]), slot: Number(slot[2]), kind, defaultValue });
  }
  for (const [table, { fields }] of tables) {
    for (const field of fields) {
      const upper = field.name.charAt(0).toUpperCase() + field.name.slice(1);
      const shape = vectorShapes.get(`${table}.${upper}`);
      if (shape) field.vector = shape;
    }
    fields.sort((a, b) => a.slot - b.slot);
  }
  return { enums, tables };
}

function render(parsed: ReturnType<typeof parseSchema>, origin: string): string {
  const out: string[] = [];
  out.push('// GENERATED by scripts/gen-tflite-schema.ts; do not edit by hand, regenerate instead.');
  out.push(`// Source: ${origin}`);
  out.push('/* eslint-disable */');
  out.push('');
  out.push(
    "/** How a field is stored in its table: a scalar of this type, or a uoffset ('offset') to a table, vector or string. */",
  );
  out.push(
    "export type FieldKind = 'bool' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64' | 'offset';",
  );
  out.push('');
  out.push('/** One field of a table: its vtable slot, storage kind, default, and element size for scalar vectors. */');
  out.push('export interface FieldSchema {');
  out.push('  readonly slot: number;');
  out.push('  readonly kind: FieldKind;');
  out.push('  readonly defaultValue: number;');
  out.push('  readonly vector?: { readonly elementSize: number; readonly alignment: number };');
  out.push('}');
  out.push('');
  out.push('/** One table: how many slots the current schema knows, and its fields by name. */');
  out.push('export interface TableSchema {');
  out.push('  readonly fieldCount: number;');
  out.push('  readonly fields: Readonly<Record<string, FieldSchema>>;');
  out.push('}');
  out.push('');
  for (const [name, values] of parsed.enums) {
    out.push(`/** The schema enum ${name}: value -> name. */`);
    out.push(`export const ${name}Names: Readonly<Record<number, string>> = {`);
    for (const [key, value] of values) out.push(`  ${value}: '${key}',`);
    out.push('};');
    out.push('');
  }
  out.push('/** Every table of the schema with its fields. */');
  out.push('export const tables = {');
  for (const [name, table] of parsed.tables) {
    out.push(`  ${name}: {`);
    out.push(`    fieldCount: ${table.fieldCount},`);
    out.push('    fields: {');
    for (const field of table.fields) {
      const vector = field.vector
        ? `, vector: { elementSize: ${field.vector.elementSize}, alignment: ${field.vector.alignment} }`
        : '';
      out.push(
        `      ${field.name}: { slot: ${field.slot}, kind: '${field.kind}', defaultValue: ${field.defaultValue}${vector} },`,
      );
    }
    out.push('    },');
    out.push('  },');
  }
  out.push('} as const satisfies Record<string, TableSchema>;');
  out.push('');
  return out.join('\n');
}

const { file, version } = locateSchema(process.argv[2]);
const parsed = parseSchema(readFileSync(file, 'utf8'));
for (const required of [
  'Model',
  'SubGraph',
  'Tensor',
  'Operator',
  'OperatorCode',
  'Buffer',
  'Metadata',
  'SignatureDef',
]) {
  if (!parsed.tables.has(required)) throw new Error(`table ${required} not found in ${file}`);
}
if (!parsed.enums.has('BuiltinOperator') || !parsed.enums.has('TensorType'))
  throw new Error(`enums not found in ${file}`);
writeFileSync(outputPath, render(parsed, `ai-edge-litert ${version}, ai_edge_litert/schema_py_generated.py`));
console.log(`wrote ${path.relative(repoRoot, outputPath)}: ${parsed.tables.size} tables, ${parsed.enums.size} enums`);
