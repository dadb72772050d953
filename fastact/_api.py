"""The public functions, generated from the spec table.

For each activation three plain Python functions are compiled from source (as `dataclasses`
does), so that ``help()``, ``inspect.signature`` and IDEs see real parameter lists and defaults,
and a call costs one Python frame before the dispatcher.
"""
from __future__ import annotations

from . import _dispatch
from .spec import SPECS, Activation, Param

_COMMON = {
    "out": "out : ndarray, optional\n    Where to write the result: same shape and dtype as the input. "
           "It is returned.",
    "zero_counts": "zero_counts : ndarray of int, optional\n    Shape ``(x.shape[-1],)``: each feature's (last "
                   "axis entry's) count of outputs that are exactly zero is ADDED to it, in the same pass "
                   "over the data (dying-ReLU monitoring; see ``fastact.activation_stats``).",
    "backend": 'backend : {"auto", "cython", "numba", "numpy"}, optional\n    Overrides the backend '
               "in force (``fastact.set_backend`` / ``use_backend`` / ``FASTACT_BACKEND``) for this call.",
}

_DTYPES_NOTE = ("float32 and float64 are computed in their own precision, float16 in float32; other "
                "dtypes raise TypeError.")


def _signature(spec: Activation, first: str, *, backward: bool) -> tuple[str, str, dict]:
    """(parameter list source, params tuple source, defaults namespace)."""
    positional, keyword, names, defaults = [], [], [], {}
    for p in spec.params:
        if backward and p.forward_only:
            names.append("None")
            continue
        names.append(p.name)
        if p.required:
            text = p.name
        else:
            defaults[f"_default_{p.name}"] = p.default
            text = f"{p.name}=_default_{p.name}"
        (keyword if p.keyword_only else positional).append(text)
    return ", ".join([first] + positional), ", ".join(keyword), names, defaults


def _param_doc(p: Param) -> str:
    kind = {"real": "float", "choice": "str", "bool": "bool", "generator": "numpy.random.Generator, optional",
            "array": "ndarray, optional", "weight": "float or ndarray", "axis": "int"}[p.kind]
    default = "" if p.required else f", default {p.default!r}"
    return f"{p.name} : {kind}{default}\n    {p.doc}"


def _docstring(spec: Activation, form: str) -> str:
    params = [p for p in spec.params if not (form == "backward" and p.forward_only)]
    lines = [spec.summary, ""]
    if form == "forward":
        lines += [f"Out of place: returns a new array, or writes into `out`. In place: ``{spec.name}_``.", ""]
    elif form == "inplace":
        lines += [f"In place: overwrites `x` and returns it. Out of place: ``{spec.name}``.", ""]
    else:
        lines += [f"Gradient of ``{spec.name}``: dL/dx from dL/dy = `grad`.", ""]
    lines += [f"    {spec.formula}", ""]
    if form == "backward":
        lines += ["d/dx: " + spec.gradient, ""]
    lines += ["Parameters", "----------"]
    if form == "backward":
        lines.append("grad : array_like\n    dL/dy, the same shape and dtype as `x`.")
        lines.append("x : array_like\n    The forward input, or with ``from_output=True`` the forward output.")
    elif form == "inplace":
        lines.append("x : ndarray\n    Overwritten with the result; any shape and strides, writeable.")
    else:
        lines.append("x : array_like\n    Any shape and strides.")
    lines += [_param_doc(p) for p in params]
    if form == "inplace" and spec.kind in COUNTING_KINDS:
        lines.append(_COMMON["zero_counts"])
    if form != "inplace":
        lines.append(_COMMON["out"] + (" ``out=grad`` works in place." if form == "backward" else ""))
    if form == "backward":
        allowed = spec.from_output is not False
        lines.append("from_output : bool, default False\n    " + (
            "The second argument is the forward output y instead of x (what an in-place forward "
            "leaves you)." + ("" if spec.from_output is True else " Not for every parameter value: "
                              "see the ValueError.")
            if allowed else "Not supported: the output does not determine the derivative (ValueError)."))
    lines.append(_COMMON["backend"])
    lines += ["", "Returns", "-------"]
    if spec.kind == "prelu" and form == "backward":
        lines.append("(grad_x, grad_weight) : (ndarray, ndarray)\n    grad_weight has weight's shape.")
    else:
        what = {"forward": "out, or a new array", "inplace": "x", "backward": "dL/dx (out, or a new array)"}[form]
        lines.append(f"ndarray\n    {what}.")
    lines += ["", "Notes", "-----", _DTYPES_NOTE]
    if spec.notes:
        lines.append(spec.notes)
    return "\n".join(lines)


_TEMPLATES = {
    "forward": ("def {name}({params}, *, {kw}out=None, backend=None):\n"
                "    return _op.forward(x, {names}, out, backend)\n"),
    "inplace": ("def {name}_({params}, *, {kw}backend=None):\n"
                "    return _op.forward_(x, {names}, backend)\n"),
    "inplace_counting": ("def {name}_({params}, *, {kw}zero_counts=None, backend=None):\n"
                         "    return _op.forward_(x, {names}, backend, zero_counts)\n"),
    "backward": ("def {name}_backward({params}, *, {kw}out=None, from_output=False, backend=None):\n"
                 "    return _op.backward(grad, x, {names}, out, from_output, backend)\n"),
}


#: activation name -> its dispatcher object (shared with fastact.kernel).
OPS: dict = {}

#: Kinds whose in-place forward takes ``zero_counts=``.
COUNTING_KINDS = ("elementwise", "rrelu")

_PUBLIC_NAME = {"forward": "{}", "inplace": "{}_", "backward": "{}_backward"}


def _tuple_source(names):
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def make_functions(spec: Activation) -> dict:
    """{public name: function} for one activation."""
    op = OPS[spec.name] = _dispatch.make_op(spec)
    functions = {}
    for form in ("forward", "inplace", "backward"):
        template = _TEMPLATES[form]
        if form == "inplace" and spec.kind in COUNTING_KINDS:
            template = _TEMPLATES["inplace_counting"]
        first = "grad, x" if form == "backward" else "x"
        params, kw, names, defaults = _signature(spec, first, backward=form == "backward")
        source = template.format(name=spec.name, params=params, kw=kw + ", " if kw else "",
                                 names=_tuple_source(names))
        namespace = {"_op": op, **defaults}
        exec(compile(source, f"<fastact.{spec.name}:{form}>", "exec"), namespace)
        fn = namespace[_PUBLIC_NAME[form].format(spec.name)]
        fn.__module__ = "fastact"
        fn.__doc__ = _docstring(spec, form)
        functions[fn.__name__] = fn
    return functions


def make_all() -> dict:
    functions = {}
    for spec in SPECS.values():
        functions.update(make_functions(spec))
    return functions
