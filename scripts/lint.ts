/**
 * `npm run lint`: Biome (format + lint) over the TypeScript, JSON and scripts, and ruff (lint +
 * format check) over the Python drivers. `--fix` writes the fixes instead of failing.
 *
 * ruff comes from PyPI into a small venv of its own (artifacts/envs/lint), so linting needs no
 * converter environment; the venv is made once per ruff version.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RUFF_VERSION = '0.17.6';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fix = process.argv.includes('--fix');

function run(command: string, args: string[]): number {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

/** The ruff binary of artifacts/envs/lint, installed when missing or of another version. */
function ruff(): string {
  const venv = path.join(root, 'artifacts', 'envs', 'lint');
  const binary = path.join(venv, 'bin', 'ruff');
  const stamp = path.join(venv, '.ruff-version');
  if (existsSync(binary) && existsSync(stamp) && readFileSync(stamp, 'utf8') === RUFF_VERSION) return binary;
  const python = process.env.EDGEZOO_PYTHON ?? 'python3';
  if (run(python, ['-m', 'venv', '--clear', venv]) !== 0) throw new Error(`could not create ${venv} with ${python}`);
  const pip = path.join(venv, 'bin', 'pip');
  if (run(pip, ['install', '--quiet', '--disable-pip-version-check', `ruff==${RUFF_VERSION}`]) !== 0) {
    throw new Error(`could not install ruff==${RUFF_VERSION} from PyPI into ${venv}`);
  }
  writeFileSync(stamp, RUFF_VERSION);
  return binary;
}

const biome = path.join(root, 'node_modules', '.bin', 'biome');
const failures: string[] = [];
if (run(biome, fix ? ['check', '--write', '.'] : ['check', '.']) !== 0) failures.push('biome');
const ruffBinary = ruff();
if (run(ruffBinary, fix ? ['check', '--fix', '.'] : ['check', '.']) !== 0) failures.push('ruff check');
if (run(ruffBinary, fix ? ['format', '.'] : ['format', '--check', '.']) !== 0) failures.push('ruff format');
if (failures.length > 0) {
  console.error(`lint: ${failures.join(', ')} found problems (\`npm run lint -- --fix\` fixes what it can)`);
  process.exit(1);
}
