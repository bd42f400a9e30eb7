/**
 * The TypeScript <-> Python worker protocol, defined once: the ops (./ops.ts), the lines around
 * them and failures as values (./wire.ts), and the JSON Schema the Python worker checks requests
 * against (./json-schema.ts, committed as worker-protocol.schema.json).
 */
export {
  OPS,
  OP_NAMES,
  MODEL_OPS,
  isOpName,
  TorchSourceSchema,
  type ModelOpName,
  type OpName,
  type OpReply,
  type OpRequest,
  type TorchSource,
  type WireTensorInfo,
} from './ops.js';
export {
  BadRequestDetailSchema,
  EXIT_OP,
  OpNotSupportedDetailSchema,
  HOST_ERROR_CODES,
  OP_ERROR_CODES,
  OpFailureSchema,
  ReadyLineSchema,
  ReplyLineSchema,
  type HostErrorCode,
  type OpErrorCode,
  type OpFailure,
  type ReadyLine,
  type ReplyLine,
  type WorkerErrorCode,
} from './wire.js';
export {
  SUPPORTED_KEYWORDS,
  WORKER_PROTOCOL_SCHEMA_FILE,
  checkKeywords,
  renderWorkerProtocolJsonSchema,
  workerProtocolJsonSchema,
} from './json-schema.js';
