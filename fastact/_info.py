"""What this installation can do: ``fastact.config()`` and ``fastact.show_config()``."""
from __future__ import annotations

import platform
import sys

import numpy as np

from . import _backends, _config, _policy

_SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl")


def cpu_features() -> dict:
    """The CPU model and the SIMD features this process can use (Linux: /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return {"model": model, "machine": platform.machine(),
            "simd": [f for f in _SIMD_FLAGS if f in flags]}


def config() -> dict:
    """Backends available (and why not), CPU features, variant in use, threads, thresholds, versions."""
    from . import __version__
    backends = {}
    for name in _backends.KERNEL_BACKENDS:
        module = _backends.load(name)
        entry = {"available": module is not None, "reason": _backends.why_unavailable(name)}
        if module is not None:
            entry.update(module.info())
        backends[name] = entry
    backends["numpy"] = {"available": True, "reason": None, "version": np.__version__}
    return {
        "version": __version__,
        "backend": _config.current_backend(),
        "auto_choice": _policy.describe(),
        "backends": backends,
        "num_threads": _config.get_num_threads(),
        "usable_cores": _config.usable_cores(),
        "parallel_threshold": dict(_policy.PARALLEL_THRESHOLD),
        "stream_from_bytes": _policy.STREAM_FROM_BYTES,
        "cpu": cpu_features(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
    }


def show_config() -> None:
    """Print `config()` for people."""
    c = config()
    print(f"fastact {c['version']}  (Python {c['python']}, NumPy {c['numpy']})")
    print(f"CPU: {c['cpu']['model']} [{c['cpu']['machine']}]; SIMD: {' '.join(c['cpu']['simd']) or 'none seen'}")
    print(f"backend in force: {c['backend']}; auto picks: {c['auto_choice']}")
    print(f"threads: {c['num_threads']} (usable cores: {c['usable_cores']}); parallel above "
          + ", ".join(f"{n:,} elements ({cost} ops)" for cost, n in c["parallel_threshold"].items()))
    print(f"streaming stores: out of place from {c['stream_from_bytes'] / 2**20:g} MiB of traffic "
          "(inputs + output)")
    print("backends:")
    for name, entry in c["backends"].items():
        if entry["available"]:
            details = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("available", "reason"))
            print(f"  {name:7s} available  {details}")
        else:
            print(f"  {name:7s} NOT available: {entry['reason']}")
