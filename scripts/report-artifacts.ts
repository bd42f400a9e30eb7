/**
 * Per artifact of the given models (from the build cache): Transpose count (goal 0 for CNNs),
 * Flex op count (goal 0), quantisation kind, size and size relative to fp32 (int8 near 1/4),
 * read from each convert step's artifact.json (which the package step carries into the manifest).
 *
 *   node --import tsx scripts/report-artifacts.ts [--root DIR] [--json] MODEL...   (or --all)
 */
import path from 'node:path';
import { loadProjectPlan } from '../src/build/index.js';
import { ARTIFACT_FILE, readStepFile, type ArtifactRecord } from '../src/build/step-files.js';
import { LocalCache } from '../src/cache/index.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const rootFlag = args.indexOf('--root');
const root = path.resolve(rootFlag >= 0 ? args[rootFlag + 1]! : process.cwd());
const names = args.filter((arg, i) => !arg.startsWith('--') && !(rootFlag >= 0 && i === rootFlag + 1));

const { plan } = await loadProjectPlan(root, args.includes('--all') ? [] : names);
const cache = new LocalCache(path.join(root, 'artifacts', 'cache'));
const rows: Array<{ step: string; artifact?: ArtifactRecord }> = [];
for (const step of plan.steps.filter((s) => s.kind === 'convert')) {
  const entry = await cache.get(step.fingerprint);
  const artifact = entry ? await readStepFile(entry.dir, ARTIFACT_FILE) : undefined;
  rows.push({ step: step.id, ...(artifact ? { artifact } : {}) });
}
if (json) {
  process.stdout.write(
    `${JSON.stringify(
      rows.map(({ step, artifact }) => ({
        step,
        bytes: artifact?.bytes,
        sizeRatio: artifact?.sizeRatio,
        ...artifact?.inspect,
      })),
      null,
      2,
    )}\n`,
  );
} else {
  const header = ['artifact', 'converter', 'bytes', 'x fp32', 'Transpose', 'Flex', 'quantization', 'ops'];
  const table = rows.map(({ step, artifact: a }) =>
    a
      ? [
          step.replace('/convert/', ' '),
          a.converter,
          String(a.bytes),
          a.sizeRatio === null ? '-' : a.sizeRatio.toFixed(3),
          String(a.inspect.transposeCount),
          String(a.inspect.flexOps.length),
          a.inspect.quantizationKind,
          String(a.inspect.opCount),
        ]
      : [step.replace('/convert/', ' '), 'not built', '', '', '', '', '', ''],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  for (const row of [header, ...table])
    process.stdout.write(
      `${row.map((cell, i) => (i >= 2 && i <= 5 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ')}\n`,
    );
}
