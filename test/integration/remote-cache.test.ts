/**
 * `edgezoo build --remote-cache` against a real server: Debian's nginx with WebDAV PUT on
 * loopback, started and stopped by each test. Separate project folders stand for separate
 * machines (each its own local cache); the steps are the CLI's stand-in runners, so what is
 * tested is the cache, not the converters: hit, miss, upload, corrupt object, server down,
 * read-only, credentials, and a deterministic failure shared like a success.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { BuildEvent } from '../../src/build/index.js';
import { LocalCache, RemoteCache } from '../../src/cache/index.js';
import { decodeActionResult, remoteActionKey } from '../../src/cache/remote-protocol.js';
import type { Fingerprint } from '../../src/plan/index.js';
import { makeProject, removeProjects, runCli } from '../unit/build-cli-helpers.js';
import { type NginxCache, nginxMissing, startNginxCache } from './nginx-cache-server.js';

const servers: NginxCache[] = [];
after(async () => {
  for (const server of servers.splice(0)) await server.stop();
  await removeProjects();
});

async function nginx(options: Parameters<typeof startNginxCache>[0] = {}): Promise<NginxCache> {
  const server = await startNginxCache(options);
  servers.push(server);
  return server;
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const events = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as BuildEvent);
const warnings = (stdout: string) => stdout.split('\n').filter((line) => line.startsWith('warning: '));
const remoteLine = (stdout: string) => stdout.split('\n').find((line) => line.startsWith('remote cache ')) ?? '';

async function build(args: string[], env: Record<string, string> = {}) {
  const root = await makeProject();
  const run = await runCli(root, ['build', '--all', ...args], env);
  return { root, ...run };
}

async function stepFingerprints(root: string, env: Record<string, string> = {}): Promise<Map<string, Fingerprint>> {
  const plan = JSON.parse((await runCli(root, ['plan', '--json'], env)).stdout) as {
    steps: Array<{ id: string; fingerprint: Fingerprint }>;
  };
  return new Map(plan.steps.map((step) => [step.id, step.fingerprint]));
}

async function filesUnder(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files.set(path.relative(dir, full), await readFile(full));
  }
  return files;
}

describe('remote cache against nginx', { skip: nginxMissing }, () => {
  it('uploads blobs before action results, and a clean machine then builds everything from it', async () => {
    const server = await nginx();
    const first = await build(['--remote-cache', server.url]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.deepEqual(warnings(first.stdout), []);
    assert.match(
      remoteLine(first.stdout),
      /^remote cache http:\/\/127\.0\.0\.1:\d+\/: 0 hits, 39 misses, 39 uploads \(0 B down, [\d.]+ KiB up\)$/,
    );

    // What the server holds: 39 action results, each pointing at blobs that are there and hash right.
    const acKeys = await readdir(path.join(server.root, 'ac'));
    assert.equal(acKeys.length, 39);
    const log = await server.requests();
    for (const key of acKeys) {
      const action = decodeActionResult(await readFile(path.join(server.root, 'ac', key)));
      const acPut = log.indexOf(`PUT /ac/${key} 201`);
      assert.ok(acPut >= 0);
      for (const blob of [action.record, ...action.files]) {
        if (blob.size === 0) continue;
        assert.equal(sha(await readFile(path.join(server.root, 'cas', blob.sha256))), blob.sha256);
        const sent = log.findIndex(
          (line) => line === `PUT /cas/${blob.sha256} 201` || line === `HEAD /cas/${blob.sha256} 200`,
        );
        assert.ok(sent >= 0 && sent < acPut, `blob ${blob.sha256} is on the server before the action result`);
      }
    }

    // Another machine (project, local cache) with the variable instead of the flag: all hits.
    const second = await build(['--json'], { EDGEZOO_REMOTE_CACHE: server.url });
    assert.equal(second.code, 0, second.stderr);
    const stream = events(second.stdout);
    assert.equal(stream.filter((event) => event.type === 'step-start').length, 0, 'no step ran');
    assert.equal(stream.filter((event) => event.type === 'step-cached').length, 39);
    const stats = stream.at(-1)!;
    assert.ok(stats.type === 'remote-cache');
    assert.equal(stats.hits, 39);
    assert.equal(stats.uploaded, 0);
    const zooA = await filesUnder(path.join(first.root, 'artifacts', 'zoo'));
    const zooB = await filesUnder(path.join(second.root, 'artifacts', 'zoo'));
    // Records of each machine's own build, not its outputs: the index, build-status.json (with the
    // time) and build-costs.json (the seconds of the steps that ran here).
    for (const zoo of [zooA, zooB]) {
      zoo.delete('index.json');
      zoo.delete('build-status.json');
      zoo.delete('build-costs.json');
    }
    assert.ok(zooA.size > 0);
    assert.deepEqual(zooB, zooA, 'the same zoo, byte for byte');

    // A machine with one model more: hits for the three, misses and uploads for the new one.
    const third = await build(['--remote-cache', server.url], { EDGEZOO_STANDIN_MODELS: '4' });
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stdout, /^total\s+52\s+13\s+39\s+0\s+0\s/m);
    assert.match(remoteLine(third.stdout), /: 39 hits, 13 misses, 13 uploads \(/);

    // A forced rebuild re-sends only the action results and records: every output blob is there.
    const before = (await server.requests()).length;
    const forced = await build(['--force', '--remote-cache', server.url]);
    assert.equal(forced.code, 0, forced.stderr);
    const forcedLog = (await server.requests()).slice(before);
    assert.equal(forcedLog.filter((line) => line.startsWith('PUT /ac/')).length, 39);
    assert.equal(forcedLog.filter((line) => line.startsWith('PUT /cas/')).length, 39, 'one new record per entry');
    assert.equal(forcedLog.filter((line) => line.startsWith('GET ')).length, 0, '--force never reads');
  });

  it('ignores a corrupt blob and a corrupt action result, rebuilds those steps and repairs the server', async () => {
    const server = await nginx();
    const seeded = await build(['--remote-cache', server.url]);
    assert.equal(seeded.code, 0, seeded.stderr);
    const fingerprints = await stepFingerprints(seeded.root);
    const blobStep = fingerprints.get('m01/convert/onnx/fp16')!;
    const acStep = fingerprints.get('m02/prepare')!;
    const action = decodeActionResult(await readFile(path.join(server.root, 'ac', remoteActionKey(blobStep))));
    const output = action.files.find((file) => file.path === 'output.txt')!;
    const blobFile = path.join(server.root, 'cas', output.sha256);
    const good = await readFile(blobFile);
    await writeFile(blobFile, Buffer.alloc(good.length, 0x41)); // same length, other bytes
    await writeFile(
      path.join(server.root, 'ac', remoteActionKey(acStep)),
      '<html><head><title>502 Bad Gateway</title></head></html>',
    );

    const run = await build(['--remote-cache', server.url]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const said = warnings(run.stdout);
    assert.equal(said.length, 2, said.join('\n'));
    assert.ok(
      said.includes(
        `warning: remote cache entry ${blobStep.slice(0, 12)} ignored: cas/${output.sha256.slice(0, 12)}… has sha256 ${sha(Buffer.alloc(good.length, 0x41)).slice(0, 12)}…, not the one it is stored under; building it here`,
      ),
      said.join('\n'),
    );
    assert.ok(
      said.some((line) =>
        new RegExp(
          `^warning: remote cache entry ${acStep.slice(0, 12)} ignored: its action result (is not a valid protobuf|is malformed|is truncated|has)`,
        ).test(line),
      ),
      said.join('\n'),
    );
    assert.match(run.stdout, /^total\s+39\s+2\s+37\s+0\s+0\s/m, 'only the two corrupt steps ran');
    assert.match(remoteLine(run.stdout), /: 37 hits, 0 misses, 2 corrupt ignored, 2 uploads \(/);
    assert.deepEqual(await readFile(blobFile), good, 'the good bytes were sent again');
    decodeActionResult(await readFile(path.join(server.root, 'ac', remoteActionKey(acStep))));

    const clean = await build(['--remote-cache', server.url]);
    assert.deepEqual(warnings(clean.stdout), []);
    assert.match(remoteLine(clean.stdout), /: 39 hits, 0 misses, 0 uploads/);
  });

  it('builds locally with one warning when the server is down', async () => {
    const server = await nginx();
    await server.stop();
    const run = await build(['--remote-cache', server.url]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const said = warnings(run.stdout);
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(
      said[0]!,
      new RegExp(
        `^warning: remote cache http://127\\.0\\.0\\.1:${server.port}/: unreachable \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${server.port} on GET ac/[0-9a-f]{12}…, 3 attempts\\); building with the local cache only$`,
      ),
    );
    assert.match(run.stdout, /^total\s+39\s+39\s+0\s+0\s+0\s/m);
    assert.match(run.stdout, /^build ok$/m);
    assert.match(
      remoteLine(run.stdout),
      /: 0 hits, 0 misses, 0 uploads, 39 not uploaded \(0 B down, 0 B up\); stopped using it: unreachable \(connect ECONNREFUSED/,
    );
  });

  it('in read-only mode reads hits and never writes; a server that refuses PUT stops uploads with one warning', async () => {
    const server = await nginx();
    assert.equal((await build(['--remote-cache', server.url])).code, 0);
    const before = (await server.requests()).length;
    const flag = await build(['--remote-cache', server.url, '--remote-cache-read-only'], {
      EDGEZOO_STANDIN_MODELS: '4',
    });
    assert.equal(flag.code, 0, flag.stderr);
    assert.match(remoteLine(flag.stdout), /: 39 hits, 13 misses, read-only \([\d.]+ KiB down, 0 B up\)$/);
    const variable = await build([], {
      EDGEZOO_STANDIN_MODELS: '4',
      EDGEZOO_REMOTE_CACHE: server.url,
      EDGEZOO_REMOTE_CACHE_READ_ONLY: '1',
    });
    assert.equal(variable.code, 0, variable.stderr);
    assert.match(remoteLine(variable.stdout), /: 39 hits, 13 misses, read-only/);
    const methods = new Set((await server.requests()).slice(before).map((line) => line.split(' ')[0]));
    assert.deepEqual([...methods], ['GET']);
    assert.deepEqual([...warnings(flag.stdout), ...warnings(variable.stdout)], []);

    const readOnlyServer = await nginx({ readOnly: true });
    const refused = await build(['--remote-cache', readOnlyServer.url]);
    assert.equal(refused.code, 0, refused.stderr);
    const said = warnings(refused.stdout);
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(
      said[0]!,
      /^warning: remote cache http:\/\/127\.0\.0\.1:\d+\/: uploads refused \(HTTP 403 Forbidden for PUT cas\/[0-9a-f]{12}…\); going on without uploading$/,
    );
  });

  it('sends credentials from the environment, never prints or stores them, and warns once when they are wrong', async () => {
    const password = 'pw-7f3a9c-never-printed';
    const server = await nginx({ auth: { user: 'ci', password } });
    const env = { EDGEZOO_REMOTE_CACHE_USER: 'ci', EDGEZOO_REMOTE_CACHE_PASSWORD: password };
    const good = await build(['--remote-cache', server.url], env);
    assert.equal(good.code, 0, good.stderr);
    assert.match(remoteLine(good.stdout), /: 0 hits, 39 misses, 39 uploads/);
    const json = await build(['--json', '--remote-cache', server.url], env);
    assert.match(json.stdout, /"type":"remote-cache".*"hits":39/);
    for (const run of [good, json]) {
      assert.ok(!run.stdout.includes(password) && !run.stderr.includes(password));
      for (const [file, bytes] of await filesUnder(run.root))
        assert.ok(!bytes.includes(password), `${file} holds the password`);
    }

    const wrong = await build(['--remote-cache', server.url], { ...env, EDGEZOO_REMOTE_CACHE_PASSWORD: 'wrong' });
    assert.equal(wrong.code, 0, wrong.stderr);
    assert.equal(warnings(wrong.stdout).length, 1, wrong.stdout);
    assert.match(
      warnings(wrong.stdout)[0]!,
      /^warning: remote cache http:\/\/127\.0\.0\.1:\d+\/: refused access \(HTTP 401 Unauthorized for GET ac\/[0-9a-f]{12}…\); check EDGEZOO_REMOTE_CACHE_TOKEN or EDGEZOO_REMOTE_CACHE_USER and _PASSWORD; building with the local cache only$/,
    );
    assert.match(wrong.stdout, /^total\s+39\s+39\s/m);
  });

  it('with the README nginx setup, anyone reads and only holders of the password write', async () => {
    const password = 'writer-only-pw';
    const server = await nginx({ auth: { user: 'ci', password, writesOnly: true } });
    const writer = await build(['--remote-cache', server.url], {
      EDGEZOO_REMOTE_CACHE_USER: 'ci',
      EDGEZOO_REMOTE_CACHE_PASSWORD: password,
    });
    assert.match(remoteLine(writer.stdout), /: 0 hits, 39 misses, 39 uploads/);
    // A pull request from a fork: no secret, read-only.
    const fork = await build(['--remote-cache', server.url, '--remote-cache-read-only'], {
      EDGEZOO_STANDIN_MODELS: '4',
    });
    assert.deepEqual(warnings(fork.stdout), []);
    assert.match(remoteLine(fork.stdout), /: 39 hits, 13 misses, read-only/);
    // The same without read-only: reads work, the first upload is refused, one warning.
    const anonymous = await build(['--remote-cache', server.url], { EDGEZOO_STANDIN_MODELS: '4' });
    assert.equal(anonymous.code, 0);
    assert.deepEqual(
      warnings(anonymous.stdout).map((line) => line.replace(/[0-9a-f]{12}…/, 'KEY')),
      [
        `warning: remote cache ${server.url}: uploads refused (HTTP 401 Unauthorized for PUT cas/KEY); going on without uploading`,
      ],
    );
    assert.match(remoteLine(anonymous.stdout), /: 39 hits, 13 misses, 0 uploads, 13 not uploaded .*; uploads refused/);
  });

  it('shares a deterministic failure like a success: the other machine reports it without running the step', async () => {
    const server = await nginx();
    const env = { EDGEZOO_STANDIN_INVALID: '^m01/validate/onnx/fp32$' };
    const first = await build(['--remote-cache', server.url], env);
    assert.equal(first.code, 1);
    const second = await build(['--remote-cache', server.url], env);
    assert.equal(second.code, 1);
    assert.match(
      second.stdout,
      /^\[m01\] validate\/onnx\/fp32 FAILED \(cached result\): stand-in: outputs differ from the reference$/m,
    );
    // The benchmark behind the failed validation is blocked (counted failed), never looked up.
    assert.match(second.stdout, /^total\s+39\s+0\s+37\s+2\s+0\s/m);
    assert.match(remoteLine(second.stdout), /: 38 hits, 0 misses, 0 uploads/);
  });

  it("warns once, with the fix, when nginx's default 1 MiB body limit refuses a large file, and uploads the rest", async () => {
    const server = await nginx({ clientMaxBodySize: '1m' });
    const dir = await makeProject();
    const said: string[] = [];
    const cache = new RemoteCache(new LocalCache(path.join(dir, 'cache')), {
      url: new URL(server.url),
      onWarning: (message) => said.push(message),
    });
    const store = async (fp: Fingerprint, bytes: Buffer) => {
      const pending = await cache.begin();
      await writeFile(path.join(pending.outDir, 'model.bin'), bytes);
      await cache.put(fp, pending, { stepId: 'm/convert', result: { status: 'ok' } });
    };
    await store('1'.repeat(64) as Fingerprint, randomBytes(3 << 20));
    await store('2'.repeat(64) as Fingerprint, randomBytes(1000));
    await cache.flush();
    cache.close();
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(
      said[0]!,
      /^upload of cache entry 1{12} refused as too large \(HTTP 413 Request Entity Too Large for PUT cas\/[0-9a-f]{12}…\); raise the server's body size limit \(nginx: client_max_body_size 0\)$/,
    );
    assert.deepEqual(await readdir(path.join(server.root, 'ac')), [remoteActionKey('2'.repeat(64) as Fingerprint)]);
    const stats = cache.stats();
    assert.equal(stats.uploaded, 1);
    assert.equal(stats.notUploaded, 1);
  });

  it('refuses wrong usage before building', async () => {
    const root = await makeProject();
    const insecure = await runCli(root, ['build', '--all', '--remote-cache', 'http://cache.internal:8080/']);
    assert.equal(insecure.code, 2);
    assert.equal(
      insecure.stderr,
      'edgezoo: --remote-cache must be an https:// URL (plain http only on loopback), received "http://cache.internal:8080/"\nhint: the action cache is not content-addressed: over plain http anyone on the way could change what a build reads; put TLS in front of the server\n',
    );
    const credentials = await runCli(root, [
      'build',
      '--all',
      '--remote-cache',
      'https://ci:hunter2@cache.example.org/',
    ]);
    assert.equal(credentials.code, 2);
    assert.ok(!credentials.stderr.includes('hunter2'));
    const off = await runCli(root, ['build', '--all', '--no-remote-cache'], {
      EDGEZOO_REMOTE_CACHE: 'http://127.0.0.1:9/',
    });
    assert.equal(off.code, 0);
    assert.equal(remoteLine(off.stdout), '');
  });
});
