"""LiteRT interpreter (both envs, through ai-edge-litert): inspect and run .tflite files."""

from __future__ import annotations

from registry import op


def _details(d):
    scale, zero = d.get("quantization", (0.0, 0))
    return {
        "name": d["name"],
        "shape": [int(x) for x in d["shape"]],
        "dtype": d["dtype"].__name__,
        "scale": float(scale),
        "zeroPoint": int(zero),
    }


@op("tflite.info")
def tflite_info(model):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=model)
    ops = {}
    try:
        for o in it._get_ops_details():
            ops[o["op_name"]] = ops.get(o["op_name"], 0) + 1
    except Exception:
        ops = None
    return {
        "inputs": [_details(d) for d in it.get_input_details()],
        "outputs": [_details(d) for d in it.get_output_details()],
        "ops": ops,
    }


@op("tflite.run")
def tflite_run(model, inputs, outputs):
    """inputs: [.npy per model input, in order]; writes each output to the given .npy paths."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=model)
    it.allocate_tensors()
    for d, path in zip(it.get_input_details(), inputs, strict=False):
        it.set_tensor(d["index"], np.load(path).astype(d["dtype"], copy=False))
    it.invoke()
    for d, path in zip(it.get_output_details(), outputs, strict=False):
        np.save(path, it.get_tensor(d["index"]))
    return {"outputs": list(outputs)}
