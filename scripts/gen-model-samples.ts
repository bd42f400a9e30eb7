/**
 * Regenerates the validation and calibration samples of the zoo's models
 * (`models/<name>/calib/` and `models/<name>/val/`), deterministically.
 *
 * Downloads two pinned wheels from PyPI into artifacts/downloads/sample-wheels (once): scikit-image,
 * for the CC0/public-domain photos it ships, and silero-vad, whose model records real recurrent
 * states. Then runs scripts/gen_model_samples.py in the "tf" environment (numpy, Pillow,
 * onnxruntime). The VAD samples also need Debian's espeak-ng (`apt-get install -y espeak-ng`).
 *
 * Run: `npx tsx scripts/gen-model-samples.ts [--only <model>]...` (after `edgezoo setup`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envDef } from '../src/toolchain/envs.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wheelsDir = path.join(repoRoot, 'artifacts', 'downloads', 'sample-wheels');
/** Exact pins: the Python side also checks the sha256 of every file it reads from them. */
const WHEELS = { skimage: 'scikit-image==0.25.2', silero: 'silero-vad==6.2.3' } as const;

function fail(message: string): never {
  process.stderr.write(`gen-model-samples: ${message}\n`);
  process.exit(1);
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { cwd: repoRoot, stdio: 'inherit' });
  if (result.error) fail(`${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}

/** The wheel file of `pin` in wheelsDir, downloaded with pip when missing. */
function wheelFor(python: string, pin: string): string {
  const prefix = `${pin.split('==')[0]!.replace(/-/g, '_')}-${pin.split('==')[1]!}-`;
  const find = () => readdirSync(wheelsDir).find((file) => file.startsWith(prefix) && file.endsWith('.whl'));
  const present = find();
  if (present) return path.join(wheelsDir, present);
  run(python, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--quiet', pin, '-d', wheelsDir]);
  const downloaded = find();
  if (!downloaded) fail(`pip downloaded no wheel named ${prefix}*.whl into ${wheelsDir}`);
  return path.join(wheelsDir, downloaded);
}

function main(): void {
  const python = envDef('tf').python;
  if (!existsSync(python)) fail(`no Python at ${python}: run \`node src/cli/edgezoo.mjs setup\` first`);
  const only: string[] = [];
  for (let i = 2; i < process.argv.length; i++) {
    if (process.argv[i] === '--only' && process.argv[i + 1]) only.push('--only', process.argv[++i]!);
    else fail(`unknown argument ${process.argv[i]} (usage: gen-model-samples.ts [--only <model>]...)`);
  }
  mkdirSync(wheelsDir, { recursive: true });
  const skimage = wheelFor(python, WHEELS.skimage);
  const silero = wheelFor(python, WHEELS.silero);
  run(python, [
    path.join(repoRoot, 'scripts', 'gen_model_samples.py'),
    '--root',
    repoRoot,
    '--skimage-wheel',
    skimage,
    '--silero-wheel',
    silero,
    ...only,
  ]);
}

main();
