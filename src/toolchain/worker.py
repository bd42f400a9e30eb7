"""edgezoo's long-lived Python worker: converter operations over JSON lines on stdio.

Protocol (one JSON object per line, UTF-8):
  worker -> host, once at start:  {"event": "ready", "pid": ..., "python": "3.11.7", "ops": [...]}
  host -> worker:                  {"id": 1, "op": "ping", "args": {...}}
  worker -> host:                  {"id": 1, "ok": true, "result": ..., "seconds": 0.01}
                                or {"id": 1, "ok": false, "error": {"type", "message", "traceback"}}

Only protocol lines ever reach the real stdout: at start the worker keeps a private duplicate
of file descriptor 1 for itself and points fd 1 at stderr, so whatever a converter prints
(Python print, C++ logging, child processes such as onnxsim) lands on stderr.

Operations are registered by the modules src/toolchain/python/ops_*.py with the `op` decorator
from `registry.py`; they must import heavy libraries (tensorflow, torch) inside the function, so
the worker starts fast in any environment and an op whose package is missing fails alone.

`python worker.py --once OP '{"json": "args"}'` runs one op in this fresh process and prints its
response line, for comparing a warm worker with a fresh process.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
OPS_DIR = os.path.join(HERE, "python")


def _claim_stdout() -> int:
    """Keeps fd 1 for the protocol and sends everything else written to stdout to stderr."""
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    except Exception:
        pass
    return proto_fd


def _write(fd: int, message: dict) -> None:
    data = (json.dumps(message, default=_json_default, allow_nan=False) + "\n").encode("utf-8")
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _json_default(value):
    # numpy scalars/arrays and paths returned by ops
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


BROKEN_MODULES: dict = {}


def _load_ops() -> dict:
    """Imports every ops_*.py; a module that fails to import is reported, not fatal."""
    sys.path.insert(0, OPS_DIR)
    registry = importlib.import_module("registry")
    for name in sorted(os.listdir(OPS_DIR)):
        if name.startswith("ops_") and name.endswith(".py"):
            try:
                importlib.import_module(name[:-3])
            except Exception as exc:  # keep the other modules' ops usable
                BROKEN_MODULES[name[:-3]] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc(file=sys.stderr)
    return registry.OPS


def _error(exc: BaseException) -> dict:
    return {
        "type": type(exc).__name__,
        "message": str(exc) or type(exc).__name__,
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


def _run(ops: dict, request: dict) -> dict:
    rid = request.get("id")
    op = request.get("op")
    args = request.get("args") or {}
    started = time.perf_counter()
    cwd = os.getcwd()
    try:
        fn = ops.get(op)
        if fn is None:
            raise KeyError(f"unknown op {op!r}; known: {', '.join(sorted(ops))}")
        if not isinstance(args, dict):
            raise TypeError("args must be a JSON object")
        result = fn(**args)
        response = {"id": rid, "ok": True, "result": result}
    except SystemExit as exc:  # onnx2tf and argparse-based tools call sys.exit on errors
        response = {"id": rid, "ok": False, "error": _error(RuntimeError(f"{op} called sys.exit({exc.code})"))}
        response["error"]["type"] = "SystemExit"
    except Exception as exc:  # one failing op must not end the worker
        response = {"id": rid, "ok": False, "error": _error(exc)}
    finally:
        try:
            os.chdir(cwd)
        except OSError:
            pass
        sys.stdout.flush()
        sys.stderr.flush()
    response["seconds"] = round(time.perf_counter() - started, 4)
    return response


def _prepare_environment() -> None:
    # Tools such as onnx2tf start `onnxsim` by name: the venv's bin must come first on PATH.
    bindir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")


def serve() -> int:
    proto_fd = _claim_stdout()
    _prepare_environment()
    ops = _load_ops()
    _write(
        proto_fd,
        {
            "event": "ready",
            "pid": os.getpid(),
            "python": ".".join(map(str, sys.version_info[:3])),
            "ops": sorted(ops),
            "brokenModules": BROKEN_MODULES,
        },
    )
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return 0
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request must be a JSON object")
        except Exception as exc:
            _write(proto_fd, {"id": None, "ok": False, "error": _error(exc)})
            continue
        if request.get("op") == "__exit__":
            _write(proto_fd, {"id": request.get("id"), "ok": True, "result": None})
            return 0
        _write(proto_fd, _run(ops, request))


def once(op: str, raw_args: str) -> int:
    proto_fd = _claim_stdout()
    _prepare_environment()
    ops = _load_ops()
    response = _run(ops, {"id": 0, "op": op, "args": json.loads(raw_args) if raw_args else {}})
    _write(proto_fd, response)
    return 0 if response["ok"] else 1


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1] == "--once":
        if len(argv) < 3:
            print("usage: worker.py --once OP [JSON_ARGS]", file=sys.stderr)
            return 2
        return once(argv[2], argv[3] if len(argv) > 3 else "{}")
    return serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
