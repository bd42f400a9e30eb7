// Integration tests of the Python converter toolchain: setup from the locks, doctor, the worker.
// Needs the venvs (`edgezoo setup`, which `npm run test:integration` runs first; the first
// test here runs setup too, a no-op when they are current).
import { BUILTIN_CATALOGUE } from '../../src/catalogue/index.js';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runDoctor } from '../../src/toolchain/doctor.js';
import { lockDigest, toolVersions } from '../../src/toolchain/envs.js';
import { setupToolchain } from '../../src/toolchain/setup.js';
import { PythonWorker, WorkerCrashedError, WorkerOpError, WorkerTimeoutError } from '../../src/toolchain/worker.js';
import { inspectModel, loadModel } from '../../src/formats/onnx/index.js';
import { inspectTflite } from '../../src/formats/tflite/index.js';
import { modelCode } from './worker-fixtures.js';

let tmp = '';

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-toolchain-test-'));
  await setupToolchain(); // no-op when `edgezoo setup` ran already
});

after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test('setup twice with unchanged locks is a no-op well under a second', async () => {
  const first = await setupToolchain();
  const t = performance.now();
  const second = await setupToolchain();
  const ms = performance.now() - t;
  for (const r of [...first.envs, ...second.envs]) assert.equal(r.action, 'unchanged', `${r.env}: ${r.reason ?? ''}`);
  assert.ok(ms < 500, `second setup took ${ms.toFixed(0)} ms`);
  console.log(`# setup no-op: ${ms.toFixed(1)} ms`);
});

test('lock digests and tool versions come from the lock files', async () => {
  const v = await toolVersions();
  assert.equal(v['tf/onnx2tf'], '1.29.24');
  assert.equal(v['tf/tensorflow'], '2.19.0');
  // The lock pins the public version; the installed CPU wheel reports 2.13.0+cpu (below).
  assert.equal(v['torch/torch'], '2.13.0');
  assert.equal(v['torch/litert-torch'], '0.9.4');
  assert.equal(v['tf/lock'], await lockDigest('tf'));
  assert.match(v['torch/lock'] ?? '', /^[0-9a-f]{64}$/);
});

test('doctor runs every tool and reports it working', async () => {
  const report = await runDoctor();
  const failed = report.checks.filter((c) => !c.ok);
  assert.deepEqual(
    failed.map((c) => `${c.env}/${c.tool}: ${c.detail}`),
    [],
  );
  const tools = new Set(report.checks.map((c) => `${c.env}/${c.tool}`));
  for (const t of [
    'tf/python',
    'tf/onnx2tf',
    'tf/tensorflow',
    'tf/onnx',
    'tf/onnxruntime',
    'tf/onnxslim',
    'tf/onnxconverter-common',
    'tf/tf2onnx',
    'tf/openvino',
    'tf/ovc',
    'tf/ai-edge-litert',
    'torch/python',
    'torch/torch',
    'torch/litert-torch',
    'torch/ai-edge-litert',
    'torch/onnxscript',
  ]) {
    assert.ok(tools.has(t), `doctor did not check ${t}`);
  }
  assert.equal(report.openvinoTelemetry.off, true);
  assert.ok(report.ok);
  console.log(`# doctor: ${report.checks.length} checks in ${report.ms} ms`);
});

describe('worker', () => {
  const logs: string[] = [];
  const worker = new PythonWorker('torch', { onLog: (l) => logs.push(l), memoryBudgetMb: 4096 });
  after(() => worker.stop());

  test('answers ping and versions; tool output does not corrupt the protocol', async () => {
    const pong = await worker.request('ping', { echo: { a: [1, 'x'] } });
    assert.deepEqual(pong.echo, { a: [1, 'x'] });
    const torchDistributions = BUILTIN_CATALOGUE.distributions('torch');
    const v = await worker.request('versions', { distributions: torchDistributions });
    assert.equal(v.distributions.torch, '2.13.0+cpu');
    assert.deepEqual(Object.keys(v.distributions), torchDistributions);
    assert.equal(
      (await worker.request('versions', { distributions: ['no-such-dist'] })).distributions['no-such-dist'],
      null,
    );
    await worker.request('validate.load', modelCode('noisy', { text: 'hello-from-python' }));
    assert.ok(logs.includes('hello-from-python (fd 1)'));
    assert.ok(logs.includes('hello-from-python (child)'));
  });

  test('survives a request that raises', async () => {
    const pid = worker.pid;
    await assert.rejects(worker.request('validate.load', modelCode('slow', { seconds: 'soon' })), (e: unknown) => {
      assert.ok(e instanceof WorkerOpError);
      assert.equal(e.code, 'TOOL_FAILED');
      assert.equal(e.pythonType, 'TypeError');
      assert.match(e.pythonTraceback, /model_code\.py", line \d+, in slow/);
      return true;
    });
    await assert.rejects(worker.request('no.such.op' as 'ping', {}), { code: 'UNKNOWN_OP' });
    assert.equal((await worker.request('ping', {})).pid, pid);
  });

  test('restarts after being killed; only the request in flight fails', async () => {
    const pid = worker.pid!;
    const inFlight = worker.request('validate.load', modelCode('slow', { seconds: 30 }));
    const next = worker.request('ping', {});
    await new Promise((r) => setTimeout(r, 200));
    process.kill(pid, 'SIGKILL');
    await assert.rejects(inFlight, WorkerCrashedError);
    const pong = await next;
    assert.notEqual(pong.pid, pid);
    await assert.rejects(worker.request('validate.load', modelCode('crash', { code: 7 })), {
      code: 'WORKER_CRASHED',
      message: /^the torch worker died during validate\.load \(exit code 7\)/,
    });
    assert.equal((await worker.request('ping', {})).pong, true);
  });

  test('kills a request past its timeout and goes on', async () => {
    await assert.rejects(
      worker.request('validate.load', modelCode('slow', { seconds: 30 }), { timeoutMs: 300 }),
      WorkerTimeoutError,
    );
    assert.equal((await worker.request('ping', {})).pong, true);
  });

  test('restarts when RSS exceeds the memory budget', async () => {
    const small = new PythonWorker('torch', { memoryBudgetMb: 400 });
    try {
      const pid = (await small.request('ping', {})).pid;
      await small.request('validate.load', modelCode('hungry', { mb: 500 }));
      assert.equal(small.stats.memoryRestarts, 1);
      assert.notEqual((await small.request('ping', {})).pid, pid);
    } finally {
      await small.stop();
    }
  });
});

test('a tiny CNN goes torch -> ONNX -> onnx2tf TFLite + OpenVINO IR through the workers', async () => {
  const model = path.join(tmp, 'tiny.py');
  await writeFile(
    model,
    [
      'import torch, torch.nn as nn',
      'class Net(nn.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        self.c1 = nn.Conv2d(3, 8, 3, padding=1); self.b1 = nn.BatchNorm2d(8)',
      '        self.c2 = nn.Conv2d(8, 8, 3, padding=1); self.fc = nn.Linear(8, 4)',
      '    def forward(self, x):',
      '        y = torch.relu(self.b1(self.c1(x)))',
      '        y = torch.relu(y + self.c2(y))',
      '        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))',
      'def build():',
      '    torch.manual_seed(0)',
      '    return Net()',
      '',
    ].join('\n'),
  );
  const torchW = new PythonWorker('torch');
  const tfW = new PythonWorker('tf');
  try {
    const onnx = path.join(tmp, 'tiny.onnx');
    await torchW.request('torch.onnx_export', {
      source: { file: model, callable: 'build', outputNames: ['logits'] },
      inputs: [{ shape: [1, 3, 16, 16] }],
      output: onnx,
      inputNames: ['input'],
    });
    const info = inspectModel(loadModel(onnx));
    assert.deepEqual(
      info.inputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
      [{ name: 'input', dtype: 'float32', shape: [1, 3, 16, 16] }],
    );
    const out = await tfW.request('onnx2tf.convert', {
      model: onnx,
      outputDir: path.join(tmp, 'tflite'),
    });
    assert.deepEqual(Object.keys(out.tflite).sort(), ['float16', 'float32']);
    const tfl = await inspectTflite(out.tflite.float32!);
    assert.deepEqual(tfl.inputs[0]?.shape, [1, 16, 16, 3]); // NHWC after onnx2tf
    await tfW.request('openvino.convert', { model: onnx, output: path.join(tmp, 'ov', 'tiny.xml') });
    assert.deepEqual((await readdir(path.join(tmp, 'ov'))).sort(), ['tiny.bin', 'tiny.xml']);
    assert.ok(!(await readdir(tmp)).some((f) => f.startsWith('calibration_image_sample_data')));
  } finally {
    await Promise.all([torchW.stop(), tfW.stop()]);
  }
});
