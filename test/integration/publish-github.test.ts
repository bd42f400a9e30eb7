/**
 * The GitHub Releases publisher against a loopback server implementing the REST endpoints it
 * uses (releases by tag, release list, create, update, assets list/download/delete, upload),
 * with scripted faults.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GitHubReleasesPublisher } from '../../src/publish/index.js';
import { writeSampleVersion } from '../../src/zoo/sample.js';

interface Asset { id: number; name: string; size: number; state: 'starter' | 'uploaded'; bytes: Buffer; digest: string }
interface Release { id: number; tag_name: string; name: string; draft: boolean; assets: Asset[] }
type Fault =
  | { kind: 'reset-after-store'; name: string } // the upload arrives, the response does not: the retry gets 422
  | { kind: 'reset-mid-upload'; name: string } // connection dropped while the body streams: a starter stays
  | { kind: 'bad-gateway-starter'; name: string } // 502 and a starter asset
  | { kind: 'rate-limit-403'; method: string; path: RegExp }
  | { kind: 'secondary-429'; method: string; path: RegExp };

class FakeGitHub {
  releases: Release[] = [];
  faults: Fault[] = [];
  log: string[] = [];
  nextId = 1;
  server!: http.Server;
  base = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private takeFault(match: (f: Fault) => boolean): Fault | undefined {
    const i = this.faults.findIndex(match);
    return i < 0 ? undefined : this.faults.splice(i, 1)[0];
  }

  private json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }

  private view(r: Release) {
    return { id: r.id, tag_name: r.tag_name, name: r.name, draft: r.draft, upload_url: `${this.base}/uploads/repos/o/r/releases/${r.id}/assets{?name,label}`, html_url: `${this.base}/o/r/releases/${r.id}` };
  }

  private assetView(a: Asset) {
    return { id: a.id, name: a.name, size: a.size, state: a.state, digest: a.state === 'uploaded' ? a.digest : null };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.base);
    const method = req.method ?? 'GET';
    this.log.push(`${method} ${url.pathname}`);
    const limit = this.takeFault((f) => (f.kind === 'rate-limit-403' || f.kind === 'secondary-429') && f.method === method && f.path.test(url.pathname));
    if (limit?.kind === 'rate-limit-403') {
      req.resume();
      return this.json(res, 403, { message: 'API rate limit exceeded for user ID 1.' }, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 1) });
    }
    if (limit?.kind === 'secondary-429') {
      req.resume();
      return this.json(res, 429, { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' }, { 'retry-after': '2' });
    }
    let m: RegExpExecArray | null;
    if (method === 'GET' && (m = /^\/repos\/o\/r\/releases\/tags\/(.+)$/.exec(url.pathname))) {
      const tag = decodeURIComponent(m[1]!);
      const r = this.releases.find((x) => x.tag_name === tag && !x.draft); // drafts are not found by tag
      return r ? this.json(res, 200, this.view(r)) : this.json(res, 404, { message: 'Not Found' });
    }
    if (method === 'GET' && url.pathname === '/repos/o/r/releases') return this.json(res, 200, this.releases.map((r) => this.view(r)));
    if (method === 'POST' && url.pathname === '/repos/o/r/releases') {
      const body = JSON.parse(await readBody(req));
      const r: Release = { id: this.nextId++, tag_name: body.tag_name, name: body.name, draft: body.draft === true, assets: [] };
      this.releases.push(r);
      return this.json(res, 201, this.view(r));
    }
    if (method === 'PATCH' && (m = /^\/repos\/o\/r\/releases\/(\d+)$/.exec(url.pathname))) {
      const r = this.releases.find((x) => x.id === Number(m![1]));
      if (!r) return this.json(res, 404, { message: 'Not Found' });
      const body = JSON.parse(await readBody(req));
      if (body.draft === false) r.draft = false;
      return this.json(res, 200, this.view(r));
    }
    if (method === 'GET' && (m = /^\/repos\/o\/r\/releases\/(\d+)\/assets$/.exec(url.pathname))) {
      const r = this.releases.find((x) => x.id === Number(m![1]));
      return r ? this.json(res, 200, r.assets.map((a) => this.assetView(a))) : this.json(res, 404, { message: 'Not Found' });
    }
    if ((m = /^\/repos\/o\/r\/releases\/assets\/(\d+)$/.exec(url.pathname))) {
      const id = Number(m[1]);
      const r = this.releases.find((x) => x.assets.some((a) => a.id === id));
      const a = r?.assets.find((x) => x.id === id);
      if (!r || !a) return this.json(res, 404, { message: 'Not Found' });
      if (method === 'DELETE') {
        r.assets = r.assets.filter((x) => x.id !== id);
        res.writeHead(204).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(a.bytes);
      return;
    }
    if (method === 'POST' && (m = /^\/uploads\/repos\/o\/r\/releases\/(\d+)\/assets$/.exec(url.pathname))) {
      const r = this.releases.find((x) => x.id === Number(m![1]));
      const name = url.searchParams.get('name') ?? '';
      if (!r) return this.json(res, 404, { message: 'Not Found' });
      if (r.assets.some((a) => a.name === name)) {
        req.resume();
        return this.json(res, 422, { message: 'Validation Failed', errors: [{ resource: 'ReleaseAsset', code: 'already_exists', field: 'name' }] });
      }
      const fault = this.takeFault((f) => 'name' in f && f.name === name);
      if (fault?.kind === 'reset-mid-upload') {
        r.assets.push({ id: this.nextId++, name, size: 0, state: 'starter', bytes: Buffer.alloc(0), digest: '' });
        req.once('data', () => req.socket.destroy());
        return;
      }
      const bytes = Buffer.from(await readBody(req, true));
      if (fault?.kind === 'bad-gateway-starter') {
        r.assets.push({ id: this.nextId++, name, size: 0, state: 'starter', bytes: Buffer.alloc(0), digest: '' });
        return this.json(res, 502, { message: 'Bad Gateway' });
      }
      const asset: Asset = { id: this.nextId++, name, size: bytes.length, state: 'uploaded', bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
      r.assets.push(asset);
      if (fault?.kind === 'reset-after-store') {
        res.socket?.destroy();
        return;
      }
      return this.json(res, 201, this.assetView(asset));
    }
    this.json(res, 404, { message: `no route ${method} ${url.pathname}` });
  }
}

function readBody(req: http.IncomingMessage, binary?: true): Promise<string & Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const all = Buffer.concat(chunks);
      resolve((binary ? all : all.toString('utf8')) as string & Buffer);
    });
    req.on('error', reject);
  });
}

let root: string;
let zoo: string;
const github = new FakeGitHub();

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgezoo-gh-'));
  zoo = path.join(root, 'zoo');
  await writeSampleVersion(zoo, 'tiny-net', '1.0.0', [{ format: 'onnx', precision: 'fp32', size: 64 * 1024 }, { format: 'openvino', precision: 'fp16' }], { licenseText: 'license\n' });
  await writeSampleVersion(zoo, 'alpha-net', '0.2.0', [{ format: 'tflite', precision: 'int8' }]);
  await github.start();
});
after(async () => {
  await github.stop();
  await rm(root, { recursive: true, force: true });
});

function publisher(): GitHubReleasesPublisher {
  return new GitHubReleasesPublisher({ owner: 'o', repo: 'r', token: 't', baseUrl: github.base, waitUnitMs: 5, spaceWrites: false });
}

describe('GitHub Releases publisher', () => {
  test('publishes one release per model@version through faults, and a second run changes nothing', async () => {
    github.faults.push(
      { kind: 'reset-after-store', name: 'tiny-net-1.0.0-onnx-fp32.onnx' },
      { kind: 'reset-mid-upload', name: 'tiny-net-1.0.0-openvino-fp16.bin' },
      { kind: 'bad-gateway-starter', name: 'LICENSE.txt' },
      { kind: 'rate-limit-403', method: 'POST', path: /^\/repos\/o\/r\/releases$/ },
      { kind: 'secondary-429', method: 'PATCH', path: /^\/repos\/o\/r\/releases\/\d+$/ },
    );
    const report = await publisher().publish(zoo, {});
    assert.deepEqual(github.faults, [], 'every fault was hit');
    assert.deepEqual(report.versions.map((v) => `${v.name}@${v.version}:${v.state}`), ['alpha-net@0.2.0:new', 'tiny-net@1.0.0:new']);
    assert.deepEqual(github.releases.map((r) => [r.tag_name, r.draft]), [['alpha-net@0.2.0', false], ['tiny-net@1.0.0', false]]);
    const tiny = github.releases[1]!;
    assert.deepEqual(tiny.assets.map((a) => `${a.name}:${a.state}`).sort(), [
      'LICENSE.txt:uploaded', 'README.md:uploaded', 'SHA256SUMS:uploaded', 'manifest.json:uploaded',
      'tiny-net-1.0.0-onnx-fp32.onnx:uploaded', 'tiny-net-1.0.0-openvino-fp16.bin:uploaded', 'tiny-net-1.0.0-openvino-fp16.xml:uploaded',
    ]);
    const sums = tiny.assets.find((a) => a.name === 'SHA256SUMS')!.bytes.toString();
    for (const a of tiny.assets.filter((x) => x.name !== 'SHA256SUMS')) assert.ok(sums.includes(`${a.digest.slice(7)}  ${a.name}\n`), `SHA256SUMS lists ${a.name}`);

    const before = github.log.length;
    const again = await publisher().publish(zoo, {});
    assert.deepEqual(again.versions.map((v) => v.state), ['unchanged', 'unchanged']);
    assert.equal(again.filesUploaded, 0);
    assert.ok(github.log.slice(before).every((line) => line.startsWith('GET ')), 'a second run only reads');
  });

  test('a draft left by an interrupted run is completed, starter assets replaced', async () => {
    const zoo2 = path.join(root, 'zoo2');
    await writeSampleVersion(zoo2, 'beta-net', '1.0.0', [{ format: 'onnx', precision: 'fp32' }]);
    const sums = github.releases.length;
    github.releases.push({ id: 900, tag_name: 'beta-net@1.0.0', name: 'beta-net@1.0.0', draft: true, assets: [
      { id: 901, name: 'beta-net-1.0.0-onnx-fp32.onnx', size: 0, state: 'starter', bytes: Buffer.alloc(0), digest: '' },
    ] });
    const report = await publisher().publish(zoo2, {});
    assert.deepEqual(report.versions, [{ name: 'beta-net', version: '1.0.0', state: 'completed' }]);
    assert.equal(github.releases.length, sums + 1, 'no second release was created');
    const beta = github.releases.find((r) => r.id === 900)!;
    assert.equal(beta.draft, false);
    assert.ok(beta.assets.every((a) => a.state === 'uploaded'));
  });

  test('a published release with different bytes is refused and stays as it was', async () => {
    const zoo3 = path.join(root, 'zoo3');
    await writeSampleVersion(zoo3, 'alpha-net', '0.2.0', [{ format: 'tflite', precision: 'int8', seed: 'different' }]);
    const release = github.releases.find((r) => r.tag_name === 'alpha-net@0.2.0')!;
    const assetsBefore = JSON.stringify(release.assets.map((a) => [a.name, a.digest]));
    await assert.rejects(publisher().publish(zoo3, {}), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'RELEASE_IMMUTABLE');
      assert.match(error.message, /^release alpha-net@0\.2\.0 was started with other bytes \(alpha-net-0\.2\.0-tflite-int8\.tflite: release has sha256 [0-9a-f]{64}, the zoo has sha256 [0-9a-f]{64}\)$/);
      return true;
    });
    assert.equal(JSON.stringify(release.assets.map((a) => [a.name, a.digest])), assetsBefore);
  });
});
