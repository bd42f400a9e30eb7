/**
 * Converter routes as strategies of the cascade, with the real converters (torch and tf envs),
 * through the real CLI: a small PyTorch model whose forward branches on its data in Python.
 * torch.export (litert-torch) refuses such a branch; the TorchScript exporter (opset 17) traces
 * it, so the onnx2tf route from the exported ONNX builds it. With
 * `converters: { tflite: [litert-torch, onnx2tf] }`:
 * - tflite/fp16 goes to onnx2tf straight away (litert-torch makes only fp32 and int8);
 * - tflite/fp32 starts with litert-torch, which fails, and onnx2tf wins: the manifest and the
 *   card name the winner, the failed attempt and the recipe lines that pin it;
 * - a warm rebuild runs no converter; a rebuild whose fp32 convert step runs again (a new
 *   threshold for it) does not run the litert-torch attempt that failed on the same inputs.
 * Converter calls are counted from the build's --json log events (`[edgezoo] <tool>: <op> {...}`).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readJson, runCli, writeRecipe } from './pipeline-project.js';

const MODEL = `import torch


class Branchy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        # Always true; a Python branch on tensor data, which torch.export cannot trace.
        if float(y.abs().sum()) >= 0.0:
            y = torch.relu(y)
        return y


def build():
    torch.manual_seed(0)
    return Branchy().eval()
`;

function recipe(extra: string[] = []): string {
  return [
    'name: branchy',
    'version: 1.0.0',
    'license: MIT',
    'description: A conv whose forward branches on its data.',
    'task: test',
    'source:',
    '  pytorch: { factory: models/branchy/model.py:build }',
    'inputs:',
    '  - { name: x, shape: [1, 3, 16, 16], layout: NCHW, range: [0, 1] }',
    'outputs: [{ name: y, layout: NCHW }]',
    'validation: { count: 4 }',
    // The TorchScript exporter (opset 17) traces the branch; the dynamo one (18) refuses it too.
    'opset: 17',
    'converters: { tflite: [litert-torch, onnx2tf] }',
    'targets: { tflite: [fp32, fp16] }',
    ...extra,
    '',
  ].join('\n');
}

interface BuildEvents {
  /** Converter op calls per step: `litert_torch.convert`, `onnx2tf.convert`, `torch.onnx_export`... */
  calls: Array<{ step: string; op: string }>;
  ran: string[];
  cached: string[];
  failed: string[];
  lines: string[];
}

function parseEvents(stdout: string): BuildEvents {
  const events: BuildEvents = { calls: [], ran: [], cached: [], failed: [], lines: [] };
  for (const text of stdout.split('\n')) {
    if (!text.startsWith('{')) continue;
    const event = JSON.parse(text) as { type: string; step?: string; line?: string; reason?: string };
    if (event.type === 'step-done') events.ran.push(event.step!);
    if (event.type === 'step-cached') events.cached.push(event.step!);
    if (event.type === 'step-failed') events.failed.push(`${event.step}: ${event.reason}`);
    if (event.type !== 'log') continue;
    events.lines.push(event.line!);
    const call = /^\[edgezoo\] \S+: ([a-z0-9_]+\.[a-z0-9_]+) \{/.exec(event.line!);
    if (call) events.calls.push({ step: event.step!, op: call[1]! });
  }
  return events;
}

const callsOf = (events: BuildEvents, op: string) => events.calls.filter((c) => c.op === op).map((c) => c.step);

test('PyTorch source: litert-torch fails, onnx2tf wins and makes fp16; the failure is remembered, the winner recorded', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-routes-'));
  try {
    await mkdir(path.join(root, 'recipes'));
    await mkdir(path.join(root, 'models', 'branchy'), { recursive: true });
    await writeFile(path.join(root, 'models', 'branchy', 'model.py'), MODEL);
    await writeRecipe(root, 'branchy', recipe());

    const cold = await runCli(root, ['build', 'branchy', '--json', '--jobs', '1']);
    const first = parseEvents(cold.stdout);
    assert.equal(cold.code, 0, `${first.failed.join('\n')}\n${cold.stderr}`);
    assert.deepEqual(callsOf(first, 'litert_torch.convert'), ['branchy/convert/tflite/fp32']);
    assert.deepEqual(callsOf(first, 'onnx2tf.convert').sort(), [
      'branchy/convert/tflite/fp16',
      'branchy/convert/tflite/fp32',
    ]);

    const version = path.join(root, 'artifacts', 'zoo', 'branchy', '1.0.0');
    const manifest = await readJson(path.join(version, 'manifest.json'));
    const artifact = (precision: string) =>
      manifest.artifacts.find((a: any) => a.format === 'tflite' && a.precision === precision);
    assert.equal(artifact('fp16').validation.status, 'passed');
    assert.deepEqual(artifact('fp16').conversion, { converter: 'onnx2tf', strategy: 'default', failedAttempts: [] });
    const fp32 = artifact('fp32');
    assert.equal(fp32.validation.status, 'passed');
    assert.equal(fp32.conversion.converter, 'onnx2tf');
    assert.equal(fp32.conversion.strategy, 'default');
    assert.deepEqual(
      fp32.conversion.failedAttempts.map((a: any) => [a.converter, a.strategy, a.stage]),
      [['litert-torch', 'default', 'convert']],
    );
    assert.match(fp32.conversion.failedAttempts[0].reason, /litert-torch failed/);
    assert.deepEqual(fp32.conversion.pin, [
      'converters: { tflite/fp32: onnx2tf }',
      'strategies: { tflite/fp32: [default] }',
    ]);
    const card = await readFile(path.join(version, 'README.md'), 'utf8');
    assert.match(
      card,
      /^\| tflite\/fp32 \| onnx2tf \| default \| litert-torch default \(convert\): .*litert-torch failed/m,
    );
    assert.match(card, /^\| tflite\/fp16 \| onnx2tf \| default \| - \|$/m);
    assert.match(
      card,
      /```yaml\nconverters:\n {2}tflite\/fp32: onnx2tf\nstrategies:\n {2}tflite\/fp32: \[default\]\n```/,
    );
    assert.ok(
      first.lines.some((line) => /pin it in the recipe with:/.test(line)),
      'the step log prints the pin lines',
    );

    // Nothing changed: every step from the cache, no converter runs.
    const warm = parseEvents((await runCli(root, ['build', 'branchy', '--json'])).stdout);
    assert.deepEqual(warm.calls, []);
    assert.deepEqual(warm.ran, []);

    // A new threshold for tflite/fp32 re-runs its convert step (its judge changed); the
    // litert-torch attempt that failed on the same conversion inputs is replayed, not run.
    await writeRecipe(root, 'branchy', recipe(['tolerances: { tflite/fp32: { atol: 0.001 } }']));
    const rejudge = await runCli(root, ['build', 'branchy', '--json', '--jobs', '1']);
    const third = parseEvents(rejudge.stdout);
    assert.equal(rejudge.code, 0, third.failed.join('\n'));
    assert.ok(third.ran.includes('branchy/convert/tflite/fp32'), third.ran.join(', '));
    assert.deepEqual(callsOf(third, 'litert_torch.convert'), []);
    assert.deepEqual(callsOf(third, 'onnx2tf.convert'), ['branchy/convert/tflite/fp32']);
    assert.ok(
      third.lines.some((line) =>
        /attempt 1 \(litert-torch default\) failed in an earlier build on the same inputs, not run again/.test(line),
      ),
    );
    const again = await readJson(path.join(version, 'manifest.json'));
    const rebuilt = again.artifacts.find((a: any) => a.precision === 'fp32');
    assert.deepEqual(
      rebuilt.conversion.failedAttempts.map((a: any) => [a.converter, a.stage]),
      [['litert-torch', 'convert']],
    );

    // --force runs every attempt again.
    const forced = parseEvents((await runCli(root, ['build', 'branchy', '--json', '--force', '--jobs', '1'])).stdout);
    assert.deepEqual(callsOf(forced, 'litert_torch.convert'), ['branchy/convert/tflite/fp32']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
