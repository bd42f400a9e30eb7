"""OpenVINO ("tf" env): ONNX or TFLite -> IR (.xml + .bin), the Python side of `ovc`."""
from __future__ import annotations

import os

from registry import file_info, op


def ensure_telemetry_off():
    """OpenVINO sends telemetry unless ~/intel/openvino_telemetry holds "0" (there is no
    environment variable; only CI=true also disables it). Same effect as `opt_in_out --opt_out`."""
    path = os.path.join(os.path.expanduser("~"), "intel", "openvino_telemetry")
    try:
        with open(path) as f:
            if f.read().strip() == "0":
                return path
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("0")
    return path


@op("openvino.convert")
def openvino_convert(model, output, compressToFp16=False, inputShapes=None):
    """output: the .xml path (the .bin goes beside it). compressToFp16 stores weights as fp16
    (ovc's default is True; edgezoo's is False). inputShapes: {"name": [1,3,224,224]}."""
    ensure_telemetry_off()
    import openvino as ov
    kwargs = {}
    if inputShapes:
        kwargs["input"] = {k: ov.PartialShape(v) for k, v in inputShapes.items()}
    m = ov.convert_model(model, **kwargs)
    xml = os.path.abspath(output if output.endswith(".xml") else output + ".xml")
    os.makedirs(os.path.dirname(xml), exist_ok=True)
    ov.save_model(m, xml, compress_to_fp16=bool(compressToFp16))
    return {"xml": file_info(xml), "bin": file_info(xml[:-4] + ".bin")}
