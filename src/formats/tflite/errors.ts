import { EdgezooError } from '../../errors.js';

/**
 * A file that is not a TFLite model we can read: truncated, corrupted, crafted, or built with a
 * schema newer than ours in a way that matters. Code `TFLITE_INVALID`; `byteOffset` is where the
 * reader gave up, when it knows.
 */
export class TfliteFormatError extends EdgezooError {
  readonly byteOffset: number | undefined;

  constructor(message: string, options: { byteOffset?: number; hint?: string; cause?: unknown } = {}) {
    super('TFLITE_INVALID', message, {
      ...(options.hint === undefined ? {} : { hint: options.hint }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.byteOffset = options.byteOffset;
  }
}

/**
 * A valid model that the metadata writer cannot rewrite faithfully (e.g. its root table has
 * fields this schema does not know). Code `TFLITE_UNSUPPORTED`.
 */
export class TfliteUnsupportedError extends EdgezooError {
  constructor(message: string, hint?: string) {
    super('TFLITE_UNSUPPORTED', message, hint === undefined ? {} : { hint });
  }
}
