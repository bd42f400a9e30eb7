/**
 * Prints the validation figures of a built zoo, one row per artifact (passed and failed):
 * max abs error, cosine, top-1 agreement and single-thread median latency, and checks the
 * goals: fp32 TFLite within 1e-4 of the source, int8 keeping >= 95 % top-1 agreement.
 *
 *   node --import tsx scripts/report-validation.ts [ZOO_DIR] [--json]
 *
 * ZOO_DIR defaults to artifacts/zoo of the project in the current folder (for the test zoo,
 * keep the pipeline test's project with EDGEZOO_KEEP_TEST_PROJECT=1 and pass its zoo).
 * Exit status 1 when a goal is missed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { findProjectRoot } from '../src/paths.js';
import { parseIndex, parseManifest, type ValidationFigures } from '../src/zoo/index.js';

interface Row {
  model: string;
  target: string;
  status: string;
  output: string;
  maxAbs?: number;
  cosine?: number;
  top1?: number;
  medianMs?: number;
  synthetic: boolean;
}

const args = process.argv.slice(2);
const json = args.includes('--json');
const zooDir = path.resolve(
  args.find((arg) => !arg.startsWith('--')) ?? path.join(findProjectRoot(), 'artifacts', 'zoo'),
);

const indexPath = path.join(zooDir, 'index.json');
const index = parseIndex(await readFile(indexPath, 'utf8'), indexPath);
const rows: Row[] = [];
function addRows(
  model: string,
  target: string,
  validation: ValidationFigures | undefined,
  status: string,
  medianMs?: number,
) {
  const metrics = Object.entries(validation?.metrics ?? {});
  if (metrics.length === 0)
    rows.push({ model, target, status, output: '-', synthetic: validation?.synthetic === true });
  for (const [output, m] of metrics) {
    rows.push({
      model,
      target,
      status,
      output,
      maxAbs: m.maxAbs,
      cosine: m.cosine,
      ...(m.top1 !== undefined ? { top1: m.top1 } : {}),
      ...(medianMs !== undefined ? { medianMs } : {}),
      synthetic: validation?.synthetic === true,
    });
  }
}
for (const model of index.models) {
  const version = model.versions[0];
  if (!version) continue;
  for (const artifact of version.artifacts)
    addRows(
      model.name,
      `${artifact.format}/${artifact.precision}`,
      artifact.validation,
      'passed',
      artifact.benchmark?.medianMs,
    );
  // Failed targets keep their figures only in the manifest (the index lists no figures for them).
  const manifestPath = path.join(zooDir, version.manifest.url);
  const manifest = parseManifest(await readFile(manifestPath, 'utf8'), manifestPath);
  for (const failed of manifest.failed)
    addRows(model.name, `${failed.format}/${failed.precision}`, failed.validation, 'FAILED');
}

const goals: Array<{ goal: string; met: boolean; detail: string }> = [];
for (const row of rows) {
  if (row.status !== 'passed') continue;
  if (row.target === 'tflite/fp32' && row.maxAbs !== undefined) {
    goals.push({
      goal: `${row.model} ${row.target} max abs error <= 1e-4`,
      met: row.maxAbs <= 1e-4,
      detail: row.maxAbs.toExponential(2),
    });
  }
  if (row.target.endsWith('/int8') && row.top1 !== undefined) {
    goals.push({
      goal: `${row.model} ${row.target} top-1 agreement >= 95 %`,
      met: row.top1 >= 0.95,
      detail: `${(row.top1 * 100).toFixed(1)} %`,
    });
  }
}

if (json) {
  process.stdout.write(`${JSON.stringify({ zoo: zooDir, rows, goals }, null, 2)}\n`);
} else {
  const table = [
    ['model', 'artifact', 'status', 'output', 'max abs', 'cosine', 'top-1', 'median ms (1 thread)'],
    ...rows.map((row) => [
      row.model,
      row.target,
      row.status + (row.synthetic ? ' (synthetic inputs)' : ''),
      row.output,
      row.maxAbs === undefined ? '-' : row.maxAbs.toExponential(2),
      row.cosine === undefined ? '-' : row.cosine.toFixed(6),
      row.top1 === undefined ? '-' : `${(row.top1 * 100).toFixed(1)} %`,
      row.medianMs === undefined ? '-' : row.medianMs.toFixed(3),
    ]),
  ];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((cells) => cells[column]!.length)));
  for (const cells of table)
    console.log(
      cells
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    );
  console.log('');
  for (const goal of goals) console.log(`${goal.met ? 'met   ' : 'MISSED'} ${goal.goal}: ${goal.detail}`);
  if (goals.length === 0) console.log('no fp32 TFLite or int8 artifact with figures: no goal to check');
}
process.exitCode = goals.every((goal) => goal.met) ? 0 : 1;
