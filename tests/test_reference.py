"""Checks of `fastact.reference`, the NumPy truth the kernels are tested against.

* the PyTorch fixture (semantics.json): forward and d/dx at NaN, +-inf, kinks, signed zeros ...;
* PyTorch itself on random data (forward and autograd), when torch is installed;
* exact values (mpmath) where the fixture's float64 numbers carry PyTorch's cancellation error;
* in place, dtypes, shapes and strides, no RuntimeWarning, rrelu's training mode.

The cases are enumerated from the spec: a new activation is tested here without editing this file
(only the torch name map below may need an entry).
"""
from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from fastact import reference as R
from fastact.spec import SPECS

HERE = Path(__file__).parent
FIXTURE_PATH = HERE / "semantics.json"
if not FIXTURE_PATH.exists():                                  # the shared copy is the source
    shutil.copyfile(HERE.parent.parent / "shared" / "semantics.json", FIXTURE_PATH)
FIXTURE = json.loads(FIXTURE_PATH.read_text())
POINTS = np.array([float(p) for p in FIXTURE["points"]])

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 5e-324, -5e-324, 1e30, -1e30,
                     1e300, -1e300, 1.7e308, -1.7e308, 3.0, -3.0, 6.0, 0.5, -0.5, 1.0, -1.0, 20.0,
                     21.0, -20.0, 100.0, -100.0, 800.0, -800.0, 1e-8, -1e-8])


# --- the cases, from the spec -----------------------------------------------------------------------

ELEMENTWISE = [s for s in SPECS.values() if s.kind in ("elementwise", "rrelu")]


def _positional(spec, values):
    """The positional parameters of the reference functions, in spec order (keyword-only ones,
    rrelu's rng and noise, are left out: eval mode)."""
    return tuple(values.get(p.name, p.default) for p in spec.params if not p.keyword_only)


def _cases():
    cases = []
    for spec in ELEMENTWISE:
        sets = ([{}] if not any(p.required for p in spec.params) else []) + list(spec.examples)
        cases += [(spec.name, _positional(spec, values)) for values in sets]
    return cases


CASES = _cases()
CASE_IDS = [f"{name}{params}" for name, params in CASES]


def forward(name, x, params, out=None):
    return getattr(R, name)(x, *params, out=out)


def backward(name, grad, x, params, out=None):
    return getattr(R, f"{name}_backward")(grad, x, *params, out=out)


def from_output_allowed(name, params):
    return SPECS[name].from_output_error(params) is None


def backward_from_output(name, grad, y, params, out=None):
    return getattr(R, f"{name}_backward_from_output")(grad, y, *params, out=out)


def assert_same(actual, expected, rtol=0.0, atol=0.0):
    """NaN where expected has NaN; elsewhere close (exactly equal by default)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- the PyTorch fixture ----------------------------------------------------------------------------

# Where PyTorch's own float64 value is off by cancellation (1 - y*y, y*(1 - y), 1 + erf, 1 + tanh,
# x - tanh x, its autograd of softsign), the reference is more accurate; there it is held to the
# exact value instead (mpmath at 200 digits, rounded to float64; `test_exact_table_is_exact`
# recomputes them). Key: (fixture op, "y" or "dydx", point).
EXACT = {
    ("sigmoid", "dydx", 20.0): 2.061153613941849e-09,          # torch 2.0611536879193953e-09
    ("sigmoid", "dydx", 21.0): 7.582560416412863e-10,          # torch 7.582561239806484e-10
    ("sigmoid", "dydx", 100.0): 3.720075976020836e-44,         # torch 0
    **{("tanh", "dydx", s * x): v for s in (1.0, -1.0) for x, v in (
        (6.0, 2.4576547405332702e-05),                         # torch 2.4576547405302974e-05
        (20.0, 1.6993417021166355e-17),                        # torch 0
        (21.0, 2.299808905717424e-18),                         # torch 0
        (100.0, 5.53558610694695e-87))},                       # torch 0
    ("softsign", "dydx", 1e30): 1e-60,                         # torch 0
    ("softsign", "dydx", -1e30): 1e-60,                        # torch 0
    ("gelu", "y", -20.0): -5.507248237212468e-88,              # torch -0.0
    ("gelu", "y", -6.0): -5.9195258702261885e-09,              # torch -5.919525869479969e-09
    ("gelu", "dydx", -20.0): -1.1014360483133464e-86,          # torch -1.1041896724319527e-86
    ("gelu", "dydx", -6.0): -3.5468709453902015e-08,           # torch -3.546870945402639e-08
    ("gelu(tanh)", "y", -20.0): -3.3754509563109673e-261,      # torch -0.0
    ("gelu(tanh)", "y", -6.0): -8.439646700762297e-11,         # torch -8.43964897967453e-11
    ("gelu(tanh)", "dydx", -20.0): -2.9424328724945027e-259,   # torch 0
    ("gelu(tanh)", "dydx", -6.0): -7.709973930953696e-10,      # torch -7.709976012836329e-10
    ("tanhshrink", "y", 1e-40): 3.3333333333333327e-121,       # torch 0
    ("tanhshrink", "y", -1e-40): -3.3333333333333327e-121,     # torch 0
    ("tanhshrink", "dydx", 1e-40): 9.999999999999998e-81,       # torch 0
    ("tanhshrink", "dydx", -1e-40): 9.999999999999998e-81,      # torch 0
}
# gelu's far tail inherits the rounding of x/sqrt(2) (condition ~x^2): 4e-14 at x = -20.
EXACT_RTOL = 1e-13


def _fixture_case(key):
    name = key.split("(")[0]
    values = FIXTURE["ops"][key]["params"]
    return name, _positional(SPECS[name], values)


def _fixture_values(key, field):
    return np.array([float(v) for v in FIXTURE["ops"][key][field]])


def _check_against_fixture(key, field, actual):
    expected = _fixture_values(key, field)
    limits = {float(p) for p in FIXTURE["limits_not_torch"].get(key, [])}
    for x, a, e in zip(POINTS, actual, expected):
        where = f"{key} {field} at x={x!r}: got {a!r}, "
        exact = EXACT.get((key, field, float(x)))
        if exact is not None:
            close = a == exact if exact == 0 else math.isclose(a, exact, rel_tol=EXACT_RTOL)
            assert close, where + f"exact {exact!r}"
            continue
        if math.isnan(e):
            assert math.isnan(a), where + "PyTorch NaN"
            continue
        assert a == e or abs(a - e) <= 1e-12 * abs(e) or abs(a - e) <= 1e-300, where + f"PyTorch {e!r}"
        # signed zeros of the forward (relu(-0.0) = -0.0 ...); at limits PyTorch has NaN, no sign
        if field == "y" and e == 0 and float(x) not in limits:
            assert math.copysign(1, a) == math.copysign(1, e), where + f"PyTorch {e!r}"


@pytest.mark.parametrize("key", list(FIXTURE["ops"]))
def test_fixture(key, no_warnings):
    name, params = _fixture_case(key)
    x = POINTS.copy()
    y = forward(name, x, params)
    _check_against_fixture(key, "y", y)
    dydx = backward(name, np.ones_like(x), x, params)
    _check_against_fixture(key, "dydx", dydx)
    assert_same(x, POINTS)                                     # inputs untouched
    if from_output_allowed(name, params):
        y_torch = _fixture_values(key, "y")
        d = backward_from_output(name, np.ones_like(x), y_torch, params)
        expected = _fixture_values(key, "dydx")
        keep = ~np.isnan(POINTS)
        # from y a derivative is only as good as y: absolute error ~ eps (e.g. 1 - y near y = 1)
        np.testing.assert_allclose(d[keep], expected[keep], rtol=1e-12, atol=1e-15)


def test_fixture_covers_the_spec():
    names = {key.split("(")[0] for key in FIXTURE["ops"]}
    untested = {s.name for s in ELEMENTWISE if s.kind == "elementwise"} - names
    assert not untested


def test_exact_table_is_exact():
    """Recompute EXACT with mpmath (shipped with torch's sympy) so the table cannot rot."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 200
    k0, k1 = mp.sqrt(2 / mp.pi), mp.mpf("0.044715")
    sig = lambda t: 1 / (1 + mp.exp(-t))                                        # noqa: E731
    cdf = lambda t: mp.erfc(-t / mp.sqrt(2)) / 2                               # noqa: E731
    gelu_tanh = lambda t: t * sig(2 * k0 * (t + k1 * t ** 3))                   # noqa: E731
    exact = {
        ("sigmoid", "dydx"): lambda t: sig(t) * sig(-t),
        ("tanh", "dydx"): lambda t: mp.sech(t) ** 2,
        ("softsign", "dydx"): lambda t: 1 / (1 + abs(t)) ** 2,
        ("gelu", "y"): lambda t: t * cdf(t),
        ("gelu", "dydx"): lambda t: cdf(t) + t * mp.exp(-t * t / 2) / mp.sqrt(2 * mp.pi),
        ("gelu(tanh)", "y"): gelu_tanh,
        ("gelu(tanh)", "dydx"): lambda t: mp.diff(gelu_tanh, t),
        ("tanhshrink", "y"): lambda t: t - mp.tanh(t),
        ("tanhshrink", "dydx"): lambda t: mp.tanh(t) ** 2,
    }
    for (key, field, x), value in EXACT.items():
        assert float(exact[key, field](mp.mpf(x))) == value, (key, field, x)


# --- against PyTorch on random data -----------------------------------------------------------------

def _torch_function(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    special = {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "gelu": lambda x, approximate: F.gelu(x, approximate=approximate),
        "rrelu": lambda x, lower, upper, training: F.rrelu(x, lower, upper, training=training),
    }
    return special.get(name) or getattr(F, name)


def _random(dtype, n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 4.0
    x[:12] = [0.0, -0.0, 3.0, -3.0, 6.0, 0.5, -0.5, 1.0, -1.0, 20.0, 25.0, -25.0]
    return x.astype(dtype)


# PyTorch is evaluated in float64 on the same inputs: its float32 gelu(tanh) loses digits to
# 1 + tanh(u) (5% at x = -4.7), and in float64 that cancellation costs ~1e-15 absolute.
TORCH_TOL = {np.float64: dict(rtol=1e-12, atol=1e-13), np.float32: dict(rtol=1e-5, atol=1e-6)}


def assert_torch_close(actual, expected, dtype):
    assert actual.dtype == dtype
    np.testing.assert_allclose(actual.astype(np.float64), expected, equal_nan=True, **TORCH_TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_against_torch(name, params, dtype):
    torch = pytest.importorskip("torch")
    fn = _torch_function(name)
    x = _random(dtype)
    g = _random(dtype, seed=1)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    yt = fn(xt, *params)
    yt.backward(torch.tensor(g.astype(np.float64)))
    y = forward(name, x, params)
    assert_torch_close(y, yt.detach().numpy(), dtype)
    assert_torch_close(backward(name, g, x, params), xt.grad.numpy(), dtype)
    if from_output_allowed(name, params):
        assert_torch_close(backward_from_output(name, g, y, params), xt.grad.numpy(), dtype)


def _torch_prelu(x, weight, axis, grad):
    torch = pytest.importorskip("torch")
    x, weight, grad = (a.astype(np.float64) for a in (x, weight, grad))
    xt = torch.tensor(np.moveaxis(x, axis, 1) if x.ndim >= 2 else x, requires_grad=True)
    wt = torch.tensor(weight, requires_grad=True)
    yt = torch.nn.functional.prelu(xt, wt)
    yt.backward(torch.tensor(np.moveaxis(grad, axis, 1) if x.ndim >= 2 else grad))
    back = (lambda a: np.moveaxis(a, 1, axis)) if x.ndim >= 2 else (lambda a: a)
    return back(yt.detach().numpy()), back(xt.grad.numpy()), wt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape, axis, channels", [
    ((4, 3, 5), 1, 3), ((4, 3, 5), 1, 1), ((4, 3, 5), 2, 5), ((4, 3, 5), -3, 4), ((2, 6), 1, 6),
    ((7,), 0, 1), ((), 0, 1),
])
def test_prelu_against_torch(shape, axis, channels, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(-0.5, 1.5, channels).astype(dtype)
    y_t, gx_t, gw_t = _torch_prelu(x, w, axis, g)
    assert_torch_close(R.prelu(x, w, axis), y_t, dtype)
    gx, gw = R.prelu_backward(g, x, w, axis)
    assert_torch_close(gx, gx_t, dtype)
    assert gw.shape == w.shape
    assert_torch_close(gw, gw_t, dtype)


def test_prelu_nan_reaches_grad_weight():
    """PyTorch's prelu backward adds x * grad wherever not x > 0: a NaN input poisons its channel."""
    x = np.array([[1.0, np.nan], [-2.0, 3.0]])
    w = np.array([0.25, 0.5])
    y_t, gx_t, gw_t = _torch_prelu(x, w, 1, np.ones_like(x))
    gx, gw = R.prelu_backward(np.ones_like(x), x, w, 1)
    assert_same(R.prelu(x, w, 1), y_t)
    assert_same(gx, gx_t)
    assert_same(gw, gw_t)


SOFTMAX_ROWS = np.array([[1.0, 2.0, 3.0], [-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0],
                         [np.nan, 1.0, 2.0], [-np.inf, 0.0, 1.0], [1e30, -1e30, 0.0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis", [0, -1, 1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_against_torch(name, axis, dtype, no_warnings):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((5, 7)) * 5).astype(dtype)
    g = rng.standard_normal((5, 7)).astype(dtype)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    yt = getattr(torch, name)(xt, axis)
    yt.backward(torch.tensor(g.astype(np.float64)))
    y = getattr(R, name)(x, axis)
    assert_torch_close(y, yt.detach().numpy(), dtype)
    assert_torch_close(getattr(R, f"{name}_backward")(g, x, axis), xt.grad.numpy(), dtype)
    assert_torch_close(getattr(R, f"{name}_backward_from_output")(g, y, axis), xt.grad.numpy(), dtype)
    # rows of -inf only, or holding +inf or NaN, are NaN as in PyTorch; finite rows are not
    special = SOFTMAX_ROWS.astype(dtype)
    if axis == 0:
        special = special.T.copy()
    expected = getattr(torch, name)(torch.tensor(special.astype(np.float64)), axis).numpy()
    assert_torch_close(getattr(R, name)(special, axis), expected, dtype)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, axis", [((0,), 0), ((3, 0), -1), ((0, 4), -1), ((0, 4), 0), ((), -1),
                                         ((), 0)])
def test_softmax_empty_and_scalar(name, shape, axis, no_warnings):
    x = np.full(shape, 0.5)
    y = getattr(R, name)(x, axis)
    assert y.shape == shape
    if x.size:
        assert_same(y, np.full(shape, 1.0 if name == "softmax" else 0.0))
    for suffix in ("_backward", "_backward_from_output"):
        d = getattr(R, name + suffix)(np.ones(shape), x if suffix == "_backward" else y, axis)
        assert d.shape == shape
        if x.size:
            assert_same(d, np.zeros(shape), atol=1e-15)


# --- accuracy where PyTorch is not the yardstick ----------------------------------------------------

def test_erfc_matches_math_erfc():
    z = np.concatenate([np.linspace(-7.0, 28.0, 7001), [0.0, -0.0, 0.46875, -0.46875, 4.0, -4.0, 1e-300],
                        np.logspace(-20, 0, 200), -np.logspace(-20, 0, 200)])
    got = R._erfc(z)
    want = np.array([math.erfc(v) for v in z])
    normal = want > 1e-300
    np.testing.assert_allclose(got[normal], want[normal], rtol=1e-15, atol=0)
    np.testing.assert_allclose(got[~normal], want[~normal], rtol=0, atol=1e-300)
    assert_same(R._erfc(np.array([np.nan, np.inf, -np.inf])), np.array([np.nan, 0.0, 2.0]))


def _exact_functions(mp):
    k0, k1 = mp.sqrt(2 / mp.pi), mp.mpf("0.044715")
    sig = lambda t: 1 / (1 + mp.exp(-t))                                        # noqa: E731
    sp = lambda t: mp.log1p(mp.exp(t))                                          # noqa: E731
    cdf = lambda t: mp.erfc(-t / mp.sqrt(2)) / 2                               # noqa: E731
    gt = lambda t: t * sig(2 * k0 * (t + k1 * t ** 3))                          # noqa: E731
    return {
        ("sigmoid", ()): (sig, lambda t: sig(t) * sig(-t)),
        ("tanh", ()): (mp.tanh, lambda t: mp.sech(t) ** 2),
        ("logsigmoid", ()): (lambda t: -sp(-t), lambda t: sig(-t)),
        ("softplus", (1.0, 20.0)): (sp, sig),
        ("softsign", ()): (lambda t: t / (1 + abs(t)), lambda t: 1 / (1 + abs(t)) ** 2),
        ("gelu", ("none",)): (lambda t: t * cdf(t),
                              lambda t: cdf(t) + t * mp.exp(-t * t / 2) / mp.sqrt(2 * mp.pi)),
        ("gelu", ("tanh",)): (gt, lambda t: mp.diff(gt, t)),
        ("silu", ()): (lambda t: t * sig(t), lambda t: sig(t) * (1 + t * sig(-t))),
        ("mish", ()): (lambda t: t * mp.tanh(sp(t)),
                       lambda t: mp.tanh(sp(t)) + t * sig(t) * mp.sech(sp(t)) ** 2),
        ("tanhshrink", ()): (lambda t: t - mp.tanh(t), lambda t: mp.tanh(t) ** 2),
        ("elu", (1.0,)): (lambda t: t if t > 0 else mp.expm1(t), lambda t: 1 if t > 0 else mp.exp(t)),
        ("celu", (2.0,)): (lambda t: t if t > 0 else 2 * mp.expm1(t / 2),
                           lambda t: 1 if t > 0 else mp.exp(t / 2)),
    }


@pytest.mark.parametrize("case", ["sigmoid", "tanh", "logsigmoid", "softplus", "softsign", "gelu",
                                  "gelu_tanh", "silu", "mish", "tanhshrink", "elu", "celu"])
def test_accuracy_against_mpmath(case):
    """A few ulp in float64 (the smooth functions), relative to exact values. Allowances: the
    derivatives with a root (silu', mish', gelu') get an absolute 8 eps; gelu's far negative tail
    is conditioned ~x^2 (the rounding of x/sqrt(2) or of u)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 60
    table = _exact_functions(mp)
    key = next(k for k in table if k[0] == case.split("_")[0] and (case != "gelu_tanh" or k[1] == ("tanh",)))
    f, df = table[key]
    name, params = key
    rng = np.random.default_rng(5)
    mag = np.concatenate([np.logspace(-12, math.log10(19.9), 60), rng.uniform(0, 12, 60)])
    x = np.concatenate([mag, -mag])
    eps = np.finfo(np.float64).eps
    for field, fn, got in (("y", f, forward(name, x, params)),
                           ("dydx", df, backward(name, np.ones_like(x), x, params))):
        for xi, gi in zip(x, got):
            e = fn(mp.mpf(float(xi)))
            if abs(e) < 2.3e-308:
                assert abs(gi - float(e)) < 1e-310
                continue
            tol = 4 * eps * abs(e) * (1 + (xi * xi if name == "gelu" else 0))
            tol += 8 * eps if field == "dydx" else 0
            assert abs(mp.mpf(float(gi)) - e) <= tol, (case, field, xi, gi, float(e))


# --- in place, inputs, dtypes, shapes, warnings -----------------------------------------------------

def _data(dtype, seed=2):
    """Random values with the special ones mixed in (those float32 can hold)."""
    x = np.concatenate([_random(np.float64, 200, seed), SPECIALS])
    with np.errstate(over="ignore"):
        x = x.astype(dtype)
    np.random.default_rng(seed).shuffle(x)
    return x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_in_place_and_inputs_untouched(name, params, dtype, no_warnings):
    x = _data(dtype)
    g = _random(dtype, x.size, seed=3)          # finite: backwards multiply grad by dy/dx
    x0, g0 = x.copy(), g.copy()
    y = forward(name, x, params)
    d = backward(name, g, x, params)
    assert_same(x, x0)
    assert_same(g, g0)
    assert y.dtype == d.dtype == dtype

    x1 = x.copy()
    assert forward(name, x1, params, out=x1) is x1
    assert_same(x1, y)
    g1 = g.copy()
    assert backward(name, g1, x, params, out=g1) is g1
    assert_same(g1, d)
    # strided views, written in place: the caller's view changes, nothing else
    base = np.zeros((2, x.size), dtype)
    view = base[1, ::-1]
    view[...] = x
    forward(name, view, params, out=view)
    assert_same(view, y)
    assert not base[0].any()
    if from_output_allowed(name, params):
        d_y = backward_from_output(name, g, y, params)
        assert_same(g, g0)
        g2 = g.copy()
        assert backward_from_output(name, g2, y, params, out=g2) is g2
        assert_same(g2, d_y)
        assert d_y.dtype == dtype


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_in_place(name, axis, no_warnings):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 5)).T                        # non-contiguous
    g = rng.standard_normal((5, 6))
    fn = getattr(R, name)
    y = fn(x, axis)
    x1 = x.copy()
    assert fn(x1, axis, out=x1) is x1
    assert_same(x1, y)
    for suffix, saved in (("_backward", x), ("_backward_from_output", y)):
        d = getattr(R, name + suffix)(g, saved, axis)
        g1 = g.copy()
        assert getattr(R, name + suffix)(g1, saved, axis, out=g1) is g1
        assert_same(g1, d)


def test_prelu_in_place():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 2)).astype(np.float32)
    g = rng.standard_normal((3, 4, 2)).astype(np.float32)
    w = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    y = R.prelu(x, w)
    x1 = x.copy()
    assert R.prelu(x1, w, out=x1) is x1
    assert_same(x1, y)
    gx, gw = R.prelu_backward(g, x, w)
    g1 = g.copy()
    gx1, gw1 = R.prelu_backward(g1, x, w, out=g1)
    assert gx1 is g1
    assert_same(g1, gx)
    assert_same(gw1, gw)
    assert gw.dtype == np.float32


@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_float32_close_to_float64(name, params, no_warnings):
    """float32 is computed in float32 (not upcast), and as accurately as float32 allows."""
    x = _random(np.float32, 400, seed=8)
    g = _random(np.float32, 400, seed=9)
    y32, d32 = forward(name, x, params), backward(name, g, x, params)
    assert y32.dtype == d32.dtype == np.float32
    y64 = forward(name, x.astype(np.float64), params)
    d64 = backward(name, g.astype(np.float64), x.astype(np.float64), params)
    np.testing.assert_allclose(y32, y64, rtol=4e-6, atol=1e-6)
    np.testing.assert_allclose(d32, d64, rtol=4e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_no_warnings_on_special_values(dtype, no_warnings):
    x = _data(dtype)
    g = np.ones_like(x)
    for name, params in CASES:
        y = forward(name, x, params)
        backward(name, g, x, params)
        if from_output_allowed(name, params):
            backward_from_output(name, g, y, params)
        forward(name, x, params, out=x.copy())
    w = np.array([0.25], dtype)
    R.prelu(x, w, 0)
    R.prelu_backward(g, x, w, 0)
    rows = x[: x.size // 7 * 7].reshape(-1, 7)
    for name in ("softmax", "log_softmax"):
        for axis in (0, 1):
            y = getattr(R, name)(rows, axis)
            getattr(R, name + "_backward")(np.ones_like(rows), rows, axis)
            getattr(R, name + "_backward_from_output")(np.ones_like(rows), y, axis)


def test_nan_in_nan_out(no_warnings):
    x = np.array([np.nan, np.nan])
    for name, params in CASES:
        assert np.isnan(forward(name, x, params)).all(), name


@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (3, 4)])
@pytest.mark.parametrize("name, params", CASES, ids=CASE_IDS)
def test_shapes(name, params, shape, no_warnings):
    x = np.linspace(-4.0, 4.0, int(np.prod(shape))).reshape(shape)
    y = forward(name, x, params)
    d = backward(name, np.ones(shape), x, params)
    assert y.shape == d.shape == shape
    flat_y = forward(name, x.ravel(), params)
    assert_same(y.ravel(), flat_y)
    if x.ndim == 2:                                            # transposed and reversed layouts
        assert_same(forward(name, x.T, params), y.T)
        assert_same(forward(name, x[::-1, ::-2], params), y[::-1, ::-2])
        assert_same(backward(name, np.ones_like(x).T, x.T, params), d.T)


def test_signature_defaults_follow_spec():
    """Every activation has forward/backward (and from_output where allowed) with the spec's
    parameter names and defaults, in order, then `out`."""
    import inspect
    for spec in SPECS.values():
        names = [p.name for p in spec.params]
        functions = [spec.name, f"{spec.name}_backward"]
        if spec.from_output is not False:
            functions.append(f"{spec.name}_backward_from_output")
        for fname in functions:
            sig = inspect.signature(getattr(R, fname))
            params = [p for p in sig.parameters.values()][1 if fname == spec.name else 2:]
            expected = [n for n in names if not (fname != spec.name and n == "rng")] + ["out"]
            assert [p.name for p in params] == expected, fname
            for p in spec.params:
                if p.name in sig.parameters and not p.required:
                    assert sig.parameters[p.name].default == p.default, (fname, p.name)


# --- rrelu training mode ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rrelu_training(dtype, no_warnings):
    lower, upper = 0.1, 0.3
    x = _data(dtype)
    noise = np.empty_like(x)
    y = R.rrelu(x, lower, upper, True, np.random.default_rng(11), noise)
    # noise: 1 where x > 0, else lower + (upper - lower) * u with u drawn in x's dtype
    u = np.random.default_rng(11).random(x.size, dtype=dtype)
    expected = (u * dtype(upper - lower) + dtype(lower)).astype(dtype)
    expected[x > 0] = 1
    assert noise.dtype == y.dtype == dtype
    assert_same(noise, expected)
    assert ((noise[~(x > 0)] >= dtype(lower)) & (noise[~(x > 0)] <= dtype(upper))).all()
    assert_same(y, x * noise)
    # seeded: reproducible, also in place and into a non-contiguous noise array
    base = np.zeros((x.size, 2), dtype)
    noise2 = base[:, 1]
    x2 = x.copy()
    assert R.rrelu(x2, lower, upper, True, np.random.default_rng(11), noise2, out=x2) is x2
    assert_same(x2, y)
    assert_same(noise2, noise)
    assert not base[:, 0].any()
    # backward: grad * noise; without noise: the documented error
    g = _random(dtype, x.size, seed=12)
    assert_same(R.rrelu_backward(g, x, lower, upper, True, noise), g * noise)
    g1 = g.copy()
    assert R.rrelu_backward(g1, x, lower, upper, True, noise, out=g1) is g1
    assert_same(g1, g * noise)
    with pytest.raises(ValueError, match="needs the `noise` array"):
        R.rrelu_backward(g, x, lower, upper, True)


def test_rrelu_training_defaults():
    x = np.array([-1.0, 2.0, -3.0])
    y = R.rrelu(x, training=True)                               # a fresh Generator, its own noise
    negative = x < 0
    assert y[1] == 2.0
    assert ((x[negative] / 3 <= y[negative]) & (y[negative] <= x[negative] / 8)).all()
    noise = np.empty(3)
    R.rrelu_draw_noise(x, 0.2, 0.2, np.random.default_rng(0), noise)
    assert_same(noise, np.array([0.2, 1.0, 0.2]))


def test_rrelu_eval_is_leaky_with_mean_slope():
    x = _data(np.float64)
    assert_same(R.rrelu(x, 0.1, 0.3), R.leaky_relu(x, 0.2))
    g = np.ones_like(x)
    assert_same(R.rrelu_backward(g, x, 0.1, 0.3), R.leaky_relu_backward(g, x, 0.2))
