"""fastact.jit: the activations called from users' own @numba.njit code.

Numerics: bit-for-bit the public functions' Numba backend (``backend="numba"``): the same scalar
math (the backend's families), the same kernel arguments (computed in float64 from the parameters,
then rounded, as the public API does) and the same floating-point options (the jit functions keep
theirs whatever the caller's).  Against the default backend (Cython, compiled by gcc, which may
contract other multiply-adds) the agreement is the accuracy the rest of the suite tests.

Compile time: every activation goes through a few generated @njit functions (one per dtype and
kind) rather than one compile per case.
"""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastact as fa
from fastact import _backends
from fastact.spec import SPECS

from helpers import assert_close, elementwise_cases, from_output_allowed

pytestmark = pytest.mark.skipif(not _backends.available("numba"), reason="numba backend not available")

numba = pytest.importorskip("numba")
fj = pytest.importorskip("fastact.jit")
from fastact._numba import embed  # noqa: E402

DTYPES = [np.float32, np.float64]


def _jit_params(name, params):
    """The cases' parameters that the jit functions take, in their order."""
    names = [p.name for p in embed.jit_params(SPECS[name])]
    return {k: params[k] for k in names if k in params}


def _cases():
    cases = [(name, _jit_params(name, params)) for name, params in elementwise_cases()]
    cases += [("prelu", {"weight": 0.25}), ("prelu", {"weight": -1.5})]
    unique = []
    for case in cases:
        if case not in unique:
            unique.append(case)
    return unique


CASES = _cases()


def _inputs(dtype):
    F = np.dtype(dtype).type
    tiny = np.finfo(dtype).tiny
    special = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, tiny / 4, -tiny / 4, 3.0, -3.0, 6.0,
               0.5, -0.5, 1.5, -1.5, -1.0, 1.0, 2.0, -2.0, 20.0, 10.0, 5.0, -10.0, -20.0, 40.0, 90.0,
               -90.0, 1e-4, -1e-4]
    grid = np.linspace(-12, 12, 997)
    return np.concatenate([np.array(special), grid]).astype(F)


def _call_source(name, params, form, arg):
    args = [arg] + [repr(v) for v in params.values()]
    suffix = {"forward": "", "derivative": "_derivative", "derivative_from_output": "_derivative_from_output"}[form]
    return f"fj.{name}{suffix}({', '.join(args)})"


def _scalar_program():
    """One @njit function with one loop over x whose body calls every (case, form) (y for the
    from-output forms).  One loop per call would be what a user writes, but compiling ~80
    vectorized loops costs ~30 s per dtype; vectorization has its own test below."""
    rows, lines = [], ["def program(x, ys, out):", "    for i in range(x.size):"]
    for k, (name, params) in enumerate(CASES):
        forms = ["forward", "derivative"]
        if name in fj.DERIVATIVE_FROM_OUTPUT and from_output_allowed(name, params):
            forms.append("derivative_from_output")
        for form in forms:
            arg = f"ys[{k}, i]" if form == "derivative_from_output" else "x[i]"
            lines.append(f"        out[{len(rows)}, i] = {_call_source(name, params, form, arg)}")
            rows.append((k, name, params, form))
    namespace = {"fj": fj}
    exec("\n".join(lines), namespace)
    return numba.njit(namespace["program"]), rows


def _public(name, params, form, x, y, backend):
    args = list(params.values())
    if form == "forward":
        return getattr(fa, name)(x, *args, backend=backend)
    saved = y if form == "derivative_from_output" else x
    result = getattr(fa, name + "_backward")(np.ones_like(x), saved, *args, backend=backend,
                                              from_output=form == "derivative_from_output")
    return result[0] if isinstance(result, tuple) else result


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_scalar_functions_from_njit_match_the_public_functions(dtype):
    program, rows = _scalar_program()
    x = _inputs(dtype)
    ys = np.stack([_public(name, params, "forward", x, None, "numba") for name, params in CASES])
    out = np.full((len(rows), x.size), 7.0, dtype)
    program(x, ys, out)
    assert program.nopython_signatures[0].args[0].dtype == numba.from_dtype(np.dtype(dtype))
    auto = fa.get_backend() if fa.get_backend() != "auto" else None
    for r, (k, name, params, form) in enumerate(rows):
        what = f"{name}{params} {form}"
        expected = _public(name, params, form, x, ys[k], "numba")
        assert expected.dtype == out.dtype
        np.testing.assert_array_equal(out[r], expected, err_msg=what)       # bit-for-bit
        # and the default backend within the suite's tolerance (the backends' polynomials differ
        # in their last bits: e.g. gelu float64 up to 8 ULP apart, gelu' near its root more)
        other = _public(name, params, form, x, ys[k], auto)
        assert_close(out[r], other.astype(np.float64), dtype, what)


def test_scalar_functions_inline_and_vectorize_in_a_default_njit_loop():
    """A user's loop with Numba's default options (error_model="python", no fastmath) stays
    vectorized: packed ymm/zmm arithmetic and no libm call."""
    @numba.njit
    def layer(x, out):
        for i in range(x.size):
            out[i] = fj.gelu(x[i]) + fj.sigmoid(x[i]) * fj.leaky_relu(x[i], 0.2)

    x = np.linspace(-4, 4, 256).astype(np.float32)
    out = np.empty_like(x)
    layer(x, out)
    expected = fa.gelu(x, backend="numba") + fa.sigmoid(x, backend="numba") * fa.leaky_relu(x, 0.2, backend="numba")
    np.testing.assert_allclose(out, expected, rtol=2e-7, atol=1e-7)
    asm = "\n".join(layer.inspect_asm().values())
    libm = re.compile(r"call\w*\s+.*\b(expf?|expm1f?|log1pf?|logf?|tanhf?|erff?|erfcf?|powf?)\b")
    assert not libm.search(asm), libm.search(asm).group(0)
    packed = re.findall(r"\bv\w+ps\s+[^\n]*%[yz]mm", asm)
    assert len(packed) >= 40, f"only {len(packed)} packed float32 ymm/zmm instructions"
    # the exp/erf polynomials are in the loop, not behind a call
    assert len(re.findall(r"\bvfmadd\w*ps\s+[^\n]*%[yz]mm", asm)) >= 10


def test_prefer_vector_width_512_gives_the_callers_loop_zmm():
    import llvmlite.binding as llvm
    if not llvm.get_host_cpu_features().get("avx512f", False):
        pytest.skip("no AVX-512 on this CPU")

    @numba.njit
    def layer(x):
        fj.prefer_vector_width_512()
        for i in range(x.size):
            x[i] = fj.silu(x[i])

    x = np.linspace(-4, 4, 100).astype(np.float32)
    expected = fa.silu(x, backend="numba")
    layer(x)
    np.testing.assert_array_equal(x, expected)
    asm = "\n".join(layer.inspect_asm().values())
    assert len(re.findall(r"\bv\w+ps\s+[^\n]*%zmm", asm)) >= 20
    assert fj.prefer_vector_width_512() is None          # from Python: nothing to do


def test_a_fastmath_caller_keeps_nan_and_inf_semantics():
    @numba.njit(fastmath=True)
    def apply(x, out):
        for i in range(x.size):
            out[i] = fj.softsign(x[i]) + fj.relu(x[i])

    x = np.array([np.nan, np.inf, -np.inf, -1.0, 2.0] * 8)
    out = np.empty_like(x)
    apply(x, out)
    expected = fa.softsign(x, backend="numba") + fa.relu(x, backend="numba")
    np.testing.assert_array_equal(out, expected)


def test_types_follow_x():
    @numba.njit
    def f(x):
        return fj.celu(x, 2), fj.gelu_derivative(x, "tanh")

    for x, F in ((np.float32(-0.75), np.float32), (-0.75, np.float64), (-1, np.float64)):
        a, b = f(x)
        returned = f.nopython_signatures[-1].return_type
        assert returned == numba.types.UniTuple(numba.from_dtype(np.dtype(F)), 2)
        assert a == fa.celu(np.asarray(x, F), 2.0, backend="numba")
        assert b == fa.gelu_backward(np.ones((), F), np.asarray(x, F), "tanh", backend="numba")


def test_choice_parameter_may_be_an_argument_of_the_caller():
    @numba.njit
    def f(x, approximate):
        return fj.gelu(x, approximate)

    assert f(0.75, "tanh") == fa.gelu(np.array(0.75), "tanh", backend="numba")
    assert f(0.75, "none") == fa.gelu(np.array(0.75), backend="numba")


# --- array kernels ------------------------------------------------------------------------------------

#: float64 array kernels: a few (the scalar math of every activation is tested in both dtypes above
#: and the loops are generated alike for every activation; each kernel costs ~0.3 s to compile).
FLOAT64_ARRAY_CASES = ("leaky_relu", "celu", "threshold", "softplus", "gelu", "prelu")


def _array_program(dtype):
    """One @njit function applying every in-place kernel (forward, backward, from the output)."""
    lines, rows = ["def program(xs, gs, hs, ys):"], []
    for k, (name, params) in enumerate(CASES):
        if dtype == np.float64 and name not in FLOAT64_ARRAY_CASES:
            continue
        args = "".join(f", {v!r}" for v in params.values())
        lines.append(f"    fj.{name}_(xs[{k}]{args})")
        lines.append(f"    fj.{name}_backward_(gs[{k}], ys[{k}]{args})")
        rows.append((k, name, params))
        if name in fj.DERIVATIVE_FROM_OUTPUT and from_output_allowed(name, params):
            lines.append(f"    fj.{name}_backward_from_output_(hs[{k}], xs[{k}]{args})")
    namespace = {"fj": fj}
    exec("\n".join(lines), namespace)
    return numba.njit(namespace["program"]), rows


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_array_kernels_from_njit_match_the_public_functions(dtype):
    program, rows = _array_program(dtype)
    x = _inputs(dtype)
    rng = np.random.default_rng(0)
    n = len(CASES)
    xs = np.stack([x] * n)
    ys = xs.copy()
    gs = rng.standard_normal(xs.shape).astype(dtype)
    hs = gs.copy()
    g0 = gs.copy()
    program(xs, gs, hs, ys)
    for k, name, params in rows:
        args = list(params.values())
        np.testing.assert_array_equal(xs[k], getattr(fa, name)(x, *args, backend="numba"), err_msg=name)
        expected = getattr(fa, name + "_backward")(g0[k], x, *args, backend="numba")
        expected = expected[0] if isinstance(expected, tuple) else expected
        np.testing.assert_array_equal(gs[k], expected, err_msg=f"{name} backward")
        if name in fj.DERIVATIVE_FROM_OUTPUT and from_output_allowed(name, params):
            expected = getattr(fa, name + "_backward")(g0[k], xs[k], *args, from_output=True, backend="numba")
            np.testing.assert_array_equal(hs[k], expected, err_msg=f"{name} backward from output")


def _layouts(dtype):
    base = np.linspace(-4, 4, 2 * 3 * 10).astype(dtype).reshape(2, 3, 10)
    return {
        "C 3-d": base.copy(),
        "F 3-d": np.asfortranarray(base),
        "strided 3-d": base.copy()[:, ::2, 1::3],
        "transposed 2-d": base.reshape(6, 10).copy().T,
        "strided 1-d": base.ravel().copy()[::3],
        "0-d": np.array(-1.25, dtype),
        "empty": np.empty((0, 4), dtype),
    }


def test_array_kernels_work_on_every_layout():
    dtype = np.float64
    @numba.njit
    def apply(a, g):
        fj.celu_(a, 2.0)
        fj.gelu_backward_(g, a, "tanh")
        return a

    for what, a in _layouts(dtype).items():
        x = a.copy()
        g = np.full_like(a, 0.5)
        assert apply(a, g) is not None
        celu = fa.celu(x, 2.0, backend="numba")
        np.testing.assert_array_equal(a, celu, err_msg=what)
        np.testing.assert_array_equal(g, fa.gelu_backward(np.full_like(x, 0.5), celu, "tanh", backend="numba"),
                                      err_msg=what)


def test_array_kernels_update_the_callers_view():
    @numba.njit
    def apply(a):
        fj.relu_(a[:, 1::2])

    a = np.linspace(-1, 1, 24).reshape(4, 6)
    expected = a.copy()
    expected[:, 1::2] = np.maximum(expected[:, 1::2], 0)
    apply(a)
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_softmax_rows(dtype):
    """Along the last axis: C-contiguous (float32 and float64), other layouts (float32)."""
    @numba.njit
    def forward(a, b):
        fj.softmax_(a)
        fj.log_softmax_(b)

    @numba.njit
    def backward(g, y, h, z):
        fj.softmax_backward_from_output_(g, y)
        fj.log_softmax_backward_from_output_(h, z)

    rng = np.random.default_rng(1)
    tol = dict(rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-7 if dtype == np.float32 else 1e-15)
    base = rng.standard_normal((3, 4, 9)).astype(dtype)
    layouts = {"C": base, "strided 3-d": base[:, ::2, 1:], "1-d strided": base[0, 0, ::2]}
    if dtype == np.float64:
        layouts = {"C": base}
    for what, x in layouts.items():
        a, b = x.copy(order="K"), x.copy(order="K")
        forward(a, b)
        y, z = fa.softmax(x), fa.log_softmax(x)
        np.testing.assert_allclose(a, y, **tol, err_msg=what)
        np.testing.assert_allclose(b, z, **tol, err_msg=what)
        g = rng.standard_normal(x.shape).astype(dtype)
        gs, hs = g.copy(), g.copy()
        backward(gs, y, hs, z)
        np.testing.assert_allclose(gs, fa.softmax_backward(g, y, from_output=True), **tol, err_msg=what)
        np.testing.assert_allclose(hs, fa.log_softmax_backward(g, z, from_output=True), **tol, err_msg=what)


# --- errors --------------------------------------------------------------------------------------------

@numba.njit
def _run_celu(a, alpha):
    fj.celu_(a, alpha)


@numba.njit
def _run_checks(a, g, which):
    if which == 0:
        fj.softshrink_(a, -0.5)
    elif which == 1:
        fj.hardtanh_(a, 1.0, -1.0)
    elif which == 2:
        fj.rrelu_(a, 0.5, 0.25)
    elif which == 3:
        fj.leaky_relu_backward_from_output_(g, a, -0.1)
    elif which == 4:
        fj.threshold_(a, np.nan, 0.0)
    elif which == 5:
        fj.softplus_backward_(g, a[:-1], 1.0, 20.0)
    elif which == 6:
        fj.prelu_(a, np.inf)


@pytest.mark.parametrize("which, message", [
    (0, "fastact.jit.softshrink_: lambd must be >= 0"),
    (1, "fastact.jit.hardtanh_: min_val must be <= max_val"),
    (2, "fastact.jit.rrelu_: lower must be <= upper"),
    (3, "fastact.jit.leaky_relu_backward_from_output_: the backward from the output needs negative_slope >= 0"),
    (4, "fastact.jit.threshold_: threshold must not be NaN"),
    (5, "fastact.jit.softplus_backward_: grad and x have different shapes"),
    (6, "fastact.jit.prelu_: weight must be finite"),
])
def test_array_kernels_validate_like_the_public_functions(which, message):
    a = np.linspace(-1, 1, 8)
    before = a.copy()
    with pytest.raises(ValueError, match=re.escape(message)):
        _run_checks(a, np.ones_like(a), which)
    np.testing.assert_array_equal(a, before)          # nothing written


def test_celu_alpha_zero_raises_and_the_public_api_agrees():
    for alpha in (0.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="alpha must be"):
            _run_celu(np.ones(4), alpha)
        with pytest.raises(ValueError, match="alpha must be"):
            fa.celu(np.ones(4), alpha)


@pytest.mark.parametrize("code, message", [
    ("fj.gelu_(np.arange(4))", "arr must be a float32 or float64 ndarray"),
    ("fj.gelu(1j)", "x must be a real number"),
    ("fj.gelu(True)", "x must be a real number"),
    ("fj.elu(1.0, True)", "alpha must be a real number"),
    ("fj.gelu(1.0, 'bogus')", "approximate must be one of 'none', 'tanh', got 'bogus'"),
    ("fj.tanh_backward_(np.ones(3), np.ones(3, np.float32))", "grad and x must have the same dtype"),
    ("fj.softmax_(np.ones(()))", "needs at least one dimension"),
])
def test_wrong_types_are_typing_errors_that_say_what_is_wrong(code, message):
    namespace = {"fj": fj, "np": np}
    exec(f"def f():\n    return {code}\n", namespace)
    with pytest.raises(numba.core.errors.TypingError, match=re.escape(message)):
        numba.njit(namespace["f"])()


def test_read_only_arrays_are_rejected():
    a = np.ones(3)
    a.flags.writeable = False
    with pytest.raises(numba.core.errors.TypingError, match="read-only"):
        numba.njit(lambda a: fj.relu_(a))(a)


def test_compiled_checks_agree_with_the_spec():
    """fastact/_embed_checks.py restates the spec's Python checks as conditions (for the jit
    array kernels and fastact/cy.pxd); they must cover every check the spec uses and agree."""
    from fastact import _embed_checks as checks
    env = {"_isfinite": np.isfinite, "_isnan": np.isnan}
    samples = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, np.inf, -np.inf, np.nan, 1e-300]
    for spec in embed.JIT_ACTIVATIONS:
        for p in embed.jit_params(spec):
            if p.kind == "real" and p.check is not None:
                for v in samples:
                    bad = any(eval(cond.format(v="v"), env, {"v": v}) for cond, _ in checks.CHECKS[p.check.__name__])
                    assert bad == (p.check(v) is not None), (spec.name, p.name, v)
        if spec.validate is not None:
            condition, _ = checks.VALIDATE[spec.name]
            for a in samples[:6]:
                for b in samples[:6]:
                    values = {p.name: p.default for p in spec.params}
                    real = [p.name for p in spec.params if p.kind == "real"]
                    values[real[0]], values[real[1]] = a, b
                    bad = eval(condition, env, values)
                    assert bad == (spec.validate(*values.values()) is not None), (spec.name, a, b)
        if callable(spec.from_output):
            condition, _ = checks.FROM_OUTPUT[spec.from_output.__name__]
            (name,) = [p.name for p in spec.params]
            for v in samples[:6]:
                assert eval(condition, env, {name: v}) == (spec.from_output(v) is not None), (spec.name, v)
        # and every activation's compiled checks can be generated
        checks.conditions(spec, embed.jit_params(spec), from_output=True)


# --- from plain Python, names, docs, import cost -------------------------------------------------------

def test_stubs_run_the_public_functions_from_python():
    assert fj.gelu(0.5) == float(fa.gelu(np.array(0.5)))
    assert fj.gelu(np.float32(0.5)) == float(fa.gelu(np.array(0.5, np.float32)))
    assert fj.gelu_derivative(0.5, "tanh") == float(fa.gelu_backward(np.ones(()), np.array(0.5), "tanh"))
    assert fj.elu_derivative_from_output(-0.5, 2.0) == float(
        fa.elu_backward(np.ones(()), np.array(-0.5), 2.0, from_output=True))
    assert fj.prelu_derivative(-1.0, 0.25) == 0.25
    a = np.linspace(-1, 1, 5)
    assert fj.relu_(a) is a and a.min() == 0
    g = np.ones(5)
    assert fj.relu_backward_(g, a) is g
    with pytest.raises(ValueError, match="alpha"):
        fj.celu_(np.ones(2), 0.0)
    with pytest.raises(TypeError, match="real number"):
        fj.relu("1")


def test_every_activation_has_its_functions_with_docs():
    import inspect
    for spec in embed.JIT_ACTIVATIONS:
        for suffix in ("", "_derivative", "_", "_backward_"):
            fn = getattr(fj, spec.name + suffix)
            assert spec.summary in fn.__doc__
            params = list(inspect.signature(fn).parameters)
            assert params[len(params) - len(embed.jit_params(spec)):] == [p.name for p in embed.jit_params(spec)]
    assert set(fj.DERIVATIVE_FROM_OUTPUT) == {
        "relu", "leaky_relu", "elu", "selu", "celu", "relu6", "hardtanh", "sigmoid", "tanh"}
    assert not hasattr(fj, "gelu_derivative_from_output")
    assert set(fj.__all__) <= set(dir(fj))


def test_importing_fastact_does_not_import_jit_and_importing_jit_compiles_nothing():
    code = textwrap.dedent("""
        import sys, fastact
        assert "fastact.jit" not in sys.modules and "fastact._numba.embed" not in sys.modules
        import fastact.jit
        from fastact._numba import embed, _kernels
        print(len(embed._compiled), len(_kernels))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["0", "0"]
