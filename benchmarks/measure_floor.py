"""What does the memory bus allow? The floor candidates against ONNX Runtime's own passes.

The report's memory floor (`fastact.bench.floor`) is the fastest of a NumPy ufunc, a plain Numba
loop and a Numba loop with streaming (non-temporal) stores, per direction. This script times them
side by side with two passes ONNX Runtime (MLAS) runs over the same bytes -- Identity and Relu
with io_binding (forward: x -> out; in place: Relu x -> x, the output bound to the input's memory;
Identity x -> x would be no pass, ONNX Runtime skips it) --
and fastact's own relu, as evidence that no honest pass is faster than the floor:

    python benchmarks/measure_floor.py --threads 2 --sizes 1e6,1e7

Prints a markdown table of medians (ms); the timer is the report's (interleaved rounds, in-place
calls restored before each call).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastact as fa  # noqa: E402
from fastact.bench import floor  # noqa: E402
from fastact.bench import implementations as impl  # noqa: E402
from fastact.bench.timing import measure_group  # noqa: E402


def _ort_pass(operator, dtype, threads, x, out):
    import onnxruntime as ort
    from onnx import TensorProto, helper
    element = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE}[dtype]
    graph = helper.make_graph([helper.make_node(operator, ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", element, ["n"])],
                              [helper.make_tensor_value_info("y", element, ["n"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    binding = session.io_binding()
    values = (ort.OrtValue.ortvalue_from_numpy(x), ort.OrtValue.ortvalue_from_numpy(out))
    binding.bind_ortvalue_input("x", values[0])
    binding.bind_ortvalue_output("y", values[1])

    def run():
        session.run_with_iobinding(binding)
    run.keep = values
    return run


def candidates(direction, workload, threads):
    x, grad, out = workload.x, workload.grad, workload.out
    suffix = "_parallel" if threads > 1 else ""

    def numba_pass(name, *arrays):
        return lambda: floor.with_threads(getattr(floor, name + suffix), threads)(*arrays)
    if direction == "forward":
        fns = {"np.copyto(out, x)": lambda: np.copyto(out, x),
               "Numba out[i] = x[i]": numba_pass("copy", x, out),
               "Numba streaming stores": numba_pass("stream_copy", x, out),
               "fastact relu(x, out=out)": lambda: fa.relu(x, out=out)}
        target = out
    elif direction == "inplace":
        fns = {"np.negative(x, out=x)": lambda: np.negative(x, out=x),
               "Numba x[i] = -x[i]": numba_pass("negate", x),
               "Numba streaming stores": numba_pass("stream_negate", x),
               "fastact relu_(x)": lambda: fa.relu_(x)}
        target = x
    else:
        fns = {"np.multiply(grad, x, out=out)": lambda: np.multiply(grad, x, out=out),
               "Numba out[i] = grad[i] * x[i]": numba_pass("multiply", grad, x, out),
               "Numba streaming stores": numba_pass("stream_multiply", grad, x, out),
               "fastact relu_backward(grad, x, out=out)": lambda: fa.relu_backward(grad, x, out=out)}
        target = None
    if target is not None and impl.ort_available():
        # Identity bound in place (x -> x) is no pass at all: ONNX Runtime skips a copy onto itself
        for operator in ("Identity", "Relu") if target is out else ("Relu",):
            fns[f"ONNX Runtime {operator}" + (" (x -> x)" if target is x else "")] = _ort_pass(
                operator, workload.dtype.type, threads, x, target)
    return fns


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=fa.get_num_threads())
    parser.add_argument("--sizes", default="1e6,1e7")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    fa.set_num_threads(args.threads)
    print(f"Threads: {args.threads}; medians in ms (lower is faster); the floor is the fastest non-ORT, non-fastact row.\n")
    print("| dtype | size | direction | pass | ms |")
    print("|---|---|---|---|---:|")
    for dtype in args.dtypes.split(","):
        for size in (int(float(s)) for s in args.sizes.split(",")):
            workload = impl.Workload(size, dtype)
            for direction in impl.DIRECTIONS:
                fns = candidates(direction, workload, args.threads)
                for fn in fns.values():
                    workload.reset()
                    fn()
                reset = workload.reset if direction == "inplace" else None
                timings = measure_group(fns, reset=reset, repeats=args.repeats, target=0.01)
                for name, t in sorted(timings.items(), key=lambda kv: kv[1].median):
                    print(f"| {dtype} | {impl.size_label(size)} | {direction} | {name} | {t.median * 1e3:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
