/**
 * A real remote cache for tests (not a test file): Debian's nginx (package nginx-light) on
 * 127.0.0.1 serving the bazel-remote HTTP protocol with WebDAV PUT, from a temporary folder that
 * also holds its pid, logs and body temp files. The tests start and stop it themselves.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const NGINX = '/usr/sbin/nginx';

/** Why the nginx tests cannot run here, or false. */
export const nginxMissing: string | false = existsSync(NGINX)
  ? false
  : `${NGINX} is absent (install it with: apt-get install -y nginx-light)`;

export interface NginxCacheOptions {
  /** Require basic auth with this user and password (for writes only with `writesOnly`). */
  auth?: { user: string; password: string; writesOnly?: boolean };
  /** Refuse PUT and DELETE (403), as a read-only cache would. */
  readOnly?: boolean;
  /** Extra `location` blocks, for servers that misbehave on purpose. */
  extraLocations?: string;
  /** Default 0 (unlimited); nginx's own default is 1m. */
  clientMaxBodySize?: string;
}

export interface NginxCache {
  /** Base URL of the cache, ending in '/'. */
  url: string;
  port: number;
  /** The folder nginx serves: `<root>/ac/<key>`, `<root>/cas/<sha256>`. */
  root: string;
  /** `METHOD /path STATUS` per request, in order. */
  requests(): Promise<string[]>;
  stop(): Promise<void>;
}

/** A free loopback port (a tiny race with other processes is accepted in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts nginx and waits until it accepts connections. */
export async function startNginxCache(options: NginxCacheOptions = {}): Promise<NginxCache> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgezoo-nginx-'));
  const root = path.join(dir, 'data');
  await mkdir(root);
  await mkdir(path.join(dir, 'tmp'));
  const port = await freePort();
  let auth = options.auth ? `auth_basic "edgezoo cache"; auth_basic_user_file ${dir}/htpasswd;` : '';
  // The README's example: anyone reads, writing needs the password.
  if (options.auth?.writesOnly) auth = `limit_except GET HEAD { ${auth} }`;
  if (options.auth)
    await writeFile(path.join(dir, 'htpasswd'), `${options.auth.user}:{PLAIN}${options.auth.password}\n`);
  const config = `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
${process.getuid?.() === 0 ? 'user root;' : ''}
events { worker_connections 64; }
http {
  log_format edgezoo '$request_method $uri $status';
  access_log ${dir}/access.log edgezoo;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    client_max_body_size ${options.clientMaxBodySize ?? '0'};
    ${options.extraLocations ?? ''}
    location / {
      ${auth}
      dav_methods PUT DELETE;
      create_full_put_path on;
      ${options.readOnly ? 'limit_except GET HEAD { deny all; }' : ''}
    }
  }
}
`;
  await writeFile(path.join(dir, 'nginx.conf'), config);
  const child = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, child, () => stderr, dir);
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    root,
    requests: async () =>
      (await readFile(path.join(dir, 'access.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, stderr: () => string, dir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) {
      const log = await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
      throw new Error(`nginx exited with ${child.exitCode}: ${stderr()}${log}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} within 10 s: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
