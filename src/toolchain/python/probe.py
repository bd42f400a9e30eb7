"""Used by `edgezoo doctor`: imports modules and reports, per check, version or error as JSON.

usage: python probe.py '[{"id": "tensorflow", "module": "tensorflow", "dist": "tensorflow",
                          "smoke": "tensorflow-add"}]'
`smoke` names one of the checks in SMOKE below, run on the imported module; doctor sends names
only, never code. Prints one JSON line
{"id": {"ok": bool, "version": str|null, "error": str|null, "ms": float}} on the real stdout;
everything the modules print goes to stderr.
"""

import importlib
import importlib.metadata as md
import json
import os
import sys
import time
import traceback


def _tensorflow_add(m):
    assert int(m.add(1, 2)) == 3


def _onnx_checker(m):
    m.checker.check_model(m.helper.make_model(m.helper.make_graph([], "g", [], [])))


def _onnxruntime_cpu(m):
    assert "CPUExecutionProvider" in m.get_available_providers()


def _openvino_cpu(m):
    assert "CPU" in m.Core().available_devices


def _torch_ones(m):
    assert int(m.ones(2).sum()) == 2


# The smoke checks a catalogue entry may name (SmokeCheck in src/catalogue/types.ts).
SMOKE = {
    "tensorflow-add": _tensorflow_add,
    "onnx-checker": _onnx_checker,
    "onnxruntime-cpu": _onnxruntime_cpu,
    "openvino-cpu": _openvino_cpu,
    "torch-ones": _torch_ones,
}

proto = os.dup(1)
os.dup2(2, 1)
checks = json.loads(sys.argv[1])
out = {}
for c in checks:
    t = time.perf_counter()
    entry = {"ok": False, "version": None, "error": None}
    try:
        if c.get("dist"):
            entry["version"] = md.version(c["dist"])
        if c.get("module"):
            m = importlib.import_module(c["module"])
            if c.get("smoke"):
                SMOKE[c["smoke"]](m)
        entry["ok"] = True
    except BaseException as e:
        entry["error"] = f"{type(e).__name__}: {e}"
        entry["traceback"] = traceback.format_exc(limit=3)
    entry["ms"] = round((time.perf_counter() - t) * 1000, 1)
    out[c["id"]] = entry
os.write(proto, (json.dumps(out) + "\n").encode())
