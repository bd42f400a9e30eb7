/**
 * The static zoo page in a real browser: a zoo of two models is published with the directory
 * publisher, the site is served on 127.0.0.1 by a plain static server, and Debian's headless
 * Chromium (driven by playwright-core, which brings no browser of its own) opens index.html.
 * The table must list every artifact of index.json, and every download link, fetched by the
 * page and clicked as a download, must give the bytes whose sha256 the page and index.json show.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DirectoryPublisher } from '../../src/publish/index.js';
import { yankVersion, type ZooIndex } from '../../src/zoo/index.js';
import { writeSampleVersion } from '../fixtures/sample-zoo.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (install it with: apt-get install -y chromium)`;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
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

interface PageRow {
  model: string;
  yanked: string | null;
  version: string;
  format: string;
  precision: string;
  cardHref: string;
  files: Array<{ name: string; href: string; downloadName: string; dataSha256: string; shownSha256: string }>;
}

// The in-page code is plain JavaScript source: tsx would otherwise wrap its inner functions in a
// `__name` helper that exists only in Node, not in the page.
const READ_TABLE_IN_PAGE = `[...document.querySelectorAll('#zoo tbody tr')].map((tr) => {
  const cell = (name) => tr.querySelector('td.' + name);
  const links = [...cell('download').querySelectorAll('a.file')];
  const shown = [...cell('download').querySelectorAll('code.sha256')].map((c) => c.textContent.replace(/^sha256 /, ''));
  return {
    model: cell('model').textContent,
    yanked: tr.querySelector('td.version .yanked')?.textContent ?? null,
    version: cell('version').firstChild.textContent.trim(), // the version cell may carry a yank note after it
    format: cell('format').textContent,
    precision: cell('precision').textContent,
    cardHref: cell('model').querySelector('a').href,
    files: links.map((a, i) => ({ name: a.textContent, href: a.href, downloadName: a.getAttribute('download'), dataSha256: a.dataset.sha256, shownSha256: shown[i] })),
  };
})`;

const FETCH_AND_HASH_IN_PAGE = `async (href) => {
  const res = await fetch(href);
  const bytes = await res.arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return { status: res.status, size: bytes.byteLength, sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join('') };
}`;

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
  await writeSampleVersion(zoo, 'alpha-net', '0.2.0', [
    { format: 'tflite', precision: 'fp16' },
    { format: 'onnx', precision: 'fp32', size: 5000 },
  ]);
  site = path.join(root, 'site');
  await new DirectoryPublisher(site).publish(zoo, {});
  server = await serveStatic(site, requests);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await rm(root, { recursive: true, force: true });
});

describe('static site in headless Chromium', () => {
  test('the table lists every artifact of index.json, and every link downloads the bytes of the sha256 it shows', {
    skip,
  }, async () => {
    const { chromium } = await import('playwright-core');
    const userDataDir = path.join(root, 'chromium-profile');
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const offLoopback: string[] = [];
    try {
      // The page must need nothing but the zoo server: anything else is refused and recorded.
      await context.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith(`${base}/`)) return route.continue();
        offLoopback.push(url);
        return route.abort();
      });
      const page = await context.newPage();
      const response = await page.goto(`${base}/index.html`);
      assert.equal(response?.status(), 200);
      assert.equal(await page.title(), 'edgezoo model zoo');

      const index = JSON.parse(await readFile(path.join(site, 'index.json'), 'utf8')) as ZooIndex;
      const rows = (await page.evaluate(READ_TABLE_IN_PAGE)) as PageRow[];

      // Every passed artifact of index.json is one row, with its files in order; failed ones are not listed.
      const expected = index.models.flatMap((m) =>
        m.versions.flatMap((v) =>
          v.artifacts.map((a) => ({
            model: m.name,
            yanked: v.yanked ? `yanked: ${v.yanked.reason}` : null,
            version: v.version,
            format: a.format,
            precision: a.precision,
            cardHref: new URL(v.card, `${base}/index.json`).href,
            files: a.files.map((f) => ({
              name: f.name,
              href: new URL(f.url, `${base}/index.json`).href,
              downloadName: f.name,
              dataSha256: f.sha256,
              shownSha256: f.sha256,
            })),
          })),
        ),
      );
      assert.deepEqual(rows, expected);
      assert.deepEqual(rows.map((r) => `${r.model}@${r.version} ${r.format}/${r.precision}`).sort(), [
        'alpha-net@0.2.0 onnx/fp32',
        'alpha-net@0.2.0 tflite/fp16',
        'tiny-net@1.0.0 onnx/fp32',
        'tiny-net@1.0.0 openvino/fp16',
        'tiny-net@1.0.0 tflite/int8',
        'tiny-net@1.1.0 onnx/fp16',
      ]);
      assert.deepEqual(
        rows.filter((r) => r.yanked).map((r) => `${r.model}@${r.version} ${r.yanked}`),
        ['tiny-net@1.1.0 yanked: wrong labels'],
      );
      const links = rows.flatMap((r) => r.files);
      assert.equal(links.length, 7, 'the OpenVINO artifact has two files (.xml and .bin)');

      // Fetched through the page (same origin, as a user's browser would): the bytes hash to what the page shows.
      for (const link of links) {
        const fetched = (await page.evaluate(`(${FETCH_AND_HASH_IN_PAGE})(${JSON.stringify(link.href)})`)) as {
          status: number;
          size: number;
          sha256: string;
        };
        assert.equal(fetched.status, 200, link.href);
        assert.equal(fetched.sha256, link.shownSha256, `${link.name} fetched by the page`);
      }

      // Clicked like a person would: the `download` attribute saves the file under its own name, same bytes.
      for (const link of links) {
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.click(`a.file[href$="/${link.name}"]`),
        ]);
        assert.equal(download.suggestedFilename(), link.name);
        const saved = await readFile(await download.path());
        assert.equal(
          createHash('sha256').update(saved).digest('hex'),
          link.shownSha256,
          `${link.name} downloaded by a click`,
        );
      }

      // The model card and the index.json link resolve too.
      for (const href of [...new Set(rows.map((r) => r.cardHref)), `${base}/index.json`]) {
        const status = await page.evaluate(`fetch(${JSON.stringify(href)}).then((res) => res.status)`);
        assert.equal(status, 200, href);
      }
      assert.deepEqual(offLoopback, [], 'the page asked for nothing outside the zoo server');
      assert.ok(requests.includes('GET /index.html'));
    } finally {
      await context.close();
    }
  });
});
