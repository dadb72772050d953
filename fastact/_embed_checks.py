"""The spec's parameter checks as source code, for the generated embedding APIs.

``fastact.spec`` checks parameters with Python functions that return what is wrong (``_finite``,
``_nonzero``..., an activation's ``validate`` and ``from_output``).  Code compiled without Python
(``fastact.jit``'s array kernels, ``fastact/cy.pxd``) needs them as conditions instead; this
table gives each as source -- an expression that is True when the value is *bad*, in the
parameter's name, valid in both Python/Numba and Cython (with ``_isfinite`` / ``_isnan`` in
scope) -- and takes the error message from the spec's own function (called on a value that
fails), so the words stay the spec's.  ``tests/test_jit.py`` checks that every check the spec
uses is here and that the conditions agree with the spec's functions.

Keyed by the functions' names, so that build scripts can use this file without importing fastact
(fastact/_cython/_generate_api.py loads it, and fastact/spec.py, by path).
"""
from __future__ import annotations

import math

#: Param.check (by name) -> ((condition when bad, a value that fails it), ...), in order.
CHECKS = {
    "_finite": (("not _isfinite({v})", math.inf),),
    "_not_nan": (("_isnan({v})", math.nan),),
    "_nonzero": (("not _isfinite({v})", math.inf), ("{v} == 0.0", 0.0)),
    "_nonnegative": (("not _isfinite({v})", math.inf), ("{v} < 0.0", -1.0)),
}

#: Activation.validate (cross-parameter checks; by activation) -> (condition when bad, message).
VALIDATE = {
    "hardtanh": ("not (min_val <= max_val)", "min_val must be <= max_val"),
    "rrelu": ("not (lower <= upper)", "lower must be <= upper"),
}

#: Activation.from_output when it depends on a parameter (by function name) ->
#: (condition when the output does not determine the derivative, a parameter value for which it
#: does not).
FROM_OUTPUT = {
    "_leaky_from_output": ("not (negative_slope >= 0.0)", -1.0),
    "_elu_from_output": ("not (alpha >= 0.0)", -1.0),
}


def conditions(spec, params, *, from_output: bool = False) -> list[tuple[str, str]]:
    """[(condition source, message)] for an activation (`spec`, an ``Activation``) whose compiled
    form takes `params` (``Param`` objects): the checks of its real parameters, its ``validate``,
    and with from_output=True whether its output determines the derivative.  Raises
    NotImplementedError for a check this table does not know (add it above)."""
    out = []
    for p in params:
        if p.kind == "real" and p.check is not None:
            name = p.check.__name__
            if name not in CHECKS:
                raise NotImplementedError(f"no compiled form of the check {name} of {spec.name}'s "
                                          f"{p.name}: add it to fastact/_embed_checks.py")
            for condition, bad in CHECKS[name]:
                out.append((condition.format(v=p.name), f"{p.name} {p.check(bad)}"))
    if spec.validate is not None:
        if spec.name not in VALIDATE:
            raise NotImplementedError(f"no compiled form of {spec.name}'s validate: add it to "
                                      "fastact/_embed_checks.py")
        out.append(VALIDATE[spec.name])
    if from_output and callable(spec.from_output):
        name = spec.from_output.__name__
        if name not in FROM_OUTPUT:
            raise NotImplementedError(f"no compiled form of {spec.name}'s from_output: add it to "
                                      "fastact/_embed_checks.py")
        condition, bad = FROM_OUTPUT[name]
        out.append((condition, f"the backward from the output {spec.from_output(bad)}"))
    return out
