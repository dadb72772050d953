"""Cython backend specifics: the ISA variant chosen at run time and the switch that forces one,
the fallbacks when the compiled modules are missing or broken, vectorized hot loops, the loop
machinery at odd sizes and chunk counts, and the .pxd API for users' Cython code.

The correctness of every kernel against the reference is the job of the backend-parametrized
suites (test_elementwise, test_semantics, ...); here each variant the CPU runs is put through the
same comparison in a subprocess, since a process loads exactly one variant.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastact as fa
from fastact import _backends, reference
from fastact._cython import _variants, get_include
from fastact.spec import FAMILIES
from helpers import assert_close, cython_disassembly, offset_view, sample, untouched_around

TESTS = Path(__file__).resolve().parent
cython_backend = _backends.load("cython")
needs_cython = pytest.mark.skipif(cython_backend is None,
                                  reason=f"cython backend not available: {_backends.why_unavailable('cython')}")


def _run(code, env=None, timeout=600):
    """Run `code` in a fresh interpreter (tests/ on the path); returns the CompletedProcess."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in (_variants.ENV_VARIANT, "FASTACT_DISABLE_CYTHON", "FASTACT_BACKEND")}
    full_env["PYTHONPATH"] = os.pathsep.join([str(TESTS)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=str(TESTS))


def _last_json(proc):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _info():
    return cython_backend.info()


def _compiled():
    return cython_backend.info()["variants_compiled"].split() if cython_backend else []


def _runnable():
    return cython_backend.info()["variants_this_cpu_runs"].split() if cython_backend else []


# --- variant choice -----------------------------------------------------------------------------

@needs_cython
def test_the_best_variant_this_cpu_runs_is_in_use():
    info = _info()
    forced = os.environ.get(_variants.ENV_VARIANT, "").strip().lower()
    if forced and forced != "auto":
        pytest.skip(f"{_variants.ENV_VARIANT}={forced} is set for this run")
    assert info["variant"] == _runnable()[-1]
    assert fa.config()["backends"]["cython"]["variant"] == info["variant"]
    # the kernels handed out come from that variant's module
    kernel = cython_backend.elementwise_kernel("relu", "forward", np.float32, True, False)
    assert kernel.__module__ == _variants.module_name(info["variant"])


_EVERY_KERNEL_VS_REFERENCE = """
    import json, warnings
    import numpy as np
    import fastact as fa
    from helpers import (elementwise_cases, sample, reference_forward, reference_backward,
                         assert_close, backward_params, from_output_allowed, parallel_everywhere)

    failures = []
    def check(what, fn):
        try:
            fn()
        except AssertionError as exc:
            failures.append(f"{what}: {exc}"[:400])

    def one(name, params, dtype, x, g):
        f = getattr(fa, name)
        b = getattr(fa, name + "_backward")
        bp = backward_params(name, params)
        check(f"{name} {params} {dtype.__name__} forward {x.shape} {x.strides}",
              lambda: assert_close(f(x, **params, backend="cython"), reference_forward(name, x, params), dtype))
        check(f"{name} {params} {dtype.__name__} backward {x.shape} {x.strides}",
              lambda: assert_close(b(g, x, **bp, backend="cython"), reference_backward(name, g, x, params), dtype))
        if from_output_allowed(name, params):
            y = reference_forward(name, x, params).astype(dtype)
            check(f"{name} {params} {dtype.__name__} backward from y",
                  lambda: assert_close(b(g, y, **bp, from_output=True, backend="cython"),
                                       reference_backward(name, g, y, params, from_output=True), dtype))

    for dtype in (np.float32, np.float64):
        base = sample((61, 37), dtype, seed=1)
        grad = sample((61, 37), dtype, seed=2, special=False)
        layouts = [(base.reshape(-1), grad.reshape(-1)), (base[::-2, ::3], grad[::-2, ::3])]
        for name, params in elementwise_cases():
            for x, g in layouts:
                one(name, params, dtype, x, g)
                with parallel_everywhere(3):
                    one(name, params, dtype, x, g)
        with parallel_everywhere(2):
            x3 = sample((4, 5, 33), dtype, seed=3)
            check("prelu", lambda: assert_close(fa.prelu(x3, np.linspace(-1, 1, 5), backend="cython"),
                                                reference.prelu(x3, np.linspace(-1, 1, 5)), dtype))
            check("softmax", lambda: assert_close(fa.softmax(x3[:, ::2], backend="cython"),
                                                  reference.softmax(x3[:, ::2], -1), dtype))
    print(json.dumps({"variant": fa.config()["backends"]["cython"]["variant"], "failures": failures}))
"""


@needs_cython
@pytest.mark.parametrize("variant", _variants.NAMES)
def test_each_variant_matches_the_reference(variant):
    """Forced with FASTACT_CYTHON_VARIANT, each variant this CPU runs computes every activation
    (forward, backward, from the output; float32 and float64; contiguous and strided; serial and
    parallel) like the reference, and fastact.config() names it."""
    if variant not in _compiled():
        pytest.skip(f"the {variant} variant was not compiled here")
    if variant not in _runnable():
        pytest.skip(f"this CPU cannot run the {variant} variant")
    code = "from fastact import reference\n" + textwrap.dedent(_EVERY_KERNEL_VS_REFERENCE)
    result = _last_json(_run(code, {_variants.ENV_VARIANT: variant}))
    assert result["variant"] == variant
    assert not result["failures"], "\n".join(result["failures"][:10])


@needs_cython
def test_forcing_a_lower_variant():
    lowest = _runnable()[0]
    proc = _run("""
        import json, numpy as np, fastact as fa
        from fastact import _backends
        kernel = _backends.load("cython").elementwise_kernel("gelu", "forward", np.float64, True, False)
        c = fa.config()["backends"]["cython"]
        print(json.dumps({"variant": c["variant"], "forced_by": c.get("forced_by"), "module": kernel.__module__}))
    """, {_variants.ENV_VARIANT: lowest})
    result = _last_json(proc)
    assert result["variant"] == lowest
    assert result["module"] == _variants.module_name(lowest)
    assert result["forced_by"] == f"{_variants.ENV_VARIANT}={lowest}"
    assert "Warning" not in proc.stderr


@needs_cython
@pytest.mark.parametrize("value", ["sse9", "AVX1024", "avx-512"])
def test_an_unknown_variant_warns_and_uses_the_best(value):
    proc = _run("""
        import json, fastact as fa
        print(json.dumps(fa.config()["backends"]["cython"]))
    """, {_variants.ENV_VARIANT: value})
    result = _last_json(proc)
    assert result["variant"] == _runnable()[-1]
    assert "RuntimeWarning" in proc.stderr and _variants.ENV_VARIANT in proc.stderr
    assert all(name in proc.stderr for name in _variants.NAMES), proc.stderr   # says what is accepted


# A meta-path hook for the subprocesses below: the compiled variant modules are "missing"
# (ModuleNotFoundError, as after an install without a compiler) or "broken" (found, but their
# import fails, as with an undefined symbol or an incompatible build).
_HOOK = """
    import importlib.abc, importlib.machinery, sys
    class Hook(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def __init__(self, mode, names):
            self.mode, self.names = mode, names
        def find_spec(self, name, path=None, target=None):
            if not any(name == "fastact._cython._kernels_" + n for n in self.names):
                return None
            if self.mode == "missing":
                raise ModuleNotFoundError(f"simulated: no module named {name!r}")
            return importlib.machinery.ModuleSpec(name, self)
        def create_module(self, spec):
            raise ImportError(f"simulated: {spec.name}.so: undefined symbol: GOMP_parallel")
        def exec_module(self, module):
            pass
    sys.meta_path.insert(0, Hook(__MODE__, __NAMES__))
"""


def _hook(mode, names):
    return textwrap.dedent(_HOOK).replace("__MODE__", repr(mode)).replace("__NAMES__", repr(list(names)))


@needs_cython
@pytest.mark.parametrize("mode", ["missing", "broken"])
def test_without_the_compiled_modules_fastact_falls_back_and_says_why(mode):
    proc = _run(_hook(mode, _variants.NAMES) + textwrap.dedent("""
        import io, json, contextlib, numpy as np, fastact as fa
        from fastact import reference
        x = np.linspace(-5, 5, 1001)
        ok = bool(np.allclose(fa.gelu(x), reference.gelu(x), rtol=1e-12, atol=1e-13))
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown):
            fa.show_config()
        c = fa.config()
        print(json.dumps({"ok": ok, "cython": c["backends"]["cython"], "auto": c["auto_choice"],
                          "shown": shown.getvalue()}))
    """))
    result = _last_json(proc)
    assert result["ok"]
    assert not result["cython"]["available"]
    reason = result["cython"]["reason"]
    assert "no compiled Cython kernels" in reason and "simulated" in reason, reason
    assert reason in result["shown"]                       # show_config says why
    assert not result["auto"].startswith("cython")          # auto picks numba (or numpy)


@needs_cython
def test_a_broken_best_variant_falls_back_to_the_next():
    if len(_runnable()) < 2:
        pytest.skip("needs two variants this CPU runs")
    best, next_best = _runnable()[-1], _runnable()[-2]
    proc = _run(_hook("broken", [best]) + textwrap.dedent("""
        import json, fastact as fa
        print(json.dumps(fa.config()["backends"]["cython"]))
    """))
    assert _last_json(proc)["variant"] == next_best


@needs_cython
def test_forcing_a_variant_that_is_not_compiled_warns():
    best = _runnable()[-1]
    proc = _run(_hook("missing", [best]) + textwrap.dedent("""
        import json, fastact as fa
        print(json.dumps(fa.config()["backends"]["cython"]))
    """), {_variants.ENV_VARIANT: best})
    result = _last_json(proc)
    assert result["variant"] != best and result["variant"] in _variants.NAMES
    assert "was not compiled" in proc.stderr


def test_disabled_by_the_environment():
    result = _last_json(_run("""
        import json, numpy as np, fastact as fa
        y = fa.relu(np.array([-1.0, 2.0]))
        print(json.dumps({"y": y.tolist(), "cython": fa.config()["backends"]["cython"]}))
    """, {"FASTACT_DISABLE_CYTHON": "1"}))
    assert result["y"] == [0.0, 2.0]
    assert result["cython"]["reason"] == "disabled by FASTACT_DISABLE_CYTHON"


@needs_cython
def test_show_config_names_the_variant_and_openmp(capsys):
    fa.show_config()
    shown = capsys.readouterr().out
    line = next(l for l in shown.splitlines() if l.strip().startswith("cython"))
    assert f"variant={_info()['variant']}" in line
    assert "openmp=" in line and "compiler=" in line


# --- the loop machinery ---------------------------------------------------------------------------

@needs_cython
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n", [1, 5, 17, 1037, 5_121])
def test_blocks_align_to_the_output_at_any_offset(n, dtype):
    """The contiguous loops run up to the output's first 64-byte boundary alone and split blocks
    on such boundaries: for outputs (and inputs) at any offset from one, serial and split (more
    blocks than elements too), in place and not, every element is the reference's and nothing
    outside the arrays is written.  leaky_relu is a memory family (plain loop), elu a compute
    family (prefetching chunks), tanh's backward a compute loop over two inputs."""
    family_args = {"leaky_relu": (0.2,), "elu": (1.0, 1.0, 1.0)}
    x0 = sample((n,), dtype, seed=n)
    g0 = sample((n,), dtype, seed=n + 1, special=False)
    want = {"leaky_relu": reference.leaky_relu(x0.astype(np.float64), 0.2),
            "elu": reference.elu(x0.astype(np.float64))}
    want_grad = reference.tanh_backward(g0.astype(np.float64), x0.astype(np.float64))
    backward = cython_backend.elementwise_kernel("tanh", "backward", dtype, True, True)
    for off, x_off in ((0, 0), (1, 1), (3, 7), (7, 0), (13, 2)):
        for nchunks in (1, 2, 3, 5):
            for family, args in family_args.items():
                args = tuple(np.dtype(dtype).type(a) for a in args)
                kernel = cython_backend.elementwise_kernel(family, "forward", dtype, True, True)
                xbuf, x = offset_view(n, dtype, x_off)
                x[:] = x0
                obuf, out = offset_view(n, dtype, off)
                kernel(x, out, args, nchunks)
                assert_close(out, want[family], dtype, f"{family} offset {off} nchunks={nchunks}")
                assert untouched_around(obuf, out)
                kernel(x, x, args, nchunks)
                assert_close(x, want[family], dtype, f"{family} in place offset {x_off} nchunks={nchunks}")
                assert untouched_around(xbuf, x)
            gbuf, g = offset_view(n, dtype, x_off)
            g[:] = g0
            obuf, out = offset_view(n, dtype, off)
            backward(g, x0, out, (), nchunks)
            assert_close(out, want_grad, dtype, f"tanh backward offset {off} nchunks={nchunks}")
            assert untouched_around(obuf, out)
            backward(g, x0, g, (), nchunks)                          # in place on grad
            assert_close(g, want_grad, dtype, f"tanh backward in place offset {x_off} nchunks={nchunks}")
            assert untouched_around(gbuf, g)


@needs_cython
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 33, 1037, 5_121, 65_537])
def test_blocks_cover_every_element_once(n, dtype):
    """Serial and every chunk count, contiguous and strided (negative strides, a row split
    between chunks), in place and out of place: the kernel's result is the reference's.  elu,
    softplus and tanh are compute families, whose contiguous loops run in prefetching chunks
    (1 KiB chunks, prefetches 4 KiB ahead): the sizes cross both boundaries."""
    family_args = {"leaky_relu": (0.2,), "elu": (1.0, 1.0, 1.0), "softplus": (1.0, 20.0)}
    x = sample((n,), dtype, seed=n)
    g = sample((n,), dtype, seed=n + 1, special=False)
    want = {"leaky_relu": reference.leaky_relu(x.astype(np.float64), 0.2),
            "elu": reference.elu(x.astype(np.float64)),
            "softplus": reference.softplus(x.astype(np.float64))}
    for family, args in family_args.items():
        args = tuple(np.dtype(dtype).type(a) for a in args)
        contiguous = cython_backend.elementwise_kernel(family, "forward", dtype, True, True)
        strided = cython_backend.elementwise_kernel(family, "forward", dtype, False, True)
        for nchunks in (1, 2, 3, 5):
            out = np.full_like(x, np.nan)
            contiguous(x, out, args, nchunks)
            assert_close(out, want[family], dtype, f"{family} contiguous nchunks={nchunks}")
            inplace = x.copy()
            contiguous(inplace, inplace, args, nchunks)
            assert_close(inplace, want[family], dtype, f"{family} in place nchunks={nchunks}")
            # 2-D views with negative and non-unit strides, rows that chunks split
            big = np.zeros((3, 2 * n), dtype)
            big[1, ::2] = x[::-1]
            view = big[1:2, -2::-2]                                # == x, stride -2 elements
            out2 = np.full((1, n), np.nan, dtype)[:, ::-1]
            strided(view, out2, args, nchunks)
            assert_close(out2[0], want[family], dtype, f"{family} strided nchunks={nchunks}")
            assert np.all(big[0] == 0) and np.all(big[2] == 0) and np.all(big[1, 1::2] == 0)
    backward = cython_backend.elementwise_kernel("tanh", "backward", dtype, True, True)
    for nchunks in (1, 4):
        out = g.copy()
        backward(out, x, out, (), nchunks)                         # in place on grad
        assert_close(out, reference.tanh_backward(g.astype(np.float64), x.astype(np.float64)), dtype,
                      f"tanh backward in place nchunks={nchunks}")


@needs_cython
def test_every_family_and_direction_has_a_kernel():
    for family, spec in FAMILIES.items():
        for direction in ["forward", "backward"] + (["backward_from_output"] if spec.from_output else []):
            for dtype in (np.float32, np.float64):
                for contiguous in (True, False):
                    assert callable(cython_backend.elementwise_kernel(family, direction, dtype, contiguous, False))


# --- vectorization, from the machine code -----------------------------------------------------------

LIBM = re.compile(r"call\w*\s+.*<(expf?|expm1f?|log1pf?|logf?|tanhf?|erff?|erfcf?|powf?|fmaf?)(@plt)?>")


@needs_cython
@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump not installed")
@pytest.mark.parametrize("variant,register", [("avx2", "ymm"), ("avx512", "zmm")])
@pytest.mark.parametrize("family,direction,dtype", [
    ("relu", "forward", "f32"), ("leaky_relu", "backward", "f64"), ("gelu", "forward", "f32"),
    ("gelu", "backward", "f64"), ("tanh", "forward", "f32"), ("softplus", "forward", "f64"),
    ("mish", "backward", "f32"), ("elu", "forward", "f64"),
])
def test_hot_loops_are_vectorized_without_libm(variant, register, family, direction, dtype):
    if variant not in _compiled():
        pytest.skip(f"the {variant} variant was not compiled here")
    functions = cython_disassembly(variant)
    # the serial loop, its prefetching chunk loop (which inlines it) and the OpenMP-outlined one
    key = f"_{family}_{direction}_{dtype}_"
    body = "\n".join(code for name, code in functions.items()
                     if key in name and re.search(r"_(run|stream|contiguous_nogil)\b", name))
    assert body, f"no machine code found for {key}"
    suffix = "ps" if dtype == "f32" else "pd"
    packed = re.findall(rf"\bv\w+{suffix}\s+[^\n]*%{register}", body)
    assert len(packed) >= 4, f"{variant} {key}: no packed {register} arithmetic"
    assert not LIBM.search(body), f"{variant} {key} calls libm: {LIBM.search(body).group(0)}"


@needs_cython
@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump not installed")
@pytest.mark.parametrize("variant", ["baseline", "avx2", "avx512"])
def test_prefetching_loops_keep_their_prefetches(variant):
    """The softmax rows prefetch the next input and output rows, the compute families' chunk
    loops their inputs ahead: gcc once deleted a helper that only prefetched (it has no side
    effect to gcc's mod-ref analysis), and every softmax prefetch with it."""
    if variant not in _compiled():
        pytest.skip(f"the {variant} variant was not compiled here")
    functions = cython_disassembly(variant)
    # softmax: the next row of x and of the output, in each form's exp pass; the chunk loops:
    # each input
    for key, least in (("_softmax_row_f32", 4), ("_softmax_row_f64", 4), ("_gelu_forward_f32_stream", 1),
                       ("_tanh_backward_f64_stream", 2)):
        body = "\n".join(code for name, code in functions.items() if key in name)
        assert body, f"no machine code found for {key}"
        count = len(re.findall(r"\bprefetcht0\b", body))
        assert count >= least, f"{variant} {key}: {count} prefetches, expected at least {least}"


# --- the .pxd API ---------------------------------------------------------------------------------

def test_pxd_files_ship_and_get_include_points_at_them():
    root = Path(get_include())
    package = root / "fastact" / "_cython"
    assert (root / "fastact" / "__init__.py").is_file()
    activations = (package / "activations.pxd").read_text()
    mathfn = package / "mathfn.pxd"
    if not mathfn.is_file():
        pytest.skip("mathfn.pxd is generated by the build, which has not run here")
    assert "do not edit" in mathfn.read_text().splitlines()[0]
    # one scalar function per family and direction of the spec
    for family, spec in FAMILIES.items():
        for direction in ["forward", "backward"] + (["backward_from_output"] if spec.from_output else []):
            assert re.search(rf"cdef inline floating {family}_{direction}\(", activations), \
                f"activations.pxd lacks {family}_{direction}"
    for name in ("exp", "expm1", "log1p", "tanh", "erf", "erfc", "exp_neg_square"):
        assert f"cdef inline floating {name}(floating x)" in mathfn.read_text()


_USER_PYX = """
# cython: language_level=3
from fastact._cython.activations cimport gelu_forward, gelu_backward, softplus_forward
from fastact._cython.mathfn cimport erfc

def evaluate(double x, float xf):
    with nogil:
        y = gelu_forward(x)
        d = gelu_backward(1.0, x)
        s = softplus_forward(xf, <float>1.0, <float>20.0)
        e = erfc(x)
    return y, d, s, e
"""

_USER_SETUP = """
from fastact._cython import get_include
from setuptools import setup, Extension
from Cython.Build import cythonize
setup(ext_modules=cythonize([Extension("user_kernels", ["user_kernels.pyx"],
                                       include_dirs=[get_include()])],
                            include_path=[get_include()], quiet=True))
"""


@pytest.mark.skipif(shutil.which(sysconfig.get_config_var("CC").split()[0] if sysconfig.get_config_var("CC") else "cc") is None,
                    reason="no C compiler")
def test_user_cython_code_can_cimport_the_kernels(tmp_path):
    pytest.importorskip("Cython")
    if not (Path(get_include()) / "fastact" / "_cython" / "mathfn.pxd").is_file():
        pytest.skip("mathfn.pxd is generated by the build, which has not run here")
    (tmp_path / "user_kernels.pyx").write_text(_USER_PYX)
    (tmp_path / "setup.py").write_text(_USER_SETUP)
    build = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    result = _last_json(subprocess.run(
        [sys.executable, "-c", "import json, user_kernels; print(json.dumps(user_kernels.evaluate(-1.25, 3.5)))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120))
    x = np.array([-1.25])
    assert result[0] == pytest.approx(reference.gelu(x)[0], rel=1e-14)
    assert result[1] == pytest.approx(reference.gelu_backward(np.ones(1), x)[0], rel=1e-14)
    assert result[2] == pytest.approx(reference.softplus(np.array([3.5]))[0], rel=1e-6)
    assert result[3] == pytest.approx(math.erfc(-1.25), rel=1e-14)
