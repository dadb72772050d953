"""Expand fastact/cy.pxd.tp into fastact/cy.pxd, fastact's Cython API (run by setup.py at build
time, beside _generate.py).

    python fastact/_cython/_generate_api.py

Everything per activation comes from the activation table (``fastact/spec.py``, loaded by path:
fastact itself is not importable during a build): the names, parameters and defaults, the kernel
family and the parameter -> kernel-argument mapping (``spec.kernel_source``, as C expressions),
and the parameter checks (``fastact/_embed_checks.py``).  The output is written only when its
text changes, and is never committed (.gitignore): like mathfn.pxd it is a build product, so that
adding an activation to the table adds it to the Cython API with no other step.
"""
from __future__ import annotations

import os
import sys
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)                 # fastact/
ROOT = os.path.dirname(PACKAGE)
TEMPLATE = os.path.join(PACKAGE, "cy.pxd.tp")
OUTPUT = os.path.join(PACKAGE, "cy.pxd")


def _build_helpers():
    """fastact/_cython/_generate.py (its loader, writer), loaded by path."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("_fastact_generate_for_build", os.path.join(HERE, "_generate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _variants(spec_module, act):
    """[(API name, choices)]: one per value of a choice parameter, the default keeping the plain
    name (gelu, gelu_tanh)."""
    choice = [p for p in act.params if p.kind == "choice"]
    if not choice:
        return [(act.name, {})]
    if len(choice) > 1:
        raise NotImplementedError(f"{act.name}: more than one choice parameter")
    p = choice[0]
    return [(act.name if value == p.default else f"{act.name}_{value}", {p.name: value})
            for value in (p.default,) + tuple(v for v in p.choices if v != p.default)]


def _params(spec_module, act):
    """The real parameters the API takes (prelu: one scalar slope; rrelu: lower, upper)."""
    if act.kind == "prelu":
        return (spec_module.Param("weight", spec_module.REQUIRED),)     # checked finite, as fastact.prelu
    return tuple(p for p in act.params if p.kind == "real")


def _default(value) -> str:
    """A C literal for a default.  Cython 3.3 emits broken C (``= None``) for a negative float
    literal as the default of an inline function in a .pxd, but accepts a negative integer."""
    value = float(value)
    if value < 0:
        if value != int(value):
            raise NotImplementedError(f"negative non-integral default {value!r}: no Cython literal for it")
        return str(int(value))
    return repr(value)


def _declaration(params) -> str:
    return "".join(f", double {p.name}" if p.required else f", double {p.name}={_default(p.default)}"
                   for p in params)


def api_context():
    helpers = _build_helpers()
    S = helpers._load("_fastact_spec_for_build", os.path.join(PACKAGE, "spec.py"))
    checks = helpers._load("_fastact_embed_checks_for_build", os.path.join(PACKAGE, "_embed_checks.py"))
    activations, used = [], set()
    for act in S.SPECS.values():
        if act.kind not in ("elementwise", "rrelu", "prelu"):
            continue
        params = _params(S, act)
        for name, choices in _variants(S, act):
            if act.kind == "prelu":
                family, args = "leaky_relu", ("weight",)
            else:
                family, args = S.kernel_source(act, **choices)
            from_output = act.from_output is not False and S.FAMILIES[family].from_output
            used.update([f"{family}_forward", f"{family}_backward"]
                        + ([f"{family}_backward_from_output"] if from_output else []))
            note = []
            if act.kind == "rrelu":
                note.append("eval mode: leaky_relu with slope (lower + upper) / 2")
            if act.kind == "prelu":
                note.append("one scalar slope (fastact.prelu has the per-channel form)")
            if choices:
                note.append(", ".join(f'{k}="{v}"' for k, v in choices.items()))
            if from_output and callable(act.from_output):
                note.append("from the output: " + act.from_output(-1.0))
            activations.append(SimpleNamespace(
                name=name, summary=act.summary, formula=act.formula, gradient=act.gradient,
                note="; ".join(note), family=family, decl=_declaration(params),
                kargs="".join(f", <floating>({a})" for a in args),
                locals=[f"cdef floating k{i} = <floating>({a})" for i, a in enumerate(args)],
                local_args="".join(f", k{i}" for i in range(len(args))),
                from_output=from_output,
                checks=checks.conditions(act, params),
                from_output_checks=checks.conditions(act, params, from_output=True),
            ))
    order = {f"{fam}_{d}": (i, j) for i, fam in enumerate(S.FAMILIES)
             for j, d in enumerate(("forward", "backward", "backward_from_output"))}
    return dict(activations=activations, family_functions=sorted(used, key=order.__getitem__))


def render() -> str:
    from Cython import Tempita
    with open(TEMPLATE) as f:
        text = f.read()
    body = Tempita.Template(text, name=TEMPLATE).substitute(**api_context())
    src = os.path.relpath(TEMPLATE, ROOT)
    gen = os.path.relpath(os.path.abspath(__file__), ROOT)
    # the directive line must stay first
    first, rest = body.split("\n", 1)
    return (f"{first}\n# Generated from {src} by {gen} (run by setup.py) -- do not edit.\n"
            f"# Edit the template and rebuild (pip install -e . --no-build-isolation).\n{rest}")


def generate(verbose=False) -> str:
    """Write fastact/cy.pxd (when its text changes); returns its path."""
    helpers = _build_helpers()
    changed = helpers._write(OUTPUT, render())
    if verbose:
        print(f"{'wrote' if changed else 'unchanged'} {os.path.relpath(OUTPUT, ROOT)}")
    return OUTPUT


if __name__ == "__main__":
    sys.exit(generate(verbose=True) is None)
