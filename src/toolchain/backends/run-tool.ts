/**
 * Calling a converter op in the shared worker, and turning its failure into an error a person
 * can act on: model, step, tool, how it ended, the log lines that matter, where the full log is.
 */
import { EdgezooError, StepCancelledError } from '../../errors.js';
import type { EnvName } from '../envs.js';
import { runInWorker } from '../pool.js';
import { OpNotSupportedDetailSchema, type OpName, type OpReply, type OpRequest } from '../protocol/index.js';
import { WorkerError, WorkerOpError, WorkerOutOfMemoryError } from '../worker.js';
import type { ConvertJob } from './types.js';

/** A converter tool failed on a model. */
export class ConverterError extends EdgezooError {
  readonly tool: string;
  readonly stepId: string;
  /** The lines of the tool's output that name the problem. */
  readonly keyLines: string[];
  /**
   * The tool ran and failed (its own exception or exit, or a check of the backend's): the same
   * inputs fail the same way, so the failed attempt may be remembered (src/build/attempt-store.ts).
   * False when the worker crashed or timed out.
   */
  readonly deterministic: boolean;
  constructor(args: {
    model: string;
    stepId: string;
    tool: string;
    how: string;
    keyLines: string[];
    logFile: string;
    hint?: string;
    deterministic?: boolean;
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
    this.deterministic = args.deterministic ?? true;
  }
}

/**
 * A converter's worker was killed by the kernel's OOM killer: code OUT_OF_MEMORY, with the peak
 * resident memory measured during the op (the executor keeps it for the step's next admission).
 */
export class ConverterOutOfMemoryError extends EdgezooError {
  constructor(
    readonly stepId: string,
    readonly tool: string,
    readonly peakMb: number,
    message: string,
    hint?: string,
  ) {
    super('OUT_OF_MEMORY', message, hint === undefined ? {} : { hint });
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

/**
 * The lines worth showing from a tool's output: the ones naming ops, nodes and errors, last first
 * kept. edgezoo's own notes (`[edgezoo] ...`) are not the tool's words and never count.
 */
export function keyLogLines(lines: readonly string[], max = 12): string[] {
  const clean = lines
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes (ESC [ ... m)
    .map((line) => line.replace(/\x1b\[[0-9;]*m/g, '').trimEnd())
    .filter((line) => line.trim() !== '' && !line.startsWith('[edgezoo] '));
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
export async function runConverterOp<N extends OpName>(
  job: ConvertJob,
  tool: string,
  env: EnvName,
  op: N,
  args: OpRequest<N>,
): Promise<OpReply<N>> {
  const seen: string[] = [];
  const log = (line: string) => {
    seen.push(line);
    if (seen.length > 4000) seen.splice(0, 1000);
    job.log(line);
  };
  job.log(`[edgezoo] ${tool}: ${op} ${JSON.stringify(args)}`);
  try {
    return await runInWorker(env, op, args, { signal: job.signal, log, ...(job.memory ? { memory: job.memory } : {}) });
  } catch (error) {
    if (error instanceof StepCancelledError || job.signal.aborted) throw error;
    if (error instanceof WorkerOutOfMemoryError)
      throw new ConverterOutOfMemoryError(
        job.stepId,
        tool,
        error.peakMb,
        `${job.model}: step ${job.stepId}: ${tool} ran ${error.message.split('\n')[0]}\n  full log: ${stepLogFile(job.model, job.stepId)}`,
        error.hint,
      );
    if (!(error instanceof WorkerError)) throw error;
    let how = firstLine(error.message);
    const pythonLines: string[] = [];
    const opLines: string[] = [];
    if (error instanceof WorkerOpError) {
      // A tool's own exception reads best with its type (ModuleNotFoundError: ...); edgezoo's
      // expected failures say it all in the message.
      const toolRaised = error.code === 'TOOL_FAILED' || error.code === 'TOOL_EXITED';
      how = firstLine(error.code === 'TOOL_FAILED' ? `${error.pythonType}: ${error.reason}` : error.reason);
      // The traceback goes to the log; only a tool's own exception has lines worth showing.
      if (toolRaised) pythonLines.push(...error.pythonTraceback.split('\n'));
      for (const line of error.pythonTraceback.split('\n')) job.log(line);
      if (error.code === 'OP_NOT_SUPPORTED') opLines.push(...unsupportedOpLines(error.detail));
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
      keyLines: [...keyLines, ...opLines],
      logFile: stepLogFile(job.model, job.stepId),
      deterministic: error instanceof WorkerOpError,
    });
  }
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 400 ? `${line.slice(0, 397)}...` : line;
}

/**
 * "unsupported op X at nodes a, b" lines from an OP_NOT_SUPPORTED failure's detail (the worker
 * found the nodes of each op type the tool could not convert), so a person can write a
 * replacement for the right node.
 */
export function unsupportedOpLines(detail: Record<string, unknown> | undefined): string[] {
  const parsed = OpNotSupportedDetailSchema.safeParse(detail);
  if (!parsed.success) return [];
  return Object.entries(parsed.data.nodes).flatMap(([opType, names]) =>
    names.length > 0
      ? [
          `unsupported op ${opType} at node${names.length > 1 ? 's' : ''} ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''}`,
        ]
      : [],
  );
}
