"""The activation table: the one place that says what fastact computes.

Everything else enumerates it: the public functions (`fastact._api`), the NumPy reference and
baseline (`fastact.reference`), both kernel backends, the tests and the benchmarks.

Two levels:

* An :class:`Activation` is what users call: a name, its parameters with defaults and checks,
  documentation, and whether its backward may take the forward output.
* A *kernel family* is what backends implement: one scalar forward and one scalar backward written
  once per backend.  Several activations share a family (selu and celu are elu with other
  constants, relu6 is hardtanh(0, 6), rrelu in eval mode is leaky_relu), so an activation maps its
  parameters to ``(family, kernel_args)``.

Adding an activation = one entry here + its scalar math per backend + its reference.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = [
    "Param", "Activation", "Family", "FAMILIES", "ACTIVATIONS", "SPECS", "REQUIRED",
    "SELU_ALPHA", "SELU_SCALE", "kernel_source",
]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Marks a parameter without default (``threshold``'s ``threshold`` and ``value``).
REQUIRED: Any = _Required()

# Klambauer et al. (2017); the same digits PyTorch uses.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@dataclass(frozen=True)
class Family:
    """A scalar kernel that backends implement: ``forward(x, *args)``, ``backward(g, x, *args)``
    (= g * dy/dx) and, when ``from_output``, ``backward_from_output(g, y, *args)``."""

    name: str
    args: tuple[str, ...] = ()
    from_output: bool = False
    #: "memory" when the scalar math is a few compares and multiplies (the op runs at memory
    #: speed), "compute" when it evaluates exp/tanh/erf polynomials.
    cost: str = "memory"


#: Loop tuning shared by both backends: the contiguous loops of "compute" families (not their
#: derivatives from the output, a few multiplies) run in chunks of PREFETCH_CHUNK_BYTES, each
#: first prefetching its inputs PREFETCH_AHEAD_BYTES ahead.  Such a loop fills the out-of-order
#: window with arithmetic, so its loads issue late and, beyond L2, wait on L3: memory time adds to
#: compute time instead of overlapping (tanh float32, one thread: 0.37 ns/element in L2, 0.48 at
#: 10**7 without the prefetch, 0.37 with it).  Memory-bound loops keep the hardware prefetcher.
PREFETCH_CHUNK_BYTES = 1024
PREFETCH_AHEAD_BYTES = 4096

#: Out-of-place loops with streaming stores (fastact/_policy.py, STREAM_FROM_BYTES) compute this
#: many bytes of output into an L1 buffer, then stream it out (the prefetching loops use their
#: PREFETCH_CHUNK_BYTES chunks).
STREAM_CHUNK_BYTES = 4096
#: softmax streams rows of up to this many elements (its exp values are summed before they are
#: scaled: a row goes through a buffer whole; longer rows get ordinary stores).
STREAM_ROW_MAX = 4096
#: The softmax forward's exp pass runs in chunks of SOFTMAX_CHUNK elements, each first
#: prefetching the same part of the next row of the input and of the output (unless the output
#: streams or is the input), up to SOFTMAX_PREFETCH_MAX_BYTES of each row: the pass is heavy on
#: arithmetic, so the next row's loads would wait on memory, and its stores on the write-allocate
#: reads of the output's lines (numbers in fastact/_cython/_kernels.pyx.tp, where they were measured).
SOFTMAX_CHUNK = 128
SOFTMAX_PREFETCH_MAX_BYTES = 8192
#: prelu's backward with the channels last (inner size 1, e.g. (batch, features)) sums the
#: weight gradient per channel over blocks of this many outer rows, one partial sum per block and
#: channel: the blocks, not the thread count, fix the order of the sum.
PRELU_LAST_BLOCK = 64


def prefetches(cost: str, direction: str) -> bool:
    """Whether the contiguous loop of a family of this `cost` in this direction runs in
    prefetching chunks (PREFETCH_*): "compute" families, but not their derivatives from the
    output, which are a few multiplies and memory-bound like relu.  Both backends ask here."""
    return cost == "compute" and direction != "backward_from_output"

#: Kernel families, in the order backends enumerate them.
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("relu", (), True),
    Family("leaky_relu", ("negative_slope",), True),
    Family("elu", ("alpha", "scale", "input_scale"), True, "compute"),
    Family("hardtanh", ("min_val", "max_val"), True),
    Family("threshold", ("threshold", "value")),
    Family("sigmoid", (), True, "compute"),
    Family("tanh", (), True, "compute"),
    Family("logsigmoid", (), False, "compute"),
    Family("softplus", ("beta", "threshold"), False, "compute"),
    Family("softsign", ()),
    Family("gelu", (), False, "compute"),
    Family("gelu_tanh", (), False, "compute"),
    Family("silu", (), False, "compute"),
    Family("mish", (), False, "compute"),
    Family("hardsigmoid", ()),
    Family("hardswish", ()),
    Family("hardshrink", ("lambd",)),
    Family("softshrink", ("lambd",)),
    Family("tanhshrink", (), False, "compute"),
)}


# --- parameter checks -----------------------------------------------------------------------------
# Each returns None when the value is fine, or the end of a sentence saying what is wrong.

def _finite(v):
    return None if math.isfinite(v) else "must be finite"


def _not_nan(v):
    return None if not math.isnan(v) else "must not be NaN"


def _nonzero(v):
    return _finite(v) or (None if v != 0 else "must be non-zero")


def _nonnegative(v):
    return _finite(v) or (None if v >= 0 else "must be >= 0")


@dataclass(frozen=True)
class Param:
    """One user-facing parameter of an activation."""

    name: str
    default: Any = REQUIRED
    #: "real" (a Python/NumPy real number), "choice" (one of ``choices``), "bool",
    #: "generator" (a numpy.random.Generator or None), "array" (an ndarray or None),
    #: "weight" (prelu: a real number or a 1-D array of slopes).
    kind: str = "real"
    doc: str = ""
    check: Callable[[float], str | None] | None = _finite
    choices: tuple = ()
    #: Appears in the forward's signature only (rrelu's rng).
    forward_only: bool = False
    #: Keyword-only in the generated signatures.
    keyword_only: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Activation:
    """One public activation: ``fa.<name>``, ``fa.<name>_`` and ``fa.<name>_backward``."""

    name: str
    summary: str
    formula: str
    gradient: str
    params: tuple[Param, ...] = ()
    #: "elementwise", "prelu", "rrelu" or "softmax": which dispatcher path runs it.
    kind: str = "elementwise"
    #: Maps the parameter values (in ``params`` order) to ``(family name, kernel args)``.
    #: Elementwise and rrelu only.
    kernel: Callable[..., tuple[str, tuple[float, ...]]] | None = None
    #: Whether ``backward(..., from_output=True)`` is allowed: False, True, or a function of the
    #: parameter values returning None (allowed) or the reason it is not.
    from_output: bool | Callable[..., str | None] = False
    #: Cross-parameter check: parameter values -> None or an error message.
    validate: Callable[..., str | None] | None = None
    #: Notes for the docstring (PyTorch conventions pinned by tests, and the like).
    notes: str = ""
    #: Typical parameter sets beyond the defaults, enumerated by tests and benchmarks.
    examples: tuple[dict, ...] = field(default_factory=tuple)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params if not p.required}

    def from_output_error(self, values: tuple) -> str | None:
        """None when the backward may take the output for these parameter values, else why not."""
        if self.from_output is True:
            return None
        if self.from_output is False:
            return f"{self.name}'s output does not determine its derivative"
        return self.from_output(*values)


def _elu_from_output(alpha):
    return None if alpha >= 0 else "needs alpha >= 0 (with alpha < 0 the output's sign no longer tells the branch)"


def _leaky_from_output(negative_slope):
    return None if negative_slope >= 0 else "needs negative_slope >= 0 (with a negative slope the output's sign no longer tells the branch)"


_ACTIVATION_LIST = (
    Activation(
        "relu", "Rectified linear unit.",
        formula="relu(x) = max(x, 0); relu(NaN) = NaN",
        gradient="1 where x > 0, else 0 (0 at x = 0). At NaN the incoming gradient passes through, as in PyTorch.",
        kernel=lambda: ("relu", ()),
        from_output=True,
    ),
    Activation(
        "leaky_relu", "Leaky rectified linear unit.",
        formula="leaky_relu(x) = x if x > 0 else negative_slope * x",
        gradient="1 where x > 0, else negative_slope (negative_slope at x = 0 and at NaN).",
        params=(Param("negative_slope", 0.01, doc="slope for x <= 0"),),
        kernel=lambda negative_slope: ("leaky_relu", (negative_slope,)),
        from_output=_leaky_from_output,
        examples=({"negative_slope": 0.2},),
    ),
    Activation(
        "prelu", "Parametric ReLU: leaky ReLU with a learned slope per channel.",
        formula="prelu(x) = x if x > 0 else w[c] * x, c = the index along `axis`",
        gradient="dL/dx = g where x > 0 else w[c] * g;  dL/dw[c] = sum of g * x over the elements of "
                 "channel c where x <= 0. The backward returns (grad_x, grad_weight), grad_weight "
                 "already reduced to weight's shape.",
        params=(
            Param("weight", REQUIRED, kind="weight", check=None,
                  doc="a real number, or a 1-D array with one slope per channel (or a single slope)"),
            Param("axis", 1, kind="axis", check=None,
                  doc="the channel axis (PyTorch's convention: 1; for 0-d and 1-d input there are no channels)"),
        ),
        kind="prelu",
    ),
    Activation(
        "rrelu", "Randomized leaky ReLU.",
        formula="eval: leaky_relu(x, (lower + upper) / 2); training: x if x > 0 else a * x with "
                "a ~ U(lower, upper) drawn per element from `rng`",
        gradient="the slope used: 1 where x > 0, else (lower + upper) / 2 in eval mode, or the drawn "
                 "slope, which the forward writes into `noise`, in training mode.",
        params=(
            Param("lower", 1.0 / 8.0, doc="lower bound of the slope distribution"),
            Param("upper", 1.0 / 3.0, doc="upper bound of the slope distribution"),
            Param("training", False, kind="bool", check=None,
                  doc="draw a random slope per element instead of using the mean slope"),
            Param("rng", None, kind="generator", check=None, forward_only=True, keyword_only=True,
                  doc="numpy.random.Generator to draw slopes from in training mode (default: a fresh "
                      "numpy.random.default_rng())"),
            Param("noise", None, kind="array", check=None, keyword_only=True,
                  doc="training mode: the forward writes the per-element slopes here (1 where x > 0, "
                      "as PyTorch's rrelu_with_noise), and the backward reads them; an array of x's "
                      "shape and dtype"),
        ),
        kind="rrelu",
        kernel=lambda lower, upper, training, rng, noise: ("leaky_relu", ((lower + upper) / 2.0,)),
        validate=lambda lower, upper, training, rng, noise: (
            None if lower <= upper else f"lower ({lower}) must be <= upper ({upper})"),
        examples=({"lower": 0.1, "upper": 0.3},),
    ),
    Activation(
        "elu", "Exponential linear unit.",
        formula="elu(x) = x if x > 0 else alpha * (exp(x) - 1)",
        gradient="1 where x > 0, else alpha * exp(x) (= y + alpha).",
        params=(Param("alpha", 1.0, doc="the value elu approaches as x -> -inf is -alpha"),),
        kernel=lambda alpha: ("elu", (alpha, 1.0, 1.0)),
        from_output=_elu_from_output,
        examples=({"alpha": 0.5},),
    ),
    Activation(
        "selu", "Scaled exponential linear unit (self-normalizing).",
        formula=f"selu(x) = scale * elu(x, alpha), alpha = {SELU_ALPHA!r}, scale = {SELU_SCALE!r}",
        gradient="scale where x > 0, else scale * alpha * exp(x).",
        kernel=lambda: ("elu", (SELU_ALPHA, SELU_SCALE, 1.0)),
        from_output=True,
    ),
    Activation(
        "celu", "Continuously differentiable exponential linear unit.",
        formula="celu(x) = max(0, x) + min(0, alpha * (exp(x / alpha) - 1))",
        gradient="1 where x > 0, else exp(x / alpha).",
        params=(Param("alpha", 1.0, check=_nonzero, doc="non-zero scale"),),
        kernel=lambda alpha: ("elu", (alpha, 1.0, 1.0 / alpha)),
        from_output=True,
        examples=({"alpha": 2.0},),
    ),
    Activation(
        "relu6", "ReLU capped at 6.",
        formula="relu6(x) = min(max(x, 0), 6)",
        gradient="1 where 0 < x < 6, else 0.",
        kernel=lambda: ("hardtanh", (0.0, 6.0)),
        from_output=True,
    ),
    Activation(
        "hardtanh", "Hard tanh: clip to [min_val, max_val].",
        formula="hardtanh(x) = min(max(x, min_val), max_val); NaN stays NaN",
        gradient="1 where min_val < x < max_val, else 0.",
        params=(Param("min_val", -1.0, doc="lower clip value"),
                Param("max_val", 1.0, doc="upper clip value")),
        kernel=lambda min_val, max_val: ("hardtanh", (min_val, max_val)),
        validate=lambda min_val, max_val: (
            None if min_val <= max_val else f"min_val ({min_val}) must be <= max_val ({max_val})"),
        from_output=True,
        examples=({"min_val": -2.0, "max_val": 0.5},),
    ),
    Activation(
        "threshold", "Threshold: replace values at or below a threshold.",
        formula="threshold(x) = x if x > threshold else value; NaN stays NaN",
        gradient="1 where x > threshold, else 0; at NaN the incoming gradient passes through, as in PyTorch.",
        params=(Param("threshold", REQUIRED, check=_not_nan, doc="values at or below it are replaced"),
                Param("value", REQUIRED, check=_not_nan, doc="the replacement")),
        kernel=lambda threshold, value: ("threshold", (threshold, value)),
        examples=({"threshold": 0.5, "value": -1.0}, {"threshold": 0.0, "value": 0.0}),
    ),
    Activation(
        "sigmoid", "Logistic sigmoid.",
        formula="sigmoid(x) = 1 / (1 + exp(-x))",
        gradient="y * (1 - y).",
        kernel=lambda: ("sigmoid", ()),
        from_output=True,
    ),
    Activation(
        "tanh", "Hyperbolic tangent.",
        formula="tanh(x)",
        gradient="1 - y**2.",
        kernel=lambda: ("tanh", ()),
        from_output=True,
    ),
    Activation(
        "logsigmoid", "Log of the logistic sigmoid.",
        formula="logsigmoid(x) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))",
        gradient="sigmoid(-x).",
        kernel=lambda: ("logsigmoid", ()),
    ),
    Activation(
        "softplus", "Softplus: a smooth ReLU.",
        formula="softplus(x) = log(1 + exp(beta * x)) / beta, and x where beta * x > threshold",
        gradient="sigmoid(beta * x), and 1 where beta * x > threshold.",
        params=(Param("beta", 1.0, check=_nonzero, doc="sharpness"),
                Param("threshold", 20.0, check=_not_nan, doc="above beta * x > threshold the function is linear")),
        kernel=lambda beta, threshold: ("softplus", (beta, threshold)),
        examples=({"beta": 2.0, "threshold": 10.0},),
    ),
    Activation(
        "softsign", "Softsign.",
        formula="softsign(x) = x / (1 + |x|); +-1 at +-inf",
        gradient="1 / (1 + |x|)**2.",
        kernel=lambda: ("softsign", ()),
        notes="At +-inf fastact returns the limits +-1, where PyTorch returns NaN.",
    ),
    Activation(
        "gelu", "Gaussian error linear unit.",
        formula='gelu(x) = x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2))); with approximate="tanh": '
                "0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))",
        gradient="the exact derivative of the chosen form: Phi(x) + x * phi(x) for the erf form.",
        params=(Param("approximate", "none", kind="choice", check=None, choices=("none", "tanh"),
                      doc='"none" for the exact erf form, "tanh" for the tanh approximation'),),
        kernel=lambda approximate: ("gelu_tanh" if approximate == "tanh" else "gelu", ()),
        notes="At +-inf fastact returns the limits (0 and inf), where PyTorch returns NaN.",
        examples=({"approximate": "tanh"},),
    ),
    Activation(
        "silu", "Sigmoid linear unit (swish).",
        formula="silu(x) = x * sigmoid(x)",
        gradient="s * (1 + x * (1 - s)), s = sigmoid(x).",
        kernel=lambda: ("silu", ()),
        notes="At +-inf fastact returns the limits (0 and inf), where PyTorch returns NaN.",
    ),
    Activation(
        "mish", "Mish.",
        formula="mish(x) = x * tanh(softplus(x))",
        gradient="t + x * sigmoid(x) * (1 - t**2), t = tanh(softplus(x)).",
        kernel=lambda: ("mish", ()),
        notes="At +-inf fastact returns the limits (0 and inf), where PyTorch returns NaN.",
    ),
    Activation(
        "hardsigmoid", "Hard sigmoid: a piecewise-linear sigmoid.",
        formula="hardsigmoid(x) = min(max(x / 6 + 1/2, 0), 1)",
        gradient="1/6 where -3 < x < 3, else 0. The 1/6 is rounded to float32 in every dtype, as in PyTorch.",
        kernel=lambda: ("hardsigmoid", ()),
    ),
    Activation(
        "hardswish", "Hard swish.",
        formula="hardswish(x) = x * hardsigmoid(x)",
        gradient="0 where x <= -3, 1 where x >= 3, x / 3 + 1/2 in between.",
        kernel=lambda: ("hardswish", ()),
        notes="At -inf fastact returns the limit 0, where PyTorch returns NaN.",
    ),
    Activation(
        "hardshrink", "Hard shrinkage.",
        formula="hardshrink(x) = x if |x| > lambd else 0; NaN stays NaN",
        gradient="1 where |x| > lambd, else 0.",
        params=(Param("lambd", 0.5, doc="the half-width of the zeroed band"),),
        kernel=lambda lambd: ("hardshrink", (lambd,)),
        examples=({"lambd": 1.5},),
    ),
    Activation(
        "softshrink", "Soft shrinkage.",
        formula="softshrink(x) = x - lambd if x > lambd; x + lambd if x < -lambd; else 0; NaN stays NaN",
        gradient="1 where |x| > lambd, else 0.",
        params=(Param("lambd", 0.5, check=_nonnegative, doc="the half-width of the zeroed band (>= 0)"),),
        kernel=lambda lambd: ("softshrink", (lambd,)),
        examples=({"lambd": 1.5},),
    ),
    Activation(
        "tanhshrink", "Tanh shrinkage.",
        formula="tanhshrink(x) = x - tanh(x)",
        gradient="tanh(x)**2.",
        kernel=lambda: ("tanhshrink", ()),
    ),
    Activation(
        "softmax", "Softmax along an axis.",
        formula="softmax(x)_i = exp(x_i - max(x)) / sum_j exp(x_j - max(x)), along `axis`",
        gradient="from the output y: y * (g - sum(g * y)) along `axis`.",
        params=(Param("axis", -1, kind="axis", check=None, doc="the axis the rows run along"),),
        kind="softmax",
        from_output=True,
    ),
    Activation(
        "log_softmax", "Log-softmax along an axis.",
        formula="log_softmax(x)_i = x_i - max(x) - log(sum_j exp(x_j - max(x))), along `axis`",
        gradient="from the output y: g - exp(y) * sum(g) along `axis`.",
        params=(Param("axis", -1, kind="axis", check=None, doc="the axis the rows run along"),),
        kind="softmax",
        from_output=True,
    ),
)

#: name -> Activation, in table order.
SPECS: dict[str, Activation] = {a.name: a for a in _ACTIVATION_LIST}

#: The activation names, in table order.
ACTIVATIONS: tuple[str, ...] = tuple(SPECS)


def is_real(value) -> bool:
    """A real number parameter: Python/NumPy int or float, not bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


# --- the parameter mapping as source code (for the embedding APIs) ------------------------------------

class _Expr:
    """A parameter that records the arithmetic done on it, so that an activation's ``kernel``
    mapping can be rendered as source code (``fastact.jit`` and the Cython API generate their
    per-activation wrappers from it instead of restating it)."""

    def __init__(self, text: str):
        self.text = text

    def _binary(self, other, op, reflected=False):
        a, b = self.text, _source(other)
        return _Expr(f"({b} {op} {a})" if reflected else f"({a} {op} {b})")

    def __add__(self, other): return self._binary(other, "+")
    def __radd__(self, other): return self._binary(other, "+", True)
    def __sub__(self, other): return self._binary(other, "-")
    def __rsub__(self, other): return self._binary(other, "-", True)
    def __mul__(self, other): return self._binary(other, "*")
    def __rmul__(self, other): return self._binary(other, "*", True)
    def __truediv__(self, other): return self._binary(other, "/")
    def __rtruediv__(self, other): return self._binary(other, "/", True)
    def __neg__(self): return _Expr(f"(-{self.text})")

    def __bool__(self):
        raise TypeError("a kernel mapping branched on a real parameter; fix its choices instead")


def _source(value) -> str:
    if isinstance(value, _Expr):
        return value.text
    if is_real(value):
        return repr(float(value))
    raise TypeError(f"cannot render {value!r} as source")


def kernel_source(spec: Activation, **fixed) -> tuple[str, tuple[str, ...]]:
    """``(family, kernel args as source expressions)`` of an elementwise (or rrelu) activation,
    with its real parameters left as their names: ``kernel_source(SPECS["celu"])`` is
    ``("elu", ("alpha", "1.0", "(1.0 / alpha)"))``.  Non-real parameters take their value from
    `fixed` (a choice such as gelu's ``approximate``) or else their default (rrelu's eval mode)."""
    if spec.kernel is None:
        raise ValueError(f"{spec.name} has no elementwise kernel mapping")
    values = []
    for p in spec.params:
        if p.name in fixed:
            values.append(fixed[p.name])
        elif p.kind == "real":
            values.append(_Expr(p.name))
        else:
            values.append(p.default)
    family, args = spec.kernel(*values)
    return family, tuple(_source(a) for a in args)
