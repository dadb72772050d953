"""Run the example extension (after pip install --no-build-isolation ./examples/cython_extension):

    python examples/cython_extension/run.py

Checks it against fastact's public functions (exit status 1 on a mismatch) and times the fused
bias + gelu pass against NumPy add + fastact.gelu_.
"""
import sys
import time

import numpy as np

import fastact as fa
import fastact_cython_example as ex


def best_of(fn, reset, repeat=20):
    """Best time of fn() over `repeat` runs, each on fresh data (reset() first, not timed:
    applying bias + gelu again and again to the same buffer would drift to denormals)."""
    best = float("inf")
    for _ in range(repeat):
        reset()
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _variant() -> str:
    cython = fa.config()["backends"].get("cython", {})
    return f"Cython {cython['variant']}" if cython.get("available") else "Numba"


def main() -> int:
    rng = np.random.default_rng(0)
    rows, cols = 256, 1024
    ok = True
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((rows, cols)).astype(dtype)
        bias = rng.standard_normal(cols).astype(dtype)
        rtol = 4e-6 if dtype == np.float32 else 1e-12      # the ULP-level accuracy fastact tests

        h = x.copy()
        ex.bias_gelu_(h, bias)
        want = fa.gelu(x + bias)
        err1 = float(np.max(np.abs(h - want) / np.maximum(np.abs(want), 1e-30)))

        c = x.ravel().copy()
        ex.celu_(c, 2.0)
        err2 = float(np.max(np.abs(c - fa.celu(x.ravel(), 2.0))))

        g = np.ones_like(x).ravel()
        ex.silu_backward_(g, x.ravel())
        err3 = float(np.max(np.abs(g - fa.silu_backward(np.ones_like(x).ravel(), x.ravel()))))

        try:
            ex.celu_(x.ravel().copy(), 0.0)
            raised = "no error"
        except ValueError as exc:
            raised = str(exc)

        good = err1 <= rtol and err2 <= rtol and err3 <= rtol and "alpha must be non-zero" in raised
        ok &= good
        print(f"{np.dtype(dtype).name}: bias+gelu max rel. error {err1:.2e}, celu max abs. error {err2:.2e}, "
              f"silu backward max abs. error {err3:.2e}; celu(alpha=0): {raised!r} -> {'OK' if good else 'MISMATCH'}")

    # timing, one thread each: our fused pass vs NumPy's add then fastact's in-place gelu
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    bias = rng.standard_normal(cols).astype(np.float32)
    h = x.copy()
    reset = lambda: np.copyto(h, x)
    fused = best_of(lambda: ex.bias_gelu_(h, bias), reset)

    def two_passes():
        np.add(h, bias, out=h)
        fa.gelu_(h)

    threads = fa.get_num_threads()
    fa.set_num_threads(1)
    try:
        separate = best_of(two_passes, reset)
    finally:
        fa.set_num_threads(threads)
    print(f"float32 {rows}x{cols}, one thread: bias + gelu in one pass of this extension "
          f"{fused * 1e6:.0f} us; np.add + fa.gelu_ {separate * 1e6:.0f} us "
          f"(fastact.gelu_ on its {_variant()} kernels)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
