"""Write a benchmark run into docs/benchmarks.md: the section between the results markers.

    python -m fastact bench --sizes 1e6,1e7 --dtypes float32,float64 --threads 2 --output out/
    python benchmarks/results_section.py out/ [--floor floor.md] [--note "text"] [--extra out-1thread/]

Reads ``out/results.json``; writes machine, command, load, the headline (geometric means), the
functions behind the faster of PyTorch and ONNX Runtime, one ratio table per size and dtype
(time, x NumPy, x PyTorch, x ONNX Runtime, x the faster of them, floor), how PyTorch and ONNX
Runtime were called, and (``--floor``) the output of ``benchmarks/measure_floor.py``; copies the
run's ``speedup_summary_float32_<T>t.png`` to ``docs/bench_speedup_float32_<T>t.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fastact.bench import implementations as impl  # noqa: E402
from fastact.bench import report  # noqa: E402

START = "<!-- results:start (generated from the run's results.json by benchmarks/results_section.py) -->"
END = "<!-- results:end -->"


def extra_section(payload) -> str:
    """Ratio tables of a second run (another thread count, say), with its command and load."""
    summary = payload["summary"]
    load = payload["machine"]["loadavg"]
    out = []
    for size in sorted(report.headline_sizes(summary), reverse=True):
        for dtype in dict.fromkeys(s["dtype"] for s in summary):
            for t in sorted({s["threads"] for s in summary}):
                out += [f"### Every function at {impl.size_label(size)} {dtype}, {t} thread{'s' if t > 1 else ''} "
                        "(a second run)", "",
                        f"`{payload['command']}`, {payload['created']}, load average at start / end "
                        f"{report._load(load.get('start'))} / {report._load(load.get('end'))}.", "",
                        "\n".join(f"- {line}" for line in report.headline(summary)
                                  if f"{impl.size_label(size)}, {t} thread" in line and dtype in line), "",
                        report.ratio_table(summary, size, dtype, t), ""]
    return "\n".join(out)


def section(payload, floor_table=None, note=None, image=None, extra=None) -> str:
    summary = payload["summary"]
    out = ["## Results on this machine", ""]
    out += [f"- {line}" for line in report._machine_lines(payload)]
    out += [f"- Duration: {payload['duration_s'] / 60:.1f} minutes", ""]
    if note:
        out += [note, ""]
    if image:
        out += [f"![Speed over NumPy: fastact, PyTorch and ONNX Runtime]({image})", ""]
    out += ["### Headline (geometric means)", ""] + [f"- {line}" for line in report.headline(summary)] + [""]
    behind = report.behind_rivals(summary)
    if behind:
        out += ["### Behind the faster of PyTorch and ONNX Runtime", "",
                "Issue 4's target is at least the faster competitor's speed for every function (x rival >= 1) "
                "and a geometric mean >= 2x. Missed in this run:", "",
                report._markdown_table(["function", "dtype", "size", "faster rival", "x rival"],
                                       [[f, d, impl.size_label(n), r, f"{v:.2f}x"] for f, d, n, t, r, v in behind],
                                       left=4), ""]
    threads = sorted({s["threads"] for s in summary})
    for size in sorted(report.headline_sizes(summary), reverse=True):
        for dtype in dict.fromkeys(s["dtype"] for s in summary):
            for t in threads:
                out += [f"### Every function at {impl.size_label(size)} {dtype}, {t} thread{'s' if t > 1 else ''}", "",
                        "The best fastact backend: its time per call, its speed over NumPy, PyTorch, ONNX Runtime and "
                        "the faster of those two, and the floor's time as a fraction of its time (100% = memory speed).",
                        "", report.ratio_table(summary, size, dtype, t), ""]
    if extra:
        out += [extra_section(extra)]
    if floor_table:
        out += ["### The floor's evidence (`benchmarks/measure_floor.py`)", "", floor_table.strip(), ""]
    notes = payload["notes"]
    torch_rows = [(f, n["torch"]) for f, n in notes.items() if "torch" in n]
    if torch_rows:
        out += ["### How PyTorch was called", "", report._markdown_table(["function", "PyTorch call"], torch_rows), ""]
    ort_rows = [(f, n["ort"]) for f, n in notes.items() if "ort" in n]
    why = {}
    for e in payload["errors"]:
        if e["implementation"] == "ort":
            why.setdefault((e["function"], e["error"].replace("Unsupported: ", "")), []).append(e["dtype"])
    ort_rows += [(f, f"not timed in {', '.join(dict.fromkeys(d))}: {error}") for (f, error), d in why.items()]
    if ort_rows:
        out += ["### How ONNX Runtime was called", "", report._markdown_table(["function", "ONNX Runtime call"], ort_rows), ""]
    floors = sorted({r["call"] for r in payload["results"] if r["implementation"] == "floor"})
    if floors:
        out += ["Floor passes that won somewhere in this run: " + "; ".join(floors) + ".", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="the --output directory of python -m fastact bench")
    parser.add_argument("--floor", help="a file with the markdown table printed by benchmarks/measure_floor.py")
    parser.add_argument("--note", help="a paragraph to add under the machine description")
    parser.add_argument("--extra", metavar="DIR", help="a second run (e.g. one thread) whose ratio tables follow")
    parser.add_argument("--docs", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    args = parser.parse_args(argv)
    with open(os.path.join(args.run, "results.json"), encoding="utf-8") as f:
        payload = json.load(f)
    image = None
    threads = max(payload["threads"])
    png = os.path.join(args.run, f"speedup_summary_float32_{threads}t.png")
    if os.path.exists(png):
        image = f"bench_speedup_float32_{threads}t.png"
        shutil.copy(png, os.path.join(os.path.dirname(args.docs), image))
    floor_table = open(args.floor, encoding="utf-8").read() if args.floor else None
    text = open(args.docs, encoding="utf-8").read()
    begin = text.index("<!-- results:start")
    end = text.index(END)
    extra = None
    if args.extra:
        with open(os.path.join(args.extra, "results.json"), encoding="utf-8") as f:
            extra = json.load(f)
    text = text[:begin] + START + "\n" + section(payload, floor_table, args.note, image, extra) + "\n" + text[end:]
    with open(args.docs, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote the results of {args.run} into {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
