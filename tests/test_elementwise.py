"""Every elementwise activation x every backend x dtype x layout, against the NumPy reference.

Enumerated from the spec: a new activation (or a new example parameter set) is covered here
without touching this file.
"""
import numpy as np
import pytest

import fastact as fa
from helpers import (BACKENDS, DTYPES, assert_close, case_id, elementwise_cases, from_output_allowed,
                     layouts, parallel_everywhere, reference_backward, reference_forward, sample,
                     backward_params)

CASES = elementwise_cases()


def _run_all_forms(name, params, backend, dtype):
    for label, x in layouts(dtype):
        what = f"{name} {backend} {np.dtype(dtype).name} {label}"
        x_before = x.copy()
        want = reference_forward(name, x, params)

        y = getattr(fa, name)(x, **params, backend=backend)
        assert_close(y, want, dtype, what + " forward")
        np.testing.assert_array_equal(x, x_before, err_msg=what + ": forward modified its input")

        out = np.full_like(x, 7)
        assert getattr(fa, name)(x, **params, out=out, backend=backend) is out
        assert_close(out, want, dtype, what + " out=")

        xi = x.copy() if x.ndim == 0 else x.copy(order="K")
        assert getattr(fa, name + "_")(xi, **params, backend=backend) is xi
        assert_close(xi, want, dtype, what + " in place")

        grad = sample(x.shape, dtype, seed=11, special=False)
        g_before = grad.copy()
        bparams = backward_params(name, params)
        want_dx = reference_backward(name, grad, x, params)
        dx = getattr(fa, name + "_backward")(grad, x, **bparams, backend=backend)
        assert_close(dx, want_dx, dtype, what + " backward")
        np.testing.assert_array_equal(grad, g_before, err_msg=what + ": backward modified grad")
        np.testing.assert_array_equal(x, x_before, err_msg=what + ": backward modified x")

        g_inplace = grad.copy()
        assert getattr(fa, name + "_backward")(g_inplace, x, **bparams, out=g_inplace, backend=backend) is g_inplace
        assert_close(g_inplace, want_dx, dtype, what + " backward out=grad")

        if from_output_allowed(name, params):
            y_saved = y.copy()
            want_y = reference_backward(name, grad, y.astype(np.float64), params, from_output=True)
            dy = getattr(fa, name + "_backward")(grad, y_saved, **bparams, from_output=True, backend=backend)
            assert_close(dy, want_y, dtype, what + " backward from output")
            np.testing.assert_array_equal(y_saved, y, err_msg=what + ": backward modified y")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_against_reference(case, backend, dtype):
    name, params = case
    _run_all_forms(name, params, backend, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_parallel_kernels_against_reference(case, backend, dtype):
    name, params = case
    with parallel_everywhere():
        _run_all_forms(name, params, backend, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_in_place_on_a_view_updates_the_base(case, backend):
    name, params = case
    base = sample((20, 30), np.float32, seed=5)
    before = base.copy()
    view = base[::2, 3:]
    want = reference_forward(name, view, params)
    getattr(fa, name + "_")(view, **params, backend=backend)
    assert_close(base[::2, 3:], want, np.float32, f"{name} view")
    untouched = np.ones(base.shape, bool)
    untouched[::2, 3:] = False
    np.testing.assert_array_equal(base[untouched], before[untouched], err_msg="wrote outside the view")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES[:3] + [c for c in CASES if c[0] in ("gelu", "softplus")], ids=case_id)
def test_out_overlapping_the_input(case, backend):
    """out shifted by one element against x: the answer must be as if x were read first."""
    name, params = case
    buf = sample((101,), np.float64, seed=3)
    x, out = buf[:-1], buf[1:]
    want = reference_forward(name, x.copy(), params)
    getattr(fa, name)(x, **params, out=out, backend=backend)
    assert_close(out, want, np.float64, f"{name} overlapping out")

    buf = sample((101,), np.float64, seed=4, special=False)
    grad, x = buf[1:], sample((100,), np.float64, seed=6)
    want = reference_backward(name, grad.copy(), x, params)
    getattr(fa, name + "_backward")(grad, x, **backward_params(name, params), out=buf[:-1], backend=backend)
    assert_close(buf[:-1], want, np.float64, f"{name} backward overlapping out")


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_arrays_take_the_parallel_path_correctly(backend):
    """Above the real thresholds, with every thread: spot-check a cheap and an expensive op."""
    x = sample((300_001,), np.float32, seed=9)
    fa.set_num_threads(2)
    for name in ("relu", "gelu", "tanh"):
        assert_close(getattr(fa, name)(x, backend=backend), reference_forward(name, x, {}), np.float32, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
def test_hardsigmoid_hardswish_divide_exactly(backend, dtype):
    """The compiled kernels of hardsigmoid and hardswish divide by 6 (hardswish' by 3) without a
    division instruction (mathfn's div_const); the result is PyTorch's formula's quotient bit for
    bit wherever it is a normal number (a subnormal hardswish output may be one ulp off), over
    inputs of every binade.  (The NumPy reference computes hardswish as x * hardsigmoid(x).)"""
    F = np.dtype(dtype).type
    rng = np.random.default_rng(21)
    mags = np.exp2(rng.uniform(-30, 8, 300_000))
    x = np.concatenate([mags, -mags, rng.uniform(-4, 4, 300_000), [0.0, -0.0, 3.0, -3.0, 6.0]]).astype(F)
    three, six = F(3), F(6)
    with np.errstate(all="ignore"):
        c = np.clip(x + three, F(0), six)
        want_sig = c / six
        cw = np.minimum(x + three, six)
        want_swish = np.where(cw <= 0, F(0), x * cw / six)
        g = np.full_like(x, F(0.75))
        want_swish_b = np.where(x <= -three, F(0), np.where(x >= three, g, g * (x / three + F(0.5))))
    for got, want, what in ((fa.hardsigmoid(x, backend=backend), want_sig, "hardsigmoid"),
                            (fa.hardswish(x, backend=backend), want_swish, "hardswish"),
                            (fa.hardswish_backward(g, x, backend=backend), want_swish_b, "hardswish_backward")):
        normal = np.abs(want) >= np.finfo(F).tiny
        np.testing.assert_array_equal(got[normal], want[normal], err_msg=what)
        np.testing.assert_array_equal(np.signbit(got[want == 0]), np.signbit(want[want == 0]), err_msg=what)
