/**
 * Calling a converter op in the shared worker, and turning its failure into an error a person
 * can act on: model, step, tool, how it ended, the log lines that matter, where the full log is.
 */
import { StepCancelledError } from '../../errors.js';
import { allNodes, loadModel } from '../../formats/onnx/index.js';
import { EdgezooError } from '../../errors.js';
import type { EnvName } from '../envs.js';
import { runInWorker } from '../pool.js';
import { WorkerCrashedError, WorkerOpError, WorkerTimeoutError } from '../worker.js';
import type { ConvertJob } from './types.js';

/** A converter tool failed on a model. */
export class ConverterError extends EdgezooError {
  readonly tool: string;
  readonly stepId: string;
  /** The lines of the tool's output that name the problem. */
  readonly keyLines: string[];
  constructor(args: {
    model: string;
    stepId: string;
    tool: string;
    how: string;
    keyLines: string[];
    logFile: string;
    hint?: string;
  }) {
    const lines = args.keyLines.length > 0 ? `\n${args.keyLines.map((line) => `  | ${line}`).join('\n')}` : '';
    super(
      'CONVERTER_FAILED',
      `${args.model}: step ${args.stepId}: ${args.tool} failed (${args.how})${lines}\n  full log: ${args.logFile}`,
      {
        hint:
          args.hint ??
          'read the full log; a parameter replacement in the recipe (replacements:) fixes many single-op failures',
      },
    );
    this.tool = args.tool;
    this.stepId = args.stepId;
    this.keyLines = args.keyLines;
  }
}

/** The step log file as the executor names it (artifacts/logs/<model>/<step>.log), project-relative. */
export function stepLogFile(model: string, stepId: string): string {
  return `artifacts/logs/${model}/${stepId.slice(model.length + 1).replace(/\//g, '-')}.log`;
}

// What converters print when they fail on an op: onnx2tf names the ONNX op and node, TF names
// the op it lacks, OpenVINO and onnxruntime say "not supported" / "NOT_IMPLEMENTED".
const KEY_LINE =
  /unsupported|not supported|not implemented|NOT_IMPLEMENTED|no (?:converter|conversion)|onnx_op_type|onnx_op_name|op_type|node name|\bERROR\b|Error:|error:|Exception|Traceback \(most recent|raise |Flex|select_tf_ops|Check '.*' failed/i;

/** The lines worth showing from a tool's output: the ones naming ops, nodes and errors, last first kept. */
export function keyLogLines(lines: readonly string[], max = 12): string[] {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes (ESC [ ... m)
  const clean = lines.map((line) => line.replace(/\x1b\[[0-9;]*m/g, '').trimEnd()).filter((line) => line.trim() !== '');
  const picked = clean.filter(
    (line) => KEY_LINE.test(line) && !/^\s*File "|^Traceback \(most recent call last\):$/.test(line),
  );
  const chosen = picked.length > 0 ? picked : clean.slice(-max);
  return [...new Set(chosen)].slice(-max).map((line) => (line.length > 300 ? `${line.slice(0, 297)}...` : line));
}

/**
 * Runs `op` of `env` for `job` in the shared worker; its stderr goes to the step log. Python
 * failures become ConverterError; cancellation stays StepCancelledError.
 */
export async function runConverterOp<T>(
  job: ConvertJob,
  tool: string,
  env: EnvName,
  op: string,
  args: Record<string, unknown>,
): Promise<T> {
  const seen: string[] = [];
  const log = (line: string) => {
    seen.push(line);
    if (seen.length > 4000) seen.splice(0, 1000);
    job.log(line);
  };
  job.log(`[edgezoo] ${tool}: ${op} ${JSON.stringify(args)}`);
  try {
    return await runInWorker<T>(env, op, args, { signal: job.signal, log });
  } catch (error) {
    if (error instanceof StepCancelledError || job.signal.aborted) throw error;
    let how: string;
    const pythonLines: string[] = [];
    if (error instanceof WorkerOpError) {
      // The message is "<op> failed in the <env> worker: <Type>: <message>".
      how = firstLine(error.message.replace(/^.*? failed in the \w+ worker: /, ''));
      pythonLines.push(...error.pythonTraceback.split('\n'));
      for (const line of error.pythonTraceback.split('\n')) job.log(line);
    } else if (error instanceof WorkerCrashedError) {
      how = firstLine(error.message);
    } else if (error instanceof WorkerTimeoutError) {
      how = error.message;
    } else {
      throw error;
    }
    const keyLines = keyLogLines([
      ...seen,
      ...pythonLines.filter((line) => !/^\s/.test(line) || /Error|error/.test(line)),
    ]);
    throw new ConverterError({
      model: job.model,
      stepId: job.stepId,
      tool,
      how,
      keyLines: [...keyLines, ...unsupportedOpNodes(job.inputFile, [...keyLines, how])],
      logFile: stepLogFile(job.model, job.stepId),
    });
  }
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 400 ? `${line.slice(0, 397)}...` : line;
}

// How tools name an op type they cannot convert: onnx2tf ("X OP is not yet implemented",
// "No module named 'onnx2tf.ops.X'"), OpenVINO ("No conversion rule found for operations: d.X, Y").
const UNSUPPORTED_OP = [
  /No module named 'onnx2tf\.ops\.(\w+)'/,
  /\b(\w+) OP is not yet implemented/,
  /No conversion rule found for operations: (.+)$/,
];

/**
 * For an ONNX input: "unsupported op X at nodes a, b" lines naming the nodes of each op type the
 * tool's messages call unsupported, so a person can write a replacement for the right node.
 */
export function unsupportedOpNodes(inputFile: string | undefined, lines: readonly string[]): string[] {
  const opTypes = new Set<string>();
  for (const line of lines) {
    for (const pattern of UNSUPPORTED_OP) {
      const match = pattern.exec(line);
      if (!match) continue;
      for (const name of match[1]!.split(/,\s*/)) opTypes.add(name.trim().split('.').pop()!);
    }
  }
  if (opTypes.size === 0 || !inputFile?.endsWith('.onnx')) return [];
  let nodes: Array<{ name?: string; opType?: string }>;
  try {
    nodes = [...allNodes(loadModel(inputFile, { loadExternalData: false }).graph!)];
  } catch {
    return [];
  }
  return [...opTypes].flatMap((opType) => {
    const names = nodes.filter((n) => n.opType === opType).map((n) => n.name || '(unnamed)');
    return names.length > 0
      ? [
          `unsupported op ${opType} at node${names.length > 1 ? 's' : ''} ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''}`,
        ]
      : [];
  });
}
