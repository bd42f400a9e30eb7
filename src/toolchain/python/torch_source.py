"""Loading a PyTorch model and example inputs for the torch ops (not an op module)."""

from __future__ import annotations

import importlib.util
import os
import sys


def load_model(source):
    """source: {"file": "model.py", "callable": "build", "kwargs": {...}, "stateDict": "w.pt"}
    (TorchSourceSchema in src/toolchain/protocol/ops.ts); the callable returns an nn.Module. The
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
