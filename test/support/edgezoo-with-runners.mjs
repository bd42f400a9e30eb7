#!/usr/bin/env node
// TEST-ONLY entry: the real CLI (src/cli/main.ts) with the step runners, and optionally the
// recipes, exported as `runners` and `recipes` by the module named first on the command line:
//   node test/support/edgezoo-with-runners.mjs path/to/runners.ts build --all
// The production `edgezoo` command has no way to load such a module.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

register();
const [modulePath, ...args] = process.argv.slice(2);
if (!modulePath) {
  process.stderr.write('usage: edgezoo-with-runners.mjs RUNNERS_MODULE [edgezoo arguments...]\n');
  process.exit(2);
}
const stand = await import(pathToFileURL(path.resolve(modulePath)).href);
if (!stand.runners || typeof stand.runners !== 'object') {
  process.stderr.write(`${modulePath} does not export \`runners\`\n`);
  process.exit(2);
}
const { main } = await import('../../src/cli/main.ts');
process.exitCode = await main([process.argv[0], 'edgezoo', ...args], {
  runners: stand.runners,
  ...(stand.recipes ? { recipes: stand.recipes } : {}),
});
