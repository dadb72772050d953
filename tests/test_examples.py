"""The examples still run (small sizes): they are documentation that must not rot."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_mlp_inference_example_runs_and_checks_itself():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(EXAMPLES.parent), os.environ.get("PYTHONPATH")])))
    for act in ("relu", "gelu"):
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "mlp_inference.py"), "--act", act, "--widths", "32,64,64,16",
             "--batch", "8", "--repeat", "2", "--threads", "1", "--monitor"],
            capture_output=True, text=True, env=env, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "outputs agree with NumPy" in result.stdout
        assert "fastact (matmul + fused bias_act_)" in result.stdout
        assert "units output zero" in result.stdout
