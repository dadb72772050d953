"""PyTorch's values at special points (tests/semantics.json, copied from the design folder) for
every backend; and every gradient against central differences."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

import fastact as fa
from fastact.spec import SPECS
from helpers import BACKENDS, assert_close, case_id, elementwise_cases, backward_params, from_output_allowed

FIXTURE = json.loads((Path(__file__).parent / "semantics.json").read_text())
POINTS = np.array([float(p) for p in FIXTURE["points"]])


def _values(seq):
    return np.array([float(v) for v in seq])


def _op_name(key):
    return key.split("(")[0]


def _limits_not_torch(key):
    return {float(p) for p in FIXTURE["limits_not_torch"].get(key, [])}


def test_fixture_covers_every_elementwise_activation():
    covered = {_op_name(k) for k in FIXTURE["ops"]}
    # prelu (a weight), rrelu (random) and the softmaxes (not elementwise) are tested on their own.
    expected = {s.name for s in SPECS.values() if s.kind == "elementwise"}
    assert expected <= covered, expected - covered


# rtol: a few ULP. atol: PyTorch computes some values with cancellation (sigmoid' = y(1 - y),
# tanh' = 1 - y**2, 1 + erf(x) in gelu), so its float64 value at x = 20 or -6 is off by up to
# ~1e-16 absolute where fastact (and the reference) return the exact value.
FIXTURE_TOLERANCE = {np.float64: (1e-10, 1e-15), np.float32: (4e-6, 1e-15)}


def _close(got, want, dtype, what, points=POINTS, atol=None):
    rtol, atol = FIXTURE_TOLERANCE[dtype][0], atol or FIXTURE_TOLERANCE[dtype][1]
    got = got.astype(np.float64)
    nan_want = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan_want, err_msg=f"{what}: NaN positions")
    ok = ~nan_want
    with np.errstate(invalid="ignore"):
        err = np.where(np.isinf(want[ok]), np.where(got[ok] == want[ok], 0.0, np.inf), np.abs(got[ok] - want[ok]))
    bad = err > atol + rtol * np.abs(want[ok])
    assert not bad.any(), (f"{what}: at x = {points[ok][bad]} got {got[ok][bad]}, want {want[ok][bad]}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key", sorted(FIXTURE["ops"]))
def test_special_points(key, backend, dtype):
    entry = FIXTURE["ops"][key]
    name, params = _op_name(key), entry["params"]
    x = POINTS.astype(dtype)
    want_y = _values(entry["y"])
    want_d = _values(entry["dydx"])
    if dtype == np.float32:
        # Compare with float32's own rounding of PyTorch's float64 values (1e30 * 6 etc.).
        with np.errstate(over="ignore", under="ignore"):
            want_y = want_y.astype(np.float32).astype(np.float64)
            want_d = want_d.astype(np.float32).astype(np.float64)
    y = getattr(fa, name)(x, **params, backend=backend)
    _close(y, want_y, dtype, f"{key} forward")
    d = getattr(fa, name + "_backward")(np.ones_like(x), x, **params, backend=backend)
    _close(d, want_d, dtype, f"{key} d/dx")
    if from_output_allowed(name, params):
        # The output determines the derivative wherever the input is not NaN.
        keep = ~np.isnan(POINTS)
        dy = getattr(fa, name + "_backward")(np.ones_like(x), y, **params, from_output=True, backend=backend)
        # In float32 the output is rounded where the function saturates (elu(-20) = -1 + 2e-9),
        # so a derivative computed from it carries an absolute error of about eps32.
        _close(dy[keep], want_d[keep], dtype, f"{key} d/dx from the output", POINTS[keep],
               atol=1e-6 if dtype == np.float32 else None)


def test_limits_not_torch_are_the_mathematical_limits():
    """Where PyTorch returns NaN at an infinity, we return the limit (the fixture lists them)."""
    for key, points in FIXTURE["limits_not_torch"].items():
        entry = FIXTURE["ops"][key]
        name = _op_name(key)
        for p in points:
            i = FIXTURE["points"].index(p) if p in FIXTURE["points"] else list(POINTS).index(float(p))
            y = getattr(fa, name)(np.array([POINTS[i]]), **entry["params"])
            assert not np.isnan(y[0]), (key, p)
            assert y[0] == float(entry["y"][i]), (key, p, y[0])


def test_pinned_pytorch_conventions():
    """Choices where the table's formula and PyTorch disagree; PyTorch wins."""
    x = np.array([np.nan, -0.0, 0.0, 3.0, -3.0])
    one = np.ones_like(x)
    # relu passes the incoming gradient at NaN; relu(-0.0) keeps the sign.
    assert fa.relu_backward(one, x)[0] == 1.0
    assert math.copysign(1.0, fa.relu(x)[1]) == -1.0
    # threshold keeps NaN (x <= t ? value : x) and passes the gradient at NaN.
    assert np.isnan(fa.threshold(x, 0.5, -1.0)[0]) and fa.threshold_backward(one, x, 0.5, -1.0)[0] == 1.0
    # hardsigmoid's gradient is 1/6 rounded to float32, in float64 too.
    assert fa.hardsigmoid_backward(np.ones(1), np.array([0.0]))[0] == float(np.float32(1 / 6))
    # hardswish: 0 at x = -3, 1 at x = 3.
    assert list(fa.hardswish_backward(one[3:], x[3:])) == [1.0, 0.0]
    # hardshrink / softshrink keep NaN but give it a zero gradient.
    assert np.isnan(fa.hardshrink(x)[0]) and fa.hardshrink_backward(one, x)[0] == 0.0
    assert np.isnan(fa.softshrink(x)[0]) and fa.softshrink_backward(one, x)[0] == 0.0


# --- gradients against central differences, float64 ------------------------------------------------

def _grid():
    # Away from kinks (and the thresholds of the example parameters) by construction.
    return np.concatenate([np.linspace(-7.3, 7.3, 81) + 0.0137, [-25.3, -13.7, 13.9, 25.1]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", [c for c in elementwise_cases()], ids=case_id)
def test_gradient_matches_central_differences(case, backend):
    name, params = case
    x = _grid()
    f = getattr(fa, name)
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    numeric = (f(x + h, **params, backend=backend) - f(x - h, **params, backend=backend)) / (2 * h)
    analytic = getattr(fa, name + "_backward")(np.ones_like(x), x, **backward_params(name, params), backend=backend)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7, err_msg=f"{name} {params}")
