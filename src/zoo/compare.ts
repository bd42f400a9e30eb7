/**
 * Whether two zoo indexes describe the same zoo, leaving out what each build measured on its
 * own machine: the benchmark figures (latency, load time, peak memory, host) and, since the
 * manifest and the model card carry those figures, the manifest's and card's sha256 and size.
 * Everything else must be equal: the models, versions, targets, the sha256 and size of every
 * artifact file, validation figures, skipped and failed targets. Used to show that a merged
 * sharded build equals a single machine's build.
 */
import type { ZooIndex } from './types.js';

/** `index` without the figures each build measures for itself (see the module comment). */
export function withoutBuildMeasurements(index: ZooIndex): unknown {
  return {
    ...index,
    models: index.models.map((model) => ({
      ...model,
      versions: model.versions.map(({ manifest, cardSha256: _card, cardSize: _size, ...version }) => ({
        ...version,
        manifest: { url: manifest.url },
        artifacts: version.artifacts.map(({ benchmark: _benchmark, ...artifact }) => artifact),
      })),
    })),
  };
}

/** The JSON paths where `a` and `b` differ beyond the builds' own measurements; empty when the zoos match. */
export function zooIndexDifferences(a: ZooIndex, b: ZooIndex): string[] {
  const differences: string[] = [];
  diff(withoutBuildMeasurements(a), withoutBuildMeasurements(b), '', differences);
  return differences;
}

function diff(a: unknown, b: unknown, at: string, out: string[]): void {
  if (out.length >= 50) return;
  if (a === b) return;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${at || '(root)'}: ${a.length} entries against ${b.length}`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) diff(a[i], b[i], `${at}[${i}]`, out);
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of [...keys].sort())
      diff((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], at ? `${at}.${key}` : key, out);
    return;
  }
  out.push(`${at || '(root)'}: ${JSON.stringify(a)} against ${JSON.stringify(b)}`);
}
