/**
 * What the attempts of one convert step share: files made once (onnxruntime's pre-processed
 * model, the float32 TFLite model with rank-1 biases) and the layer ranking. Keyed by the step's
 * staged calibration (one object per convert step, the same for all its attempts), so nothing
 * outlives the step: its files lie in the step's scratch folders, deleted with them.
 */
import type { CalibrationArrays } from '../toolchain/backends/types.js';
import type { RankedLayer } from './search.js';

export interface QuantStepState {
  /** ONNX: quant_pre_process's model (the node names excluded are its names). */
  preprocessed?: string;
  /** A copy of the full quantization (the model the ranking compares). */
  fullQuantized?: string;
  /** TFLite: the float32 model to calibrate (biases flattened), its signature work done. */
  floatModel?: string;
  /** Any state a backend wants to keep (the float run's signature...). */
  extra?: Record<string, unknown>;
  ranking?: { layers: RankedLayer[]; metric: string; heads?: string[] };
  /** ONNX: the pre-processed model's node count. */
  nodes?: number;
}

const states = new WeakMap<CalibrationArrays, QuantStepState>();

/** The shared state of the step `calibration` belongs to. */
export function quantStepState(calibration: CalibrationArrays): QuantStepState {
  let state = states.get(calibration);
  if (!state) {
    state = {};
    states.set(calibration, state);
  }
  return state;
}
