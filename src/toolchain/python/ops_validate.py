"""Validation runners as worker ops (any env): validate.load / run / benchmark / release.

The runtime code lives in src/validate/python/runners.py (owned by the validator, testable on
its own); this module only puts that folder on sys.path and registers its session functions
under the names src/validate/runners/worker.ts calls (WORKER_OPS). Which runtimes work depends
on the env: LiteRT and OpenVINO in "tf", PyTorch in "torch".
"""

from __future__ import annotations

import os
import sys

from registry import op

_VALIDATE_PY = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "validate", "python")
)
if _VALIDATE_PY not in sys.path:
    sys.path.insert(0, _VALIDATE_PY)

import runners as _runners  # noqa: E402  (needs the path above; imports no heavy library)


@op("validate.load")
def validate_load(runtime, model, threads=1, outputNames=None):
    return _runners.load_model(runtime, model, threads, outputNames)


@op("validate.run")
def validate_run(handle, inputs, outputDir):
    return _runners.run_model(handle, inputs, outputDir)


@op("validate.benchmark")
def validate_benchmark(handle, inputs, warmup=3, iterations=20):
    return _runners.benchmark_model(handle, inputs, warmup, iterations)


@op("validate.release")
def validate_release(handle):
    return _runners.release_model(handle)
