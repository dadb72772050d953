"""fastact/cy.pxd, the Cython API: a user's .pyx cimports it, is compiled, and gives the public
functions' values.

The test module is generated from the spec (every elementwise activation, prelu and rrelu, with
their example parameters, float and double, every form: scalar, derivative, derivative from the
output, in place, backward in place, backward from the output in place) and compiled once (about
half a minute) with the flags of the Cython backend's variant in use: it must then equal that
backend bit for bit (same scalar math, same kernel constants, same compiler flags); without the
Cython backend it is compared with the Numba backend to within 4 ULP.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

import fastact as fa
from fastact import _backends, get_include
from fastact.spec import SPECS

from helpers import elementwise_cases, from_output_allowed, offset_view

_CC = (sysconfig.get_config_var("CC") or "cc").split()[0]

pytestmark = [
    pytest.mark.skipif(shutil.which(_CC) is None, reason="no C compiler"),
]

ROOT = Path(__file__).resolve().parent.parent

#: forms in the order of the output rows
FORMS = ("forward", "derivative", "derivative_from_output", "inplace", "backward_inplace",
         "backward_from_output_inplace")


def _cases():
    """[(API name, activation, params)]: real parameters only, gelu's choice as a name suffix."""
    cases = []
    for name, params in elementwise_cases() + [("prelu", {"weight": 0.25}), ("prelu", {"weight": -1.5})]:
        spec = SPECS[name]
        api = name
        if params.get("approximate", "none") != "none":
            api = f"{name}_{params['approximate']}"
        real = {p.name: params[p.name] for p in spec.params if p.kind in ("real", "weight") and p.name in params}
        case = (api, name, real)
        if case not in cases:
            cases.append(case)
    return cases


CASES = _cases()


def _has_from_output(name, real):
    spec = SPECS[name]
    if spec.from_output is False or name == "rrelu":
        return False
    return from_output_allowed(name, real)


def _pyx() -> str:
    lines = ["# cython: language_level=3, boundscheck=False, wraparound=False",
             "cimport fastact.cy as cy", ""]
    for k, (api, name, real) in enumerate(CASES):
        args = "".join(f", {float(v)!r}" for v in real.values())
        fo = _has_from_output(name, real)
        for T in ("float", "double"):
            lines += [
                f"def case_{k}_{T}({T}[::1] x, {T}[::1] y, {T}[::1] g, {T}[:, ::1] out):",
                "    cdef Py_ssize_t i, n = x.shape[0]",
                "    with nogil:",
                "        for i in range(n):",
                f"            out[0, i] = cy.{api}(x[i]{args})",
                f"            out[1, i] = cy.{api}_derivative(x[i]{args})",
            ]
            if fo:
                lines.append(f"            out[2, i] = cy.{api}_derivative_from_output(y[i]{args})")
            lines += [
                "        out[3, :] = x",
                f"        cy.{api}_inplace(&out[3, 0], n{args})",
                "        out[4, :] = g",
                f"        cy.{api}_backward_inplace(&out[4, 0], &x[0], n{args})",
            ]
            if fo:
                lines += ["        out[5, :] = g",
                          f"        cy.{api}_backward_from_output_inplace(&out[5, 0], &y[0], n{args})"]
            lines.append("")
    # errors: the array kernels validate their parameters
    lines += [
        "from fastact.cy cimport celu_inplace, softshrink_backward_inplace, hardtanh_inplace, "
        "elu_backward_from_output_inplace, threshold_inplace",
        "def errors(double[::1] x, int which):",
        "    if which == 0:",
        "        celu_inplace(&x[0], x.shape[0], 0.0)",
        "    elif which == 1:",
        "        softshrink_backward_inplace(&x[0], &x[0], x.shape[0], -1.0)",
        "    elif which == 2:",
        "        with nogil:",
        "            hardtanh_inplace(&x[0], x.shape[0], 2.0, 1.0)",
        "    elif which == 3:",
        "        elu_backward_from_output_inplace(&x[0], &x[0], x.shape[0], -0.5)",
        "    elif which == 4:",
        "        threshold_inplace(&x[0], x.shape[0], float('nan'), 0.0)",
        "",
        "from fastact.cy cimport softmax_inplace, log_softmax_inplace, softmax_backward_from_output_inplace, "
        "log_softmax_backward_from_output_inplace",
    ]
    for T in ("float", "double"):
        lines += [
            f"def rows_{T}({T}[:, ::1] a, {T}[:, ::1] b, {T}[:, ::1] g, {T}[:, ::1] h, "
            f"const {T}[:, ::1] y, const {T}[:, ::1] z):",
            "    with nogil:",
            "        softmax_inplace(&a[0, 0], a.shape[0], a.shape[1])",
            "        log_softmax_inplace(&b[0, 0], b.shape[0], b.shape[1])",
            "        softmax_backward_from_output_inplace(&g[0, 0], &y[0, 0], g.shape[0], g.shape[1])",
            "        log_softmax_backward_from_output_inplace(&h[0, 0], &z[0, 0], h.shape[0], h.shape[1])",
            "",
        ]
    lines += [
        "from fastact.cy cimport elu, hardtanh, softplus, leaky_relu, rrelu, gelu_tanh",
        "def defaults(double x):",
        "    return (elu(x), hardtanh(x), softplus(x), leaky_relu(x), rrelu(x), gelu_tanh(x))",
        "",
    ]
    return "\n".join(lines)


def _compile_args():
    """The Cython backend's flags for the variant in use (so its results are bit-for-bit), or
    -O3 -fno-trapping-math alone."""
    flags = ["-O3", "-fno-trapping-math", "-g0", "-Wno-unused-function"]
    cython = _backends.load("cython")
    variant = cython.variant() if cython is not None else None
    if variant is not None:
        from fastact._cython import _variants
        flags += list({v.name: v for v in _variants.VARIANTS}[variant].flags)
    return flags, variant


_SETUP = """
import sys
from setuptools import setup, Extension
from Cython.Build import cythonize
include, flags = sys.argv.pop(1), sys.argv.pop(1).split()
setup(ext_modules=cythonize([Extension("user_api", ["user_api.pyx"], extra_compile_args=flags)],
                            include_path=[include], quiet=True))
"""


@pytest.fixture(scope="module")
def user_api(tmp_path_factory):
    pytest.importorskip("Cython")
    if not (Path(get_include()) / "fastact" / "cy.pxd").is_file():
        pytest.skip("fastact/cy.pxd is generated by the build, which has not run here")
    tmp = tmp_path_factory.mktemp("cy_api")
    (tmp / "user_api.pyx").write_text(_pyx())
    (tmp / "setup.py").write_text(_SETUP)
    flags, variant = _compile_args()
    build = subprocess.run([sys.executable, "setup.py", get_include(), " ".join(flags), "build_ext", "--inplace"],
                           cwd=tmp, capture_output=True, text=True, timeout=900,
                           env={**os.environ, "PYTHONPATH": get_include() + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    sys.path.insert(0, str(tmp))
    try:
        import user_api
    finally:
        sys.path.remove(str(tmp))
    return user_api, variant


def _inputs(dtype):
    special = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 3.0, -3.0, 6.0, 0.5, -0.5, 1.5, -1.5,
               -1.0, 1.0, 20.0, 10.0, -20.0, 40.0, 90.0, -90.0, 1e-4, -1e-4]
    return np.concatenate([special, np.linspace(-12, 12, 499)]).astype(dtype)


def _expected(name, real, form, x, y, g, backend):
    """The public function's result, written into a 64-byte aligned output: the backend's
    contiguous loops run the elements before the output's first 64-byte boundary, and the last
    ones, through the scalar loop, which for some functions (silu's backward) rounds 1 ulp apart
    from the vector loop, so the same-bits comparison needs the same split as the cimported loop's
    (vector body from element 0, scalar tail)."""
    args = list(real.values())
    out = offset_view(x.size, x.dtype, 0)[1]
    if form in ("forward", "inplace"):
        return getattr(fa, name)(x, *args, out=out, backend=backend)
    grad = np.ones_like(x) if form.startswith("derivative") else g
    saved = y if "from_output" in form else x
    r = getattr(fa, name + "_backward")(grad, saved, *args, from_output="from_output" in form, out=out,
                                        backend=backend)
    return r[0] if isinstance(r, tuple) else r


def _ulps(a, b):
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore"):
        d = np.abs(a.astype(np.float64) - b) / np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(a.dtype))
    return np.where(same, 0.0, d)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float", "double"])
def test_cimported_api_matches_the_public_functions(user_api, dtype):
    module, variant = user_api
    T = "float" if dtype == np.float32 else "double"
    x = _inputs(dtype)
    g = np.random.default_rng(0).standard_normal(x.size).astype(dtype)
    checked = 0
    for k, (api, name, real) in enumerate(CASES):
        y = getattr(fa, name)(x, *real.values())
        out = np.full((len(FORMS), x.size), 7.0, dtype)
        getattr(module, f"case_{k}_{T}")(x, y, g, out)
        for row, form in enumerate(FORMS):
            if "from_output" in form and not _has_from_output(name, real):
                continue
            approx = {"approximate": api.split("_")[-1]} if api != name else {}
            kw = dict(real, **approx)
            what = f"{api}{real} {form} {T}"
            if variant is not None:      # same math, constants and flags as the backend: same bits
                expected = _expected(name, kw, form, x, y, g, "cython")
                np.testing.assert_array_equal(out[row], expected, err_msg=what)
            else:
                expected = _expected(name, kw, form, x, y, g, "numba")
                finite = np.isfinite(expected)
                assert _ulps(out[row][finite], expected[finite]).max(initial=0) <= 4, what
                np.testing.assert_array_equal(np.isnan(out[row]), np.isnan(expected), err_msg=what)
            checked += 1
    assert checked >= 4 * len(CASES)


@pytest.mark.parametrize("which, message", [
    (0, "fastact.cy.celu_inplace: alpha must be non-zero"),
    (1, "fastact.cy.softshrink_backward_inplace: lambd must be >= 0"),
    (2, "fastact.cy.hardtanh_inplace: min_val must be <= max_val"),
    (3, "fastact.cy.elu_backward_from_output_inplace: the backward from the output needs alpha >= 0"),
    (4, "fastact.cy.threshold_inplace: threshold must not be NaN"),
])
def test_array_kernels_raise_value_errors(user_api, which, message):
    module, _ = user_api
    x = np.linspace(-1, 1, 5)
    before = x.copy()
    with pytest.raises(ValueError, match=re.escape(message)):
        module.errors(x, which)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float", "double"])
def test_softmax_rows(user_api, dtype):
    module, _ = user_api
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((5, 37)) * 4).astype(dtype)
    x[1, 3] = np.nan
    x[2, :] = -np.inf
    x[2, 5] = 1.0
    y, z = fa.softmax(x), fa.log_softmax(x)
    g = rng.standard_normal(x.shape).astype(dtype)
    a, b, gs, hs = x.copy(), x.copy(), g.copy(), g.copy()
    getattr(module, f"rows_{'float' if dtype == np.float32 else 'double'}")(a, b, gs, hs, y, z)
    tol = dict(rtol=2e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(a, y, **tol)
    np.testing.assert_allclose(b, z, **tol)
    np.testing.assert_allclose(gs, fa.softmax_backward(g, y, from_output=True), **tol)
    np.testing.assert_allclose(hs, fa.log_softmax_backward(g, z, from_output=True), **tol)
    assert np.isnan(a[1]).all() and a[2, 5] == 1.0


def test_defaults_are_the_public_ones(user_api):
    module, _ = user_api
    x = -0.75
    got = module.defaults(x)
    a = np.array(x)
    expected = (fa.elu(a), fa.hardtanh(a), fa.softplus(a), fa.leaky_relu(a), fa.rrelu(a), fa.gelu(a, "tanh"))
    np.testing.assert_allclose(got, [float(e) for e in expected], rtol=1e-15)


def test_the_pxd_names_every_activation():
    path = Path(get_include()) / "fastact" / "cy.pxd"
    if not path.is_file():
        pytest.skip("fastact/cy.pxd is generated by the build, which has not run here")
    text = path.read_text()
    defined = set(re.findall(r"^cdef inline \w+ (\w+)\(", text, re.M))
    for spec in SPECS.values():
        if spec.kind in ("elementwise", "rrelu", "prelu"):
            for suffix in ("", "_derivative", "_inplace", "_backward_inplace"):
                assert spec.name + suffix in defined
    assert {"gelu_tanh", "gelu_tanh_derivative", "gelu_tanh_inplace"} <= defined
    assert "relu_derivative_from_output" in defined and "gelu_derivative_from_output" not in defined
    assert {"softmax_inplace", "log_softmax_inplace", "softmax_backward_from_output_inplace",
            "log_softmax_backward_from_output_inplace"} <= defined
    assert "cy.pxd.tp" in text.splitlines()[1]       # says where it comes from
