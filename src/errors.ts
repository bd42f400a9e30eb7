/**
 * Expected failures are typed errors with a stable `code`. The CLI prints their message (and
 * hint) without a stack trace and maps them to an exit code; any other error is a bug in edgezoo.
 */
export class EdgezooError extends Error {
  /** A stable, machine-readable code such as `RECIPE_INVALID` or `SHA256_MISMATCH`. */
  readonly code: string;
  /** 1: something the user asked for failed; 2: wrong usage. */
  readonly exitCode: 1 | 2;
  /** One line telling the user what to do about it, when there is something to do. */
  readonly hint?: string;

  constructor(code: string, message: string, options: { hint?: string; exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
    if (options.hint !== undefined) this.hint = options.hint;
  }
}

/** Wrong command-line usage: an unknown flag, a missing argument, a value out of range. Exit 2. */
export class UsageError extends EdgezooError {
  constructor(message: string, hint?: string) {
    super('USAGE', message, hint === undefined ? { exitCode: 2 } : { exitCode: 2, hint });
  }
}

/** Work was cancelled (Ctrl-C, or its caller gave up): its child processes were killed. */
export class StepCancelledError extends EdgezooError {
  constructor(what: string, options: { cause?: unknown } = {}) {
    super('CANCELLED', `${what} was cancelled`, options);
  }
}

export function isEdgezooError(error: unknown): error is EdgezooError {
  return error instanceof EdgezooError;
}

/** The first line of an error's message (of anything thrown), for one-line reports. */
export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
}
