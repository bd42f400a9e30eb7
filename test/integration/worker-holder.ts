/**
 * A stand-in build process for test/integration/convert-pool.test.ts: runs model code in a warm
 * worker that starts a long-lived child (model_code.spawning) and then, as `mode` says, waits to
 * be killed ('wait') or exits once the child runs ('exit', as a build does on a second Ctrl-C).
 *
 *   node --import tsx test/integration/worker-holder.ts <pidfile> wait|exit
 */
import { runInWorker } from '../../src/toolchain/pool.js';
import { modelCode, spawnedPids } from './worker-fixtures.js';

const [pidfile, mode] = process.argv.slice(2);
if (!pidfile || (mode !== 'wait' && mode !== 'exit')) throw new Error('usage: worker-holder.ts <pidfile> wait|exit');
const running = runInWorker('torch', 'validate.load', modelCode('spawning', { pidfile, seconds: 300 }));
if (mode === 'exit') {
  await spawnedPids(pidfile);
  process.exit(3);
}
await running;
