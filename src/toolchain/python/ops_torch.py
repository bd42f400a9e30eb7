"""PyTorch -> ONNX ("torch" env) with torch.onnx.export.

torch 2.13: the dynamo exporter (default, needs onnxscript) works at opset >= 18 (asking for 17
warns and stays at 18) and writes weights to <output>.data unless external_data=False; the
TorchScript exporter (dynamo=False) still works at opset 17 with a DeprecationWarning. Left to
themselves the exporters name outputs after graph values ("4", "onnx::ReduceMean_6", "linear"):
the export always passes the names the reference uses (torch_source.named_outputs).
"""

from __future__ import annotations

from registry import ensure_parent, file_info, op
from torch_source import example_inputs, load_model, source_outputs


@op("torch.onnx_export")
def torch_onnx_export(
    source,
    inputs,
    output,
    opset=18,
    dynamo=True,
    inputNames=None,
    dynamicAxes=None,
    externalData=False,
    optimize=True,
):
    import torch

    model = load_model(source)
    args = example_inputs(inputs)
    names = [output["name"] for output in source_outputs(source, model, args)]
    kwargs = dict(input_names=inputNames, output_names=names, opset_version=int(opset), dynamo=bool(dynamo))
    if dynamo:
        kwargs.update(external_data=bool(externalData), optimize=bool(optimize))
    if dynamicAxes:
        kwargs["dynamic_axes"] = dynamicAxes
    with torch.no_grad():
        torch.onnx.export(model, args, ensure_parent(output), **kwargs)
    return file_info(output)
