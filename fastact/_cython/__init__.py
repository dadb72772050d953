"""The Cython backend: OpenMP kernels compiled ahead of time by setup.py, in ISA variants.

Implements the backend protocol of ``fastact._backends`` (NAME, elementwise_kernel, prelu_kernel,
softmax_kernel, set_threads, info, unavailable_reason); the dispatcher calls the kernels.

Where things are:

* ``activations.pxd``: the scalar forward and derivative of every kernel family (fused
  float/double ``cdef inline ... noexcept nogil`` functions) -- e.g. gelu's derivative is
  ``activations.gelu_backward``;
* ``mathfn.pxd`` (generated from ``mathfn.pxd.tp``): exp, expm1, log1p, tanh, erf, erfc,
  exp_neg_square as vectorizable polynomials, coefficients from ``fastact/_coefficients.py``;
* ``_kernels.pyx.tp``: the loops (serial/OpenMP, contiguous/strided, float32/float64, prelu and
  softmax rows), written once and expanded per family into ``_kernels_<variant>.pyx`` at build
  time (``_generate.py``); each variant of ``_variants.py`` is compiled with its own ISA flags
  into ``fastact._cython._kernels_<variant>``;
* this module: picks the variant and hands out its kernels.

Variant choice, once, at import: the best compiled variant whose CPU features (cpuid, read by the
baseline module) the running CPU has.  ``FASTACT_CYTHON_VARIANT=baseline|avx2|avx512`` forces a
lower one (a variant the CPU lacks or that was not compiled, or an unknown name, gives a
RuntimeWarning and the best one).  ``fastact.show_config()`` shows the choice.

``get_include()`` is the include path for user code that cimports these .pxd files.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import warnings

from . import _variants

NAME = "cython"

__all__ = ["NAME", "elementwise_kernel", "prelu_kernel", "softmax_kernel", "set_threads", "info",
           "unavailable_reason", "get_include", "variant"]


def get_include() -> str:
    """The directory to put on Cython's include path (``cythonize(..., include_path=[...])``) and
    the C include path of an extension that cimports fastact's nogil kernels::

        from fastact._cython.activations cimport gelu_forward, gelu_backward
        from fastact._cython.mathfn cimport exp, erfc

    It is the directory that holds the ``fastact`` package (the .pxd files ship inside it)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _build_record() -> dict | None:
    try:
        from ._build_info import BUILD
    except ImportError:
        return None
    return BUILD


def _import(name: str):
    """(module, None) or (None, why not)."""
    try:
        return importlib.import_module(_variants.module_name(name)), None
    except ImportError as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _find(name: str, errors: dict) -> bool:
    """Whether the variant's module is there (without importing it); why not in errors[name]."""
    try:
        found = importlib.util.find_spec(_variants.module_name(name)) is not None
    except (ImportError, ValueError) as exc:
        errors[name] = f"{type(exc).__name__}: {exc}"
        return False
    if not found:
        errors[name] = "not found"
    return found


def _cpu_features(probe) -> set[str]:
    """The features the variants require that this CPU has: cpuid through a compiled module, or
    /proc/cpuinfo's flags when none is importable."""
    wanted = {f for v in _variants.VARIANTS for f in v.requires}
    if probe is not None:
        return {f for f in wanted if probe.cpu_supports(f)}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return wanted & set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _missing_reason(lookup_errors: dict, import_errors: dict) -> str:
    """Why no variant is usable: what the build did, and what finding/importing them said."""
    build = _build_record()
    if build is None:
        detail = ("no build record: fastact was installed without building its Cython extension "
                  "(reinstall from source with a C compiler and Cython: pip install .)")
    elif build.get("error"):
        detail = f"the build skipped them: {build['error']}"
    elif build.get("variants"):
        detail = "build: " + "; ".join(f"{name} {build['variants'][name]}"
                                       for name in _variants.NAMES if name in build["variants"])
    else:
        detail = "the build compiled nothing"
    built = (build or {}).get("variants", {})
    unexpected = {name: err for name, err in lookup_errors.items()
                  if err != "not found" or built.get(name) == "built"}
    if unexpected:
        detail += "; not found: " + "; ".join(f"{name} ({err})" for name, err in unexpected.items())
    if import_errors:
        detail += "; import failed: " + "; ".join(f"{name} ({err})" for name, err in import_errors.items())
    return f"no compiled Cython kernels ({detail})"


def _choose():
    """Import the variant to use: (module, variant name, facts for info(), reason if none)."""
    lookup_errors, import_errors = {}, {}
    facts = {"variants_compiled": [v.name for v in _variants.VARIANTS if _find(v.name, lookup_errors)]}
    probe = None
    for name in facts["variants_compiled"]:      # baseline first: importable on any CPU
        if not _variants.VARIANTS[_variants.NAMES.index(name)].requires:
            probe, error = _import(name)
            if error:
                import_errors[name] = error
            break
    features = _cpu_features(probe)
    runnable = [v.name for v in _variants.VARIANTS
                if v.name in facts["variants_compiled"] and set(v.requires) <= features]
    facts["variants_runnable"] = runnable
    if not runnable:
        return None, None, facts, _missing_reason(lookup_errors, import_errors)

    order = runnable[::-1]                       # best first
    forced = os.environ.get(_variants.ENV_VARIANT, "").strip().lower()
    if forced and forced != "auto":
        facts["forced"] = forced
        if forced not in _variants.NAMES:
            problem = f"is not one of auto, {', '.join(_variants.NAMES)}"
        elif forced not in facts["variants_compiled"]:
            problem = "was not compiled in this installation"
        elif forced not in runnable:
            lacking = sorted(set(_variants.VARIANTS[_variants.NAMES.index(forced)].requires) - features)
            problem = f"needs CPU features this machine lacks ({', '.join(lacking)})"
        else:
            problem = None
            order = [forced] + [n for n in order if n != forced]
        if problem:
            warnings.warn(f"{_variants.ENV_VARIANT}={forced!r} {problem}; using the {order[0]!r} "
                          "variant", RuntimeWarning, stacklevel=2)
    for name in order:
        if probe is not None and name == probe.VARIANT:
            return probe, name, facts, None
        module, error = _import(name)
        if module is not None:
            return module, name, facts, None
        import_errors[name] = error
        if name == forced:
            warnings.warn(f"{_variants.ENV_VARIANT}={forced!r}: that variant failed to import "
                          f"({error}); trying the others", RuntimeWarning, stacklevel=2)
    return None, None, facts, _missing_reason(lookup_errors, import_errors)


_module, _variant, _facts, _reason = _choose()
if _module is not None:
    _ELEMENTWISE = _module.ELEMENTWISE
    _ROWS = _module.ROW_KERNELS
    _FUSED = _module.FUSED
    _BOUND = _module.BOUND


def unavailable_reason() -> str | None:
    """None when the kernels are loaded, else why not (shown by fastact.show_config())."""
    return _reason


def variant() -> str | None:
    """The ISA variant in use ("baseline", "avx2", "avx512"), or None."""
    return _variant


_DTYPE_NAMES: dict = {}


def _dtype_name(dtype) -> str:
    # memoised: numpy's dtype.name is a Python property costing ~2 us a call
    try:
        return _DTYPE_NAMES[dtype]
    except (KeyError, TypeError):
        pass
    import numpy as np
    name = np.dtype(dtype).name
    try:
        _DTYPE_NAMES[dtype] = name
    except TypeError:
        pass
    return name


def elementwise_kernel(family: str, direction: str, dtype, contiguous: bool, parallel: bool, *,
                       stream: bool = False):
    """The kernel of `family`: forward ``k(x, out, args, nchunks)``, "backward" and
    "backward_from_output" ``k(grad, saved, out, args, nchunks)``.  Serial and parallel are the
    same function: nchunks = 1 runs on the calling thread, without an OpenMP region.  With
    stream=True (contiguous only) the output is written with streaming stores; it may still be
    an input (each chunk is computed before it is stored), but that only costs."""
    if stream and not contiguous:
        raise ValueError("streaming kernels are contiguous only")
    layout = ("contiguous_stream" if stream else "contiguous") if contiguous else "strided"
    try:
        return _ELEMENTWISE[(family, direction, _dtype_name(dtype), layout)]
    except KeyError:
        raise ValueError(f"no Cython kernel for family {family!r}, direction {direction!r}, "
                         f"dtype {_dtype_name(dtype)}") from None


def fused_kernel(layout: str, family: str, direction: str, dtype, parallel: bool, *,
                 shift: bool, count: bool = False, inplace: bool = False):
    """Bias + activation (+ zero counts), with the ABI of ``fastact._numba.fused_kernel``:
    forward ``k(x, bias, out, parts, args, nchunks)``, backward
    ``k(grad, saved, bias, out, parts, args, nchunks)``; the layout is read off the arrays'
    dimensions (2: rows, 3: planes), and in place needs nothing special (out is x)."""
    try:
        kernel = _FUSED[(family, direction, _dtype_name(dtype))]
    except KeyError:
        raise ValueError(f"no Cython kernel for family {family!r}, direction {direction!r}, "
                         f"dtype {_dtype_name(dtype)}") from None
    if direction == "forward":
        if inplace:
            return lambda x, bias, out, parts, args, nchunks: kernel(x, bias, x, parts, args, nchunks, shift, count)
        return lambda x, bias, out, parts, args, nchunks: kernel(x, bias, out, parts, args, nchunks, shift, count)
    if inplace:
        return lambda grad, saved, bias, out, parts, args, nchunks: kernel(
            grad, saved, bias, grad, parts, args, nchunks, shift)
    return lambda grad, saved, bias, out, parts, args, nchunks: kernel(
        grad, saved, bias, out, parts, args, nchunks, shift)


def bound_kernel(family: str, direction: str, dtype, args: tuple, threshold: int, stream_from: int,
                 state, fallback):
    """A callable doing fastact.kernel's whole fast path in C (`BoundKernel` in _kernels.pyx.tp):
    serial below `threshold` elements, else ``state.num_threads`` OpenMP threads; out of place
    from `stream_from` elements on, streaming stores; calls it cannot take go to ``fallback``."""
    return _BOUND[(family, direction, _dtype_name(dtype))](tuple(float(a) for a in args), threshold,
                                                          stream_from, state, fallback)


def prelu_kernel(direction: str, dtype, parallel: bool):
    """forward ``k(x3, weight, out3, nchunks)``; backward
    ``k(grad3, x3, weight, grad_x3, grad_weight_rows, nchunks)``."""
    return _ROWS[("prelu", direction, _dtype_name(dtype))]


def softmax_kernel(direction: str, dtype, parallel: bool):
    """forward ``k(x2, out2, log, nchunks, stream)``; backward ``k(grad2, y2, out2, log, nchunks,
    stream)``; `stream`: the output with streaming stores (it must not be an input)."""
    return _ROWS[("softmax", direction, _dtype_name(dtype))]


def softmax_bound(direction: str, dtype, log: bool, threshold: int, stream_from: int, state):
    """softmax's whole contiguous call in C (`BoundRows` in _kernels.pyx.tp): forward
    ``k(x, out)``, backward from the output ``k(grad, y, out)``, rows along the last axis;
    returns None for a call it cannot take."""
    return _module.bound_rows(direction, _dtype_name(dtype), log, threshold, stream_from, state)


def set_threads(n: int) -> None:
    """Nothing to do: every kernel call passes its thread count (nchunks) to OpenMP."""


def info() -> dict:
    """For fastact.show_config(): the variant in use and why, OpenMP, the compiler."""
    result = {"variant": _variant,
              "variants_compiled": " ".join(_facts["variants_compiled"]) or "none",
              "variants_this_cpu_runs": " ".join(_facts["variants_runnable"]) or "none"}
    if "forced" in _facts:
        result["forced_by"] = f"{_variants.ENV_VARIANT}={_facts['forced']}"
    if _module is not None:
        result["openmp"] = _module.OPENMP
        if not _module.OPENMP:
            build = _build_record() or {}
            result["openmp_off_because"] = build.get("openmp_reason") or "built without OpenMP"
        result["compiler"] = _module.COMPILER
    build = _build_record()
    if build and build.get("cython"):
        result["cython"] = build["cython"]
    return result
