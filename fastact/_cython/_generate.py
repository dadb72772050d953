"""Expand the Tempita templates of the Cython backend (run by setup.py at build time).

    python fastact/_cython/_generate.py          # what setup.py does: write the generated files

Inputs, read from the source tree by path (fastact itself is not importable during a build):

* ``fastact/spec.py``: ``FAMILIES``, the kernel families, their argument names and whether they
  have a backward from the output -- the loops of ``_kernels.pyx.tp`` are generated per family;
* ``fastact/_coefficients.py``: the polynomial coefficients and range-reduction constants of the
  math primitives, shared with the Numba backend (``FASTACT_COEFFICIENTS_FILE`` builds against
  another table, e.g. a trial fit) -- ``mathfn.pxd.tp`` injects them;
* ``fastact/_cython/_variants.py``: one ``_kernels_<variant>.pyx`` per ISA variant (the same
  code; each is compiled with its own flags into its own module).

Outputs (next to the templates, listed in fastact/_cython/.gitignore, never committed):
``mathfn.pxd`` and ``_kernels_<variant>.pyx``.  A file is rewritten only when its text changes,
so an unchanged tree does not recompile.
"""
from __future__ import annotations

import importlib.util
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)                 # fastact/
ROOT = os.path.dirname(PACKAGE)

#: Scalar constants of fastact/_coefficients.py the primitives use (suffix _F32/_F64, or one
#: value for both); see the docstrings of fastact/_numba/mathfn.py and mathfn.pxd.tp.
CONSTANTS = ("LN2_HI", "LN2_LO", "INV_LN2", "SHIFT", "EXP_LO", "EXP_HI", "EXPM1_LO", "EXPM1_HI",
             "EXPM1_SMALL", "EXPM1_TINY", "LOG1P_KMAX", "TANH_CLAMP", "TANH_TINY", "ERF_CLAMP",
             "ERFC_C", "ERFC_SMALL", "ERFC_CLAMP", "ENS_CLAMP", "TANHSHRINK_CUTOFF")
#: Polynomial coefficient tuples (lowest order first); ERF_LARGE exists for float32 only.
POLYNOMIALS = ("EXP", "EXPM1", "LOG1P", "TANH", "ERF_SMALL", "ERFC", "TANHSHRINK")
OPTIONAL_POLYNOMIALS = ("ERF_LARGE",)

DTYPES = {
    "float32": dict(T="float", S="f32", I="int32_t", U="uint32_t", MANT=23, BIAS=127, BITS=32),
    "float64": dict(T="double", S="f64", I="int64_t", U="uint64_t", MANT=52, BIAS=1023, BITS=64),
}


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def load_spec():
    return _load("_fastact_spec_for_build", os.path.join(PACKAGE, "spec.py"))


def load_families():
    """[(name, args, from_output, cost)] in spec order, from fastact/spec.py."""
    return [(f.name, tuple(f.args), bool(f.from_output), f.cost) for f in load_spec().FAMILIES.values()]


def coefficients_path() -> str:
    return os.environ.get("FASTACT_COEFFICIENTS_FILE") or os.path.join(PACKAGE, "_coefficients.py")


def load_coefficients():
    path = coefficients_path()
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: the math primitives' coefficients "
                                "(tools/fit_polynomials.py --write makes it)")
    return _load("_fastact_coefficients_for_build", path)


def _lookup(module, name: str, dtype: str):
    """NAME_F32 / NAME_F64, or NAME[dtype], or a dtype-independent NAME."""
    suffix = "_F32" if dtype == "float32" else "_F64"
    if hasattr(module, name + suffix):
        return getattr(module, name + suffix)
    if hasattr(module, name):
        value = getattr(module, name)
        return value[dtype] if isinstance(value, dict) else value
    raise AttributeError(f"{coefficients_path()} has no {name}{suffix} (nor {name})")


def _bits(value: float, dtype: str) -> int:
    if dtype == "float32":
        return struct.unpack("<i", struct.pack("<f", value))[0]
    return struct.unpack("<q", struct.pack("<d", value))[0]


def literal(value: float, T: str) -> str:
    """A Cython constant of C type T: ``(<float>0.5)``.  The cast matters: a bare literal is a
    double and would promote float arithmetic to double (halving the SIMD width)."""
    value = float(value)
    if math.isinf(value):
        return f"(<{T}>({'-' if value < 0 else ''}INFINITY))"
    return f"(<{T}>{value!r})"


def horner(var: str, coefs, T: str) -> str:
    """sum(coefs[k] * var**k) in Horner form, as one expression."""
    expr = literal(coefs[-1], T)
    for c in reversed(coefs[:-1]):
        expr = f"({literal(c, T)} + {var} * {expr})"
    return expr


def _round(value: float, dtype: str) -> float:
    if dtype == "float32":
        return struct.unpack("<f", struct.pack("<f", float(value)))[0]
    return float(value)


def math_context():
    """The per-dtype values mathfn.pxd.tp needs, constants already formatted as typed literals."""
    C = load_coefficients()
    dtypes = []
    for dtype, d in DTYPES.items():
        T = d["T"]
        ctx = dict(d, dtype=dtype)
        for name in CONSTANTS:
            ctx[name] = literal(_lookup(C, name, dtype), T)
        ctx["ERFC_C_VALUE"] = float(_lookup(C, "ERFC_C", dtype))
        # Veltkamp's splitter 2**ceil(p/2) + 1, for Dekker's exact product without FMA
        ctx["SPLITTER"] = literal(float(2 ** ((d["MANT"] + 2) // 2) + 1), T)
        ctx["SHIFT_BITS"] = _bits(_round(_lookup(C, "SHIFT", dtype), dtype), dtype)
        for name in POLYNOMIALS:
            ctx[name] = tuple(_lookup(C, name, dtype))
        for name in OPTIONAL_POLYNOMIALS:
            try:
                ctx[name] = tuple(_lookup(C, name, dtype))
            except AttributeError:
                ctx[name] = ()
        # u = 2**k m with m in [sqrt(1/2), sqrt(2)): bits(u) + bits(1) - bits(sqrt(1/2)) has the
        # exponent field k + BIAS and the low bits of m - offset.
        sqrt_half = _bits(_round(math.sqrt(0.5), dtype), dtype)
        ctx["SQRT_HALF_BITS"] = sqrt_half
        ctx["LOG_OFFSET"] = _bits(1.0, dtype) - sqrt_half
        ctx["MANT_MASK"] = (1 << d["MANT"]) - 1
        # exponent field (0 .. 2*BIAS+1) -> float: bits(2**MANT) | field is 2**MANT + field
        ctx["EXPONENT_MAGIC_BITS"] = _bits(float(2 ** d["MANT"]), dtype)
        ctx["EXPONENT_MAGIC"] = literal(float(2 ** d["MANT"] + d["BIAS"]), T)
        # bit patterns as C integer literals (a 64-bit one needs LL, or Cython makes it a Python int)
        for name in ("SHIFT_BITS", "SQRT_HALF_BITS", "LOG_OFFSET", "MANT_MASK",
                     "EXPONENT_MAGIC_BITS"):
            ctx[name] = f"{ctx[name]}{'LL' if d['BITS'] == 64 else ''}"
        dtypes.append(ctx)
    return dict(dtypes=dtypes, horner=horner, literal=literal,
                # any other value of the table, raw: coefficient(name, dtype)
                coefficient=lambda name, dtype: _lookup(C, name, dtype))


SIZES = {"float": 4, "double": 8}


def kernels_context(variant: str):
    """What _kernels.pyx.tp loops over: one entry per (family, direction, dtype), with the pieces
    of its signatures preformatted (Tempita expressions cannot run comprehensions over the
    template's own variables)."""
    spec = load_spec()
    families = load_families()
    dtypes = [dict(T=d["T"], S=d["S"], dtype=name) for name, d in DTYPES.items()]
    kernels = []
    for family, args, from_output, cost in families:
        directions = ["forward", "backward"] + (["backward_from_output"] if from_output else [])
        for direction in directions:
            inputs = ("x",) if direction == "forward" else ("grad", "saved")
            for d in dtypes:
                T = d["T"]
                kernels.append(dict(
                    family=family, direction=direction, dtype=d["dtype"], T=T, S=d["S"],
                    name=f"{family}_{direction}_{d['S']}",
                    function=f"{family}_{direction}",
                    inputs=inputs,
                    args=args,
                    # (fastact/spec.py, PREFETCH_*)
                    prefetch=spec.prefetches(cost, direction),
                    # in elements: a chunk, the prefetch distance
                    chunk=spec.PREFETCH_CHUNK_BYTES // SIZES[T],
                    ahead=spec.PREFETCH_AHEAD_BYTES // SIZES[T],
                    # in elements: the L1 buffer of the loops with streaming stores
                    stream_chunk=(spec.PREFETCH_CHUNK_BYTES if spec.prefetches(cost, direction)
                                  else spec.STREAM_CHUNK_BYTES) // SIZES[T],
                    # const float* x,          / const float* grad, const float* saved,
                    pointer_params="".join(f"const {T}* {i}, " for i in inputs),
                    # x,  /  grad, saved,
                    pointer_names="".join(f"{i}, " for i in inputs),
                    # x + lo,  /  grad + lo, saved + lo,
                    pointer_offsets="".join(f"{i} + lo, " for i in inputs),
                    # x[i]  /  grad[i], saved[i]
                    elements=", ".join(f"{i}[i]" for i in inputs),
                    # Strided2D x,  /  Strided2D grad, Strided2D saved,
                    view_params="".join(f"Strided2D {i}, " for i in inputs),
                    # the element i of a row segment of each strided input
                    view_elements=", ".join(
                        f"(<const {T}*>({i}_row + i * {i}.s1))[0]" for i in inputs),
                    # every array steps by one element along the row
                    unit_rows=" and ".join(f"{a}.s1 == sizeof({T})" for a in inputs + ("out",)),
                    # , float negative_slope      /  , negative_slope
                    arg_params="".join(f", {T} {a}" for a in args),
                    arg_names="".join(f", {a}" for a in args),
                    python_params=", ".join(inputs),
                ))
    return dict(variant=variant, kernels=kernels, dtypes=dtypes, families=families,
                stream_row_max=spec.STREAM_ROW_MAX, softmax_chunk=spec.SOFTMAX_CHUNK,
                softmax_prefetch_max=spec.SOFTMAX_PREFETCH_MAX_BYTES, prelu_last_block=spec.PRELU_LAST_BLOCK)


def header(template: str, comment: str = "#") -> str:
    src = os.path.relpath(os.path.join(HERE, template), ROOT)
    gen = os.path.relpath(os.path.abspath(__file__), ROOT)
    return (f"{comment} Generated from {src} by {gen} (run by setup.py) -- do not edit.\n"
            f"{comment} Edit the template and rebuild (pip install -e . --no-build-isolation).\n")


def expand(template: str, context: dict) -> str:
    from Cython import Tempita
    path = os.path.join(HERE, template)
    with open(path) as f:
        text = f.read()
    body = Tempita.Template(text, name=path).substitute(**context)
    return header(template) + body


def _write(path: str, text: str) -> bool:
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(text)
    return True


def generate(variants=None, verbose=False) -> list[str]:
    """Write mathfn.pxd and _kernels_<variant>.pyx; returns the paths written or up to date."""
    if variants is None:
        variants = _load("_fastact_variants_for_build", os.path.join(HERE, "_variants.py")).NAMES
    outputs = {os.path.join(HERE, "mathfn.pxd"): expand("mathfn.pxd.tp", math_context())}
    for variant in variants:
        outputs[os.path.join(HERE, f"_kernels_{variant}.pyx")] = expand(
            "_kernels.pyx.tp", kernels_context(variant))
    for path, text in outputs.items():
        changed = _write(path, text)
        if verbose:
            print(f"{'wrote' if changed else 'unchanged'} {os.path.relpath(path, ROOT)}")
    return list(outputs)


if __name__ == "__main__":
    generate(verbose=True)
