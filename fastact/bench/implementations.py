"""The COMPARISONS map: for every benchmarked function, one callable per implementation.

Everything is enumerated from `fastact.spec`, so a new activation is benchmarked (by the report
and by the pytest-benchmark suite in ``benchmarks/``) without touching benchmark code.

Vocabulary:

* an **op** is one activation with one parameter set: its defaults (plus its first example when
  a parameter is required), and one more op per example that selects another kernel family
  (``gelu[approximate=tanh]``);
* a **function** is an op in one **direction**, named like the public function it times:
  ``gelu`` (forward into a preallocated ``out``), ``gelu_`` (in place), ``gelu_backward``
  (dL/dx from the forward input, into a preallocated ``out``);
* an **implementation** computes a function: ``numpy`` (the baseline, `fastact.reference`),
  every available fastact kernel backend (``numba``, ``cython``), ``auto`` (the dispatcher's
  choice), ``torch`` (when PyTorch is installed), ``ort`` (ONNX Runtime, when ``onnxruntime``
  and ``onnx`` are installed; forward only) and ``floor`` (the fastest plain memory pass with the
  same traffic, the speed limit of a memory-bound op).

``comparisons(...)[function][implementation]`` is an `Implementation`; ``make(bound)`` returns a
zero-argument callable on the arrays of a `Bound` workload.

How each implementation is called (also in ``Implementation.note``):

* numpy: ``reference.<act>(x, **params, out=out)``; in place ``out=x``; backward
  ``reference.<act>_backward(grad, x, **params, out=out)``. Never the "numpy" backend of the
  dispatcher, which is the same code plus dispatch.
* fastact backends: ``fastact.<act>(x, **params, out=out, backend=b)``, ``fastact.<act>_(x,
  backend=b)``, ``fastact.<act>_backward(grad, x, out=out, backend=b)``: the public path,
  dispatch included, as users call it.  For the ops in `BACKWARD_FROM_OUTPUT` (sigmoid, tanh,
  softmax, log_softmax), whose PyTorch backward takes the saved output, the backward gets that
  output instead: ``fastact.<act>_backward(grad, y, out=out, from_output=True, backend=b)``.
* torch, found from PyTorch's own operator schemas (``torch.ops.aten``):
  forward: the op's ``.out`` overload writing into a preallocated tensor (the activation's own op,
  else its kernel family's, e.g. selu -> ``elu.out`` with selu's constants, exactly what
  ``torch.selu`` runs); else a plain call that allocates its result (prelu).
  In place: the op's in-place form (``relu_``, ``elu_`` ...), else its ``.out`` overload with
  ``out=`` the input (elementwise ops only), else a plain call that allocates.
  Backward: ``torch.ops.aten.<op>_backward`` (``gelu_backward``, ``elu_backward``,
  ``hardswish_backward``, ...) or the family's, with its ``grad_input=``/``out=`` overload when
  there is one; where PyTorch's backward takes the forward output (sigmoid, tanh, softmax) or a
  saved buffer (logsigmoid) those are computed once, outside the timing, as autograd would have
  saved them. Ops with no backward operator (relu, prelu, softsign, tanhshrink) go through
  ``torch.autograd.grad`` on a graph built once (``retain_graph=True``), which allocates.
  Tensors share memory with the NumPy arrays (``torch.from_numpy``).
* ort: a one-node ONNX model run with io_binding into the preallocated ``out``, the same thread
  count (`fastact.bench.ort`); forward only (no backward operators; inputs are read-only), and
  only ops whose ONNX operator has PyTorch's definition and whose values pass a numerics check
  against the reference (others raise `ort.Unsupported`, a LookupError, with the reason).
* floor: the fastest plain pass with each direction's memory traffic (`fastact.bench.floor`):
  forward reads x and writes out, in place reads and writes x, backward reads grad and x and
  writes out; the fastest of a NumPy ufunc (``np.copyto(out, x)``, ``np.negative(x, out=x)``,
  ``np.multiply(grad, x, out=out)``; one thread), a Numba loop (``out[i] = x[i]`` ...; ``prange``
  on the thread count from `FLOOR_SPLIT` elements) and the same loop with streaming
  (non-temporal) stores, which skip the write-allocate read, picked by a short measurement. Each
  record's ``call`` says which. ``np.copyto(x, x)`` is no floor: NumPy skips a copy onto itself.
"""
from __future__ import annotations

import functools
import importlib.util
import inspect
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import fastact
from fastact import _backends, reference
from fastact.spec import FAMILIES, REQUIRED, SPECS, Activation

__all__ = [
    "DIRECTIONS", "SUFFIX", "SIZES", "SLOW_SIZES", "DTYPES", "FLOOR_SPLIT", "Op", "Bound", "Workload",
    "Implementation", "ops", "select_ops", "function_name", "fastact_backends", "torch_available",
    "implementation_names", "comparisons", "shape_for", "size_label", "ort_available", "COMPETITORS",
]

DIRECTIONS = ("forward", "inplace", "backward")
SUFFIX = {"forward": "", "inplace": "_", "backward": "_backward"}
#: Default sizes (elements); `SLOW_SIZES` are only run on request (pytest-benchmark: --run-slow).
SIZES = (10**3, 10**5, 10**7)
SLOW_SIZES = (10**8,)
DTYPES = ("float32", "float64")
#: The floor's Numba loop runs in parallel from this many elements on (with more than one thread).
FLOOR_SPLIT = 1 << 17
#: Channels of the prelu workload (shape (1, C, n / C), channels on axis 1) and row length of
#: the softmax workload (shape (n / ROW, ROW)), when they divide the size.
PRELU_CHANNELS = 8
SOFTMAX_ROW = 1000
#: Ops whose PyTorch backward operator takes the forward output (sigmoid_backward(grad, output),
#: tanh_backward, _softmax_backward_data, _log_softmax_backward_data), as autograd saves it: fastact's
#: backward gets the same output (from_output=True, computed outside the timing), so that both
#: sides do the same work.
BACKWARD_FROM_OUTPUT = frozenset({"sigmoid", "tanh", "softmax", "log_softmax"})
#: Where the spec's name is not PyTorch's operator name.
TORCH_ALIASES = {"logsigmoid": "log_sigmoid"}
#: Spec parameter name -> PyTorch argument name.
TORCH_PARAM_NAMES = {"axis": "dim"}
#: The other libraries fastact is compared with ("x rival" = the faster of them per function).
COMPETITORS = ("torch", "ort")
#: Directions ONNX Runtime is timed in (it has no backward and no in-place operators).
ORT_DIRECTIONS = ("forward",)


# --- ops and functions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One activation with one parameter set."""

    label: str                      # "gelu" or "gelu[approximate=tanh]"
    spec: Activation
    params: tuple                   # ((name, value), ...) for every parameter, in spec order

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def variant(self) -> str:
        return self.label[len(self.spec.name):]

    def function(self, direction: str) -> str:
        return f"{self.spec.name}{SUFFIX[direction]}{self.variant}"

    def param_dict(self) -> dict:
        return dict(self.params)


def _family(spec, params):
    if spec.kernel is None:
        return None
    return spec.kernel(*(params[p.name] for p in spec.params))[0]


def ops() -> list[Op]:
    """Every activation with its base parameters, plus one op per example that changes the kernel
    family. Base parameters: the defaults, plus the first example when a parameter is required."""
    result = []
    for spec in SPECS.values():
        base = {p.name: p.default for p in spec.params}
        if any(p.required for p in spec.params) and spec.examples:
            base.update(spec.examples[0])
        result.append(Op(spec.name, spec, tuple(base.items())))
        seen = {_family(spec, base)}
        for example in spec.examples:
            params = {**base, **example}
            family = _family(spec, params)
            if family in seen or any(v is REQUIRED for v in params.values()):
                continue
            seen.add(family)
            tag = ",".join(f"{k}={v}" for k, v in example.items() if base.get(k) != v)
            result.append(Op(f"{spec.name}[{tag}]", spec, tuple(params.items())))
    return result


def select_ops(names=None) -> list[Op]:
    """The ops for activation names (all their variants) or op labels; ValueError for unknown names."""
    every = ops()
    if not names:
        return every
    labels = {op.label for op in every}
    unknown = [n for n in names if n not in SPECS and n not in labels]
    if unknown:
        raise ValueError(f"unknown op(s) {', '.join(unknown)}; valid: {', '.join(SPECS)}"
                         f" (or a variant: {', '.join(sorted(labels - set(SPECS)))})")
    wanted = set(names)
    return [op for op in every if op.label in wanted or op.name in wanted]


def function_name(op: Op, direction: str) -> str:
    return op.function(direction)


def size_label(n: int) -> str:
    """10**7 -> '1e7'; other sizes as digits."""
    exponent = len(str(n)) - 1
    return f"1e{exponent}" if n == 10**exponent else str(n)


def shape_for(spec: Activation, size: int) -> tuple[int, ...]:
    """The benchmark array shape: 1-D for elementwise ops, (1, C, n/C) for prelu (channels on
    axis 1, as a convolution's output), (n/ROW, ROW) rows for softmax."""
    if spec.kind == "prelu":
        channels = PRELU_CHANNELS if size % PRELU_CHANNELS == 0 else 1
        return (1, channels, size // channels)
    if spec.kind == "softmax":
        row = SOFTMAX_ROW if size % SOFTMAX_ROW == 0 else size
        return (size // row, row)
    return (size,)


# --- workloads ------------------------------------------------------------------------------------

def _aligned(size: int, dtype, alignment: int = 64) -> np.ndarray:
    """An empty 1-D array whose data starts on a 64-byte boundary (a cache line, an AVX-512
    vector), as PyTorch's allocator gives; NumPy's may give 16."""
    raw = np.empty(size * dtype.itemsize + alignment, dtype=np.uint8)
    offset = -raw.ctypes.data % alignment
    return raw[offset:offset + size * dtype.itemsize].view(dtype)


def restore(dst: np.ndarray, src: np.ndarray, threads: int) -> None:
    """Copy src into dst (1-D, same size) before an in-place call, on `threads` threads from
    FLOOR_SPLIT elements on, each writing the block its thread of the next kernel reads.
    Measured: after a one-thread NumPy copy, the parallel in-place call that follows ran 1.3-2.8x
    slower (sigmoid_ at 10^6 float32: 450 us instead of 184; the lines sit dirty in the other
    core's cache), which no real in-place call after a multithreaded producer pays."""
    if threads > 1 and dst.size >= FLOOR_SPLIT:
        from . import floor
        floor.with_threads(floor.copy_parallel, threads)(src, dst)
    else:
        np.copyto(dst, src)


class Workload:
    """The arrays of one (size, dtype), shared by every op and implementation so that all of them
    see the same data: x = 3 * N(0, 1) (both sides of every kink), grad = N(0, 1), out.

    In-place calls overwrite x; `reset` copies the pristine input x0 back (the timer calls it
    before every in-place call). Four arrays are alive: 4 x 80 MB at 10^7 float64. They start
    on 64-byte boundaries, as PyTorch's tensors do."""

    def __init__(self, size: int, dtype, seed: int = 0):
        dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)
        self.size, self.dtype = size, dtype
        self.x0 = _aligned(size, dtype)
        rng.standard_normal(out=self.x0, dtype=dtype)
        self.x0 *= 3
        self.x = _aligned(size, dtype)
        np.copyto(self.x, self.x0)
        self.grad = _aligned(size, dtype)
        rng.standard_normal(out=self.grad, dtype=dtype)
        self.out = _aligned(size, dtype)
        self.out.fill(0)                    # touch the pages now, not in the first timed call

    #: Threads of the implementations being timed (the runner sets it): `reset` writes x with
    #: as many, see `restore`.
    threads = 1

    def reset(self) -> None:
        restore(self.x, self.x0, self.threads)

    def bind(self, op: Op) -> "Bound":
        return Bound(self, op)


class Bound:
    """A workload viewed for one op: arrays in the op's shape, parameters made concrete (prelu's
    weight becomes one slope per channel in x's dtype), torch tensors on the same memory."""

    def __init__(self, workload: Workload, op: Op):
        self.workload, self.op = workload, op
        shape = shape_for(op.spec, workload.size)
        self.shape = shape
        self.x = workload.x.reshape(shape)
        self.grad = workload.grad.reshape(shape)
        self.out = workload.out.reshape(shape)
        self.reset = workload.reset
        params = op.param_dict()
        for p in op.spec.params:
            if p.kind == "weight":
                channels = shape[params.get("axis", 1)] if len(shape) > 1 else 1
                params[p.name] = np.full(channels, 0.25, dtype=workload.dtype)
        self.params = params
        self._torch = None

    def forward_params(self) -> dict:
        return dict(self.params)

    def backward_params(self) -> dict:
        return {p.name: self.params[p.name] for p in self.op.spec.params if not p.forward_only}

    @property
    def torch(self):
        """(x, grad, out) as torch tensors on the same memory."""
        if self._torch is None:
            import torch
            self._torch = tuple(torch.from_numpy(a) for a in (self.x, self.grad, self.out))
        return self._torch


# --- implementations ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Implementation:
    """How one implementation computes one function: ``make(bound)`` -> a zero-argument callable."""

    name: str
    kind: str                       # "baseline", "fastact", "torch", "ort" or "floor"
    make: Callable[[Bound], Callable[[], object]] = field(repr=False)
    note: str = ""


def fastact_backends() -> tuple[str, ...]:
    """The fastact kernel backends available here (enumerated at run time: cython appears once built)."""
    return tuple(b for b in _backends.available_backends() if b != "numpy")


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def ort_available() -> bool:
    from . import ort
    return ort.available()


def implementation_names(torch: bool | None = None, ort: bool | None = None) -> tuple[str, ...]:
    """The implementations compared here, in table order."""
    if torch is None:
        torch = torch_available()
    if ort is None:
        ort = ort_available()
    return (("numpy",) + fastact_backends() + ("auto",) + (("torch",) if torch else ())
            + (("ort",) if ort else ()) + ("floor",))


def _keywords(function, params: dict) -> dict:
    """The parameters `function` takes, by name."""
    accepted = inspect.signature(function).parameters
    return {k: v for k, v in params.items() if k in accepted}


def _numpy(op: Op, direction: str) -> Implementation:
    name = op.name
    if direction == "backward":
        ref = getattr(reference, f"{name}_backward")

        def make(b):
            return functools.partial(ref, b.grad, b.x, **_keywords(ref, b.backward_params()), out=b.out)
        note = f"reference.{name}_backward(grad, x, out=out)"
    else:
        ref = getattr(reference, name)
        inplace = direction == "inplace"

        def make(b):
            return functools.partial(ref, b.x, **_keywords(ref, b.forward_params()),
                                     out=b.x if inplace else b.out)
        note = f"reference.{name}(x, out={'x' if inplace else 'out'})"
    return Implementation("numpy", "baseline", make, note)


def _fastact(op: Op, direction: str, backend: str) -> Implementation:
    public = getattr(fastact, f"{op.name}{SUFFIX[direction]}")
    if direction == "forward":
        def make(b):
            return functools.partial(public, b.x, **b.forward_params(), out=b.out, backend=backend)
        note = f"fastact.{op.name}(x, out=out, backend={backend!r})"
    elif direction == "inplace":
        def make(b):
            return functools.partial(public, b.x, **b.forward_params(), backend=backend)
        note = f"fastact.{op.name}_(x, backend={backend!r})"
    elif op.name in BACKWARD_FROM_OUTPUT:
        def make(b):
            y = getattr(fastact, op.name)(b.x, **b.forward_params(), backend="numpy")
            return functools.partial(public, b.grad, y, **b.backward_params(), out=b.out, from_output=True,
                                     backend=backend)
        note = f"fastact.{op.name}_backward(grad, y, out=out, from_output=True, backend={backend!r})"
    else:
        def make(b):
            return functools.partial(public, b.grad, b.x, **b.backward_params(), out=b.out, backend=backend)
        note = f"fastact.{op.name}_backward(grad, x, out=out, backend={backend!r})"
    return Implementation(backend, "fastact", make, note)


def _fastest(candidates: dict, reset=None):
    """The fastest of `candidates` (note -> callable) by a short measurement, its note attached."""
    from .timing import measure_group
    if len(candidates) == 1:
        (note, fn), = candidates.items()
    else:
        timings = measure_group(candidates, reset=reset, repeats=3, target=0.001, budget=0.03)
        note = min(timings, key=lambda k: timings[k].median)
        fn = candidates[note]
    fn = functools.partial(fn)
    fn.note = note
    return fn


_FLOOR_PASSES = {
    # direction: (what, NumPy pass, Numba pass name, arrays of a Bound)
    "forward": ("read x, write out", lambda x, out: np.copyto(out, x), "copy", lambda b: (b.x, b.out)),
    "inplace": ("read and write x", lambda x: np.negative(x, out=x), "negate", lambda b: (b.x,)),
    "backward": ("read grad and x, write out", lambda g, x, out: np.multiply(g, x, out=out), "multiply",
                 lambda b: (b.grad, b.x, b.out)),
}
_NUMPY_PASS = {"forward": "np.copyto(out, x)", "inplace": "np.negative(x, out=x)",
               "backward": "np.multiply(grad, x, out=out)"}
_NUMBA_PASS = {"forward": "out[i] = x[i]", "inplace": "x[i] = -x[i]", "backward": "out[i] = grad[i] * x[i]"}


def _floor(direction: str, threads: int) -> Implementation:
    what, numpy_pass, numba_name, arrays_of = _FLOOR_PASSES[direction]

    def make(b):
        from . import floor
        arrays = tuple(a.reshape(-1) for a in arrays_of(b))
        size = arrays[0].size
        parallel = threads > 1 and size >= FLOOR_SPLIT
        where = f"prange on {threads} threads" if parallel else "one thread"
        candidates = {f"{_NUMPY_PASS[direction]} ({what}; NumPy, one thread)": functools.partial(numpy_pass, *arrays)}
        for prefix, label in (("", "Numba loop"), ("stream_", "Numba loop with streaming stores")):
            kernel = getattr(floor, prefix + numba_name + ("_parallel" if parallel else ""))
            if parallel:
                kernel = floor.with_threads(kernel, threads)
            candidates[f"{label} {_NUMBA_PASS[direction]} ({what}; {where})"] = functools.partial(kernel, *arrays)
        reset = None
        if direction == "inplace":
            reset = functools.partial(restore, arrays[0], arrays[0].copy(), threads)
        for fn in candidates.values():          # compile (or load from the cache) before timing
            fn()
        chosen = _fastest(candidates, reset)
        if reset is not None:
            reset()
        return chosen
    note = (f"the fastest of {_NUMPY_PASS[direction]} and Numba loops {_NUMBA_PASS[direction]} with ordinary and "
            f"with streaming (non-temporal) stores ({what})"
            + (f", parallel on {threads} threads from {FLOOR_SPLIT:,} elements" if threads > 1 else ""))
    return Implementation("floor", "floor", make, note)


# --- PyTorch, bound through its operator schemas ---------------------------------------------------

def _aten(name):
    import torch
    try:
        return getattr(torch.ops.aten, name)
    except (AttributeError, RuntimeError):
        return None


def _overloads(name):
    """[(qualified name, OpOverload)] of aten::name, default overload first."""
    packet = _aten(name)
    if packet is None:
        return []
    found = []
    for overload in packet.overloads():
        try:
            found.append((f"torch.ops.aten.{name}" + ("" if overload == "default" else f".{overload}"),
                          getattr(packet, overload)))
        except (AttributeError, RuntimeError):
            pass
    found.sort(key=lambda item: "." in item[0])
    return found


def _bind_schema(overload, values: dict, required: set):
    """Keyword arguments for `overload` from `values`, or None when an argument without default is
    missing, a value in `required` is not taken, or an argument is not a tensor/scalar we give."""
    kwargs, outs = {}, []
    for arg in overload._schema.arguments:
        if arg.is_out:
            outs.append(arg.name)
        elif arg.name in values:
            kwargs[arg.name] = values[arg.name]
        elif not arg.has_default_value():
            return None, None
    if not required <= set(kwargs):
        return None, None
    return kwargs, outs


def _torch_params(op: Op, b: Bound):
    """(PyTorch name -> value, names whose value is not the spec default). Our defaults are
    PyTorch's by design, so only parameters away from them must reach the PyTorch call."""
    import torch
    params, changed = {}, set()
    for p in op.spec.params:
        value = b.params[p.name]
        if value is None:            # rng, noise: optional, PyTorch's defaults
            continue
        name = TORCH_PARAM_NAMES.get(p.name, p.name)
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        params[name] = value
        if p.required or value != p.default:
            changed.add(name)
    return params, changed


def _torch_candidates(op: Op, b: Bound):
    """(aten name, values, names that must be consumed): the activation's own op under its names,
    then its kernel family's op with the family's arguments (selu -> elu with selu's constants)."""
    spec = op.spec
    params, changed = _torch_params(op, b)
    names = [spec.name] + ([TORCH_ALIASES[spec.name]] if spec.name in TORCH_ALIASES else [])
    candidates = [(n, params, changed) for n in names]
    candidates.append((f"_{spec.name}", {**params, "half_to_float": False}, changed))
    if spec.kernel is not None:
        family, args = spec.kernel(*(b.params[p.name] for p in spec.params))
        family_values = dict(zip(FAMILIES[family].args, args))
        candidates.append((family, family_values, set(family_values)))
    return candidates


def _describe(kwargs: dict, b: Bound, saved: dict | None = None) -> str:
    """The arguments of a PyTorch call for people: tensors by role (x, grad, out, y = the saved
    forward output, ...), scalars by value."""
    names = {id(t): n for n, t in zip(("x", "grad", "out"), b.torch)}
    for name, value in (saved or {}).items():
        if hasattr(value, "shape"):
            names.setdefault(id(value), {"output": "y"}.get(name, name))
    parts = []
    for key, value in kwargs.items():
        if id(value) in names:
            text = names[id(value)]
        elif hasattr(value, "shape"):
            text = "weight" if value.ndim == 1 else "tensor"
        elif isinstance(value, float):
            text = f"{value:.6g}"
        else:
            text = str(value)
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def _torch_forward(op: Op, b: Bound, inplace: bool):
    """(callable, note) for the torch forward or in-place form; None when torch has no such op."""
    x, _, out = b.torch
    candidates = _torch_candidates(op, b)
    elementwise = op.spec.kind in ("elementwise", "rrelu")
    if inplace:
        for name, values, required in candidates:
            for qualified, overload in _overloads(f"{name}_"):
                kwargs, outs = _bind_schema(overload, {"self": x, **values}, required)
                if kwargs is not None and not outs:
                    return functools.partial(overload, **kwargs), f"{qualified}({_describe(kwargs, b)}) (in place)"
    target = x if inplace else out
    if elementwise or not inplace:
        for name, values, required in candidates:
            for qualified, overload in _overloads(name):
                kwargs, outs = _bind_schema(overload, {"self": x, **values}, required)
                if kwargs is not None and len(outs) == 1:
                    kwargs[outs[0]] = target
                    return functools.partial(overload, **kwargs), f"{qualified}({_describe(kwargs, b)})"
    for name, values, required in candidates:
        for qualified, overload in _overloads(name):
            kwargs, outs = _bind_schema(overload, {"self": x, **values}, required)
            if kwargs is not None and not outs:
                what = "no in-place or out= form" if inplace else "no out= form"
                return functools.partial(overload, **kwargs), f"{qualified}({_describe(kwargs, b)}) (allocates: {what})"
    found = _torch_functional(op, b, x)
    if found is not None:
        return found[0], f"torch.nn.functional.{op.name}(x) (allocates: a composite of several operators)"
    return None


def _torch_functional(op: Op, b: Bound, x):
    """(callable, y): torch.nn.functional.<op> bound to x, and its result; None if it has none."""
    import torch.nn.functional as F
    function = getattr(F, op.name, None)
    if function is None:
        return None
    params, changed = _torch_params(op, b)
    params = {k: v for k, v in params.items()
              if not any(p.forward_only and TORCH_PARAM_NAMES.get(p.name, p.name) == k for p in op.spec.params)}
    for keywords in (params, {k: v for k, v in params.items() if k in changed}):
        try:
            return functools.partial(function, x, **keywords), function(x, **keywords)
        except TypeError:
            continue
    return None


def _torch_saved(op: Op, b: Bound):
    """What a backward operator may ask for besides grad and x: the forward output and buffer."""
    import torch
    forward = _torch_forward(op, b, inplace=False)
    saved = {}
    if forward is not None:
        result = forward[0]()
        saved["output"] = result.detach().clone()
    for name, values, required in _torch_candidates(op, b):
        for _, overload in _overloads(f"{name}_forward"):
            kwargs, outs = _bind_schema(overload, {"self": b.torch[0], **values}, required)
            if kwargs is not None and not outs:
                results = overload(**kwargs)
                if isinstance(results, tuple) and len(results) == 2:
                    saved["buffer"] = results[1]
                break
    saved["input_dtype"] = b.torch[0].dtype
    del torch
    return saved


def _torch_backward(op: Op, b: Bound):
    """(callable, note): aten's <op>_backward (into a preallocated tensor when it has such an
    overload), else autograd on a graph built once."""
    x, grad, out = b.torch
    saved = None
    for name, values, required in _torch_candidates(op, b):
        for backward in (f"{name}_backward", f"{name}_backward_data"):
            found = _overloads(backward)
            if not found:
                continue
            if saved is None:
                saved = _torch_saved(op, b)
            given = {"grad_output": grad, "grad_out": grad, "grad": grad, "self": x,
                     "self_or_result": x, "is_result": False, "self_is_result": False, **saved, **values}
            # A backward may ignore forward-only parameters (threshold's value): no consumption check.
            bound = [(q, o, *_bind_schema(o, given, set())) for q, o in found]
            for qualified, overload, kwargs, outs in sorted(bound, key=lambda t: not t[3]):
                if kwargs is None or len(outs) > 1:
                    continue
                if outs:
                    kwargs[outs[0]] = out
                    return functools.partial(overload, **kwargs), f"{qualified}({_describe(kwargs, b, saved)})"
                return (functools.partial(overload, **kwargs),
                        f"{qualified}({_describe(kwargs, b, saved)}) (allocates: no out= form)")
    return _torch_autograd(op, b)


def _torch_autograd(op: Op, b: Bound):
    import torch
    x, grad, _ = b.torch
    leaf = x.detach().clone().requires_grad_(True)
    found = _torch_functional(op, b, leaf)
    if found is None:
        return None
    y = found[1]

    def run():
        return torch.autograd.grad(y, leaf, grad, retain_graph=True)[0]
    return run, f"torch.autograd.grad(F.{op.name}(x), x, grad) (allocates; no backward operator)"


def _torch(op: Op, direction: str) -> Implementation:
    def make(b):
        found = (_torch_backward(op, b) if direction == "backward"
                 else _torch_forward(op, b, inplace=direction == "inplace"))
        if found is None:
            raise LookupError(f"PyTorch has no operator for {op.function(direction)}")
        fn, note = found
        fn.note = note              # partials and closures take attributes
        return fn
    return Implementation("torch", "torch", make, "")


def torch_note(op: Op, direction: str, bound: Bound) -> str:
    """How the torch implementation of this function is called (see the module docstring)."""
    found = (_torch_backward(op, bound) if direction == "backward"
             else _torch_forward(op, bound, inplace=direction == "inplace"))
    return found[1] if found else "no PyTorch operator"


# --- ONNX Runtime ---------------------------------------------------------------------------------

def _ort(op: Op, threads: int) -> Implementation:
    def make(b):
        from . import ort
        ort.check(op, b.workload.dtype)           # Unsupported (a LookupError) says why not
        runner = ort.ort_op(op, b.workload.dtype, threads, b.shape, b.params)
        fn = runner.bind(b.x, b.out, b.params.get("weight"))
        fn.note = runner.describe()
        return fn
    return Implementation("ort", "ort", make, "a one-node ONNX model, io_binding into out")


# --- the map --------------------------------------------------------------------------------------

def comparisons(op_list=None, directions=DIRECTIONS, implementations=None, threads: int | None = None):
    """``{function: {implementation: Implementation}}`` for the ops (default: all) and directions.

    implementations: names among `implementation_names()` (default: all of them); the floor pass
    and ONNX Runtime run on `threads` (default: fastact's thread count). ONNX Runtime appears in
    the forward direction only (`ORT_DIRECTIONS`)."""
    names = implementation_names() if implementations is None else tuple(implementations)
    threads = fastact.get_num_threads() if threads is None else threads
    result = {}
    for op in (ops() if op_list is None else op_list):
        for direction in directions:
            row = {}
            for name in names:
                if name == "numpy":
                    row[name] = _numpy(op, direction)
                elif name == "torch":
                    row[name] = _torch(op, direction)
                elif name == "ort":
                    if direction in ORT_DIRECTIONS:
                        row[name] = _ort(op, threads)
                elif name == "floor":
                    row[name] = _floor(direction, threads)
                else:
                    row[name] = _fastact(op, direction, name)
            result[op.function(direction)] = row
    return result


def result_array(returned) -> np.ndarray:
    """What an implementation's callable returned, as a NumPy array (the first of a tuple:
    prelu's grad_x), for checking that every implementation computes the same thing."""
    if isinstance(returned, tuple):
        returned = returned[0]
    if hasattr(returned, "detach"):
        returned = returned.detach().numpy()
    return np.asarray(returned)
