"""Run models for edgezoo's validator in their own runtimes: LiteRT (.tflite), OpenVINO (.xml)
and PyTorch. Tensors travel as .npy files, never as JSON.

The TypeScript side (src/validate/runners/worker.ts) owns everything around a run: it
quantises inputs and dequantises outputs with the parameters reported here, transposes
layouts and compares. So this module reports each tensor's dtype and quantisation, feeds
arrays exactly as given (a dtype that does not match is an error, never a silent cast) and
writes outputs as the runtime returns them.

Two ways to use it:
- sessions, for the long-lived worker: load_model(...) -> handle; run_model(handle, ...);
  benchmark_model(handle, ...); release_model(handle);
- one-shot helpers: run_tflite(model, inputs, output_dir, threads), run_openvino(...),
  run_torch(...).

Every function takes JSON-able keyword arguments (the worker calls fn(**args)) and returns
JSON-able dicts. Heavy imports happen inside the functions. `python3 runners.py --selftest`
checks the runtime-independent parts with numpy alone.
"""

from __future__ import annotations

import os
import sys
import time

_SESSIONS: dict = {}
_NEXT_HANDLE = [1]


# ---------------------------------------------------------------- helpers


def _rss_bytes() -> int:
    """Current resident set size (Linux /proc; elsewhere the lifetime peak, the best there is)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _dtype_name(dtype) -> str:
    import numpy as np

    return np.dtype(dtype).name


def _percentile(sorted_values, fraction):
    """Nearest-rank percentile of an ascending list (as the TS benchmark computes it)."""
    if not sorted_values:
        return 0.0
    rank = max(1, int(-(-fraction * len(sorted_values) // 1)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def tflite_quantization(details: dict):
    """The quantisation of a TFLite tensor detail as {scale: [], zeroPoint: [], axis}, or None for
    float tensors. Per-axis parameters come from `quantization_parameters`; the legacy
    `quantization` (scale, zero_point) pair is used when that is absent."""
    params = details.get("quantization_parameters") or {}
    scales = [float(s) for s in list(params.get("scales", []))]
    zeros = [int(z) for z in list(params.get("zero_points", []))]
    if not scales:
        scale, zero = details.get("quantization", (0.0, 0)) or (0.0, 0)
        if not scale:
            return None
        scales, zeros = [float(scale)], [int(zero)]
    if all(s == 0.0 for s in scales):
        return None
    result = {"scale": scales, "zeroPoint": zeros or [0] * len(scales)}
    if len(scales) > 1:
        result["axis"] = int(params.get("quantized_dimension", 0))
    return result


def _tensor_info(name, shape, dtype, quantization=None) -> dict:
    info = {"name": name, "dims": [int(d) if int(d) >= 0 else "?" for d in shape], "dtype": _dtype_name(dtype)}
    if quantization:
        info["quantization"] = quantization
    return info


def _load_feed(path, expected_dtype, name):
    import numpy as np

    array = np.load(path, allow_pickle=False)
    if expected_dtype is not None and array.dtype != np.dtype(expected_dtype):
        raise TypeError(
            f"input {name!r}: the model takes {_dtype_name(expected_dtype)}, {path} holds {array.dtype.name}"
        )
    return np.ascontiguousarray(array)


# ---------------------------------------------------------------- runtimes


class _TfliteSession:
    def __init__(self, model, threads):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=model, num_threads=int(threads))
        self.interpreter.allocate_tensors()

    def describe(self):
        it = self.interpreter

        def info(d):
            return _tensor_info(d["name"], d.get("shape_signature", d["shape"]), d["dtype"], tflite_quantization(d))

        return [info(d) for d in it.get_input_details()], [info(d) for d in it.get_output_details()]

    def set_inputs(self, inputs):
        it = self.interpreter
        details = {d["name"]: d for d in it.get_input_details()}
        arrays = {}
        for name, path in inputs.items():
            if name not in details:
                raise KeyError(f"the model has no input {name!r}; it has {', '.join(details)}")
            arrays[name] = _load_feed(path, details[name]["dtype"], name)
        resized = False
        for name, array in arrays.items():
            if list(array.shape) != [int(x) for x in details[name]["shape"]]:
                it.resize_tensor_input(details[name]["index"], list(array.shape))
                resized = True
        if resized:
            it.allocate_tensors()
        for name, array in arrays.items():
            it.set_tensor(details[name]["index"], array)

    def invoke(self):
        self.interpreter.invoke()

    def get_outputs(self):
        it = self.interpreter
        return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}


class _OpenvinoSession:
    def __init__(self, model, threads):
        import openvino as ov

        core = ov.Core()
        self.model = core.read_model(model)
        # On CPUs with bf16 support (AVX512_BF16, AMX) OpenVINO runs in bf16 by default, which
        # would judge an fp32 IR by bf16 arithmetic on some machines only: pin f32 execution.
        self.compiled = core.compile_model(
            self.model, "CPU", {"INFERENCE_NUM_THREADS": int(threads), "INFERENCE_PRECISION_HINT": "f32"}
        )
        self.request = self.compiled.create_infer_request()

    @staticmethod
    def _name(port, index, prefix):
        try:
            return port.get_any_name()
        except RuntimeError:  # unnamed port
            return f"{prefix}_{index}"

    def describe(self):
        def info(port, index, prefix):
            shape = [d.get_length() if d.is_static else -1 for d in port.get_partial_shape()]
            return _tensor_info(self._name(port, index, prefix), shape, port.get_element_type().to_dtype())

        return (
            [info(p, i, "input") for i, p in enumerate(self.compiled.inputs)],
            [info(p, i, "output") for i, p in enumerate(self.compiled.outputs)],
        )

    def set_inputs(self, inputs):
        import openvino as ov

        ports = {self._name(p, i, "input"): p for i, p in enumerate(self.compiled.inputs)}
        for name, path in inputs.items():
            if name not in ports:
                raise KeyError(f"the model has no input {name!r}; it has {', '.join(ports)}")
            array = _load_feed(path, ports[name].get_element_type().to_dtype(), name)
            self.request.set_tensor(ports[name], ov.Tensor(array))

    def invoke(self):
        self.request.infer()

    def get_outputs(self):
        return {
            self._name(p, i, "output"): self.request.get_tensor(p).data.copy()
            for i, p in enumerate(self.compiled.outputs)
        }


class _TorchSession:
    """model: {"file", "callable", "kwargs", "stateDict"} or {"exportedProgram"} (see
    src/toolchain/python/torch_source.py); inputs are passed positionally in the order given."""

    def __init__(self, model, threads, output_names=None):
        import torch

        torch.set_num_threads(int(threads))
        from torch_source import load_model  # lives beside the worker's ops

        self.torch = torch
        self.module = load_model(model)
        self.output_names = list(output_names or [])
        self.args = ()
        self.result = None

    def describe(self):
        return [], []  # PyTorch modules carry no signature; the recipe's inputs are the truth

    def set_inputs(self, inputs):
        self.args = tuple(self.torch.from_numpy(_load_feed(path, None, name)) for name, path in inputs.items())

    def invoke(self):
        with self.torch.inference_mode():
            self.result = self.module(*self.args)

    def get_outputs(self):
        result = self.result
        if isinstance(result, dict):
            items = list(result.items())
        else:
            values = list(result) if isinstance(result, (tuple, list)) else [result]
            names = self.output_names + [f"output_{i}" for i in range(len(self.output_names), len(values))]
            items = list(zip(names, values, strict=False))
        return {name: value.detach().cpu().numpy() for name, value in items}


_RUNTIMES = {"litert": _TfliteSession, "openvino": _OpenvinoSession, "pytorch": _TorchSession}


def _session(handle):
    session = _SESSIONS.get(int(handle))
    if session is None:
        raise KeyError(f"no loaded model with handle {handle}")
    return session


# ---------------------------------------------------------------- operations


def load_model(runtime, model, threads=1, outputNames=None):
    """Loads a model and keeps it for later runs. Returns {handle, inputs, outputs, loadSeconds,
    rssDeltaBytes}; inputs/outputs are [{name, dims, dtype, quantization?}]."""
    if runtime not in _RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; known: {', '.join(sorted(_RUNTIMES))}")
    before = _rss_bytes()
    started = time.perf_counter()
    session = _TorchSession(model, threads, outputNames) if runtime == "pytorch" else _RUNTIMES[runtime](model, threads)
    load_seconds = time.perf_counter() - started
    handle = _NEXT_HANDLE[0]
    _NEXT_HANDLE[0] += 1
    _SESSIONS[handle] = session
    inputs, outputs = session.describe()
    return {
        "handle": handle,
        "inputs": inputs,
        "outputs": outputs,
        "loadSeconds": load_seconds,
        "rssDeltaBytes": max(0, _rss_bytes() - before),
    }


def run_model(handle, inputs, outputDir):
    """inputs: {name: path.npy}. Writes each output to outputDir/<index>.npy (names can hold
    characters a file name cannot). Returns {outputs: [{name, npy, dims, dtype}], seconds}."""
    import numpy as np

    session = _session(handle)
    session.set_inputs(inputs)
    started = time.perf_counter()
    session.invoke()
    seconds = time.perf_counter() - started
    os.makedirs(outputDir, exist_ok=True)
    written = []
    for index, (name, array) in enumerate(session.get_outputs().items()):
        path = os.path.join(outputDir, f"{index}.npy")
        array = np.ascontiguousarray(array)
        np.save(path, array, allow_pickle=False)
        written.append({"name": name, "npy": path, "dims": list(array.shape), "dtype": array.dtype.name})
    return {"outputs": written, "seconds": seconds}


def benchmark_model(handle, inputs, warmup=3, iterations=20):
    """Times `iterations` invocations after `warmup` ones; only invoke() is inside the clock.
    Returns {latenciesMs, medianMs, p90Ms, peakRssDeltaBytes} (RSS sampled around every run)."""
    session = _session(handle)
    session.set_inputs(inputs)
    baseline = _rss_bytes()
    peak = baseline
    for _ in range(int(warmup)):
        session.invoke()
        peak = max(peak, _rss_bytes())
    latencies = []
    for _ in range(int(iterations)):
        started = time.perf_counter()
        session.invoke()
        latencies.append((time.perf_counter() - started) * 1000.0)
        peak = max(peak, _rss_bytes())
    ordered = sorted(latencies)
    return {
        "latenciesMs": latencies,
        "medianMs": _percentile(ordered, 0.5),
        "p90Ms": _percentile(ordered, 0.9),
        "peakRssDeltaBytes": max(0, peak - baseline),
    }


def release_model(handle):
    """Forgets a loaded model. Releasing an unknown handle is not an error."""
    _SESSIONS.pop(int(handle), None)
    return {"released": int(handle)}


def _run_once(runtime, model, inputs, output_dir, threads, **extra):
    loaded = load_model(runtime, model, threads, **extra)
    try:
        result = run_model(loaded["handle"], inputs, output_dir)
    finally:
        release_model(loaded["handle"])
    return {
        "inputs": loaded["inputs"],
        "outputs": loaded["outputs"],
        "written": result["outputs"],
        "loadSeconds": loaded["loadSeconds"],
        "seconds": result["seconds"],
    }


def run_tflite(model, inputs, outputDir, threads=1):
    """One-shot LiteRT run; input/output details carry dtype and quantisation."""
    return _run_once("litert", model, inputs, outputDir, threads)


def run_openvino(model, inputs, outputDir, threads=1):
    """One-shot OpenVINO run of an IR .xml (or anything read_model reads)."""
    return _run_once("openvino", model, inputs, outputDir, threads)


def run_torch(model, inputs, outputDir, threads=1, outputNames=None):
    """One-shot PyTorch run; `model` is a torch_source spec."""
    return _run_once("pytorch", model, inputs, outputDir, threads, outputNames=outputNames)


# ---------------------------------------------------------------- self-test


class _EchoSession:
    """A runtime stand-in for the self-test: output = input * 2, in the input's dtype."""

    def __init__(self, model, threads):
        self.inputs = {}

    def describe(self):
        return [_tensor_info("x", [1, 3], "float32")], [_tensor_info("y", [1, 3], "float32")]

    def set_inputs(self, inputs):
        self.inputs = {name: _load_feed(path, "float32", name) for name, path in inputs.items()}

    def invoke(self):
        self.result = {"y": self.inputs["x"] * 2}

    def get_outputs(self):
        return self.result


def selftest() -> int:
    import tempfile

    import numpy as np

    failures = []
    checks = [0]

    def check(condition, what):
        checks[0] += 1
        if not condition:
            failures.append(what)

    q = tflite_quantization(
        {
            "quantization": (0.5, 3),
            "quantization_parameters": {
                "scales": np.array([0.5]),
                "zero_points": np.array([3]),
                "quantized_dimension": 0,
            },
        }
    )
    check(q == {"scale": [0.5], "zeroPoint": [3]}, f"per-tensor quantisation read as {q}")
    q = tflite_quantization(
        {
            "quantization": (0.0, 0),
            "quantization_parameters": {
                "scales": np.array([0.1, 0.2]),
                "zero_points": np.array([0, 0]),
                "quantized_dimension": 3,
            },
        }
    )
    check(q == {"scale": [0.1, 0.2], "zeroPoint": [0, 0], "axis": 3}, f"per-axis quantisation read as {q}")
    check(tflite_quantization({"quantization": (0.0, 0)}) is None, "float tensor reported as quantised")
    check(_percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.0, "p90 of 1..10 is not 9")
    check(_percentile([5.0], 0.5) == 5.0, "median of one value")

    _RUNTIMES["echo"] = _EchoSession
    with tempfile.TemporaryDirectory() as tmp:
        feed = os.path.join(tmp, "x.npy")
        np.save(feed, np.array([[1.0, 2.0, 3.0]], dtype=np.float32))
        loaded = load_model("echo", "none")
        result = run_model(loaded["handle"], {"x": feed}, os.path.join(tmp, "out"))
        out = np.load(result["outputs"][0]["npy"])
        check(out.tolist() == [[2.0, 4.0, 6.0]] and result["outputs"][0]["name"] == "y", f"echo output {out.tolist()}")
        bench = benchmark_model(loaded["handle"], {"x": feed}, warmup=1, iterations=5)
        check(len(bench["latenciesMs"]) == 5 and bench["medianMs"] >= 0, f"benchmark {bench}")
        wrong = os.path.join(tmp, "wrong.npy")
        np.save(wrong, np.array([[1, 2, 3]], dtype=np.int64))
        try:
            run_model(loaded["handle"], {"x": wrong}, os.path.join(tmp, "out2"))
            check(False, "an int64 feed for a float32 input was accepted")
        except TypeError as exc:
            check("the model takes float32" in str(exc), f"dtype error text: {exc}")
        release_model(loaded["handle"])
        try:
            run_model(loaded["handle"], {"x": feed}, tmp)
            check(False, "a released handle still ran")
        except KeyError:
            check(True, "released handle refused")
    del _RUNTIMES["echo"]
    try:
        load_model("nope", "m")
        check(False, "unknown runtime accepted")
    except ValueError:
        check(True, "unknown runtime refused")

    for failure in failures:
        print(f"FAIL: {failure}")
    print(f"{checks[0] - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--selftest":
        sys.exit(selftest())
    print("usage: runners.py --selftest", file=sys.stderr)
    sys.exit(2)
