/**
 * The Python worker against the protocol src/toolchain/protocol defines: every op registered in
 * both envs, requests checked against the generated schema before the op runs, failures as
 * codes, and what the host does when a worker lacks an op or answers outside the protocol
 * (shown on a copy of the worker whose modules were broken on purpose).
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { envDef, PYTHON_OPS_DIR, WORKER_SCRIPT } from '../../src/toolchain/envs.js';
import { OP_NAMES, WORKER_PROTOCOL_SCHEMA_FILE } from '../../src/toolchain/protocol/index.js';
import { probeWorker, PythonWorker, WorkerOpError, WorkerProtocolError } from '../../src/toolchain/worker.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-worker-protocol-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('the workers of both envs serve every op of the protocol and nothing else', async () => {
  for (const env of ['tf', 'torch'] as const) {
    const info = await probeWorker(env);
    assert.deepEqual(info.ops, [...OP_NAMES].sort(), env);
    assert.deepEqual([info.missingOps, info.unknownOps, info.brokenModules], [[], [], {}], env);
  }
});

test('a bad request is refused before the op runs, naming each wrong field', async () => {
  // torch has no onnxslim: the op would fail on import; the schema check comes first.
  const worker = new PythonWorker('torch');
  try {
    const error = await worker.request('onnx.slim', { model: 3, outptu: 'x.onnx' } as never).then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof WorkerOpError);
    assert.equal(error.code, 'BAD_REQUEST');
    assert.equal(
      error.message,
      'onnx.slim failed in the torch worker: bad request for onnx.slim: args: missing required key "output" (and 2 more)',
    );
    assert.deepEqual(error.detail, {
      errors: [
        { path: 'args', message: 'missing required key "output"' },
        { path: 'args.model', message: 'expected string, received integer 3' },
        { path: 'args', message: 'unknown key "outptu" (known: model, options, output)' },
      ],
    });
    await assert.rejects(worker.request('no.such.op' as 'ping', {}), {
      code: 'UNKNOWN_OP',
      message: /^no\.such\.op failed in the torch worker: unknown op 'no\.such\.op'; known: ping, versions, /,
    });
    // Rules the schema can state are checked in the worker too: a calibrated conversion without data.
    await assert.rejects(
      worker.request('onnx2tf.convert', { model: 'm.onnx', outputDir: path.join(tmp, 'o'), integerQuant: true }),
      { code: 'CALIBRATION_MISSING' },
    );
  } finally {
    await worker.stop();
  }
});

/** A copy of the worker and its modules in `tmp`, `edit`ed, run by the torch env's Python. */
function brokenWorkerEnv(name: string, edit: (opsDir: string) => void) {
  const root = path.join(tmp, name);
  const toolchain = path.join(root, 'toolchain');
  cpSync(WORKER_SCRIPT, path.join(toolchain, 'worker.py'));
  cpSync(PYTHON_OPS_DIR, path.join(toolchain, 'python'), { recursive: true });
  const schema = path.join(path.dirname(WORKER_SCRIPT), 'protocol', WORKER_PROTOCOL_SCHEMA_FILE);
  cpSync(schema, path.join(toolchain, 'protocol', WORKER_PROTOCOL_SCHEMA_FILE));
  edit(path.join(toolchain, 'python'));
  // The host starts `<python> -u <its worker.py>`: this python runs the copy instead.
  const python = path.join(root, 'python');
  writeFileSync(python, `#!/bin/sh\nexec '${envDef('torch').python}' -u '${path.join(toolchain, 'worker.py')}'\n`);
  chmodSync(python, 0o755);
  return { ...envDef('torch'), python };
}

test('a module that fails to import: its ops are reported at start, and refused with OP_UNAVAILABLE', async () => {
  const env = brokenWorkerEnv('broken-module', (ops) =>
    writeFileSync(path.join(ops, 'ops_openvino.py'), 'raise ImportError("openvino is not installed here")\n'),
  );
  const info = await probeWorker(env);
  assert.deepEqual(info.missingOps, ['openvino.convert', 'openvino.info']);
  assert.deepEqual(info.brokenModules, { ops_openvino: 'ImportError: openvino is not installed here' });

  const log: string[] = [];
  const worker = new PythonWorker(env, { onLog: (line) => log.push(line) });
  try {
    await worker.start();
    // Said at start, in the log of whoever started the worker, before anyone needs the op.
    assert.ok(
      log.includes(
        '[edgezoo] the torch worker cannot serve openvino.convert, openvino.info (modules that failed to import: ops_openvino: ImportError: openvino is not installed here)',
      ),
      log.join('\n'),
    );
    await assert.rejects(worker.request('openvino.info', { model: 'm.xml' }), {
      code: 'OP_UNAVAILABLE',
      message:
        'openvino.info failed in the torch worker: openvino.info is not available in this worker: no ops module registered it (modules that failed to import: ops_openvino: ImportError: openvino is not installed here)',
    });
    assert.equal((await worker.request('ping', {})).pong, true);
  } finally {
    await worker.stop();
  }
});

test('a reply outside its schema is a protocol error, not a value passed on', async () => {
  const env = brokenWorkerEnv('bad-reply', (ops) => {
    const core = path.join(ops, 'ops_core.py');
    writeFileSync(core, readFileSync(core, 'utf8').replace('"pong": True', '"pong": "yes"'));
  });
  const worker = new PythonWorker(env);
  try {
    await assert.rejects(worker.request('ping', {}), (error: unknown) => {
      assert.ok(error instanceof WorkerProtocolError);
      assert.equal(error.code, 'WORKER_PROTOCOL');
      assert.match(
        error.message,
        /^the torch worker broke the protocol answering ping: the reply does not match its schema: /,
      );
      return true;
    });
  } finally {
    await worker.stop();
  }
});
