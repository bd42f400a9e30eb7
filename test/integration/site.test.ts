/**
 * The static site in a real browser: a zoo of three models is published with the directory
 * publisher, served on 127.0.0.1 by a plain static server, and opened in Debian's headless
 * Chromium (driven by playwright-core, which brings no browser of its own). The index searches
 * and filters by task, format and precision; each model has a page with its card rendered; every
 * link of every page resolves, and every file link gives the bytes of the sha256 the card shows.
 * Screenshots of the pages go to artifacts/test-screenshots/ for people to look at.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { DirectoryPublisher } from '../../src/publish/index.js';
import { generateSigningKeyPair, parsePrivateKey, yankVersion } from '../../src/zoo/index.js';
import { writeSampleVersion } from '../fixtures/sample-zoo.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (install it with: apt-get install -y chromium)`;
const SCREENSHOTS = path.resolve(import.meta.dirname, '..', '..', 'artifacts', 'test-screenshots');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.py': 'text/x-python; charset=utf-8',
};

/** A static file server over `dir`, as a static host would serve the published folder. */
function serveStatic(dir: string, requests: string[]): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    requests.push(`${req.method} ${pathname}`);
    const file = path.join(dir, pathname);
    if (!file.startsWith(dir + path.sep)) return void res.writeHead(403).end();
    try {
      const bytes = await readFile(file);
      res.writeHead(200, {
        'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
        'content-length': bytes.length,
      });
      res.end(bytes);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let root: string;
let site: string;
let server: http.Server;
let base: string;
const requests: string[] = [];

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgezoo-site-'));
  const zoo = path.join(root, 'zoo');
  await writeSampleVersion(
    zoo,
    'tiny-net',
    '1.0.0',
    [
      { format: 'onnx', precision: 'fp32', size: 300 * 1024 },
      { format: 'tflite', precision: 'int8' },
      { format: 'openvino', precision: 'fp16' },
      { format: 'onnx', precision: 'int8', status: 'failed' },
    ],
    { licenseText: 'sample license text\n' },
  );
  await writeSampleVersion(zoo, 'tiny-net', '1.1.0', [{ format: 'onnx', precision: 'fp16' }]);
  await yankVersion(zoo, 'tiny-net', '1.1.0', 'wrong labels');
  await writeSampleVersion(
    zoo,
    'alpha-net',
    '0.2.0',
    [
      { format: 'tflite', precision: 'fp16' },
      { format: 'onnx', precision: 'fp32' },
    ],
    {
      recipe: { task: 'object-detection', description: 'alpha-net finds boxes around cats', tags: ['vision', 'cats'] },
    },
  );
  await writeSampleVersion(zoo, 'vad-net', '2.0.0', [{ format: 'onnx', precision: 'fp32' }], {
    recipe: {
      task: 'voice-activity-detection',
      description: 'vad-net says when someone speaks',
      tags: ['audio'],
      inputs: [{ name: 'input', shape: [1, 576], dynamic: [], layout: 'NL', dtype: 'float32', range: [-1, 1] }],
      preprocess: { resize: false, channelOrder: 'rgb', scale: 1, mean: [0], std: [1] },
    },
  });
  site = path.join(root, 'site');
  await new DirectoryPublisher(site).publish(zoo, {});
  server = await serveStatic(site, requests);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await mkdir(SCREENSHOTS, { recursive: true });
});

after(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await rm(root, { recursive: true, force: true });
});

// In-page code is plain JavaScript source: tsx would wrap inner functions in a helper the page lacks.
const VISIBLE_MODELS = `[...document.querySelectorAll('#models tbody tr')].filter((r) => !r.hidden).map((r) => r.querySelector('td.model a').textContent)`;
const LINKS = `[...document.querySelectorAll('a[href]')].map((a) => a.href)`;
const FETCH_AND_HASH_IN_PAGE = `async (href) => {
  const res = await fetch(href);
  const bytes = await res.arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return { status: res.status, sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join('') };
}`;

async function visible(page: Page): Promise<string[]> {
  return (await page.evaluate(VISIBLE_MODELS)) as string[];
}

describe('static site in headless Chromium', () => {
  test('the index searches and filters, model pages show the rendered card, and no link is dead', {
    skip,
  }, async () => {
    const { chromium } = await import('playwright-core');
    const context = await chromium.launchPersistentContext(path.join(root, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1200, height: 900 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const offLoopback: string[] = [];
    try {
      await context.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith(`${base}/`)) return route.continue();
        offLoopback.push(url);
        return route.abort();
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      assert.equal((await page.goto(`${base}/index.html`))?.status(), 200);
      assert.equal(await page.title(), 'edgezoo model zoo');
      assert.deepEqual(await visible(page), ['alpha-net', 'tiny-net', 'vad-net']);
      assert.equal(await page.textContent('#shown'), '3 of 3 shown');
      // The featured version of tiny-net is 1.0.0: 1.1.0 is yanked.
      assert.equal(await page.textContent('#models tbody tr:nth-child(2) td.version'), '1.0.0 (2 versions)');
      await page.screenshot({ path: path.join(SCREENSHOTS, 'site-index.png'), fullPage: true });

      await page.fill('#search', 'cats');
      assert.deepEqual(await visible(page), ['alpha-net']);
      await page.fill('#search', 'speaks');
      assert.deepEqual(await visible(page), ['vad-net']);
      await page.fill('#search', 'nothing-like-this');
      assert.deepEqual(await visible(page), []);
      assert.equal(await page.isVisible('#none'), true);
      await page.fill('#search', '');
      await page.selectOption('#format', 'tflite');
      assert.deepEqual(await visible(page), ['alpha-net', 'tiny-net']);
      await page.selectOption('#precision', 'int8');
      assert.deepEqual(await visible(page), ['tiny-net'], 'format and precision match one artifact together');
      await page.selectOption('#format', '');
      await page.selectOption('#precision', 'fp32');
      await page.selectOption('#task', 'voice-activity-detection');
      assert.deepEqual(await visible(page), ['vad-net']);
      await page.screenshot({ path: path.join(SCREENSHOTS, 'site-index-filtered.png'), fullPage: true });
      await page.selectOption('#task', '');
      await page.selectOption('#precision', '');

      // A model page: the card as HTML (tables, code), not Markdown; the index URL filled in.
      await page.click('a[href="tiny-net/index.html"]');
      assert.equal(new URL(page.url()).pathname, '/tiny-net/index.html');
      assert.equal(await page.textContent('article h1'), 'tiny-net 1.0.0');
      const card = (await page.evaluate(`({
        text: (() => { const a = document.querySelector('article').cloneNode(true); a.querySelectorAll('pre').forEach((p) => p.remove()); return a.innerText; })(),
        code: [...document.querySelectorAll('article code')].map((c) => c.textContent).join('\\n'),
        tables: document.querySelectorAll('article table').length,
        python: document.querySelectorAll('article pre code.language-python').length,
        js: document.querySelectorAll('article pre code.language-js').length,
        headers: [...document.querySelectorAll('article table:first-of-type th')].map((th) => th.textContent),
      })`)) as { text: string; code: string; tables: number; python: number; js: number; headers: string[] };
      assert.deepEqual(card.headers, ['format', 'precision', 'size', 'latency', 'vs source', 'speed-up', 'kept float']);
      assert.ok(card.tables >= 5, `${card.tables} tables`);
      assert.equal(card.python, 3, 'onnxruntime, LiteRT and OpenVINO code');
      assert.equal(card.js, 1);
      assert.doesNotMatch(card.text, /^#{1,3} |^---$|^license: /m, 'no raw Markdown or front matter');
      assert.match(
        card.code,
        new RegExp(`--index ${base.replace(/[.]/g, '\\.')}/index\\.json`),
        'the pull command names this zoo',
      );
      assert.match((await page.textContent('nav')) ?? '', /versions: 1\.1\.0 yanked: wrong labels, 1\.0\.0$/);
      await page.screenshot({ path: path.join(SCREENSHOTS, 'site-model.png'), fullPage: true });
      await page.screenshot({ path: path.join(SCREENSHOTS, 'site-model-top.png') });

      // Every file link of the card gives the bytes whose sha256 the card shows next to it.
      const files = (await page.evaluate(
        `[...document.querySelectorAll('article table')].flatMap((t) => [...t.querySelectorAll('tr')]).filter((tr) => tr.querySelector('td a') && /^[0-9a-f]{64}$/.test(tr.querySelector('td:last-child code')?.textContent ?? '')).map((tr) => ({ href: tr.querySelector('td a').href, sha256: tr.querySelector('td:last-child code').textContent }))`,
      )) as Array<{ href: string; sha256: string }>;
      assert.equal(files.length, 4, 'onnx, tflite and the two OpenVINO files of 1.0.0');
      for (const file of files) {
        const fetched = (await page.evaluate(`(${FETCH_AND_HASH_IN_PAGE})(${JSON.stringify(file.href)})`)) as {
          status: number;
          sha256: string;
        };
        assert.equal(fetched.status, 200, file.href);
        assert.equal(fetched.sha256, file.sha256, file.href);
      }

      // No dead link anywhere: follow every same-site link from the index, pages and files alike.
      const seen = new Set<string>();
      const queue = [`${base}/index.html`];
      while (queue.length > 0) {
        const url = queue.shift()!.replace(/#.*$/, '');
        if (seen.has(url) || !url.startsWith(`${base}/`)) continue;
        seen.add(url);
        if (url.endsWith('.html')) {
          assert.equal((await page.goto(url))?.status(), 200, `${url} (linked from a page of the site)`);
          queue.push(...((await page.evaluate(LINKS)) as string[]));
        } else {
          assert.equal((await page.request.get(url)).status(), 200, `${url} (linked from a page of the site)`);
        }
      }
      assert.ok(
        seen.has(`${base}/vad-net/2.0.0/index.html`) && seen.has(`${base}/pull.py`) && seen.has(`${base}/index.json`),
      );
      assert.ok(!seen.has(`${base}/index.json.sig`), 'an unsigned site links no signature');
      assert.ok([...seen].some((u) => u.endsWith('/tiny-net/1.0.0/LICENSE.txt')));
      assert.deepEqual(errors, [], 'no script error on any page');
      assert.deepEqual(offLoopback, [], 'the pages asked for nothing outside the zoo server');
    } finally {
      await context.close();
    }
  });

  test('a signed publish links its signature, which exists', { skip }, async () => {
    const keys = generateSigningKeyPair();
    const signedSite = path.join(root, 'site-signed');
    await new DirectoryPublisher(signedSite).publish(path.join(root, 'zoo'), {
      signingKey: parsePrivateKey(keys.privateKeyPem),
    });
    const html = await readFile(path.join(signedSite, 'index.html'), 'utf8');
    assert.match(html, /<a href="index\.json\.sig">index\.json\.sig<\/a>/);
    assert.ok((await stat(path.join(signedSite, 'index.json.sig'))).size > 0);
  });
});
