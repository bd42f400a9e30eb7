"""Used by `edgezoo doctor`: imports modules and reports, per check, version or error as JSON.

usage: python probe.py '[{"id": "tensorflow", "module": "tensorflow", "dist": "tensorflow",
                          "code": "optional python run after import, with the module as `m`"}]'
Prints one JSON line {"id": {"ok": bool, "version": str|null, "error": str|null, "ms": float}}
on the real stdout; everything the modules print goes to stderr.
"""

import importlib
import importlib.metadata as md
import json
import os
import sys
import time
import traceback

proto = os.dup(1)
os.dup2(2, 1)
checks = json.loads(sys.argv[1])
out = {}
for c in checks:
    t = time.perf_counter()
    entry = {"ok": False, "version": None, "error": None}
    try:
        if c.get("dist"):
            entry["version"] = md.version(c["dist"])
        if c.get("module"):
            m = importlib.import_module(c["module"])
            if c.get("code"):
                exec(c["code"], {"m": m})
        entry["ok"] = True
    except BaseException as e:
        entry["error"] = f"{type(e).__name__}: {e}"
        entry["traceback"] = traceback.format_exc(limit=3)
    entry["ms"] = round((time.perf_counter() - t) * 1000, 1)
    out[c["id"]] = entry
os.write(proto, (json.dumps(out) + "\n").encode())
