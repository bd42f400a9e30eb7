"""PyTorch -> TFLite with litert-torch 0.9 ("torch" env): float32, or int8 through PT2E.

The model is converted returning a dict of its named outputs (torch_source.with_named_outputs):
litert-torch calls a tuple's outputs output_0, output_1... but keeps a dict's keys, so the
signature's output keys are the names the reference uses, the recipe's included."""

from __future__ import annotations

from registry import OpError, ensure_parent, file_info, op
from torch_source import example_inputs, load_model, with_named_outputs


@op("litert_torch.convert")
def litert_torch_convert(source, inputs, output, quantize=None, calibration=None, perChannel=True):
    """quantize: None (float32) or "pt2e_int8" (symmetric int8 weights and activations, static;
    calibration: [.npy per input, samples on axis 0]). The int8 model has int8 inputs/outputs.
    Returns the file and the source's outputs [{name, shape, dtype}], as the signature keys name them."""
    import litert_torch
    import torch

    args = example_inputs(inputs)
    model, outputs = with_named_outputs(source, load_model(source), args)
    output = ensure_parent(output)
    if not quantize:
        litert_torch.convert(model, args).export(output)
        return {**file_info(output), "outputs": outputs}
    if not calibration:
        raise OpError("CALIBRATION_MISSING", "pt2e_int8 needs calibration data")
    import numpy as np
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=bool(perChannel)))
    graph = prepare_pt2e(torch.export.export(model, args).module(), quantizer)
    arrays = [np.load(p) for p in calibration]
    with torch.no_grad():
        for i in range(min(len(a) for a in arrays)):
            graph(*[torch.from_numpy(np.ascontiguousarray(a[i : i + 1])) for a in arrays])
    graph = convert_pt2e(graph, fold_quantize=False)
    move_exported_model_to_eval(graph)
    litert_torch.convert(graph, args, quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(output)
    return {**file_info(output), "outputs": outputs}
