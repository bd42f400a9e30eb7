"""OpenVINO ("tf" env): ONNX or TFLite -> IR (.xml + .bin), the Python side of `ovc`."""

from __future__ import annotations

import os
import re

from registry import file_info, op, unsupported_ops

_NO_RULE = re.compile(r"No conversion rule found for operations: ([^\n]+)")


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
def openvino_convert(model, output, compressToFp16=False, inputShapes=None, rtInfo=None):
    """output: the .xml path (the .bin goes beside it). compressToFp16 stores weights as fp16
    (ovc's default is True; edgezoo's is False). inputShapes: {"name": [1,3,224,224]}.
    rtInfo: {key: str} stored in the IR's rt_info under "edgezoo" (read back with
    Model.get_rt_info(["edgezoo", key]))."""
    ensure_telemetry_off()
    import openvino as ov

    kwargs = {}
    if inputShapes:
        kwargs["input"] = {k: ov.PartialShape(v) for k, v in inputShapes.items()}
    try:
        m = ov.convert_model(model, **kwargs)
    except Exception as error:
        # OpConversionFailure: "... No conversion rule found for operations: com.example.Mystery, X"
        found = _NO_RULE.search(str(error))
        if not found:
            raise
        op_types = [t.strip() for t in found.group(1).split(",")]
        raise unsupported_ops(model, op_types, f"{type(error).__name__}: {found.group(0).strip()}") from error
    for key, value in (rtInfo or {}).items():
        m.set_rt_info(str(value), ["edgezoo", key])
    xml = os.path.abspath(output if output.endswith(".xml") else output + ".xml")
    os.makedirs(os.path.dirname(xml), exist_ok=True)
    ov.save_model(m, xml, compress_to_fp16=bool(compressToFp16))
    del m
    _stable_layer_names(xml)
    return {"xml": file_info(xml), "bin": file_info(xml[:-4] + ".bin")}


# Names OpenVINO makes up for nodes it creates: the type and a process-wide counter
# (`Reshape_2691`), with suffixes its passes add (`Reshape_2691_compressed`).
_MADE_UP_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9]*)_\d+((?:_[A-Za-z]+)*)$")


def _stable_layer_names(xml):
    """Renames the layers OpenVINO named from its process-wide node counter after their place
    in the graph, so the same model gives the same IR bytes whatever the worker converted before
    (a shard's worker and a one-machine build's worker see other models first). Only layer names
    change: inputs and outputs (Parameter, Result) keep theirs, and tensor names are untouched."""
    import openvino as ov

    model = ov.Core().read_model(xml)
    for index, node in enumerate(model.get_ordered_ops()):
        if node.get_type_name() in ("Parameter", "Result"):
            continue
        found = _MADE_UP_NAME.match(node.get_friendly_name())
        if found:
            node.set_friendly_name(f"{found.group(1)}_{index}{found.group(2)}")
    stable = xml[:-4] + ".stable.xml"
    # A new file, then renamed over: read_model maps the .bin, which must not change under it.
    ov.save_model(model, stable, compress_to_fp16=False)
    del model
    os.replace(stable[:-4] + ".bin", xml[:-4] + ".bin")
    os.replace(stable, xml)


@op("openvino.info")
def openvino_info(model):
    """Inputs/outputs (name, shape with -1 for each dynamic dim, dtype), op counts and the
    edgezoo rt_info of an IR."""
    ensure_telemetry_off()
    import openvino as ov

    m = ov.Core().read_model(model)
    ops = {}
    for node in m.get_ordered_ops():
        t = node.get_type_name()
        ops[t] = ops.get(t, 0) + 1

    def port(p):
        # A partial shape (Resize with scales fed at run time, Upsample) has dynamic dims:
        # to_shape() raises on those, so each dim is read alone (-1 when dynamic).
        return {
            "name": p.get_any_name(),
            "shape": [d.get_length() if d.is_static else -1 for d in p.get_partial_shape()],
            "dtype": p.get_element_type().get_type_name(),
        }

    rt = {}
    if m.has_rt_info(["edgezoo"]):
        # OVAny.value is a plain dict of the section after read_model.
        for key, value in m.get_rt_info(["edgezoo"]).value.items():
            rt[key] = str(value)
    return {"inputs": [port(p) for p in m.inputs], "outputs": [port(p) for p in m.outputs], "ops": ops, "edgezoo": rt}
