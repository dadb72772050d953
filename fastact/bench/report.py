"""The benchmark report: derived numbers, the printed table, markdown and JSON.

Speed is the NumPy baseline's time divided by the implementation's time (bottleneck's
convention: 10x means ten times faster than NumPy). "x torch" is PyTorch's time divided by the
best fastact backend's time, "x ort" ONNX Runtime's, and "x rival" the faster of the two
competitors' (PyTorch and ONNX Runtime, where each has the function: ONNX Runtime forward only)
divided by the best fastact time -- issue 4's target is x rival >= 1 for every function and a
geometric mean >= 2. "floor" is the time of the fastest plain memory pass with the same traffic
(`fastact.bench.floor`) divided by the best fastact backend's time: 100% means the function runs
at memory speed; compute-bound functions sit lower.

JSON schema (``results.json``, ``"schema": "fastact-bench/1"``; fields marked [1.1] were added
later, without changing the others: a reader of the first layout reads these files unchanged)::

    schema          "fastact-bench/1"
    created         ISO 8601 UTC time the run finished
    command         the command line that produced it
    duration_s      wall time of the run
    machine         {platform, cpu: {model, machine, simd: [features]}, caches: {L1d, L2, L3: size},
                     usable_cores, loadavg: {start, end}}            (1/5/15-minute load averages: a noisy neighbour shows here)
    versions        {fastact, python, numpy, numba, torch, matplotlib, onnxruntime [1.1], onnx [1.1]}
                                                                     (null when not installed)
    threads         [thread counts measured]
    fastact_config  fastact.config(): backends available (and why not) with their compiled
                    variants, the auto choice, parallel thresholds, CPU features
    options         {ops, sizes, dtypes, directions, implementations, threads, repeats,
                     min_repeats, target_s, budget_s, quick}
    implementations {name: what it is}
    notes           {function: {implementation: how it was called}}
    warmup_s        {implementation: seconds of first calls beyond the timed median (Numba compilation)}
    errors          [{function, implementation, dtype, size, threads, error}]  implementations that could not run
    results         one record per function x dtype x size x threads x implementation:
                    {function, op, activation, direction, params, dtype, size, shape, threads,
                     implementation, kind ("baseline", "fastact", "torch", "ort" [1.1], "floor"),
                     call (how it was called), median_s, min_s, iqr_s (seconds per call),
                     number (calls per timed batch), repeats (batches), first_call_s, elements_per_s,
                     speed_vs_numpy, speed_vs_torch, speed_vs_ort [1.1], floor_fraction}
                                                                     (null where undefined)
    summary         one record per function x dtype x size x threads:
                    {function, op, direction, dtype, size, threads, times_s: {implementation: median_s},
                     best (fastest fastact implementation), best_s, speed_vs_numpy, speed_vs_torch,
                     speed_vs_ort [1.1], rival [1.1] (the faster of "torch" and "ort" measured, or null),
                     rival_s [1.1], speed_vs_rival [1.1] (rival_s / best_s),
                     floor_fraction (floor time / best_s), floor_ratio [1.1] (best_s / floor time)}
    parallel        (with several thread counts) one record per function x dtype x size x
                    implementation x thread count above the smallest:
                    {function, dtype, size, implementation, base_threads, threads, base_s, time_s,
                     speedup, efficiency}                 efficiency = speedup / (threads / base_threads)
    files           names of the files written beside results.json
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import sys
from collections import defaultdict

import fastact
from fastact import _backends

from . import implementations as impl

__all__ = ["SCHEMA", "TOP_LEVEL_FIELDS", "RECORD_FIELDS", "SUMMARY_FIELDS", "PARALLEL_FIELDS",
           "build_payload", "summarize", "parallel_efficiency", "format_table", "format_parallel", "compact_table",
           "headline", "headline_sizes", "behind_rivals", "to_markdown", "write_outputs", "format_time"]

SCHEMA = "fastact-bench/1"
TOP_LEVEL_FIELDS = ("schema", "created", "command", "duration_s", "machine", "versions", "threads",
                    "fastact_config", "options", "implementations", "notes", "warmup_s", "errors",
                    "results", "summary", "parallel", "files")
RECORD_FIELDS = ("function", "op", "activation", "direction", "params", "dtype", "size", "shape",
                 "threads", "implementation", "kind", "call", "median_s", "min_s", "iqr_s", "number",
                 "repeats", "first_call_s", "elements_per_s", "speed_vs_numpy", "speed_vs_torch",
                 "speed_vs_ort", "floor_fraction")
SUMMARY_FIELDS = ("function", "op", "direction", "dtype", "size", "threads", "times_s", "best",
                  "best_s", "speed_vs_numpy", "speed_vs_torch", "speed_vs_ort", "rival", "rival_s",
                  "speed_vs_rival", "floor_fraction", "floor_ratio")
PARALLEL_FIELDS = ("function", "dtype", "size", "implementation", "base_threads", "threads",
                   "base_s", "time_s", "speedup", "efficiency")

DESCRIPTIONS = {
    "numpy": "NumPy baseline: fastact.reference writing into a preallocated array (in place: out=x)",
    "numba": "fastact's Numba backend through the public functions (backend='numba')",
    "cython": "fastact's Cython backend through the public functions (backend='cython')",
    "auto": "fastact's dispatcher choice (backend='auto', the default)",
    "torch": "PyTorch (torch.ops.aten out=/in-place/backward operators, else autograd; see notes)",
    "ort": "ONNX Runtime (a one-node ONNX model per op, io_binding into out, same thread count; forward only; "
           "ops whose values pass a numerics check against the reference; see notes and fastact.bench.ort)",
    "floor": "memory floor: the fastest plain pass with the same memory traffic (the fastest of a NumPy ufunc "
             "and Numba loops on the same threads; see fastact.bench.floor)",
}


# --- derived numbers ------------------------------------------------------------------------------

def _ratio(a, b):
    return a / b if a is not None and b else None


def _group_key(record):
    return (record["function"], record["dtype"], record["size"], record["threads"])


def summarize(records: list) -> list:
    """One row per function x dtype x size x threads (records keep their order), and the derived
    per-record fields (speed_vs_numpy, speed_vs_torch, floor_fraction, elements_per_s)."""
    groups: dict = {}
    for r in records:
        groups.setdefault(_group_key(r), []).append(r)
    summary = []
    for (function, dtype, size, threads), rows in groups.items():
        times = {r["implementation"]: r["median_s"] for r in rows}
        fastest = [r for r in rows if r["kind"] == "fastact"]
        best = min(fastest, key=lambda r: r["median_s"]) if fastest else None
        for r in rows:
            r["elements_per_s"] = r["size"] / r["median_s"] if r["median_s"] else None
            r["speed_vs_numpy"] = _ratio(times.get("numpy"), r["median_s"])
            r["speed_vs_torch"] = _ratio(times.get("torch"), r["median_s"])
            r["speed_vs_ort"] = _ratio(times.get("ort"), r["median_s"])
            r["floor_fraction"] = _ratio(times.get("floor"), r["median_s"])
        best_s = best["median_s"] if best else None
        rivals = {n: times[n] for n in impl.COMPETITORS if times.get(n)}
        rival = min(rivals, key=rivals.get) if rivals else None
        summary.append({
            "function": function, "op": rows[0]["op"], "direction": rows[0]["direction"],
            "dtype": dtype, "size": size, "threads": threads, "times_s": times,
            "best": best["implementation"] if best else None, "best_s": best_s,
            "speed_vs_numpy": _ratio(times.get("numpy"), best_s),
            "speed_vs_torch": _ratio(times.get("torch"), best_s),
            "speed_vs_ort": _ratio(times.get("ort"), best_s),
            "rival": rival, "rival_s": rivals.get(rival),
            "speed_vs_rival": _ratio(rivals.get(rival), best_s),
            "floor_fraction": _ratio(times.get("floor"), best_s),
            "floor_ratio": _ratio(best_s, times.get("floor")),
        })
    return summary


def parallel_efficiency(records: list) -> list:
    """Speedup and efficiency of every thread count over the smallest one measured."""
    by_key = defaultdict(dict)
    for r in records:
        by_key[(r["function"], r["dtype"], r["size"], r["implementation"])][r["threads"]] = r["median_s"]
    rows = []
    for (function, dtype, size, name), times in by_key.items():
        if len(times) < 2:
            continue
        base = min(times)
        for threads, t in sorted(times.items()):
            if threads == base:
                continue
            speedup = times[base] / t
            rows.append({"function": function, "dtype": dtype, "size": size, "implementation": name,
                         "base_threads": base, "threads": threads, "base_s": times[base], "time_s": t,
                         "speedup": speedup, "efficiency": speedup / (threads / base)})
    return rows


def _geomean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


#: Sizes (elements) from which the headline reports: the targets of issue 4 are at 10^6 and 10^7.
HEADLINE_FROM = 10**6


def headline_sizes(summary: list) -> list:
    """The sizes the headline covers: every size from `HEADLINE_FROM` on, else the largest."""
    sizes = sorted({s["size"] for s in summary})
    return [n for n in sizes if n >= HEADLINE_FROM] or sizes[-1:]


def headline(summary: list) -> list:
    """Per direction, dtype, size (`headline_sizes`) and thread count: geometric means of the best
    fastact backend's speed over NumPy, PyTorch, ONNX Runtime and the faster of those two, of its
    floor fraction, and how many functions are at least as fast as the faster rival."""
    lines = []
    sizes = headline_sizes(summary)
    keys = sorted({(s["direction"], s["dtype"], s["size"], s["threads"]) for s in summary if s["size"] in sizes},
                  key=lambda k: (impl.DIRECTIONS.index(k[0]), k[1], k[2], k[3]))
    for direction, dtype, size, threads in keys:
        rows = [s for s in summary if (s["direction"], s["dtype"], s["size"], s["threads"]) == (direction, dtype, size, threads)]
        numpy_speed = _geomean([s["speed_vs_numpy"] for s in rows])
        if numpy_speed is None:
            continue
        text = (f"{direction:8s} {dtype} {impl.size_label(size)}, {threads} thread{'s' if threads > 1 else ''}: "
                f"best fastact backend {numpy_speed:.3g}x NumPy")
        for field, name in (("speed_vs_torch", "PyTorch"), ("speed_vs_ort", "ONNX Runtime")):
            values = [s[field] for s in rows if s.get(field)]
            if values:
                text += f", {_geomean(values):.3g}x {name}" + (f" ({len(values)})" if len(values) < len(rows) else "")
        rival = [s for s in rows if s.get("speed_vs_rival")]
        if rival:
            behind = [s["function"] for s in rival if s["speed_vs_rival"] < 1]
            both = any(s.get("speed_vs_ort") for s in rows) and any(s.get("speed_vs_torch") for s in rows)
            count = f"at least as fast on {len(rival) - len(behind)} of {len(rival)}"
            text += (f", {_geomean([s['speed_vs_rival'] for s in rival]):.3g}x the faster of them ({count})" if both
                     else f" ({count})")
        floor = _geomean([s["floor_fraction"] for s in rows])
        if floor:
            text += f", {floor:.0%} of the memory floor"
            if direction == "inplace":          # issue 4: every forward in place within 1.5x of the floor
                near = [s for s in rows if s.get("floor_ratio") and s["floor_ratio"] <= 1.5]
                text += f" (within 1.5x of it on {len(near)} of {len(rows)})"
        lines.append(text + f" (geometric means over {len(rows)} functions)")
    return lines


def behind_rivals(summary: list) -> list:
    """(function, dtype, size, threads, rival, speed_vs_rival) where the best fastact backend is
    slower than the faster of PyTorch and ONNX Runtime, at the headline sizes."""
    sizes = headline_sizes(summary)
    return [(s["function"], s["dtype"], s["size"], s["threads"], s["rival"], s["speed_vs_rival"])
            for s in summary if s["size"] in sizes and s.get("speed_vs_rival") and s["speed_vs_rival"] < 1]


# --- formatting -----------------------------------------------------------------------------------

def format_time(seconds) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def _speed(x) -> str:
    return "-" if x is None else f"{x:.3g}x"


def _percent(x) -> str:
    return "-" if x is None else f"{x:.0%}"


def _columns(summary, implementations):
    names = [n for n in implementations if any(n in s["times_s"] for s in summary)]
    rivals = [n for n in impl.COMPETITORS if n in names]
    header = (["function", "dtype", "size"] + names + ["best", "x numpy"] + [f"x {n}" for n in rivals]
              + (["x rival"] if len(rivals) > 1 else []) + ["floor"])
    rows = []
    for s in summary:
        row = [s["function"], s["dtype"], impl.size_label(s["size"])]
        row += [format_time(s["times_s"].get(n)) for n in names]
        row += [s["best"] or "-", _speed(s["speed_vs_numpy"])]
        row += [_speed(s.get(f"speed_vs_{n}")) for n in rivals]
        if len(rivals) > 1:
            row.append(_speed(s.get("speed_vs_rival")))
        row.append(_percent(s["floor_fraction"]))
        rows.append(row)
    return header, rows


def _text_table(header, rows, separate_on=0):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    left = {0, 1}

    def line(cells):
        return "  ".join(str(c).ljust(w) if i in left else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(header), line(["-" * w for w in widths])]
    previous = None
    for row in rows:
        key = row[separate_on].split("_")[0].split("[")[0]
        if previous is not None and key != previous:
            out.append("")
        previous = key
        out.append(line(row))
    return "\n".join(out)


def _by_threads(summary):
    result = defaultdict(list)
    for s in summary:
        result[s["threads"]].append(s)
    return dict(sorted(result.items()))


def format_table(summary: list, implementations) -> str:
    """The printed report: one table per thread count, times per call and speeds."""
    blocks = []
    for threads, rows in _by_threads(summary).items():
        header, table = _columns(rows, implementations)
        blocks.append(f"{threads} thread{'s' if threads > 1 else ''}:\n" + _text_table(header, table))
    return "\n\n".join(blocks)


def format_parallel(parallel: list, implementations) -> str:
    if not parallel:
        return ""
    names = [n for n in implementations if any(p["implementation"] == n for p in parallel)]
    pairs = sorted({(p["base_threads"], p["threads"]) for p in parallel})
    blocks = []
    for base, threads in pairs:
        cells = {}
        for p in parallel:
            if (p["base_threads"], p["threads"]) == (base, threads):
                cells.setdefault((p["function"], p["dtype"], p["size"]), {})[p["implementation"]] = p
        header = ["function", "dtype", "size"] + names
        rows = [[f, d, impl.size_label(n)] + [
            f"{c[name]['speedup']:.2f}x ({c[name]['efficiency']:.0%})" if name in c else "-" for name in names]
            for (f, d, n), c in cells.items()]
        blocks.append(f"Parallel speedup of {threads} threads over {base} (efficiency = speedup / {threads // base if threads % base == 0 else threads / base}):\n"
                      + _text_table(header, rows))
    return "\n\n".join(blocks)


def compact_table(summary: list, size=None, dtype=None, threads=None) -> str:
    """Markdown: one row per op, one column per direction, each cell "time of the best fastact
    backend (x NumPy, x PyTorch, fraction of the floor)"; at the largest size by default."""
    size = size or max(s["size"] for s in summary)
    dtype = dtype or summary[0]["dtype"]
    threads = threads or max(s["threads"] for s in summary)
    rows = [s for s in summary if (s["size"], s["dtype"], s["threads"]) == (size, dtype, threads)]
    directions = [d for d in impl.DIRECTIONS if any(s["direction"] == d for s in rows)]
    has_torch = any(s["speed_vs_torch"] for s in rows)
    cells: dict = {}
    for s in rows:
        parts = [_speed(s["speed_vs_numpy"]) + " NumPy"]
        if has_torch:
            parts.append(_speed(s["speed_vs_torch"]) + " torch")
        if s.get("speed_vs_ort"):
            parts.append(_speed(s["speed_vs_ort"]) + " ORT")
        parts.append(_percent(s["floor_fraction"]) + " floor")
        text = f"{format_time(s['best_s'])} ({', '.join(parts)})" if s["best_s"] else "-"
        cells.setdefault(s["op"], {})[s["direction"]] = text
    titles = {"forward": "forward (into out)", "inplace": "in place", "backward": "backward (into out)"}
    return _markdown_table(["op"] + [titles[d] for d in directions],
                           [[op] + [c.get(d, "-") for d in directions] for op, c in cells.items()],
                           left=len(directions) + 1)


def ratio_table(summary: list, size, dtype, threads) -> str:
    """Markdown: one row per function (op and direction) at one size, dtype and thread count: the
    best fastact backend's time and its ratios to NumPy, PyTorch, ONNX Runtime, the faster of
    those two (the rival) and the memory floor (as speed: floor time / fastact time)."""
    rows = [s for s in summary if (s["size"], s["dtype"], s["threads"]) == (size, dtype, threads)]
    order = {d: i for i, d in enumerate(impl.DIRECTIONS)}
    ops = list(dict.fromkeys(s["op"] for s in rows))
    rows.sort(key=lambda s: (ops.index(s["op"]), order[s["direction"]]))
    body = []
    for s in rows:
        rival = "-"
        if s.get("speed_vs_rival"):
            rival = f"{_speed(s['speed_vs_rival'])} ({s['rival']})" + (" **behind**" if s["speed_vs_rival"] < 1 else "")
        body.append([s["op"], s["direction"], s["best"] or "-", format_time(s["best_s"]),
                     _speed(s["speed_vs_numpy"]), _speed(s.get("speed_vs_torch")), _speed(s.get("speed_vs_ort")),
                     rival, _percent(s["floor_fraction"])])
    for direction in impl.DIRECTIONS:
        these = [s for s in rows if s["direction"] == direction]
        if not these:
            continue
        means = [_geomean([s.get(f) for s in these]) for f in ("speed_vs_numpy", "speed_vs_torch", "speed_vs_ort",
                                                               "speed_vs_rival", "floor_fraction")]
        body.append([f"**geometric mean** ({len(these)})", direction, "", "", _speed(means[0]), _speed(means[1]),
                     _speed(means[2]), _speed(means[3]), _percent(means[4])])
    return _markdown_table(["op", "direction", "best", "time", "x NumPy", "x PyTorch", "x ORT",
                            "x faster of PyTorch/ORT", "floor"], body, left=3)


def _markdown_table(header, rows, left: int = 2) -> str:
    """Columns before `left` are left-aligned, the others (numbers) right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _versions() -> dict:
    from importlib import metadata
    versions = {"fastact": fastact.__version__, "python": sys.version.split()[0]}
    for module in ("numpy", "numba", "torch", "matplotlib", "onnxruntime", "onnx"):
        try:
            versions[module] = metadata.version(module)
        except metadata.PackageNotFoundError:
            versions[module] = None
    return versions


def _config() -> dict:
    """fastact.config(), or as much of it as a half-built backend lets us see."""
    try:
        return fastact.config()
    except Exception as exc:
        from fastact import _config as settings
        from fastact._info import cpu_features
        backends = {}
        for name in _backends_names():
            try:
                entry = {"available": _backends.available(name), "reason": _backends.why_unavailable(name)}
                module = _backends.load(name)
                if module is not None and hasattr(module, "info"):
                    entry.update(module.info())
            except Exception as inner:
                entry = {"available": False, "reason": f"{type(inner).__name__}: {inner}"}
            backends[name] = entry
        return {"version": fastact.__version__, "error": f"fastact.config() failed: {type(exc).__name__}: {exc}",
                "backends": backends, "num_threads": settings.get_num_threads(),
                "usable_cores": settings.usable_cores(), "cpu": cpu_features()}


def _backends_names():
    return list(_backends.KERNEL_BACKENDS) + ["numpy"]


def cpu_caches() -> dict:
    """Data cache sizes per level as Linux reports them ({"L1d": "48K", "L2": "2M", ...}): whether
    an array fits in cache decides what a "memory" floor measures."""
    caches = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(base)):
            if not entry.startswith("index"):
                continue
            with open(os.path.join(base, entry, "level")) as f:
                level = f.read().strip()
            with open(os.path.join(base, entry, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(base, entry, "size")) as f:
                size = f.read().strip()
            if size.endswith("K") and size[:-1].isdigit() and int(size[:-1]) >= 1024:
                size = f"{int(size[:-1]) / 1024:g}M"
            if kind != "Instruction":
                caches[f"L{level}" + ("d" if kind == "Data" else "")] = size
    except OSError:
        pass
    return caches


def build_payload(result, options, command: str) -> dict:
    """The JSON document (schema in the module docstring)."""
    summary = summarize(result.records)
    config = _config()
    return {
        "schema": SCHEMA,
        "created": datetime.datetime.fromtimestamp(result.finished, datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "duration_s": result.finished - result.started,
        "machine": {"platform": platform.platform(), "cpu": config["cpu"], "caches": cpu_caches(),
                    "usable_cores": config["usable_cores"], "loadavg": result.loadavg},
        "versions": _versions(),
        "threads": list(options.threads),
        "fastact_config": config,
        "options": {"ops": [op.label for op in options.ops], "sizes": list(options.sizes),
                    "dtypes": list(options.dtypes), "directions": list(options.directions),
                    "implementations": list(options.implementations), "threads": list(options.threads),
                    "repeats": options.repeats, "min_repeats": options.min_repeats,
                    "target_s": options.target, "budget_s": options.budget, "quick": options.quick},
        "implementations": {n: DESCRIPTIONS.get(n, n) for n in options.implementations},
        "notes": result.notes,
        "warmup_s": {k: round(v, 3) for k, v in result.warmup.items()},
        "errors": result.errors,
        "results": result.records,
        "summary": summary,
        "parallel": parallel_efficiency(result.records),
        "files": [],
    }


def _load(values) -> str:
    return "-" if not values else ", ".join(f"{v:.2f}" for v in values)


def _machine_lines(payload) -> list:
    cpu = payload["machine"]["cpu"]
    versions = payload["versions"]
    config = payload["fastact_config"]
    backends = []
    for name, entry in config["backends"].items():
        if entry.get("available"):
            extra = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("available", "reason"))
            backends.append(f"{name} ({extra})" if extra else name)
    load = payload["machine"]["loadavg"]
    return [
        f"Date: {payload['created']}",
        f"CPU: {cpu['model']} ({cpu['machine']}), {payload['machine']['usable_cores']} usable cores; "
        f"SIMD: {' '.join(cpu['simd']) or 'none seen'}"
        + ("; caches: " + ", ".join(f"{k} {v}" for k, v in payload["machine"].get("caches", {}).items())
           if payload["machine"].get("caches") else ""),
        f"Threads: {', '.join(map(str, payload['threads']))} (fastact.set_num_threads, torch.set_num_threads, ONNX Runtime intra_op_num_threads)",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
        "Backends: " + "; ".join(backends),
        f"Load average (1, 5, 15 min) at start / end: {_load(load.get('start'))} / {_load(load.get('end'))}",
        f"Command: {payload['command']}",
    ]


def to_markdown(payload, png_files=()) -> str:
    summary = payload["summary"]
    names = payload["options"]["implementations"]
    out = ["# fastact benchmark report", ""]
    out += [f"- {line}" for line in _machine_lines(payload)]
    out += ["", "Times are medians per call. Speed (x numpy, x torch, x ort) is NumPy's (PyTorch's, ONNX "
            "Runtime's) time divided by the best fastact backend's time; x rival uses the faster of PyTorch and "
            "ONNX Runtime; floor is the time of the fastest plain memory pass with the same traffic divided by "
            "the best fastact time (100% = memory speed).", ""]
    lines = headline(summary)
    if lines:
        out += ["## Headline", ""] + [f"- {line}" for line in lines] + [""]
    behind = behind_rivals(summary)
    if any(s.get("speed_vs_rival") for s in summary):
        if behind:
            out += ["Behind the faster of PyTorch and ONNX Runtime (x rival < 1): "
                    + "; ".join(f"{f} {d} {impl.size_label(n)} {t}t ({r}, {v:.2f}x)" for f, d, n, t, r, v in behind)
                    + ".", ""]
        else:
            out += ["At least as fast as the faster of PyTorch and ONNX Runtime in every function measured at the "
                    "headline sizes.", ""]
    largest = max((s["size"] for s in summary), default=None)
    for size in headline_sizes(summary):
        for dtype in dict.fromkeys(s["dtype"] for s in summary):
            for threads in _by_threads(summary):
                table = ratio_table(summary, size, dtype, threads)
                if table.count("\n") > 2:
                    out += [f"## Ratios at {impl.size_label(size)} {dtype}, {threads} thread{'s' if threads > 1 else ''}", "",
                            "The best fastact backend per function: its time, its speed over NumPy, PyTorch, ONNX "
                            "Runtime and the faster of those two, and the floor's time as a fraction of its time.", "",
                            table, ""]
    for dtype in dict.fromkeys(s["dtype"] for s in summary):
        for threads in _by_threads(summary):
            out += [f"## Summary at {impl.size_label(largest)} {dtype}, {threads} thread{'s' if threads > 1 else ''}", "",
                    "Time per call of the best fastact backend (its speed over NumPy and PyTorch, and the "
                    "memory floor's time as a fraction of it).", "",
                    compact_table(summary, largest, dtype, threads), ""]
    for threads, rows in _by_threads(summary).items():
        header, table = _columns(rows, names)
        out += [f"## All results, {threads} thread{'s' if threads > 1 else ''}", "", _markdown_table(header, table), ""]
    parallel = payload["parallel"]
    if parallel:
        impls = [n for n in names if any(p["implementation"] == n for p in parallel)]
        cells = {}
        for p in parallel:
            cells.setdefault((p["function"], p["dtype"], p["size"], p["base_threads"], p["threads"]), {})[p["implementation"]] = p
        header = ["function", "dtype", "size", "threads"] + impls
        rows = [[f, d, impl.size_label(n), f"{b} -> {t}"] + [
            f"{c[i]['speedup']:.2f}x ({c[i]['efficiency']:.0%})" if i in c else "-" for i in impls]
            for (f, d, n, b, t), c in cells.items()]
        out += ["## Parallel speedup (efficiency)", "", _markdown_table(header, rows), ""]
    if png_files:
        out += ["## Plots", ""] + [f"![{name}]({name})" for name in png_files] + [""]
    out += ["## Implementations", ""] + [f"- **{k}**: {v}" for k, v in payload["implementations"].items()] + [""]
    torch_notes = [(f, n["torch"]) for f, n in payload["notes"].items() if "torch" in n]
    floor_notes = sorted({r["call"] for r in payload["results"] if r["implementation"] == "floor"})
    if floor_notes:
        out += ["Floor passes: " + "; ".join(floor_notes) + ".", ""]
    if torch_notes:
        out += ["How PyTorch was called:", "", _markdown_table(["function", "PyTorch call"], torch_notes), ""]
    ort_notes = [(f, n["ort"]) for f, n in payload["notes"].items() if "ort" in n]
    ort_errors = {}
    for e in payload["errors"]:
        if e["implementation"] == "ort":
            ort_errors.setdefault((e["function"], e["error"]), []).append(e["dtype"])
    if ort_notes or ort_errors:
        rows = [(f, note) for f, note in ort_notes]
        rows += [(f, f"not timed ({', '.join(dict.fromkeys(dtypes))}): {error}") for (f, error), dtypes in ort_errors.items()]
        out += ["How ONNX Runtime was called (forward only; not timed where it has no operator with PyTorch's "
                "definition, no kernel for the dtype, or values that fail the numerics check):", "",
                _markdown_table(["function", "ONNX Runtime call"], rows), ""]
    warm = {k: v for k, v in payload["warmup_s"].items() if v >= 0.05}
    if warm:
        out += ["Warm-up excluded from the timings (first calls; Numba compiles or loads its cache): "
                + ", ".join(f"{k} {v:.1f} s" for k, v in warm.items()) + ".", ""]
    if any(e["implementation"] != "ort" for e in payload["errors"]):
        seen = {}
        for e in payload["errors"]:
            if e["implementation"] == "ort":
                continue                        # listed with the ONNX Runtime calls
            seen.setdefault((e["implementation"], e["error"]), []).append(e["function"])
        out += ["## Could not run", ""] + [f"- {i}: {err} ({', '.join(sorted(set(fs)))})" for (i, err), fs in seen.items()] + [""]
    return "\n".join(out)


def _clean(value):
    """JSON without NaN/inf."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def write_outputs(payload: dict, directory: str, plots: bool = True, log=print) -> list:
    """Write results.json, results.md, results.txt and (with matplotlib) the PNG plots into
    `directory`; returns the file names."""
    os.makedirs(directory, exist_ok=True)
    files = ["results.json", "results.md", "results.txt"]
    png = []
    if plots:
        from . import plots as plotting
        if plotting.available():
            png = plotting.write_plots(payload, directory)
        else:
            log(f"note: no plots: {plotting.MISSING}")
    files += png
    payload["files"] = files
    with open(os.path.join(directory, "results.md"), "w", encoding="utf-8") as f:
        f.write(to_markdown(payload, png) + "\n")
    with open(os.path.join(directory, "results.txt"), "w", encoding="utf-8") as f:
        f.write(text_report(payload) + "\n")
    with open(os.path.join(directory, "results.json"), "w", encoding="utf-8") as f:
        json.dump(_clean(payload), f, indent=1)
        f.write("\n")
    return files


def text_report(payload: dict) -> str:
    names = payload["options"]["implementations"]
    parts = ["\n".join(_machine_lines(payload)), "",
             "Speed is NumPy time divided by the implementation's time; 'x numpy', 'x torch', 'x ort' are for the "
             "best fastact backend, 'x rival' against the faster of PyTorch and ONNX Runtime; "
             "'floor' = fastest plain memory pass time / best fastact time (100% = memory speed).",
             "", format_table(payload["summary"], names)]
    parallel = format_parallel(payload["parallel"], names)
    if parallel:
        parts += ["", parallel]
    lines = headline(payload["summary"])
    if lines:
        parts += ["", "Headline:"] + [f"  {line}" for line in lines]
    behind = behind_rivals(payload["summary"])
    if behind:
        parts += ["", "Behind the faster of PyTorch and ONNX Runtime: "
                  + ", ".join(f"{f} {d} {impl.size_label(n)} {t}t ({r} {v:.2f}x)" for f, d, n, t, r, v in behind)]
    warm = {k: v for k, v in payload["warmup_s"].items() if v >= 0.05}
    if warm:
        parts += ["", "Warm-up excluded from the timings (first calls; Numba compiles or loads its cache): "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in warm.items())]
    return "\n".join(parts)
