"""Selective quantization ("tf" env): quantise with some layers kept float, and rank layers by the
tool's own error analysis so the search (src/quant/search.ts) knows which ones to keep.

- ONNX: onnxruntime quantize_static (QDQ) with nodes_to_exclude / op_types_to_quantize, ranked
  with onnxruntime.quantization.qdq_loss_debug (SQNR of each activation before and after its
  QDQ pair: `qdq_err`, the layer's own error, not the error it inherited).
- TFLite: from the float32 .tflite: TFLite's calibrator, then the MLIR quantizer with
  denylisted nodes (int8), or the legacy quantizer with int16 activations and float fallback;
  ranked with tf.lite.experimental.QuantizationDebugger (rmse/scale of each layer's output).

Calibration arrays come one per model input, each with the axis its samples are stacked on (the
input's batch axis from its layout: a state [2,1,128] is stacked on axis 1; null: a new leading
axis). TFLite calibration lists them in the interpreter's input order.
"""

from __future__ import annotations

import math
import os
import tempfile

from registry import OpError, ensure_parent, file_info, op


def _load_arrays(entries):
    """[(name, array, batchAxis)] from [{"name"?, "npy", "batchAxis"}], all with one sample count."""
    import numpy as np

    loaded = []
    for entry in entries:
        a = np.load(entry["npy"])
        axis = entry.get("batchAxis")
        loaded.append((entry.get("name"), a, axis))
    counts = {(a.shape[axis] if axis is not None else a.shape[0]) for _, a, axis in loaded}
    if len(counts) != 1:
        raise OpError("CALIBRATION_INVALID", f"calibration arrays differ in sample count: {sorted(counts)}")
    return loaded, counts.pop()


def _sample(array, axis, i):
    """Sample i of an array stacked on `axis` (keeping that axis, of size 1), or on a new axis 0."""
    import numpy as np

    if axis is None:
        return np.ascontiguousarray(array[i])
    return np.ascontiguousarray(np.take(array, [i], axis=axis))


def _samples(entries, limit=None):
    loaded, count = _load_arrays(entries)
    count = min(count, limit or count)
    return [[_sample(a, axis, i) for _, a, axis in loaded] for i in range(count)], [n for n, _, _ in loaded]


class _Reader:
    """onnxruntime CalibrationDataReader over per-input arrays with their batch axes."""

    def __init__(self, entries, limit=None):
        self.rows, self.names = _samples(entries, limit)
        self.i = 0

    def get_next(self):
        if self.i >= len(self.rows):
            return None
        row = self.rows[self.i]
        self.i += 1
        return dict(zip(self.names, row, strict=True))

    def rewind(self):
        self.i = 0


@op("quant.onnx_static")
def quant_onnx_static(
    model,
    output,
    calibration,
    preprocessedOutput=None,
    preprocess=True,
    perChannel=True,
    activationType="QInt8",
    weightType="QInt8",
    calibrateMethod="MinMax",
    nodesToExclude=None,
    excludeOpTypes=None,
    opTypes=None,
    limit=None,
    extraOptions=None,
):
    """QDQ with onnxruntime quantize_static. calibration: [{name, npy, batchAxis}].
    preprocessedOutput: keep quant_pre_process's model there (the node names later attempts
    exclude are that model's); preprocess false: `model` is such a model already."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(_Reader, CalibrationDataReader):
        pass

    if not calibration:
        raise OpError("CALIBRATION_MISSING", "static quantization needs calibration data (an .npy per input)")
    output = ensure_parent(output)
    with tempfile.TemporaryDirectory(prefix="edgezoo-quant-") as tmp:
        src = model
        if preprocess:
            src = ensure_parent(preprocessedOutput) if preprocessedOutput else os.path.join(tmp, "pre.onnx")
            quant_pre_process(model, src)
        exclude = list(nodesToExclude or [])
        if excludeOpTypes:
            import onnx

            kinds = set(excludeOpTypes)
            exclude += [n.name for n in onnx.load(src, load_external_data=False).graph.node if n.op_type in kinds]
        quantize_static(
            src,
            output,
            Reader(calibration, limit),
            quant_format=QuantFormat.QDQ,
            per_channel=perChannel,
            activation_type=getattr(QuantType, activationType),
            weight_type=getattr(QuantType, weightType),
            calibrate_method=getattr(CalibrationMethod, calibrateMethod),
            op_types_to_quantize=list(opTypes) if opTypes else None,
            nodes_to_exclude=exclude or None,
            extra_options=extraOptions or {},
        )
    return {**file_info(output), "nodes": _onnx_node_count(src)}


def _onnx_node_count(path):
    import onnx

    return len(onnx.load(path, load_external_data=False).graph.node)


@op("quant.onnx_rank")
def quant_onnx_rank(floatModel, qdqModel, calibration, limit=8):
    """Layers of the float model ranked by their own quantization error: for each activation of
    the QDQ model, the SQNR (dB) between the tensor before and after its QuantizeLinear/
    DequantizeLinear pair (qdq_loss_debug's `qdq_err`), worst (lowest) first, with the node
    that produces it. `floatModel` is the model quantize_static read (pre-processed)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    producers = {}
    op_types = {}
    for node in onnx.load(floatModel, load_external_data=False).graph.node:
        for out in node.output:
            producers[out] = node.name
            op_types[out] = node.op_type
    with tempfile.TemporaryDirectory(prefix="edgezoo-qdqdebug-") as tmp:
        # collect_activations iterates its reader: only CalibrationDataReader defines __iter__.
        class Reader(_Reader, CalibrationDataReader):
            pass

        # create_activation_matching needs the float model's activations too (compute_activation_error
        # reads match["float"]); qdq_err, the ranking, compares each tensor before and after its Q/DQ.
        float_aug = os.path.join(tmp, "float_aug.onnx")
        modify_model_output_intermediate_tensors(floatModel, float_aug)
        float_acts = collect_activations(float_aug, Reader(calibration, limit))
        aug = os.path.join(tmp, "qdq_aug.onnx")
        modify_model_output_intermediate_tensors(qdqModel, aug)
        acts = collect_activations(aug, Reader(calibration, limit))
    errors = compute_activation_error(create_activation_matching(acts, float_acts))
    layers = []
    for tensor, err in errors.items():
        node = producers.get(tensor)
        value = err.get("qdq_err")
        if node is None or value is None:
            continue
        value = float(value)
        layers.append(
            {
                "node": node,
                "tensor": tensor,
                "opType": op_types.get(tensor, ""),
                "score": -value if math.isfinite(value) else 1e9,
                "sqnr": value if math.isfinite(value) else None,
            }
        )
    layers.sort(key=lambda entry: entry["score"], reverse=True)
    return {"layers": layers, "metric": "qdq_err SQNR dB (score = -SQNR: higher is worse)"}


def _tflite_dataset(calibration, limit=None):
    rows, _ = _samples(calibration, limit)
    import numpy as np

    def gen():
        for row in rows:
            yield [np.asarray(a, dtype=np.float32) for a in row]

    return gen


@op("quant.tflite")
def quant_tflite(
    model,
    output,
    calibration,
    activations="int8",
    ioType="int8",
    denylistedNodes=None,
    denylistedOps=None,
    allowFloat=True,
    perChannel=True,
    limit=None,
):
    """Quantises a float32 .tflite. calibration: [{npy, batchAxis}] in interpreter input order,
    in the interpreter's layout. activations int8: TFLite's calibrator then the MLIR quantizer
    (what TFLiteConverter does for int8), keeping `denylistedNodes` (output tensor names) and
    `denylistedOps` (op names such as MEAN) in float; ioType int8 or float32.
    activations int16: the legacy quantizer (the only one with 16x8), float I/O, `allowFloat`
    keeps ops without a 16x8 kernel in float; it has no denylist. Rank-2+ biases must have been
    flattened first (src/formats/tflite/bias-shape.ts)."""
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.python.optimize import calibrator

    with open(model, "rb") as f:
        content = f.read()
    gen = _tflite_dataset(calibration, limit)
    cal = calibrator.Calibrator(content)
    if activations == "int16":
        if denylistedNodes or denylistedOps:
            raise OpError("BAD_REQUEST", "TFLite's 16x8 quantizer has no denylist: use allowFloat")
        quantized = cal.calibrate_and_quantize(
            gen,
            tf.float32,
            tf.float32,
            bool(allowFloat),
            activations_type=tf.int16,
            bias_type=tf.int64,
            disable_per_channel=not perChannel,
        )
    else:
        calibrated = cal.calibrate(gen)
        io = tf.int8 if ioType == "int8" else tf.float32
        quantized = convert.mlir_quantize(
            calibrated,
            disable_per_channel=not perChannel,
            fully_quantize=False,
            input_data_type=io,
            output_data_type=io,
            denylisted_ops=list(denylistedOps) if denylistedOps else None,
            denylisted_nodes=list(denylistedNodes) if denylistedNodes else None,
        )
    with open(ensure_parent(output), "wb") as f:
        f.write(quantized)
    return file_info(output)


@op("quant.tflite_rank")
def quant_tflite_rank(model, calibration, limit=8):
    """Layers of a float32 .tflite ranked by TFLite's QuantizationDebugger (full int8): for each
    quantised layer output, rmse/scale (the error in quantization steps; ~0.289 is ideal
    rounding), worst first. `node` is the output tensor name (what denylisted_nodes takes)."""
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.python.optimize import calibrator

    with open(model, "rb") as f:
        content = f.read()
    gen = _tflite_dataset(calibration, limit)
    calibrated = calibrator.Calibrator(content).calibrate(gen)
    debug_model = convert.mlir_quantize(calibrated, enable_numeric_verify=True)
    debugger = tf.lite.experimental.QuantizationDebugger(
        quant_debug_model_content=debug_model,
        float_model_content=content,
        debug_dataset=gen,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(),
    )
    debugger.run()
    import csv
    import io

    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    layers = []
    for row in csv.DictReader(io.StringIO(dump.getvalue())):
        try:
            scale = float(row.get("scale") or 0.0)
            mse = float(row.get("mean_squared_error") or 0.0)
        except ValueError:
            continue
        score = math.sqrt(mse) / scale if scale > 0 else (1e9 if mse > 0 else 0.0)
        layers.append(
            {
                "node": row.get("tensor_name", ""),
                "tensor": row.get("tensor_name", ""),
                "opType": row.get("op_name", ""),
                "score": score if math.isfinite(score) else 1e9,
            }
        )
    layers.sort(key=lambda entry: entry["score"], reverse=True)
    return {"layers": layers, "metric": "rmse/scale of the layer output (higher is worse; 0.289 is ideal rounding)"}
