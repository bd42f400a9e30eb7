/**
 * For each int8 / int16-act / dynamic-int8 artifact of a built zoo: the metric it reached (the
 * lowest cosine of its outputs against the source), what the quantization search (or
 * dynamic-int8's keep-float strategies) kept float, and its latency against the fp32 artifact of
 * the same format (same runtime, same host). Failed quantized targets are listed too, with why,
 * and the skipped ones with their reason.
 *
 *   node --import tsx scripts/bench-quant.ts [ZOO_DIR] [--json] [--min-cosine 0.98]
 *
 * ZOO_DIR defaults to artifacts/zoo of the project in the current folder. Exit status 1 when a
 * published quantized artifact is below --min-cosine (default 0.98, the int8 threshold).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { findProjectRoot } from '../src/paths.js';
import { keptFloat } from '../src/zoo/card.js';
import { parseIndex, parseManifest } from '../src/zoo/index.js';
import { benchArgs } from './lib/bench.js';

const USAGE = `usage: node --import tsx scripts/bench-quant.ts [ZOO_DIR] [--json] [--min-cosine 0.98]

For each int8 / int16-act / dynamic-int8 artifact of the zoo: metric (lowest cosine against the
source), layers kept float, latency ratio against fp32 of the same format.`;

const { values, positionals } = benchArgs(USAGE, { json: { type: 'boolean' }, 'min-cosine': { type: 'string' } });
const minCosine = Number(values['min-cosine'] ?? 0.98);
const zooDir = path.resolve(positionals[0] ?? path.join(findProjectRoot(), 'artifacts', 'zoo'));

interface Row {
  model: string;
  target: string;
  status: 'passed' | 'FAILED' | 'skipped';
  cosine?: number;
  keptFloat: string;
  strategy?: string;
  medianMs?: number;
  fp32Ms?: number;
  /** fp32 latency / this latency: > 1 is faster than fp32. */
  speedUp?: number;
  note?: string;
}

/** The precisions with integer weights: the calibrated ones, and dynamic-int8. */
const QUANTIZED = new Set(['int8', 'int16-act', 'dynamic-int8']);
const indexPath = path.join(zooDir, 'index.json');
const index = parseIndex(await readFile(indexPath, 'utf8'), indexPath);
const rows: Row[] = [];
for (const model of index.models) {
  const version = model.versions[0];
  if (!version) continue;
  const manifestPath = path.join(zooDir, version.manifest.url);
  const manifest = parseManifest(await readFile(manifestPath, 'utf8'), manifestPath);
  for (const a of manifest.artifacts) {
    if (!QUANTIZED.has(a.precision)) continue;
    const fp32 = manifest.artifacts.find((x) => x.format === a.format && x.precision === 'fp32');
    const cosines = Object.values(a.validation.metrics).map((m) => m.cosine);
    const medianMs = a.benchmark?.medianMs;
    const fp32Ms = fp32?.benchmark?.medianMs;
    rows.push({
      model: model.name,
      target: `${a.format}/${a.precision}`,
      status: 'passed',
      ...(cosines.length > 0 ? { cosine: Math.min(...cosines) } : {}),
      keptFloat: keptFloat(a),
      ...(a.quantization ? { strategy: a.quantization.strategy } : {}),
      ...(medianMs !== undefined ? { medianMs } : {}),
      ...(fp32Ms !== undefined ? { fp32Ms } : {}),
      ...(medianMs && fp32Ms ? { speedUp: fp32Ms / medianMs } : {}),
    });
  }
  for (const failed of manifest.failed) {
    if (!QUANTIZED.has(failed.precision)) continue;
    const cosines = Object.values(failed.validation?.metrics ?? {}).map((m) => m.cosine);
    rows.push({
      model: model.name,
      target: `${failed.format}/${failed.precision}`,
      status: 'FAILED',
      ...(cosines.length > 0 ? { cosine: Math.min(...cosines) } : {}),
      keptFloat: '-',
      note: failed.reason,
    });
  }
  for (const skipped of manifest.skipped) {
    if (!QUANTIZED.has(skipped.precision)) continue;
    rows.push({
      model: model.name,
      target: `${skipped.format}/${skipped.precision}`,
      status: 'skipped',
      keptFloat: '-',
      note: skipped.reason,
    });
  }
}

const below = rows.filter((r) => r.status === 'passed' && r.cosine !== undefined && r.cosine < minCosine);
if (values.json) {
  process.stdout.write(`${JSON.stringify({ zoo: zooDir, minCosine, rows }, null, 2)}\n`);
} else {
  const table = [
    ['model', 'artifact', 'status', 'cosine', 'kept float', 'strategy', 'ms', 'fp32 ms', 'vs fp32'],
    ...rows.map((r) => [
      r.model,
      r.target,
      r.status,
      r.cosine === undefined ? '-' : r.cosine.toFixed(5),
      r.keptFloat,
      r.strategy ?? '-',
      r.medianMs === undefined ? '-' : r.medianMs.toFixed(2),
      r.fp32Ms === undefined ? '-' : r.fp32Ms.toFixed(2),
      r.speedUp === undefined ? '-' : `${r.speedUp.toFixed(2)}x${r.speedUp < 1 ? ' (slower)' : ''}`,
    ]),
  ];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)));
  for (const cells of table) console.log(cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  '));
  for (const r of rows.filter((x) => x.note)) console.log(`  ${r.model} ${r.target}: ${r.note}`);
  console.log(
    `${rows.filter((r) => r.status === 'passed').length} quantized artifacts published, ${rows.filter((r) => r.status === 'FAILED').length} failed, ${rows.filter((r) => r.status === 'skipped').length} skipped; goal: every published one at cosine >= ${minCosine}: ${below.length === 0 ? 'met' : `MISSED by ${below.map((r) => `${r.model} ${r.target}`).join(', ')}`}`,
  );
}
process.exit(below.length === 0 ? 0 : 1);
