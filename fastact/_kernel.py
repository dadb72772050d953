"""``fastact.kernel``: a pre-resolved callable for tight loops.

Parameters are validated, the backend chosen and the kernels looked up once; each call then
checks only what safety needs (an ndarray of the promised dtype, C-contiguous, writeable, shapes
that match, no partial overlap) and falls back to the full public path for anything else.
"""
from __future__ import annotations

import types

import numpy as np

from . import _config, _dispatch
from ._api import OPS
from .spec import SPECS


def _bind(spec, params, where, backward):
    names = [p.name for p in spec.params]
    unknown = set(params) - set(names)
    if unknown:
        raise TypeError(f"{where}: unknown parameter(s) {', '.join(sorted(unknown))} for {spec.name}; "
                        f"it takes {', '.join(names) or 'none'}")
    values = []
    for p in spec.params:
        if p.name in params:
            values.append(params[p.name])
        elif p.required:
            raise TypeError(f"{where}: {spec.name} needs the parameter {p.name!r}")
        else:
            values.append(p.default)
    return tuple(values)


def kernel(name, dtype, *, backward=False, from_output=False, backend=None, **params):
    """A pre-resolved kernel for `name` on arrays of `dtype`, for calling in a tight loop.

    Forward: ``k(x)`` works in place on x and returns it; ``k(x, out)`` writes into out.
    Backward (``backward=True``): ``k(grad, saved)`` in place on grad, ``k(grad, saved, out)``;
    `saved` is the forward input, or the output with ``from_output=True``.

    Parameters are given by keyword (``fastact.kernel("leaky_relu", np.float32,
    negative_slope=0.2)``) and checked now. The fast path takes C-contiguous arrays of exactly
    `dtype`; anything else goes through the public function, with its checks and errors.
    """
    where = "kernel"
    if name not in SPECS:
        raise ValueError(f"{where}: unknown activation {name!r}; see fastact.ACTIVATIONS")
    spec = SPECS[name]
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}: {dtype!r} is not a dtype") from None
    if dt not in _dispatch._COMPUTE:
        raise _dispatch._dtype_error(where, dt)
    if backend is not None:
        _config._check_backend(backend, where)
    values = _bind(spec, params, where, backward)
    op = OPS[name]

    if backward:
        def general(grad, saved, out=None):
            return op.backward(grad, saved, values, grad if out is None else out, from_output, backend)
    else:
        def general(x, out=None):
            return op.forward_(x, values, backend) if out is None else op.forward(x, values, out, backend)

    fast = _fast_path(spec, op, values, dt, backward, from_output, backend, where, general)
    if fast is not None and not isinstance(fast, types.FunctionType):
        return fast                       # a compiled BoundKernel: it names itself
    fn = fast or general
    fn.__doc__ = f"Pre-resolved {name}{' backward' if backward else ''} kernel for {dt} arrays."
    fn.__name__ = f"{name}{'_backward' if backward else ''}_kernel"
    return fn


def direction_of(backward, from_output):
    return ("backward_from_output" if from_output else "backward") if backward else "forward"


def _fast_path(spec, op, values, dt, backward, from_output, backend, where, general):
    """The fast callable for elementwise kernels of float32/float64, or None: the Cython
    backend's BoundKernel (the per-call checks in C) where the plan runs Cython kernels, else a
    Python closure around the plan."""
    if spec.kind not in ("elementwise", "rrelu") or dt not in (_dispatch._F32, _dispatch._F64):
        if spec.kind == "prelu" and backward:
            raise ValueError(f"{where}: prelu's backward returns two arrays; call fastact.prelu_backward")
        return None
    resolved = op.resolve(values, where)
    if spec.kind == "rrelu" and values[2]:          # training: random slopes, the general path
        return None
    if backward and from_output and resolved.from_output_error:
        raise ValueError(f"{where}: from_output=True is not supported: {resolved.from_output_error}")
    name = backend or _config.current_backend()
    plan = _dispatch.make_plan(resolved, direction_of(backward, from_output), dt, name, where)
    if plan is None:                                # the numpy backend
        return None
    if plan.serial_module is plan.parallel_module and hasattr(plan.serial_module, "bound_kernel"):
        return plan.serial_module.bound_kernel(resolved.family, direction_of(backward, from_output), dt,
                                               plan.args, plan.threshold, plan.stream_from, _config.state,
                                               general)
    run = _dispatch._run_plan
    ndarray = np.ndarray
    may_share = np.may_share_memory

    if not backward:
        def forward_kernel(x, out=None):
            if out is None:
                if type(x) is ndarray and x.dtype == dt:
                    flags = x.flags
                    if flags.c_contiguous and flags.writeable and x.size:
                        run(plan, (x if x.ndim == 1 else x.reshape(-1),), x.size, True)
                        return x
                return op.forward_(x, values, backend)
            if (type(x) is ndarray and type(out) is ndarray and x.dtype == dt and out.dtype == dt
                    and x.shape == out.shape and x.flags.c_contiguous and out.flags.c_contiguous
                    and out.flags.writeable and x.size and (out is x or not may_share(x, out))):
                if out is x:
                    run(plan, (x.reshape(-1),), x.size, True)
                else:
                    run(plan, (x.reshape(-1), out.reshape(-1)), x.size, False)
                return out
            return op.forward(x, values, out, backend)
        return forward_kernel

    def backward_kernel(grad, saved, out=None):
        target = grad if out is None else out
        if (type(grad) is ndarray and type(saved) is ndarray and type(target) is ndarray
                and grad.dtype == dt and saved.dtype == dt and target.dtype == dt
                and grad.shape == saved.shape == target.shape and grad.size
                and grad.flags.c_contiguous and saved.flags.c_contiguous and target.flags.c_contiguous
                and target.flags.writeable
                and (target is grad or not may_share(grad, target))
                and (target is saved or not may_share(saved, target))):
            if target is grad:
                run(plan, (grad.reshape(-1), saved.reshape(-1)), grad.size, True)
            else:
                run(plan, (grad.reshape(-1), saved.reshape(-1), target.reshape(-1)), grad.size, False)
            return target
        return op.backward(grad, saved, values, target, from_output, backend)
    return backward_kernel
