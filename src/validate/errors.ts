import { EdgezooError } from '../errors.js';

/**
 * Expected failures of the validate module. Each has a stable `code`; the message names the
 * file or tensor concerned so that a person can act on it without a stack trace.
 *
 * A *failed comparison* is not an error: `compareOutputs` returns it as a value with status
 * 'failed'. These errors are for inputs that cannot be compared at all.
 */
export class ValidateError extends EdgezooError {}

/** A .npy file that is malformed, truncated, Fortran-ordered, pickled or of an unsupported dtype. */
export class NpyFormatError extends ValidateError {
  constructor(file: string, problem: string) {
    super('NPY_INVALID', `${file}: not a usable .npy file: ${problem}`, {
      hint: 'write it with numpy.save(path, array) from a C-ordered array of a plain numeric dtype',
    });
  }
}

/** A sample (or sample set) that cannot be turned into model inputs. */
export class SampleError extends ValidateError {
  constructor(message: string, hint?: string) {
    super('SAMPLES_INVALID', message, hint === undefined ? {} : { hint });
  }
}

/** Shapes, dtypes, layouts or quantisation parameters that do not fit together. */
export class TensorError extends ValidateError {
  constructor(message: string) {
    super('TENSOR_INVALID', message);
  }
}

/** A model that a runner could not load or run. */
export class RunnerError extends ValidateError {
  constructor(message: string, options: { cause?: unknown; hint?: string } = {}) {
    super('RUNNER_FAILED', message, options);
  }
}
