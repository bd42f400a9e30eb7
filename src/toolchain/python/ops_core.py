"""Ops every environment has: liveness and the versions of installed distributions."""

from __future__ import annotations

import importlib.metadata as md
import os
import sys

from registry import op


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@op("ping")
def ping(echo=None):
    return {"pong": True, "echo": echo, "pid": os.getpid(), "rssMb": round(_rss_mb(), 1)}


@op("versions")
def versions(distributions):
    """The version of each pip distribution named by the caller (null when not installed): the
    list is the TypeScript side's (the env's key packages), not kept here."""
    found = {}
    for name in distributions:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = None
    return {"python": ".".join(map(str, sys.version_info[:3])), "distributions": found}
