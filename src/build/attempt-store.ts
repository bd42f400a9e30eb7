/**
 * Failed conversion attempts, remembered across builds by content: a convert step that runs
 * again with the same conversion inputs (a new validation threshold, a build cancelled or failed
 * after the attempt, every strategy failing to convert) replays what an earlier build learnt
 * instead of running that converter again. Keyed like a step: the step's `conversionKey` (the
 * fingerprint of what its converter runs read: the model, recipe settings, tools, platform), the
 * converter, the strategy with its options and the precision; a rejection for the artifact's ops
 * also by the ops the recipe allows. Stored in the step cache as an entry without files.
 *
 * Only deterministic failures are remembered: a converter that ran and failed (its exception,
 * its exit), a judge that rejected the ops of what it made. Not a worker that died, not memory
 * (out of memory is never an attempt), and not a rejection on the numbers: the artifact of the
 * first such attempt is the one published when no strategy passes, so validation can report its
 * metrics, and it is judged against the current reference. A model that converts on the first
 * try costs one cache look-up (a missing folder) per convert step.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Cache } from '../cache/types.js';
import type { ConversionStrategy } from '../catalogue/types.js';
import { canonicalJson } from '../plan/canonical-json.js';
import type { Fingerprint } from '../plan/types.js';
import { attemptRecordSchema, type AttemptRecord } from './attempts.js';

/** What is remembered of a failed attempt: its record and, for a converter failure, the error to report again. */
export interface RememberedAttempt {
  record: AttemptRecord;
  error?: { code: string; message: string; hint?: string };
}

/** The `kind` of a remembered attempt's cache entry result (`cache gc` keeps those of current conversions). */
export const FAILED_ATTEMPT_KIND = 'failed-attempt';

const rememberedSchema = z.object({
  kind: z.literal(FAILED_ATTEMPT_KIND),
  /** The conversionKey it belongs to: `cache gc` keeps it while a planned step has that key. */
  conversion: z.string().optional(),
  record: attemptRecordSchema,
  error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }).optional(),
});

/** Failed attempts of earlier builds (see the module comment). */
export interface AttemptStore {
  recall(key: Fingerprint): Promise<RememberedAttempt | undefined>;
  remember(
    key: Fingerprint,
    attempt: RememberedAttempt,
    owner: { stepId: string; conversionKey: Fingerprint },
  ): Promise<void>;
}

/**
 * An attempt store in the step cache. With `force` (a forced rebuild) nothing is recalled, so
 * every attempt runs again, and what fails replaces the entry.
 */
export function cacheAttemptStore(cache: Cache, options: { force?: boolean } = {}): AttemptStore {
  return {
    async recall(key) {
      if (options.force) return undefined;
      const entry = await cache.get(key);
      const parsed = rememberedSchema.safeParse(entry?.result);
      if (!parsed.success) return undefined;
      const { record, error } = parsed.data;
      return { record, ...(error ? { error } : {}) };
    },
    async remember(key, attempt, owner) {
      const pending = await cache.begin();
      await cache.put(key, pending, {
        stepId: owner.stepId,
        result: {
          kind: FAILED_ATTEMPT_KIND,
          conversion: owner.conversionKey,
          record: JSON.parse(JSON.stringify(attempt.record)),
          ...(attempt.error ? { error: JSON.parse(JSON.stringify(attempt.error)) } : {}),
        },
        ...(options.force ? { replace: true } : {}),
      });
    },
  };
}

/**
 * The key of one attempt: the conversion, the converter, the strategy (name and options: a
 * changed catalogue entry is another attempt) and the precision; `allowOps` for a rejection on ops.
 */
export function attemptKey(args: {
  conversionKey: Fingerprint;
  converter: string;
  /** The converter's `revision` (a fallback route's is not in every step's key). */
  revision?: number;
  strategy: ConversionStrategy;
  precision: string;
  allowOps?: readonly string[];
}): Fingerprint {
  const text = canonicalJson({
    kind: 'failed-attempt',
    conversion: args.conversionKey,
    converter: args.converter,
    ...(args.revision ? { revision: args.revision } : {}),
    strategy: { name: args.strategy.name, options: args.strategy.options },
    precision: args.precision,
    ...(args.allowOps ? { allowOps: [...args.allowOps].sort() } : {}),
  });
  return createHash('sha256').update(text).digest('hex') as Fingerprint;
}
