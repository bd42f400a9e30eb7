#!/usr/bin/env node
// The `edgezoo` command. The sources are TypeScript run through tsx, so a clone needs no build
// step; tsx is resolved next to this file, which works from any working directory.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv);
