"""tf2onnx 1.17 ("tf" env): TFLite -> ONNX.

Seen on a small CNN made by onnx2tf: the FULLY_CONNECTED bias was dropped (MatMul without Add),
so outputs were off by the bias. Validate every model this op produces against its source.
"""
from __future__ import annotations

from registry import ensure_parent, file_info, op


@op("tf2onnx.from_tflite")
def tf2onnx_from_tflite(model, output, opset=17, options=None):
    from tf2onnx import convert
    convert.from_tflite(model, opset=int(opset), output_path=ensure_parent(output),
                        **(options or {}))
    return file_info(output)
