"""Backend and thread settings, environment variables, show_config, kernel(), the public surface."""
import inspect
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastact as fa
from fastact.spec import ACTIVATIONS, SPECS
from helpers import BACKENDS, parallel_everywhere


def _python(code, **env):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_public_surface_enumerates_the_spec():
    assert fa.ACTIVATIONS == ACTIVATIONS
    assert len(ACTIVATIONS) == 25
    for name in ACTIVATIONS:
        for suffix in ("", "_", "_backward"):
            fn = getattr(fa, name + suffix)
            assert fn.__doc__ and SPECS[name].summary in fn.__doc__
            params = inspect.signature(fn).parameters
            assert "backend" in params
            for p in SPECS[name].params:
                if suffix == "_backward" and p.forward_only:
                    assert p.name not in params
                else:
                    assert p.name in params
                    if not p.required:
                        assert params[p.name].default == p.default


def test_signatures_read_like_the_design():
    assert str(inspect.signature(fa.leaky_relu)) == "(x, negative_slope=0.01, *, out=None, backend=None)"
    assert str(inspect.signature(fa.elu_backward)) == \
        "(grad, x, alpha=1.0, *, out=None, from_output=False, backend=None)"
    assert str(inspect.signature(fa.threshold_)) == "(x, threshold, value, *, zero_counts=None, backend=None)"
    assert str(inspect.signature(fa.softmax_)) == "(x, axis=-1, *, backend=None)"


def test_set_get_use_backend():
    assert fa.get_backend() == "auto"
    try:
        for name in BACKENDS:
            fa.set_backend(name)
            assert fa.get_backend() == name
        fa.set_backend("numpy")
        with fa.use_backend(BACKENDS[0]):
            assert fa.get_backend() == BACKENDS[0]
        assert fa.get_backend() == "numpy"
    finally:
        fa.set_backend("auto")
    with pytest.raises(ValueError, match="^set_backend: unknown backend 'gpu'"):
        fa.set_backend("gpu")
    with pytest.raises(TypeError, match="^set_backend: backend must be a string"):
        fa.set_backend(None)


def test_unavailable_backend_is_a_clear_error_and_auto_falls_back():
    out = _python("""
        import numpy as np, fastact as fa
        try:
            fa.set_backend("numba")
        except RuntimeError as e:
            print("error:", e)
        print(fa.relu(np.array([-1.0, 2.0])).tolist())
        print(fa.config()["backends"]["numba"]["reason"])
    """, FASTACT_DISABLE_NUMBA="1", FASTACT_DISABLE_CYTHON="1")
    assert "error: set_backend: the numba backend is not available: disabled by FASTACT_DISABLE_NUMBA" in out
    assert "[0.0, 2.0]" in out


def test_environment_variables():
    out = _python("""
        import fastact as fa
        print(fa.get_backend(), fa.get_num_threads())
    """, FASTACT_BACKEND="numpy", FASTACT_NUM_THREADS="1")
    assert out == "numpy 1"
    out = _python("""
        import warnings, fastact as fa
        print(fa.get_backend())
    """, FASTACT_BACKEND="bogus")
    assert out == "auto"


def test_threads():
    saved = fa.get_num_threads()
    try:
        fa.set_num_threads(1)
        assert fa.get_num_threads() == 1
        fa.set_num_threads(None)
        assert fa.get_num_threads() == len(os.sched_getaffinity(0))
        fa.set_num_threads(-1)
        assert fa.get_num_threads() == len(os.sched_getaffinity(0))
        with pytest.raises(ValueError, match="^set_num_threads: the thread count must not be 0"):
            fa.set_num_threads(0)
        with pytest.raises(TypeError, match="^set_num_threads: the thread count must be an int"):
            fa.set_num_threads(1.5)
    finally:
        fa.set_num_threads(saved)


def test_show_config(capsys):
    fa.show_config()
    text = capsys.readouterr().out
    assert "fastact" in text and "threads:" in text and "numpy" in text and "SIMD" in text
    assert f"streaming stores: out of place from {fa.config()['stream_from_bytes'] / 2**20:g} MiB" in text
    c = fa.config()
    for key in ("version", "backend", "backends", "num_threads", "parallel_threshold", "stream_from_bytes", "cpu",
                "auto_choice"):
        assert key in c
    assert set(c["backends"]) == {"cython", "numba", "numpy"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernel_forward_and_backward(backend):
    k = fa.kernel("leaky_relu", np.float32, negative_slope=0.2, backend=backend)
    x = np.linspace(-2, 2, 1001, dtype=np.float32)
    want = fa.leaky_relu(x, 0.2, backend="numpy")
    xi = x.copy()
    assert k(xi) is xi
    np.testing.assert_array_equal(xi, want)
    out = np.empty_like(x)
    assert k(x, out) is out
    np.testing.assert_array_equal(out, want)
    # Off the fast path (strided, other dtype): the general path still gives the right answer.
    xs = x.copy()[::2]
    np.testing.assert_array_equal(k(xs), want[::2])
    kb = fa.kernel("tanh", np.float64, backward=True, from_output=True, backend=backend)
    y = np.tanh(np.linspace(-3, 3, 50))
    g = np.ones_like(y)
    np.testing.assert_allclose(kb(g, y), 1 - y ** 2, rtol=1e-12)
    with pytest.raises(ValueError, match="^kernel: unknown activation 'relu7'"):
        fa.kernel("relu7", np.float32)
    with pytest.raises(TypeError, match="^kernel: unknown parameter"):
        fa.kernel("relu", np.float32, alpha=1.0)
    with pytest.raises(TypeError, match="^kernel: unsupported dtype int32"):
        fa.kernel("relu", np.int32)
    with pytest.raises(ValueError, match="^kernel: from_output=True is not supported"):
        fa.kernel("gelu", np.float32, backward=True, from_output=True)
    kt = fa.kernel("threshold", np.float64, threshold=0.0, value=-1.0)
    np.testing.assert_array_equal(kt(np.array([-1.0, 1.0])), [-1.0, 1.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernel_fast_path_only_takes_what_is_safe(backend):
    """Whatever a pre-resolved kernel's fast path refuses goes through the public path: the same
    values and the same errors."""
    k = fa.kernel("elu", np.float32, alpha=0.5, backend=backend)
    x = np.linspace(-3, 3, 5000, dtype=np.float32)
    want = fa.elu(x, 0.5, backend="numpy")
    # partial overlap of input and output
    buf = np.concatenate([x, np.zeros(7, np.float32)])
    k(buf[:-7], buf[7:])
    np.testing.assert_allclose(buf[7:], want, rtol=4e-6, atol=1e-7)
    # another dtype, a subclass, a read-only array, a list
    np.testing.assert_allclose(k(x.astype(np.float64)), fa.elu(x.astype(np.float64), 0.5), rtol=1e-6)
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="elu_: the array is read-only"):
        k(ro)
    with pytest.raises(TypeError, match="elu_: the array must be a writeable numpy.ndarray"):
        k([1.0, 2.0])
    with pytest.raises(ValueError, match="elu: out is read-only"):
        k(ro, ro)                     # out is x, named: still refused, and ro is left alone
    np.testing.assert_array_equal(ro, x)
    out = np.empty_like(x)
    assert k(ro, out) is out
    np.testing.assert_allclose(out, want, rtol=4e-6, atol=1e-7)
    with pytest.raises(ValueError, match="elu: out has shape"):
        k(x, np.empty(3, np.float32))
    assert k(np.empty(0, np.float32)).size == 0
    # parallel: above the threshold the kernel splits the work; the answer is the same
    with parallel_everywhere():
        xi = x.copy()
        k(xi)
        np.testing.assert_allclose(xi, want, rtol=4e-6, atol=1e-7)
    # backward: out overlapping saved is refused by the fast path and still right
    kb = fa.kernel("elu", np.float32, backward=True, alpha=0.5, backend=backend)
    g = np.ones_like(x)
    want_g = fa.elu_backward(g, x, 0.5, backend="numpy")
    s = x.copy()
    assert kb(g.copy(), s, s) is s
    np.testing.assert_allclose(s, want_g, rtol=4e-6, atol=1e-7)
    gi = g.copy()
    assert kb(gi, x) is gi
    np.testing.assert_allclose(gi, want_g, rtol=4e-6, atol=1e-7)
    with pytest.raises(ValueError, match="elu_backward: grad has shape"):
        kb(g, x[:10])
    g_ro = g.copy()
    g_ro.flags.writeable = False
    with pytest.raises(ValueError, match="elu_backward: out is read-only"):
        kb(g_ro, x, g_ro)
    np.testing.assert_array_equal(g_ro, g)
