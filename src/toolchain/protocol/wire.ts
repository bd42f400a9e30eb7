/**
 * The lines of the worker protocol around the ops (JSON lines over stdio, UTF-8):
 *
 *   worker -> host, once at start:  ReadyLine  {event: 'ready', pid, python, ops, missingOps, ...}
 *   host -> worker:                  RequestLine {id, op, args}   (args: the op's request)
 *   worker -> host:                  ReplyLine  {id, ok: true, result, seconds}
 *                                 or {id, ok: false, error: OpFailure, seconds}
 *   host -> worker, to end it:       {id, op: '__exit__'}  (or close its stdin)
 *
 * Failures cross as structured values, `OpFailure` {code, message, op?, node?, detail?}: the
 * host switches on `code`, never on message text. The same shape describes failures the host
 * finds itself (a crashed or timed-out worker, a reply that breaks the protocol), so one
 * consumer handles both (see WorkerError in ../worker.ts).
 */
import { z } from 'zod';

/**
 * Why an op failed, as the Python worker says it (`OpError(code, ...)` in
 * src/toolchain/python/registry.py; an exception that is not an OpError is TOOL_FAILED).
 */
export const OP_ERROR_CODES = [
  /** The request does not match the op's schema (detail.errors lists where), or is not JSON. */
  'BAD_REQUEST',
  /** No op of that name in the protocol. */
  'UNKNOWN_OP',
  /** The op is in the protocol but its ops_*.py module failed to import in this env (detail.module, detail.error). */
  'OP_UNAVAILABLE',
  /** validate.*: the handle names no model loaded in this worker process (it was replaced, or never loaded it). */
  'MODEL_HANDLE_UNKNOWN',
  /** A calibrated conversion got no calibration data. */
  'CALIBRATION_MISSING',
  /** Calibration data that cannot be used (arrays of different sample counts, ...). */
  'CALIBRATION_INVALID',
  /** A feed does not fit the loaded model: an input it lacks, or another dtype. */
  'INPUT_MISMATCH',
  /**
   * A PyTorch model's outputs cannot be named: the recipe names another number of outputs than
   * forward returns (detail.named, detail.returned), or forward returns something not a tensor.
   */
  'OUTPUTS_MISMATCH',
  /** The converter cannot convert an op of the model (detail.opTypes; node: the first node of that type). */
  'OP_NOT_SUPPORTED',
  /** The tool (converter, runtime, model code) raised; detail.type is the Python exception type. */
  'TOOL_FAILED',
  /** The tool called sys.exit (detail.exitCode). */
  'TOOL_EXITED',
  /** The worker could not do its own part (a result that is not JSON): a bug in edgezoo. */
  'WORKER_BUG',
] as const;
export type OpErrorCode = (typeof OP_ERROR_CODES)[number];

/**
 * Failures the host finds itself, in the same shape: the worker died (or could not start), did
 * not answer in time, answered outside the protocol, or the request was cancelled.
 */
export const HOST_ERROR_CODES = [
  'WORKER_CRASHED',
  'OUT_OF_MEMORY',
  'WORKER_TIMEOUT',
  'WORKER_PROTOCOL',
  'CANCELLED',
] as const;
export type HostErrorCode = (typeof HOST_ERROR_CODES)[number];

/** Every code a worker call can fail with. */
export type WorkerErrorCode = OpErrorCode | HostErrorCode;

/** A failure as a value: what went wrong (`code`), for people (`message`), and where. */
export const OpFailureSchema = z.object({
  code: z.enum(OP_ERROR_CODES),
  message: z.string(),
  /** The op that failed. */
  op: z.string().optional(),
  /** The model graph node the failure is about, when the tool names one. */
  node: z.string().optional(),
  /** Facts for machines (e.g. BAD_REQUEST: {errors: [{path, message}]}). */
  detail: z.record(z.string(), z.unknown()).optional(),
  /** The Python exception type, kept for the log. */
  type: z.string().optional(),
  /** The Python traceback, kept for the log (never shown as the message). */
  traceback: z.string().optional(),
});
export type OpFailure = z.output<typeof OpFailureSchema>;

/** `detail` of OP_NOT_SUPPORTED: the op types the tool lacks and the ONNX nodes of each. */
export const OpNotSupportedDetailSchema = z.object({
  opTypes: z.array(z.string()),
  nodes: z.record(z.string(), z.array(z.string())),
});

/** `detail` of BAD_REQUEST: each way the request breaks the op's schema. */
export const BadRequestDetailSchema = z.object({
  errors: z.array(z.object({ path: z.string(), message: z.string() })),
});

export const ReadyLineSchema = z.object({
  event: z.literal('ready'),
  pid: z.number().int(),
  python: z.string(),
  /** Ops of the protocol this worker serves. */
  ops: z.array(z.string()),
  /** Ops of the protocol no ops_*.py module registered (their module is usually in brokenModules). */
  missingOps: z.array(z.string()),
  /** Ops registered without a schema in the protocol: never served (a bug in edgezoo). */
  unknownOps: z.array(z.string()),
  /** ops_*.py modules that failed to import: module -> error. */
  brokenModules: z.record(z.string(), z.string()),
});
export type ReadyLine = z.output<typeof ReadyLineSchema>;

export const ReplyLineSchema = z.union([
  z.object({ id: z.number().int().nullable(), ok: z.literal(true), result: z.unknown(), seconds: z.number() }),
  z.object({ id: z.number().int().nullable(), ok: z.literal(false), error: OpFailureSchema, seconds: z.number() }),
]);
export type ReplyLine = z.output<typeof ReplyLineSchema>;

/** The op the host sends to make the worker exit (not an op of OPS: the worker's own). */
export const EXIT_OP = '__exit__';
