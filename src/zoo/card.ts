/**
 * The model card (`README.md` of a version folder), in the shape of a Hugging Face model card:
 * YAML front matter for machines (only keys and `pipeline_tag` values Hugging Face knows), then
 * for people a compact table of every artifact, how to download it, what goes in and comes out,
 * code that runs it (generated from the artifact's real inputs and outputs, see snippets.ts),
 * and the details: files, figures, what was skipped or failed, provenance and license.
 */
import { dump } from 'js-yaml';
import { PRECISION_NAMES } from '../catalogue/precisions.js';
import { pulledDocumentName } from './document-names.js';
import { formatBytes } from '../util/format.js';
import { artifactIo, inputKind } from './io-contract.js';
import { LICENSE_FILE } from './layout.js';
import { javascriptSnippet, pythonSnippet, type PythonRuntime } from './snippets.js';
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

/**
 * Hugging Face's pipeline tags (huggingface.js `PIPELINE_DATA`) that edge models here can have.
 * A task outside it is mapped by `huggingFacePipelineTag`, or the card has no `pipeline_tag`
 * (the task stays in `tags`): an unknown value puts the model in no task filter on the Hub.
 */
export const HF_PIPELINE_TAGS: ReadonlySet<string> = new Set([
  'audio-classification',
  'audio-to-audio',
  'automatic-speech-recognition',
  'depth-estimation',
  'feature-extraction',
  'image-classification',
  'image-feature-extraction',
  'image-segmentation',
  'image-to-image',
  'image-to-text',
  'keypoint-detection',
  'mask-generation',
  'object-detection',
  'text-classification',
  'text-to-speech',
  'time-series-forecasting',
  'token-classification',
  'video-classification',
  'voice-activity-detection',
  'zero-shot-image-classification',
  'zero-shot-object-detection',
]);

/** The Hugging Face pipeline tag for an edgezoo task, or undefined when none fits. */
export function huggingFacePipelineTag(task: string, audio: boolean): string | undefined {
  if (HF_PIPELINE_TAGS.has(task)) return task;
  if (/landmarks?$|keypoints?$|pose|face-mesh/.test(task)) return 'keypoint-detection';
  if (/segmentation$/.test(task)) return 'image-segmentation';
  if (/detection$/.test(task)) return audio ? undefined : 'object-detection';
  if (/classification$/.test(task)) return audio ? 'audio-classification' : 'image-classification';
  if (/depth/.test(task)) return 'depth-estimation';
  return undefined;
}

/** The formats the card has code for, in the order it shows them; a format missing here gets no code section. */
const RUNTIME_OF: Record<string, { python: PythonRuntime; title: string }> = {
  onnx: { python: 'onnxruntime', title: 'onnxruntime' },
  tflite: { python: 'litert', title: 'LiteRT (ai-edge-litert)' },
  openvino: { python: 'openvino', title: 'OpenVINO' },
};

/** Renders the card of one version from its manifest; deterministic for a given manifest. */
export function renderModelCard(manifest: Manifest): string {
  const formats = [...new Set(manifest.artifacts.map((a) => a.format))];
  const audio = manifest.inputs.some((input) => inputKind(input, manifest) === 'audio');
  const lines: string[] = ['---', frontMatter(manifest, formats, audio), '---', ''];
  lines.push(`# ${manifest.name} ${manifest.version}`, '', manifest.description, '');
  lines.push(...summaryTable(manifest));
  lines.push(
    `Task: ${manifest.task}. License: ${manifest.license}${manifest.licenseFile ? ` ([${LICENSE_FILE}](${LICENSE_FILE}))` : ''}.${manifest.homepage ? ` Homepage: ${manifest.homepage}.` : ''}`,
    '',
  );
  lines.push(...downloadSection(manifest));
  lines.push(...inputsSection(manifest));
  lines.push(...outputsSection(manifest));
  lines.push(...codeSection(manifest));
  lines.push(...detailsSection(manifest));
  lines.push(...conversionSection(manifest));
  if (manifest.skipped.length > 0) {
    lines.push('## Skipped targets', '', '| target | why |', '| --- | --- |');
    for (const s of manifest.skipped) lines.push(`| ${s.format}/${s.precision} | ${cell(s.reason)} |`);
    lines.push('');
  }
  if (manifest.failed.length > 0) {
    lines.push(
      '## Failed targets',
      '',
      'These were built or tried and are **not published**.',
      '',
      '| target | status | reason |',
      '| --- | --- | --- |',
    );
    for (const f of manifest.failed) lines.push(`| ${f.format}/${f.precision} | FAILED | ${cell(f.reason)} |`);
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

function frontMatter(manifest: Manifest, formats: string[], audio: boolean): string {
  const spdx = manifest.license.toLowerCase();
  const front: Record<string, unknown> = HF_LICENSES.has(spdx)
    ? { license: spdx }
    : { license: 'other', license_name: manifest.license.toLowerCase().replace(/[^a-z0-9.-]+/g, '-') };
  if (manifest.licenseFile) front.license_link = LICENSE_FILE;
  front.library_name = formats.includes('onnx') ? 'onnx' : (formats[0] ?? 'onnx');
  const pipelineTag = huggingFacePipelineTag(manifest.task, audio);
  if (pipelineTag) front.pipeline_tag = pipelineTag;
  front.tags = [...new Set([manifest.task, ...manifest.tags, ...formats, 'edge', 'edgezoo'])];
  return dump(front, { lineWidth: -1, noRefs: true }).trimEnd();
}

/** The artifact a format's code uses: its fp32 one when there is one, else the first precision. */
function preferred(artifacts: readonly ManifestArtifact[]): ManifestArtifact | undefined {
  return [...artifacts].sort((a, b) => PRECISION_NAMES.indexOf(a.precision) - PRECISION_NAMES.indexOf(b.precision))[0];
}

function summaryTable(manifest: Manifest): string[] {
  if (manifest.artifacts.length === 0) return ['No artifact passed validation.', ''];
  const lines = [
    '| format | precision | size | latency | vs source | speed-up | kept float |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  let slower = false;
  for (const a of manifest.artifacts) {
    const size = a.files.reduce((sum, f) => sum + f.size, 0);
    const fp32 = manifest.artifacts.find((x) => x.format === a.format && x.precision === 'fp32');
    const ratio =
      a.benchmark && fp32?.benchmark && a.benchmark.medianMs > 0
        ? fp32.benchmark.medianMs / a.benchmark.medianMs
        : undefined;
    // An integer artifact slower than fp32 on the same runtime is said so: people pick int8 for speed.
    const isSlower = ratio !== undefined && ratio < 1 && a.precision !== 'fp32' && a.precision !== 'fp16';
    slower ||= isSlower;
    const speedUp = ratio === undefined ? '-' : `${ratio.toFixed(2)}x${isSlower ? ' (slower than fp32)' : ''}`;
    lines.push(
      `| ${a.format} | ${a.precision} | ${formatBytes(size)} | ${a.benchmark ? `${a.benchmark.medianMs.toFixed(2)} ms` : '-'} | ${agreement(a)} | ${speedUp} | ${cell(keptFloat(a))} |`,
    );
  }
  const benchmarks = manifest.artifacts.map((a) => a.benchmark).filter((b) => b !== undefined);
  const hosts = [...new Set(benchmarks.map((b) => b.host ?? 'a host not recorded'))];
  const threads = [...new Set(benchmarks.map((b) => b.threads))];
  lines.push('');
  if (benchmarks.length > 0)
    lines.push(
      `Latency: median per run, ${threads.join('/')} thread${threads.length === 1 && threads[0] === 1 ? '' : 's'}, on ${hosts.join('; ')}. vs source: the lowest cosine similarity of any output against the source model${manifest.outputs.some((o) => o.classifier) ? ', and top-1 agreement of the classifier output' : ''}, on ${manifest.artifacts[0]?.validation.samples ?? 'the'} validation samples${manifest.artifacts.some((a) => a.validation.synthetic) ? ' (synthetic: seeded random inputs)' : ''}${streamNote(manifest)}. Speed-up: against fp32 of the same format${slower ? ' (an integer artifact slower than fp32 is marked: its runtime has no faster kernels for it on this host)' : ''}. Kept float: what the quantization search left unquantised to pass validation.`,
      '',
    );
  const timed = manifest.artifacts.filter((a) => a.benchmark);
  if (timed.length > 0) {
    lines.push(
      '| format | precision | runtime | load | median | p90 | peak memory |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const a of timed) {
      const b = a.benchmark!;
      lines.push(
        `| ${a.format} | ${a.precision} | ${b.runtime ?? '-'} | ${b.loadMs.toFixed(1)} ms | ${b.medianMs.toFixed(2)} ms | ${b.p90Ms.toFixed(2)} ms | ${b.peakRssMb.toFixed(1)} MiB |`,
      );
    }
    lines.push(
      '',
      'Each artifact timed alone (no converter running beside it), after warm-up; peak memory: the resident memory loading and running it added at its peak.',
      '',
    );
  }
  return lines;
}

/** What stayed float in a calibrated artifact: "none", "3 of 120 layers", "all but Conv/MatMul", "ops without 16x8 kernels". */
export function keptFloat(a: ManifestArtifact): string {
  const q = a.quantization;
  if (!q) return a.precision === 'int8' || a.precision === 'int16-act' ? 'not recorded' : '-';
  const parts: string[] = [];
  if (q.keptFloat.length > 0)
    parts.push(`${q.keptFloat.length}${q.layers ? ` of ${q.layers}` : ''} layer${q.keptFloat.length === 1 ? '' : 's'}`);
  if (q.keptFloatOps.length > 0) parts.push(`every ${q.keptFloatOps.join('/')}`);
  if (q.opTypes) parts.push(`all but ${q.opTypes.join('/')}`);
  if (q.floatFallback) parts.push('ops without a 16x8 kernel');
  const int16 = q.int16Tensors?.length ?? 0;
  const float = parts.length > 0 ? parts.join(', ') : 'none';
  return int16 > 0 ? `${float}; ${int16} activation${int16 === 1 ? '' : 's'} 16-bit` : float;
}

/** "cos 0.99998, top-1 100 %": the worst output's cosine, and the classifier's top-1 agreement. */
function agreement(a: ManifestArtifact): string {
  const metrics = Object.values(a.validation.metrics);
  if (metrics.length === 0) return a.validation.status;
  const cosine = Math.min(...metrics.map((m) => m.cosine));
  const top1 = metrics.map((m) => m.top1).filter((x): x is number => x !== undefined);
  return `cos ${cosine.toFixed(5)}${top1.length > 0 ? `, top-1 ${(Math.min(...top1) * 100).toFixed(1)} %` : ''}`;
}

function downloadSection(manifest: Manifest): string[] {
  const first = preferred(manifest.artifacts);
  if (!first) return [];
  const target = `--format ${first.format} --precision ${first.precision}`;
  const spec = `${manifest.name}@${manifest.version}`;
  return [
    '## Download',
    '',
    '```sh',
    `python3 pull.py ${spec} ${target}     # or: node pull.mjs ...; both come with the zoo, next to index.json`,
    `edgezoo pull ${spec} ${target} --index URL-OF-THE-ZOO/index.json`,
    '```',
    '',
    `Each checks the sha256 of every file and writes the model with this card (${pulledDocumentName(manifest.name, manifest.version, 'card')}) and its manifest (${pulledDocumentName(manifest.name, manifest.version, 'manifest')}: inputs, preprocessing, outputs, labels) beside it. Leave out \`--format\` and \`--precision\` to get every artifact.`,
    '',
  ];
}

function inputsSection(manifest: Manifest): string[] {
  const lines = [
    '## Inputs',
    '',
    '| input | kind | shape | dtype | layout | values |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  const kinds = manifest.inputs.map((input) => inputKind(input, manifest));
  manifest.inputs.forEach((input, i) => {
    lines.push(
      `| ${cell(input.name)} | ${kinds[i]} | [${input.shape.join(', ')}] | ${input.dtype} | ${input.layout} | [${input.range.join(', ')}] |`,
    );
  });
  lines.push('');
  const p = manifest.preprocess;
  if (kinds.includes('image'))
    lines.push(
      '',
      `Images: ${p.channelOrder.toUpperCase()}${p.resize ? ', resized to the input height and width' : ' at the input height and width'}, then per channel x = (pixel * ${p.scale} - mean) / std with mean [${p.mean.join(', ')}] and std [${p.std.join(', ')}] (pixels 0..255).`,
    );
  if (kinds.includes('audio'))
    lines.push(
      '',
      "Audio: mono 16-bit PCM samples at the model's sample rate as float in [-1, 1] (sample / 32768), one chunk of the input's length per call.",
    );
  if (kinds.includes('tensor'))
    lines.push(
      '',
      'Tensors: arrays of the shape and dtype shown, with values in the range shown (the code starts from zeros).',
    );
  lines.push(
    '',
    'Artifacts can take another layout than the source (TFLite images are usually NHWC) and quantised values: the code below and the details show each one.',
    '',
  );
  return lines;
}

function outputsSection(manifest: Manifest): string[] {
  if (manifest.outputs.length === 0 && !manifest.labels) return [];
  const lines = ['## Outputs', ''];
  if (manifest.outputs.length > 0) {
    lines.push('| output | layout | classifier |', '| --- | --- | --- |');
    for (const output of manifest.outputs)
      lines.push(`| ${cell(output.name)} | ${output.layout ?? '-'} | ${output.classifier ? 'yes' : 'no'} |`);
    lines.push('');
  }
  if (manifest.labels) {
    const shown = manifest.labels.slice(0, 50).map((label, i) => `${i}: ${label}`);
    lines.push(
      `Labels (${manifest.labels.length}, index: name): ${shown.join(', ')}${manifest.labels.length > 50 ? `, ... (all in ${pulledDocumentName(manifest.name, manifest.version, 'manifest')})` : ''}.`,
      '',
    );
  }
  return lines;
}

function codeSection(manifest: Manifest): string[] {
  if (manifest.artifacts.length === 0) return [];
  const lines = ['## Run it', ''];
  const manifestFile = pulledDocumentName(manifest.name, manifest.version, 'manifest');
  for (const format of Object.keys(RUNTIME_OF)) {
    const ofFormat = manifest.artifacts.filter((a) => a.format === format);
    const artifact = preferred(ofFormat);
    if (!artifact) continue;
    const io = artifactIo(manifest, artifact);
    const files = { model: artifact.files[0]!.name, manifest: manifestFile };
    const others = ofFormat.filter((a) => a !== artifact).map((a) => a.files[0]!.name);
    lines.push(
      `### Python: ${RUNTIME_OF[format]!.title}`,
      '',
      '```python',
      pythonSnippet(io, RUNTIME_OF[format]!.python, files).trimEnd(),
      '```',
      '',
    );
    if (others.length > 0)
      lines.push(
        `The other ${format} precisions run with the same code: set MODEL to ${others.map((f) => `\`${f}\``).join(', ')}.`,
        '',
      );
    if (format === 'onnx')
      lines.push('### JavaScript: onnxruntime-node', '', '```js', javascriptSnippet(io, files).trimEnd(), '```', '');
  }
  return lines;
}

function detailsSection(manifest: Manifest): string[] {
  if (manifest.artifacts.length === 0) return [];
  const lines = ['## Artifacts', '', '| file | size | sha256 |', '| --- | --- | --- |'];
  for (const a of manifest.artifacts)
    for (const f of a.files) lines.push(`| [${f.name}](${f.name}) | ${formatBytes(f.size)} | \`${f.sha256}\` |`);
  lines.push('', '| target | inputs | outputs | notes |', '| --- | --- | --- | --- |');
  for (const a of manifest.artifacts) {
    const tensor = (t: ManifestArtifact['signature']['inputs'][number]) =>
      `${cell(t.name)}${t.source !== undefined && t.source !== t.name ? ` (source ${cell(t.source)})` : ''} ${t.dtype} [${t.shape.join(', ')}]${t.layout ? ` ${t.layout}` : ''}${t.perm?.some((axis, i) => axis !== i) ? ` = source axes [${t.perm.join(', ')}]` : ''}${t.quantization ? ` q(${t.quantization.scale.map((s) => Number(s.toPrecision(4))).join('/')}, ${t.quantization.zeroPoint.join('/')})` : ''}`;
    const notes: string[] = [];
    if (a.sizeRatio !== undefined) notes.push(`${(a.sizeRatio * 100).toFixed(0)} % of fp32`);
    if (a.transposeCount !== undefined) notes.push(`${a.transposeCount} Transpose`);
    if (a.flexOps && a.flexOps.length > 0) notes.push(`needs Flex: ${a.flexOps.join(', ')}`);
    if (a.benchmark)
      notes.push(
        `p90 ${a.benchmark.p90Ms.toFixed(2)} ms, load ${a.benchmark.loadMs.toFixed(1)} ms, peak RSS ${a.benchmark.peakRssMb.toFixed(0)} MB${a.benchmark.runtime ? `, ${a.benchmark.runtime}` : ''}`,
      );
    lines.push(
      `| ${a.format}/${a.precision} | ${a.signature.inputs.map(tensor).join('; ')} | ${a.signature.outputs.map(tensor).join('; ')} | ${notes.join(', ') || '-'} |`,
    );
  }
  lines.push(
    '',
    '| target | output | max abs | mean abs | rmse | cosine | top-1 | top-k |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const a of manifest.artifacts)
    for (const [name, m] of Object.entries(a.validation.metrics))
      lines.push(
        `| ${a.format}/${a.precision} | ${cell(name)} | ${num(m.maxAbs)} | ${num(m.meanAbs)} | ${num(m.rmse)} | ${m.cosine.toFixed(6)} | ${pct(m, 'top1')} | ${pct(m, 'topk')} |`,
      );
  const tools = [
    ...new Set(manifest.artifacts.flatMap((a) => Object.entries(a.toolVersions).map(([k, v]) => `${k} ${v}`))),
  ].sort();
  lines.push(
    '',
    `Validated against the source model: **passed** by every artifact listed.${tools.length > 0 ? ` Built with ${tools.join(', ')}.` : ''}`,
    '',
  );
  return lines;
}

/**
 * How each artifact was made: the converter and strategy that passed and, where the strategy
 * cascade went past its first attempt, what failed before it and the recipe lines that pin the
 * winner (so a rebuild goes straight to it).
 */
function conversionSection(manifest: Manifest): string[] {
  const made = manifest.artifacts.filter((a) => a.conversion);
  if (made.length === 0) return [];
  const lines = [
    '## How each artifact was converted',
    '',
    '| target | converter | strategy | failed before it |',
    '| --- | --- | --- | --- |',
  ];
  for (const a of made) {
    const c = a.conversion!;
    const failed = c.failedAttempts.map(
      (f) => `${f.converter} ${f.strategy}${f.stage ? ` (${f.stage})` : ''}${f.reason ? `: ${f.reason}` : ''}`,
    );
    lines.push(
      `| ${a.format}/${a.precision} | ${cell(c.converter)} | ${cell(c.strategy)} | ${failed.length > 0 ? cell(failed.join('; ')) : '-'} |`,
    );
  }
  const pinned = made.filter((a) => a.conversion!.pin && a.conversion!.pin.length > 0);
  if (pinned.length > 0) {
    lines.push('', 'Recipe lines that pin the winners that were not the first attempt:', '', '```yaml');
    lines.push(...mergePinLines(pinned.flatMap((a) => a.conversion!.pin!)));
    lines.push('```');
  }
  lines.push('');
  return lines;
}

/**
 * Pin lines of several artifacts as one YAML block: `converters: { tflite/fp32: onnx2tf }` and
 * `quantization:` + `  tflite/int8: {...}` become one mapping per recipe key, an entry per target.
 */
export function mergePinLines(pins: readonly string[]): string[] {
  const entries = new Map<string, string[]>();
  let current: string | undefined;
  for (const line of pins) {
    const inline = /^([a-z_]+): \{ (.*) \}$/.exec(line);
    const block = /^([a-z_]+):$/.exec(line);
    if (inline) {
      current = undefined;
      entries.set(inline[1]!, [...(entries.get(inline[1]!) ?? []), inline[2]!]);
    } else if (block) {
      current = block[1]!;
      entries.set(current, entries.get(current) ?? []);
    } else if (current && line.startsWith('  ')) entries.get(current)!.push(line.trim());
  }
  return [...entries].flatMap(([key, values]) => [`${key}:`, ...[...new Set(values)].map((value) => `  ${value}`)]);
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

/** How a stateful model's samples were chained (manifest `stream`), for the validation sentence. */
function streamNote(manifest: Manifest): string {
  const stream = manifest.stream;
  if (!stream) return '';
  const fed = Object.entries(stream.feedback)
    .map(([output, input]) => `\`${output}\` fed back as \`${input}\``)
    .join(', ');
  const samples = manifest.artifacts[0]?.validation.samples;
  const count = stream.chunks && samples ? Math.ceil(samples / stream.chunks) : 1;
  const streams = count > 1 ? `${count} streams of ${stream.chunks} steps` : 'one stream';
  return `, chained as ${streams} with ${fed} at each step (how an app runs it too)`;
}
