/**
 * The one glob of recipes (src/util/glob.ts): its grammar, and that every match stays inside
 * the project. The planner's digests and the sample loader both use it; the stale-cache and
 * build-refusal cases that follow from that are in build-inputs.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { expandProjectGlob, GlobMatchOutsideProjectError, globBase, isGlob } from '../../src/util/glob.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-glob-'));
const outside = mkdtempSync(path.join(os.tmpdir(), 'edgezoo-glob-outside-'));
after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

function write(relative: string): void {
  mkdirSync(path.dirname(path.join(root, relative)), { recursive: true });
  writeFileSync(path.join(root, relative), relative);
}
for (const file of ['a.png', 'b.jpg', 'c.jpeg', 'notes.txt', '.hidden.png', 'sub/d.png', 'sub/deeper/e.png'])
  write(`models/x/val/${file}`);
write('models/x/calib/a.png');

describe('expandProjectGlob', () => {
  test('braces, classes, ** and ?, sorted by code unit', async () => {
    assert.deepEqual(await expandProjectGlob(root, 'models/x/val/*.{png,jpg}'), [
      'models/x/val/a.png',
      'models/x/val/b.jpg',
    ]);
    assert.deepEqual(await expandProjectGlob(root, 'models/x/val/[ab].*'), [
      'models/x/val/a.png',
      'models/x/val/b.jpg',
    ]);
    assert.deepEqual(await expandProjectGlob(root, 'models/x/val/?.jp*g'), [
      'models/x/val/b.jpg',
      'models/x/val/c.jpeg',
    ]);
    assert.deepEqual(await expandProjectGlob(root, 'models/**/a.png'), ['models/x/calib/a.png', 'models/x/val/a.png']);
    assert.deepEqual(await expandProjectGlob(root, './models/x//val/**/*.png'), [
      'models/x/val/a.png',
      'models/x/val/sub/d.png',
      'models/x/val/sub/deeper/e.png',
    ]);
    assert.deepEqual(await expandProjectGlob(root, 'models/nothing/*'), []);
  });

  test('dot files only where the pattern spells the dot; a folder name matches no file', async () => {
    assert.deepEqual(await expandProjectGlob(root, 'models/x/val/*.png'), ['models/x/val/a.png']);
    assert.deepEqual(await expandProjectGlob(root, 'models/x/val/.*.png'), ['models/x/val/.hidden.png']);
    assert.deepEqual(await expandProjectGlob(root, 'models/x/val/sub'), []);
  });

  test('a symlinked file or folder inside the project is followed', async (t) => {
    const dir = path.join(root, 'models', 'linked-inside');
    mkdirSync(dir, { recursive: true });
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    symlinkSync(path.join(root, 'models/x/val/a.png'), path.join(dir, 'a.png'));
    symlinkSync(path.join(root, 'models/x/val/sub'), path.join(dir, 'sub'));
    assert.deepEqual(await expandProjectGlob(root, 'models/linked-inside/**/*.png'), [
      'models/linked-inside/a.png',
      'models/linked-inside/sub/d.png',
      'models/linked-inside/sub/deeper/e.png',
    ]);
  });

  test('a matched file that resolves outside the project is refused, naming it and its target', async (t) => {
    const dir = path.join(root, 'models', 'linked-out');
    mkdirSync(dir, { recursive: true });
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(outside, 'secret.png'), 'not yours');
    write('models/linked-out/ok.png');
    symlinkSync(path.join(outside, 'secret.png'), path.join(dir, 'z.png'));
    const target = realpathSync(path.join(outside, 'secret.png'));
    await assert.rejects(expandProjectGlob(root, 'models/linked-out/*.png'), (error: unknown) => {
      assert.ok(error instanceof GlobMatchOutsideProjectError);
      assert.equal(error.code, 'PATH_OUTSIDE_PROJECT');
      assert.equal(
        error.message,
        `"models/linked-out/*.png" matches models/linked-out/z.png, which leads outside the project through a symlink (to ${target})`,
      );
      return true;
    });
  });

  test('a symlinked folder leading outside is refused, not walked, when the glob reaches into it', async (t) => {
    const dir = path.join(root, 'models', 'folder-out');
    mkdirSync(dir, { recursive: true });
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(path.join(outside, 'pictures'));
    writeFileSync(path.join(outside, 'pictures', 'p.png'), 'outside');
    symlinkSync(path.join(outside, 'pictures'), path.join(dir, 'pictures'));
    await assert.rejects(
      expandProjectGlob(root, 'models/folder-out/**/*.png'),
      new RegExp(
        `^GlobMatchOutsideProjectError: "models/folder-out/\\*\\*/\\*\\.png" reaches into models/folder-out/pictures, which leads outside the project through a symlink \\(to ${realpathSync(path.join(outside, 'pictures')).replaceAll('/', '\\/')}\\)$`,
      ),
    );
    // A glob that does not reach into the link is unaffected.
    assert.deepEqual(await expandProjectGlob(root, 'models/folder-out/*.png'), []);
    assert.deepEqual(await expandProjectGlob(root, 'models/folder-out/other/**/*.png'), []);
  });

  test('a link to / under ** is refused at once, without walking the machine', async (t) => {
    const dir = path.join(root, 'models', 'to-root');
    mkdirSync(dir, { recursive: true });
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    symlinkSync('/', path.join(dir, 'everything'));
    const started = performance.now();
    await assert.rejects(expandProjectGlob(root, 'models/to-root/**/*.png'), GlobMatchOutsideProjectError);
    assert.ok(performance.now() - started < 2000, 'refused before crawling /');
  });

  test('a link out of the project that the glob does not match is left alone', async (t) => {
    const dir = path.join(root, 'models', 'unrelated-link');
    mkdirSync(dir, { recursive: true });
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    write('models/unrelated-link/a.png');
    writeFileSync(path.join(outside, 'notes.txt'), 'outside');
    symlinkSync(path.join(outside, 'notes.txt'), path.join(dir, 'notes.txt'));
    assert.deepEqual(await expandProjectGlob(root, 'models/unrelated-link/*.png'), ['models/unrelated-link/a.png']);
  });

  test('a symlink cycle ends', async (t) => {
    const dir = path.join(root, 'models', 'cycle');
    mkdirSync(dir, { recursive: true });
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    write('models/cycle/a.png');
    symlinkSync(dir, path.join(dir, 'loop'));
    const found = await expandProjectGlob(root, 'models/cycle/**/*.png');
    assert.ok(found.includes('models/cycle/a.png'));
  });
});

test('globBase and isGlob read the same grammar', () => {
  assert.equal(globBase('./models/x/calib/**/*.npy'), 'models/x/calib');
  assert.equal(globBase('models/x/val/*.{png,jpg}'), 'models/x/val');
  assert.equal(globBase('models/x/{a,b}/c.npy'), 'models/x');
  assert.equal(globBase('models/x/a.png'), 'models/x/a.png');
  assert.equal(isGlob('models/x/val/*.{png,jpg}'), true);
  assert.equal(isGlob('models/x/val/[ab].npy'), true);
  assert.equal(isGlob('models/x/val/a.npy'), false);
});
