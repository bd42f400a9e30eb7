"""tf2onnx 1.17 ("tf" env): TFLite -> ONNX.

tf2onnx 1.17 drops the bias of a FULLY_CONNECTED op whose input has rank > 2 and
keep_num_dims=0 (its handler reshapes the input and replaces the op's inputs with
[reshaped, weights], forgetting input 2), so outputs are off by the bias. onnx2tf writes exactly
such ops for a Flatten + Linear head. `_keep_fully_connected_bias` re-adds the bias as an Add
after the MatMul. Validate every model this op produces against its source all the same.
"""

from __future__ import annotations

from registry import ensure_parent, file_info, op

_patched = False


def _keep_fully_connected_bias():
    global _patched
    if _patched:
        return
    from tf2onnx.handler import tf_op
    from tf2onnx.tflite_handlers import tfl_math  # noqa: F401  (registers the handler)

    for opset in tf_op.get_opsets().get("com.google.tensorflow", []):
        entry = opset.get("TFL_FULLY_CONNECTED")
        if not entry:
            continue
        original, kwargs = entry

        def to_tf(ctx, node, _original=original, **kw):
            loses_bias = (
                len(node.input) == 3
                and node.input[2] != ""
                and node.attr["keep_num_dims"].i == 0
                and ctx.get_rank(node.input[0]) != 2
            )
            bias = node.input[2] if loses_bias else None
            _original(ctx, node, **kw)
            if bias is not None and len(node.input) == 2:
                add = ctx.insert_new_node_on_output("Add", node.output[0], inputs=[node.output[0], bias])
                add.skip_conversion = True

        opset["TFL_FULLY_CONNECTED"] = (to_tf, kwargs)
    _patched = True


@op("tf2onnx.from_tflite")
def tf2onnx_from_tflite(model, output, opset=17, options=None):
    _keep_fully_connected_bias()
    from tf2onnx import convert

    convert.from_tflite(model, opset=int(opset), output_path=ensure_parent(output), **(options or {}))
    return file_info(output)
