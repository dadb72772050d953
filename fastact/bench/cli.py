"""``python -m fastact bench`` (also ``fastact-bench``): the benchmark report.

Times every activation forward (into a preallocated array), in place and backward, for the
NumPy baseline, every available fastact backend, the dispatcher's choice ("auto"), PyTorch and
ONNX Runtime (forward only) when they are installed, and the fastest plain memory pass (the
floor); prints time per call and speed over NumPy, PyTorch, ONNX Runtime and the faster of those
two; writes results.json, results.md, results.txt and PNG plots into --output.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import os
import shlex
import sys
import time

from fastact import _backends

__all__ = ["add_arguments", "run", "QUICK"]

#: What --quick means: enough to see the picture in under a minute.
QUICK = {"sizes": [10**3, 10**5, 10**6], "dtypes": ["float32"], "repeats": 5, "target": 0.001, "budget": 0.1,
         "settle": 0.005}
DEFAULTS = {"repeats": 7, "target": 0.005, "budget": 1.0, "settle": 0.03}
DTYPES = ("float32", "float64")
_DIRECTION_ALIASES = {"forward": "forward", "fwd": "forward", "inplace": "inplace", "in-place": "inplace",
                      "in_place": "inplace", "backward": "backward", "bwd": "backward"}

EPILOG = """\
examples:
  python -m fastact bench --quick                       # a first look, under a minute
  python -m fastact bench --ops relu,gelu --sizes 1e5,1e7 --dtypes float32
  python -m fastact bench --threads 1,2 --output results/   # also reports parallel efficiency
  fastact-bench --backends numba,torch --directions backward
  python -m fastact bench --sizes 1e6,1e7 --dtypes float32,float64 --threads 2   # issue 4's targets (with torch, onnxruntime)

Speed is the NumPy baseline's time divided by an implementation's time; "x rival" is the faster
of PyTorch and ONNX Runtime divided by fastact's time. The floor is the fastest plain memory pass
with the same traffic (copy for forward, read+write for in place, two reads and a write for
backward): the speed limit of a memory-bound function.
The pytest-benchmark suite (finer control, --benchmark-compare): pytest benchmarks --benchmark-only
"""


def _split(values):
    """'a,b' and repeated options -> ['a', 'b']."""
    items = []
    for value in values or []:
        items += [v.strip() for v in value.split(",") if v.strip()]
    return items


def _size(text: str) -> int:
    t = text.replace("_", "").lower()
    try:
        if "^" in t or "**" in t:
            base, exponent = t.replace("**", "^").split("^")
            value = int(base) ** int(exponent)
        elif "e" in t:
            value = float(t)
            if value != int(value):
                raise ValueError
            value = int(value)
        else:
            value = int(t)
    except ValueError:
        raise ValueError(f"invalid size {text!r}: give element counts such as 1000, 1e5 or 10^7") from None
    if value < 1:
        raise ValueError(f"invalid size {text!r}: sizes must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    choices = parser.add_argument_group("what to measure")
    choices.add_argument("--ops", action="append", metavar="NAMES",
                         help="comma-separated activations (default: all), e.g. relu,gelu; a variant such as "
                              "'gelu[approximate=tanh]' selects one parameter set")
    choices.add_argument("--sizes", action="append", metavar="SIZES",
                         help="comma-separated element counts (default: 1e3,1e5,1e7; --quick: 1e3,1e5,1e6)")
    choices.add_argument("--dtypes", action="append", metavar="DTYPES",
                         help="float32 and/or float64 (default: both; --quick: float32)")
    choices.add_argument("--directions", action="append", metavar="DIRS",
                         help="forward, inplace, backward (default: all three)")
    choices.add_argument("--backends", action="append", metavar="NAMES",
                         help="implementations to compare with the NumPy baseline and the memory floor "
                              "(always measured): fastact backends (numba, cython), auto, torch, ort "
                              "(default: every one available here)")
    choices.add_argument("--threads", action="append", metavar="COUNTS",
                         help="thread counts, e.g. 1,2: each is measured and, with more than one, the parallel "
                              "efficiency reported (default: fastact.get_num_threads())")
    how = parser.add_argument_group("how")
    how.add_argument("--quick", action="store_true",
                     help="small sizes, float32, fewer repeats: under a minute (explicit options still win)")
    how.add_argument("--output", metavar="DIR",
                     help="where to write results.json, results.md, results.txt and the plots "
                          "(default: ./fastact-bench-<date>-<time>)")
    how.add_argument("--repeats", type=int, metavar="N", help="timed rounds per implementation (default 7, --quick 5)")
    how.add_argument("--target-time", type=float, metavar="SECONDS",
                     help="duration of one timed batch of calls (default 0.005, --quick 0.001)")
    how.add_argument("--settle-time", type=float, metavar="SECONDS",
                     help="untimed calls before each timed batch, so that no batch starts on another "
                          "library's spinning threads or on sleeping cores (default 0.03, --quick 0.005)")
    how.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")
    how.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _resolve(args, parser):
    from . import implementations as impl
    error = parser.error
    quick = QUICK if args.quick else {}
    try:
        ops = impl.select_ops(_split(args.ops))
        sizes = [_size(s) for s in _split(args.sizes)] or quick.get("sizes") or list(impl.SIZES)
    except ValueError as exc:
        error(str(exc))
    dtypes = _split(args.dtypes) or quick.get("dtypes") or list(DTYPES)
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        error(f"unknown dtype(s) {', '.join(bad)}; valid: {', '.join(DTYPES)}")
    directions = []
    for d in _split(args.directions) or list(impl.DIRECTIONS):
        if d.lower() not in _DIRECTION_ALIASES:
            error(f"unknown direction {d!r}; valid: {', '.join(impl.DIRECTIONS)}")
        directions.append(_DIRECTION_ALIASES[d.lower()])
    try:
        threads = [int(t) for t in _split(args.threads)]
    except ValueError:
        error(f"--threads takes positive integers such as 1,2; got {','.join(_split(args.threads))}")
    if any(t < 1 for t in threads):
        error(f"--threads takes positive integers such as 1,2; got {','.join(map(str, threads))}")

    import fastact
    threads = sorted(set(threads)) or [fastact.get_num_threads()]
    # Numba sizes its thread pool when it loads: let it hold the largest count asked for.
    fastact.set_num_threads(max(threads))

    valid = list(_backends.KERNEL_BACKENDS) + ["auto", "torch", "ort"]
    requested = _split(args.backends)
    unknown = [b for b in requested if b not in valid + ["numpy", "floor"]]
    if unknown:
        error(f"unknown backend(s) {', '.join(unknown)}; valid: {', '.join(valid)} "
              "(the NumPy baseline and the memory floor are always measured)")
    for b in requested:
        if b in _backends.KERNEL_BACKENDS and not _backends.available(b):
            error(f"the {b} backend is not available here: {_backends.why_unavailable(b)}")
        if b == "torch" and not impl.torch_available():
            error("torch is not installed (pip install torch), so it cannot be compared")
        if b == "ort" and not impl.ort_available():
            from .ort import MISSING
            error(f"ort: {MISSING}")
    everything = impl.implementation_names()
    if requested:
        names = [n for n in everything if n in requested or n in ("numpy", "floor")]
    else:
        names = list(everything)

    from .runner import Options
    return Options(ops=ops, sizes=sorted(set(sizes)), dtypes=list(dict.fromkeys(dtypes)),
                   directions=list(dict.fromkeys(directions)), implementations=names, threads=threads,
                   repeats=args.repeats or quick.get("repeats") or DEFAULTS["repeats"],
                   min_repeats=min(3, args.repeats or 3),
                   target=args.target_time or quick.get("target") or DEFAULTS["target"],
                   budget=quick.get("budget") or DEFAULTS["budget"],
                   settle=args.settle_time if args.settle_time is not None
                   else quick.get("settle", DEFAULTS["settle"]),
                   quick=args.quick)


def run(args, parser, argv=None, prog="python -m fastact bench") -> int:
    from . import report
    from .progress import Progress, format_duration
    from .runner import run as run_matrix

    options = _resolve(args, parser)
    output = args.output or f"fastact-bench-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    command = " ".join([prog] + [shlex.quote(a) for a in (argv or [])])
    steps = (len(options.ops) * len(options.directions) * len(options.sizes) * len(options.dtypes)
             * len(options.threads))
    err = sys.stderr
    print(f"fastact bench: {len(options.ops)} ops x {len(options.directions)} directions x "
          f"{len(options.sizes)} sizes x {len(options.dtypes)} dtypes x {len(options.threads)} thread counts = "
          f"{steps} groups; implementations: {', '.join(options.implementations)}", file=err)
    try:
        load, cores = os.getloadavg()[0], len(os.sched_getaffinity(0))
        if load > 0.5 * cores:
            print(f"warning: this machine is busy (load average {load:.1f} over the last minute on {cores} cores): "
                  "timings, multithreaded ones above all, will be noisy", file=err)
    except (AttributeError, OSError):
        pass
    if "torch" in options.implementations:
        t0 = time.perf_counter()
        importlib.import_module("torch")        # its import time kept out of the first timing
        print(f"(PyTorch imported in {time.perf_counter() - t0:.1f} s)", file=err)
    if "ort" in options.implementations:
        importlib.import_module("onnxruntime")
    progress = Progress(steps, stream=err, enabled=not args.no_progress)
    started = time.perf_counter()
    try:
        result = run_matrix(options, progress)
    except KeyboardInterrupt:
        progress.close()
        print("interrupted", file=err)
        return 130
    progress.close()
    payload = report.build_payload(result, options, command)
    files = report.write_outputs(payload, output, plots=not args.no_plots,
                                 log=lambda m: print(m, file=err))
    print(report.text_report(payload))
    print(f"\nran in {format_duration(time.perf_counter() - started)}; wrote {', '.join(files)} to "
          f"{os.path.abspath(output)}")
    if not args.no_plots and not any(f.endswith(".png") for f in files):
        from .plots import MISSING
        print(f"no plots: {MISSING}")
    return 0
