"""The Numba machinery behind :mod:`fastact.jit`: stubs, their overloads and the code they compile.

Every public name of ``fastact.jit`` is a plain Python function (a *stub*: it runs the public
``fastact`` function when called from Python) with a ``numba.extending.overload`` registered on
it, so that ``@numba.njit`` code that calls it compiles our implementation instead.  Everything is
generated from the spec table (``fastact.spec``): the parameter lists, defaults and docstrings
from ``Activation.params``, the parameter -> kernel-argument mapping from ``kernel_source`` (as
source code, so nothing per-activation is restated here), the scalar math from the Numba backend's
families (``fastact._numba.activations``).

How the scalar functions stay fast inside a user's loop
-------------------------------------------------------
A scalar overload is compiled as a function of its own, with the backend's options
(``error_model="numpy"``, ``fastmath={"contract"}``: no ZeroDivisionError branch, FMA
contraction, exact NaN/inf), and the family's math inlined into it at Numba-IR level.  Its first
statement, ``_always_inline()``, gives that LLVM function the ``alwaysinline`` attribute, so
LLVM inlines it into the caller's loop, which then vectorizes.  Inlining at LLVM level (rather
than with ``overload(inline="always")``, Numba-IR inlining into the *caller*) keeps our options
whatever the caller's are: IR-inlined into a default ``@njit`` function, the math would be
lowered with ``error_model="python"`` (a zero check on every division, which stops the loop from
vectorizing: measured 8x slower for gelu) and without FMA contraction (results differing from the
public functions' in the last bit); and a caller's ``fastmath=True`` would break NaN and inf.
LLVM's fast-math flags are per instruction, so they survive LLVM inlining.

Numerics: the kernel arguments are computed as the public API computes them (the parameters as
float64, the kernel mapping in float64, then each argument rounded to x's type), and the scalar
math is the Numba backend's own, so results are bit-for-bit the ``backend="numba"`` ones.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numba
import numpy as np
from numba import types
from numba.core import errors
from numba.extending import intrinsic, overload

from .. import _embed_checks as _checks
from .. import spec as _spec
from ..spec import REQUIRED, SPECS, Activation, Param, kernel_source
from . import loops, scalar_function, softmax_kernel

#: Options of every function compiled here: those of the backend's kernels.
OPTIONS = dict(loops.KERNEL_OPTIONS)


@intrinsic
def _always_inline(typingctx):
    """Statement-like: gives the LLVM function being compiled the ``alwaysinline`` attribute."""
    def codegen(context, builder, sig, args):
        builder.function.attributes.add("alwaysinline")
        return context.get_dummy_value()

    return types.none(), codegen


# --- what is exposed, per activation -----------------------------------------------------------------

#: The scalar form of prelu: one slope.
_PRELU_WEIGHT = Param("weight", REQUIRED, doc="the slope for x <= 0 (one number: the scalar form of "
                                               "prelu's per-channel weight)")


def jit_params(spec: Activation) -> tuple[Param, ...]:
    """The parameters of the jit functions of an activation: its real and choice parameters
    (rrelu: lower and upper, eval mode; prelu: one scalar weight)."""
    if spec.kind == "prelu":
        return (_PRELU_WEIGHT,)
    return tuple(p for p in spec.params if p.kind in ("real", "choice"))


def family_source(spec: Activation, choices: dict) -> tuple[str, tuple[str, ...]]:
    """(family, kernel args as source in the parameter names)."""
    if spec.kind == "prelu":
        return "leaky_relu", ("weight",)
    return kernel_source(spec, **choices)


def from_output_possible(spec: Activation) -> bool:
    """Whether the output can determine the derivative (for some parameter values)."""
    if spec.kind not in ("elementwise", "rrelu") or spec.from_output is False:
        return False
    family, _ = family_source(spec, {p.name: p.default for p in jit_params(spec) if p.kind == "choice"})
    return _spec.FAMILIES[family].from_output


JIT_ACTIVATIONS = tuple(s for s in SPECS.values() if s.kind in ("elementwise", "rrelu", "prelu"))
ROW_ACTIVATIONS = tuple(s for s in SPECS.values() if s.kind == "softmax")

#: form -> (stub name pattern, leading arguments)
FORMS = {
    "forward": ("{}", ("x",)),
    "derivative": ("{}_derivative", ("x",)),
    "derivative_from_output": ("{}_derivative_from_output", ("y",)),
    "inplace": ("{}_", ("arr",)),
    "backward_inplace": ("{}_backward_", ("grad", "x")),
    "backward_from_output_inplace": ("{}_backward_from_output_", ("grad", "y")),
}
SCALAR_FORMS = ("forward", "derivative", "derivative_from_output")


@dataclass(frozen=True)
class Entry:
    """One public function of fastact.jit."""
    name: str
    spec: Activation
    form: str
    leading: tuple[str, ...]
    params: tuple[Param, ...]

    @property
    def where(self) -> str:
        return f"fastact.jit.{self.name}"


def entries() -> list[Entry]:
    out = []
    for spec in JIT_ACTIVATIONS:
        params = jit_params(spec)
        for form, (pattern, leading) in FORMS.items():
            if "from_output" in form and not from_output_possible(spec):
                continue
            out.append(Entry(pattern.format(spec.name), spec, form, leading, params))
    for spec in ROW_ACTIVATIONS:
        for form in ("inplace", "backward_from_output_inplace"):
            pattern, leading = FORMS[form]
            out.append(Entry(pattern.format(spec.name), spec, form, leading, ()))
    return out


# --- parameter checks, compiled: fastact/_embed_checks.py ---------------------------------------------

def _validation_lines(entry: Entry) -> list[str]:
    checks = _checks.conditions(entry.spec, entry.params,
                                from_output=entry.form == "backward_from_output_inplace")
    return [f"    if {condition}:\n        raise ValueError({f'{entry.where}: {message}'!r})"
            for condition, message in checks]


# --- typing ---------------------------------------------------------------------------------------------

def _float_of_scalar(t, entry, arg):
    """The compute type of a scalar argument x: float32 for float32 (and float16), else float64."""
    if isinstance(t, types.Float):
        return np.float32 if t.bitwidth <= 32 else np.float64
    if isinstance(t, types.Integer) and not isinstance(t, types.Boolean):
        return np.float64
    raise errors.TypingError(f"{entry.where}: {arg} must be a real number (float32 -> float32 math, "
                             f"float64 or an integer -> float64), got {t}")


def _float_of_array(t, entry, arg):
    if not isinstance(t, types.Array) or t.dtype not in (types.float32, types.float64):
        raise errors.TypingError(f"{entry.where}: {arg} must be a float32 or float64 ndarray, got {t}")
    if not t.mutable:
        raise errors.TypingError(f"{entry.where}: {arg} is read-only")
    return np.float32 if t.dtype == types.float32 else np.float64


def _check_param_type(t, p, entry):
    """None, or for a choice parameter its literal value."""
    if isinstance(t, types.Omitted):
        return t.value
    if not isinstance(t, types.Type):          # omitted: the typing function got its default
        return t
    if p.kind == "choice":
        if isinstance(t, types.StringLiteral):
            value = t.literal_value
            if value not in p.choices:
                message = (f"{entry.where}: {p.name} must be one of "
                           f"{', '.join(map(repr, p.choices))}, got {value!r}")
                # Numba then retries with the plain string type: say this, not "cannot request
                # literal type"
                _rejected.last = (entry.name, message)
                raise errors.TypingError(message)
            return value
        if isinstance(t, types.UnicodeType):
            last = getattr(_rejected, "last", None)
            _rejected.last = None
            if last is not None and last[0] == entry.name:
                raise errors.TypingError(last[1])
            return _NEEDS_LITERAL
        raise errors.TypingError(f"{entry.where}: {p.name} must be one of "
                                 f"{', '.join(map(repr, p.choices))}, got {t}")
    if isinstance(t, (types.Float, types.Integer)) and not isinstance(t, types.Boolean):
        return None
    raise errors.TypingError(f"{entry.where}: {p.name} must be a real number, got {t}")


# --- implementations, generated -------------------------------------------------------------------------

def _first(entry):
    return entry.leading[0]


def _layout_key(arrays):
    """Which loop: "C" (all C-contiguous), "F" (all Fortran), else by ndim: 0, 1 or "N"."""
    if all(a.layout == "C" for a in arrays):
        return "C"
    if all(a.layout == "F" for a in arrays) and arrays[0].ndim > 1:
        return "F"
    ndim = arrays[0].ndim
    return ndim if ndim in (0, 1) else "N"


def _elementwise_loop(entry, key, call_args):
    """The loop of an in-place array kernel, in place on the first array."""
    names = entry.leading
    if key == "C":
        views = "".join(f"    {n}_ = {n}.reshape({n}.size)\n" for n in names)
        return views + (f"    for i in range({names[0]}_.size):\n"
                        f"        {names[0]}_[i] = _fn({', '.join(f'{n}_[i]' for n in names)}, {call_args})\n")
    if key == "F":
        views = "".join(f"    {n}_ = {n}.T.reshape({n}.size)\n" for n in names)
        return views + (f"    for i in range({names[0]}_.size):\n"
                        f"        {names[0]}_[i] = _fn({', '.join(f'{n}_[i]' for n in names)}, {call_args})\n")
    if key == 0:
        return f"    {names[0]}[()] = _fn({', '.join(f'{n}[()]' for n in names)}, {call_args})\n"
    if key == 1:
        return (f"    for i in range({names[0]}.shape[0]):\n"
                f"        {names[0]}[i] = _fn({', '.join(f'{n}[i]' for n in names)}, {call_args})\n")
    views = "".join(f"        {n}_ = {n}[idx]\n" for n in names)
    return (f"    for idx in np.ndindex({names[0]}.shape[:-1]):\n" + views +
            f"        for i in range({names[0]}_.shape[0]):\n"
            f"            {names[0]}_[i] = _fn({', '.join(f'{n}_[i]' for n in names)}, {call_args})\n")


def _signature_source(entry: Entry) -> tuple[str, dict]:
    parts, defaults = list(entry.leading), {}
    for p in entry.params:
        if p.required:
            parts.append(p.name)
        else:
            defaults[f"_default_{p.name}"] = p.default
            parts.append(f"{p.name}=_default_{p.name}")
    return ", ".join(parts), defaults


_compiled: dict = {}
_lock = threading.Lock()


def _implementation(entry: Entry, F, choices: dict, key):
    """The Python source of the implementation for these types, exec'd (memoised)."""
    memo = (entry.name, F, tuple(sorted(choices.items())), key)
    impl = _compiled.get(memo)
    if impl is not None:
        return impl
    signature, defaults = _signature_source(entry)
    if entry.spec.kind == "softmax":
        return _row_implementation(entry, F, key, memo)
    real = [p.name for p in entry.params if p.kind != "choice"]
    lines = [f"def impl({signature}):"]
    namespace = dict(defaults, np=np, _F=F, _f64=np.float64, _ONE=F(1.0), _isfinite=math.isfinite,
                     _isnan=math.isnan, _always_inline=_always_inline)
    # the parameters as float64, as the public API computes the kernel arguments
    lines += [f"    {name} = _f64({name})" for name in real]
    family, args = family_source(entry.spec, choices)
    args_source = "(" + "".join(f"_F({a}), " for a in args) + ")"
    if entry.form in SCALAR_FORMS:
        direction = {"forward": "forward", "derivative": "backward",
                     "derivative_from_output": "backward_from_output"}[entry.form]
        namespace["_fn"] = scalar_function(family, direction, F)
        lines.insert(1, "    _always_inline()")
        first = _first(entry)
        call = f"_F({first}), {args_source}" if entry.form == "forward" else f"_ONE, _F({first}), {args_source}"
        lines.append(f"    return _fn({call})")
    else:
        direction = {"inplace": "forward", "backward_inplace": "backward",
                     "backward_from_output_inplace": "backward_from_output"}[entry.form]
        namespace["_fn"] = scalar_function(family, direction, F)
        lines += _validation_lines(entry)
        if len(entry.leading) == 2:
            a, b = entry.leading
            lines.append(f"    if {a}.shape != {b}.shape:\n"
                         f"        raise ValueError({f'{entry.where}: {a} and {b} have different shapes'!r})")
        lines.append(f"    args = {args_source}")
        lines.append(_elementwise_loop(entry, key, "args").rstrip("\n"))
        lines.append(f"    return {_first(entry)}")
    return _define(lines, namespace, entry, F, memo)


def _define(lines, namespace, entry: Entry, F, memo):
    """exec the implementation's source lines in `namespace`; remember and return `impl`."""
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<{entry.where}:{F.__name__}>", "exec"), namespace)
    impl = namespace["impl"]
    impl.__source__ = source
    with _lock:
        _compiled[memo] = impl
    return impl


def _row_implementation(entry: Entry, F, key, memo):
    """softmax / log_softmax over the last axis: the Numba backend's row loops, serial."""
    layout, ndim = key
    log = entry.spec.name == "log_softmax"
    # the backend's own serial row kernel (same math as fastact.softmax(..., backend="numba"))
    rows = softmax_kernel("forward" if entry.form == "inplace" else "backward", F, False)
    names = entry.leading
    # the template's arguments: (x, out, log, nchunks, stream) / (grad, y, out, log, nchunks,
    # stream), out = the first (in place: no streaming stores)
    call = ", ".join(f"{n}_" for n in names) + f", {names[0]}_, {log}, 1, False"
    if layout == "C":
        body = "".join(f"    {n}_ = {n}.reshape(({n}.size // {n}.shape[-1], {n}.shape[-1]))\n"
                       for n in names) + f"    _rows({call})\n"
    elif ndim == 1:                        # one row
        body = "".join(f"    {n}_ = {n}[None, :]\n" for n in names) + f"    _rows({call})\n"
    elif ndim == 2:                        # the template takes any strides
        body = "".join(f"    {n}_ = {n}\n" for n in names) + f"    _rows({call})\n"
    else:                                  # one 2-D block per index of the leading axes
        body = (f"    for idx in np.ndindex({names[0]}.shape[:-2]):\n"
                + "".join(f"        {n}_ = {n}[idx]\n" for n in names)
                + f"        _rows({call})\n")
    signature, _ = _signature_source(entry)
    lines = [f"def impl({signature}):"]
    if len(names) == 2:
        a, b = names
        lines.append(f"    if {a}.shape != {b}.shape:\n"
                     f"        raise ValueError({f'{entry.where}: {a} and {b} have different shapes'!r})")
    lines += [body.rstrip("\n"), f"    return {names[0]}"]
    return _define(lines, dict(np=np, _rows=rows), entry, F, memo)


#: The last rejected literal choice, per thread (see _check_param_type).
_rejected = threading.local()

#: A choice parameter given as a string variable.
_NEEDS_LITERAL = object()


def _literally_impl(entry: Entry, names):
    signature, defaults = _signature_source(entry)
    source = (f"def impl({signature}):\n"
              + "".join(f"    _literally({n})\n" for n in names)
              + f"    return {entry.leading[0]}\n")
    namespace = dict(defaults, _literally=numba.literally)
    exec(compile(source, f"<{entry.where}:literally>", "exec"), namespace)
    return namespace["impl"]


def _typer(entry: Entry, leading_types, param_types):
    """What the overload returns for these argument types: the implementation, or a TypingError."""
    choices = {}
    for p, t in zip(entry.params, param_types):
        value = _check_param_type(t, p, entry)
        if p.kind == "choice":
            choices[p.name] = value
    needs_literal = [p.name for p in entry.params if choices.get(p.name) is _NEEDS_LITERAL]
    if needs_literal:
        # a string variable: numba.literally recompiles the caller with its value as a constant
        # (it must be one of the caller's arguments, else Numba says it cannot)
        return _literally_impl(entry, needs_literal)
    if entry.form in SCALAR_FORMS:
        F = _float_of_scalar(leading_types[0], entry, entry.leading[0])
        key = None
    else:
        Fs = [_float_of_array(t, entry, n) for t, n in zip(leading_types, entry.leading)]
        if len(set(Fs)) > 1:
            raise errors.TypingError(f"{entry.where}: {' and '.join(entry.leading)} must have the same "
                                     f"dtype, got {' and '.join(str(t.dtype) for t in leading_types)}")
        if len({t.ndim for t in leading_types}) > 1:
            raise errors.TypingError(f"{entry.where}: {' and '.join(entry.leading)} must have the same "
                                     f"number of dimensions")
        if entry.spec.kind == "softmax" and leading_types[0].ndim == 0:
            raise errors.TypingError(f"{entry.where}: needs at least one dimension (it works along "
                                     "the last axis)")
        F = Fs[0]
        key = _layout_key(leading_types)
        if entry.spec.kind == "softmax":
            key = ("C" if key == "C" else "any", leading_types[0].ndim)
    return _implementation(entry, F, choices, key)


# --- stubs ----------------------------------------------------------------------------------------------

def _python_call(entry: Entry, leading, params):
    """What a stub does when called from Python: the public function."""
    import fastact
    act = entry.spec.name
    if entry.form in SCALAR_FORMS:
        value = leading[0]
        if isinstance(value, (bool, np.bool_)) or not _spec.is_real(value):
            raise TypeError(f"{entry.where}: {entry.leading[0]} must be a real number, got "
                            f"{type(value).__name__}")
        dtype = np.float32 if isinstance(value, (np.float32, np.float16)) else np.float64
        x = np.asarray(value, dtype=dtype)
        if entry.form == "forward":
            result = getattr(fastact, act)(x, *params)
        else:
            result = getattr(fastact, act + "_backward")(np.ones((), dtype), x, *params,
                                                         from_output=entry.form == "derivative_from_output")
        if isinstance(result, tuple):          # prelu_backward: (grad_x, grad_weight)
            result = result[0]
        return float(result)
    if entry.form == "inplace":
        return getattr(fastact, act + "_")(leading[0], *params)
    grad, saved = leading
    result = getattr(fastact, act + "_backward")(grad, saved, *params, out=grad,
                                                 from_output="from_output" in entry.form)
    return grad if isinstance(result, tuple) else result


_STUB = """\
def {name}({signature}):
    return _call(_entry, ({leading}), ({params}))
"""

_OVERLOAD = """\
def typer({signature}):
    return _typer(_entry, ({leading}), ({params}))
"""


def _tuple(names):
    return ", ".join(names) + ("," if len(names) == 1 else "")


def make_stub(entry: Entry, doc: str):
    """The stub (a Python function with the entry's signature and `doc`) with its overload registered."""
    signature, defaults = _signature_source(entry)
    fill = dict(name=entry.name, signature=signature, leading=_tuple(entry.leading),
                params=_tuple([p.name for p in entry.params]))
    namespace = dict(defaults, _call=_python_call, _typer=_typer, _entry=entry)
    exec(compile(_STUB.format(**fill), f"<{entry.where}>", "exec"), namespace)
    exec(compile(_OVERLOAD.format(**fill), f"<{entry.where}:typing>", "exec"), namespace)
    stub = namespace[entry.name]
    stub.__module__ = "fastact.jit"
    stub.__qualname__ = entry.name
    stub.__doc__ = doc
    # choice parameters (gelu's approximate) are typed as string literals first
    literal = any(p.kind == "choice" for p in entry.params)
    overload(stub, jit_options=OPTIONS, prefer_literal=literal)(namespace["typer"])
    return stub


# --- 512-bit vectors in the caller's loops ----------------------------------------------------------------

def prefer_vector_width_512():
    """Call it first thing in your ``@numba.njit`` function to have *that* function's loops
    vectorized with 512-bit (zmm) vectors on CPUs with AVX-512, where LLVM otherwise prefers
    256-bit ones (ymm); the polynomial math of the activations runs ~25-35% faster so.  A no-op
    elsewhere, and from plain Python.  It sets the LLVM function attribute
    ``"prefer-vector-width"="512"`` on the function that calls it."""
    return None


@overload(prefer_vector_width_512, inline="always")
def _prefer_vector_width_512_typer():
    # Numba-IR inlining puts the intrinsic into the caller, so the attribute lands on the
    # caller's LLVM function (a called function would get it instead).
    from .intrinsics import prefer_vector_width_512 as set_attribute

    def impl():
        set_attribute()
    return impl
