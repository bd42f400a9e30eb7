/**
 * Regenerates recipes/recipe.schema.json and src/recipe/REFERENCE.md from the zod schema in
 * src/recipe/schema.ts, and src/toolchain/protocol/worker-protocol.schema.json (which the Python
 * worker checks requests against) from the op schemas in src/toolchain/protocol/. Run after
 * changing either: `npx tsx scripts/gen-schema.ts` (`--check` only reports whether the committed
 * files are current, exit 1 when stale).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderRecipeJsonSchema, generateRecipeReference } from '../src/recipe/index.js';
import { renderWorkerProtocolJsonSchema, WORKER_PROTOCOL_SCHEMA_FILE } from '../src/toolchain/protocol/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outputs = [
  { file: path.join(root, 'recipes', 'recipe.schema.json'), text: renderRecipeJsonSchema() },
  { file: path.join(root, 'src', 'recipe', 'REFERENCE.md'), text: generateRecipeReference() },
  {
    file: path.join(root, 'src', 'toolchain', 'protocol', WORKER_PROTOCOL_SCHEMA_FILE),
    text: renderWorkerProtocolJsonSchema(),
  },
];
const checkOnly = process.argv.includes('--check');
let stale = 0;
for (const { file, text } of outputs) {
  const current = await readFile(file, 'utf8').catch(() => undefined);
  const relative = path.relative(root, file);
  if (current === text) {
    console.log(`${relative}: up to date`);
  } else if (checkOnly) {
    stale++;
    console.log(`${relative}: stale`);
  } else {
    await writeFile(file, text);
    console.log(`${relative}: written`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
