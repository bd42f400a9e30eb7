import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fetchFile, type FetchFileOptions } from '../../src/fetch/index.js';
import type { FileSource } from '../../src/recipe/types.js';

// These reach the real registries (allowed on this machine) through pip and npm, pinned to tiny
// releases that will never change: six 1.16.0 (a one-file wheel) and is-number 7.0.0.

const SIX_SHA = '4ce39f422ee71467ccac8bed76beb05f8c321c7f0ceda9279ae2dfa3670106b3';
const IS_NUMBER_SHA = '04255e482e181687823a95b207802ddd32e746c65dce4c95a5176fc192735960';

const six = (file = 'six.py', sha256 = SIX_SHA): FileSource => ({
  location: { kind: 'package', registry: 'pypi', name: 'six', version: '1.16.0', file },
  sha256,
});
const isNumber = (file = 'index.js', sha256 = IS_NUMBER_SHA): FileSource => ({
  location: { kind: 'package', registry: 'npm', name: 'is-number', version: '7.0.0', file },
  sha256,
});

let options: FetchFileOptions;
afterEach(async () => {
  await rm(options.projectRoot, { recursive: true, force: true });
});
beforeEach(async () => {
  const project = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-pkg-'));
  options = { projectRoot: project, downloadsDir: path.join(project, 'artifacts', 'downloads') };
});

async function cacheEntries(): Promise<string[]> {
  return readdir(path.join(options.downloadsDir, 'sha256')).catch(() => []);
}

describe('fetchFile with package sources (real registries)', () => {
  it('extracts six.py from the six 1.16.0 wheel, then serves it from the cache without pip', async () => {
    const first = await fetchFile(six(), options);
    assert.equal(first.sha256, SIX_SHA);
    assert.equal(first.fromCache, false);
    assert.match(await readFile(first.path, 'utf8'), /Utilities for writing code that runs on Python 2 and 3/);
    assert.deepEqual(await readdir(path.join(options.downloadsDir, 'tmp')), [], 'scratch and partial removed');

    // A python that cannot exist proves the second fetch starts no process.
    const second = await fetchFile(six(), { ...options, pythonCandidates: ['/nonexistent/python'] });
    assert.deepEqual(second, { ...first, fromCache: true });
  });

  it('extracts index.js from is-number 7.0.0 via npm pack', async () => {
    const result = await fetchFile(isNumber(), options);
    assert.equal(result.sha256, IS_NUMBER_SHA);
    assert.match(await readFile(result.path, 'utf8'), /module\.exports = function\(num\)/);
  });

  it('names near matches when the file is not in the package', async () => {
    await assert.rejects(fetchFile(six('six/six.py'), options), {
      code: 'PACKAGE_FILE_NOT_FOUND',
      message: 'pypi:six==1.16.0:six/six.py: the package has no file six/six.py; near matches: six.py',
    });
    await assert.rejects(fetchFile(isNumber('lib/index.js'), options), {
      code: 'PACKAGE_FILE_NOT_FOUND',
      message: 'npm:is-number@7.0.0:lib/index.js: the package has no file lib/index.js; near matches: index.js',
    });
    assert.deepEqual(await cacheEntries(), []);
  });

  it('refuses a wrong sha256, then repeats the refusal from its memo without pip', async () => {
    const wrong = 'b'.repeat(64);
    const expectedError = {
      code: 'SHA256_MISMATCH',
      message: `sha256 mismatch for pypi:six==1.16.0:six.py: expected ${wrong}, got ${SIX_SHA}`,
    };
    await assert.rejects(fetchFile(six('six.py', wrong), options), expectedError);
    assert.deepEqual(await cacheEntries(), []);
    await assert.rejects(
      fetchFile(six('six.py', wrong), { ...options, pythonCandidates: ['/nonexistent/python'] }),
      expectedError,
    );
  });

  it('reports an unknown version with the command and its stderr', async () => {
    const source: FileSource = {
      location: { kind: 'package', registry: 'npm', name: 'is-number', version: '99.99.99', file: 'index.js' },
      sha256: IS_NUMBER_SHA,
    };
    await assert.rejects(fetchFile(source, options), (error: Error & { code?: string; command?: string }) => {
      assert.equal(error.code, 'PACKAGE_DOWNLOAD');
      assert.match(
        error.message,
        /^cannot download npm:is-number@99\.99\.99:index\.js: `npm pack --ignore-scripts --json --pack-destination \S+ is-number@99\.99\.99` exited with 1/,
      );
      return true;
    });
  });

  it('refuses a version that is not an exact pin, before running anything', async () => {
    const source: FileSource = {
      location: { kind: 'package', registry: 'npm', name: 'is-number', version: '^7.0.0', file: 'index.js' },
      sha256: IS_NUMBER_SHA,
    };
    await assert.rejects(fetchFile(source, options), {
      code: 'PACKAGE_PIN_INVALID',
      message: 'npm:is-number@^7.0.0:index.js: "^7.0.0" is not an exact npm version',
    });
  });
});
