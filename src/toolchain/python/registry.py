"""Op registry shared by the ops_*.py modules and worker.py, the expected-failure error, and small
helpers."""

from __future__ import annotations

import os
from collections.abc import Callable

OPS: dict[str, Callable] = {}
# The module each op came from, for the worker's start-up report.
OP_MODULES: dict[str, str] = {}


def op(name: str):
    """Registers `fn` as the worker operation `name` (called with the request's args as kwargs).
    `name` must be an op of the protocol (src/toolchain/protocol/ops.ts); the worker checks."""

    def register(fn: Callable) -> Callable:
        if name in OPS:
            raise ValueError(f"op {name!r} registered twice")
        OPS[name] = fn
        OP_MODULES[name] = fn.__module__
        return fn

    return register


class OpError(Exception):
    """An expected failure, crossing to TypeScript as {code, message, node?, detail?}.

    `code` is one of OP_ERROR_CODES in src/toolchain/protocol/wire.ts (the worker checks it
    against the generated schema); TypeScript switches on it, never on the message."""

    def __init__(self, code: str, message: str, *, node: str | None = None, detail: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.node = node
        self.detail = detail


def ensure_parent(path: str) -> str:
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def file_info(path: str) -> dict:
    return {"path": os.path.abspath(path), "bytes": os.path.getsize(path)}


def unsupported_ops(model: str, op_types: list[str], said: str) -> OpError:
    """OP_NOT_SUPPORTED for a converter that has no conversion for `op_types` (as the tool names
    them, possibly domain-qualified: com.example.Mystery): names the ONNX nodes of those types, so
    a person can write a parameter replacement for the right node. `said`: the tool's own words,
    which are the message (the code and detail carry the structure)."""
    types = [t.split(".")[-1] for t in op_types]
    nodes = {t: [] for t in types}
    try:
        import onnx

        def walk(graph):
            for node in graph.node:
                if node.op_type in nodes:
                    nodes[node.op_type].append(node.name or "(unnamed)")
                for attribute in node.attribute:
                    for sub in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
                        walk(sub)

        if model.endswith(".onnx"):
            walk(onnx.load(model, load_external_data=False).graph)
    except Exception:  # the error is about the tool; a model that cannot be read names no nodes
        pass
    first = next((names[0] for names in nodes.values() if names), None)
    return OpError(
        "OP_NOT_SUPPORTED",
        said,
        node=first,
        detail={"opTypes": types, "nodes": nodes},
    )
