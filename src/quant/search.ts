/**
 * The quantization search of calibrated precisions (int8, int16-act): start from the cheapest
 * full quantization; while the recipe's validation metric fails, keep the layers the tool's own
 * error analysis ranks worst in float (onnxruntime qdq_loss_debug, TFLite QuantizationDebugger),
 * or quantise only the op types that pay (ONNX), or let 16-bit layers without a 16x8 kernel fall
 * back to float (TFLite int16-act); a bounded number of attempts. Each candidate is a conversion
 * strategy (`quant-*`) whose options the backends read (`quantOptionsOf`), so the attempt loop of
 * src/build/attempts.ts runs, judges and records them like any other strategy.
 *
 * A recipe controls it per target (`quantization: { <format>/<precision>: {...} }`): `search:
 * false` builds only the full quantization, `max_attempts` bounds it, and `keep_float`,
 * `keep_float_ops`, `op_types` or `activations` pin one configuration (what the search prints
 * for its winner).
 */
import type { ConversionStrategy } from '../catalogue/types.js';
import type { Precision } from '../catalogue/precisions.js';
import type { JsonValue } from '../plan/types.js';

/** One quantization configuration, as the backends apply it. */
export interface QuantOptions {
  /** Activation type: int8, or int16 (TFLite 16x8). */
  activations: 'int8' | 'int16';
  /** Keep this many of the worst-ranked layers in float (ranked after the full attempt). */
  keepFloatTop?: number;
  /** Layers kept in float by name (ONNX node names; TFLite output tensor names). */
  keepFloat?: string[];
  /** Op types kept in float (TFLite op names such as MEAN; ONNX op types). */
  keepFloatOps?: string[];
  /** ONNX: quantise only these op types (the rest stays float). */
  opTypes?: string[];
  /** int16: ops without a 16x8 kernel stay float (true) or fail the conversion (false). */
  floatFallback?: boolean;
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
}

export const DEFAULT_MAX_ATTEMPTS = 5;

/** Op types whose int8 kernels pay on CPUs; the rest stays float in the `quant-conv-only` rung (ONNX). */
export const ONNX_HEAVY_OP_TYPES = ['Conv', 'ConvTranspose', 'MatMul', 'Gemm'];

/** True when the settings pin one configuration (no search). */
export function isPinned(settings: QuantSettings | undefined): boolean {
  return Boolean(
    settings && (settings.keepFloat || settings.keepFloatOps || settings.opTypes || settings.activations !== undefined),
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
    ladder.push(
      strategy('quant-keep-float-5', 'the 5 worst-ranked layers float', { activations: 'int8', keepFloatTop: 5 }),
    );
    ladder.push(
      strategy('quant-keep-float-15', 'the 15 worst-ranked layers float', { activations: 'int8', keepFloatTop: 15 }),
    );
    if (format === 'onnx')
      ladder.push(
        strategy('quant-conv-only', `only ${ONNX_HEAVY_OP_TYPES.join('/')} int8`, {
          activations: 'int8',
          opTypes: ONNX_HEAVY_OP_TYPES,
        }),
      );
    ladder.push(
      strategy('quant-keep-float-40', 'the 40 worst-ranked layers float', { activations: 'int8', keepFloatTop: 40 }),
    );
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
  const defaultActivations = precision === 'int16-act' ? 'int16' : 'int8';
  if (applied.activations !== defaultActivations || parts.length === 0)
    parts.push(`activations: ${applied.activations}`);
  return ['quantization:', `  ${target}: { ${parts.join(', ')} }`];
}

function yamlString(value: string): string {
  return /^[A-Za-z0-9_./:-]+$/.test(value) && !/^[-:]/.test(value) ? value : JSON.stringify(value);
}

/** One layer of a ranking, worst first. */
export interface RankedLayer {
  node: string;
  tensor: string;
  opType: string;
  score: number;
}

/**
 * The names a `keepFloatTop` config keeps float: the k worst-ranked layers, at most half of the
 * ranked ones (a model kept mostly float is not an int8 model).
 */
export function topLayers(ranking: readonly RankedLayer[], k: number): string[] {
  const distinct = new Set(ranking.map((l) => l.node).filter(Boolean)).size;
  const limit = Math.min(k, Math.floor(distinct / 2));
  const names: string[] = [];
  for (const layer of ranking) {
    if (names.length >= limit) break;
    if (layer.node && !names.includes(layer.node)) names.push(layer.node);
  }
  return names;
}
