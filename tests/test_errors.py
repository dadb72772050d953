"""Bad input gets a TypeError/ValueError that names the function and the problem; nothing is
written when a call fails."""
import numpy as np
import pytest

import fastact as fa
from fastact.spec import SPECS
from helpers import BACKENDS, elementwise_cases, case_id, backward_params

CASES = elementwise_cases()


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.complex128, object, "U3"])
@pytest.mark.parametrize("name", [s.name for s in SPECS.values() if s.kind != "prelu"])
def test_unsupported_dtypes(name, dtype):
    x = np.zeros(4, dtype=dtype)
    params = {k: v for k, v in SPECS[name].examples[0].items()} if name == "threshold" else {}
    with pytest.raises(TypeError, match=rf"^{name}: unsupported dtype .*float16, float32 or float64"):
        getattr(fa, name)(x, **params)
    with pytest.raises(TypeError, match=rf"^{name}_: unsupported dtype"):
        getattr(fa, name + "_")(x, **params)
    with pytest.raises(TypeError, match=rf"^{name}_backward: unsupported dtype"):
        getattr(fa, name + "_backward")(np.zeros(4), x, **params)


def test_prelu_dtype_and_weight_errors():
    with pytest.raises(TypeError, match="^prelu: unsupported dtype int64"):
        fa.prelu(np.zeros(3, np.int64), 0.25)
    with pytest.raises(ValueError, match="^prelu: weight has 2 slopes but x has 3 channel"):
        fa.prelu(np.zeros((2, 3)), np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="^prelu: weight must be a scalar or 1-D"):
        fa.prelu(np.zeros((2, 3)), np.zeros((3, 1)))
    with pytest.raises(TypeError, match="^prelu: weight must hold real numbers"):
        fa.prelu(np.zeros((2, 3)), np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="^prelu: axis 5 is out of range"):
        fa.prelu(np.zeros((2, 3)), 0.1, axis=5)
    with pytest.raises(ValueError, match="^prelu_backward: from_output=True is not supported"):
        fa.prelu_backward(np.zeros(3), np.zeros(3), 0.1, from_output=True)


@pytest.mark.parametrize("name", ["relu", "gelu", "softmax", "prelu"])
def test_in_place_needs_a_writeable_ndarray(name):
    args = (0.25,) if name == "prelu" else ()
    with pytest.raises(TypeError, match=rf"^{name}_: the array must be a writeable numpy.ndarray.*got list"):
        getattr(fa, name + "_")([1.0, -2.0], *args)
    x = np.ones(3)
    x.flags.writeable = False
    with pytest.raises(ValueError, match=rf"^{name}_: the array is read-only"):
        getattr(fa, name + "_")(x, *args)


def test_out_of_place_accepts_array_likes():
    np.testing.assert_array_equal(fa.relu([1.0, -2.0]), [1.0, 0.0])
    assert fa.relu(np.float32(-1.0)).dtype == np.float32
    with pytest.raises(TypeError, match="^relu: unsupported dtype int64"):
        fa.relu([1, 2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_checks(backend):
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"^gelu: out has shape \(3, 2\), expected \(2, 3\)"):
        fa.gelu(x, out=np.empty((3, 2), np.float32), backend=backend)
    with pytest.raises(ValueError, match="^gelu: out has dtype float64, expected float32"):
        fa.gelu(x, out=np.empty((2, 3)), backend=backend)
    with pytest.raises(TypeError, match="^gelu: out must be a numpy.ndarray, got list"):
        fa.gelu(x, out=[0.0] * 6, backend=backend)
    ro = np.empty((2, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="^gelu: out is read-only"):
        fa.gelu(x, out=ro, backend=backend)
    with pytest.raises(ValueError, match=r"^gelu_backward: grad has shape \(2, 3\) but x has shape \(3,\)"):
        fa.gelu_backward(x, np.ones(3, np.float32), backend=backend)
    with pytest.raises(ValueError, match="^gelu_backward: grad has dtype float32 but x has dtype float64"):
        fa.gelu_backward(x, np.ones((2, 3)), backend=backend)


@pytest.mark.parametrize("call, error, message", [
    (lambda: fa.celu(np.ones(2), alpha=0.0), ValueError, "^celu: alpha must be non-zero, got 0.0"),
    (lambda: fa.softshrink(np.ones(2), lambd=-1.0), ValueError, r"^softshrink: lambd must be >= 0, got -1.0"),
    (lambda: fa.hardtanh(np.ones(2), 2.0, 1.0), ValueError, r"^hardtanh: min_val \(2.0\) must be <= max_val \(1.0\)"),
    (lambda: fa.rrelu(np.ones(2), 0.5, 0.1), ValueError, r"^rrelu: lower \(0.5\) must be <= upper \(0.1\)"),
    (lambda: fa.leaky_relu(np.ones(2), "0.1"), TypeError, "^leaky_relu: negative_slope must be a real number, got str"),
    (lambda: fa.leaky_relu(np.ones(2), float("nan")), ValueError, "^leaky_relu: negative_slope must be finite"),
    (lambda: fa.elu_(np.ones(2), alpha=np.inf), ValueError, "^elu_: alpha must be finite"),
    (lambda: fa.gelu(np.ones(2), approximate="fast"), ValueError, "^gelu: approximate must be one of 'none', 'tanh'"),
    (lambda: fa.softplus(np.ones(2), beta=0), ValueError, "^softplus: beta must be non-zero"),
    (lambda: fa.threshold(np.ones(2)), TypeError, "threshold"),
    (lambda: fa.rrelu(np.ones(2), training=1), TypeError, "^rrelu: training must be True or False"),
    (lambda: fa.rrelu(np.ones(2), training=True, rng=42), TypeError, "^rrelu: rng must be a numpy.random.Generator"),
    (lambda: fa.softmax(np.ones((2, 3)), axis=2), ValueError, r"^softmax: axis 2 is out of range"),
    (lambda: fa.softmax(np.ones((2, 3)), axis=1.0), TypeError, r"^softmax: axis must be an integer"),
    (lambda: fa.relu(np.ones(2), backend="torch"), ValueError, r"unknown backend 'torch'"),
])
def test_parameter_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_from_output_where_not_allowed(case):
    name, params = case
    spec = SPECS[name]
    values = tuple(params.get(p.name, p.default) for p in spec.params)
    problem = spec.from_output_error(values)
    g = np.ones(3)
    call = lambda: getattr(fa, name + "_backward")(g, g, **backward_params(name, params), from_output=True)
    if problem is None:
        call()
    else:
        with pytest.raises(ValueError, match=rf"^{name}_backward: from_output=True is not supported"):
            call()


def test_from_output_depends_on_parameters():
    g = np.ones(3)
    fa.leaky_relu_backward(g, g, 0.1, from_output=True)
    with pytest.raises(ValueError, match="negative_slope >= 0"):
        fa.leaky_relu_backward(g, g, -0.1, from_output=True)
    with pytest.raises(ValueError, match="alpha >= 0"):
        fa.elu_backward(g, g, -1.0, from_output=True)
    fa.celu_backward(g, g, -1.0, from_output=True)      # the sign of celu's output still tells


def test_failed_calls_write_nothing():
    x = np.linspace(-1, 1, 6)
    out = np.full(6, 7.0)
    with pytest.raises(ValueError):
        fa.celu(x, 0.0, out=out)
    with pytest.raises(ValueError):
        fa.gelu_backward(x, x[:3], out=out)
    np.testing.assert_array_equal(out, 7.0)
    before = x.copy()
    with pytest.raises(ValueError):
        fa.softshrink_(x, -1.0)
    np.testing.assert_array_equal(x, before)
