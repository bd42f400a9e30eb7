/**
 * The model card (`README.md` of a version folder), in the shape of a Hugging Face model card:
 * YAML front matter for machines, then what a person needs to use the model.
 */
import { dump } from 'js-yaml';
import { formatBytes } from '../util/format.js';
import { LICENSE_FILE } from './layout.js';
import type { Manifest, ManifestArtifact, OutputMetrics } from './types.js';

/** SPDX ids that Hugging Face accepts as `license:` (lower-cased); anything else becomes `other` + `license_name`. */
const HF_LICENSES = new Set([
  'apache-2.0',
  'mit',
  'bsd-2-clause',
  'bsd-3-clause',
  'gpl-2.0',
  'gpl-3.0',
  'lgpl-2.1',
  'lgpl-3.0',
  'agpl-3.0',
  'mpl-2.0',
  'cc0-1.0',
  'cc-by-4.0',
  'cc-by-sa-4.0',
  'cc-by-nc-4.0',
  'cc-by-nc-sa-4.0',
  'cc-by-nd-4.0',
  'unlicense',
  'openrail',
  'bigscience-openrail-m',
  'creativeml-openrail-m',
  'llama2',
  'llama3',
  'gemma',
  'bsl-1.0',
  'isc',
  'zlib',
]);

/** Renders the card of one version from its manifest; deterministic for a given manifest. */
export function renderModelCard(manifest: Manifest): string {
  const formats = [...new Set(manifest.artifacts.map((a) => a.format))];
  const spdx = manifest.license.toLowerCase();
  const front: Record<string, unknown> = HF_LICENSES.has(spdx)
    ? { license: spdx }
    : { license: 'other', license_name: manifest.license };
  if (manifest.licenseFile) front.license_link = LICENSE_FILE;
  Object.assign(front, {
    library_name: formats.includes('onnx') ? 'onnx' : (formats[0] ?? 'edgezoo'),
    pipeline_tag: manifest.task,
    tags: [...new Set([...manifest.tags, ...formats, 'edge', 'edgezoo'])],
    model_name: manifest.name,
    model_version: manifest.version,
  });

  const lines: string[] = ['---', dump(front, { lineWidth: -1, noRefs: true }).trimEnd(), '---', ''];
  lines.push(`# ${manifest.name} ${manifest.version}`, '', manifest.description, '');
  lines.push(`- Task: ${manifest.task}`);
  if (manifest.homepage) lines.push(`- Homepage: ${manifest.homepage}`);
  lines.push(
    `- License: ${manifest.license}${manifest.licenseFile ? ` (text in [${LICENSE_FILE}](${LICENSE_FILE}))` : ''}`,
    '',
  );

  lines.push('## Inputs', '', '| name | shape | dtype | layout | value range |', '| --- | --- | --- | --- | --- |');
  for (const input of manifest.inputs) {
    lines.push(
      `| ${cell(input.name)} | [${input.shape.join(', ')}] | ${input.dtype} | ${input.layout} | [${input.range.join(', ')}] |`,
    );
  }
  lines.push('', '## Preprocessing', '');
  const p = manifest.preprocess;
  lines.push(
    `x = (raw * ${p.scale} - mean) / std, mean = [${p.mean.join(', ')}], std = [${p.std.join(', ')}], channel order ${p.channelOrder.toUpperCase()}${p.resize ? ', images resized to the input height and width' : ''}.`,
  );
  lines.push(
    'Artifacts can change the layout (TFLite is usually NHWC): each artifact below lists its own signature.',
    '',
  );
  if (manifest.outputs.length > 0) {
    lines.push('## Outputs', '', '| name | layout | classifier |', '| --- | --- | --- |');
    for (const output of manifest.outputs)
      lines.push(`| ${cell(output.name)} | ${output.layout ?? '-'} | ${output.classifier ? 'yes' : 'no'} |`);
    lines.push('');
  }

  lines.push('## Artifacts', '');
  if (manifest.artifacts.length === 0) lines.push('No artifact passed validation.', '');
  for (const artifact of manifest.artifacts) lines.push(...renderArtifact(artifact));

  if (manifest.skipped.length > 0) {
    lines.push('## Skipped targets', '', '| format | precision | reason |', '| --- | --- | --- |');
    for (const s of manifest.skipped) lines.push(`| ${s.format} | ${s.precision} | ${cell(s.reason)} |`);
    lines.push('');
  }
  if (manifest.failed.length > 0) {
    lines.push(
      '## Failed targets',
      '',
      'These were built or tried and are **not published**.',
      '',
      '| format | precision | status | reason |',
      '| --- | --- | --- | --- |',
    );
    for (const f of manifest.failed) lines.push(`| ${f.format} | ${f.precision} | FAILED | ${cell(f.reason)} |`);
    lines.push('');
  }

  lines.push('## Source and provenance', '');
  lines.push(`- Source: ${manifest.source.kind} from ${manifest.source.location}`);
  lines.push(`- Source sha256: \`${manifest.source.sha256}\``);
  lines.push(`- Recipe fingerprint: \`${manifest.recipeFingerprint}\``);
  const tools = Object.entries(manifest.toolVersions).sort(([a], [b]) => a.localeCompare(b));
  if (tools.length > 0) lines.push(`- Tools: ${tools.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(
    '',
    '## License',
    '',
    `${manifest.license}. The license applies to every artifact of this model.${manifest.licenseFile ? ` Full text: [${LICENSE_FILE}](${LICENSE_FILE}).` : ''}`,
    '',
  );
  return lines.join('\n');
}

function renderArtifact(a: ManifestArtifact): string[] {
  const size = a.files.reduce((sum, f) => sum + f.size, 0);
  const lines = [`### ${a.format} ${a.precision}`, '', '| file | size | sha256 |', '| --- | --- | --- |'];
  for (const f of a.files) lines.push(`| [${f.name}](${f.name}) | ${formatBytes(f.size)} | \`${f.sha256}\` |`);
  lines.push('');
  const facts = [`total ${formatBytes(size)}`];
  if (a.sizeRatio !== undefined) facts.push(`${(a.sizeRatio * 100).toFixed(0)} % of fp32`);
  if (a.transposeCount !== undefined) facts.push(`${a.transposeCount} Transpose ops`);
  if (a.flexOps && a.flexOps.length > 0) facts.push(`needs Flex ops: ${a.flexOps.join(', ')}`);
  lines.push(`Size: ${facts.join(', ')}.`, '');
  lines.push('Signature:', '');
  for (const [kind, tensors] of [
    ['input', a.signature.inputs],
    ['output', a.signature.outputs],
  ] as const) {
    for (const t of tensors) {
      const q = t.quantization
        ? `, quantized scale ${t.quantization.scale.join('/')} zero point ${t.quantization.zeroPoint.join('/')}`
        : '';
      lines.push(`- ${kind} \`${t.name}\`: ${t.dtype} [${t.shape.join(', ')}]${t.layout ? ` ${t.layout}` : ''}${q}`);
    }
  }
  lines.push(
    '',
    `Validation: **${a.validation.status}**${a.validation.samples !== undefined ? ` on ${a.validation.samples} samples` : ''}${a.validation.synthetic ? ' (validated on synthetic inputs: seeded random data, the recipe names no validation samples)' : ''}.`,
    '',
  );
  const metrics = Object.entries(a.validation.metrics);
  if (metrics.length > 0) {
    lines.push(
      '| output | max abs | mean abs | rmse | cosine | top-1 | top-k |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const [name, m] of metrics)
      lines.push(
        `| ${cell(name)} | ${num(m.maxAbs)} | ${num(m.meanAbs)} | ${num(m.rmse)} | ${m.cosine.toFixed(6)} | ${pct(m, 'top1')} | ${pct(m, 'topk')} |`,
      );
    lines.push('');
  }
  if (a.benchmark) {
    const b = a.benchmark;
    lines.push(
      `Latency: median ${b.medianMs.toFixed(2)} ms, p90 ${b.p90Ms.toFixed(2)} ms, load ${b.loadMs.toFixed(1)} ms, ${b.threads} thread(s), peak RSS ${b.peakRssMb.toFixed(0)} MB${b.runtime ? ` (${b.runtime})` : ''}.`,
      '',
    );
  }
  const tools = Object.entries(a.toolVersions);
  if (tools.length > 0) lines.push(`Built with ${tools.map(([k, v]) => `${k} ${v}`).join(', ')}.`, '');
  return lines;
}

// Cosine similarity is shown with six decimals: 4 significant digits would round 0.99995 to 1.
function num(value: number): string {
  return Number.isFinite(value) ? Number(value.toPrecision(4)).toString() : String(value);
}

function pct(m: OutputMetrics, key: 'top1' | 'topk'): string {
  const value = m[key];
  return value === undefined ? '-' : `${(value * 100).toFixed(1)} %`;
}

/** Keeps a table cell on one line and its pipes literal. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}
