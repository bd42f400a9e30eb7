/**
 * The one process runner (src/toolchain/process.ts): no shell, process-group kill on abort and
 * timeout, and failures that carry the command, exit code and stderr tail.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { StepCancelledError } from '../../src/errors.js';
import { CommandFailedError, CommandNotFoundError, formatCommand, runCommand } from '../../src/toolchain/process.js';
import { isRunning } from './build-fixtures.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Starts `sh` that records its pid and a grandchild `sleep 30`'s pid in a file, then waits. */
async function shellWithGrandchild(options: Parameters<typeof runCommand>[1]) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-process-'));
  dirs.push(dir);
  const pids = path.join(dir, 'pids');
  const running = runCommand(['sh', '-c', `echo $$ >> ${pids}; sleep 30 & echo $! >> ${pids}; wait`], options);
  for (let tries = 0; tries < 100; tries++) {
    const text = await readFile(pids, 'utf8').catch(() => '');
    if (text.trim().split('\n').length >= 2) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const alive = async () => (await readFile(pids, 'utf8')).trim().split('\n').map(Number).filter(isRunning);
  return { running, alive };
}

describe('runCommand', () => {
  it('resolves with exit code and output, passing each line on', async () => {
    const lines: string[] = [];
    const result = await runCommand(['sh', '-c', 'echo out; echo err >&2; printf "a\\rb"'], {
      onLine: (line, stream) => lines.push(`${stream}:${line}`),
    });
    assert.equal(result.code, 0);
    assert.equal(result.stdout, 'out\na\rb');
    assert.equal(result.stderr, 'err\n');
    assert.deepEqual(lines.sort(), ['stderr:err', 'stdout:a', 'stdout:b', 'stdout:out']);
  });

  it('passes arguments without a shell', async () => {
    const result = await runCommand(['printf', '%s|', '$(echo no)', 'a b', ';ls']);
    assert.equal(result.stdout, '$(echo no)|a b|;ls|');
  });

  it('rejects with the command, exit code and stderr tail', async () => {
    await assert.rejects(runCommand(['sh', '-c', 'echo one >&2; echo two >&2; exit 3']), (error: unknown) => {
      assert.ok(error instanceof CommandFailedError);
      assert.equal(error.code, 'COMMAND_FAILED');
      assert.equal(error.message, "sh -c 'echo one >&2; echo two >&2; exit 3' exited with code 3:\n  one\n  two");
      assert.deepEqual(error.command, ['sh', '-c', 'echo one >&2; echo two >&2; exit 3']);
      assert.equal(error.commandExitCode, 3);
      assert.equal(error.stderrTail, 'one\ntwo');
      return true;
    });
    const unchecked = await runCommand(['sh', '-c', 'exit 4'], { check: false });
    assert.equal(unchecked.code, 4);
  });

  it('keeps only the tail of a long output', async () => {
    const result = await runCommand(['sh', '-c', 'seq 1 100000'], { maxOutput: 100 });
    assert.equal(result.stdout.length, 100);
    assert.ok(result.stdout.endsWith('99999\n100000\n'));
  });

  it('tells a missing executable apart', async () => {
    await assert.rejects(runCommand(['edgezoo-no-such-tool-xyz']), (error: unknown) => {
      assert.ok(error instanceof CommandNotFoundError);
      assert.equal(error.message, 'cannot run edgezoo-no-such-tool-xyz: it is not installed or not on PATH');
      return true;
    });
  });

  it('kills the whole process group on abort', async () => {
    const controller = new AbortController();
    const { running, alive } = await shellWithGrandchild({ signal: controller.signal, killGraceMs: 200 });
    controller.abort();
    await assert.rejects(running, StepCancelledError);
    assert.deepEqual(await alive(), [], 'the shell and its sleep are gone');
  });

  it('kills the whole process group on timeout, and says so', async () => {
    const { running, alive } = await shellWithGrandchild({ timeoutMs: 300 });
    await assert.rejects(running, (error: unknown) => {
      assert.ok(error instanceof CommandFailedError);
      assert.match(error.message, /^sh -c '.*' timed out after \d+ ms$/);
      return true;
    });
    assert.deepEqual(await alive(), []);
  });

  it('formats commands as a shell would read them', () => {
    assert.equal(formatCommand(['pip', 'install', '-r', 'a b.lock', "it's"]), `pip install -r 'a b.lock' 'it'\\''s'`);
  });
});
