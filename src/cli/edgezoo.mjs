#!/usr/bin/env node
// The `edgezoo` command. `npm ci` compiles src/ to dist/ (the `prepare` script), and the bin
// runs that JavaScript: start-up is node plus commander, not a TypeScript compiler. When dist/
// is missing or was compiled from other sources than those on disk (an edit since), the
// TypeScript sources run through tsx instead: slower to start, never stale.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { STAMP_FILE, sourceStamp } from './build-stamp.mjs';

const root = path.resolve(import.meta.dirname, '..', '..');

function compiledIsCurrent() {
  try {
    const stamp = JSON.parse(readFileSync(path.join(root, 'dist', STAMP_FILE), 'utf8'));
    return stamp.sources === sourceStamp(path.join(root, 'src'));
  } catch {
    return false;
  }
}

// Only this entry ever loads dist/: the tests' stand-in entry (test/support/edgezoo-with-runners.mjs)
// imports src/ through tsx, CLI and stand-in runners alike, so one process never holds two copies
// of a class (two EdgezooErrors would fail `instanceof`).
const compiled = compiledIsCurrent();
if (!compiled) (await import('tsx/esm/api')).register();
const { main } = compiled ? await import('../../dist/cli/main.js') : await import('./main.ts');
process.exitCode = await main(process.argv);
