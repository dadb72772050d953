"""Fused bias + activation (forward, in place, backward), zero counting and activation_stats.

Every elementwise activation runs through the Cython and NumPy backends; the Numba backend,
whose kernels compile per (family, layout, flags), runs a sample of families that covers each
argument count and cost class, to keep the suite's compile time small.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastact as fa
from fastact.spec import SPECS

from helpers import (BACKENDS, assert_close, backward_params, case_id, elementwise_cases,
                     from_output_allowed, parallel_everywhere, reference_backward, reference_forward,
                     sample)

COMPUTE = {np.dtype(np.float16): np.float32, np.dtype(np.float32): np.float32,
           np.dtype(np.float64): np.float64}
NUMBA_SAMPLE = {"relu", "leaky_relu", "elu", "hardtanh", "gelu", "softplus", "sigmoid"}


def _cases():
    for name, params in elementwise_cases():
        if params.get("training"):
            continue
        for backend in BACKENDS:
            if backend == "numba" and name not in NUMBA_SAMPLE:
                continue
            yield pytest.param(name, params, backend, id=f"{case_id((name, params))}-{backend}")


CASES = list(_cases())

# (label, shape, feature axis): rows layout (last axis), planes layout (middle axis), a 1-D array,
# the first axis of a 2-D array (one plane per feature); then rows and planes longer than the
# Cython kernels' prefetch chunks (256 float32 elements), which prefetch across row ends
SHAPES = [("rows", (33, 40), -1), ("planes", (3, 5, 4, 7), 1), ("1-d", (50,), 0), ("axis 0", (6, 21), 0),
          ("long rows", (5, 700), -1), ("long planes", (2, 3, 530), 1)]


def _bias(n, dtype, seed=7):
    return (np.random.default_rng(seed).standard_normal(n) * 2).astype(dtype)


def _expected(name, x, b, ax, params):
    """The float64 truth of act(x + b), with x + b rounded in the computation dtype like the kernels."""
    compute = COMPUTE[x.dtype]
    shape = [1] * x.ndim
    shape[ax] = -1
    z = x.astype(compute) + b.astype(compute).reshape(shape)
    return z, reference_forward(name, z, params)


def _zero_counts(y, ax):
    return np.count_nonzero(np.asarray(y) == 0, axis=tuple(d for d in range(y.ndim) if d != ax % y.ndim))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("name,params,backend", CASES)
def test_bias_act_inplace_matches_reference(name, params, backend, dtype):
    for label, shape, axis in SHAPES:
        x = sample(shape, dtype, seed=len(label))
        ax = axis % x.ndim
        b = _bias(shape[ax], dtype)
        z, want = _expected(name, x, b, ax, params)
        counts = np.full(shape[ax], 3, np.int64)
        y = x.copy()
        assert fa.bias_act_(y, b, name, axis, zero_counts=counts, backend=backend, **params) is y
        assert_close(y, want, dtype, f"{name} {label}")
        # float16 is computed (and its zeros counted) in float32
        counted = y if dtype != np.float16 else fa.bias_act(x.astype(np.float32), b.astype(np.float32), name,
                                                            axis, backend=backend, **params)
        np.testing.assert_array_equal(counts - 3, _zero_counts(counted, ax), err_msg=f"{name} {label}: zero counts")


@pytest.mark.parametrize("name,params,backend", CASES)
def test_bias_act_backward_matches_reference(name, params, backend):
    dtype = np.float32
    for label, shape, axis in SHAPES:
        x = sample(shape, dtype, seed=len(label))
        ax = axis % x.ndim
        b = _bias(shape[ax], dtype)
        g = sample(shape, dtype, seed=99, special=False)
        z, y = _expected(name, x, b, ax, params)
        want = reference_backward(name, g, z, params)
        others = tuple(d for d in range(x.ndim) if d != ax)
        gx, gb = fa.bias_act_backward(g, x, b, name, axis, backend=backend, **backward_params(name, params))
        assert_close(gx, want, dtype, f"{name} {label} grad_x")
        assert gb.dtype == dtype and gb.shape == b.shape
        np.testing.assert_allclose(gb, gx.astype(np.float64).sum(axis=others), rtol=1e-5, atol=1e-4,
                                   err_msg=f"{name} {label} grad_bias")
        if from_output_allowed(name, params):
            y32 = y.astype(dtype)
            g2 = g.copy()
            gx2, gb2 = fa.bias_act_backward(g2, y32, b, name, axis, from_output=True, out=g2, backend=backend,
                                            **backward_params(name, params))
            assert gx2 is g2
            assert_close(gx2, reference_backward(name, g, y32, params, from_output=True), dtype,
                         f"{name} {label} grad_x from y")


@pytest.mark.parametrize("backend", BACKENDS)
def test_bias_act_out_of_place_and_layouts(backend):
    """Out of place leaves x alone; strided and Fortran arrays (through a compute copy) and
    parallel kernels give the same values as a contiguous serial call."""
    x = sample((64, 48), np.float32, special=False)
    b = _bias(48, np.float32)
    want = fa.gelu((x + b).astype(np.float32), backend="numpy")
    before = x.copy()
    got = fa.bias_act(x, b, "gelu", backend=backend)
    np.testing.assert_array_equal(x, before)
    assert_close(got, reference_forward("gelu", x + b, {}), np.float32, "gelu out of place")
    out = np.empty_like(x)
    assert fa.bias_act(x, b, "gelu", out=out, backend=backend) is out
    np.testing.assert_array_equal(out, got)
    for view in (np.asfortranarray(x.copy()), x.copy()[::-1], np.ascontiguousarray(x.T).T):
        v = view.copy() if view.flags.owndata else view
        expect = fa.bias_act(np.ascontiguousarray(v), b, "gelu", backend=backend)
        fa.bias_act_(v, b, "gelu", backend=backend)
        np.testing.assert_array_equal(v, expect)
    with parallel_everywhere():
        y = x.copy()
        counts = np.zeros(48, np.int64)
        fa.bias_act_(y, b, "relu", zero_counts=counts, backend=backend)
        np.testing.assert_array_equal(y, np.maximum(x + b, 0))
        np.testing.assert_array_equal(counts, _zero_counts(y, 1))
        x4 = sample((4, 6, 5, 5), np.float32, special=False)
        b6 = _bias(6, np.float32)
        y4 = x4.copy()
        c6 = np.zeros(6, np.int64)
        fa.bias_act_(y4, b6, "relu", 1, zero_counts=c6, backend=backend)
        want4 = np.maximum(x4 + b6[:, None, None], 0)
        np.testing.assert_array_equal(y4, want4)
        np.testing.assert_array_equal(c6, _zero_counts(want4, 1))
        g4 = sample(x4.shape, np.float32, seed=3, special=False)
        gx, gb = fa.bias_act_backward(g4, y4, b6, "relu", 1, from_output=True, backend=backend)
        np.testing.assert_array_equal(gx, np.where(want4 > 0, g4, 0))
        np.testing.assert_allclose(gb, gx.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-6, atol=1e-5)


def test_bias_gradient_matches_finite_differences():
    """grad_bias of L = sum(w * act(x + b)) against central differences, float64."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 6))
    b = rng.standard_normal(6)
    w = rng.standard_normal((20, 6))
    for name, params in (("gelu", {}), ("softplus", {"beta": 2.0, "threshold": 20.0}), ("elu", {"alpha": 0.7})):
        _, gb = fa.bias_act_backward(w, x, b, name, **params)
        h = 1e-6
        numeric = np.empty(6)
        for j in range(6):
            e = np.zeros(6)
            e[j] = h
            numeric[j] = (np.sum(w * fa.bias_act(x, b + e, name, **params))
                          - np.sum(w * fa.bias_act(x, b - e, name, **params))) / (2 * h)
        np.testing.assert_allclose(gb, numeric, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_inplace_forward_zero_counts(backend):
    """act_(x, zero_counts=c) adds each last-axis feature's zero count, accumulating across calls."""
    for name, params in elementwise_cases():
        if backend == "numba" and name not in NUMBA_SAMPLE:
            continue
        x = sample((30, 17), np.float32)
        x[::3, 2] = 0.0
        x[:, 5] = -1.0
        counts = np.zeros(17, np.int64)
        y = x.copy()
        kwargs = dict(params)
        if kwargs.get("training"):
            kwargs["rng"] = np.random.default_rng(0)
        getattr(fa, name + "_")(y, zero_counts=counts, backend=backend, **kwargs)
        plain = x.copy()
        if kwargs.get("training"):
            kwargs["rng"] = np.random.default_rng(0)
        getattr(fa, name + "_")(plain, backend=backend, **kwargs)
        np.testing.assert_array_equal(y, plain, err_msg=name)
        np.testing.assert_array_equal(counts, _zero_counts(y, 1), err_msg=name)
        getattr(fa, name + "_")(x.copy(), zero_counts=counts, backend=backend,
                                **{**kwargs, **({"rng": np.random.default_rng(0)} if kwargs.get("training") else {})})
        np.testing.assert_array_equal(counts, 2 * _zero_counts(y, 1), err_msg=f"{name}: accumulates")
    zero_d = np.array(-2.0)
    c = np.zeros(1, np.int64)
    fa.relu_(zero_d, zero_counts=c, backend=backend)
    assert zero_d == 0 and c[0] == 1


def test_activation_stats():
    y = np.zeros((10, 4))
    y[:, 1] = 1.0
    y[:5, 2] = 2.0
    y[0, 3] = np.nan
    stats = fa.activation_stats(y)
    np.testing.assert_array_equal(stats.zero_fraction, [1.0, 0.0, 0.5, 0.9])
    np.testing.assert_array_equal(stats.dead, [True, False, False, False])
    assert stats.samples == 10
    np.testing.assert_array_equal(fa.activation_stats(y, threshold=0.5).dead, [True, False, True, True])
    np.testing.assert_array_equal(fa.activation_stats(y.T, axis=1).zero_fraction, stats.zero_fraction)
    assert fa.activation_stats(y, axis=None).zero_fraction == pytest.approx(24 / 40)
    conv = np.zeros((2, 3, 4, 4), np.float32)
    conv[:, 1] = 5
    np.testing.assert_array_equal(fa.activation_stats(conv, axis=(0, 2, 3)).dead, [True, False, True])
    # zero_counts / samples is the same fraction
    x = sample((64, 9), np.float32)
    counts = np.zeros(9, np.int64)
    fa.relu_(x, zero_counts=counts)
    np.testing.assert_allclose(counts / 64, fa.activation_stats(x).zero_fraction)


def test_errors_name_the_function_and_the_problem():
    x = np.ones((4, 3), np.float32)
    b = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="bias_act_: unknown activation 'reluu'"):
        fa.bias_act_(x, b, "reluu")
    with pytest.raises(TypeError, match="bias_act_: act must be an activation name"):
        fa.bias_act_(x, b, fa.relu)
    for act in ("prelu", "softmax", "log_softmax"):
        with pytest.raises(ValueError, match=f"bias_act_: {act} is not elementwise"):
            fa.bias_act_(x, b, act)
    with pytest.raises(ValueError, match="rrelu in training mode"):
        fa.bias_act_(x, b, "rrelu", training=True)
    with pytest.raises(ValueError, match=r"bias has shape \(4,\), expected \(3,\)"):
        fa.bias_act_(x, np.zeros(4), "relu")
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        fa.bias_act_(x, b, "relu", axis=0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        fa.bias_act_(x, b, "relu", axis=2)
    with pytest.raises(TypeError, match="bias must hold real numbers"):
        fa.bias_act_(x, np.array(["a", "b", "c"]), "relu")
    with pytest.raises(TypeError, match="unknown parameter"):
        fa.bias_act_(x, b, "relu", negative_slope=0.1)
    with pytest.raises(ValueError, match="alpha must be non-zero"):
        fa.bias_act_(x, b, "celu", alpha=0.0)
    with pytest.raises(TypeError, match="bias_act_: x must be a writeable numpy.ndarray"):
        fa.bias_act_([[1.0, 2.0, 3.0]], b, "relu")
    with pytest.raises(ValueError, match="0-d"):
        fa.bias_act_(np.array(1.0), b, "relu")
    with pytest.raises(TypeError, match="integer dtype"):
        fa.bias_act_(x, b, "relu", zero_counts=np.zeros(3))
    with pytest.raises(ValueError, match=r"zero_counts has shape \(4,\), expected \(3,\)"):
        fa.bias_act_(x, b, "relu", zero_counts=np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=r"relu_: zero_counts has shape"):
        fa.relu_(x, zero_counts=np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="unexpected keyword argument 'zero_counts'"):
        fa.softmax_(x, zero_counts=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="bias_act_backward: from_output=True is not supported"):
        fa.bias_act_backward(x, x, b, "gelu", from_output=True)
    with pytest.raises(ValueError, match="bias_act_backward: grad has shape"):
        fa.bias_act_backward(x, x[:2], b, "relu")
    with pytest.raises(TypeError, match="unsupported dtype int64"):
        fa.bias_act(np.ones((2, 3), np.int64), b, "relu")
    with pytest.raises(ValueError, match="threshold must be in"):
        fa.activation_stats(x, threshold=2)
    with pytest.raises(ValueError, match="no samples"):
        fa.activation_stats(np.zeros((0, 3)))
    assert SPECS["relu"].kind == "elementwise"


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_counts_in_slabs(backend, monkeypatch):
    """Counting runs in slabs of < 2**31 elements (int32 partial counts); with a tiny slab the
    slab loop is exercised and gives the same answer."""
    from fastact import _fused
    monkeypatch.setattr(_fused, "_SLAB", 100)
    for shape, axis in (((33, 40), -1), ((7, 3, 11), 1)):
        x = sample(shape, np.float32)
        b = _bias(shape[axis], np.float32)
        counts = np.zeros(shape[axis], np.int64)
        y = x.copy()
        fa.bias_act_(y, b, "relu", axis, zero_counts=counts, backend=backend)
        np.testing.assert_array_equal(y, fa.bias_act(x, b, "relu", axis, backend="numpy"))
        np.testing.assert_array_equal(counts, _zero_counts(y, axis))
