/**
 * Compares two built zoos (their index.json): the same models, versions and targets; per
 * artifact whether every file has the same sha256, and how far each validation figure moved;
 * the same failed and skipped targets. For a refactor that must change no output.
 *
 *   node --import tsx scripts/compare-zoos.ts BEFORE_ZOO AFTER_ZOO [--json] [--tolerance 1e-9]
 *
 * Exit 1 when the zoos differ in what was built, passed, failed or skipped, or when an artifact
 * whose files are byte-identical got other validation figures (beyond --tolerance, relative):
 * identical bytes validated on identical samples must give identical figures. Artifacts with
 * other bytes (a converter that is not deterministic) are listed with their figure changes and
 * do not fail the comparison by themselves.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseIndex, type IndexArtifact, type ZooIndex } from '../src/zoo/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { json: { type: 'boolean', default: false }, tolerance: { type: 'string', default: '1e-9' } },
});
if (positionals.length !== 2) {
  console.error('usage: compare-zoos.ts BEFORE_ZOO AFTER_ZOO [--json] [--tolerance 1e-9]');
  process.exit(2);
}
const tolerance = Number(values.tolerance);

async function load(dir: string): Promise<ZooIndex> {
  const file = path.join(dir, 'index.json');
  return parseIndex(await readFile(file, 'utf8'), file);
}

type Row = {
  target: string;
  bytes: 'same' | 'different' | 'only-before' | 'only-after';
  status: string;
  /** Largest relative change of any validation figure. */
  figureChange: number;
  changed: string[];
};

const [before, after] = (await Promise.all(positionals.map(load))) as [ZooIndex, ZooIndex];
const problems: string[] = [];
const rows: Row[] = [];
const key = (model: string, version: string, a: { format: string; precision: string }) =>
  `${model}@${version} ${a.format}/${a.precision}`;

function figures(artifact: IndexArtifact): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [output, metrics] of Object.entries(artifact.validation.metrics))
    for (const [name, value] of Object.entries(metrics))
      if (typeof value === 'number') out[`${output}.${name}`] = value;
  if (artifact.validation.samples !== undefined) out.samples = artifact.validation.samples;
  return out;
}

function relative(a: number, b: number): number {
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-30);
}

const versionsOf = (index: ZooIndex) =>
  new Map(index.models.flatMap((m) => m.versions.map((v) => [`${m.name}@${v.version}`, { model: m.name, v }])));
const beforeVersions = versionsOf(before);
const afterVersions = versionsOf(after);
for (const name of new Set([...beforeVersions.keys(), ...afterVersions.keys()])) {
  const b = beforeVersions.get(name);
  const a = afterVersions.get(name);
  if (!a || !b) {
    problems.push(`${name}: only in the ${a ? 'after' : 'before'} zoo`);
    continue;
  }
  const list = (items: Array<{ format: string; precision: string; reason: string }>) =>
    items.map((t) => `${t.format}/${t.precision}`).sort();
  if (list(b.v.skipped).join() !== list(a.v.skipped).join())
    problems.push(`${name}: skipped ${list(b.v.skipped).join(', ')} before, ${list(a.v.skipped).join(', ')} after`);
  if (list(b.v.failed).join() !== list(a.v.failed).join())
    problems.push(`${name}: failed ${list(b.v.failed).join(', ')} before, ${list(a.v.failed).join(', ')} after`);
  const afterArtifacts = new Map(a.v.artifacts.map((x) => [key(a.model, a.v.version, x), x]));
  const beforeArtifacts = new Map(b.v.artifacts.map((x) => [key(b.model, b.v.version, x), x]));
  for (const target of new Set([...beforeArtifacts.keys(), ...afterArtifacts.keys()])) {
    const x = beforeArtifacts.get(target);
    const y = afterArtifacts.get(target);
    if (!x || !y) {
      problems.push(`${target}: built only ${x ? 'before' : 'after'}`);
      rows.push({
        target,
        bytes: x ? 'only-before' : 'only-after',
        status: (x ?? y)!.validation.status,
        figureChange: 0,
        changed: [],
      });
      continue;
    }
    const sameBytes =
      x.files.length === y.files.length && x.files.every((file, i) => file.sha256 === y.files[i]?.sha256);
    const fx = figures(x);
    const fy = figures(y);
    const changed: string[] = [];
    let figureChange = 0;
    for (const figure of new Set([...Object.keys(fx), ...Object.keys(fy)])) {
      const change = fx[figure] === undefined || fy[figure] === undefined ? 1 : relative(fx[figure]!, fy[figure]!);
      figureChange = Math.max(figureChange, change);
      if (change > tolerance) changed.push(`${figure} ${fx[figure]} -> ${fy[figure]}`);
    }
    if (x.validation.status !== y.validation.status)
      problems.push(`${target}: validation ${x.validation.status} before, ${y.validation.status} after`);
    if (sameBytes && changed.length > 0)
      problems.push(`${target}: the same bytes validated differently: ${changed.join('; ')}`);
    rows.push({ target, bytes: sameBytes ? 'same' : 'different', status: y.validation.status, figureChange, changed });
  }
}

if (values.json) {
  console.log(JSON.stringify({ rows, problems }, null, 2));
} else {
  for (const row of rows)
    console.log(
      `${row.target.padEnd(48)} ${row.bytes.padEnd(10)} ${row.status.padEnd(7)} ${
        row.changed.length === 0 ? 'figures equal' : `figures moved (max rel ${row.figureChange.toExponential(2)})`
      }`,
    );
  const same = rows.filter((r) => r.bytes === 'same').length;
  const equalFigures = rows.filter((r) => r.changed.length === 0).length;
  console.log(
    `\n${rows.length} artifacts: ${same} byte-identical, ${rows.length - same} with other bytes; ${equalFigures} with equal validation figures`,
  );
  for (const problem of problems) console.log(`DIFFERENT: ${problem}`);
  if (problems.length === 0) console.log('same targets, same verdicts; identical bytes gave identical figures');
}
process.exitCode = problems.length > 0 ? 1 : 0;
