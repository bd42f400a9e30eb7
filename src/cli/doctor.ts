import type { Command } from 'commander';
import { runDoctor } from '../toolchain/doctor.js';
import type { CliContext } from './context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('check that every converter tool is installed at its locked version and runs (by running it)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      const report = await runDoctor();
      if (opts.json) {
        ctx.print(JSON.stringify(report, null, 2));
      } else {
        for (const c of report.checks) {
          const head = `${c.ok ? 'ok  ' : 'FAIL'} ${c.env.padEnd(6)} ${c.tool.padEnd(26)} ${(c.version ?? '-').padEnd(12)}`;
          ctx.print(c.ok ? head : `${head} ${c.detail ?? ''}${c.hint ? ` (hint: ${c.hint})` : ''}`);
        }
        ctx.print(`OpenVINO telemetry: ${report.openvinoTelemetry.off ? 'off' : 'ON (run `edgezoo setup`)'}`);
      }
      ctx.exitCode = report.ok ? 0 : 1;
    });
}
