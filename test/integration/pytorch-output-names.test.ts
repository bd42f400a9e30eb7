/**
 * How the outputs of a PyTorch source are named, through the real CLI, converters and runtimes,
 * on a small model written here that returns a feature map and a vector (onnx2tf makes the map
 * channel-last). One naming holds for the reference and every artifact: the recipe's `outputs:`
 * in the order forward returns them, else output_0, output_1... Without `outputs:` the
 * TorchScript exporter used to call the ONNX outputs "onnx::ReduceMean_6" and "8": onnx2tf's
 * artifacts could not be bound to the reference at all, and the others only by shape.
 * - no `outputs:`, opset 17 (TorchScript exporter): onnx, tflite (onnx2tf, its first strategy)
 *   and openvino fp32 validate, every artifact's contract names output_0 and output_1, and so do
 *   the ONNX artifact's own outputs;
 * - no `outputs:`, tflite through litert-torch: the same names;
 * - named outputs, opset 18 (dynamo exporter): the names reach onnx, onnx2tf's fp16 and
 *   litert-torch's fp32;
 * - a recipe naming one output of the two fails prepare and the reference with one clear message.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readJson, runCli, writeRecipe } from './pipeline-project.js';

const MODEL = `import torch


class MapAndLogits(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4, 5)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return y, self.fc(y.mean(dim=(2, 3)))


def build():
    torch.manual_seed(0)
    return MapAndLogits().eval()
`;

function recipe(name: string, lines: string[]): string {
  return [
    `name: ${name}`,
    'version: 1.0.0',
    'license: MIT',
    'description: A conv feature map and linear logits.',
    'task: test',
    'source:',
    '  pytorch: { factory: models/two/model.py:build }',
    'inputs:',
    '  - { name: x, shape: [1, 3, 16, 16], layout: NCHW, range: [0, 1] }',
    'validation: { count: 4 }',
    ...lines,
    '',
  ].join('\n');
}

interface ManifestArtifact {
  format: string;
  precision: string;
  conversion: { converter: string; strategy: string; failedAttempts: unknown[] };
  validation: { status: string; metrics: Record<string, unknown> };
  signature: { outputs: Array<{ name: string; source: string }> };
}

async function artifactsOf(root: string, model: string): Promise<Map<string, ManifestArtifact>> {
  const manifest = await readJson<{ artifacts: ManifestArtifact[] }>(
    path.join(root, 'artifacts', 'zoo', model, '1.0.0', 'manifest.json'),
  );
  return new Map(manifest.artifacts.map((artifact) => [`${artifact.format}/${artifact.precision}`, artifact]));
}

function assertBound(artifact: ManifestArtifact | undefined, converter: string, names: string[], what: string) {
  assert.ok(artifact, `${what}: no artifact`);
  assert.equal(artifact.validation.status, 'passed', `${what}: ${JSON.stringify(artifact.validation)}`);
  assert.equal(artifact.conversion.converter, converter, what);
  // Bound by name on the first try: no strategy or converter failed before.
  assert.deepEqual(artifact.conversion.failedAttempts, [], what);
  // Metrics are keyed by the reference's names (in the manifest's key order).
  assert.deepEqual(Object.keys(artifact.validation.metrics).sort(), [...names].sort(), what);
  // The contract lists the outputs in the source's order.
  assert.deepEqual(
    artifact.signature.outputs.map((output) => output.source),
    names,
    what,
  );
}

function failuresOf(stdout: string): Map<string, string> {
  const failed = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as { type: string; step?: string; reason?: string };
    if (event.type === 'step-failed') failed.set(event.step!, event.reason!);
  }
  return failed;
}

test('PyTorch outputs are named alike in the reference and every artifact, with or without outputs:', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-torch-names-'));
  try {
    await mkdir(path.join(root, 'recipes'));
    await mkdir(path.join(root, 'models', 'two'), { recursive: true });
    await writeFile(path.join(root, 'models', 'two', 'model.py'), MODEL);
    await writeRecipe(
      root,
      'unnamed',
      recipe('unnamed', ['opset: 17', 'targets: { onnx: [fp32], tflite: [fp32], openvino: [fp32] }']),
    );
    await writeRecipe(
      root,
      'unnamed-litert',
      recipe('unnamed-litert', ['targets: { tflite: [fp32] }', 'converters: { tflite: litert-torch }']),
    );
    await writeRecipe(
      root,
      'named',
      recipe('named', [
        // Not in alphabetical order: names go by position.
        'outputs: [{ name: map, layout: NCHW }, { name: logits, classifier: true }]',
        'opset: 18',
        'targets: { onnx: [fp32], tflite: [fp32, fp16] }',
        'converters: { tflite/fp32: litert-torch }',
      ]),
    );

    const built = await runCli(root, ['build', 'unnamed', 'unnamed-litert', 'named', '--json', '--no-benchmark']);
    assert.equal(built.code, 0, `${[...failuresOf(built.stdout).values()].join('\n')}\n${built.stderr}`);

    const unnamed = await artifactsOf(root, 'unnamed');
    const defaults = ['output_0', 'output_1'];
    assertBound(unnamed.get('onnx/fp32'), 'edgezoo', defaults, 'unnamed onnx/fp32');
    // The exported ONNX itself carries the reference's names.
    assert.deepEqual(
      unnamed.get('onnx/fp32')!.signature.outputs.map((output) => output.name),
      defaults,
    );
    assertBound(unnamed.get('tflite/fp32'), 'onnx2tf', defaults, 'unnamed tflite/fp32');
    assert.equal(unnamed.get('tflite/fp32')!.conversion.strategy, 'default');
    assertBound(unnamed.get('openvino/fp32'), 'ovc', defaults, 'unnamed openvino/fp32');
    assertBound(
      (await artifactsOf(root, 'unnamed-litert')).get('tflite/fp32'),
      'litert-torch',
      defaults,
      'unnamed-litert tflite/fp32',
    );

    const named = await artifactsOf(root, 'named');
    assertBound(named.get('onnx/fp32'), 'edgezoo', ['map', 'logits'], 'named onnx/fp32');
    assert.deepEqual(
      named.get('onnx/fp32')!.signature.outputs.map((output) => output.name),
      ['map', 'logits'],
    );
    assertBound(named.get('tflite/fp16'), 'onnx2tf', ['map', 'logits'], 'named tflite/fp16');
    assertBound(named.get('tflite/fp32'), 'litert-torch', ['map', 'logits'], 'named tflite/fp32');

    // One name for two outputs: a clear error before anything is converted.
    await writeRecipe(
      root,
      'miscounted',
      recipe('miscounted', ['outputs: [{ name: logits }]', 'targets: { onnx: [fp32] }']),
    );
    const miscounted = await runCli(root, ['build', 'miscounted', '--json', '--no-benchmark']);
    assert.equal(miscounted.code, 1);
    const failures = failuresOf(miscounted.stdout);
    const message =
      "the recipe's outputs: names 1 output (logits), but models/two/model.py:build returns 2 tensors" +
      ' ([1, 4, 16, 16], [1, 5]); name every output in the order forward returns them, or leave outputs: out' +
      ' to call them output_0 .. output_1';
    assert.equal(
      failures.get('miscounted/prepare'),
      `miscounted: step miscounted/prepare: torch.onnx.export failed (${message})\n  full log: artifacts/logs/miscounted/prepare.log`,
    );
    assert.ok(failures.get('miscounted/reference')?.includes(message), failures.get('miscounted/reference'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
