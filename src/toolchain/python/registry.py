"""Op registry shared by the ops_*.py modules and worker.py, plus small helpers."""

from __future__ import annotations

import os
from collections.abc import Callable

OPS: dict[str, Callable] = {}


def op(name: str):
    """Registers `fn` as the worker operation `name` (called with the request's args as kwargs)."""

    def register(fn: Callable) -> Callable:
        if name in OPS:
            raise ValueError(f"op {name!r} registered twice")
        OPS[name] = fn
        return fn

    return register


def ensure_parent(path: str) -> str:
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def file_info(path: str) -> dict:
    return {"path": os.path.abspath(path), "bytes": os.path.getsize(path)}
