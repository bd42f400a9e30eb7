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

// The test suite's stand-in step runners are TypeScript modules the build imports by path; they
// import edgezoo's classes from src/, so the CLI must run from src/ too (one EdgezooError class).
const compiled = !process.env.EDGEZOO_TEST_RUNNERS && compiledIsCurrent();
if (!compiled) (await import('tsx/esm/api')).register();
const { main } = compiled ? await import('../../dist/cli/main.js') : await import('./main.ts');
process.exitCode = await main(process.argv);
