/**
 * The job summary of a CI build: one row per target of every model version the zoo's
 * build-status.json lists (built, failed or skipped, with why), from that record and the
 * versions' manifests. Appends the Markdown to $GITHUB_STEP_SUMMARY when it is set (GitHub shows
 * it on the run's page), else prints it.
 *
 * usage: npx tsx scripts/ci/build-summary.ts [ZOO_DIR]      (default artifacts/zoo)
 * Exit 0 whatever the build did (the build step fails the job); 1 when the zoo cannot be read.
 */
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readBuildStatus, readManifestIfAny, type BuildStatus, type Manifest } from '../../src/zoo/index.js';

/** One row of the summary. */
export interface SummaryRow {
  version: string;
  target: string;
  result: 'built' | 'failed' | 'skipped';
  note: string;
}

/** Markdown table cells: one line, no column breaks. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();
}

/** The rows of one version: its manifest's targets, or the build's failure lines when it has none. */
export function summaryRows(key: string, build: BuildStatus['versions'][string], manifest?: Manifest): SummaryRow[] {
  const rows: SummaryRow[] = [];
  if (manifest) {
    for (const a of manifest.artifacts)
      rows.push({
        version: key,
        target: `${a.format}/${a.precision}`,
        result: 'built',
        note: a.benchmark ? `${a.benchmark.medianMs.toFixed(2)} ms` : '',
      });
    for (const f of manifest.failed)
      rows.push({ version: key, target: `${f.format}/${f.precision}`, result: 'failed', note: f.reason });
    for (const s of manifest.skipped)
      rows.push({ version: key, target: `${s.format}/${s.precision}`, result: 'skipped', note: s.reason });
  }
  // Failures the manifest cannot show: nothing packaged, or a step that broke after packaging.
  const shown = new Set(rows.filter((r) => r.result === 'failed').map((r) => r.target));
  if (!build.ok)
    for (const line of build.failures) {
      const target = /\/(?:convert|validate|benchmark)\/([a-z0-9]+\/[a-z0-9-]+):/.exec(line)?.[1];
      if (target && shown.has(target)) continue;
      rows.push({
        version: key,
        target: target ?? line.split(':')[0]!.split('/').slice(1).join('/'),
        result: 'failed',
        note: line,
      });
    }
  return rows;
}

const MARK: Record<SummaryRow['result'], string> = { built: '✅ built', failed: '❌ failed', skipped: '⏭️ skipped' };

/** The Markdown of the whole summary. Pure, for the tests. */
export function renderBuildSummary(status: BuildStatus, manifests: ReadonlyMap<string, Manifest | undefined>): string {
  const keys = Object.keys(status.versions).sort();
  if (keys.length === 0) return '## edgezoo build\n\nNo model was built.\n';
  const rows = keys.flatMap((key) => summaryRows(key, status.versions[key]!, manifests.get(key)));
  const count = (result: SummaryRow['result']) => rows.filter((r) => r.result === result).length;
  const failedVersions = keys.filter((key) => !status.versions[key]!.ok).length;
  return [
    '## edgezoo build',
    '',
    `${keys.length} model version(s), ${failedVersions === 0 ? 'all ok' : `${failedVersions} failed`}: **${count('built')} built, ${count('failed')} failed, ${count('skipped')} skipped** target(s)`,
    '',
    '| model | target | result | note |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${cell(r.version)} | ${cell(r.target)} | ${MARK[r.result]} | ${cell(r.note)} |`),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const zoo = path.resolve(process.argv[2] ?? path.join('artifacts', 'zoo'));
  const status = await readBuildStatus(zoo);
  const manifests = new Map<string, Manifest | undefined>();
  for (const key of Object.keys(status.versions)) {
    const at = key.lastIndexOf('@');
    manifests.set(key, await readManifestIfAny(path.join(zoo, key.slice(0, at), key.slice(at + 1))));
  }
  const markdown = renderBuildSummary(status, manifests);
  const target = process.env.GITHUB_STEP_SUMMARY;
  if (target) await appendFile(target, markdown);
  else process.stdout.write(markdown);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error: unknown) => {
    console.error(`build-summary: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
