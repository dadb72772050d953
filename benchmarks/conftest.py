"""Configuration of the pytest-benchmark suite.

* ``--fastact-threads N``: the one thread count of every fastact backend, of PyTorch, of ONNX
  Runtime (intra_op_num_threads) and of the floor pass (default: ``fastact.get_num_threads()``, i.e. FASTACT_NUM_THREADS or the usable cores).
  It is set before any backend loads (Numba sizes its pool when it loads) and recorded in the
  JSON's machine_info under "fastact".
* ``--run-slow``: also run the sizes above 10^7 (marked ``slow``).
"""
from __future__ import annotations

import os
import sys

import pytest

try:
    import fastact
except ImportError:             # not installed: benchmark the checkout this file is in
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import fastact

from fastact.bench import implementations


def pytest_addoption(parser):
    group = parser.getgroup("fastact")
    group.addoption("--fastact-threads", type=int, default=None, metavar="N",
                    help="thread count for every fastact backend, PyTorch and the floor "
                         "(default: fastact.get_num_threads())")
    group.addoption("--run-slow", action="store_true", help="also run the sizes above 10^7")


def pytest_configure(config):
    fastact.set_num_threads(config.getoption("fastact_threads") or fastact.get_num_threads())


@pytest.fixture(scope="session", autouse=True)
def _pin_threads():
    """PyTorch gets fastact's thread count (imported here, not at collection: it takes a second)."""
    if implementations.torch_available():
        import torch
        torch.set_num_threads(fastact.get_num_threads())


def pytest_collection_modifyitems(config, items):
    if config.getoption("run_slow"):
        return
    skip = pytest.mark.skip(reason="a slow size: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_benchmark_update_machine_info(config, machine_info):
    from fastact.bench.report import _config, _versions
    info = {"threads": fastact.get_num_threads(), "implementations": list(implementations.implementation_names()),
            "versions": _versions(), "config": _config()}
    if implementations.torch_available():
        import torch
        info["torch_threads"] = torch.get_num_threads()
    if implementations.ort_available():
        info["ort_intra_op_num_threads"] = fastact.get_num_threads()
    try:
        info["loadavg"] = list(os.getloadavg())
    except OSError:
        pass
    machine_info["fastact"] = info
