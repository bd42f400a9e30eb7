import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchFile, type FetchFileOptions } from '../../src/fetch/index.js';
import type { FileSource } from '../../src/recipe/types.js';

const CONTENT = Buffer.from('onnx bytes, or close enough\n');
const CONTENT_SHA = createHash('sha256').update(CONTENT).digest('hex');

let base: string;
let project: string;
let outside: string;
let options: FetchFileOptions;

const pathSource = (relative: string, sha256 = CONTENT_SHA): FileSource => ({
  location: { kind: 'path', path: relative },
  sha256,
});

before(async () => {
  base = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-path-'));
  project = path.join(base, 'project');
  outside = path.join(base, 'outside');
  await mkdir(path.join(project, 'models', 'x'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(project, 'models', 'x', 'model.onnx'), CONTENT);
  await writeFile(path.join(outside, 'secret.onnx'), CONTENT);
  await symlink(path.join(outside, 'secret.onnx'), path.join(project, 'models', 'x', 'escape.onnx'));
  await symlink(outside, path.join(project, 'models', 'linked-dir'));
  await symlink(path.join(project, 'models', 'x', 'model.onnx'), path.join(project, 'models', 'x', 'alias.onnx'));
  options = { projectRoot: project, downloadsDir: path.join(project, 'artifacts', 'downloads') };
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('fetchFile with a path source', () => {
  it('hashes the project file in place', async () => {
    const result = await fetchFile(pathSource('models/x/model.onnx'), options);
    assert.deepEqual(result, {
      path: path.join(project, 'models', 'x', 'model.onnx'),
      sha256: CONTENT_SHA,
      bytes: CONTENT.length,
      fromCache: false,
    });
  });

  it('follows a symlink that stays inside the project', async () => {
    const result = await fetchFile(pathSource('models/x/alias.onnx'), options);
    assert.equal(result.path, path.join(project, 'models', 'x', 'model.onnx'));
  });

  it('refuses absolute paths and ..', async () => {
    await assert.rejects(fetchFile(pathSource(path.join(outside, 'secret.onnx')), options), {
      code: 'PATH_OUTSIDE_PROJECT',
      message: `refusing path ${path.join(outside, 'secret.onnx')}: it is absolute`,
    });
    await assert.rejects(fetchFile(pathSource('models/../../outside/secret.onnx'), options), {
      code: 'PATH_OUTSIDE_PROJECT',
      message: 'refusing path models/../../outside/secret.onnx: it climbs out with ..',
    });
  });

  it('refuses symlinks (of the file or a folder on the way) that lead outside', async () => {
    const secret = path.join(outside, 'secret.onnx');
    await assert.rejects(fetchFile(pathSource('models/x/escape.onnx'), options), {
      code: 'PATH_OUTSIDE_PROJECT',
      message: `refusing path models/x/escape.onnx: a symlink makes it resolve outside the project, to ${secret}`,
    });
    await assert.rejects(fetchFile(pathSource('models/linked-dir/secret.onnx'), options), {
      code: 'PATH_OUTSIDE_PROJECT',
    });
  });

  it('says when the file is missing or a folder', async () => {
    await assert.rejects(fetchFile(pathSource('models/x/nope.onnx'), options), {
      code: 'SOURCE_NOT_FOUND',
      message: 'source file models/x/nope.onnx does not exist',
    });
    await assert.rejects(fetchFile(pathSource('models/x'), options), {
      code: 'SOURCE_NOT_FOUND',
      message: 'source file models/x is not a regular file',
    });
  });

  it('refuses other bytes with SHA256_MISMATCH', async () => {
    const wrong = '0'.repeat(64);
    await assert.rejects(fetchFile(pathSource('models/x/model.onnx', wrong), options), {
      code: 'SHA256_MISMATCH',
      message: `sha256 mismatch for models/x/model.onnx: expected ${wrong}, got ${CONTENT_SHA}`,
    });
  });

  it('refuses a malformed sha256 before touching anything', async () => {
    await assert.rejects(fetchFile(pathSource('models/x/model.onnx', 'ABC'), options), {
      code: 'INVALID_SHA256',
      message: 'invalid sha256 for models/x/model.onnx: "ABC" is not 64 lower-case hex digits',
    });
  });
});
