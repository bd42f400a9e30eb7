/**
 * A loopback stand-in for the GitHub REST endpoints the releases publisher uses (releases by tag,
 * release list, create, update, assets list/download/rename/delete, upload) and for the web's
 * release downloads (`/o/r/releases/download/TAG/NAME`, what pull reads), with scripted faults and,
 * for the kill test, slow uploads that keep a `starter` asset when the client goes away mid-way
 * (as GitHub does).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Asset {
  id: number;
  name: string;
  size: number;
  state: 'starter' | 'uploaded';
  bytes: Buffer;
  digest: string;
}
export interface Release {
  id: number;
  tag_name: string;
  name: string;
  draft: boolean;
  prerelease?: boolean;
  assets: Asset[];
}
export type Fault =
  | { kind: 'reset-after-store'; name: string } // the upload arrives, the response does not: the retry gets 422
  | { kind: 'reset-mid-upload'; name: string } // connection dropped while the body streams: a starter stays
  | { kind: 'bad-gateway-starter'; name: string } // 502 and a starter asset
  | { kind: 'rate-limit-403'; method: string; path: RegExp }
  | { kind: 'secondary-429'; method: string; path: RegExp }
  /** A release download answers with other bytes (a tampered asset), once or for good. */
  | { kind: 'tamper-download'; name: string; keep?: boolean };

/** The fake server; state is public so tests can inspect and seed it. */
export class FakeGitHub {
  releases: Release[] = [];
  faults: Fault[] = [];
  log: string[] = [];
  nextId = 1;
  /**
   * When above 0, each upload creates a `starter` asset at once, then takes this long (half
   * before reading the body, half after); if the client goes away meanwhile, the starter stays.
   */
  uploadDelayMs = 0;
  /**
   * Set by a test just before it SIGKILLs the client: from then on no in-flight slow upload is
   * stored, exactly as if the connection had dropped at that instant (the socket's close event
   * may reach us later than our own timers on a loaded machine).
   */
  clientKilled = false;
  /** Called when an upload request arrives (after the starter asset exists, in slow mode). */
  onUploadStart: (name: string, tag: string) => void = () => {};
  server!: http.Server;
  base = '';
  /** Where upload_url points; default this server. A test points it elsewhere to see the token is not sent there. */
  uploadBase = '';

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
    return {
      id: r.id,
      tag_name: r.tag_name,
      name: r.name,
      draft: r.draft,
      prerelease: r.prerelease === true,
      upload_url: `${this.uploadBase || this.base}/uploads/repos/o/r/releases/${r.id}/assets{?name,label}`,
      html_url: `${this.base}/o/r/releases/${r.id}`,
    };
  }

  private assetView(a: Asset) {
    return { id: a.id, name: a.name, size: a.size, state: a.state, digest: a.state === 'uploaded' ? a.digest : null };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.base);
    const method = req.method ?? 'GET';
    this.log.push(`${method} ${url.pathname}`);
    const limit = this.takeFault(
      (f) =>
        (f.kind === 'rate-limit-403' || f.kind === 'secondary-429') && f.method === method && f.path.test(url.pathname),
    );
    if (limit?.kind === 'rate-limit-403') {
      req.resume();
      return this.json(
        res,
        403,
        { message: 'API rate limit exceeded for user ID 1.' },
        { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 1) },
      );
    }
    if (limit?.kind === 'secondary-429') {
      req.resume();
      return this.json(
        res,
        429,
        { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' },
        { 'retry-after': '2' },
      );
    }
    let m: RegExpExecArray | null;
    if (method === 'GET' && (m = /^\/o\/r\/releases\/download\/([^/]+)\/([^/]+)$/.exec(url.pathname))) {
      // The web download of a published release's asset, as browsers and pull fetch it (no API, no token).
      const tag = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      const r = this.releases.find((x) => x.tag_name === tag && !x.draft);
      const a = r?.assets.find((x) => x.name === name && x.state === 'uploaded');
      if (!a) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      const tamper = this.faults.find((f) => f.kind === 'tamper-download' && f.name === name);
      if (tamper && !(tamper as { keep?: boolean }).keep) this.faults.splice(this.faults.indexOf(tamper), 1);
      const bytes = tamper
        ? Buffer.concat([a.bytes.subarray(0, a.bytes.length - 1), Buffer.from([a.bytes.at(-1)! ^ 0xff])])
        : a.bytes;
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (range && Number(range[1]) < bytes.length) {
        const start = Number(range[1]);
        res.writeHead(206, {
          'content-type': 'application/octet-stream',
          'content-length': bytes.length - start,
          'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}`,
        });
        return void res.end(bytes.subarray(start));
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      return void res.end(bytes);
    }
    if (method === 'GET' && (m = /^\/repos\/o\/r\/releases\/tags\/(.+)$/.exec(url.pathname))) {
      const tag = decodeURIComponent(m[1]!);
      const r = this.releases.find((x) => x.tag_name === tag && !x.draft); // drafts are not found by tag
      return r ? this.json(res, 200, this.view(r)) : this.json(res, 404, { message: 'Not Found' });
    }
    if (method === 'GET' && url.pathname === '/repos/o/r/releases')
      return this.json(
        res,
        200,
        this.releases.map((r) => this.view(r)),
      );
    if (method === 'POST' && url.pathname === '/repos/o/r/releases') {
      const body = JSON.parse(await readBody(req));
      const r: Release = {
        id: this.nextId++,
        tag_name: body.tag_name,
        name: body.name,
        draft: body.draft === true,
        prerelease: body.prerelease === true,
        assets: [],
      };
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
      return r
        ? this.json(
            res,
            200,
            r.assets.map((a) => this.assetView(a)),
          )
        : this.json(res, 404, { message: 'Not Found' });
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
      if (method === 'PATCH') {
        const body = JSON.parse(await readBody(req));
        if (typeof body.name === 'string') {
          if (r.assets.some((x) => x.name === body.name && x.id !== id))
            return this.json(res, 422, { message: 'Validation Failed', errors: [{ code: 'already_exists' }] });
          a.name = body.name;
        }
        return this.json(res, 200, this.assetView(a));
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
        return this.json(res, 422, {
          message: 'Validation Failed',
          errors: [{ resource: 'ReleaseAsset', code: 'already_exists', field: 'name' }],
        });
      }
      if (this.uploadDelayMs > 0) return this.slowUpload(req, res, r, name);
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
      const asset: Asset = {
        id: this.nextId++,
        name,
        size: bytes.length,
        state: 'uploaded',
        bytes,
        digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      };
      r.assets.push(asset);
      if (fault?.kind === 'reset-after-store') {
        res.socket?.destroy();
        return;
      }
      return this.json(res, 201, this.assetView(asset));
    }
    this.json(res, 404, { message: `no route ${method} ${url.pathname}` });
  }

  private async slowUpload(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    r: Release,
    name: string,
  ): Promise<void> {
    const asset: Asset = { id: this.nextId++, name, size: 0, state: 'starter', bytes: Buffer.alloc(0), digest: '' };
    r.assets.push(asset);
    let clientGone = false;
    res.once('close', () => (clientGone = !res.writableFinished));
    this.onUploadStart(name, r.tag_name);
    await sleep(this.uploadDelayMs / 2);
    if (clientGone || req.destroyed || this.clientKilled) return;
    let bytes: Buffer;
    try {
      bytes = await readBody(req, true);
    } catch {
      return; // the client went away while the body streamed: the starter stays
    }
    await sleep(this.uploadDelayMs / 2);
    if (clientGone || req.socket.destroyed || this.clientKilled) return;
    Object.assign(asset, {
      size: bytes.length,
      state: 'uploaded',
      bytes,
      digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    });
    this.json(res, 201, this.assetView(asset));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The whole request body; rejects when the connection closes before the body ends. */
function readBody(req: http.IncomingMessage, binary?: true): Promise<string & Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const all = Buffer.concat(chunks);
      resolve((binary ? all : all.toString('utf8')) as string & Buffer);
    });
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('the client closed the connection before the body ended'));
    });
  });
}
