"""NNCF ("tf" env): OpenVINO IR int8 by post-training quantization with the recipe's samples."""

from __future__ import annotations

import os

from ops_quant import _samples
from registry import file_info, op


@op("nncf.quantize")
def nncf_quantize(model, output, calibration, subsetSize=300, preset="performance", rtInfo=None):
    """model: ONNX, read with openvino.convert_model; calibration: [{name, npy, batchAxis}] (one
    dict of inputs per sample); output: the .xml (the .bin beside it). preset "performance"
    (symmetric activations) or "mixed" (asymmetric activations)."""
    # Imported here, not at the top: a broken ops_openvino module then costs its own ops only
    # (the worker reports it), not this one's too.
    from ops_openvino import ensure_telemetry_off

    ensure_telemetry_off()
    import nncf
    import openvino as ov

    rows, names = _samples(calibration)
    ov_model = ov.convert_model(model)
    dataset = nncf.Dataset([dict(zip(names, row, strict=True)) for row in rows])
    quantized = nncf.quantize(
        ov_model,
        dataset,
        preset=nncf.QuantizationPreset.MIXED if preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE,
        subset_size=min(int(subsetSize), len(rows)),
    )
    for key, value in (rtInfo or {}).items():
        quantized.set_rt_info(str(value), ["edgezoo", key])
    xml = os.path.abspath(output if output.endswith(".xml") else output + ".xml")
    os.makedirs(os.path.dirname(xml), exist_ok=True)
    ov.save_model(quantized, xml, compress_to_fp16=False)
    fq = sum(1 for node in quantized.get_ordered_ops() if node.get_type_name() == "FakeQuantize")
    return {"xml": file_info(xml), "bin": file_info(xml[:-4] + ".bin"), "fakeQuantize": fq}
