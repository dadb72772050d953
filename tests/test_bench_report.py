"""The benchmark report (`python -m fastact bench`) and the map that feeds it and the
pytest-benchmark suite. These check that the report works and says what it measured, not speed:
tiny sizes, tiny timing budgets."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastact import _backends
from fastact.__main__ import main
from fastact.bench import implementations as impl
from fastact.bench import plots, report, timing
from fastact.spec import SPECS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--sizes", "64,10^3", "--dtypes", "float32", "--target-time", "0.0002", "--repeats", "3",
        "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert main(["bench", "--ops", "relu,prelu,softmax", "--threads", "1", *TINY, "--output", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def payload(run_dir):
    with open(run_dir / "results.json", encoding="utf-8") as f:
        return json.load(f)


def test_report_writes_every_file(run_dir, payload):
    names = set(os.listdir(run_dir))
    assert {"results.json", "results.md", "results.txt"} <= names
    assert set(payload["files"]) == names
    if plots.available():
        assert "speedup_float32_1t.png" in names
        for direction in impl.DIRECTIONS:
            assert f"throughput_{direction}_float32_1t.png" in names
        for name in names:
            if name.endswith(".png"):
                with open(run_dir / name, "rb") as f:
                    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_json_has_the_documented_fields(payload):
    assert payload["schema"] == report.SCHEMA
    assert set(report.TOP_LEVEL_FIELDS) <= set(payload)
    assert payload["threads"] == [1]
    assert payload["machine"]["cpu"]["simd"] is not None and payload["machine"]["usable_cores"] >= 1
    assert payload["versions"]["numpy"] == np.__version__
    assert "backends" in payload["fastact_config"]
    assert payload["command"].startswith("python -m fastact bench")
    for record in payload["results"]:
        assert set(report.RECORD_FIELDS) <= set(record), set(report.RECORD_FIELDS) - set(record)
        assert record["median_s"] > 0 and record["number"] >= 1 and record["repeats"] >= 1
        assert record["implementation"] in payload["options"]["implementations"]
    for row in payload["summary"]:
        assert set(report.SUMMARY_FIELDS) <= set(row)
        # the baseline and the floor are measured in every group, on the same arrays
        assert {"numpy", "floor"} <= set(row["times_s"])
    functions = {r["function"] for r in payload["results"]}
    for name in ("relu", "prelu", "softmax"):
        assert {name, f"{name}_", f"{name}_backward"} <= functions
    assert {r["size"] for r in payload["results"]} == {64, 1000}
    prelu = next(r for r in payload["results"] if r["function"] == "prelu" and r["size"] == 1000)
    assert prelu["shape"] == [1, 8, 125]


def test_the_schema_is_documented():
    for field in report.TOP_LEVEL_FIELDS + report.RECORD_FIELDS + report.SUMMARY_FIELDS + report.PARALLEL_FIELDS:
        assert field in report.__doc__, field


def test_markdown_and_text_say_what_was_measured(run_dir, payload):
    markdown = (run_dir / "results.md").read_text(encoding="utf-8")
    for needle in ("CPU:", "Threads: 1", "Command: python -m fastact bench", "| function | dtype | size | numpy",
                   "How PyTorch was called" if "torch" in payload["options"]["implementations"] else "floor"):
        assert needle in markdown
    text = (run_dir / "results.txt").read_text(encoding="utf-8")
    assert "Speed is NumPy time divided by" in text and "relu_backward" in text


def test_threads_report_parallel_efficiency(tmp_path, capsys):
    assert main(["bench", "--ops", "relu", "--directions", "forward", "--threads", "1,2", "--no-plots",
                 "--backends", "auto", *TINY, "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "Parallel speedup of 2 threads over 1" in printed
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["threads"] == [1, 2]
    assert data["parallel"]
    for row in data["parallel"]:
        assert set(report.PARALLEL_FIELDS) <= set(row)
        assert row["efficiency"] == pytest.approx(row["speedup"] / 2)


@pytest.mark.parametrize("option, value, valid", [
    ("--ops", "relu,swish", "gelu"),
    ("--backends", "tensorflow", "numba"),
    ("--dtypes", "int8", "float32"),
    ("--directions", "sideways", "inplace"),
    ("--sizes", "ten", "1e5"),
    ("--threads", "0", "positive"),
])
def test_bad_options_say_what_is_valid(option, value, valid, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", option, value, "--no-progress"])
    assert exc.value.code == 2
    error = capsys.readouterr().err
    assert value.split(",")[-1] in error and valid in error


def test_unavailable_backend_says_why(capsys, monkeypatch):
    monkeypatch.setattr(_backends, "available", lambda name: name == "numpy")
    monkeypatch.setattr(_backends, "why_unavailable", lambda name: "not built here")
    with pytest.raises(SystemExit):
        main(["bench", "--backends", "cython", "--no-progress"])
    assert "not available here: not built here" in capsys.readouterr().err


def test_help(capsys):
    assert main([]) == 0
    assert "bench" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "config" in capsys.readouterr().out


def test_console_script_runs_bench(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["/usr/bin/fastact-bench", "--help"])
    with pytest.raises(SystemExit):
        main()
    assert "--quick" in capsys.readouterr().out


def test_without_matplotlib_the_report_says_how_to_get_plots(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(plots, "available", lambda: False)
    assert main(["bench", "--ops", "relu", "--directions", "inplace", "--threads", "1", "--backends", "auto",
                 *TINY, "--output", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert 'pip install "fastact[bench]"' in captured.out + captured.err
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".png")]
    assert (tmp_path / "results.md").exists()


def test_comparisons_enumerate_the_spec():
    comparisons = impl.comparisons(threads=1)
    names = impl.implementation_names()
    assert names[0] == "numpy" and names[-1] == "floor" and "auto" in names
    for backend in _backends.available_backends():
        if backend != "numpy":
            assert backend in names
    for activation in SPECS:
        for direction in impl.DIRECTIONS:
            function = activation + impl.SUFFIX[direction]
            assert function in comparisons
            # ONNX Runtime has forward operators only
            expected = set(names) - ({"ort"} if direction not in impl.ORT_DIRECTIONS else set())
            assert set(comparisons[function]) == expected
    # an example that selects another kernel family is its own op
    assert "gelu[approximate=tanh]" in [op.label for op in impl.ops()]


def test_every_implementation_computes_the_same_thing():
    """Guards the map, PyTorch's bindings above all: each callable computes the function it claims."""
    workload = impl.Workload(96, np.float64)
    compared = dict.fromkeys(impl.implementation_names(), 0)
    for function, implementations in impl.comparisons(threads=1).items():
        op = next(o for o in impl.ops() if function in [o.function(d) for d in impl.DIRECTIONS])
        bound = workload.bind(op)
        results = {}
        for name, implementation in implementations.items():
            if name == "floor":
                continue
            workload.reset()
            try:
                fn = implementation.make(bound)
                value = fn()
            except LookupError:          # an op PyTorch lacks
                continue
            except Exception:            # a backend under construction: its own tests say why
                if implementation.kind == "fastact":
                    continue
                raise
            results[name] = impl.result_array(value).reshape(bound.shape).copy()
        workload.reset()
        for name, value in results.items():
            np.testing.assert_allclose(value, results["numpy"], rtol=1e-6, atol=1e-9,
                                       err_msg=f"{name} {function}")
            compared[name] += 1
    if impl.torch_available():        # PyTorch has (or composes) every function
        assert compared["torch"] == len(impl.ops()) * 3
    if impl.ort_available():          # ONNX Runtime: forward, the ops it has in float64
        assert compared["ort"] >= 8


def test_timer_calibrates_and_resets():
    calls = {"fn": 0, "reset": 0}
    state = {"dirty": False}

    def fn():
        assert not state["dirty"], "an in-place call must start from restored input"
        state["dirty"] = True
        calls["fn"] += 1

    def reset():
        state["dirty"] = False
        calls["reset"] += 1

    result = timing.measure_group({"fn": fn}, reset=reset, repeats=3, target=1e-4)["fn"]
    assert result.number > 1 and result.repeats == 3
    assert result.median > 0 and result.min <= result.median
    assert calls["fn"] >= 2 + 3 * result.number


def test_the_first_group_is_measured_twice_and_recorded_once(tmp_path, monkeypatch):
    from fastact.bench import runner
    groups = []

    def counting(fns, **kwargs):
        groups.append(sorted(fns))
        return timing.measure_group(fns, **kwargs)

    monkeypatch.setattr(runner, "measure_group", counting)
    out = tmp_path / "run"
    assert main(["bench", "--ops", "relu,tanh", "--threads", "1", "--directions", "forward",
                 "--backends", "numba", *TINY, "--output", str(out)]) == 0
    with open(out / "results.json", encoding="utf-8") as f:
        records = json.load(f)["results"]
    # 2 ops x 2 sizes, plus the first group's untimed warm-up
    assert len(groups) == 2 * 2 + 1 and groups[0] == groups[1]
    keys = [(r["function"], r["size"], r["implementation"]) for r in records]
    assert len(keys) == len(set(keys)) == 2 * 2 * len(groups[0])


@pytest.mark.parametrize("selection", [
    ["benchmarks/bench_activations.py", "-k", "relu- and float32 and 1e3"],   # every implementation
    ["benchmarks/bench_fused.py", "-k", "relu and 64x1024 and float32"],
    ["benchmarks/bench_overhead.py", "-k", "relu"],
    ["benchmarks/bench_tiny_inputs.py", "-k", "tanh"],
])
def test_the_benchmark_suite_runs(selection):
    # --benchmark-disable runs each selected case once, as a plain call: a broken case fails here
    # instead of in the first benchmark run after it (a missing import once did)
    proc = subprocess.run([sys.executable, "-m", "pytest", *selection, "--benchmark-disable", "-q",
                           "-p", "no:cacheprovider", "-c", os.path.join(ROOT, "benchmarks", "pytest.ini"),
                           "--rootdir", os.path.join(ROOT, "benchmarks")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout, proc.stdout[-2000:]


def test_benchmark_suite_is_separate_from_the_tests():
    assert not [n for n in os.listdir(os.path.join(ROOT, "benchmarks")) if n.startswith("test_")]
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        assert 'testpaths = ["tests"]' in f.read()
    listing = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "--collect-only", "-q", "-k", "relu_backward and 1e3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "bench_activation[relu_backward-float32-1e3-numpy]" in listing.stdout
    assert "bench_activation[relu_backward-float64-1e3-floor]" in listing.stdout


# --- ONNX Runtime (optional: CI installs .[test] only) ---------------------------------------------

def _hide_onnxruntime(monkeypatch):
    """Make `import onnxruntime` fail and find_spec return None, as on a machine without it."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "onnx", None)


def test_without_onnxruntime_the_report_runs_without_it(tmp_path, monkeypatch, capsys):
    _hide_onnxruntime(monkeypatch)
    assert not impl.ort_available()
    assert "ort" not in impl.implementation_names()
    assert all("ort" not in row for row in impl.comparisons(impl.select_ops(["relu"]), threads=1).values())
    assert main(["bench", "--ops", "relu", "--directions", "forward", "--threads", "1", "--no-plots",
                 *TINY, "--output", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert "ort" not in data["options"]["implementations"]
    assert all(r["speed_vs_ort"] is None for r in data["results"])
    assert all(s["rival"] in (None, "torch") for s in data["summary"])
    with pytest.raises(SystemExit):
        main(["bench", "--backends", "ort", "--no-progress"])
    assert 'pip install "fastact[bench]"' in capsys.readouterr().err


needs_ort = pytest.mark.skipif(not impl.ort_available(), reason="onnxruntime/onnx not installed (pip install .[bench])")


@needs_ort
def test_ort_runs_forward_only_and_says_why_not(tmp_path):
    assert main(["bench", "--ops", "relu,threshold,prelu,softmax", "--backends", "auto,ort", "--threads", "1",
                 "--no-plots", *TINY, "--output", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    timed = {(r["function"], r["size"]) for r in data["results"] if r["implementation"] == "ort"}
    assert {f for f, _ in timed} == {"relu", "prelu", "softmax"}          # forward only; no threshold
    assert "io_binding" in data["notes"]["relu"]["ort"]
    assert "intra_op_num_threads=1" in data["notes"]["relu"]["ort"]
    why = [e["error"] for e in data["errors"] if e["implementation"] == "ort" and e["function"] == "threshold"]
    assert why and "ThresholdedRelu" in why[0]
    for row in data["summary"]:
        if row["function"] == "relu":
            assert row["speed_vs_ort"] and row["rival"] in ("ort", "torch")
            assert row["speed_vs_rival"] == pytest.approx(row["rival_s"] / row["best_s"])
    markdown = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "How ONNX Runtime was called" in markdown and "x faster of PyTorch/ORT" in markdown
    assert "ONNX Runtime" in "\n".join(report.headline(data["summary"])) or not any(
        s["size"] >= report.HEADLINE_FROM for s in data["summary"])


@needs_ort
def test_ort_numerics_check_rejects_another_definition(monkeypatch):
    from fastact.bench import ort
    relu = impl.select_ops(["relu"])[0]
    ort.check(relu, np.float32)                         # Relu is relu
    monkeypatch.setitem(ort.ORT_OPS, "relu", ("Sigmoid", 13, {}))
    monkeypatch.setattr(ort, "_CHECKED", {})
    with pytest.raises(ort.Unsupported, match="disagrees with the reference"):
        ort.check(relu, np.float32)
    with pytest.raises(LookupError):                    # what the runner and the suite skip on
        impl.comparisons([relu], ["forward"], ["ort"], threads=1)["relu"]["ort"].make(
            impl.Workload(64, np.float32).bind(relu))


@needs_ort
def test_ort_writes_into_the_bound_output():
    from fastact.bench import ort
    op = impl.select_ops(["hardsigmoid"])[0]
    x = np.linspace(-5, 5, 1001).astype(np.float32)
    out = np.zeros_like(x)
    call = ort.ort_op(op, np.float32, 1, x.shape).bind(x, out)
    assert call() is out
    np.testing.assert_allclose(out, np.clip(x / 6 + 0.5, 0, 1), rtol=1e-6, atol=1e-7)


# --- the memory floor -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_floor_passes_compute_what_they_say(dtype):
    """The streaming (non-temporal store) passes: scalar head to 64-byte alignment, vector body split
    over the threads, scalar tail; every length and misalignment gives the plain loop's result."""
    from fastact.bench import floor
    rng = np.random.default_rng(1)
    for n in (0, 1, 7, 16, 17, 100, 1000, 4099):
        for offset in (0, 1, 3):
            x = rng.standard_normal(n + offset).astype(dtype)[offset:]
            g = rng.standard_normal(n + offset).astype(dtype)[offset:]
            for suffix in ("", "_parallel"):
                out = np.zeros(n + offset, dtype)[offset:]
                getattr(floor, "stream_copy" + suffix)(x, out)
                np.testing.assert_array_equal(out, x)
                getattr(floor, "stream_multiply" + suffix)(g, x, out)
                np.testing.assert_array_equal(out, g * x)
                y = x.copy()
                getattr(floor, "stream_negate" + suffix)(y)
                np.testing.assert_array_equal(y, -x)


def test_floor_is_the_fastest_candidate_and_says_which():
    workload = impl.Workload(1 << 12, np.float32)
    bound = workload.bind(impl.select_ops(["relu"])[0])
    for direction in impl.DIRECTIONS:
        fn = impl.comparisons(impl.select_ops(["relu"]), [direction], ["floor"], threads=1)
        chosen = list(fn.values())[0]["floor"].make(bound)
        assert "NumPy" in chosen.note or "Numba loop" in chosen.note
        workload.reset()
        chosen()
