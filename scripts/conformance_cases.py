"""Turns the onnx package's backend node tests into material for edgezoo recipes.

Run by scripts/conformance.ts with the "tf" environment's Python (onnx, onnxruntime, numpy):

    python conformance_cases.py NODE_DIR OUT_DIR [--filter REGEX]

For every case folder NODE_DIR/<case>/{model.onnx, test_data_set_0/*.pb} it decides whether the
case is in scope, and for those in scope writes OUT_DIR/models/<case>/model.onnx and the case's
own input tensors as .npy samples (val/0.npy for one input, val/0.<input>.npy for several). It
prints one JSON document on stdout: a record per case with its op, its inputs (name, dtype,
shape) and a status:

- "out-of-scope": not a float32 case (an output is not float32, or no input is float32), or a
  model that is not a plain tensor graph (sequences, optionals, training ops).
- "ort-mismatch": onnxruntime fails on the model or does not reproduce the expected outputs
  (rtol 1e-3, atol 1e-5 as onnx's own backend tests, shapes exact): converters are not judged on
  cases their reference runtime gets wrong.
- "ok": in scope; its material is written. `parameterInputs` names the graph inputs that feed a
  weight, scale or bias slot (Conv W, LayerNormalization scale, LSTM W/R/B...): a real model has
  constants there.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

# Node inputs from this index on hold parameters (weights, scales, biases, recurrent weights,
# resize scales) in a real model: a test that feeds them as graph inputs asks converters for a
# runtime weight or a data-dependent output shape, which real models do not.
PARAMETER_SLOTS = {
    "Conv": 1,
    "ConvTranspose": 1,
    "DeformConv": 1,
    "BatchNormalization": 1,
    "InstanceNormalization": 1,
    "LayerNormalization": 1,
    "GroupNormalization": 1,
    "RMSNormalization": 1,
    "PRelu": 1,
    "Gemm": 1,
    "LSTM": 1,
    "GRU": 1,
    "RNN": 1,
    "Resize": 1,
    "Upsample": 1,
}

# Test-name prefixes that abbreviate their op.
ABBREVIATIONS = {
    "mvn": "MeanVarianceNormalization",
    "nllloss": "NegativeLogLikelihoodLoss",
    "sce": "SoftmaxCrossEntropyLoss",
}

RTOL = 1e-3
ATOL = 1e-5

DTYPE_NAMES = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.DOUBLE: "float64",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.BOOL: "bool",
}


def snake(name: str) -> str:
    """LayerNormalization -> layer_normalization, the spelling the test names use."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def op_names() -> list[tuple[str, str]]:
    """(snake_case, OpName) of every default-domain op, longest first."""
    names = {schema.name for schema in onnx.defs.get_all_schemas() if schema.domain in ("", "ai.onnx")}
    return sorted(((snake(name), name) for name in names), key=lambda pair: -len(pair[0]))


def case_op(case: str, model: onnx.ModelProto, ops: list[tuple[str, str]]) -> str:
    """The op a case tests: its only node's op, else (expanded cases: a function body, sometimes a
    single Cast or Identity) the op its name starts with."""
    if len(model.graph.node) == 1 and "expanded" not in case:
        return model.graph.node[0].op_type
    stem = case.removeprefix("test_")
    for snake_name, name in ops:
        if stem == snake_name or stem.startswith(snake_name + "_"):
            return name
    # Some names run the words together (test_hardsigmoid_..., test_leakyrelu_...) or abbreviate.
    first = stem.split("_")[0]
    if first in ABBREVIATIONS:
        return ABBREVIATIONS[first]
    for _, name in ops:
        if first == name.lower():
            return name
    return model.graph.node[0].op_type if model.graph.node else "?"


def value_info_of(value: onnx.ValueInfoProto) -> dict | None:
    """name, dtype and shape of a graph input or output; None for non-tensor types."""
    if not value.type.HasField("tensor_type"):
        return None
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
    return {"name": value.name, "dtype": DTYPE_NAMES.get(tensor.elem_type, str(tensor.elem_type)), "shape": dims}


def load_tensors(folder: Path, prefix: str) -> list[np.ndarray]:
    files = sorted(folder.glob(f"{prefix}_*.pb"), key=lambda f: int(f.stem.split("_")[-1]))
    arrays = []
    for file in files:
        tensor = onnx.TensorProto()
        tensor.ParseFromString(file.read_bytes())
        arrays.append(numpy_helper.to_array(tensor))
    return arrays


def check_case(case_dir: Path, ops: list[tuple[str, str]]) -> dict:
    case = case_dir.name
    record: dict = {"case": case}
    try:
        model = onnx.load(str(case_dir / "model.onnx"))
    except Exception as error:  # an unloadable model is out of scope, not a crash of the suite
        return {**record, "op": "?", "status": "out-of-scope", "reason": f"onnx.load: {error}"}
    record["op"] = case_op(case, model, ops)
    record["nodes"] = len(model.graph.node)
    record["opset"] = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    inputs = [value_info_of(v) for v in model.graph.input]
    graph_inputs = {v.name for v in model.graph.input}
    outputs = [value_info_of(v) for v in model.graph.output]
    if any(v is None for v in inputs + outputs):
        return {**record, "status": "out-of-scope", "reason": "a non-tensor input or output (sequence, optional)"}
    record["inputs"] = inputs
    record["parameterInputs"] = sorted(
        {
            name
            for node in model.graph.node
            for index, name in enumerate(node.input)
            if node.op_type in PARAMETER_SLOTS and index >= PARAMETER_SLOTS[node.op_type] and name in graph_inputs
        }
    )
    record["outputs"] = outputs
    if any(domain.domain not in ("", "ai.onnx") for domain in model.opset_import):
        return {**record, "status": "out-of-scope", "reason": "uses a non-default op domain (training, preview)"}
    if not outputs or any(o["dtype"] != "float32" for o in outputs):
        return {**record, "status": "out-of-scope", "reason": "an output is not float32"}
    if not any(i["dtype"] == "float32" for i in inputs):
        return {**record, "status": "out-of-scope", "reason": "no float32 input"}
    data = case_dir / "test_data_set_0"
    feeds = load_tensors(data, "input")
    expected = load_tensors(data, "output")
    if len(feeds) != len(inputs) or len(expected) != len(outputs):
        return {**record, "status": "out-of-scope", "reason": "test data does not match the graph's inputs/outputs"}
    # The data's shapes are the truth for the recipe (graph inputs may have symbolic dims).
    for info, array in zip(inputs, feeds, strict=True):
        info["shape"] = list(array.shape)
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(case_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
        got = session.run(None, {info["name"]: array for info, array in zip(inputs, feeds, strict=True)})
    except Exception as error:
        return {**record, "status": "ort-mismatch", "reason": f"onnxruntime fails: {str(error).splitlines()[0][:300]}"}
    for info, want, have in zip(outputs, expected, got, strict=True):
        if want.shape != have.shape:
            return {
                **record,
                "status": "ort-mismatch",
                "reason": f"output {info['name']}: shape {list(have.shape)} instead of {list(want.shape)}",
            }
        if not np.allclose(have, want, rtol=RTOL, atol=ATOL, equal_nan=True):
            worst = float(np.nanmax(np.abs(have.astype(np.float64) - want.astype(np.float64))))
            return {**record, "status": "ort-mismatch", "reason": f"output {info['name']}: max abs error {worst:.3g}"}
    record["status"] = "ok"
    record["feeds"] = feeds
    return record


def write_material(record: dict, case_dir: Path, out: Path) -> None:
    folder = out / "models" / record["case"]
    val = folder / "val"
    if folder.exists():
        shutil.rmtree(folder)
    val.mkdir(parents=True)
    shutil.copyfile(case_dir / "model.onnx", folder / "model.onnx")
    feeds = record.pop("feeds")
    single = len(record["inputs"]) == 1
    for info, array in zip(record["inputs"], feeds, strict=True):
        np.save(val / ("0.npy" if single else f"0.{info['name']}.npy"), array)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("node_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--filter", default=None, help="regular expression on the case name")
    args = parser.parse_args()
    pattern = re.compile(args.filter) if args.filter else None
    ops = op_names()
    records = []
    for case_dir in sorted(p for p in args.node_dir.iterdir() if (p / "model.onnx").is_file()):
        if pattern and not pattern.search(case_dir.name):
            continue
        record = check_case(case_dir, ops)
        if record["status"] == "ok":
            write_material(record, case_dir, args.out_dir)
        records.append(record)
    json.dump({"onnx": onnx.__version__, "onnxruntime": ort.__version__, "cases": records}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
