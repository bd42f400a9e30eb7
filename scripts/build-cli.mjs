// `npm run build` (and `prepare`, which `npm ci` runs): compiles src/ to dist/ with tsc (emit
// only; `npm run typecheck` checks types) and writes the stamp the bin compares with the
// sources. Plain JavaScript, because it runs before anything else is built.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { STAMP_FILE, sourceStamp } from '../src/cli/build-stamp.mjs';

const root = path.resolve(import.meta.dirname, '..');
const dist = path.join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // An install without dev dependencies: the bin runs the TypeScript sources through tsx.
  console.warn('edgezoo: typescript is not installed, so the CLI is not compiled (it runs from src/ through tsx)');
  process.exit(0);
}
const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], {
  cwd: root,
  stdio: 'inherit',
});
if (result.status !== 0) {
  rmSync(dist, { recursive: true, force: true });
  process.exit(result.status ?? 1);
}
writeFileSync(path.join(dist, STAMP_FILE), `${JSON.stringify({ sources: sourceStamp(path.join(root, 'src')) })}\n`);
