/**
 * The static site page: one plain HTML table over index.json, no scripts, no framework, so the
 * zoo folder served by any static file server (or opened from disk) is browsable.
 */
import { formatBytes } from '../util/format.js';
import type { IndexArtifact, ZooIndex } from '../zoo/index.js';

/** Renders index.html for a zoo index; links are relative, so the page works wherever the tree is served. */
export function renderSiteHtml(index: ZooIndex, title = 'edgezoo model zoo'): string {
  const rows: string[] = [];
  for (const model of index.models) {
    for (const version of model.versions) {
      const yanked = version.yanked
        ? ` <span class="yanked" title="${esc(version.yanked.reason)}">yanked: ${esc(version.yanked.reason)}</span>`
        : '';
      for (const artifact of version.artifacts) {
        rows.push(
          [
            '<tr>',
            `<td class="model"><a href="${esc(version.card)}">${esc(model.name)}</a></td>`,
            `<td class="version">${esc(version.version)}${yanked}</td>`,
            `<td class="format">${esc(artifact.format)}</td>`,
            `<td class="precision">${esc(artifact.precision)}</td>`,
            `<td class="size" data-bytes="${artifact.size}">${esc(formatBytes(artifact.size))}</td>`,
            `<td class="validation">${esc(validationText(artifact))}</td>`,
            `<td class="latency">${artifact.benchmark ? `${artifact.benchmark.medianMs.toFixed(2)} ms (p90 ${artifact.benchmark.p90Ms.toFixed(2)})` : '-'}</td>`,
            `<td class="license">${version.licenseFile ? `<a href="${esc(version.licenseFile.url)}">${esc(version.license)}</a>` : esc(version.license)}</td>`,
            `<td class="download">${artifact.files
              .map(
                (f) =>
                  `<a class="file" href="${esc(f.url)}" download="${esc(f.name)}" data-sha256="${f.sha256}" data-size="${f.size}">${esc(f.name)}</a><br><code class="sha256">sha256 ${f.sha256}</code>`,
              )
              .join('<br>')}</td>`,
            '</tr>',
          ].join(''),
        );
      }
    }
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
code { font-size: 0.75rem; }
.yanked { color: #a00; font-weight: bold; }
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p>${index.models.length} model(s). Machine-readable: <a href="index.json">index.json</a> (signature: <a href="index.json.sig">index.json.sig</a>). Pull with <code>edgezoo pull NAME@VERSION --index URL-of-index.json</code>.</p>
<table id="zoo">
<thead><tr><th>model</th><th>version</th><th>format</th><th>precision</th><th>size</th><th>validation</th><th>latency (median)</th><th>license</th><th>download</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
</body>
</html>
`;
}

function validationText(artifact: IndexArtifact): string {
  const metrics = Object.values(artifact.validation.metrics);
  if (metrics.length === 0) return artifact.validation.status;
  const cosine = Math.min(...metrics.map((m) => m.cosine));
  const maxAbs = Math.max(...metrics.map((m) => m.maxAbs));
  const top1 = metrics.map((m) => m.top1).filter((x): x is number => x !== undefined);
  return `${artifact.validation.status}: cosine ${cosine.toFixed(4)}, max abs ${maxAbs.toPrecision(3)}${top1.length > 0 ? `, top-1 ${(Math.min(...top1) * 100).toFixed(1)} %` : ''}`;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
