"""The per-call path: check arguments, choose backend, serial or parallel, and lay arrays out.

Every public function lands in one of the `Op` methods below.  The order of work is:

1. parameters -> ``(family, kernel args)`` (memoised per parameter tuple; validated on a miss);
2. arrays checked (type, dtype, writeability, shape) with errors that name the function;
3. float16 is computed in float32 and written back;
4. an input that partly overlaps the output is copied first;
5. the backend: ``backend=`` argument, else ``use_backend``/``set_backend``/``FASTACT_BACKEND``;
   "auto" asks `_policy`;
6. the layout: arrays whose memory is one dense block in the same order are passed as 1-D
   views to the contiguous kernel; anything else is coalesced into 2-D strided views (and a
   Python loop over any dimensions that cannot be merged);
7. serial below the parallel threshold of the family's cost class, parallel above;
8. out of place on contiguous arrays above `_policy.stream_from`, the kernels that write the
   output with streaming stores.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _backends, _config, _policy, reference
from ._config import _override
from ._config import state as _state
from .spec import FAMILIES, PRELU_LAST_BLOCK, REQUIRED, Activation, is_real

_ndarray = np.ndarray
_empty_like = np.empty_like

_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
#: Accepted dtypes -> the dtype computations run in.
_COMPUTE = {_F16: _F32, _F32: _F32, _F64: _F64}
_ACCEPTED = "float16, float32 or float64"


# --- argument checks --------------------------------------------------------------------------------

def _dtype_error(where, dtype):
    return TypeError(f"{where}: unsupported dtype {dtype}; fastact computes on {_ACCEPTED} arrays")


def as_input(x, where):
    """An out-of-place input: anything np.asarray accepts, of a float dtype."""
    if type(x) is not np.ndarray:
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{where}: cannot convert the input to an array: {exc}") from None
    if x.dtype not in _COMPUTE:
        raise _dtype_error(where, x.dtype)
    return x


def as_writeable(x, where, what="the array"):
    """An array the call writes into: a writeable ndarray of a float dtype."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: {what} must be a writeable numpy.ndarray (it is written in place), "
                        f"got {type(x).__name__}")
    if x.dtype not in _COMPUTE:
        raise _dtype_error(where, x.dtype)
    if not x.flags.writeable:
        raise ValueError(f"{where}: {what} is read-only")
    return x


def check_out(out, like, where, what="out"):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{where}: {what} must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != like.dtype:
        raise ValueError(f"{where}: {what} has dtype {out.dtype}, expected {like.dtype} (the input's)")
    if out.shape != like.shape:
        raise ValueError(f"{where}: {what} has shape {out.shape}, expected {like.shape} (the input's)")
    if not out.flags.writeable:
        raise ValueError(f"{where}: {what} is read-only")
    return out


def check_same(a, b, where, names):
    if a.shape != b.shape:
        raise ValueError(f"{where}: {names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}; "
                         "they must match")
    if a.dtype != b.dtype:
        raise ValueError(f"{where}: {names[0]} has dtype {a.dtype} but {names[1]} has dtype {b.dtype}; "
                         "they must match")


def normalize_axis(axis, ndim, where):
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"{where}: axis must be an integer, got {type(axis).__name__}") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"{where}: axis {axis} is out of range for an array of {ndim} dimension(s)")
    return axis % ndim


# --- parameters ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resolved:
    family: str | None
    args: dict                     # compute dtype -> tuple of scalars of that dtype
    from_output_error: str | None


def _check_param(spec: Activation, p, value, where):
    if p.kind == "real":
        if not is_real(value):
            raise TypeError(f"{where}: {p.name} must be a real number, got {type(value).__name__}")
        problem = p.check(float(value)) if p.check else None
        if problem:
            raise ValueError(f"{where}: {p.name} {problem}, got {value!r}")
    elif p.kind == "choice":
        if not isinstance(value, str) or value not in p.choices:
            raise ValueError(f"{where}: {p.name} must be one of {', '.join(map(repr, p.choices))}, got {value!r}")
    elif p.kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{where}: {p.name} must be True or False, got {value!r}")
    elif p.kind == "generator":
        if value is not None and not isinstance(value, np.random.Generator):
            raise TypeError(f"{where}: {p.name} must be a numpy.random.Generator or None, got {type(value).__name__}")


def _separate_out(x, out):
    """`out` is a writeable C-contiguous ndarray of x's dtype and shape that is not x and does not
    overlap it: what the contiguous short paths write into."""
    return (type(out) is _ndarray and out.dtype == x.dtype and out.shape == x.shape
            and out.flags.c_contiguous and out.flags.writeable
            and out is not x and not np.may_share_memory(x, out))


def _last_axis(axis, ndim):
    """`axis` is a plain int naming the last axis: the rows the softmax short paths take."""
    return type(axis) is int and (axis == -1 or axis == ndim - 1)


def _setting(backend):
    """The backend setting a call runs under (its own, else the one in force): the plans' key."""
    return backend or _override.get() or _state.backend


class Op:
    """The dispatcher of one activation (elementwise and rrelu kinds)."""

    def __init__(self, spec: Activation):
        self.spec = spec
        self.name = spec.name
        self._resolved: dict[tuple, Resolved] = {}
        self._plans: dict[tuple, tuple | None] = {}

    # parameters -> Resolved, memoised when hashable
    def resolve(self, params: tuple, where: str) -> Resolved:
        try:
            hit = self._resolved.get(params)
        except TypeError:              # unhashable (rrelu's rng / noise)
            hit = None
        if hit is not None:
            return hit
        spec = self.spec
        for p, value in zip(spec.params, params):
            if value is REQUIRED:
                raise TypeError(f"{where}: missing required parameter {p.name!r}")
            _check_param(spec, p, value, where)
        if spec.validate is not None:
            problem = spec.validate(*params)
            if problem:
                raise ValueError(f"{where}: {problem}")
        family, kargs = spec.kernel(*params)
        args = {dt: tuple(dt.type(a) for a in kargs) for dt in (_F32, _F64)}
        resolved = Resolved(family, args, spec.from_output_error(params))
        try:
            if len(self._resolved) < 256:
                self._resolved[params] = resolved
        except TypeError:
            pass
        return resolved

    # public entry points ------------------------------------------------------------------------
    # Each tries the plan first: for C-contiguous arrays whose (params, dtype, direction, backend)
    # has been seen before, the kernels are already looked up and the call costs a few dict reads.

    def forward(self, x, params, out, backend):
        if type(x) is _ndarray:
            plan = self._plan_hit(params, x.dtype, "forward", backend)
            if plan is not None and plan.bound is not None:
                # (the checks in C: at 10**6 elements the Python ones below run from caches the
                # previous call flushed and cost ~15 us)
                if out is None:
                    out = _empty_like(x)
                if plan.bound(x, out) is not None:
                    return out
            elif plan is not None and x.flags.c_contiguous:
                if out is None:
                    out = _empty_like(x)
                    _run_plan(plan, (x.reshape(-1), out.reshape(-1)), x.size, False)
                    return out
                if _separate_out(x, out):
                    _run_plan(plan, (x.reshape(-1), out.reshape(-1)), x.size, False)
                    return out
        where = self.name
        r = self.resolve(params, where)
        x = as_input(x, where)
        if out is None:
            out = np.empty_like(x)
        else:
            check_out(out, x, where)
        return self._forward(r, x, params, out, backend)

    def forward_(self, x, params, backend, zero_counts=None):
        if zero_counts is not None:
            return self._forward_counting(x, params, backend, zero_counts)
        if type(x) is _ndarray:
            plan = self._plan_hit(params, x.dtype, "forward", backend)
            if plan is not None and plan.bound is not None:
                if plan.bound(x) is not None:
                    return x
            elif plan is not None:
                flags = x.flags
                if flags.c_contiguous and flags.writeable:
                    x1 = x if x.ndim == 1 else x.reshape(-1)
                    _run_plan(plan, (x1,), x.size, True)
                    return x
        where = self.name + "_"
        r = self.resolve(params, where)
        as_writeable(x, where)
        return self._forward(r, x, params, x, backend)

    def _forward_counting(self, x, params, backend, zero_counts):
        """The in-place forward that also adds each feature's (last axis's) zero count."""
        from . import _fused
        where = self.name + "_"
        as_writeable(x, where)
        if x.ndim == 0:
            if zero_counts.shape not in ((), (1,)):
                raise ValueError(f"{where}: zero_counts has shape {zero_counts.shape}, expected (1,) "
                                 "for a 0-d array")
            self.forward_(x.reshape(1), params, backend, zero_counts.reshape(1))
            return x
        if self.spec.kind == "rrelu" and params[2]:       # training: NumPy draws the slopes
            _fused._check_counts(zero_counts, x.shape[-1], where)
            self.forward_(x, params, backend)
            _fused.count_zeros(x, x.ndim - 1, zero_counts)
            return x
        named = dict(zip(self.spec.param_names, params))
        return _fused.forward(x, None, self.name, -1, x, zero_counts, backend, named, where)

    def backward(self, grad, saved, params, out, from_output, backend):
        if (type(grad) is _ndarray and type(saved) is _ndarray
                and grad.shape == saved.shape and grad.dtype == saved.dtype):
            direction = "backward_from_output" if from_output else "backward"
            plan = self._plan_hit(params, grad.dtype, direction, backend)
            if plan is not None and plan.bound is not None:
                if out is None:
                    out = _empty_like(grad)
                if plan.bound(grad, saved, out) is not None:
                    return out
                plan = None
            if plan is not None and grad.flags.c_contiguous and saved.flags.c_contiguous:
                if out is None:
                    out = _empty_like(grad)
                elif (type(out) is not _ndarray or out.dtype != grad.dtype or out.shape != grad.shape
                        or not out.flags.c_contiguous or not out.flags.writeable
                        or (out is not grad and np.may_share_memory(grad, out))):
                    plan = None
                if plan is not None and (saved is out or not np.may_share_memory(saved, out)
                                         or _same_memory(saved, out)):
                    if out is grad:
                        _run_plan(plan, (grad.reshape(-1), saved.reshape(-1)), grad.size, True)
                    else:
                        _run_plan(plan, (grad.reshape(-1), saved.reshape(-1), out.reshape(-1)), grad.size,
                                  False)
                    return out
        where = self.name + "_backward"
        r = self.resolve(params, where)
        if from_output and r.from_output_error is not None:
            raise ValueError(f"{where}: from_output=True is not supported: {r.from_output_error}")
        grad = as_input(grad, where)
        saved = as_input(saved, where)
        check_same(grad, saved, where, ("grad", "y" if from_output else "x"))
        if out is None:
            out = np.empty_like(grad)
        else:
            check_out(out, grad, where)
        return self._backward(r, grad, saved, params, out, from_output, backend)

    # plans --------------------------------------------------------------------------------------
    def _plan_hit(self, params, dtype, direction, backend):
        try:
            return self._plans.get((params, dtype, direction, _setting(backend)))
        except TypeError:              # unhashable params
            return None

    def plan(self, r: Resolved, params, dtype, direction, backend):
        """Build (and remember) the plan for these arguments; None where the general path must run
        every time (the numpy backend, float16, rrelu's training mode)."""
        setting = _setting(backend)
        if dtype not in (_F32, _F64) or (self.spec.kind == "rrelu" and params[2]):
            return None
        plan = make_plan(r, direction, dtype, setting, self.name)
        try:
            if len(self._plans) < 1024:
                self._plans[(params, dtype, direction, setting)] = plan
        except TypeError:
            pass
        return plan

    # overridable bodies ---------------------------------------------------------------------------
    def _forward(self, r, x, params, out, backend):
        return run_elementwise(self, r, "forward", (x,), out, params, backend)

    def _backward(self, r, grad, saved, params, out, from_output, backend):
        direction = "backward_from_output" if from_output else "backward"
        return run_elementwise(self, r, direction, (grad, saved), out, params, backend)


class RReLUOp(Op):
    """rrelu: eval mode is leaky_relu with the mean slope; training mode draws slopes (NumPy's
    Generator does the drawing in every backend; it dominates the cost)."""

    def _forward(self, r, x, params, out, backend):
        lower, upper, training, rng, noise = params
        if not training:
            return run_elementwise(self, r, "forward", (x,), out, params, backend)
        where = self.name
        if noise is not None:
            check_out(noise, x, where, "noise")
        compute = _COMPUTE[x.dtype]
        if x.dtype == compute:
            x = _separate((x,), out)[0]
            if noise is None:
                noise = np.empty_like(x)
            return reference.rrelu(x, lower, upper, True, rng, noise, out=out)
        x32 = x.astype(compute)
        noise32 = np.empty_like(x32)
        reference.rrelu(x32, lower, upper, True, rng, noise32, out=x32)
        if noise is not None:
            np.copyto(noise, noise32, casting="same_kind")
        np.copyto(out, x32, casting="same_kind")
        return out

    def _backward(self, r, grad, saved, params, out, from_output, backend):
        lower, upper, training, rng, noise = params
        if not training:
            return run_elementwise(self, r, "backward", (grad, saved), out, params, backend)
        where = self.name + "_backward"
        if noise is None:
            raise ValueError(f"{where}: training=True needs the `noise` array filled by the forward")
        if not isinstance(noise, np.ndarray):
            raise TypeError(f"{where}: noise must be a numpy.ndarray, got {type(noise).__name__}")
        check_same(grad, noise, where, ("grad", "noise"))
        grad, noise = _separate((grad, noise), out)
        with np.errstate(invalid="ignore", over="ignore"):   # inf * 0 etc. follow IEEE, as PyTorch
            return np.multiply(grad, noise, out=out)


# --- the elementwise runner ------------------------------------------------------------------------

def run_elementwise(op: Op, r: Resolved, direction, inputs, out, params, backend):
    if out.size == 0:
        return out
    compute = _COMPUTE[out.dtype]
    if compute is not out.dtype:                                 # float16: compute in float32
        ins = tuple(a.astype(compute) for a in inputs)
        run_elementwise(op, r, direction, ins, ins[0], params, backend)
        np.copyto(out, ins[0], casting="same_kind")
        return out
    if inputs[0] is not out or len(inputs) > 1:
        inputs = _separate(inputs, out)
    plan = op.plan(r, params, compute, direction, backend)
    if plan is None:
        fn = getattr(reference, op.name if direction == "forward" else f"{op.name}_{direction}")
        if direction != "forward":      # the backward takes no forward-only parameters (rng)
            params = tuple(p for p, spec in zip(params, op.spec.params) if not spec.forward_only)
        fn(*inputs, *params, out=out)
        return out
    contiguous, blocks = _layout(inputs + (out,))
    if contiguous:
        views = blocks[0]
        inplace = inputs[0] is out or _same_memory(inputs[0], out)
        _run_plan(plan, views[:-1] if inplace else views, out.size, inplace)
        return out
    for arrays in blocks:
        n = arrays[-1].size
        parallel = _state.num_threads > 1 and n >= plan.threshold
        module = plan.parallel_module if parallel else plan.serial_module
        kernel = _elementwise_kernel(module, r.family, direction, compute, False, parallel)
        if parallel:
            module.set_threads(_state.num_threads)
        kernel(*arrays, plan.args, _state.num_threads if parallel else 1)
    return out


class Plan(NamedTuple):
    """What a call on contiguous arrays runs, resolved once per (parameters, dtype, direction,
    backend): kernels ``k(*arrays, args, nchunks)``, serial and parallel, out of place, in place
    and out of place with streaming stores."""
    serial: Callable
    parallel: Callable
    args: tuple
    #: elements from which the parallel kernels run
    threshold: int
    set_threads: Callable
    serial_module: object
    parallel_module: object
    serial_inplace: Callable
    parallel_inplace: Callable
    serial_stream: Callable
    parallel_stream: Callable
    #: elements from which out-of-place calls stream their output (_policy.stream_from)
    stream_from: int
    #: where one Cython module runs every size: the whole contiguous call in C (its BoundKernel,
    #: as fastact.kernel returns), returning None for any call it cannot take
    bound: Callable | None = None


def _not_bound(*arrays):
    """A plan's BoundKernel fallback: None tells the caller to take its general path."""
    return None


def _plan_bound(module, family, direction, dtype, args, threshold, stream_from):
    """The plan's BoundKernel, for a backend that has them (Cython), else None."""
    if not hasattr(module, "bound_kernel"):
        return None
    return module.bound_kernel(family, direction, dtype, args, threshold, stream_from, _state, _not_bound)


def make_plan(r: Resolved, direction, dtype, setting, where):
    """The `Plan` for contiguous arrays, or None for the numpy backend."""
    if setting == "auto":
        small = _policy.choose(r.family, dtype, 0)
        large = _policy.choose(r.family, dtype, _policy.LARGE)
    else:
        small = large = setting
    if "numpy" in (small, large):
        return None
    serial_module = _backend_module(small, where)
    parallel_module = _backend_module(large, where)
    threshold = _policy.PARALLEL_THRESHOLD[FAMILIES[r.family].cost]
    stream_from = _policy.stream_from(dtype, 1 if direction == "forward" else 2)
    bound = None
    if serial_module is parallel_module:
        bound = _plan_bound(serial_module, r.family, direction, dtype, r.args[dtype], threshold, stream_from)
    return Plan(_elementwise_kernel(serial_module, r.family, direction, dtype, True, False),
                _elementwise_kernel(parallel_module, r.family, direction, dtype, True, True),
                r.args[dtype],
                threshold,
                parallel_module.set_threads,
                serial_module, parallel_module,
                _inplace_kernel(serial_module, r.family, direction, dtype, False),
                _inplace_kernel(parallel_module, r.family, direction, dtype, True),
                _on_first_call(_elementwise_kernel, serial_module, r.family, direction, dtype, True, False, True),
                _on_first_call(_elementwise_kernel, parallel_module, r.family, direction, dtype, True, True, True),
                stream_from, bound)


def _on_first_call(make, *how):
    """A kernel made by make(*how) when first called: streaming kernels run on large arrays only,
    and a Numba kernel costs a compilation (or a cache load) to make."""
    kernel = None

    def call(*arrays):
        nonlocal kernel
        if kernel is None:
            kernel = make(*how)
        return kernel(*arrays)
    return call


def _inplace_kernel(module, family, direction, dtype, parallel):
    """The one-array kernel that overwrites its first argument; for a backend without them, its
    two-array kernel with the first array passed as the output too."""
    if getattr(module, "INPLACE_KERNELS", False):
        return module.elementwise_kernel(family, direction, dtype, True, parallel, True)
    kernel = _elementwise_kernel(module, family, direction, dtype, True, parallel)
    if direction == "forward":
        return lambda x, args, nchunks: kernel(x, x, args, nchunks)
    return lambda grad, saved, args, nchunks: kernel(grad, saved, grad, args, nchunks)


def _run_plan(plan, arrays, n, inplace):
    """Run the plan's contiguous kernels; in place, `arrays` omits the output (it is arrays[0])."""
    threads = _state.num_threads
    if n < plan.threshold or threads == 1:
        if inplace:
            plan.serial_inplace(*arrays, plan.args, 1)
        else:
            (plan.serial if n < plan.stream_from else plan.serial_stream)(*arrays, plan.args, 1)
    else:
        plan.set_threads(threads)
        if inplace:
            plan.parallel_inplace(*arrays, plan.args, threads)
        else:
            (plan.parallel if n < plan.stream_from else plan.parallel_stream)(*arrays, plan.args, threads)


_KERNELS: dict = {}


def _elementwise_kernel(module, family, direction, dtype, contiguous, parallel, stream=False):
    key = (module.NAME, family, direction, dtype, contiguous, parallel, stream)
    kernel = _KERNELS.get(key)
    if kernel is None:
        kernel = _KERNELS[key] = module.elementwise_kernel(family, direction, dtype, contiguous, parallel,
                                                           stream=stream)
    return kernel


def _backend_module(name, where):
    module = _backends.load(name)
    if module is None:
        if name not in _backends.KERNEL_BACKENDS:
            _config._check_backend(name, where)
        raise RuntimeError(f"{where}: the {name} backend is not available: {_backends.why_unavailable(name)}")
    return module


def _parallelism(size, cost, module):
    threads = _state.num_threads
    if threads > 1 and size >= _policy.PARALLEL_THRESHOLD[cost]:
        module.set_threads(threads)
        return True, threads
    return False, 1


# --- memory layout -------------------------------------------------------------------------------

def _same_memory(a, b):
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides)


def _separate(inputs, out):
    """Copy any input that partly overlaps `out`; an input that *is* out's memory, element for
    element, is fine (that is the in-place case)."""
    result = []
    for a in inputs:
        if a is not out and np.may_share_memory(a, out) and not _same_memory(a, out):
            try:
                overlap = np.shares_memory(a, out)
            except np.exceptions.TooHardError:
                overlap = True
            if overlap:
                a = a.copy()
        result.append(a)
    return tuple(result)


def _layout(arrays):
    """(contiguous, blocks) for same-shape arrays: contiguous=True with one block of 1-D views
    when they are all C- or all F-contiguous; else blocks of 2-D views of any strides."""
    if all(a.flags.c_contiguous for a in arrays):
        return True, [tuple(a.reshape(-1) for a in arrays)]
    if all(a.flags.f_contiguous for a in arrays):
        return True, [tuple(a.reshape(-1, order="F") for a in arrays)]
    shape, strides = _coalesce(arrays, keep_last=False)
    views = [as_strided(a, shape, s) for a, s in zip(_flipped(arrays), strides)]
    itemsize = arrays[0].itemsize
    if len(shape) == 1:
        if all(s[0] == itemsize for s in strides):
            return True, [tuple(views)]
        return False, [tuple(v.reshape(1, -1) if v.flags.c_contiguous else
                             as_strided(v, (1, shape[0]), (0, v.strides[0])) for v in views)]
    return False, _blocks_2d(views, shape)


def rows_layout(arrays, ax):
    """Blocks of 2-D (rows, n) views for same-shape arrays whose row axis is `ax`; the other axes
    are coalesced where the strides allow. C-contiguous arrays with `ax` last are one reshape
    (the common case: moveaxis and the general walk cost ~20 us a call)."""
    first = arrays[0]
    if ax == first.ndim - 1 and all(a.flags.c_contiguous for a in arrays):
        return [tuple(a.reshape(-1, first.shape[-1]) for a in arrays)]
    arrays = tuple(np.moveaxis(a, ax, -1) for a in arrays)
    shape, strides = _coalesce(arrays, keep_last=True)
    views = [as_strided(a, shape, s) for a, s in zip(_flipped(arrays, keep_last=True), strides)]
    if len(shape) == 1:
        return [tuple(as_strided(v, (1, shape[0]), (0, v.strides[0])) for v in views)]
    return _blocks_2d(views, shape)


def _blocks_2d(views, shape):
    if len(shape) == 2:
        return [tuple(views)]
    return [tuple(v[idx] for v in views) for idx in np.ndindex(*shape[:-2])]


def _order(arrays, keep_last):
    """Axes to iterate, outermost first: size-1 axes dropped, sorted by the output's stride."""
    shape = arrays[0].shape
    last = len(shape) - 1
    axes = [d for d in range(len(shape)) if shape[d] != 1 and not (keep_last and d == last)]
    ref = arrays[-1].strides
    axes.sort(key=lambda d: -abs(ref[d]))
    if keep_last:
        axes.append(last)
    return axes


def _flipped(arrays, keep_last=False):
    """The arrays with every axis reversed where the output walks memory backwards."""
    ref = arrays[-1]
    flip = tuple(slice(None, None, -1) if (s < 0 and not (keep_last and d == ref.ndim - 1)) else slice(None)
                 for d, s in enumerate(ref.strides))
    return [a[flip] for a in arrays]


def _coalesce(arrays, keep_last):
    """(shape, [strides per array]) after ordering, flipping and merging mergeable axes."""
    flipped = _flipped(arrays, keep_last)
    axes = _order(flipped, keep_last)
    if not axes:
        axes = [arrays[0].ndim - 1] if arrays[0].ndim else []
    shape = [flipped[0].shape[d] for d in axes]
    strides = [[a.strides[d] for d in axes] for a in flipped]
    if not shape:                          # 0-d
        return (1,), [[a.itemsize] for a in arrays]
    # Merge axis i into i - 1 where every array steps over i exactly once per step of i - 1;
    # the row axis of a row layout is never merged.
    i = len(shape) - (2 if keep_last else 1)
    while i > 0:
        if all(s[i - 1] == s[i] * shape[i] for s in strides):
            shape[i - 1] *= shape[i]
            del shape[i]
            for s in strides:
                s[i - 1] = s[i]
                del s[i]
        i -= 1
    return tuple(shape), [tuple(s) for s in strides]


def _view(a, shape):
    """a reshaped to `shape` if that is a view, else None."""
    v = a.reshape(shape)
    return v if (a.size == 0 or np.may_share_memory(v, a)) else None


def _kernel_backend(backend, where):
    """The backend name for a non-elementwise op ("auto" resolved)."""
    name = backend or _config.current_backend()
    if name == "auto":
        name = _policy.choose(None, None, 0)
    if name != "numpy":
        _backend_module(name, where)
    return name


def _in_compute_dtype(fn, inputs, outs):
    """Run fn(*inputs32, *outs32) in float32 for float16 arrays and copy the results back."""
    ins = tuple(a.astype(_F32) for a in inputs)
    tmp = tuple(np.empty(o.shape, _F32) for o in outs)
    result = fn(*ins, *tmp)
    for o, t in zip(outs, tmp):
        np.copyto(o, t, casting="same_kind")
    return result


class _PReLUPlan(NamedTuple):
    """prelu's forward kernels for one (dtype, backend setting), looked up once."""
    serial: Callable
    parallel: Callable
    set_threads: Callable


class PReLUOp:
    """prelu: a leaky ReLU with one learned slope per channel along `axis`."""

    def __init__(self, spec: Activation):
        self.spec = spec
        self.name = spec.name
        self._plans: dict[tuple, _PReLUPlan] = {}

    def _fast_forward(self, x, weight, axis, out, backend):
        """The common forward in few steps, or None where the general path must run: a
        C-contiguous float32/float64 x, `out` x itself or a C-contiguous array not overlapping x,
        a finite float or a short contiguous 1-D weight of x's dtype, an int axis, a plan made
        by an earlier call.  (At 10**6 elements every NumPy call and Python step of the general
        path runs from caches the previous kernel call has just flushed: it cost ~40 us a call,
        ~20% of the kernel's time.)"""
        plan = self._plans.get((x.dtype, _setting(backend)))
        if plan is None or not x.flags.c_contiguous or x.size == 0:
            return None
        if isinstance(weight, (float, np.floating)):
            if not math.isfinite(weight):
                return None
            w = np.full(1, weight, x.dtype)
        elif (type(weight) is _ndarray and weight.ndim == 1 and weight.dtype == x.dtype
              and weight.flags.c_contiguous
              # (np.isfinite: twice the cost of the list for a few slopes, with cold caches)
              and (all(map(math.isfinite, weight.tolist())) if weight.size <= 64
                   else np.isfinite(weight).all())
              and not np.may_share_memory(weight, out)):
            w = weight
        else:
            return None
        if x.ndim >= 2 and not (type(axis) is int and -x.ndim <= axis < x.ndim):
            return None                             # (the general path says what is wrong)
        if w.size == 1:
            shape3 = (1, 1, x.size)
        elif x.ndim >= 2 and x.shape[axis] == w.size:
            ax = axis % x.ndim
            shape3 = (math.prod(x.shape[:ax]), w.size, math.prod(x.shape[ax + 1:]))
        else:
            return None
        threads = _state.num_threads
        if threads > 1 and x.size >= _policy.PARALLEL_THRESHOLD["memory"]:
            plan.set_threads(threads)
            plan.parallel(x.reshape(shape3), w, out.reshape(shape3), threads)
        else:
            plan.serial(x.reshape(shape3), w, out.reshape(shape3), 1)
        return out

    def _remember_plan(self, dtype, backend, name):
        if dtype in (_F32, _F64) and name != "numpy" and len(self._plans) < 64:
            module = _backends.load(name)
            self._plans[(dtype, _setting(backend))] = _PReLUPlan(
                module.prelu_kernel("forward", dtype, False), module.prelu_kernel("forward", dtype, True),
                module.set_threads)

    def _weight(self, x, weight, axis, where):
        """(channel axis or None, 1-D slope vector of the compute dtype, channel count)."""
        if is_real(weight):
            w = np.asarray(weight, dtype=np.float64)
        else:
            if not isinstance(weight, np.ndarray):
                try:
                    weight = np.asarray(weight)
                except (TypeError, ValueError):
                    raise TypeError(f"{where}: weight must be a real number or a 1-D array, "
                                    f"got {type(weight).__name__}") from None
            if weight.dtype.kind not in "fiu":
                raise TypeError(f"{where}: weight must hold real numbers, got dtype {weight.dtype}")
            if weight.ndim > 1:
                raise ValueError(f"{where}: weight must be a scalar or 1-D, got shape {weight.shape}")
            w = weight
        if x.ndim >= 2:
            ax = normalize_axis(axis, x.ndim, where)
            channels = x.shape[ax]
        else:
            ax, channels = None, 1
        if w.size not in (1, channels):
            raise ValueError(f"{where}: weight has {w.size} slopes but x has {channels} channel(s)"
                             + (f" along axis {ax}" if ax is not None else " (0-d and 1-d inputs have one)"))
        if not np.isfinite(w).all():
            raise ValueError(f"{where}: weight must be finite")
        return ax, w.reshape(-1).astype(_COMPUTE[x.dtype]), channels

    @staticmethod
    def _shape3(x, ax):
        if ax is None:
            return (1, 1, x.size)
        outer = math.prod(x.shape[:ax])                   # (np.prod costs ~3 us a call)
        inner = math.prod(x.shape[ax + 1:])
        return (outer, x.shape[ax], inner)

    def forward(self, x, params, out, backend):
        if type(x) is _ndarray:
            if out is None:
                done = self._fast_forward(x, *params, _empty_like(x), backend)
                if done is not None:
                    return done
            elif _separate_out(x, out):
                done = self._fast_forward(x, *params, out, backend)
                if done is not None:
                    return done
        where = self.name
        x = as_input(x, where)
        out = np.empty_like(x) if out is None else check_out(out, x, where)
        return self._forward(x, params, out, backend, where)

    def forward_(self, x, params, backend):
        if type(x) is _ndarray and x.flags.writeable:
            done = self._fast_forward(x, *params, x, backend)
            if done is not None:
                return done
        where = self.name + "_"
        as_writeable(x, where)
        return self._forward(x, params, x, backend, where)

    def _forward(self, x, params, out, backend, where):
        weight, axis = params
        ax, w, channels = self._weight(x, weight, axis, where)
        name = _kernel_backend(backend, where)
        self._remember_plan(out.dtype, backend, name)
        if x.size == 0:
            return out
        if out.dtype == _F16:
            _in_compute_dtype(lambda x32, o32: self._forward(x32, (w, axis), o32, name, where), (x,), (out,))
            return out
        (x,) = _separate((x,), out)
        if name == "numpy":
            return reference.prelu(x, w, ax if ax is not None else 0, out=out)
        module = _backends.load(name)
        shape3 = self._shape3(x, ax)
        if w.size != shape3[1]:
            w = np.full(shape3[1], w[0], dtype=w.dtype)
        x3 = _view(x, shape3)
        x3 = x.reshape(shape3) if x3 is None else x3        # a copy is fine for an input
        o3 = _view(out, shape3)
        target = o3 if o3 is not None else np.empty(shape3, out.dtype)
        parallel, nchunks = _parallelism(x.size, "memory", module)
        module.prelu_kernel("forward", out.dtype, parallel)(x3, w, target, nchunks)
        if o3 is None:
            np.copyto(out, target.reshape(out.shape))
        return out

    def backward(self, grad, x, params, out, from_output, backend):
        where = self.name + "_backward"
        if from_output:
            raise ValueError(f"{where}: from_output=True is not supported: prelu's output does not "
                             "determine its derivative")
        grad = as_input(grad, where)
        x = as_input(x, where)
        check_same(grad, x, where, ("grad", "x"))
        out = np.empty_like(grad) if out is None else check_out(out, grad, where)
        weight, axis = params
        ax, w, channels = self._weight(x, weight, axis, where)
        weight_shape = np.shape(weight)
        name = _kernel_backend(backend, where)
        gw = self._backward(grad, x, w, ax, out, name)
        return out, gw.reshape(weight_shape).astype(_COMPUTE[x.dtype]).astype(x.dtype)

    def _backward(self, grad, x, w, ax, out, name):
        """grad_x into out; returns grad_weight as a float64 vector of w's length."""
        if x.size == 0:
            return np.zeros(w.size)
        if out.dtype == _F16:
            return _in_compute_dtype(lambda g, xx, o: self._backward(g, xx, w, ax, o, name), (grad, x), (out,))
        grad, x = _separate((grad, x), out)
        if name == "numpy":
            _, gw = reference.prelu_backward(grad, x, w, ax if ax is not None else 0, out=out)
            return gw.astype(np.float64)
        module = _backends.load(name)
        shape3 = self._shape3(x, ax)
        wk = w if w.size == shape3[1] else np.full(shape3[1], w[0], dtype=w.dtype)
        g3 = grad.reshape(shape3)
        x3 = x.reshape(shape3)
        o3 = _view(out, shape3)
        target = o3 if o3 is not None else np.empty(shape3, out.dtype)
        # (channels last: one partial sum per block of outer rows, see the kernels)
        rows = np.empty(shape3[:2] if shape3[2] != 1 else (-(-shape3[0] // PRELU_LAST_BLOCK), shape3[1]),
                        np.float64)
        parallel, nchunks = _parallelism(x.size, "memory", module)
        module.prelu_kernel("backward", out.dtype, parallel)(g3, x3, wk, target, rows, nchunks)
        if o3 is None:
            np.copyto(out, target.reshape(out.shape))
        per_channel = rows.sum(axis=0)
        return per_channel if w.size == shape3[1] else np.array([per_channel.sum()])


class _SoftmaxPlan(NamedTuple):
    """softmax's kernels for one (dtype, backend setting), looked up once: the Cython backend's
    BoundRows (the whole contiguous call in C), else the forward's kernels for a Python short
    path."""
    serial: Callable
    parallel: Callable
    set_threads: Callable
    stream_from: int
    bound_forward: Callable | None
    bound_backward: Callable | None


class SoftmaxOp:
    """softmax and log_softmax along `axis`."""

    def __init__(self, spec: Activation):
        self.spec = spec
        self.name = spec.name
        self.log = spec.name == "log_softmax"
        self._plans: dict[tuple, _SoftmaxPlan] = {}

    def _remember_plan(self, dtype, backend, name):
        if dtype not in (_F32, _F64) or name == "numpy" or len(self._plans) >= 64:
            return
        module = _backends.load(name)
        threshold = _policy.PARALLEL_THRESHOLD["compute"]
        bound = getattr(module, "softmax_bound", None)
        stream_from = _policy.stream_from(dtype, 1)
        self._plans[(dtype, _setting(backend))] = _SoftmaxPlan(
            module.softmax_kernel("forward", dtype, False), module.softmax_kernel("forward", dtype, True),
            module.set_threads, stream_from,
            bound and bound("forward", dtype, self.log, threshold, stream_from, _state),
            bound and bound("backward", dtype, self.log, threshold, _policy.stream_from(dtype, 2), _state))

    def _fast_forward(self, plan, x, axis, out):
        """The common forward in few steps, or None where the general path must run: rows along
        the last axis of a C-contiguous float32/float64 x, `out` x itself or a C-contiguous array
        not overlapping x (at 10**6 elements the general path's Python and NumPy steps run from
        caches the previous call flushed: ~30 us a call, against ~17 for this Python path and
        ~5 for the Cython backend's checks in C)."""
        if not _last_axis(axis, x.ndim):
            return None
        if plan.bound_forward is not None:
            return plan.bound_forward(x, out)
        if x.ndim == 0 or x.size == 0 or not x.flags.c_contiguous:
            return None
        if not (x.flags.writeable if out is x else _separate_out(x, out)):
            return None
        threads = _state.num_threads
        if threads > 1 and x.size >= _policy.PARALLEL_THRESHOLD["compute"]:
            plan.set_threads(threads)
            kernel, nchunks = plan.parallel, threads
        else:
            kernel, nchunks = plan.serial, 1
        n = x.shape[-1]
        kernel(x.reshape(-1, n), out.reshape(-1, n), self.log, nchunks,
               x.size >= plan.stream_from and out is not x)
        return out

    def forward(self, x, params, out, backend):
        if type(x) is _ndarray:
            plan = self._plans.get((x.dtype, _setting(backend)))
            if plan is not None:
                if out is None:
                    out = _empty_like(x)
                if self._fast_forward(plan, x, params[0], out) is not None:
                    return out
        where = self.name
        x = as_input(x, where)
        out = np.empty_like(x) if out is None else check_out(out, x, where)
        return self._forward(x, params[0], out, backend, where)

    def forward_(self, x, params, backend):
        if type(x) is _ndarray:
            plan = self._plans.get((x.dtype, _setting(backend)))
            if plan is not None and self._fast_forward(plan, x, params[0], x) is not None:
                return x
        where = self.name + "_"
        as_writeable(x, where)
        return self._forward(x, params[0], x, backend, where)

    def _forward(self, x, axis, out, backend, where):
        ax = normalize_axis(axis, max(x.ndim, 1), where)
        name = _kernel_backend(backend, where)
        self._remember_plan(out.dtype, backend, name)
        if x.ndim == 0:
            self._forward(x.reshape(1), 0, out.reshape(1), name, where)
            return out
        if x.size == 0:
            return out
        if out.dtype == _F16:
            _in_compute_dtype(lambda x32, o32: self._forward(x32, ax, o32, name, where), (x,), (out,))
            return out
        (x,) = _separate((x,), out)
        if name == "numpy":
            fn = reference.log_softmax if self.log else reference.softmax
            return fn(x, ax, out=out)
        module = _backends.load(name)
        parallel, nchunks = _parallelism(x.size, "compute", module)
        kernel = module.softmax_kernel("forward", out.dtype, parallel)
        stream = x.size >= _policy.stream_from(out.dtype, 1) and not _same_memory(x, out)
        for x2, o2 in rows_layout((x, out), ax):
            kernel(x2, o2, self.log, nchunks, stream)
        return out

    def backward(self, grad, saved, params, out, from_output, backend):
        y = None
        if type(grad) is _ndarray and type(saved) is _ndarray:
            plan = self._plans.get((grad.dtype, _setting(backend)))
            if plan is not None and plan.bound_backward is not None and _last_axis(params[0], grad.ndim):
                # the Cython backend's checks in C (see _fast_forward)
                if out is None:
                    out = _empty_like(grad)
                y = saved if from_output else plan.bound_forward(saved, _empty_like(saved))
                if y is not None and plan.bound_backward(grad, y, out) is not None:
                    return out
        where = self.name + "_backward"
        grad = as_input(grad, where)
        saved = as_input(saved, where)
        check_same(grad, saved, where, ("grad", "y" if from_output else "x"))
        out = np.empty_like(grad) if out is None else check_out(out, grad, where)
        axis = params[0]
        ax = normalize_axis(axis, max(grad.ndim, 1), where)
        name = _kernel_backend(backend, where)
        self._remember_plan(grad.dtype, backend, name)
        if from_output:
            y = saved
        elif y is None:                   # (else the fast path above computed it: grad failed its checks)
            y = self._forward(saved, ax, np.empty_like(saved), name, where)
        return self._backward(grad, y, ax, out, name)

    def _backward(self, grad, y, ax, out, name):
        if grad.ndim == 0:
            self._backward(grad.reshape(1), y.reshape(1), 0, out.reshape(1), name)
            return out
        if grad.size == 0:
            return out
        if out.dtype == _F16:
            _in_compute_dtype(lambda g, yy, o: self._backward(g, yy, ax, o, name), (grad, y), (out,))
            return out
        grad, y = _separate((grad, y), out)
        if name == "numpy":
            fn = (reference.log_softmax_backward_from_output if self.log
                  else reference.softmax_backward_from_output)
            return fn(grad, y, ax, out=out)
        module = _backends.load(name)
        parallel, nchunks = _parallelism(grad.size, "compute", module)
        kernel = module.softmax_kernel("backward", out.dtype, parallel)
        # (not log_softmax's: its exp pass over y, heavy on arithmetic, lost with streaming
        # stores -- 10**7 float64, rows of 1000, Cython: 9.1 -> 10.9 ms, with y prefetched 9.6)
        stream = (not self.log and grad.size >= _policy.stream_from(out.dtype, 2)
                  and not any(_same_memory(a, out) for a in (grad, y)))
        for g2, y2, o2 in rows_layout((grad, y, out), ax):
            kernel(g2, y2, o2, self.log, nchunks, stream)
        return out


def make_op(spec: Activation):
    return {"elementwise": Op, "rrelu": RReLUOp, "prelu": PReLUOp, "softmax": SoftmaxOp}[spec.kind](spec)


def reset_plans() -> None:
    """Forget every memoised plan (after the parallel thresholds or the policy table change)."""
    from ._api import OPS
    for op in OPS.values():
        if isinstance(op, (Op, PReLUOp, SoftmaxOp)):
            op._plans.clear()
