/**
 * The code on a real model card runs. The tiny CNN is built from PNG samples (so its card treats
 * the input as an image) into ONNX, TFLite and OpenVINO, fp32 and int8; then every Python block
 * of the card (onnxruntime, LiteRT, OpenVINO, in the tf converter environment that has all
 * three) and the JavaScript block (onnxruntime-node) is saved as a file and run, for each
 * artifact of its format, on one image. They must all print the same top class, with labels,
 * and the fp32 artifacts the same scores.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { envDef } from '../../src/toolchain/envs.js';
import { readNpy } from '../../src/validate/npy.js';
import { parseManifest } from '../../src/zoo/index.js';
import { makeTinyCnnProject, repo, run, runCli, tinyCnnRecipe, writeRecipe } from './pipeline-project.js';

const LABELS = ['red', 'green', 'blue', 'yellow'];
let root = '';

/** The fixture's NCHW float [0, 1] samples as 8-bit PNG images. */
async function samplesToPng(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of (await readdir(from)).filter((f) => f.endsWith('.npy'))) {
    const tensor = await readNpy(path.join(from, name));
    const [, channels, height, width] = tensor.dims as number[];
    const data = tensor.data as Float32Array;
    const pixels = Buffer.alloc(height! * width! * channels!);
    for (let c = 0; c < channels!; c++)
      for (let i = 0; i < height! * width!; i++)
        pixels[i * channels! + c] = Math.round(Math.min(1, Math.max(0, data[c * height! * width! + i]!)) * 255);
    await sharp(pixels, { raw: { width: width!, height: height!, channels: channels as 3 } })
      .png()
      .toFile(path.join(to, name.replace(/\.npy$/, '.png')));
  }
}

before(async () => {
  const project = await makeTinyCnnProject('edgezoo-card-');
  root = project.root;
  const models = path.join(root, 'models', 'tiny-cnn');
  await samplesToPng(path.join(models, 'calib'), path.join(models, 'calib-png'));
  await samplesToPng(path.join(models, 'val'), path.join(models, 'val-png'));
  const recipe = tinyCnnRecipe(
    'tiny-cnn',
    project.weightsSha256,
    '  onnx: [fp32, int8]\n  tflite: [fp32, int8]\n  openvino: [fp32]',
    `labels: ${JSON.stringify(LABELS)}\npreprocess: { scale: 0.00392156862745098 }\n`,
  )
    .replace('models/tiny-cnn/calib/*.npy', 'models/tiny-cnn/calib-png/*.png')
    .replace('models/tiny-cnn/val/*.npy', 'models/tiny-cnn/val-png/*.png');
  await writeRecipe(root, 'tiny-cnn', recipe);
});

after(async () => {
  if (root && !process.env.EDGEZOO_KEEP_TEST_PROJECT) await rm(root, { recursive: true, force: true });
});

interface CodeBlock {
  heading: string;
  language: string;
  code: string;
}

/** The fenced code blocks under "## Run it", with the heading above each. */
function runItBlocks(card: string): CodeBlock[] {
  const section = card.slice(card.indexOf('## Run it'), card.indexOf('\n## ', card.indexOf('## Run it') + 3));
  const blocks: CodeBlock[] = [];
  for (const match of section.matchAll(/^### (.+)\n\n```(\w+)\n([\s\S]*?)^```$/gm))
    blocks.push({ heading: match[1]!, language: match[2]!, code: match[3]! });
  return blocks;
}

test('every code block of the card runs against every artifact of its format and agrees', {
  timeout: 12 * 60_000,
}, async () => {
  const built = await runCli(root, ['build', 'tiny-cnn']);
  assert.equal(built.code, 0, `build failed:\n${built.stdout}\n${built.stderr}`);
  const versionDir = path.join(root, 'artifacts', 'zoo', 'tiny-cnn', '1.0.0');
  const card = await readFile(path.join(versionDir, 'README.md'), 'utf8');
  const manifest = parseManifest(await readFile(path.join(versionDir, 'manifest.json'), 'utf8'), 'manifest.json');
  assert.deepEqual(manifest.labels, LABELS);
  assert.match(card, /^\| input \| image \| \[1, 3, 32, 32\] \| float32 \| NCHW \| \[0, 1\] \|$/m);

  const blocks = runItBlocks(card);
  assert.deepEqual(
    blocks.map((b) => `${b.heading} (${b.language})`),
    [
      'Python: onnxruntime (python)',
      'JavaScript: onnxruntime-node (js)',
      'Python: LiteRT (ai-edge-litert) (python)',
      'Python: OpenVINO (python)',
    ],
  );

  // A folder as a user has it after a pull: the files, an image, and (for JavaScript) the packages.
  const work = path.join(root, 'run-card');
  await cp(versionDir, work, { recursive: true });
  const image = (await readdir(path.join(root, 'models', 'tiny-cnn', 'val-png'))).sort()[0]!;
  // The code names image.jpg; PIL and sharp read the PNG bytes by content, so both see the same pixels.
  await cp(path.join(root, 'models', 'tiny-cnn', 'val-png', image), path.join(work, 'image.jpg'));
  await symlink(path.join(repo, 'node_modules'), path.join(work, 'node_modules'));
  const python = envDef('tf').python;

  const results: Array<{ artifact: string; runtime: string; top: string; scores: number[] }> = [];
  for (const block of blocks) {
    const format = block.heading.includes('LiteRT')
      ? 'tflite'
      : block.heading.includes('OpenVINO')
        ? 'openvino'
        : 'onnx';
    for (const artifact of manifest.artifacts.filter((a) => a.format === format)) {
      const file = artifact.files[0]!.name;
      const code = block.code.replace(/^(const )?MODEL = .*$/m, (line) =>
        line.replace(/"[^"]+"/, JSON.stringify(file)),
      );
      assert.ok(code.includes(JSON.stringify(file)), `${block.heading}: MODEL is set to ${file}`);
      const dump =
        block.language === 'python'
          ? '\nimport json as _json\n_json.dump({k: np.asarray(v, dtype=np.float64).ravel().tolist() for k, v in outputs.items()}, open("outputs.json", "w"))\n'
          : "\nimport { writeFileSync as __write } from 'node:fs';\n__write('outputs.json', JSON.stringify(Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, Array.from(v, Number)]))));\n";
      const script = path.join(work, block.language === 'python' ? 'run.py' : 'run.mjs');
      await writeFile(script, code + dump);
      await rm(path.join(work, 'outputs.json'), { force: true });
      const ran = await run(block.language === 'python' ? python : process.execPath, [script], { cwd: work });
      assert.equal(ran.code, 0, `${block.heading} on ${file}:\n${ran.stdout}\n${ran.stderr}`);
      const outputs = JSON.parse(await readFile(path.join(work, 'outputs.json'), 'utf8')) as Record<string, number[]>;
      const scores = Object.values(outputs)[0]!;
      assert.equal(scores.length, 4, `${file}: four class scores`);
      // The first line after the shapes is the top class, by its label.
      const top = ran.stdout.split('\n').find((line) => /^(red|green|blue|yellow): /.test(line));
      assert.ok(top, `${block.heading} on ${file} printed a labelled top class:\n${ran.stdout}`);
      results.push({
        artifact: `${artifact.format}/${artifact.precision}`,
        runtime: block.heading,
        top: top.split(':')[0]!,
        scores,
      });
    }
  }
  assert.equal(results.length, 7, 'onnx x2 in Python and JavaScript, tflite x2, openvino x1');
  const reference = results.find((r) => r.artifact === 'onnx/fp32' && r.runtime.startsWith('Python'))!;
  for (const result of results) {
    assert.equal(result.top, reference.top, `${result.runtime} ${result.artifact} predicts ${result.top}`);
    if (result.artifact.endsWith('fp32'))
      for (const [i, value] of result.scores.entries())
        assert.ok(
          Math.abs(value - reference.scores[i]!) < 1e-3,
          `${result.runtime} ${result.artifact} score ${i}: ${value} vs ${reference.scores[i]}`,
        );
  }
});
