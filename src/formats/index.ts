/**
 * Opening "some model file", netron-style: each format recognises its files (`match`) and opens
 * them (`inspect`, `formatSummary`). The formats are the catalogue's (src/catalogue: a FormatSpec
 * is a ModelFormat); `edgezoo inspect` passes them in.
 */
import { open as openFile } from 'node:fs/promises';
import path from 'node:path';
import { EdgezooError } from '../errors.js';

/** One model format: how to recognise a file and summarise it. */
export interface ModelFormat<Summary = unknown> {
  name: string;
  /** File extensions, lower case with the dot; a match by extension comes first. */
  extensions: readonly string[];
  /** Recognises the format from the first bytes of a file (at least HEADER_BYTES when the file is that long). */
  match(header: Uint8Array): boolean;
  /** Reads the file and summarises it as a JSON-serialisable object. */
  inspect(filePath: string): Promise<Summary>;
  /** The human summary, one line per string. */
  formatSummary(summary: Summary): string[];
}

/** How many leading bytes `match` is given. */
export const HEADER_BYTES = 64;

/** A file edgezoo does not know how to read. */
export class UnknownModelFormatError extends EdgezooError {
  constructor(filePath: string, formats: readonly ModelFormat[]) {
    super(
      'FORMAT_UNKNOWN',
      `${filePath} is not a model format edgezoo knows (${formats.map((f) => f.name).join(', ')})`,
      {
        hint: `give a file ending in ${formats.flatMap((f) => f.extensions).join(', ')}`,
      },
    );
  }
}

/** Finds the format of a file among `formats`: by extension first, then by content. Undefined when none fits. */
export function matchFormat<F extends ModelFormat>(
  filePath: string,
  header: Uint8Array,
  formats: readonly F[],
): F | undefined {
  const extension = path.extname(filePath).toLowerCase();
  return formats.find((f) => f.extensions.includes(extension)) ?? formats.find((f) => f.match(header));
}

/** Reads the first bytes of a file; a missing file is a typed error. */
export async function readHeader(filePath: string): Promise<Uint8Array> {
  let handle;
  try {
    handle = await openFile(filePath, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EdgezooError(
      'FILE_NOT_FOUND',
      code === 'ENOENT' ? `${filePath} does not exist` : `cannot read ${filePath}: ${code ?? String(error)}`,
    );
  }
  try {
    const header = new Uint8Array(HEADER_BYTES);
    const { bytesRead } = await handle.read(header, 0, HEADER_BYTES, 0);
    return header.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A file opened through the registry: its format, machine summary and human lines. */
export interface OpenedModel {
  format: string;
  summary: unknown;
  lines: string[];
}

/** Recognises and summarises a model file. Throws UnknownModelFormatError or the format's typed error. */
export async function openModel(filePath: string, formats: readonly ModelFormat[]): Promise<OpenedModel> {
  const header = await readHeader(filePath);
  const format = matchFormat(filePath, header, formats);
  if (!format) throw new UnknownModelFormatError(filePath, formats);
  const summary = await format.inspect(filePath);
  return { format: format.name, summary, lines: format.formatSummary(summary) };
}
