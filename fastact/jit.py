"""fastact's activations for your own ``@numba.njit`` code.

``import fastact.jit`` (it is not imported by ``import fastact``; importing it compiles nothing).
For every elementwise activation ``act`` (and prelu with one scalar slope, rrelu in eval mode):

* ``act(x, *params)``: y, a scalar;
* ``act_derivative(x, *params)``: dy/dx at x;
* ``act_derivative_from_output(y, *params)``: dy/dx from the output y, where the output
  determines it (the activations in ``DERIVATIVE_FROM_OUTPUT``; leaky_relu needs
  negative_slope >= 0, elu alpha >= 0);
* ``act_(arr, *params)``: in place on an array; returns it;
* ``act_backward_(grad, x, *params)``: grad = grad * dy/dx at x (dL/dx), in place on grad;
* ``act_backward_from_output_(grad, y, *params)``: the same from the output y;

and ``softmax_(arr)``, ``log_softmax_(arr)``, ``softmax_backward_from_output_(grad, y)``,
``log_softmax_backward_from_output_(grad, y)`` along the last axis.

Example::

    import numba, numpy as np
    import fastact.jit as fj

    @numba.njit
    def bias_gelu_(h, bias):                 # h = gelu(h + bias), one pass over memory
        for r in range(h.shape[0]):
            for j in range(h.shape[1]):
                h[r, j] = fj.gelu(h[r, j] + bias[j], "tanh")

Scalar functions
    are inlined by LLVM into the loop that calls them (with fastact's own floating-point options,
    whatever the caller's: FMA contraction, exact NaN and inf, no ZeroDivisionError check), so
    that loop still vectorizes; they contain no libm calls.  x float32 -> float32 math and
    result; float64 or an integer -> float64.  Parameters take the spec's defaults and are cast
    to x's type the way the public functions cast them (computed in float64, then rounded), so
    results are bit-for-bit those of ``fastact.act(..., backend="numba")``.  The scalar
    functions do **not** validate their parameters (a check per element would cost more than
    the math): validate once outside the loop, or use the array kernels, which do.
    Choice parameters (gelu's ``approximate``) must be compile-time constants.
Array kernels
    take float32 or float64 arrays of any shape and layout (a fast loop for C- or F-contiguous
    arrays, a row-wise loop for other strides), run serially on the calling thread (call them
    from your own ``prange`` loop for threads), validate their parameters once per call and
    raise ``ValueError`` as the public functions do (compile-time ``TypingError`` for wrong
    types).  ``prelu_`` takes one scalar slope (``fastact.prelu`` has the per-channel form) and
    ``prelu_backward_`` computes grad_x only; ``rrelu`` is its eval mode, leaky_relu with slope
    (lower + upper) / 2.
512-bit vectors
    LLVM vectorizes with 256-bit (ymm) vectors on Intel server CPUs; call
    ``fastact.jit.prefer_vector_width_512()`` first thing in your function to have its loops use
    zmm on CPUs with AVX-512 (~25-35% faster for the exp/erf-based activations).
From plain Python
    every function runs the public ``fastact`` function (scalars: on a 0-d array, returning a
    Python float), so ``help()`` and quick checks work.
"""
from __future__ import annotations

from ._numba import embed as _embed
from .spec import Activation as _Activation

_FORM_TEXT = {
    "forward": "Scalar {act}(x) for ``@numba.njit`` code (inlined where it is called).",
    "derivative": "Scalar d{act}/dx at x for ``@numba.njit`` code (inlined where it is called).",
    "derivative_from_output": "Scalar d{act}/dx from the forward output y = {act}(x), for "
                              "``@numba.njit`` code (inlined where it is called).",
    "inplace": "In place: arr = {act}(arr), for ``@numba.njit`` code; returns arr.",
    "backward_inplace": "In place: grad = grad * d{act}/dx at x (dL/dx from dL/dy), for "
                        "``@numba.njit`` code; returns grad.",
    "backward_from_output_inplace": "In place: grad = dL/dx from dL/dy = grad and the forward "
                                    "output y, for ``@numba.njit`` code; returns grad.",
}

_LEADING_DOC = {
    "x": "x : float\n    float32 -> float32 math and result; float64 or an integer -> float64.",
    "y": "y : float\n    The forward output; float32 -> float32 math and result; else float64.",
    "arr": "arr : ndarray\n    float32 or float64, writeable, any shape and strides; overwritten.",
    "grad": "grad : ndarray\n    dL/dy, float32 or float64, writeable; overwritten with dL/dx.",
}


def _doc(entry) -> str:
    spec: _Activation = entry.spec
    lines = [_FORM_TEXT[entry.form].format(act=spec.name), "", spec.summary, "", f"    {spec.formula}", ""]
    if entry.form != "forward" and entry.form != "inplace":
        lines += ["d/dx: " + spec.gradient, ""]
    lines += ["Parameters", "----------"]
    for name in entry.leading:
        if name in _LEADING_DOC:
            lines.append(_LEADING_DOC[name])
        elif entry.form == "backward_inplace":
            lines.append("x : ndarray\n    The forward input: the same shape and dtype as grad.")
        else:
            lines.append("y : ndarray\n    The forward output: the same shape and dtype as grad.")
    for p in entry.params:
        kind = "str (a compile-time constant)" if p.kind == "choice" else "float"
        default = "" if p.required else f", default {p.default!r}"
        lines.append(f"{p.name} : {kind}{default}\n    {p.doc}")
    lines += ["", "Notes", "-----"]
    if entry.form in _embed.SCALAR_FORMS:
        lines.append("Parameters are not validated here (see fastact.jit's docstring). From plain "
                     f"Python this evaluates fastact.{spec.name} and returns a Python float.")
        if entry.form == "derivative_from_output" and callable(spec.from_output):
            lines.append("Valid only where the output determines the derivative: "
                         + "; ".join(filter(None, [spec.from_output(-1.0)])) + ".")
    else:
        lines.append("Parameters are validated once per call (ValueError). Serial; from plain "
                     f"Python this calls the public fastact function.")
    if spec.name == "rrelu":
        lines.append("Eval mode only: leaky_relu with slope (lower + upper) / 2.")
    if spec.name == "prelu":
        lines.append("One scalar slope; fastact.prelu has the per-channel form.")
    if spec.kind == "softmax":
        lines.append("Along the last axis.")
    if spec.notes:
        lines.append(spec.notes)
    return "\n".join(lines)


def _build() -> dict:
    return {entry.name: _embed.make_stub(entry, _doc(entry)) for entry in _embed.entries()}


_FUNCTIONS = _build()
globals().update(_FUNCTIONS)

prefer_vector_width_512 = _embed.prefer_vector_width_512
prefer_vector_width_512.__module__ = __name__

#: The activations with a ``<act>_derivative_from_output`` (for some parameter values).
DERIVATIVE_FROM_OUTPUT = tuple(s.name for s in _embed.JIT_ACTIVATIONS if _embed.from_output_possible(s))

__all__ = sorted(_FUNCTIONS) + ["DERIVATIVE_FROM_OUTPUT", "prefer_vector_width_512"]


def __dir__():
    return sorted(set(globals()) | set(__all__))
