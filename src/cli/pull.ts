import path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import {
  defaultPullCacheDir,
  parseModelSpec,
  pullArtifacts,
  resolvePull,
  type PulledFile,
  type PullProgress,
} from '../publish/pull.js';
import { formatBytes } from '../util/format.js';
import { PRECISION_NAMES } from '../catalogue/precisions.js';
import type { CliContext } from './context.js';
import { addIndexOptions, openIndex, type IndexFlags } from './index-source.js';

interface PullFlags extends IndexFlags {
  format?: string;
  precision?: string;
  out?: string;
  json?: boolean;
  concurrency?: string;
  printPath?: boolean;
  cache?: boolean;
}

export function register(program: Command, ctx: CliContext): void {
  const command = program
    .command('pull')
    .description(
      'Download artifacts of a model from a zoo index with its card and manifest, verified by sha256 (and the index signature when a public key is set)',
    )
    .argument(
      '<model>',
      'NAME or NAME@RANGE (a semver range like 1, ^1.2 or an exact 1.0.0; yanked versions only when exact)',
    )
    // Format names as the index lists them (a zoo may be built with more formats than this
    // edgezoo knows), and no catalogue import: loading its backends costs pull ~0.1 s of start-up.
    .option('--format <format>', 'a format of the index, e.g. onnx, tflite or openvino (default: all)')
    .option('--precision <precision>', `${PRECISION_NAMES.join(', ')} (default: all)`)
    .option('--out <dir>', 'where to put the files (default: the current folder)');
  addIndexOptions(command)
    .option('--concurrency <n>', 'files downloaded at once', '4')
    .option('--print-path', 'print only the path of each model file (what a runtime opens), one per line')
    .option('--no-cache', 'do not keep downloads in the shared cache folder')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Beside the model files go <model>-<version>-README.md (the model card: inputs, preprocessing,
code to run it), -manifest.json (the same for machines) and -LICENSE.txt. Downloads are kept by
sha256 in a shared cache folder (EDGEZOO_CACHE_DIR, else $XDG_CACHE_HOME/edgezoo, else
~/.cache/edgezoo), so pulling the same file again, into any folder, downloads nothing.`,
    )
    .action(async (spec: string, flags: PullFlags) => {
      const concurrency = Number(flags.concurrency ?? '4');
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32)
        throw new UsageError(`--concurrency must be an integer from 1 to 32, got "${flags.concurrency}"`);
      if (flags.printPath && flags.json) throw new UsageError('give --print-path or --json, not both');
      const { name, range } = parseModelSpec(spec);
      const loaded = await openIndex(ctx, flags);
      const resolved = resolvePull(loaded.index, {
        name,
        ...(range !== undefined ? { range } : {}),
        ...(flags.format !== undefined ? { format: flags.format } : {}),
        ...(flags.precision !== undefined ? { precision: flags.precision } : {}),
      });
      if (resolved.version.yanked)
        ctx.warn(`warning: ${name}@${resolved.version.version} is yanked: ${resolved.version.yanked.reason}`);
      const progress = flags.json || flags.printPath ? undefined : progressPrinter(ctx);
      const result = await pullArtifacts(loaded, resolved, {
        outDir: path.resolve(flags.out ?? '.'),
        ...(flags.cache === false ? {} : { cacheDir: defaultPullCacheDir() }),
        concurrency,
        ...(progress ? { onProgress: progress.update } : {}),
      });
      progress?.finish();
      if (flags.json) {
        ctx.print(
          JSON.stringify({ ...result, index: loaded.location.href, signatureVerified: loaded.verified }, null, 2),
        );
        return;
      }
      if (flags.printPath) {
        for (const file of result.files) if (file.role === 'model') ctx.print(file.path);
        return;
      }
      for (const file of result.files) ctx.print(`${file.path}  sha256 ${file.sha256}${fromNote(file)}`);
      const downloaded = result.files.filter((f) => f.from === 'network');
      const bytes = downloaded.reduce((sum, f) => sum + f.size, 0);
      const rate = result.seconds > 0 && bytes > 0 ? ` at ${formatBytes(bytes / result.seconds)}/s` : '';
      const kept = result.files.length - downloaded.length;
      ctx.warn(
        `pulled ${result.name}@${result.version}: ${result.files.length} file(s), ${downloaded.length} downloaded (${formatBytes(bytes)} in ${result.seconds.toFixed(1)} s${rate})${kept > 0 ? `, ${kept} already there` : ''}; sha256 verified${loaded.verified ? ', index signature verified' : ''}`,
      );
    });
}

function fromNote(file: PulledFile): string {
  return file.from === 'out' ? '  (already there)' : file.from === 'cache' ? '  (from the cache)' : '';
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
        if (p.done && !before?.done) {
          const verb = p.from === 'out' ? 'already there:' : p.from === 'cache' ? 'from the cache:' : 'downloaded';
          ctx.warn(`${verb} ${p.file} (${formatBytes(p.total)})`);
        }
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
