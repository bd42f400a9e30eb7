"""Loading a PyTorch model, naming its outputs and making example inputs for the torch ops (not an
op module)."""

from __future__ import annotations

import importlib.util
import os
import sys

from registry import OpError


def load_model(source):
    """source: {"file": "model.py", "callable": "build", "kwargs": {...}, "stateDict": "w.pt",
    "outputNames": [...]} (TorchSourceSchema in src/toolchain/protocol/ops.ts); the callable returns an nn.Module. The
    file is the project's own model code (never an installed module: a recipe naming one could
    run anything installed)."""
    import torch

    path = os.path.abspath(source["file"])
    name = "edgezoo_model_" + str(abs(hash(path)))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # The model file may import its neighbours (models/x/layers.py).
    if os.path.dirname(path) not in sys.path:
        sys.path.insert(0, os.path.dirname(path))
    spec.loader.exec_module(module)
    model = getattr(module, source.get("callable", "build"))(**source.get("kwargs", {}))
    if source.get("stateDict"):
        state = torch.load(source["stateDict"], map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    return model.eval()


def named_outputs(source, result):
    """The outputs a forward pass returned, as [(name, tensor)] in the order the ONNX exporters and
    torch.export flatten them: a tensor, nested tuples and lists depth first, dict values in insertion
    order. This is the one place that names a PyTorch source's outputs: the reference run, the
    ONNX export and litert-torch all take the names from here, so every artifact's outputs are
    called what the reference's are. The names are the recipe's `outputs:` (source["outputNames"]),
    which must then name every output in order; without them, a dict's keys when forward returns
    one dict of tensors, else output_0, output_1, ..."""
    import torch

    leaves = []

    def flatten(value, where):
        if isinstance(value, torch.Tensor):
            leaves.append(value)
        elif isinstance(value, (tuple, list)):
            for index, item in enumerate(value):
                flatten(item, f"{where}[{index}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                flatten(item, f"{where}[{key!r}]")
        else:
            raise OpError(
                "OUTPUTS_MISMATCH",
                f"{_factory(source)} returns {type(value).__name__} at {where}: a model's outputs must be tensors"
                " (in tuples, lists or dicts)",
                detail={"where": where, "type": type(value).__name__},
            )

    flatten(result, "the output")
    given = list(source.get("outputNames") or [])
    if given:
        if len(given) != len(leaves):
            shapes = ", ".join(str(list(leaf.shape)) for leaf in leaves)
            raise OpError(
                "OUTPUTS_MISMATCH",
                f"the recipe's outputs: names {_count(len(given), 'output')} ({', '.join(given)}), but"
                f" {_factory(source)} returns {_count(len(leaves), 'tensor')} ({shapes}); name every output in the order forward returns them, or"
                f" leave outputs: out to call them {_default_names_hint(len(leaves))}",
                detail={"named": given, "returned": len(leaves)},
            )
        names = given
    elif isinstance(result, dict) and all(isinstance(v, torch.Tensor) for v in result.values()):
        names = [str(key) for key in result]
    else:
        names = [f"output_{i}" for i in range(len(leaves))]
    return list(zip(names, leaves, strict=True))


def source_outputs(source, model, args):
    """`model`'s outputs on `args` (one forward pass), named by named_outputs: [{name, shape, dtype}]."""
    import torch

    with torch.no_grad():
        named = named_outputs(source, model(*args))
    return [{"name": name, "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")} for name, t in named]


def with_named_outputs(source, model, args):
    """`model` returning its outputs as one dict {name: tensor} in their order (torch.export, and
    so litert-torch's signature, keeps a dict's keys as the output names), with source_outputs.
    The forward pass of source_outputs makes a recipe naming the wrong number of outputs fail
    here, before any export."""
    import torch

    outputs = source_outputs(source, model, args)

    class NamedOutputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return dict(named_outputs(source, self.model(*inputs)))

    return NamedOutputs().eval(), outputs


def _factory(source):
    """The factory as a recipe names it (models/x/model.py:build) when it lies under the working
    folder (the project's, where builds run), else with its absolute path."""
    path = os.path.abspath(source["file"])
    relative = os.path.relpath(path)
    shown = path if relative.startswith("..") else relative
    return f"{shown}:{source.get('callable', 'build')}"


def _count(n, noun):
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _default_names_hint(count):
    return "output_0" if count == 1 else f"output_0 .. output_{count - 1}"


def example_inputs(inputs):
    """inputs: [{"shape": [1,3,224,224], "dtype": "float32"} | {"npy": "x.npy"}] -> tuple of tensors
    (for an .npy, its first sample, keeping a batch axis of 1)."""
    import numpy as np
    import torch

    out = []
    for i, spec in enumerate(inputs):
        if "npy" in spec:
            out.append(torch.from_numpy(np.ascontiguousarray(np.load(spec["npy"])[:1])))
        else:
            g = torch.Generator().manual_seed(i)
            dtype = getattr(torch, spec.get("dtype", "float32"))
            if dtype.is_floating_point:
                out.append(torch.rand(spec["shape"], generator=g).to(dtype))
            else:
                out.append(torch.zeros(spec["shape"], dtype=dtype))
    return tuple(out)
