"""Validation runners as worker ops (any env): validate.load / run / benchmark / release run a
model in its own runtime: LiteRT (.tflite), OpenVINO (.xml) and PyTorch (model code). Which
runtimes work depends on the env: LiteRT and OpenVINO in "tf", PyTorch in "torch". Tensors
travel as .npy files, never as JSON.

The TypeScript side (src/validate/runners/worker.ts) owns everything around a run: it
quantises inputs and dequantises outputs with the parameters reported here, transposes
layouts and compares. So this module reports each tensor's dtype and quantisation, feeds
arrays exactly as given (a dtype that does not match is an error, never a silent cast) and
writes outputs as the runtime returns them.

A loaded model lives in this process only, under a handle; a handle this process does not know
is MODEL_HANDLE_UNKNOWN (the host then loads the model again: src/toolchain/session.ts).
Heavy imports happen inside the functions.
"""

from __future__ import annotations

import os
import sys
import time

from registry import OpError, op

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


def _release_free_memory() -> None:
    """Hands the heap this long-lived worker freed (a conversion, an earlier model) back to the
    system, so that what the next model allocates shows as growth instead of reusing it."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the growth may be undercounted


def _restart_peak() -> bool:
    """Linux: restarts the kernel's peak resident size (VmHWM) at the current size."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes():
    """Linux: the peak resident size since the last restart, or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# Resident size before each loaded model's load (and whether the kernel peak restarted there):
# its benchmark's peak counts from there, load included.
_BASELINES: dict = {}


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
    if len(zeros) <= 1 < len(scales):
        # LiteRT reports one zero point for a per-axis tensor whose zero points are all 0: it
        # applies to every channel (TypeScript wants one per scale).
        zeros = (zeros or [0]) * len(scales)
    result = {"scale": scales, "zeroPoint": zeros}
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
        raise OpError(
            "INPUT_MISMATCH",
            f"input {name!r}: the model takes {_dtype_name(expected_dtype)}, {path} holds {array.dtype.name}",
            detail={"input": name, "expected": _dtype_name(expected_dtype), "received": array.dtype.name},
        )
    # np.ascontiguousarray makes a 0-d array 1-d: a scalar input must stay shape ().
    return np.ascontiguousarray(array) if array.ndim > 0 else array


def _no_such_input(name, known) -> OpError:
    return OpError(
        "INPUT_MISMATCH",
        f"the model has no input {name!r}; it has {', '.join(known)}",
        detail={"input": name, "inputs": list(known)},
    )


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
                raise _no_such_input(name, details)
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
                raise _no_such_input(name, ports)
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
    """model: {"file", "callable", "kwargs", "stateDict", "outputNames"} (see torch_source.py);
    inputs are passed positionally in the order given; outputs are named by
    torch_source.named_outputs, as the exports name them."""

    def __init__(self, model, threads):
        import torch

        torch.set_num_threads(int(threads))
        from torch_source import load_model

        self.torch = torch
        self.source = model
        self.module = load_model(model)
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
        from torch_source import named_outputs

        return {name: value.detach().cpu().numpy() for name, value in named_outputs(self.source, self.result)}


_RUNTIMES = {"litert": _TfliteSession, "openvino": _OpenvinoSession, "pytorch": _TorchSession}


def _session(handle):
    session = _SESSIONS.get(int(handle))
    if session is None:
        raise OpError(
            "MODEL_HANDLE_UNKNOWN", f"no loaded model with handle {handle} in this worker", detail={"handle": handle}
        )
    return session


# ---------------------------------------------------------------- operations


@op("validate.load")
def load_model(runtime, model, threads=1):
    """Loads a model and keeps it for later runs. Returns {handle, inputs, outputs, loadSeconds,
    rssDeltaBytes}; inputs/outputs are [{name, dims, dtype, quantization?}]. `runtime` is one of
    _RUNTIMES (the request schema allows no other)."""
    if (runtime == "pytorch") != isinstance(model, dict):
        expected = "a torch source object" if runtime == "pytorch" else "a file path"
        raise OpError(
            "BAD_REQUEST", f"bad request for validate.load: args.model: the {runtime} runtime takes {expected}"
        )
    _release_free_memory()
    restarted = _restart_peak()
    before = _rss_bytes()
    started = time.perf_counter()
    session = _RUNTIMES[runtime](model, threads)
    load_seconds = time.perf_counter() - started
    handle = _NEXT_HANDLE[0]
    _NEXT_HANDLE[0] += 1
    _SESSIONS[handle] = session
    _BASELINES[handle] = (before, restarted)
    inputs, outputs = session.describe()
    return {
        "handle": handle,
        "inputs": inputs,
        "outputs": outputs,
        "loadSeconds": load_seconds,
        "rssDeltaBytes": max(0, _rss_bytes() - before),
    }


@op("validate.run")
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


@op("validate.benchmark")
def benchmark_model(handle, inputs, warmup=3, iterations=20):
    """Times `iterations` invocations after `warmup` ones; only invoke() is inside the clock.
    Returns {latenciesMs, medianMs, p90Ms, peakRssDeltaBytes}: the peak resident size since before
    the model's load (the kernel's peak where it was restarted there, else RSS sampled around
    every run) over the size before the load."""
    session = _session(handle)
    session.set_inputs(inputs)
    baseline, restarted = _BASELINES.get(int(handle), (_rss_bytes(), False))
    peak = _rss_bytes()
    for _ in range(int(warmup)):
        session.invoke()
        peak = max(peak, _rss_bytes())
    latencies = []
    for _ in range(int(iterations)):
        started = time.perf_counter()
        session.invoke()
        latencies.append((time.perf_counter() - started) * 1000.0)
        peak = max(peak, _rss_bytes())
    if restarted:
        peak = max(peak, _peak_rss_bytes() or 0)
    ordered = sorted(latencies)
    return {
        "latenciesMs": latencies,
        "medianMs": _percentile(ordered, 0.5),
        "p90Ms": _percentile(ordered, 0.9),
        "peakRssDeltaBytes": max(0, peak - baseline),
    }


@op("validate.release")
def release_model(handle):
    """Forgets a loaded model. Releasing an unknown handle is not an error."""
    _SESSIONS.pop(int(handle), None)
    _BASELINES.pop(int(handle), None)
    return {"released": int(handle)}


@op("validate.intermediates")
def intermediates(runtime, model, inputs, outputDir, maxElements=1_000_000):
    """Runs a TFLite or OpenVINO model once with every intermediate tensor kept and writes the
    float ones to outputDir/<index>.npy, in execution order (TFLite: the order of its ops;
    OpenVINO: its topological order). For --diagnose: which op's output first diverges.
    Returns {tensors: [{name, npy, dims, dtype, op}]}; tensors over maxElements are left out."""
    import numpy as np

    os.makedirs(outputDir, exist_ok=True)
    found = []

    def keep(name, array, op_type):
        array = np.asarray(array)
        if array.dtype.kind != "f" or array.size == 0 or array.size > maxElements:
            return
        path = os.path.join(outputDir, f"{len(found)}.npy")
        np.save(path, np.ascontiguousarray(array.astype(np.float32)) if array.ndim else array.astype(np.float32))
        found.append({"name": name, "npy": path, "dims": list(array.shape), "dtype": "float32", "op": op_type})

    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=model, experimental_preserve_all_tensors=True)
        it.allocate_tensors()
        details = {d["name"]: d for d in it.get_input_details()}
        for name, path in inputs.items():
            if name not in details:
                raise _no_such_input(name, details)
            it.set_tensor(details[name]["index"], _load_feed(path, details[name]["dtype"], name))
        it.invoke()
        names = {d["index"]: d["name"] for d in it.get_tensor_details()}
        seen = set()
        for op_detail in it._get_ops_details():
            for index in op_detail["outputs"]:
                if index < 0 or index in seen:
                    continue
                seen.add(index)
                try:
                    keep(names.get(index, str(index)), it.get_tensor(index), op_detail["op_name"])
                except ValueError:  # a tensor the runtime did not keep
                    continue
    elif runtime == "openvino":
        import openvino as ov

        core = ov.Core()
        m = core.read_model(model)
        ports = []
        for node in m.get_ordered_ops():
            if node.get_type_name() in ("Parameter", "Constant", "Result"):
                continue
            for output in node.outputs():
                ports.append((node, output))
        own = len(m.outputs)
        m.add_outputs([output for _, output in ports])
        compiled = core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        request = compiled.create_infer_request()
        by_name = {}
        for i, p in enumerate(compiled.inputs):
            try:
                by_name[p.get_any_name()] = p
            except RuntimeError:
                by_name[f"input_{i}"] = p
        for name, path in inputs.items():
            if name not in by_name:
                raise _no_such_input(name, by_name)
            array = _load_feed(path, by_name[name].get_element_type().to_dtype(), name)
            request.set_tensor(by_name[name], ov.Tensor(array))
        request.infer()
        # The model's own outputs come first (their producers are in `ports` too, where
        # add_outputs found them outputs already), then one per added port, in order.
        producer_of = {}
        for node, output in ports:
            for tensor_name in output.get_names():
                producer_of[tensor_name] = node
        for index, port in enumerate(compiled.outputs):
            positional = ports[index - own][0] if own <= index < own + len(ports) else None
            try:
                name = port.get_any_name()
            except RuntimeError:
                name = positional.get_friendly_name() if positional is not None else f"output_{index}"
            node = producer_of.get(name) or positional
            keep(name, request.get_tensor(port).data, node.get_type_name() if node is not None else "?")
    else:
        raise OpError("BAD_REQUEST", f"validate.intermediates: runtime {runtime!r} is not litert or openvino")
    return {"tensors": found}
