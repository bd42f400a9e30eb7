"""Ops every environment has: liveness, versions, warm-up, memory, and debugging aids for tests."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import sys
import time

from registry import op

# Distribution names reported by `versions` (missing ones are reported as null).
DISTRIBUTIONS = [
    "onnx2tf",
    "tensorflow",
    "tf-keras",
    "numpy",
    "protobuf",
    "onnx",
    "onnxruntime",
    "onnxsim",
    "onnxslim",
    "onnxconverter-common",
    "tf2onnx",
    "openvino",
    "ai-edge-litert",
    "torch",
    "litert-torch",
    "litert-converter",
    "ai-edge-quantizer",
    "torchao",
    "onnxscript",
    "pillow",
    "psutil",
]


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@op("ping")
def ping(echo=None):
    return {"pong": True, "echo": echo, "pid": os.getpid(), "rssMb": round(_rss_mb(), 1)}


@op("versions")
def versions(distributions=None):
    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in distributions or DISTRIBUTIONS:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


@op("warmup")
def warmup(modules):
    """Imports `modules` (e.g. ["tensorflow"]) so later ops do not pay for it; returns seconds each."""
    took = {}
    for name in modules:
        t = time.perf_counter()
        importlib.import_module(name)
        took[name] = round(time.perf_counter() - t, 3)
    return took


@op("rss")
def rss():
    return {"rssMb": round(_rss_mb(), 1)}


# --- aids for tests of the worker itself -------------------------------------------------------


@op("debug.raise")
def debug_raise(message="raised on purpose"):
    raise ValueError(message)


@op("debug.exit")
def debug_exit(code=3):
    sys.stdout.flush()
    os._exit(code)


@op("debug.sleep")
def debug_sleep(seconds=1.0):
    time.sleep(seconds)
    return {"slept": seconds}


@op("debug.noise")
def debug_noise(text="noise"):
    """Writes to stdout through Python, the C file descriptor and a child process."""
    print(text)
    os.write(1, (text + " (fd 1)\n").encode())
    os.system(f"echo '{text} (child)'")
    return {"ok": True}


_HELD = []


@op("debug.alloc")
def debug_alloc(mb=100):
    """Holds `mb` MiB until the process ends (for memory-budget tests)."""
    block = bytearray(int(mb * 1024 * 1024))
    for i in range(0, len(block), 4096):
        block[i] = 1
    _HELD.append(block)
    return {"rssMb": round(_rss_mb(), 1)}
