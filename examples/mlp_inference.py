"""A small MLP forward pass for CPU inference: NumPy matmul + fastact's fused bias + activation in
place, reusing its buffers, timed against the same network in pure NumPy (and PyTorch when it is
installed), all with the same thread count.

    python examples/mlp_inference.py                      # gelu (tanh form), batch 256, 2 threads
    python examples/mlp_inference.py --act relu --monitor # also count dead ReLU units
    python examples/mlp_inference.py --batch 64 --widths 512,2048,2048,512 --threads 1

Layers: x @ W + b then the activation, for every hidden layer; the last layer is linear.  What it
shows is the part of a layer that is not matrix multiplication: NumPy needs a pass to add the bias
and one or more to apply the activation (``fastact.reference`` is the pure-NumPy formulation), and
fastact does both in one pass over the activations.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--act", default="gelu", help="activation of the hidden layers (default: gelu)")
    p.add_argument("--approximate", default="tanh", choices=("none", "tanh"),
                   help='gelu only: "tanh" (default, as in GPT-style MLPs) or "none" (erf form)')
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--widths", default="1024,4096,4096,1024",
                   help="layer widths, input first (default: 1024,4096,4096,1024)")
    p.add_argument("--threads", type=int, default=2, help="threads for BLAS, fastact and PyTorch")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--repeat", type=int, default=20, help="timed forward passes per implementation")
    p.add_argument("--monitor", action="store_true",
                   help="count zero outputs per hidden unit in the same pass (zero_counts=)")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    # BLAS reads its thread count when it loads, so before numpy is imported.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(ARGS.threads))

import numpy as np  # noqa: E402

import fastact as fa  # noqa: E402
from fastact import reference  # noqa: E402


class MLP:
    """Weights, biases and reusable activation buffers for one batch size."""

    def __init__(self, widths, batch, dtype, act, params, seed=0):
        rng = np.random.default_rng(seed)
        self.act, self.params = act, params
        self.weights = [(rng.standard_normal((m, n)) / np.sqrt(m)).astype(dtype)
                        for m, n in zip(widths[:-1], widths[1:])]
        self.biases = [(rng.standard_normal(n) * 0.1).astype(dtype) for n in widths[1:]]
        self.buffers = [np.empty((batch, n), dtype) for n in widths[1:]]
        self.zero_counts = [np.zeros(n, np.int64) for n in widths[1:-1]]

    def forward_fastact(self, x, monitor=False):
        h = x
        last = len(self.weights) - 1
        for i, (w, b, buf) in enumerate(zip(self.weights, self.biases, self.buffers)):
            np.matmul(h, w, out=buf)
            if i < last:
                fa.bias_act_(buf, b, self.act, zero_counts=self.zero_counts[i] if monitor else None,
                             **self.params)
            else:
                buf += b
            h = buf
        return h

    def forward_numpy(self, x):
        h = x
        last = len(self.weights) - 1
        act = getattr(reference, self.act)
        for i, (w, b, buf) in enumerate(zip(self.weights, self.biases, self.buffers)):
            np.matmul(h, w, out=buf)
            buf += b
            if i < last:
                act(buf, **self.params, out=buf)
            h = buf
        return h

    def torch_forward(self, threads):
        """A PyTorch forward closure with the same weights (None when PyTorch is absent)."""
        try:
            import torch
        except ImportError:
            return None
        torch.set_num_threads(threads)
        F = torch.nn.functional
        ws = [torch.from_numpy(np.ascontiguousarray(w.T)) for w in self.weights]
        bs = [torch.from_numpy(b) for b in self.biases]
        act = {"relu": F.relu, "gelu": lambda t: F.gelu(t, approximate=self.params.get("approximate", "none")),
               "silu": F.silu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "elu": F.elu,
               "leaky_relu": F.leaky_relu, "mish": F.mish, "softplus": F.softplus}.get(self.act)
        if act is None:
            return None

        def forward(x):
            with torch.inference_mode():
                h = torch.from_numpy(x)
                for i, (w, b) in enumerate(zip(ws, bs)):
                    h = F.linear(h, w, b)
                    if i < len(ws) - 1:
                        h = act(h)
                return h.numpy()
        return forward


def median_ms(fn, repeat):
    fn()                                   # warm-up: compiles, faults pages in
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main(args):
    widths = [int(w) for w in args.widths.split(",")]
    params = {"approximate": args.approximate} if args.act == "gelu" else {}
    if args.act not in fa.ACTIVATIONS:
        sys.exit(f"unknown activation {args.act!r}; see fastact.ACTIVATIONS")
    fa.set_num_threads(args.threads)
    dtype = np.dtype(args.dtype)
    net = MLP(widths, args.batch, dtype, args.act, params)
    x = np.random.default_rng(1).standard_normal((args.batch, widths[0])).astype(dtype)

    expected = net.forward_numpy(x).copy()
    got = net.forward_fastact(x).copy()
    tol = 1e-3 if dtype == np.float32 else 1e-9
    err = float(np.max(np.abs(got - expected)) / max(1.0, float(np.max(np.abs(expected)))))
    if not err <= tol:
        sys.exit(f"fastact and NumPy disagree: max relative difference {err:.3g}")

    torch_forward = net.torch_forward(args.threads)
    if torch_forward is not None:
        t_err = float(np.max(np.abs(torch_forward(x) - expected)) / max(1.0, float(np.max(np.abs(expected)))))
        if not t_err <= tol:
            sys.exit(f"PyTorch and NumPy disagree: max relative difference {t_err:.3g}")

    layers = " -> ".join(map(str, widths))
    act = args.act + (f"({args.approximate})" if args.act == "gelu" else "")
    print(f"MLP {layers}, {act}, batch {args.batch}, {dtype}, {args.threads} thread(s); "
          f"fastact backend: {fa.config()['auto_choice'].split()[0] if fa.get_backend() == 'auto' else fa.get_backend()}")
    print(f"outputs agree with NumPy to {err:.1e} (relative)")

    rows = [("numpy (matmul + bias + reference act)", median_ms(lambda: net.forward_numpy(x), args.repeat)),
            ("fastact (matmul + fused bias_act_)", median_ms(lambda: net.forward_fastact(x), args.repeat))]
    if args.monitor:
        rows.append(("fastact + zero_counts monitoring",
                     median_ms(lambda: net.forward_fastact(x, monitor=True), args.repeat)))
    if torch_forward is not None:
        rows.append(("pytorch (F.linear + act)", median_ms(lambda: torch_forward(x), args.repeat)))

    base = rows[0][1]
    print(f"\n{'forward pass':44} {'median ms':>10} {'vs numpy':>9}")
    for label, ms in rows:
        print(f"{label:44} {ms:10.3f} {base / ms:8.2f}x")

    if args.monitor:
        seen = 2 + args.repeat                 # the warm-up and timed passes that counted
        for i, counts in enumerate(net.zero_counts):
            fraction = counts / (seen * args.batch)
            print(f"hidden layer {i + 1}: {int(np.sum(fraction >= 1.0))} of {counts.size} units output zero "
                  f"on all {seen * args.batch} samples; mean zero fraction {fraction.mean():.3f}")
        net.forward_fastact(x)
        stats = fa.activation_stats(net.buffers[0])
        print(f"activation_stats(first hidden layer, one batch): {int(stats.dead.sum())} dead units, "
              f"mean zero fraction {stats.zero_fraction.mean():.3f}")

    # The non-matmul part alone, on the first hidden layer's buffer (its values drift as it is
    # applied again and again; only the time matters here).
    h, b = net.buffers[0], net.biases[0]
    act_fn = getattr(reference, args.act)
    np_act = median_ms(lambda: (np.add(h, b, out=h), act_fn(h, **params, out=h)), args.repeat)
    fa_act = median_ms(lambda: fa.bias_act_(h, b, args.act, **params), args.repeat)
    print(f"\nbias + {act} alone on one {h.shape[0]}x{h.shape[1]} layer: numpy {np_act:.3f} ms, "
          f"fastact {fa_act:.3f} ms ({np_act / fa_act:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
