/**
 * What every command shares: `--version`, and output to a reader that went away (`| head`)
 * ending quietly instead of in an EPIPE stack trace.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { encodeModel } from '../../src/formats/onnx/index.js';
import { convNet } from './onnx-fixtures.js';

const repo = path.resolve(import.meta.dirname, '..', '..');
const cli = path.join(repo, 'src', 'cli', 'edgezoo.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-cli-basics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; with `closeStdout` our end of its stdout pipe is closed before it writes anything. */
function run(args: string[], options: { closeStdout?: boolean } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    if (options.closeStdout) child.stdout.destroy();
    else child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('--version prints the version of package.json and nothing else', async () => {
  const { version } = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const result = await run([flag]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${version}\n`);
    assert.equal(result.stderr, '');
  }
});

test('a reader that closes the pipe early (| head) ends the command quietly, not in an EPIPE stack', async () => {
  const model = path.join(dir, 'net.onnx');
  writeFileSync(model, encodeModel(convNet()));
  for (const args of [['inspect', model], ['inspect', model, '--json'], ['--help'], ['check', '--help']]) {
    const result = await run(args, { closeStdout: true });
    assert.equal(result.stderr, '', `${args.join(' ')}: nothing on stderr`);
    assert.equal(result.code, 0, args.join(' '));
  }
});
