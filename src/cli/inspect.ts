import type { Command } from 'commander';
import { BUILTIN_CATALOGUE } from '../catalogue/index.js';
import { openModel } from '../formats/index.js';
import type { CliContext } from './context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('inspect')
    .description(
      'Summarise a model file (.onnx, .tflite, OpenVINO .xml): inputs and outputs, ops, parameters, quantization, metadata',
    )
    .argument('<file>', 'the model file')
    .option('--json', 'print the summary as JSON for machines')
    .action(async (file: string, options: { json?: boolean }) => {
      const opened = await openModel(file, BUILTIN_CATALOGUE.formats);
      if (options.json) {
        ctx.print(
          JSON.stringify(
            { file, ...(opened.summary as object) },
            (_key, value) => (typeof value === 'bigint' ? value.toString() : value),
            2,
          ),
        );
      } else {
        ctx.print(`${file}`);
        for (const line of opened.lines) ctx.print(line);
      }
      ctx.exitCode = 0;
    });
}
