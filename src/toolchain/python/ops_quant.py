"""Selective quantization ("tf" env): quantise with some layers kept float, and rank layers by the
tool's own error analysis so the search (src/quant/search.ts) knows which ones to keep.

- ONNX: onnxruntime quantize_static (QDQ) with nodes_to_exclude / op_types_to_quantize, some
  activations 16-bit (TensorQuantOverrides), another calibration method.
- TFLite: from the float32 .tflite: TFLite's calibrator, then the MLIR quantizer with
  denylisted nodes (int8), or the legacy quantizer with int16 activations and float fallback.

Both rank activations the same way: each tensor of the float model, run on the calibration
samples, quantised alone with the scale and zero point the full quantization gave it; its SQNR
(dB) is its own error, not one inherited from upstream. Two tool metrics were tried first and
misled: onnxruntime qdq_loss_debug's `qdq_err` compares a tensor before and after its Q/DQ pair
in the QDQ model, where a Relu fused into the Q leaves the pre-Relu values before it (every
Relu ranked worst at ~1 dB, keeping them float changed nothing); QuantizationDebugger's
rmse/scale measures error in quantization steps, so a tensor whose scale is far too coarse for
its values (a head concatenated with a head of 100x its range) looks ideal (~0.3).
A tensor kept float is kept float by every op that touches it: its producer and its consumers
(excluding only the producer still quantises it at each consumer's input).

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
        self.end = len(self.rows)

    def __len__(self):
        return len(self.rows)

    def set_range(self, start_index, end_index):
        """The window quantize_static's strided calibration reads (CalibStridedMinMax)."""
        self.i = start_index
        self.end = min(end_index, len(self.rows))

    def get_next(self):
        if self.i >= self.end:
            return None
        row = self.rows[self.i]
        self.i += 1
        return dict(zip(self.names, row, strict=True))

    def rewind(self):
        self.i = 0
        self.end = len(self.rows)


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
    tensorTypes=None,
):
    """QDQ with onnxruntime quantize_static. calibration: [{name, npy, batchAxis}].
    preprocessedOutput: keep quant_pre_process's model there (the node names later attempts
    exclude are that model's); preprocess false: `model` is such a model already.
    tensorTypes: {tensor: QuantType name} for activations quantised to another type than
    activationType (16-bit ones: onnxruntime's TensorQuantOverrides; their Q/DQ move to the
    com.microsoft domain before opset 21)."""
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
        # One sample at a time: the calibrators keep every intermediate output of what they are
        # fed before reducing it (Percentile on a 640x640 detector held 11 GB for 16 samples);
        # fed one by one, MinMax merges to the same ranges and the histograms accumulate.
        extra = {"CalibStridedMinMax": 1, **(extraOptions or {})}
        if tensorTypes:
            overrides = dict(extra.get("TensorQuantOverrides") or {})
            for tensor, kind in tensorTypes.items():
                overrides[tensor] = [{"quant_type": getattr(QuantType, kind)}]
            extra["TensorQuantOverrides"] = overrides
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
            extra_options=extra,
        )
    return {**file_info(output), "nodes": _onnx_node_count(src)}


def _onnx_node_count(path):
    import onnx

    return len(onnx.load(path, load_external_data=False).graph.node)


@op("quant.onnx_rank")
def quant_onnx_rank(floatModel, qdqModel, calibration, limit=8):
    """Activations of the float model ranked by their own quantization error (module doc): each
    tensor the QDQ model quantises with one scale, quantised alone with that scale and zero point,
    SQNR in dB over `limit` calibration samples, worst (lowest) first. `node` is the producer,
    `keep` the nodes to exclude to keep the tensor float (producer and consumers).
    `floatModel` is the model quantize_static read (pre-processed)."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    float_model = onnx.load(floatModel)
    qdq = onnx.load(qdqModel, load_external_data=False)
    params = _qdq_activation_params(qdq, float_model)
    outputs = [o.name for o in float_model.graph.output]
    producers, consumers = {}, {}
    for node in float_model.graph.node:
        for out in node.output:
            producers[out] = node
        for inp in node.input:
            consumers.setdefault(inp, []).append(node.name)
    graph_inputs = {i.name for i in float_model.graph.input}
    weights = {i.name for i in float_model.graph.initializer}
    heads = _heads(
        outputs,
        lambda t: producers.get(t),
        lambda n: [n.name],
        lambda n: [i for i in n.input if i and i not in weights and i not in graph_inputs],
        lambda n: n.op_type in _ONNX_WEIGHTED,
    )
    listed = {o.name for o in float_model.graph.output}
    for tensor in params:
        if tensor not in listed:
            float_model.graph.output.append(onnx.ValueInfoProto(name=tensor))
    with tempfile.TemporaryDirectory(prefix="edgezoo-rank-") as tmp:
        exposed = os.path.join(tmp, "float_all.onnx")
        onnx.save(float_model, exposed)
        session = ort.InferenceSession(exposed, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        rows, inputs = _samples(calibration, limit)
        signal = dict.fromkeys(params, 0.0)
        noise = dict.fromkeys(params, 0.0)
        for row in rows:
            values = dict(zip(names, session.run(None, dict(zip(inputs, row, strict=True))), strict=True))
            for tensor, (scale, zero, lo, hi) in params.items():
                f = np.asarray(values[tensor], dtype=np.float64)
                q = (np.clip(np.round(f / scale) + zero, lo, hi) - zero) * scale
                signal[tensor] += float((f * f).sum())
                noise[tensor] += float(((f - q) ** 2).sum())
        del session
    return _ranking(
        heads,
        [
            {
                "node": producers[t].name if t in producers else "",
                "tensor": t,
                "opType": producers[t].op_type if t in producers else "input",
                "keep": ([producers[t].name] if t in producers else []) + consumers.get(t, []),
                "signal": signal[t],
                "noise": noise[t],
            }
            for t in params
        ],
    )


def _qdq_activation_params(qdq, float_model):
    """{float tensor: (scale, zero_point, qmin, qmax)} of every activation the QDQ model quantises
    with one scale (a graph output's Q reads `<name>_QuantizeLinear_Input`)."""
    import numpy as np
    from onnx import numpy_helper

    inits = {i.name: i for i in qdq.graph.initializer}
    weights = {i.name for i in float_model.graph.initializer}
    tensors = {o for n in float_model.graph.node for o in n.output} | {i.name for i in float_model.graph.input}
    params = {}
    for node in qdq.graph.node:
        if node.op_type != "QuantizeLinear":
            continue
        name = node.input[0]
        if name.endswith("_QuantizeLinear_Input"):
            name = name[: -len("_QuantizeLinear_Input")]
        if name in weights or name not in tensors or node.input[1] not in inits:
            continue
        scale = numpy_helper.to_array(inits[node.input[1]])
        if scale.size != 1:
            continue
        zero = numpy_helper.to_array(inits[node.input[2]]) if len(node.input) > 2 and node.input[2] in inits else None
        info = np.iinfo(zero.dtype if zero is not None else np.uint8)
        params[name] = (
            float(scale.reshape(-1)[0]),
            int(zero.reshape(-1)[0]) if zero is not None else 0,
            info.min,
            info.max,
        )
    return params


# A head ends at the last weighted op of each path; recurrent layers end it too (the state an
# LSTM returns is a head of its own, and walking on through it keeps the whole encoder float).
_ONNX_WEIGHTED = {"Conv", "ConvTranspose", "MatMul", "Gemm", "LSTM", "GRU", "RNN"}
_TFLITE_WEIGHTED = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "TRANSPOSE_CONV",
    "FULLY_CONNECTED",
    "BATCH_MATMUL",
    "CONV_3D",
    "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "BIDIRECTIONAL_SEQUENCE_LSTM",
    "UNIDIRECTIONAL_SEQUENCE_RNN",
    "LSTM",
}


def _heads(outputs, producer, names, inputs, weighted, limit=12):
    """The output heads: from each graph output back through its producers up to and including
    the last weighted op (Conv, MatMul...) on every path, at most `limit` ops per output."""
    heads = []
    for out in outputs:
        stack, seen, count = [out], set(), 0
        while stack and count < limit:
            t = stack.pop()
            node = producer(t)
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            count += 1
            heads += [n for n in names(node) if n and n not in heads]
            if not weighted(node):
                stack += inputs(node)
    return heads


def _ranking(heads, entries):
    """Ranked layers (worst first) from per-tensor signal and noise energies."""
    layers = []
    for e in entries:
        if e["signal"] <= 0:
            continue  # an all-zero tensor: nothing to lose
        sqnr = 10 * math.log10(e["signal"] / e["noise"]) if e["noise"] > 0 else None
        layers.append(
            {
                "node": e["node"],
                "tensor": e["tensor"],
                "opType": e["opType"],
                "keep": sorted(set(e["keep"]), key=e["keep"].index),
                "score": -sqnr if sqnr is not None else -1000.0,
                "sqnr": sqnr,
            }
        )
    layers.sort(key=lambda entry: entry["score"], reverse=True)
    return {
        "layers": layers,
        "heads": heads,
        "metric": "SQNR (dB) of each activation quantised alone with its calibrated scale (score = -SQNR: higher is worse)",
    }


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
    """Activations of a float32 .tflite ranked by their own quantization error (module doc): the
    full int8 model gives each tensor's scale and zero point (by name), the float interpreter
    (no delegate, every tensor kept) its values on `limit` calibration samples. `node` is the
    producer's output tensor name (what denylisted_nodes takes), `keep` the output names of the
    producer and every consumer. Uses the interpreter's private _get_ops_details (TF 2.19 pin)."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.python.optimize import calibrator

    with open(model, "rb") as f:
        content = f.read()
    gen = _tflite_dataset(calibration, limit)
    quantized = convert.mlir_quantize(
        calibrator.Calibrator(content).calibrate(gen),
        fully_quantize=False,
        input_data_type=tf.int8,
        output_data_type=tf.int8,
    )
    params = {}
    q_interp = tf.lite.Interpreter(model_content=quantized)
    for d in q_interp.get_tensor_details():
        qp = d["quantization_parameters"]
        if d["name"] and d["dtype"] in (np.int8, np.int16) and len(qp["scales"]) == 1:
            info = np.iinfo(d["dtype"])
            params[d["name"]] = (float(qp["scales"][0]), int(qp["zero_points"][0]), int(info.min), int(info.max))
    del q_interp
    interp = tf.lite.Interpreter(
        model_content=content,
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    details = {d["name"]: d for d in interp.get_tensor_details()}
    name_of = {d["index"]: d["name"] for d in interp.get_tensor_details()}
    producer, consumers = {}, {}
    for op_ in interp._get_ops_details():
        for t in op_["outputs"]:
            producer[t] = op_
        for t in op_["inputs"]:
            consumers.setdefault(t, []).append(op_)
    tensors = [
        n for n in params if n in details and details[n]["dtype"] == np.float32 and details[n]["index"] in producer
    ]
    signal = dict.fromkeys(tensors, 0.0)
    noise = dict.fromkeys(tensors, 0.0)
    inputs = interp.get_input_details()
    for row in gen():
        for detail, value in zip(inputs, row, strict=True):
            interp.set_tensor(detail["index"], value)
        interp.invoke()
        for t in tensors:
            f = interp.get_tensor(details[t]["index"]).astype(np.float64)
            scale, zero, lo, hi = params[t]
            q = (np.clip(np.round(f / scale) + zero, lo, hi) - zero) * scale
            signal[t] += float((f * f).sum())
            noise[t] += float(((f - q) ** 2).sum())
    entries = []
    for t in tensors:
        index = details[t]["index"]
        ops = [producer[index], *consumers.get(index, [])]
        entries.append(
            {
                "node": t,
                "tensor": t,
                "opType": producer[index]["op_name"],
                "keep": [name_of[o] for op_ in ops for o in op_["outputs"] if o >= 0],
                "signal": signal[t],
                "noise": noise[t],
            }
        )
    heads = _heads(
        [d["index"] for d in interp.get_output_details()],
        lambda t: producer.get(t),
        lambda o: [name_of[x] for x in o["outputs"] if x >= 0],
        lambda o: [x for x in o["inputs"] if x >= 0 and x in producer],
        lambda o: o["op_name"] in _TFLITE_WEIGHTED,
    )
    return _ranking(heads, entries)
