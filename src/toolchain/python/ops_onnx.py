"""ONNX-to-ONNX ops ("tf" env): simplify, opset upgrade, dynamic quantization, float16, dequantize.
Static QDQ quantization is ops_quant.py's quant.onnx_static (the quantization search)."""

from __future__ import annotations

import math
import os
import sys

from registry import ensure_parent, file_info, op


@op("onnx.slim")
def onnx_slim(model, output, options=None):
    """onnxslim.slim(model, output, **options); options e.g. {"skip_fusion_patterns": [...]}."""
    import contextlib
    import io
    import sys

    import onnxslim

    # onnxslim's summary table calls colorama.init(), which wraps sys.stdout and sys.stderr anew on
    # every call: in a long-lived worker the wrappers nest until a print overflows the recursion
    # limit (after ~250 calls). Fresh buffers per call keep the wrapping to that call; what it
    # printed goes to the step log afterwards.
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            onnxslim.slim(model, ensure_parent(output), **(options or {}))
    finally:
        sys.stderr.write(printed.getvalue())
    return file_info(output)


@op("onnx.quantize_dynamic")
def onnx_quantize_dynamic(
    model,
    output,
    weightType="QInt8",
    opTypes=("MatMul", "Gemm", "Conv", "LSTM", "Attention"),
    perChannel=False,
    extraOptions=None,
    keepFloatShare=None,
    convPerChannel=True,
):
    """Weights int8, activations quantised at run time. Conv is quantised in a second pass with
    uint8 weights: onnxruntime's CPU provider runs ConvInteger only as uint8 x uint8 (with int8
    weights it is NOT_IMPLEMENTED); MatMul, Gemm, LSTM and Attention keep `weightType`.
    `convPerChannel`: ConvInteger has one weight scale per tensor, so a Conv whose output channels
    differ in range loses its small channels; each such Conv's weights are first scaled so every
    output channel spans the same range, and a Mul after it scales the channels back (exact in
    float; the quantised weights then have per-channel precision).
    `keepFloatShare` (0..0.5): that share of the Conv/MatMul/Gemm nodes, those whose weights lose
    the most to their quantization (lowest SQNR under the pass's own per-tensor scheme), stays
    float (`keptFloat`, out of `ranked`), holding at most half of the ranked weights.
    Returns the op types it quantised (`quantized`, node counts by source op type)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    output = ensure_parent(output)
    wanted = list(opTypes) if opTypes else ["MatMul", "Gemm", "Conv", "LSTM", "Attention"]
    present = {}
    loaded = onnx.load(model, load_external_data=False)
    for node in loaded.graph.node:
        present[node.op_type] = present.get(node.op_type, 0) + 1
    kept, ranked, rewritten = [], 0, None
    rescale = convPerChannel and "Conv" in wanted and present.get("Conv")
    if keepFloatShare or rescale:
        # Rewritten on a copy (the input is not touched): nodes named (nodes_to_exclude works by
        # name), Conv weights rescaled per output channel.
        loaded = onnx.load(model)
        _name_nodes(loaded.graph)
        rescaled = _rescale_conv_channels(loaded.graph) if rescale else 0
        if rescaled:
            sys.stderr.write(f"[edgezoo] {rescaled} Conv layer(s) rescaled per output channel before quantisation\n")
        rewritten = output + ".rewritten.onnx"
        onnx.save(loaded, rewritten)
        model = rewritten
        if keepFloatShare:
            weights = _weight_ranking(loaded, wanted, weightType)
            ranked = len(weights)
            kept = _keep_float(weights, keepFloatShare)
    first = [t for t in wanted if t != "Conv"]
    passes = []
    if any(present.get(t) for t in first):
        passes.append((first, getattr(QuantType, weightType)))
    if "Conv" in wanted and present.get("Conv"):
        passes.append((["Conv"], QuantType.QUInt8))
    if not passes:
        # Nothing quantisable: write the model unchanged; the label check then names the problem.
        passes.append((first, getattr(QuantType, weightType)))
    source = model
    for index, (op_types, weight_type) in enumerate(passes):
        target = output if index == len(passes) - 1 else output + f".pass{index}.onnx"
        quantize_dynamic(
            source,
            target,
            weight_type=weight_type,
            op_types_to_quantize=op_types,
            per_channel=perChannel,
            nodes_to_exclude=kept,
            extra_options=extraOptions or {},
        )
        if source != model:
            os.remove(source)
        source = target
    if rewritten:
        os.remove(rewritten)
    quantized = {t: present[t] for ops, _ in passes for t in ops if present.get(t)}
    reply = {**file_info(output), "quantized": quantized}
    if keepFloatShare:
        reply.update(keptFloat=kept, ranked=ranked)
    return reply


def _rescale_conv_channels(graph):
    """Conv(x, W, b) -> Mul(Conv(x, W', b'), r) with W'[c] = W[c] / r[c], b' = b / r, and r[c] =
    max|W[c]| / max|W|: every output channel of W' spans the range of the widest, so one scale per
    tensor quantises each channel as finely as a scale of its own would. Only Conv nodes whose
    weight (and bias) are initializers read by that node alone, with channels that differ.
    Returns how many were rescaled."""
    import numpy as np
    from onnx import helper, numpy_helper

    initializers = {init.name: init for init in graph.initializer}
    readers = {}
    for node in graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    nodes, count = [], 0
    for node in graph.node:
        nodes.append(node)
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in initializers:
            continue
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if readers[node.input[1]] != 1 or (bias and (bias not in initializers or readers[bias] != 1)):
            continue
        w = numpy_helper.to_array(initializers[node.input[1]])
        if w.dtype != np.float32 or w.ndim < 3 or w.shape[0] < 2:
            continue
        peak = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
        if not np.isfinite(peak).all() or peak.max() <= 0 or peak.min() >= peak.max():
            continue
        ratio = np.where(peak > 0, peak / peak.max(), 1.0).astype(np.float32)
        shape = (-1,) + (1,) * (w.ndim - 1)
        initializers[node.input[1]].CopyFrom(numpy_helper.from_array(w / ratio.reshape(shape), node.input[1]))
        if bias:
            b = numpy_helper.to_array(initializers[bias])
            initializers[bias].CopyFrom(numpy_helper.from_array((b / ratio).astype(b.dtype), bias))
        scale = graph.initializer.add()
        scale.CopyFrom(
            numpy_helper.from_array(ratio.reshape((1, -1) + (1,) * (w.ndim - 2)), node.name + "_channel_scale")
        )
        out = node.output[0]
        node.output[0] = out + "_per_channel"
        nodes.append(helper.make_node("Mul", [node.output[0], scale.name], [out], name=node.name + "_channel_scale"))
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return count


def _keep_float(ranking, share):
    """Node names to keep float: the worst-ranked `share` of `ranking` ((sqnr, name, size) worst
    first), at most half of the nodes and at most half of their weights (a dynamic-int8 artifact
    whose weights are mostly float is not one); a layer that would exceed the weight bound is
    passed over for the next."""
    if len(ranking) < 2:
        return []
    count = max(1, min(math.ceil(len(ranking) * share), len(ranking) // 2))
    budget = sum(size for _, _, size in ranking) / 2
    kept, used = [], 0
    for _, name, size in ranking:
        if len(kept) >= count:
            break
        if used + size > budget:
            continue
        kept.append(name)
        used += size
    return kept


def _weight_ranking(model, wanted, weight_type):
    """The Conv/MatMul/Gemm nodes of `wanted` with a constant weight, worst first: (SQNR dB, name,
    weight elements).
    Each weight is quantised as quantize_dynamic's pass would: Conv uint8 asymmetric per tensor,
    the others `weight_type` (int8 symmetric, uint8 asymmetric) per tensor. Data-free: dynamic
    quantization has no calibration samples."""
    import numpy as np
    from onnx import numpy_helper

    weights = {init.name: init for init in model.graph.initializer}
    ranking = []
    for node in model.graph.node:
        if node.op_type not in ("Conv", "MatMul", "Gemm") or node.op_type not in wanted:
            continue
        if len(node.input) < 2 or node.input[1] not in weights:
            continue
        w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float64)
        if w.size == 0 or not np.isfinite(w).all():
            continue
        if node.op_type == "Conv" or weight_type == "QUInt8":
            lo, hi = min(w.min(), 0.0), max(w.max(), 0.0)
            scale = (hi - lo) / 255.0 or 1.0
            zero = np.round(-lo / scale)
            back = (np.clip(np.round(w / scale) + zero, 0, 255) - zero) * scale
        else:
            scale = np.abs(w).max() / 127.0 or 1.0
            back = np.clip(np.round(w / scale), -127, 127) * scale
        signal, noise = float((w**2).sum()), float(((w - back) ** 2).sum())
        sqnr = 10 * math.log10(signal / noise) if noise > 0 and signal > 0 else math.inf
        ranking.append((sqnr, node.name, int(w.size)))
    ranking.sort(key=lambda item: item[0])
    return ranking


def _name_nodes(graph, taken=None):
    """Gives every unnamed (or twice-named) node a unique name, in subgraphs too:
    onnxconverter-common names its Casts after the node ("_input_cast0"), so two unnamed nodes
    give two Casts of one name, which onnxruntime refuses."""
    taken = set() if taken is None else taken
    for index, node in enumerate(graph.node):
        if not node.name or node.name in taken:
            base = f"{node.op_type}_{index}"
            name, n = base, 0
            while name in taken:
                n += 1
                name = f"{base}_{n}"
            node.name = name
        taken.add(node.name)
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                _name_nodes(attr.g, taken)
            for sub in attr.graphs:
                _name_nodes(sub, taken)
    return taken


def _split_consumed_outputs(graph):
    """Gives each graph output that nodes of the graph also read an internal tensor of its own
    (producer -> internal -> Identity -> output): with float32 outputs kept, onnxconverter-common
    casts such an output back to float32 and its readers got the float32 copy next to float16
    inputs ("Type parameter (T) of Optype (MatMul) bound to different types"; Attention's
    qk_matmul_output). Returns the outputs split."""
    from onnx import helper

    consumed = {name for node in graph.node for name in node.input}
    split = []
    for output in graph.output:
        if output.name not in consumed:
            continue
        internal = f"{output.name}/internal"
        for node in graph.node:
            node.input[:] = [internal if name == output.name else name for name in node.input]
            node.output[:] = [internal if name == output.name else name for name in node.output]
        graph.node.append(helper.make_node("Identity", [internal], [output.name], name=f"{output.name}/output"))
        split.append(output.name)
    return split


def _op_refused_by_ort(model_path, model):
    """The op type onnxruntime's type check refuses in the fp16 model (a kernel with no float16,
    or an output it types float32 such as LayerNormalization's Mean), or None when it loads."""
    import re

    import onnxruntime as ort

    try:
        ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        return None, None
    except Exception as error:  # onnxruntime raises its own exception types
        message = str(error)
    found = re.search(r"(?:of operator|of Optype) \((\w+)\)", message)
    if found:
        return found.group(1), message
    found = re.search(r"arg \(([^)]*)\) of node \(([^)]*)\)", message)
    if found:
        tensor, node_name = found.group(1), found.group(2)
        producers = {out: node for node in model.graph.node for out in node.output}
        node = next((n for n in model.graph.node if node_name and n.name == node_name), None) or producers.get(tensor)
        # A Cast the converter inserted: the op it serves is the one that made its input.
        while node is not None and node.op_type == "Cast" and node.input and node.input[0] in producers:
            node = producers[node.input[0]]
        if node is not None and node.op_type != "Cast":
            return node.op_type, message
    return "", message


@op("onnx.float16")
def onnx_float16(model, output, keepIoTypes=True, opBlockList=None):
    """fp16 weights and compute through onnxconverter-common; inputs/outputs stay float32.

    Ops onnxruntime cannot run in float16 (no kernel: Celu; an output its schema types float32:
    LayerNormalization's Mean and InvStdDev) are found by loading the result in onnxruntime and
    kept in float32 (added to the converter's op_block_list), one at a time, until it loads.
    Returns the file info and `blocked`: the op types kept in float32 beyond the converter's own
    list."""
    import onnx
    from onnxconverter_common.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    block = list(opBlockList) if opBlockList is not None else list(DEFAULT_OP_BLOCK_LIST)
    added = []
    for _ in range(12):
        source = onnx.load(model)
        _name_nodes(source.graph)
        if keepIoTypes:
            _split_consumed_outputs(source.graph)
        # onnxconverter-common rewrites every value_info to float16, also of tensors a blocked op
        # (Resize) keeps float32 behind its Cast: onnxruntime then refuses the graph ("Type
        # (tensor(float)) of output arg ... of node ..._output_cast0 does not match tensor(float16)",
        # PP-OCR v4 detector). value_info is optional: onnxruntime infers it again.
        del source.graph.value_info[:]
        m = convert_float_to_float16(source, keep_io_types=keepIoTypes, op_block_list=block)
        onnx.save(m, ensure_parent(output))
        refused, _message = _op_refused_by_ort(output, m)
        if refused is None:
            break
        if not refused or refused in block:
            # Nothing more to keep in float32: the step's validation reports onnxruntime's refusal.
            break
        block.append(refused)
        added.append(refused)
    info = file_info(output)
    info["blocked"] = added
    return info


@op("onnx.upgrade_opset")
def onnx_upgrade_opset(model, output, opset):
    """The model at default-domain opset `opset` (onnx.version_converter), written to `output`.

    Returns {"from", "to", "upgraded": bool, "reason"?}. When the converter fails, or onnxruntime
    cannot load its result, nothing is written and the reason says why: the caller keeps the
    original (an old opset is a risk for later steps, not an error by itself)."""
    import onnx
    from onnx import version_converter

    m = onnx.load(model)
    current = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
    if current is None or current >= int(opset):
        return {"from": current, "to": current, "upgraded": False, "reason": "already at or above the target opset"}
    try:
        converted = version_converter.convert_version(m, int(opset))
        onnx.checker.check_model(converted)
        data = converted.SerializeToString()
        import onnxruntime as ort

        # A graph the converter wrote but onnxruntime refuses would fail every later step.
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as error:
        return {
            "from": current,
            "to": current,
            "upgraded": False,
            "reason": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",
        }
    with open(ensure_parent(output), "wb") as f:
        f.write(data)
    return {"from": current, "to": int(opset), "upgraded": True}


def _dequantize_dynamic(model):
    """Rewrites onnxruntime quantize_dynamic's integer blocks back to float, in place:
        xq, xs, xzp = DynamicQuantizeLinear(x)
        y = Mul(Cast(ConvInteger|MatMulInteger(xq, wq, xzp, wzp)), Mul(xs, ws))
    becomes y = Conv|MatMul(x, (wq - wzp) * ws) with the float weight as an initializer (Conv
    keeps its attributes; a per-channel ws is broadcast over the output channels). Returns the
    number of blocks rewritten and the integer op types left (not of this form)."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def const(name):
        if name in inits:
            return numpy_helper.to_array(inits[name])
        node = producer.get(name)
        if node is not None and node.op_type == "Constant":
            return numpy_helper.to_array(node.attribute[0].t)
        return None

    def only_consumer(name, op_type):
        found = consumers.get(name, [])
        return found[0] if len(found) == 1 and found[0].op_type == op_type else None

    removed, added, new_inits = set(), [], []
    count = 0
    for node in list(graph.node):
        if node.op_type not in ("ConvInteger", "MatMulInteger") or len(node.input) < 2:
            continue
        dq = producer.get(node.input[0])
        if dq is None or dq.op_type != "DynamicQuantizeLinear":
            continue
        if len(node.input) > 2 and node.input[2] and node.input[2] != dq.output[2]:
            continue
        wq = const(node.input[1])
        wzp = const(node.input[3]) if len(node.input) > 3 and node.input[3] else np.zeros((), dtype=np.int32)
        cast = only_consumer(node.output[0], "Cast")
        mul = cast and only_consumer(cast.output[0], "Mul")
        if wq is None or wzp is None or cast is None or mul is None:
            continue
        scale_name = next((i for i in mul.input if i != cast.output[0]), None)
        scale_mul = producer.get(scale_name)
        if scale_mul is None or scale_mul.op_type != "Mul" or dq.output[1] not in scale_mul.input:
            continue
        ws = const(next(i for i in scale_mul.input if i != dq.output[1]))
        if ws is None:
            continue
        if node.op_type == "ConvInteger":
            zp = wzp.reshape(-1, *([1] * (wq.ndim - 1))) if wzp.ndim == 1 else wzp
            scale = ws.reshape(-1, *([1] * (wq.ndim - 1))) if ws.ndim == 1 else ws
        else:
            zp, scale = wzp, ws  # MatMul: per-column along the last axis, broadcast as is
        weight = ((wq.astype(np.float32) - zp.astype(np.float32)) * scale.astype(np.float32)).astype(np.float32)
        wname = f"{node.name or node.output[0]}_dequantized_weight"
        new_inits.append(numpy_helper.from_array(weight, wname))
        float_op = "Conv" if node.op_type == "ConvInteger" else "MatMul"
        added.append(
            (
                node,
                helper.make_node(
                    float_op,
                    [dq.input[0], wname],
                    [mul.output[0]],
                    name=f"{node.name or node.output[0]}_float",
                    **({a.name: helper.get_attribute_value(a) for a in node.attribute} if float_op == "Conv" else {}),
                ),
            )
        )
        removed.update(id(n) for n in (node, cast, mul))
        count += 1
    if count:
        order = []
        replacement = {id(old): new for old, new in added}
        for node in graph.node:
            if id(node) in replacement:
                order.append(replacement[id(node)])
            elif id(node) not in removed:
                order.append(node)
        # Nodes that only fed the removed ones (DynamicQuantizeLinear, the scale Mul) go when unused.
        while True:
            used = {name for node in order for name in node.input} | {o.name for o in graph.output}
            kept = [
                n
                for n in order
                if n.op_type not in ("DynamicQuantizeLinear", "Mul", "Constant") or any(o in used for o in n.output)
            ]
            if len(kept) == len(order):
                break
            order = kept
        del graph.node[:]
        graph.node.extend(order)
        graph.initializer.extend(new_inits)
        used = {name for node in graph.node for name in node.input}
        kept_inits = [t for t in graph.initializer if t.name in used]
        del graph.initializer[:]
        graph.initializer.extend(kept_inits)
    left = sorted(
        {n.op_type for n in graph.node if n.op_type in ("ConvInteger", "MatMulInteger", "DynamicQuantizeLinear")}
    )
    return count, left


@op("onnx.dequantize")
def onnx_dequantize(model, output):
    """A dynamically quantized model (onnxruntime quantize_dynamic: DynamicQuantizeLinear +
    ConvInteger/MatMulInteger) as a float one, so every converter sees float ops. Returns the file
    info, `rewritten` (blocks made float) and `left` (integer op types of another form, kept)."""
    import onnx

    m = onnx.load(model)
    count, left = _dequantize_dynamic(m)
    onnx.save(m, ensure_parent(output))
    info = file_info(output)
    info["rewritten"] = count
    info["left"] = left
    return info


def _function_body(node, input_types, opset):
    """The nodes of `node`'s ONNX function body at the newest function version <= `opset`
    (context-dependent functions are built for the node's input types), with the node's inputs,
    outputs and attributes (schema defaults for the ones it leaves out) substituted; None when the
    op has no function body at that opset."""
    import onnx
    from onnx.backend.test.case.node import function_expand_helper

    try:
        schema = onnx.defs.get_schema(node.op_type, opset, domain=node.domain)
    except onnx.defs.SchemaError:
        return None
    node = onnx.NodeProto.FromString(node.SerializeToString())
    given = {a.name for a in node.attribute}
    for name, attribute in schema.attributes.items():
        if name not in given and attribute.default_value and attribute.default_value.name:
            node.attribute.append(attribute.default_value)
    plain = [v for v in schema.function_opset_versions if v <= opset]
    dependent = [v for v in schema.context_dependent_function_opset_versions if v <= opset]
    function = onnx.FunctionProto()
    if plain and (not dependent or max(plain) >= max(dependent)):
        function.ParseFromString(schema.get_function_with_opset_version(max(plain)))
    elif dependent:
        if any(t is None for t in input_types):
            return None
        function.ParseFromString(
            schema.get_context_dependent_function_with_opset_version(
                max(dependent), node.SerializeToString(), [t.SerializeToString() for t in input_types]
            )
        )
    else:
        return None
    prefix = f"{node.name or node.output[0]}/{node.op_type}/"
    return function_expand_helper(node, function, prefix)


@op("onnx.expand_functions")
def onnx_expand_functions(model, output, opTypes):
    """Replaces each top-level node whose op type is in `opTypes` and that ONNX defines as a
    function (LayerNormalization, RMSNormalization, Attention, RotaryEmbedding, GroupNormalization,
    CenterCropPad...) with the function's body at the model's opset: the same computation in
    primitive ops, which converters lacking the op (or some of its forms) handle. Returns
    {"expanded": [op types, one per node], "output": written or None when nothing changed}."""
    import onnx

    m = onnx.load(model)
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        return {"expanded": [], "output": None}
    wanted = set(opTypes)
    expanded = []
    # A body may call another function op (SoftmaxCrossEntropyLoss's calls
    # NegativeLogLikelihoodLoss): expand again, a few levels deep at most.
    for _ in range(4):
        if not any(n.op_type in wanted and n.domain in ("", "ai.onnx") for n in m.graph.node):
            break
        inferred = onnx.shape_inference.infer_shapes(m)
        types = {v.name: v.type for v in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]}
        for init in m.graph.initializer:
            types[init.name] = onnx.helper.make_tensor_type_proto(init.data_type, list(init.dims))
        nodes, level = [], []
        for node in m.graph.node:
            body = None
            if node.op_type in wanted and node.domain in ("", "ai.onnx"):
                body = _function_body(node, [types.get(name) for name in node.input], opset)
            if body is None:
                nodes.append(node)
                continue
            nodes.extend(body)
            level.append(node.op_type)
        if not level:
            break
        expanded += level
        del m.graph.node[:]
        m.graph.node.extend(nodes)
    if not expanded:
        return {"expanded": [], "output": None}
    onnx.checker.check_model(m)
    onnx.save(m, ensure_parent(output))
    # The bodies compute shapes and reshape constants at run time (Flatten of the scale, Shape of
    # X): onnxslim folds them as prepare folds the rest of the model. onnx2tf got a Flatten of a
    # 1-D constant wrong (LayerNormalization's Y off by up to 4).
    onnx_slim(output, output)
    return {"expanded": expanded, "output": output}


def _resize_matrix(attributes, size_in, size_out, scale, roi, opset):
    """The [size_in, size_out] matrix W with resize(x)[o] = sum_j x[j] W[j, o] along one axis:
    onnxruntime resizes the rows of an identity matrix with the node's own attributes."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    inputs = ["x", "roi"]
    inits = [numpy_helper.from_array(np.asarray([0, roi[0], 1, roi[1]], np.float32), "roi")]
    if scale is not None:
        inputs.append("scales")
        inits.append(numpy_helper.from_array(np.asarray([1, scale], np.float32), "scales"))
    else:
        inputs += ["", "sizes"]
        inits.append(numpy_helper.from_array(np.asarray([size_in, size_out], np.int64), "sizes"))
    kept = [a for a in attributes if a.name not in ("axes", "keep_aspect_ratio_policy")]
    node = helper.make_node("Resize", inputs, ["y"])
    node.attribute.extend(kept)
    graph = helper.make_graph(
        [node],
        "resize_matrix",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size_in, size_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", max(opset, 13))])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (matrix,) = session.run(None, {"x": np.eye(size_in, dtype=np.float32)})
    return matrix if matrix.shape == (size_in, size_out) else None


@op("onnx.resize_to_matmul")
def onnx_resize_to_matmul(model, output):
    """Replaces each float Resize/Upsample with constant scales or sizes and a static input
    shape by one MatMul per resized axis with the interpolation matrix that axis needs (from
    onnxruntime's own Resize of an identity matrix), behind a Transpose that brings the axis
    last: exact for every mode (nearest with any rounding, linear, cubic, antialias, every
    coordinate transformation) in ops every converter has builtin. Nodes it cannot (an
    extrapolation value other than 0, run-time scales) are left. Returns {"rewritten": [names],
    "output": written or None}."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(model)
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 13)
    inferred = onnx.shape_inference.infer_shapes(m)
    shapes = {}
    for v in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
        if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and dims and all(d for d in dims):
            shapes[v.name] = dims
    consts = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for node in m.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    nodes, rewritten, inits = [], [], []
    for node in m.graph.node:
        replaced = None
        if node.op_type in ("Resize", "Upsample") and node.domain in ("", "ai.onnx"):
            replaced = _resize_nodes(node, shapes, consts, opset, inits)
        if replaced is None:
            nodes.append(node)
            continue
        nodes.extend(replaced)
        rewritten.append(node.name or node.output[0])
    if not rewritten:
        return {"rewritten": [], "output": None}
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.extend(inits)
    onnx.checker.check_model(m)
    onnx.save(m, ensure_parent(output))
    onnx_slim(output, output)
    return {"rewritten": rewritten, "output": output}


def _resize_nodes(node, shapes, consts, opset, inits):
    import numpy as np
    from onnx import helper, numpy_helper

    x = node.input[0]
    shape_in = shapes.get(x)
    shape_out = shapes.get(node.output[0])
    if shape_in is None or shape_out is None or len(shape_in) != len(shape_out):
        return None
    rank = len(shape_in)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    axes = list(attrs.get("axes", range(rank)))
    axes = [a + rank if a < 0 else a for a in axes]
    if node.op_type == "Upsample" or opset < 11:
        scales_name = node.input[1] if len(node.input) > 1 else ""
        sizes_name, roi_name = "", ""
    else:
        roi_name = node.input[1] if len(node.input) > 1 else ""
        scales_name = node.input[2] if len(node.input) > 2 else ""
        sizes_name = node.input[3] if len(node.input) > 3 else ""

    def const(name):
        return None if not name else consts.get(name)

    scales, sizes, roi = const(scales_name), const(sizes_name), const(roi_name)
    if (scales_name and scales is None) or (sizes_name and sizes is None) or (roi_name and roi is None):
        return None
    if scales is not None and scales.size == 0:
        scales = None
    if sizes is not None and sizes.size == 0:
        sizes = None
    coordinate = attrs.get("coordinate_transformation_mode", b"half_pixel")
    if coordinate == b"tf_crop_and_resize" and float(attrs.get("extrapolation_value", 0.0)) != 0.0:
        return None
    full_scale = [None] * rank
    if scales is not None and sizes is None:
        for k, axis in enumerate(axes):
            full_scale[axis] = float(scales[k])
    full_roi = [(0.0, 1.0)] * rank
    if roi is not None and roi.size:
        count = roi.size // 2
        for k, axis in enumerate(axes[:count]):
            full_roi[axis] = (float(roi[k]), float(roi[k + count]))
    mode_attrs = [a for a in node.attribute]
    if node.op_type == "Upsample":
        mode_attrs = [helper.make_attribute("mode", attrs.get("mode", b"nearest"))]
        if attrs.get("mode", b"nearest") == b"nearest":
            mode_attrs += [
                helper.make_attribute("coordinate_transformation_mode", "asymmetric"),
                helper.make_attribute("nearest_mode", "floor"),
            ]
    label = node.name or node.output[0]
    current = x
    out_nodes = []
    resized = [
        axis
        for axis in range(rank)
        if shape_in[axis] != shape_out[axis] or (full_scale[axis] not in (None, 1.0)) or full_roi[axis] != (0.0, 1.0)
    ]
    if not resized:
        return [helper.make_node("Identity", [x], [node.output[0]], name=f"{label}/identity")]
    for index, axis in enumerate(resized):
        matrix = _resize_matrix(mode_attrs, shape_in[axis], shape_out[axis], full_scale[axis], full_roi[axis], opset)
        if matrix is None:
            return None
        weight = f"{label}/resize_matrix_{axis}"
        inits.append(numpy_helper.from_array(matrix.astype(np.float32), weight))
        last = index == len(resized) - 1
        target = node.output[0] if last else f"{label}/resized_{axis}"
        if axis == rank - 1:
            out_nodes.append(helper.make_node("MatMul", [current, weight], [target], name=f"{label}/matmul_{axis}"))
        else:
            perm = [a for a in range(rank) if a != axis] + [axis]
            inverse = [perm.index(a) for a in range(rank)]
            moved, product = f"{label}/moved_{axis}", f"{label}/product_{axis}"
            out_nodes += [
                helper.make_node("Transpose", [current], [moved], perm=perm, name=f"{label}/move_{axis}"),
                helper.make_node("MatMul", [moved, weight], [product], name=f"{label}/matmul_{axis}"),
                helper.make_node("Transpose", [product], [target], perm=inverse, name=f"{label}/back_{axis}"),
            ]
        current = target
    return out_nodes
