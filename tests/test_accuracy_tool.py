"""tools/activation_accuracy.py: its long-double reference is exact enough (checked against
mpmath), and a sampled run of it holds every activation, backend and dtype to the error bounds the
docs state (`activation_accuracy.DEFAULT_ULP`, `DEFAULT_ABS_EPS`, with the documented `EXCEPTIONS`). The full run, with
millions of inputs, writes docs/accuracy.md."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import activation_accuracy as acc  # noqa: E402

L = np.longdouble
mp = pytest.importorskip("mpmath")


def _mp(values):
    return np.array([L(mp.nstr(v, 30)) for v in values], dtype=L)


def _rel(got, want):
    return np.max(np.abs(got - want) / np.maximum(np.abs(want), L("1e-4000")))


def test_reference_erfc_is_exact_to_long_double():
    mp.mp.dps = 40
    z = np.concatenate([np.linspace(-6, 6, 241), np.linspace(6, 100, 60), [1e-20, -1e-10, 0.7999, 0.8001, 1.1999, 1.2001]])
    want = _mp([mp.erfc(mp.mpf(float(v))) for v in z])
    assert _rel(acc.erfc(z.astype(L)), want) < 1e-17


@pytest.mark.parametrize("name, params, exact", [
    ("gelu", {"approximate": "none"}, lambda x: x * mp.ncdf(x)),
    ("gelu", {"approximate": "tanh"},
     lambda x: x / (1 + mp.exp(-2 * mp.sqrt(2 / mp.pi) * (x + mp.mpf("0.044715") * x ** 3)))),
    ("tanhshrink", {}, lambda x: x - mp.tanh(x)),
    ("mish", {}, lambda x: x * mp.tanh(mp.log1p(mp.exp(x)))),
    ("silu", {}, lambda x: x / (1 + mp.exp(-x))),
    ("logsigmoid", {}, lambda x: -mp.log1p(mp.exp(-x))),
    ("selu", {}, lambda x: mp.mpf(acc.SELU_SCALE) * (x if x > 0 else mp.mpf(acc.SELU_ALPHA) * mp.expm1(x))),
])
def test_reference_forward_is_exact_to_long_double(name, params, exact):
    """Relative error < 1e-16 (float64's half ULP is 1.1e-16 at worst, 5.6e-17 typically). Where an
    exponent's argument is big (gelu's tanh form below x = -15: 2u < -250) the long-double
    argument's own rounding, |argument| x 2^-63 relatively, is the limit: not tested there."""
    mp.mp.dps = 50
    x = np.concatenate([np.linspace(-30, 30, 301), [1e-8, -1e-8, 1e-3, -1e-3, 0.09, -0.11, -45.0, 60.0]])
    if params.get("approximate") == "tanh":
        x = x[x >= -15]
    want = _mp([exact(mp.mpf(float(v))) for v in x])
    assert _rel(acc.ref_forward(name, x.astype(L), params), want) < 1e-16


@pytest.mark.parametrize("name, params", [("gelu", {"approximate": "none"}), ("gelu", {"approximate": "tanh"}),
                                          ("mish", {}), ("silu", {}), ("tanhshrink", {}), ("softplus",
                                          {"beta": 1.0, "threshold": 20.0}), ("elu", {"alpha": 1.0})])
def test_reference_backward_is_the_derivative_of_the_forward(name, params):
    """Central differences of the long-double forward (h = 1e-6: error ~1e-12 relative)."""
    x = np.linspace(-8, 8, 161).astype(L) + L(1) / 7
    h = L(1e-6)
    numeric = (acc.ref_forward(name, x + h, params) - acc.ref_forward(name, x - h, params)) / (2 * h)
    analytic = acc.ref_backward(name, x, params)
    assert np.max(np.abs(numeric - analytic) / np.maximum(np.abs(analytic), 1e-3)) < 1e-8


@pytest.fixture(scope="module")
def sampled():
    return acc.measure(points=6000)


def test_sampled_run_covers_every_case(sampled):
    functions = {(r["op"], r["direction"]) for r in sampled}
    for label, name, params, spec in acc.cases():
        assert (label, "forward") in functions and (label, "backward") in functions
    assert {r["backend"] for r in sampled} == set(acc.backends())
    assert {r["dtype"] for r in sampled} == {"float32", "float64"}


def test_sampled_errors_are_within_the_documented_bounds(sampled):
    failures = acc.check_bounds(sampled)
    assert not failures, "\n".join(failures)


def test_markdown_table(sampled):
    text = acc.markdown(sampled)
    assert "### float32" in text and "### float64" in text and "| gelu | forward |" in text


@pytest.mark.parametrize("case", sorted(acc.KNOWN_DEFECTS), ids=lambda c: " ".join(c))
def test_known_defects_are_still_there(sampled, case):
    """Each known defect (docs/accuracy.md) still breaks the default bound; once fixed, this fails:
    then remove it from KNOWN_DEFECTS."""
    rows = [r for r in sampled if (r["op"], r["direction"], r["dtype"]) == case]
    assert rows and acc.check_bounds(rows, defects=True), f"{case} is fixed: remove it from KNOWN_DEFECTS"


def test_summary_table(sampled):
    text = acc.summary_markdown(sampled)
    assert "| gelu |" in text and "float64 backward" in text and "abs " in text
