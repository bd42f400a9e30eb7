import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { artifactPaths } from '../paths.js';
import {
  indexLocation,
  loadIndex,
  parseModelSpec,
  pullArtifacts,
  resolvePull,
  type PullProgress,
} from '../publish/index.js';
import { parsePublicKey } from '../zoo/index.js';
import { formatBytes } from '../util/format.js';
import type { CliContext } from './context.js';

interface PullFlags {
  format?: string;
  precision?: string;
  index?: string;
  out?: string;
  publicKey?: string;
  json?: boolean;
  concurrency?: string;
}

/** `--public-key` (a key or a file holding one), else EDGEZOO_PUBLIC_KEY, else none. */
export async function publicKeyFrom(flag: string | undefined): Promise<KeyObject | undefined> {
  if (flag !== undefined) {
    let text = flag;
    try {
      if ((await stat(flag)).isFile()) text = await readFile(flag, 'utf8');
    } catch {
      // Not a file: the key itself.
    }
    return parsePublicKey(text, '--public-key');
  }
  const env = process.env.EDGEZOO_PUBLIC_KEY;
  return env ? parsePublicKey(env) : undefined;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('pull')
    .description(
      'Download artifacts of a model from a zoo index, verified by sha256 (and the index signature when a public key is set)',
    )
    .argument(
      '<model>',
      'NAME or NAME@RANGE (a semver range like 1, ^1.2 or an exact 1.0.0; yanked versions only when exact)',
    )
    .option('--format <format>', 'onnx, tflite or openvino (default: all)')
    .option('--precision <precision>', 'fp32, fp16, dynamic-int8, int8 or int16-act (default: all)')
    .option(
      '--index <url|path>',
      'index.json URL or path (default EDGEZOO_INDEX, else artifacts/zoo/index.json of the project)',
    )
    .option('--out <dir>', 'where to put the files (default: the current folder)')
    .option(
      '--public-key <key>',
      'verify index.json.sig with this ed25519 public key (PEM, base64 SPKI, or a file); default EDGEZOO_PUBLIC_KEY',
    )
    .option('--concurrency <n>', 'files downloaded at once', '4')
    .option('--json', 'print the result as JSON')
    .action(async (spec: string, flags: PullFlags) => {
      const concurrency = Number(flags.concurrency ?? '4');
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32)
        throw new UsageError(`--concurrency must be an integer from 1 to 32, got "${flags.concurrency}"`);
      const { name, range } = parseModelSpec(spec);
      const location = await indexLocation(
        flags.index ?? process.env.EDGEZOO_INDEX ?? artifactPaths(ctx.projectRoot()).zoo,
      );
      const publicKey = await publicKeyFrom(flags.publicKey);
      const loaded = await loadIndex(location, publicKey ? { publicKey } : {});
      const resolved = resolvePull(loaded.index, {
        name,
        ...(range !== undefined ? { range } : {}),
        ...(flags.format !== undefined ? { format: flags.format } : {}),
        ...(flags.precision !== undefined ? { precision: flags.precision } : {}),
      });
      if (resolved.version.yanked)
        ctx.warn(`warning: ${name}@${resolved.version.version} is yanked: ${resolved.version.yanked.reason}`);
      const progress = flags.json ? undefined : progressPrinter(ctx);
      const result = await pullArtifacts(loaded, resolved, {
        outDir: path.resolve(flags.out ?? '.'),
        concurrency,
        ...(progress ? { onProgress: progress.update } : {}),
      });
      progress?.finish();
      if (flags.json) {
        ctx.print(JSON.stringify({ ...result, index: location.href, signatureVerified: loaded.verified }, null, 2));
        return;
      }
      for (const file of result.files)
        ctx.print(`${file.path}  sha256 ${file.sha256}${file.reused ? '  (already there)' : ''}`);
      const rate = result.seconds > 0 ? ` at ${formatBytes(result.bytes / result.seconds)}/s` : '';
      ctx.warn(
        `pulled ${result.name}@${result.version}: ${result.files.length} file(s), ${formatBytes(result.bytes)} in ${result.seconds.toFixed(1)} s${rate}, sha256 verified${loaded.verified ? ', index signature verified' : ''}`,
      );
    });
}

/** One updating line on a terminal; a line per finished file otherwise (logs stay readable). */
function progressPrinter(ctx: CliContext): { update: (p: PullProgress) => void; finish: () => void } {
  const files = new Map<string, PullProgress>();
  const tty = ctx.stderr.isTTY === true;
  let lastDraw = 0;
  const draw = () => {
    let received = 0;
    let total = 0;
    let done = 0;
    for (const p of files.values()) {
      received += p.received;
      total += p.total;
      if (p.done) done += 1;
    }
    const pct = total > 0 ? ((received / total) * 100).toFixed(0) : '0';
    ctx.stderr.write(
      `\r${done}/${files.size} files, ${formatBytes(received)} of ${formatBytes(total)} (${pct} %)\x1b[K`,
    );
  };
  return {
    update: (p) => {
      const before = files.get(p.file);
      files.set(p.file, p);
      if (!tty) {
        if (p.done && !before?.done) ctx.warn(`downloaded ${p.file} (${formatBytes(p.total)})`);
        return;
      }
      const now = Date.now();
      if (p.done || now - lastDraw > 100) {
        lastDraw = now;
        draw();
      }
    },
    finish: () => {
      if (tty && files.size > 0) {
        draw();
        ctx.stderr.write('\n');
      }
    },
  };
}
