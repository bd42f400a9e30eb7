/**
 * Prints the names of the recipes a change touches, space-separated, for the pull-request
 * workflow: `recipes/<name>.yaml` and anything under `models/<name>/` map to `<name>`. A change
 * to edgezoo itself (src/, package.json, the locks) can change every artifact, so it selects
 * every recipe. Deleted recipes are left out (there is nothing to build).
 *
 * usage: npx tsx scripts/ci/changed-recipes.ts BASE_REF   (e.g. origin/main)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Files whose change can change any artifact. */
const EVERYTHING = [/^src\//, /^package(-lock)?\.json$/, /^tsconfig\.json$/];

/** The recipe names touched by `changedFiles`, given the recipes that exist. Pure, for the tests. */
export function recipesTouched(changedFiles: readonly string[], existing: readonly string[]): string[] {
  const known = new Set(existing);
  if (changedFiles.some((file) => EVERYTHING.some((pattern) => pattern.test(file)))) return [...known].sort();
  const names = new Set<string>();
  for (const file of changedFiles) {
    const recipe = /^recipes\/([a-z0-9-]+)\.ya?ml$/.exec(file);
    const model = /^models\/([a-z0-9-]+)\//.exec(file);
    const name = recipe?.[1] ?? model?.[1];
    if (name && known.has(name)) names.add(name);
  }
  return [...names].sort();
}

function main(): void {
  const base = process.argv[2];
  if (!base) {
    process.stderr.write('usage: changed-recipes.ts BASE_REF\n');
    process.exitCode = 2;
    return;
  }
  const changed = execFileSync('git', ['diff', '--name-only', `${base}...HEAD`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  const recipesDir = path.resolve('recipes');
  const existing = existsSync(recipesDir)
    ? readdirSync(recipesDir)
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => f.replace(/\.ya?ml$/, ''))
    : [];
  process.stdout.write(`${recipesTouched(changed, existing).join(' ')}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
