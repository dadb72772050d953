"""PNG plots of a benchmark payload (needs matplotlib: ``pip install "fastact[bench]"``).

* ``throughput_<direction>_<dtype>_<T>t.png``: elements per second against size, one panel per op,
  one line per implementation (the floor dashed).
* ``speedup_<dtype>_<T>t.png``: at the largest size, speed over the NumPy baseline per function,
  one bar per implementation growing from 1 (NumPy), the floor as a black mark, one panel per
  direction (log scale); ``speedup_summary_<dtype>_<T>t.png``: the same with auto, PyTorch and ONNX Runtime only,
  small.

Figures are drawn with matplotlib's object API on an Agg canvas: no pyplot, no global state.
"""
from __future__ import annotations

import importlib.util
import math
import os

from . import implementations as impl

__all__ = ["available", "MISSING", "write_plots", "speedup_figure", "throughput_figure"]

MISSING = ('matplotlib is not installed; install it for PNG plots: pip install "fastact[bench]" '
           "(or pip install matplotlib)")

COLORS = {"numpy": "#7f7f7f", "numba": "#1f77b4", "cython": "#2ca02c", "auto": "#9467bd",
          "torch": "#d62728", "ort": "#ff7f0e", "floor": "#000000"}
_TITLES = {"forward": "forward (into out)", "inplace": "in place", "backward": "backward (into out)"}


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _implementations(payload):
    return [n for n in payload["options"]["implementations"]]


def throughput_figure(payload, direction, dtype, threads):
    records = [r for r in payload["results"]
               if (r["direction"], r["dtype"], r["threads"]) == (direction, dtype, threads) and r["elements_per_s"]]
    ops = list(dict.fromkeys(r["op"] for r in records))
    if not ops:
        return None
    columns = min(6, len(ops))
    rows = math.ceil(len(ops) / columns)
    fig = _figure(2.6 * columns, 2.1 * rows + 0.6)
    names = _implementations(payload)
    handles = {}
    for i, op in enumerate(ops):
        ax = fig.add_subplot(rows, columns, i + 1)
        for name in names:
            points = sorted((r["size"], r["elements_per_s"]) for r in records
                            if r["op"] == op and r["implementation"] == name)
            if not points:
                continue
            xs, ys = zip(*points)
            (line,) = ax.plot(xs, [y / 1e9 for y in ys], marker="o", markersize=3, linewidth=1.2,
                              color=COLORS.get(name), linestyle="--" if name == "floor" else "-", label=name)
            handles.setdefault(name, line)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(op, fontsize=9)
        ax.tick_params(labelsize=7)
        if i % columns == 0:
            ax.set_ylabel("Gelem/s", fontsize=8)
    top = 1 - 0.75 / fig.get_figheight()
    fig.suptitle(f"Throughput (elements per second) against size: {_TITLES[direction]}, {dtype}, "
                 f"{threads} thread{'s' if threads > 1 else ''}", fontsize=10, y=0.995)
    fig.legend(list(handles.values()), list(handles), loc="upper center", ncol=len(handles), fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, 1 - 0.3 / fig.get_figheight()))
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def speedup_figure(payload, dtype, threads, size=None, directions=None, width=None, implementations=None,
                   height=2.8):
    """Bars of speed over NumPy per op at one size (default: the largest), one panel per direction;
    `implementations` limits the bars (the floor is always marked)."""
    records = [r for r in payload["results"] if (r["dtype"], r["threads"]) == (dtype, threads)]
    if not records:
        return None
    size = size or max(r["size"] for r in records)
    records = [r for r in records if r["size"] == size and r["implementation"] != "numpy"
               and r["speed_vs_numpy"]]
    directions = [d for d in (directions or impl.DIRECTIONS) if any(r["direction"] == d for r in records)]
    if not directions:
        return None
    names = [n for n in (implementations or _implementations(payload))
             if n not in ("numpy", "floor") and any(r["implementation"] == n for r in records)]
    ops = list(dict.fromkeys(r["op"] for r in records))
    fig = _figure(width or max(8.0, 0.42 * len(ops) * max(1, len(names)) ** 0.5 + 2), height * len(directions) + 0.8)
    bar = 0.8 / max(1, len(names))
    for row, direction in enumerate(directions):
        ax = fig.add_subplot(len(directions), 1, row + 1)
        for k, name in enumerate(names):
            values = {r["op"]: r["speed_vs_numpy"] for r in records
                      if r["direction"] == direction and r["implementation"] == name}
            xs = [i + (k - (len(names) - 1) / 2) * bar for i, op in enumerate(ops) if op in values]
            ys = [values[op] for op in ops if op in values]
            # bars grow from 1 (NumPy): up when faster, down when slower
            ax.bar(xs, [y - 1 for y in ys], bottom=1, width=bar, color=COLORS.get(name), label=name)
        floor = {r["op"]: r["speed_vs_numpy"] for r in records
                 if r["direction"] == direction and r["implementation"] == "floor"}
        if floor:
            ax.plot([i for i, op in enumerate(ops) if op in floor], [floor[op] for op in ops if op in floor],
                    linestyle="none", marker="_", markersize=max(6, 40 / max(1, len(ops)) ** 0.5 * 3),
                    markeredgewidth=1.6, color=COLORS["floor"], label="floor (memory pass)")
        ax.axhline(1.0, color="#7f7f7f", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(ops)))
        ax.set_xticklabels(ops if row == len(directions) - 1 else [""] * len(ops), rotation=60, ha="right",
                           fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel(f"{_TITLES[direction]}\nx NumPy", fontsize=8)
        ax.set_xlim(-0.6, len(ops) - 0.4)
        ax.grid(axis="y", which="major", linewidth=0.3)
        if row == 0:
            ax.legend(ncol=len(names) + 1, fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0),
                      frameon=False, borderaxespad=0.2, markerscale=0.4)
    fig.suptitle(f"Speed over the NumPy baseline at {impl.size_label(size)} {dtype}, "
                 f"{threads} thread{'s' if threads > 1 else ''} (log scale; higher is faster)",
                 fontsize=9, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def write_plots(payload, directory) -> list:
    """Write every plot of `payload` into `directory`; returns the file names."""
    files = []
    keys = sorted({(r["dtype"], r["threads"]) for r in payload["results"]})
    for dtype, threads in keys:
        fig = speedup_figure(payload, dtype, threads)
        if fig is not None:
            name = f"speedup_{dtype}_{threads}t.png"
            fig.savefig(os.path.join(directory, name))
            files.append(name)
        fig = speedup_figure(payload, dtype, threads, implementations=["auto", "torch", "ort"], width=11, height=2.0)
        if fig is not None:
            name = f"speedup_summary_{dtype}_{threads}t.png"
            fig.savefig(os.path.join(directory, name), dpi=90)
            files.append(name)
        for direction in impl.DIRECTIONS:
            fig = throughput_figure(payload, direction, dtype, threads)
            if fig is not None:
                name = f"throughput_{direction}_{dtype}_{threads}t.png"
                fig.savefig(os.path.join(directory, name))
                files.append(name)
    return files
