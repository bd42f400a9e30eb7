/**
 * The attempt loop of conversions: try candidates in order (a converter backend and one of its
 * strategies; the quantisation search of calibrated precisions passes its own candidates),
 * judge what each makes, keep the first that passes. Each attempt is logged and recorded
 * (artifact.json `attempts`); the winner is printed as the recipe lines that pin it; a final
 * failure names every candidate tried and why each failed.
 *
 * The cascade starts only after a failure: candidates come from an iterable that is read one
 * at a time, so a model that converts on the first try computes nothing for the others (the
 * strategy context, with the model's op types, is built only when the second is asked for).
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { BackendSpec, ConversionStrategy, StrategyContext } from '../catalogue/types.js';
import { StepCancelledError } from '../errors.js';

/** Why an attempt did not pass: the converter failed, or the judge rejected what it made. */
export type AttemptStage = 'convert' | 'ops' | 'numbers';

/** One attempt as artifact.json (`attempts`) and the step log record it. */
export interface AttemptRecord {
  /** The backend that ran (`onnx2tf`, `litert-torch`), or the searching loop's own label. */
  converter: string;
  /** The strategy (or quantisation setting) tried. */
  strategy: string;
  outcome: 'passed' | 'failed';
  /** Set when it failed: which part of the attempt failed. */
  stage?: AttemptStage;
  /** One line: why it failed (the converter's key line, the ops, the metric out of tolerance). */
  reason?: string;
  /** The ops that failed it, when known (Flex/custom ops of the artifact, the op the converter lacks). */
  ops?: string[];
  /** The cosine of each output against the source, when the judge validated the attempt's numbers. */
  cosines?: Record<string, number>;
  seconds: number;
  /** Not run: an earlier build's failure of the same attempt on the same inputs, replayed (src/build/attempt-store.ts). */
  remembered?: boolean;
}

export const attemptRecordSchema: z.ZodType<AttemptRecord> = z.object({
  converter: z.string(),
  strategy: z.string(),
  outcome: z.enum(['passed', 'failed']),
  stage: z.enum(['convert', 'ops', 'numbers']).optional(),
  reason: z.string().optional(),
  ops: z.array(z.string()).optional(),
  cosines: z.record(z.string(), z.number()).optional(),
  seconds: z.number(),
  remembered: z.boolean().optional(),
});

/** What a judge says of an attempt's result. */
export type Verdict = (
  | { ok: true }
  | { ok: false; stage: Exclude<AttemptStage, 'convert'>; reason: string; ops?: string[] }
) & {
  /** Each output's cosine against the source, when the numbers were judged. */
  cosines?: Record<string, number>;
};

/** ` (cosine a 0.98123, b 0.95012)` for a log line, or ''. */
export function cosineNote(cosines: Record<string, number> | undefined): string {
  if (!cosines || Object.keys(cosines).length === 0) return '';
  return ` (cosine ${Object.entries(cosines)
    .map(([name, value]) => `${name} ${value.toFixed(5)}`)
    .join(', ')})`;
}

/** An attempt whose converter failed: what the loop records (thrown by `attempt`, or mapped by `failureOf`). */
export interface AttemptFailure {
  reason: string;
  ops?: string[];
}

/** A conversion candidate: a backend and one of its strategies. */
export interface StrategyCandidate {
  backend: BackendSpec;
  strategy: ConversionStrategy;
}

export interface AttemptLoop<C, R> {
  /** Candidates in order; read lazily, one at a time. */
  candidates: Iterable<C>;
  /** How the log and the record name a candidate. */
  label(candidate: C): { converter: string; strategy: string };
  /** Runs one candidate. Throwing is a failed attempt unless `fatal(error)` says the loop must stop. */
  attempt(candidate: C, index: number): Promise<R>;
  /** Judges what an attempt made. */
  judge(result: R, candidate: C): Promise<Verdict>;
  /**
   * Errors that end the loop instead of failing one attempt (cancellation always does; the
   * caller adds others: out of memory, a worker that died).
   */
  fatal?(error: unknown): boolean;
  /** One line for a converter's thrown error (default: its message's first line). */
  failureOf?(error: unknown): AttemptFailure;
  /** Called with a rejected result before the next attempt (to clean the output folder). */
  discard?(result: R | undefined, candidate: C): Promise<void>;
  log(line: string): void;
}

export interface AttemptOutcome<C, R> {
  /** The first candidate that passed, with what it made. */
  winner?: { candidate: C; result: R; index: number };
  attempts: AttemptRecord[];
}

/** Runs the attempt loop (see the module comment). */
export async function runAttempts<C, R>(loop: AttemptLoop<C, R>): Promise<AttemptOutcome<C, R>> {
  const attempts: AttemptRecord[] = [];
  let index = 0;
  for (const candidate of loop.candidates) {
    const { converter, strategy } = loop.label(candidate);
    const started = performance.now();
    const seconds = () => Math.round((performance.now() - started) / 10) / 100;
    if (index > 0) loop.log(`[edgezoo] attempt ${index + 1}: ${converter} strategy ${strategy}`);
    let result: R | undefined;
    try {
      result = await loop.attempt(candidate, index);
    } catch (error) {
      if (error instanceof StepCancelledError || loop.fatal?.(error)) throw error;
      const failure = loop.failureOf?.(error) ?? { reason: firstLine(error) };
      attempts.push({
        converter,
        strategy,
        outcome: 'failed',
        stage: 'convert',
        reason: failure.reason,
        ...(failure.ops && failure.ops.length > 0 ? { ops: failure.ops } : {}),
        seconds: seconds(),
      });
      loop.log(`[edgezoo] attempt ${index + 1} (${converter} ${strategy}) failed to convert: ${failure.reason}`);
      await loop.discard?.(undefined, candidate);
      index += 1;
      continue;
    }
    const verdict = await loop.judge(result, candidate);
    if (verdict.ok) {
      attempts.push({ converter, strategy, outcome: 'passed', seconds: seconds() });
      if (index > 0) loop.log(`[edgezoo] attempt ${index + 1} (${converter} ${strategy}) passed`);
      return { winner: { candidate, result, index }, attempts };
    }
    attempts.push({
      converter,
      strategy,
      outcome: 'failed',
      stage: verdict.stage,
      reason: verdict.reason,
      ...(verdict.ops && verdict.ops.length > 0 ? { ops: verdict.ops } : {}),
      seconds: seconds(),
    });
    loop.log(
      `[edgezoo] attempt ${index + 1} (${converter} ${strategy}) rejected (${verdict.stage}): ${verdict.reason}`,
    );
    await loop.discard?.(result, candidate);
    index += 1;
  }
  return { attempts };
}

/**
 * The attempt loop over several keys at once (the precisions one converter run emits: onnx2tf
 * makes fp32 and fp16 in one run): each candidate runs once for the keys still open, each key's
 * result is judged on its own, a key that passes is settled with that candidate, the next
 * candidate runs for the rest. Per key, the first result the judge rejected only on its numbers
 * is kept as `fallback` (published when nothing passes, so validation reports its metrics).
 */
export interface GroupAttemptLoop<K, C, R> {
  keys: readonly K[];
  candidates: Iterable<C>;
  label(candidate: C): { converter: string; strategy: string };
  /**
   * Whether a candidate is for a key (absent: every candidate is for every key). A candidate
   * for none of the open keys is passed over (a converter route that makes only some precisions).
   */
  appliesTo?(candidate: C, key: K): boolean;
  /** Runs one candidate for `keys`; a thrown error fails it for all of them, an Error value for one key. */
  attempt(candidate: C, keys: readonly K[], index: number): Promise<Map<K, R | Error>>;
  judge(key: K, result: R, candidate: C): Promise<Verdict>;
  fatal?(error: unknown): boolean;
  failureOf?(error: unknown): AttemptFailure;
  /**
   * An earlier build's failure of this candidate for this key, on the same inputs: replayed
   * (recorded with `remembered`) instead of running the candidate for that key again.
   */
  recall?(candidate: C, key: K): Promise<{ record: AttemptRecord; error?: Error } | undefined>;
  /** Called with every failed attempt that ran (`error`: the converter's, when it failed to convert). */
  remember?(candidate: C, key: K, record: AttemptRecord, error: unknown): Promise<void>;
  log(line: string): void;
}

export interface KeyOutcome<C, R> {
  winner?: { candidate: C; result: R; index: number };
  fallback?: { candidate: C; result: R; index: number };
  attempts: AttemptRecord[];
  /** The converter errors of the attempts that failed to convert, in order. */
  errors: unknown[];
}

/** Runs the grouped attempt loop (see `GroupAttemptLoop`). */
export async function runGroupAttempts<K, C, R>(loop: GroupAttemptLoop<K, C, R>): Promise<Map<K, KeyOutcome<C, R>>> {
  const outcomes = new Map<K, KeyOutcome<C, R>>(loop.keys.map((key) => [key, { attempts: [], errors: [] }]));
  let index = 0;
  for (const candidate of loop.candidates) {
    const unsettled = loop.keys.filter((key) => !outcomes.get(key)!.winner);
    if (unsettled.length === 0) break;
    const applying = unsettled.filter((key) => loop.appliesTo?.(candidate, key) ?? true);
    if (applying.length === 0) continue;
    const { converter, strategy } = loop.label(candidate);
    const open: K[] = [];
    for (const key of applying) {
      const recalled = await loop.recall?.(candidate, key);
      if (!recalled) {
        open.push(key);
        continue;
      }
      const outcome = outcomes.get(key)!;
      outcome.attempts.push({ ...recalled.record, converter, strategy, remembered: true });
      if (recalled.error) outcome.errors.push(recalled.error);
      loop.log(
        `[edgezoo] ${String(key)}: attempt ${index + 1} (${converter} ${strategy}) failed in an earlier build on the same inputs, not run again (${recalled.record.stage}): ${recalled.record.reason ?? ''}`,
      );
    }
    if (open.length === 0) {
      index += 1;
      continue;
    }
    const started = performance.now();
    const seconds = () => Math.round((performance.now() - started) / 10) / 100;
    if (index > 0) loop.log(`[edgezoo] attempt ${index + 1}: ${converter} strategy ${strategy} for ${open.join(', ')}`);
    let results: Map<K, R | Error>;
    try {
      results = await loop.attempt(candidate, open, index);
    } catch (error) {
      if (error instanceof StepCancelledError || loop.fatal?.(error)) throw error;
      results = new Map(open.map((key) => [key, error instanceof Error ? error : new Error(String(error))]));
    }
    const took = seconds();
    for (const key of open) {
      const outcome = outcomes.get(key)!;
      const result = results.get(key) ?? new Error(`${converter} made nothing for ${String(key)}`);
      if (result instanceof Error) {
        const failure = loop.failureOf?.(result) ?? { reason: firstLine(result) };
        outcome.errors.push(result);
        const record: AttemptRecord = {
          converter,
          strategy,
          outcome: 'failed',
          stage: 'convert',
          reason: failure.reason,
          ...(failure.ops && failure.ops.length > 0 ? { ops: failure.ops } : {}),
          seconds: took,
        };
        outcome.attempts.push(record);
        await loop.remember?.(candidate, key, record, result);
        loop.log(
          `[edgezoo] ${String(key)}: attempt ${index + 1} (${converter} ${strategy}) failed to convert: ${failure.reason}`,
        );
        continue;
      }
      const verdict = await loop.judge(key, result, candidate);
      const cosines = verdict.cosines && Object.keys(verdict.cosines).length > 0 ? { cosines: verdict.cosines } : {};
      if (verdict.ok) {
        outcome.attempts.push({ converter, strategy, outcome: 'passed', ...cosines, seconds: took });
        outcome.winner = { candidate, result, index };
        if (index > 0 || verdict.cosines)
          loop.log(
            `[edgezoo] ${String(key)}: attempt ${index + 1} (${converter} ${strategy}) passed${cosineNote(verdict.cosines)}`,
          );
        continue;
      }
      const record: AttemptRecord = {
        converter,
        strategy,
        outcome: 'failed',
        stage: verdict.stage,
        reason: verdict.reason,
        ...(verdict.ops && verdict.ops.length > 0 ? { ops: verdict.ops } : {}),
        ...cosines,
        seconds: took,
      };
      outcome.attempts.push(record);
      await loop.remember?.(candidate, key, record, undefined);
      if (verdict.stage === 'numbers' && !outcome.fallback) outcome.fallback = { candidate, result, index };
      loop.log(
        `[edgezoo] ${String(key)}: attempt ${index + 1} (${converter} ${strategy}) rejected (${verdict.stage})${cosineNote(verdict.cosines)}: ${verdict.reason}`,
      );
    }
    index += 1;
  }
  return outcomes;
}

/**
 * The candidates of a conversion, lazily: with `pinned` (the recipe's `strategies:` for the
 * target), exactly those strategies of the first route, in that order; otherwise the first
 * route's default, then (only when asked for, i.e. after a failure) its other strategies whose
 * `when` holds, then each other route's strategies likewise. `context` is called at most once,
 * and only when a second candidate is read.
 */
export function* strategyCandidates(
  routes: readonly BackendSpec[],
  pinned: readonly string[] | null | undefined,
  context: () => StrategyContext,
): Generator<StrategyCandidate> {
  const first = routes[0];
  if (!first) return;
  if (pinned && pinned.length > 0) {
    for (const name of pinned) {
      const strategy = first.strategies.find((s) => s.name === name);
      if (!strategy)
        throw new Error(
          `${first.name} has no strategy "${name}" (it has ${first.strategies.map((s) => s.name).join(', ')})`,
        );
      yield { backend: first, strategy };
    }
    return;
  }
  yield { backend: first, strategy: first.strategies[0] };
  let ctx: StrategyContext | undefined;
  const applies = (strategy: ConversionStrategy) => {
    if (!strategy.when) return true;
    ctx ??= context();
    return strategy.when(ctx);
  };
  for (const strategy of first.strategies.slice(1)) if (applies(strategy)) yield { backend: first, strategy };
  for (const route of routes.slice(1))
    for (const [i, strategy] of route.strategies.entries())
      if (i === 0 || applies(strategy)) yield { backend: route, strategy };
}

/**
 * The recipe lines that pin a winning attempt (printed in the step log and the build summary,
 * recorded in the manifest): `strategies:` keyed by `format/precision` and, when the winner
 * came from another route than the one the target starts with, `converters:` for the target too.
 */
export function pinLines(args: {
  format: string;
  precision: string;
  winner: { converter: string; strategy: string };
  /** The converter the target's conversion starts with (the recipe's first choice, or the default). */
  recipeConverter: string;
}): string[] {
  const lines: string[] = [];
  if (args.winner.converter !== args.recipeConverter)
    lines.push(`converters: { ${args.format}/${args.precision}: ${args.winner.converter} }`);
  lines.push(`strategies: { ${args.format}/${args.precision}: [${args.winner.strategy}] }`);
  return lines;
}

/** A final failure: the op(s) to blame and every attempt, one line each. */
export function describeFailedAttempts(attempts: readonly AttemptRecord[]): string {
  const ops = [...new Set(attempts.flatMap((a) => a.ops ?? []))];
  const tried = attempts
    .map(
      (a) =>
        `${a.converter} ${a.strategy}: ${a.stage === 'convert' ? 'failed' : `rejected (${a.stage})`}: ${a.reason ?? ''}`,
    )
    .join('; ');
  return `${ops.length > 0 ? `ops ${ops.join(', ')}; ` : ''}${attempts.length} strateg${attempts.length === 1 ? 'y' : 'ies'} tried: ${tried}`;
}

/** The judge's structural half: Flex and custom ops fail an artifact unless the recipe allows each by name. */
export function opsVerdict(
  inspection: { flexOps: readonly string[]; customOps: readonly string[] },
  allowed: readonly string[],
): Verdict {
  const flex = inspection.flexOps.filter((op) => !allowed.includes(op));
  const custom = inspection.customOps.filter((op) => !allowed.includes(op));
  if (flex.length === 0 && custom.length === 0) return { ok: true };
  const parts = [
    ...(flex.length > 0 ? [`needs Flex ops ${flex.join(', ')} (the Select-TF-ops delegate)`] : []),
    ...(custom.length > 0 ? [`needs custom ops ${custom.join(', ')}`] : []),
  ];
  return {
    ok: false,
    stage: 'ops',
    reason: `${parts.join(' and ')}; allow them with allow_ops`,
    ops: [...flex, ...custom],
  };
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const line = text.split('\n')[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
