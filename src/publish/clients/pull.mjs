#!/usr/bin/env node
// pull.mjs: download a model from an edgezoo zoo with nothing but Node.js >= 18 (no npm install).
//
//   node pull.mjs MODEL[@VERSION] [--format F] [--precision P] [--index URL] [--out DIR]
//
// Every file is checked against the sha256 the zoo's index.json gives before it gets its final
// name; an interrupted download resumes. The model card (README) and manifest (inputs,
// preprocessing, output order) are written beside the model. With a public key (--public-key,
// EDGEZOO_PUBLIC_KEY, or the one the zoo was published with) the index signature is verified.
// Published with the zoo by `edgezoo publish`; the same client is in Python as pull.py.
import { createHash, createPublicKey, verify } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// Filled in by `edgezoo publish` for the zoo this file comes with.
const DEFAULT_INDEX = '';
const DEFAULT_PUBLIC_KEY = '';

const MAX_INDEX_BYTES = 64 * 1024 * 1024;
const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;
const USAGE = `usage: node pull.mjs MODEL[@VERSION] [--format F] [--precision P] [--index URL] [--out DIR]
                    [--from github:OWNER/REPO] [--github-url URL] [--public-key KEY]

  MODEL[@VERSION]   a model name, optionally with a version or range: 1.2.0, 1, 1.2, ^1.2, ~1.2.0
  --format F        onnx, tflite or openvino (default: all)
  --precision P     fp32, fp16, dynamic-int8, int8 or int16-act (default: all)
  --index URL       the zoo's index.json (URL, file or folder; default EDGEZOO_INDEX${DEFAULT_INDEX ? `, else ${DEFAULT_INDEX}` : ''})
  --from github:O/R a zoo published to GitHub releases (index in the edgezoo-index release)
  --github-url URL  GitHub web root for --from (default https://github.com)
  --out DIR         where to write the files (default: the current folder)
  --public-key KEY  verify index.json.sig with this ed25519 key (base64 SPKI or PEM); default
                    EDGEZOO_PUBLIC_KEY${DEFAULT_PUBLIC_KEY ? ', else the key the zoo was published with' : ''}
Credentials for the index: EDGEZOO_INDEX_TOKEN, or EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD.`;

class PullError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

function isLoopback(hostname) {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function redact(url) {
  const copy = new URL(url);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

function where(url) {
  return url.protocol === 'file:' ? fileURLToPath(url) : redact(url);
}

/** https anywhere, http on loopback only. */
function checkFetchable(url) {
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname))) return;
  throw new PullError(`refusing ${redact(url)}: only https:// (or http:// on this machine) is fetched`);
}

/** What a file named by the index may be: see edgezoo's pull for the reasons. */
function checkIndexedUrl(url, index) {
  if (index.protocol === 'file:') {
    if (url.protocol !== 'file:') checkFetchable(url);
    return;
  }
  const indexOnLoopback = isLoopback(index.hostname);
  const allowed =
    (url.protocol === 'https:' && (indexOnLoopback || !isLoopback(url.hostname))) ||
    (url.protocol === 'http:' && indexOnLoopback && isLoopback(url.hostname));
  if (!allowed)
    throw new PullError(
      `the index ${where(index)} names ${redact(url)}; a remote index may only name https:// URLs on other hosts`,
    );
}

function credentials() {
  const env = process.env;
  if (env.EDGEZOO_INDEX_TOKEN) return { authorization: `Bearer ${env.EDGEZOO_INDEX_TOKEN.trim()}` };
  if (env.EDGEZOO_INDEX_USER !== undefined || env.EDGEZOO_INDEX_PASSWORD !== undefined) {
    if (!env.EDGEZOO_INDEX_USER || env.EDGEZOO_INDEX_PASSWORD === undefined)
      throw new PullError('EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD go together; one of them is not set', 2);
    const basic = Buffer.from(`${env.EDGEZOO_INDEX_USER}:${env.EDGEZOO_INDEX_PASSWORD}`).toString('base64');
    return { authorization: `Basic ${basic}` };
  }
  return {};
}

async function indexLocation(options) {
  if (options.from !== undefined) {
    const match = /^github:([A-Za-z0-9][A-Za-z0-9-]*)\/([A-Za-z0-9._-]+)$/.exec(options.from);
    if (!match) throw new PullError(`--from ${options.from} is not github:OWNER/REPO`, 2);
    const web = options['github-url'] ?? process.env.EDGEZOO_GITHUB_URL ?? 'https://github.com';
    return new URL(
      `${match[1]}/${match[2]}/releases/download/edgezoo-index/index.json`,
      web.endsWith('/') ? web : `${web}/`,
    );
  }
  const value = options.index ?? process.env.EDGEZOO_INDEX ?? DEFAULT_INDEX;
  if (!value) throw new PullError('no zoo to read: give --index URL-of-index.json or --from github:OWNER/REPO', 2);
  if (/^https?:\/\//i.test(value)) {
    const url = new URL(value);
    if (url.username || url.password)
      throw new PullError(
        `the index URL ${redact(url)} carries a user name or password; set EDGEZOO_INDEX_TOKEN, or EDGEZOO_INDEX_USER and EDGEZOO_INDEX_PASSWORD, instead`,
        2,
      );
    checkFetchable(url);
    return url;
  }
  if (value.startsWith('file:')) return new URL(value);
  let file = path.resolve(value);
  if ((await stat(file).catch(() => undefined))?.isDirectory()) file = path.join(file, 'index.json');
  return pathToFileURL(file);
}

/** A small document into memory, refused past `maxBytes`. */
async function readDocument(url, headers, maxBytes, what) {
  const tooLarge = () => new PullError(`${where(url)} is larger than ${maxBytes} bytes, the most read for ${what}`);
  if (url.protocol === 'file:') {
    const info = await stat(url).catch(() => undefined);
    if (!info) throw new PullError(`${where(url)} does not exist`);
    if (info.size > maxBytes) throw tooLarge();
    return readFile(url);
  }
  const response = await request(url, headers);
  if (response.status === 404) throw new PullError(`${where(url)} does not exist (HTTP 404)`);
  if (!response.ok) throw new PullError(`HTTP ${response.status} for ${where(url)}`);
  if (Number(response.headers.get('content-length') ?? 0) > maxBytes) throw tooLarge();
  const chunks = [];
  let received = 0;
  for await (const chunk of response.body ?? []) {
    received += chunk.length;
    if (received > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function request(url, headers, extra = {}) {
  checkFetchable(url);
  let response;
  try {
    response = await fetch(url, {
      headers: { ...headers, ...extra, 'accept-encoding': 'identity' },
      redirect: 'follow',
    });
  } catch (error) {
    throw new PullError(`cannot read ${where(url)}: ${error.cause?.message ?? error.message}`);
  }
  // Redirects are followed by fetch (GitHub's downloads go to another host; fetch drops
  // Authorization there); the end of the chain must still be https, or http on loopback.
  checkFetchable(new URL(response.url || url.href));
  return response;
}

function parsePublicKey(text, origin) {
  try {
    const key = text.includes('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text.trim(), 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType === 'ed25519') return key;
  } catch {
    // reported below
  }
  throw new PullError(`${origin} is not an ed25519 public key (base64 SPKI or PEM)`, 2);
}

function parseVersion(text) {
  const match = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(text);
  return match ? { major: +match[1], minor: +match[2], patch: +match[3], pre: match[4] ?? '' } : undefined;
}

function compareVersions(a, b) {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (const key of ['major', 'minor', 'patch']) if (x[key] !== y[key]) return x[key] - y[key];
  if (x.pre === y.pre) return 0;
  if (x.pre === '') return 1;
  if (y.pre === '') return -1;
  return x.pre < y.pre ? -1 : 1;
}

/** Ranges: exact `1.2.3`, prefix `1` / `1.2`, `^1.2.3` (or `^1.2`, `^1`), `~1.2.3` (or `~1.2`, `~1`), `*`. Prereleases only when exact. */
function satisfies(version, range) {
  const v = parseVersion(version);
  if (!v) return false;
  if (range === '*' || range === '') return v.pre === '';
  const exact = parseVersion(range);
  if (exact) return compareVersions(version, range) === 0;
  if (v.pre !== '') return false;
  const prefix = /^(\d+)(?:\.(\d+))?$/.exec(range);
  if (prefix) return v.major === +prefix[1] && (prefix[2] === undefined || v.minor === +prefix[2]);
  const op = /^([~^])(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range);
  if (!op)
    throw new PullError(`"${range}" is not a version or range this client reads (1.2.0, 1, 1.2, ^1.2, ~1.2.0)`, 2);
  const [, kind, major, minor, patch] = op;
  if (compareVersions(version, `${major}.${minor ?? 0}.${patch ?? 0}`) < 0) return false;
  if (kind === '~') return v.major === +major && (minor === undefined || v.minor === +minor);
  if (+major > 0 || minor === undefined) return v.major === +major;
  if (+minor > 0 || patch === undefined) return v.major === 0 && v.minor === +minor;
  return v.major === 0 && v.minor === 0 && v.patch === +patch;
}

function resolve(index, name, range, format, precision) {
  const model = (index.models ?? []).find((m) => m.name === name);
  if (!model)
    throw new PullError(`no model "${name}" in the index (models: ${index.models.map((m) => m.name).join(', ')})`);
  const versions = [...model.versions].sort((a, b) => compareVersions(b.version, a.version));
  const exact = range !== undefined && parseVersion(range) !== undefined;
  const version = versions.find((v) => satisfies(v.version, range ?? '*') && (exact || !v.yanked));
  if (!version)
    throw new PullError(
      `no version of ${name} matches "${range ?? '*'}" (versions: ${versions.map((v) => v.version + (v.yanked ? ' yanked' : '')).join(', ')})`,
    );
  const artifacts = version.artifacts.filter(
    (a) => (format === undefined || a.format === format) && (precision === undefined || a.precision === precision),
  );
  if (artifacts.length === 0)
    throw new PullError(
      `${name}@${version.version} has no artifact ${format ?? '*'}/${precision ?? '*'} (available: ${version.artifacts.map((a) => `${a.format}/${a.precision}`).join(', ') || 'none'})`,
    );
  return { model, version, artifacts };
}

async function sha256Of(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

/** One file: reused when already there, else downloaded to .partial (resumed), verified, renamed. */
async function pullFile(file, base, headers, outDir) {
  const url = new URL(file.url, base);
  const destination = path.join(outDir, path.basename(file.name));
  if ((await stat(destination).catch(() => undefined)) && (await sha256Of(destination)) === file.sha256)
    return { destination, from: 'out' };
  const partial = `${destination}.partial`;
  const cap = file.size ?? MAX_DOCUMENT_BYTES;
  const sendHeaders = url.origin === base.origin ? headers : {};
  for (let attempt = 1; ; attempt++) {
    try {
      if (url.protocol === 'file:') {
        const info = await stat(url).catch(() => undefined);
        if (!info) throw new PullError(`${file.name} is listed in the index but ${where(url)} does not exist`);
        await rm(partial, { force: true });
        await pipeTo(createReadStream(url), partial, 0, cap, url);
      } else {
        const have = (await stat(partial).catch(() => undefined))?.size ?? 0;
        // The ETag of the first response guards the resume: another file under the URL starts over.
        const etag = have > 0 ? await readFile(`${partial}.etag`, 'utf8').catch(() => '') : '';
        const resume = have > 0 ? { range: `bytes=${have}-`, ...(etag ? { 'if-range': etag } : {}) } : {};
        const response = await request(url, sendHeaders, resume);
        if (response.status === 404)
          throw new PullError(`${file.name} is listed in the index but ${where(url)} does not exist (HTTP 404)`);
        if (response.status === 416) {
          await rm(partial, { force: true });
          throw new Error('the server refused the resume range');
        }
        if (!response.ok) throw new PullError(`HTTP ${response.status} for ${where(url)}`);
        const resumed =
          response.status === 206 && (response.headers.get('content-range') ?? '').startsWith(`bytes ${have}-`);
        const tag = response.headers.get('etag');
        if (!resumed && tag && !tag.startsWith('W/')) await writeFile(`${partial}.etag`, tag);
        await pipeTo(response.body, partial, resumed ? have : 0, cap, url);
      }
      const actual = await sha256Of(partial);
      if (actual !== file.sha256) {
        await rm(partial, { force: true });
        await rm(`${partial}.etag`, { force: true });
        throw new PullError(
          `${file.name} from ${where(url)} has sha256 ${actual}, but the index says ${file.sha256}; nothing was written to ${destination}`,
        );
      }
      await rename(partial, destination);
      await rm(`${partial}.etag`, { force: true });
      return { destination, from: 'network' };
    } catch (error) {
      if (error instanceof PullError || attempt >= 4) throw error;
      // A dropped connection: the .partial keeps what arrived, and the next try resumes it.
      await new Promise((done) => setTimeout(done, 200 * 2 ** attempt));
    }
  }
}

/** Writes a stream to `partial` from byte `start` (appending), refusing more than `cap` bytes in all. */
async function pipeTo(stream, partial, start, cap, url) {
  const out = createWriteStream(partial, start > 0 ? { flags: 'a' } : { flags: 'w' });
  let total = start;
  try {
    for await (const chunk of stream ?? []) {
      total += chunk.length;
      if (total > cap) throw new PullError(`${where(url)} is larger than the ${cap} bytes the index gives`);
      if (!out.write(chunk)) await new Promise((done) => out.once('drain', done));
    }
  } finally {
    await new Promise((done) => out.end(done));
    if (total > cap) await rm(partial, { force: true });
  }
}

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        format: { type: 'string' },
        precision: { type: 'string' },
        index: { type: 'string' },
        from: { type: 'string' },
        'github-url': { type: 'string' },
        out: { type: 'string' },
        'public-key': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new PullError(`${error.message}\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1) throw new PullError(USAGE, 2);
  if (values.index !== undefined && values.from !== undefined)
    throw new PullError('give --index or --from, not both', 2);
  const [name, range] = positionals[0].split('@');
  const location = await indexLocation(values);
  const headers = location.protocol === 'file:' ? {} : credentials();
  const bytes = await readDocument(location, headers, MAX_INDEX_BYTES, 'index.json');
  const keyText = values['public-key'] ?? process.env.EDGEZOO_PUBLIC_KEY ?? DEFAULT_PUBLIC_KEY;
  let verified = false;
  if (keyText) {
    const key = parsePublicKey(keyText, values['public-key'] ? '--public-key' : 'the public key');
    const sigUrl = new URL('index.json.sig', location);
    const signature = Buffer.from(
      (await readDocument(sigUrl, headers, 4096, 'index.json.sig')).toString('utf8').trim(),
      'base64',
    );
    if (signature.length !== 64 || !verify(null, bytes, key, signature))
      throw new PullError(
        `the signature of ${where(location)} does not match its bytes under the public key; do not use this index`,
      );
    verified = true;
  }
  let index;
  try {
    index = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new PullError(`${where(location)} is not valid JSON: ${error.message}`);
  }
  if (index?.schema !== 'edgezoo.index/1') throw new PullError(`${where(location)} is not an edgezoo.index/1 index`);
  const { model, version, artifacts } = resolve(index, name, range, values.format, values.precision);
  if (version.yanked) console.error(`warning: ${model.name}@${version.version} is yanked: ${version.yanked.reason}`);
  const stem = `${model.name}-${version.version}`;
  const files = artifacts.flatMap((a) => a.files);
  if (version.licenseFile) files.push({ ...version.licenseFile, name: `${stem}-LICENSE.txt` });
  files.push({ name: `${stem}-manifest.json`, url: version.manifest.url, sha256: version.manifest.sha256 });
  if (version.cardSha256)
    files.push({ name: `${stem}-README.md`, url: version.card, sha256: version.cardSha256, size: version.cardSize });
  for (const file of files) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(file.name) || !/^[0-9a-f]{64}$/.test(file.sha256))
      throw new PullError(`${where(location)} lists a file with a bad name or sha256: ${JSON.stringify(file.name)}`);
    checkIndexedUrl(new URL(file.url, location), location);
  }
  const outDir = path.resolve(values.out ?? '.');
  await mkdir(outDir, { recursive: true });
  const results = await Promise.allSettled(files.map((file) => pullFile(file, location, headers, outDir)));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  for (const [i, result] of results.entries())
    console.log(
      `${result.value.destination}  sha256 ${files[i].sha256}${result.value.from === 'out' ? '  (already there)' : ''}`,
    );
  console.error(
    `pulled ${model.name}@${version.version}: ${files.length} file(s), sha256 verified${verified ? ', index signature verified' : ''}`,
  );
}

main(process.argv.slice(2)).catch((error) => {
  console.error(`pull.mjs: ${error instanceof PullError ? error.message : (error?.stack ?? error)}`);
  process.exitCode = error instanceof PullError ? error.exitCode : 1;
});
