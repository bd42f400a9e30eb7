import { EdgezooError } from '../../errors.js';

/**
 * An ONNX file (or a model given in memory) that cannot be read or written: truncated, corrupt,
 * not ONNX, too large for one protobuf, or with external data that is missing or unsafe.
 * `code` is stable; `offset` is the byte offset in the file where decoding stopped, when known.
 */
export class OnnxFormatError extends EdgezooError {
  readonly offset?: number;
  constructor(code: string, message: string, options: { offset?: number; hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
    if (options.offset !== undefined) this.offset = options.offset;
  }
}

/**
 * A patch (fixed dims, renames, parameter replacement) that does not fit the model it is applied
 * to. The message names the input, op or parameter that did not match.
 */
export class OnnxPatchError extends EdgezooError {}
