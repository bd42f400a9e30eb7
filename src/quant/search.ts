/**
 * The quantization search of calibrated precisions (int8, int16-act): start from the cheapest
 * full quantization; while the recipe's validation metric fails, try another calibration
 * (Percentile, ONNX), keep the output heads and the activations ranked worst in float (each
 * tensor's own SQNR with the scale the full quantization gave it: src/toolchain/python/ops_quant.py),
 * then (ONNX) give a growing share of the worst-ranked activations 16-bit Q/DQ while the rest
 * stays int8; TFLite int16-act lets ops without a 16x8 kernel fall back to float. Cheapest first,
 * a bounded number of attempts, the first that passes wins. Each candidate is a conversion
 * strategy (`quant-*`) whose options the backends read (`quantOptionsOf`), so the attempt loop of
 * src/build/attempts.ts runs, judges and records them like any other strategy.
 *
 * Honest labels: an int8 artifact keeps at most half of what the ranking covers in float or
 * 16-bit (`topLayers`), and the label check (./labels.ts) refuses an ONNX model whose 16-bit
 * activations outnumber its 8-bit ones. What stayed float or 16-bit is recorded (artifact.json
 * `notes.quantization`, the card, the pin lines).
 *
 * A recipe controls it per target (`quantization: { <format>/<precision>: {...} }`): `search:
 * false` builds only the full quantization, `max_attempts` bounds it, and `keep_float`,
 * `keep_float_ops`, `op_types`, `int16_tensors`, `calibration_method` or `activations` pin one
 * configuration (what the search prints for its winner).
 */
import type { ConversionStrategy } from '../catalogue/types.js';
import type { Precision } from '../catalogue/precisions.js';
import type { JsonValue } from '../plan/types.js';

/** One quantization configuration, as the backends apply it. */
export interface QuantOptions {
  /** Activation type: int8, or int16 (TFLite 16x8). */
  activations: 'int8' | 'int16';
  /** Keep this many of the worst-ranked activations in float (ranked after the full attempt). */
  keepFloatTop?: number;
  /** Keep this share (0..0.5) of the ranked activations, worst first, in float. */
  keepFloatShare?: number;
  /** Layers kept in float by name (ONNX node names; TFLite output tensor names). */
  keepFloat?: string[];
  /** Op types kept in float (TFLite op names such as MEAN; ONNX op types). */
  keepFloatOps?: string[];
  /** ONNX: quantise only these op types (the rest stays float). */
  opTypes?: string[];
  /** int16: ops without a 16x8 kernel stay float (true) or fail the conversion (false). */
  floatFallback?: boolean;
  /** Keep the output heads float: the ops from each graph output back to its last weighted op. */
  keepHeads?: boolean;
  /** ONNX: this share (0..0.5) of the ranked activations, worst first, gets 16-bit Q/DQ. */
  int16Share?: number;
  /** ONNX: activations (tensor names) with 16-bit Q/DQ. */
  int16Tensors?: string[];
  /** ONNX: onnxruntime's calibration method (default MinMax). */
  calibrationMethod?: 'MinMax' | 'Percentile' | 'Entropy';
}

/** What a recipe says about one target's quantization (`quantization: { tflite/int8: {...} }`). */
export interface QuantSettings {
  /** false: only the full quantization (no search). Default true. */
  search?: boolean;
  /** At most this many attempts. Default DEFAULT_MAX_ATTEMPTS. */
  maxAttempts?: number;
  keepFloat?: string[];
  keepFloatOps?: string[];
  opTypes?: string[];
  activations?: 'int8' | 'int16';
  int16Tensors?: string[];
  calibrationMethod?: 'MinMax' | 'Percentile' | 'Entropy';
}

export const DEFAULT_MAX_ATTEMPTS = 7;

/**
 * Bumped when the ladder or what a rung does changes: it is in the convert step's params of
 * every searched target (src/plan/plan.ts), so a cached failure of an older search is not reused.
 */
export const QUANT_SEARCH_REVISION = 4;

/** True when the settings pin one configuration (no search). */
export function isPinned(settings: QuantSettings | undefined): boolean {
  return Boolean(
    settings &&
      (settings.keepFloat ||
        settings.keepFloatOps ||
        settings.opTypes ||
        settings.int16Tensors ||
        settings.calibrationMethod ||
        settings.activations !== undefined),
  );
}

function strategy(name: string, description: string, quant: QuantOptions): ConversionStrategy {
  return { name, description, options: { quant: quant as unknown as JsonValue } } as ConversionStrategy;
}

/**
 * The candidates of a calibrated target, cheapest first, bounded by `maxAttempts`. Formats
 * differ in what they can keep float: ONNX QDQ and TFLite int8 exclude named layers; TFLite 16x8
 * can only fall back to float for ops without a 16-bit kernel.
 */
export function quantStrategies(
  format: string,
  precision: Precision,
  settings: QuantSettings = {},
): ConversionStrategy[] {
  if (isPinned(settings)) {
    const quant: QuantOptions = {
      activations: settings.activations ?? (precision === 'int16-act' ? 'int16' : 'int8'),
      ...(settings.keepFloat ? { keepFloat: settings.keepFloat } : {}),
      ...(settings.keepFloatOps ? { keepFloatOps: settings.keepFloatOps } : {}),
      ...(settings.opTypes ? { opTypes: settings.opTypes } : {}),
      ...(settings.int16Tensors ? { int16Tensors: settings.int16Tensors } : {}),
      ...(settings.calibrationMethod ? { calibrationMethod: settings.calibrationMethod } : {}),
      ...(precision === 'int16-act' ? { floatFallback: true } : {}),
    };
    return [strategy('quant-pinned', 'the configuration the recipe pins', quant)];
  }
  const ladder: ConversionStrategy[] = [];
  if (precision === 'int16-act') {
    ladder.push(
      strategy('quant-full', 'every layer with int16 activations', { activations: 'int16', floatFallback: false }),
    );
    ladder.push(
      strategy('quant-int16-float-fallback', 'int16 activations; ops without a 16x8 kernel stay float', {
        activations: 'int16',
        floatFallback: true,
      }),
    );
  } else {
    ladder.push(strategy('quant-full', 'every layer int8', { activations: 'int8' }));
    if (format === 'onnx')
      ladder.push(
        strategy('quant-percentile', 'every layer int8, ranges calibrated at the 99.999th percentile', {
          activations: 'int8',
          calibrationMethod: 'Percentile',
        }),
      );
    ladder.push(
      strategy('quant-keep-float-5', 'the output heads and the 5 worst-ranked activations float', {
        activations: 'int8',
        keepHeads: true,
        keepFloatTop: 5,
      }),
    );
    ladder.push(
      strategy('quant-keep-float-15', 'the output heads and the 15 worst-ranked activations float', {
        activations: 'int8',
        keepHeads: true,
        keepFloatTop: 15,
      }),
    );
    if (format === 'onnx') {
      for (const share of [0.1, 0.25, 0.5])
        ladder.push(
          strategy(
            `quant-int16-${share * 100}pct`,
            `the worst-ranked ${share * 100} % of activations 16-bit, the rest int8`,
            { activations: 'int8', int16Share: share },
          ),
        );
    } else {
      for (const share of [0.25, 0.5])
        ladder.push(
          strategy(
            `quant-keep-float-${share * 100}pct`,
            `the output heads and the worst-ranked ${share * 100} % of activations float`,
            { activations: 'int8', keepHeads: true, keepFloatShare: share },
          ),
        );
    }
  }
  if (settings.search === false) return ladder.slice(0, 1);
  return ladder.slice(0, Math.max(1, settings.maxAttempts ?? DEFAULT_MAX_ATTEMPTS));
}

/** The quantization options of a strategy (the full quantization for a non-`quant-*` strategy). */
export function quantOptionsOf(strategy: ConversionStrategy, precision: Precision): QuantOptions {
  const quant = (strategy.options as Record<string, unknown>).quant as QuantOptions | undefined;
  return (
    quant ?? {
      activations: precision === 'int16-act' ? 'int16' : 'int8',
      floatFallback: precision === 'int16-act' ? false : undefined,
    }
  );
}

/** What an attempt applied, resolved (artifact.json `notes.quantization`, the card, the pin lines). */
export interface AppliedQuantization {
  activations: 'int8' | 'int16';
  /** Layers kept float by name (the resolved top-k, or the pinned list). */
  keptFloat: string[];
  keptFloatOps: string[];
  /** ONNX: the only op types quantised, when limited. */
  opTypes: string[] | null;
  /** ONNX: activations given 16-bit Q/DQ (the rest is int8). */
  int16Tensors?: string[];
  /** ONNX: the calibration method, when not MinMax. */
  calibrationMethod?: string;
  floatFallback: boolean | null;
  /** Layers the model has (nodes / quantisable outputs), for "3 of 120 layers float". */
  layers: number | null;
  /** How the ranking was made, when one was used. */
  rankedBy: string | null;
}

/** The recipe lines that pin an applied quantization. */
export function quantPinLines(target: string, applied: AppliedQuantization, precision: Precision): string[] {
  const parts: string[] = [];
  if (applied.keptFloat.length > 0) parts.push(`keep_float: [${applied.keptFloat.map(yamlString).join(', ')}]`);
  if (applied.keptFloatOps.length > 0)
    parts.push(`keep_float_ops: [${applied.keptFloatOps.map(yamlString).join(', ')}]`);
  if (applied.opTypes) parts.push(`op_types: [${applied.opTypes.join(', ')}]`);
  if (applied.int16Tensors && applied.int16Tensors.length > 0)
    parts.push(`int16_tensors: [${applied.int16Tensors.map(yamlString).join(', ')}]`);
  if (applied.calibrationMethod && applied.calibrationMethod !== 'MinMax')
    parts.push(`calibration_method: ${applied.calibrationMethod}`);
  const defaultActivations = precision === 'int16-act' ? 'int16' : 'int8';
  if (applied.activations !== defaultActivations || parts.length === 0)
    parts.push(`activations: ${applied.activations}`);
  return ['quantization:', `  ${target}: { ${parts.join(', ')} }`];
}

function yamlString(value: string): string {
  return /^[A-Za-z0-9_./:-]+$/.test(value) && !/^[-:]/.test(value) ? value : JSON.stringify(value);
}

/** One activation of a ranking, worst first. */
export interface RankedLayer {
  /** Its producer (ONNX node name; TFLite output tensor name). */
  node: string;
  tensor: string;
  opType: string;
  score: number;
  /** What to exclude to keep it float: its producer and every consumer (node / output names). */
  keep?: string[];
}

/** How many of `ranking` a share stands for: at least one, at most half (a mostly float or 16-bit model is not int8). */
export function shareCount(ranking: readonly RankedLayer[], share: number): number {
  return Math.max(1, Math.min(Math.ceil(ranking.length * share), Math.floor(ranking.length / 2)));
}

/**
 * The names a keep-float config excludes: `heads` (the output heads, kept float first), then
 * those of the k worst-ranked activations (each with its producer and consumers), stopping
 * before the names would exceed half of all the names (the ranking's and the heads'): a model
 * kept mostly float is not an int8 model, whatever kept it float.
 */
export function topLayers(ranking: readonly RankedLayer[], k: number, heads: readonly string[] = []): string[] {
  const namesOf = (layer: RankedLayer) => (layer.keep && layer.keep.length > 0 ? layer.keep : [layer.node]);
  const all = new Set([...ranking.flatMap(namesOf), ...heads].filter(Boolean));
  const limit = Math.floor(all.size / 2);
  const names: string[] = [];
  for (const head of heads) {
    if (names.length >= limit) break;
    if (head && !names.includes(head)) names.push(head);
  }
  let taken = 0;
  for (const layer of ranking) {
    if (taken >= k) break;
    const add = [...new Set(namesOf(layer).filter((name) => name && !names.includes(name)))];
    if (add.length === 0) continue;
    if (names.length + add.length > limit) break;
    names.push(...add);
    taken += 1;
  }
  return names;
}

/** The tensors a 16-bit config gives 16-bit Q/DQ: the worst-ranked `share` of the ranking. */
export function topTensors(ranking: readonly RankedLayer[], share: number): string[] {
  return ranking.slice(0, shareCount(ranking, share)).map((layer) => layer.tensor);
}
