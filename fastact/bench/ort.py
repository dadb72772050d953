"""ONNX Runtime as a competitor: a one-node ONNX model per op, run with io_binding.

ONNX Runtime's CPU kernels (MLAS) are the fastest widely installed activation kernels besides
PyTorch's, so the report and the pytest-benchmark suite time them too when ``onnxruntime`` and
``onnx`` are installed (``pip install "fastact[bench]"``); without them the ``ort``
implementation is simply absent.

How an op runs (`OrtOp`):

* **model**: one node from the input ``x`` to the output ``y`` in the default ONNX domain,
  ``opset_import`` = the op's opset (`ORT_OPS`), input and output with symbolic dimensions (one
  session serves every size). Parameters are node attributes (float32, as ONNX stores them),
  Clip's bounds are initializers in x's dtype; PRelu's slopes a second input (shape (C, 1, ...),
  bound to the workload's per-channel weights).
* **session**: ``SessionOptions.intra_op_num_threads`` = the benchmark's thread count (the same
  count fastact and PyTorch get; ONNX Runtime counts the calling thread), ``inter_op_num_threads
  = 1``, sequential execution, graph optimizations at their default (``ORT_ENABLE_ALL``), CPU
  execution provider. One session per (op, dtype, threads), cached.
* **call**: input and output are `OrtValue`s on the workload's own arrays (``x`` and the
  preallocated ``out``, no copy), bound once with ``io_binding``; the timed call is
  ``session.run_with_iobinding(binding)``, which writes into ``out``.
* **forward only**: ONNX Runtime has no backward (training) operators in its inference package,
  and its inputs are read-only, so there is no in-place form either.

Which ops (`ORT_OPS`), and which not (`ORT_UNMAPPED`): only ONNX operators whose definition is
PyTorch's -- HardSigmoid with alpha=1/6, beta=1/2 (ONNX's default alpha is 0.2), Shrink with
bias=0 (hardshrink) or bias=lambd (softshrink), Clip(0, 6) for relu6, LeakyRelu with PyTorch's
eval-mode slope for rrelu. ThresholdedRelu is ``x > alpha ? x : 0`` (PyTorch's threshold writes
``value``), so threshold is not mapped; logsigmoid and tanhshrink have no ONNX operator.

**Numerics**: before an op is timed, its ONNX Runtime result on a fixed input (a grid over
[-20, 20], values near 0 and the kinks) is compared once per (op, dtype) with fastact's NumPy
reference (`check`), the reference given the parameters as ONNX stores them (float32 attributes:
a float64 LeakyRelu's slope 0.01 is 0.0099999998); an op that disagrees beyond the dtype's
tolerance (`TOLERANCE`: a float64 kernel that rounds through float32 fails it) is not timed, and
the report says so. A dtype ONNX Runtime has no kernel for (most ops in float64) is reported
the same way.
"""
from __future__ import annotations

import functools
import importlib.util
import inspect

import numpy as np

__all__ = ["available", "missing", "ORT_OPS", "ORT_UNMAPPED", "TOLERANCE", "OrtOp", "ort_op", "check",
           "versions", "Unsupported"]

MISSING = ('onnxruntime is not installed; install it (and onnx) to compare with ONNX Runtime: '
           'pip install "fastact[bench]"')

#: op label -> (ONNX operator, opset, attributes or a function of the op's parameters).
#: Attributes named "min"/"max" (Clip) and "slope" (PRelu) become inputs (initializers).
ORT_OPS = {
    "relu": ("Relu", 14, {}),
    "leaky_relu": ("LeakyRelu", 16, lambda p: {"alpha": p["negative_slope"]}),
    "prelu": ("PRelu", 16, {}),
    "rrelu": ("LeakyRelu", 16, lambda p: {"alpha": (p["lower"] + p["upper"]) / 2}),
    "elu": ("Elu", 22, lambda p: {"alpha": p["alpha"]}),
    "selu": ("Selu", 22, lambda p: {"alpha": 1.6732632423543772848170429916717,
                                    "gamma": 1.0507009873554804934193349852946}),
    "celu": ("Celu", 12, lambda p: {"alpha": p["alpha"]}),
    "relu6": ("Clip", 13, {"min": 0.0, "max": 6.0}),
    "hardtanh": ("Clip", 13, lambda p: {"min": p["min_val"], "max": p["max_val"]}),
    "sigmoid": ("Sigmoid", 13, {}),
    "tanh": ("Tanh", 13, {}),
    "softplus": ("Softplus", 22, {}),          # only beta=1 and PyTorch's threshold (checked below)
    "softsign": ("Softsign", 22, {}),
    "gelu": ("Gelu", 20, {"approximate": "none"}),
    "gelu[approximate=tanh]": ("Gelu", 20, {"approximate": "tanh"}),
    "silu": ("Swish", 24, {"alpha": 1.0}),
    "mish": ("Mish", 22, {}),
    "hardsigmoid": ("HardSigmoid", 22, {"alpha": 1.0 / 6.0, "beta": 0.5}),
    "hardswish": ("HardSwish", 22, {}),
    "hardshrink": ("Shrink", 9, lambda p: {"lambd": p["lambd"], "bias": 0.0}),
    "softshrink": ("Shrink", 9, lambda p: {"lambd": p["lambd"], "bias": p["lambd"]}),
    "softmax": ("Softmax", 13, lambda p: {"axis": p["axis"]}),
    "log_softmax": ("LogSoftmax", 13, lambda p: {"axis": p["axis"]}),
}

#: Activations with no ONNX operator of the same definition, and why.
ORT_UNMAPPED = {
    "threshold": "ONNX's ThresholdedRelu is x > alpha ? x : 0; PyTorch's threshold writes `value` (not 0) "
                 "at and below the threshold",
    "logsigmoid": "no ONNX operator (it would be a two-node graph)",
    "tanhshrink": "no ONNX operator (it would be a two-node graph)",
}

#: dtype -> (rtol, atol) of the numerics check: a few float32 (float64) roundings plus an absolute
#: term for values that cancel near 0.
TOLERANCE = {"float32": (2e-5, 1e-6), "float64": (1e-11, 1e-13)}


class Unsupported(LookupError):
    """ONNX Runtime cannot run this op and dtype (no operator, no kernel, or wrong numerics)."""


def available() -> bool:
    return (importlib.util.find_spec("onnxruntime") is not None
            and importlib.util.find_spec("onnx") is not None)


def missing() -> str:
    return MISSING


def versions() -> dict:
    from importlib import metadata
    result = {}
    for name in ("onnxruntime", "onnx"):
        try:
            result[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            result[name] = None
    return result


def _mapping(op):
    """(operator, opset, attributes) for an `implementations.Op`; Unsupported when none."""
    if op.name in ORT_UNMAPPED:
        raise Unsupported(f"ONNX Runtime: not compared: {ORT_UNMAPPED[op.name]}")
    # a variant label (gelu[approximate=tanh]) has its own entry; other variants take their
    # parameters from the op
    entry = ORT_OPS.get(op.label) or (ORT_OPS.get(op.name) if op.name != "gelu" else None)
    if entry is None:
        raise Unsupported(f"ONNX Runtime: no ONNX operator mapped for {op.label}")
    operator, opset, attributes = entry
    params = op.param_dict()
    if op.name == "softplus" and (params.get("beta") != 1.0 or params.get("threshold") != 20.0):
        raise Unsupported("ONNX Runtime: Softplus has no beta/threshold")
    if op.name == "rrelu" and params.get("training"):
        raise Unsupported("ONNX Runtime: rrelu in training mode draws random slopes")
    if callable(attributes):
        attributes = attributes(params)
    return operator, opset, dict(attributes)


def _model_bytes(operator, opset, attributes, dtype, ndim, slope_shape=None):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    element = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}[dtype.name]
    dims = [f"d{i}" for i in range(ndim)]
    inputs, initializers = ["x"], []
    if operator == "Clip":
        for name in ("min", "max"):
            initializers.append(numpy_helper.from_array(np.array(attributes.pop(name), dtype=dtype), name))
            inputs.append(name)
    graph_inputs = [helper.make_tensor_value_info("x", element, dims)]
    if operator == "PRelu":                     # the slopes are an input: the workload's own weights
        graph_inputs.append(helper.make_tensor_value_info("slope", element, list(slope_shape)))
        inputs.append("slope")
    node = helper.make_node(operator, inputs, ["y"], **attributes)
    graph = helper.make_graph([node], f"fastact_{operator}", graph_inputs,
                              [helper.make_tensor_value_info("y", element, dims)], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="fastact.bench")
    model.ir_version = min(model.ir_version, 10)
    onnx.checker.check_model(model)
    return model.SerializeToString()


@functools.lru_cache(maxsize=None)
def _session(operator, opset, attribute_items, dtype_name, ndim, threads, slope_shape):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3              # no warnings on stderr
    model = _model_bytes(operator, opset, dict(attribute_items), np.dtype(dtype_name), ndim, slope_shape)
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:                    # NOT_IMPLEMENTED (no double kernel), invalid type...
        message = str(exc).split(" : ")[-1].strip()
        raise Unsupported(f"ONNX Runtime has no {dtype_name} kernel for {operator}: {message}") from None


class OrtOp:
    """One op in one dtype on one thread count: a session, and io-bound calls on given arrays."""

    def __init__(self, op, dtype, threads: int, ndim: int, slope_shape=None):
        self.op, self.dtype, self.threads = op, np.dtype(dtype), threads
        self.operator, self.opset, attributes = _mapping(op)
        self.attributes = attributes
        self.slope_shape = slope_shape
        self.session = _session(self.operator, self.opset, tuple(sorted(attributes.items())),
                                self.dtype.name, ndim, threads, slope_shape)

    def describe(self) -> str:
        attributes = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in self.attributes.items())
        return (f"onnxruntime {self.operator}({attributes}) opset {self.opset}, io_binding into out, "
                f"intra_op_num_threads={self.threads}")

    def bind(self, x: np.ndarray, out: np.ndarray, slope: np.ndarray | None = None):
        """A zero-argument callable that runs the session on x into out (bound once) and returns out."""
        import onnxruntime as ort
        binding = self.session.io_binding()
        values = [ort.OrtValue.ortvalue_from_numpy(x), ort.OrtValue.ortvalue_from_numpy(out)]
        binding.bind_ortvalue_input("x", values[0])
        if self.operator == "PRelu":
            slope = np.ascontiguousarray(np.asarray(slope, dtype=self.dtype).reshape(self.slope_shape))
            values.append(ort.OrtValue.ortvalue_from_numpy(slope))
            binding.bind_ortvalue_input("slope", values[2])
        binding.bind_ortvalue_output("y", values[1])
        run = self.session.run_with_iobinding

        def call():
            run(binding)
            return out
        call.keep = (values, slope)             # the OrtValues wrap these arrays' memory
        return call


def prelu_slope_shape(shape, axis=1):
    """PRelu's slope shape for x of `shape`, channels on `axis`: (C, 1, ..., 1) broadcasting from
    the channel axis to the last."""
    axis = axis % len(shape)
    return (shape[axis],) + (1,) * (len(shape) - axis - 1)


def ort_op(op, dtype, threads, shape, params=None) -> OrtOp:
    """The `OrtOp` for an op on arrays of `shape`; Unsupported when ONNX Runtime cannot run it."""
    slope_shape = None
    if op.name == "prelu":
        slope_shape = prelu_slope_shape(shape, (params or op.param_dict()).get("axis", 1))
    return OrtOp(op, dtype, threads, len(shape), slope_shape)


def _check_input(dtype):
    """4000 points: a grid over [-20, 20], then values near 0 and the kinks (+-0.5, +-1, +-3, 6)."""
    special = [0.0, -0.0, 1e-30, -1e-30, 1e-6, -1e-6, 0.5, -0.5, 0.50001, 1.0, -1.0, 3.0, -3.0, 6.0, 5.999]
    special += list(-3 + np.arange(-4, 5) * 1e-3) + list(3 + np.arange(-4, 5) * 1e-3)
    grid = np.linspace(-20, 20, 4000 - len(special))
    return np.concatenate([grid, special]).astype(dtype)


_CHECKED: dict = {}


def _checked(op, dtype_name: str) -> str | None:
    """None when ONNX Runtime's values match the reference for this op and dtype, else why not
    (memoised per op label and dtype)."""
    key = (op.label, dtype_name)
    if key not in _CHECKED:
        try:
            _CHECKED[key] = _compare(op, dtype_name)
        except Unsupported as exc:
            _CHECKED[key] = str(exc)
    return _CHECKED[key]


def _compare(op, dtype_name: str) -> str | None:
    from fastact import reference
    from .implementations import shape_for
    dtype = np.dtype(dtype_name)
    x = _check_input(dtype)
    shape = shape_for(op.spec, x.size)             # (1, 8, 500) for prelu, (4, 1000) for softmax
    x = x.reshape(shape)
    params = op.param_dict()
    slope = None
    if op.name == "prelu":
        channels = shape[params.get("axis", 1)]
        slope = np.linspace(-0.5, 0.5, channels).astype(dtype)
        params["weight"] = slope
    runner = ort_op(op, dtype, 1, shape, params)
    out = np.empty_like(x)
    got = runner.bind(np.ascontiguousarray(x), out, slope)()
    keywords = {k: v for k, v in params.items() if k not in ("rng", "noise")}
    # ONNX attributes are float32: the reference gets the parameters ONNX Runtime got
    keywords = {k: (float(np.float32(v)) if isinstance(v, float) else v) for k, v in keywords.items()}
    function = getattr(reference, op.name)
    accepted = inspect.signature(function).parameters
    want = function(x.astype(np.float64), **{k: (v.astype(np.float64) if isinstance(v, np.ndarray) else v)
                                              for k, v in keywords.items() if k in accepted})
    rtol, atol = TOLERANCE[dtype_name]
    error = np.abs(got.astype(np.float64) - want)
    allowed = atol + rtol * np.abs(want)
    bad = ~(error <= allowed) & ~(np.isnan(got) & np.isnan(want))
    if not bad.any():
        return None
    worst = np.flatnonzero(bad.reshape(-1))
    i = worst[np.argmax((error - allowed).reshape(-1)[worst])]
    return (f"ONNX Runtime's {runner.operator} disagrees with the reference beyond {dtype_name} tolerance "
            f"(rtol {rtol:g}, atol {atol:g}) at {bad.sum()} of {x.size} check points, worst x={x.reshape(-1)[i]:.9g}: "
            f"{got.reshape(-1)[i]:.9g} vs {want.reshape(-1)[i]:.9g}")


def check(op, dtype) -> None:
    """Raise Unsupported when ONNX Runtime cannot run `op` in `dtype` or computes something else."""
    problem = _checked(op, np.dtype(dtype).name)
    if problem:
        raise Unsupported(problem)
