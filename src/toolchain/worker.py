"""edgezoo's long-lived Python worker: converter operations over JSON lines on stdio.

The protocol is defined in TypeScript (src/toolchain/protocol/, see wire.ts for the lines) and
generated as JSON Schema (src/toolchain/protocol/worker-protocol.schema.json), which this worker
reads at start:
  worker -> host, once at start: {"event": "ready", "pid", "python", "ops", "missingOps",
                                  "unknownOps", "brokenModules"}
  host -> worker:                {"id": 1, "op": "ping", "args": {...}}
  worker -> host:                {"id": 1, "ok": true, "result": ..., "seconds": 0.01}
                              or {"id": 1, "ok": false, "error": {"code", "message", "op", ...}, "seconds": ...}
Every request is checked against its op's schema before the op runs (BAD_REQUEST otherwise).
Expected failures are `OpError(code, message)` (registry.py); any other exception is TOOL_FAILED.

Only protocol lines ever reach the real stdout: at start the worker keeps private duplicates of
file descriptors 0 and 1 for itself, points fd 1 at stderr (whatever a converter prints, Python
print, C++ logging, child processes such as onnxsim, lands on stderr) and fd 0 at /dev/null (a
child cannot read requests meant for the worker).

The host starts the worker as the leader of its own process group and kills the group to stop
an op midway. When the host goes away (stdin closes; also when it was SIGKILLed) while an op
runs, the worker kills its group at once: no converter runs on for minutes for nobody.

Operations are registered by the modules src/toolchain/python/ops_*.py with the `op` decorator
from `registry.py`; they must import heavy libraries (tensorflow, torch) inside the function, so
the worker starts fast in any environment and an op whose package is missing fails alone.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import signal
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
OPS_DIR = os.path.join(HERE, "python")
EXIT_OP = "__exit__"


def _claim_stdio() -> tuple[int, int]:
    """Keeps fds 0 and 1 for the protocol (returns their duplicates); see the module comment."""
    proto_in = os.dup(0)
    proto_out = os.dup(1)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    except Exception:
        pass
    return proto_in, proto_out


def _json_default(value):
    # numpy scalars/arrays and paths returned by ops
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _encode(message: dict) -> bytes:
    return (json.dumps(message, default=_json_default, allow_nan=False) + "\n").encode("utf-8")


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _end_group() -> None:
    """Ends the worker and every process its op started, now (the host is gone)."""
    try:
        if os.getpgrp() == os.getpid():  # the leader of its own group, as the host starts it
            os.killpg(os.getpid(), signal.SIGKILL)
    finally:
        os._exit(1)


class _Requests:
    """Request lines, read on a thread of their own so that stdin closing is noticed while an op
    runs (the main thread is inside the op then)."""

    def __init__(self, fd: int):
        self.lines: queue.Queue = queue.Queue()
        self.busy = False
        self._stream = os.fdopen(fd, "rb")
        threading.Thread(target=self._read, name="edgezoo-requests", daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._stream:
                self.lines.put(line)
        except OSError:
            pass
        if self.busy:
            _end_group()
        self.lines.put(None)

    def next(self):
        """The next request line, or None when stdin closed."""
        return self.lines.get()


def _load_ops(registry) -> tuple[dict, dict]:
    """Imports every ops_*.py: (registered ops, {module: import error}). A module that fails to
    import is reported, not fatal: the other modules' ops stay usable."""
    broken = {}
    for name in sorted(os.listdir(OPS_DIR)):
        if name.startswith("ops_") and name.endswith(".py"):
            try:
                importlib.import_module(name[:-3])
            except Exception as exc:
                broken[name[:-3]] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc(file=sys.stderr)
    return registry.OPS, broken


class Worker:
    def __init__(self):
        sys.path.insert(0, OPS_DIR)
        protocol_module = importlib.import_module("protocol")
        self.registry = importlib.import_module("registry")
        self.protocol = protocol_module.Protocol.load()
        self.ops, self.broken = _load_ops(self.registry)

    def ready(self) -> dict:
        known = set(self.protocol.ops)
        return {
            "event": "ready",
            "pid": os.getpid(),
            "python": ".".join(map(str, sys.version_info[:3])),
            "ops": sorted(known & set(self.ops)),
            "missingOps": sorted(known - set(self.ops)),
            "unknownOps": sorted(set(self.ops) - known),
            "brokenModules": self.broken,
        }

    def _failure(self, op, exc: BaseException) -> dict:
        OpError = self.registry.OpError
        if isinstance(exc, OpError) and exc.code in self.protocol.error_codes:
            error = {"code": exc.code, "message": exc.message or exc.code}
            if exc.node is not None:
                error["node"] = exc.node
            if exc.detail is not None:
                error["detail"] = exc.detail
        elif isinstance(exc, OpError):
            error = {"code": "WORKER_BUG", "message": f"OpError with a code outside the protocol ({exc.code}): {exc}"}
        elif isinstance(exc, SystemExit):  # onnx2tf and argparse-based tools call sys.exit on errors
            error = {"code": "TOOL_EXITED", "message": f"{op} called sys.exit({exc.code})"}
            error["detail"] = {"exitCode": exc.code if isinstance(exc.code, int) else str(exc.code)}
        else:
            error = {"code": "TOOL_FAILED", "message": str(exc) or type(exc).__name__}
        if isinstance(op, str):
            error["op"] = op
        error["type"] = type(exc).__name__
        error["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return error

    def _call(self, request: dict):
        OpError = self.registry.OpError
        op = request.get("op")
        args = request.get("args", {})
        if not isinstance(op, str) or op not in self.protocol.ops:
            raise OpError("UNKNOWN_OP", f"unknown op {op!r}; known: {', '.join(self.protocol.ops)}")
        fn = self.ops.get(op)
        if fn is None:
            broken = "; ".join(f"{m}: {e}" for m, e in sorted(self.broken.items())) or "none"
            raise OpError(
                "OP_UNAVAILABLE",
                f"{op} is not available in this worker: no ops module registered it "
                f"(modules that failed to import: {broken})",
                detail={"brokenModules": self.broken},
            )
        if not isinstance(args, dict):
            raise OpError("BAD_REQUEST", f"bad request for {op}: args must be a JSON object")
        errors = self.protocol.check_request(op, args)
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise OpError(
                "BAD_REQUEST",
                f"bad request for {op}: {errors[0]['path']}: {errors[0]['message']}{more}",
                detail={"errors": errors},
            )
        return fn(**args)

    def handle(self, request: dict) -> bytes:
        rid = request.get("id")
        started = time.perf_counter()
        cwd = os.getcwd()
        try:
            reply = {"id": rid, "ok": True, "result": self._call(request)}
        except BaseException as exc:  # one failing op must not end the worker (SystemExit included)
            if isinstance(exc, KeyboardInterrupt):
                raise
            reply = {"id": rid, "ok": False, "error": self._failure(request.get("op"), exc)}
        finally:
            try:
                os.chdir(cwd)
            except OSError:
                pass
            sys.stdout.flush()
            sys.stderr.flush()
        reply["seconds"] = round(time.perf_counter() - started, 4)
        try:
            return _encode(reply)
        except (TypeError, ValueError) as exc:  # NaN, or an object json cannot write
            error = {"code": "WORKER_BUG", "message": f"the result of {request.get('op')} is not JSON: {exc}"}
            return _encode({"id": rid, "ok": False, "error": error, "seconds": reply["seconds"]})


def _prepare_environment() -> None:
    # Tools such as onnx2tf start `onnxsim` by name: the venv's bin must come first on PATH.
    bindir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")


def serve() -> int:
    proto_in, proto_out = _claim_stdio()
    _prepare_environment()
    worker = Worker()
    _write(proto_out, _encode(worker.ready()))
    requests = _Requests(proto_in)
    while True:
        line = requests.next()
        if line is None:
            return 0
        line = line.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request must be a JSON object")
        except ValueError as exc:
            error = {"code": "BAD_REQUEST", "message": f"a request line that is not a JSON object: {exc}"}
            _write(proto_out, _encode({"id": None, "ok": False, "error": error, "seconds": 0}))
            continue
        if request.get("op") == EXIT_OP:
            _write(proto_out, _encode({"id": request.get("id"), "ok": True, "result": None, "seconds": 0}))
            return 0
        requests.busy = True
        try:
            reply = worker.handle(request)
        finally:
            requests.busy = False
        _write(proto_out, reply)


if __name__ == "__main__":
    sys.exit(serve())
