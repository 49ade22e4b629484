"""Speed and memory of the NumPy reference (course_lib.numpy_rnn) against torch.nn on the CPU.

What is measured: forward + backward of a whole sequence (all inputs and parameters get their
gradient, upstream gradient on every h[t]), float32, 2 threads for both libraries, in the same
process. The reported ratio is numpy time / torch time (best of several repetitions, numpy and
torch interleaved so that load from other processes hits both alike).

Targets (issue 3): LSTM ratio <= 1.15 at T=32, N=64, D=512, H=1024 and <= 1.8 at T=64, N=32,
D=128, H=256. RNN and GRU are reported against torch.nn.RNN / torch.nn.GRU.

Run it with OpenBLAS's core-type override removed (it forces a slow kernel on this machine)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_numpy_rnn.py

Options: ``--reps K`` (default 5), ``--quick`` (small shape only), ``--threads P`` (default 2),
``--models lstm,rnn,gru``.
This is a measurement, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import os
import sys

_parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
_parser.add_argument("--reps", type=int, default=5)
_parser.add_argument("--threads", type=int, default=2)
_parser.add_argument("--quick", action="store_true", help="only the small shape")
_parser.add_argument("--models", default="lstm,rnn,gru", help="comma-separated subset of lstm,rnn,gru")
ARGS = _parser.parse_args()
if not set(ARGS.models.split(",")) <= {"lstm", "rnn", "gru"}:
    _parser.error(f"--models: expected a subset of lstm,rnn,gru, got {ARGS.models!r}")

# thread counts must be fixed before numpy / torch load their BLAS
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import platform  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from course_lib.numpy_rnn import (  # noqa: E402
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)

torch.set_num_threads(ARGS.threads)

SHAPES = [(64, 32, 128, 256)] if ARGS.quick else [(32, 64, 512, 1024), (64, 32, 128, 256)]
TARGETS = {("lstm", (32, 64, 512, 1024)): 1.15, ("lstm", (64, 32, 128, 256)): 1.8}


def openblas_corename() -> str:
    """The kernel OpenBLAS picked (e.g. SkylakeX), read from the library numpy already loaded."""
    import ctypes
    import glob

    libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libdir, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return "not reported"


def blas_report() -> str:
    core = os.environ.get("OPENBLAS_CORETYPE")
    l2 = os.environ.get("OPENBLAS_L2_SIZE")
    lines = [f"- OPENBLAS_CORETYPE: {'unset' if core is None else repr(core) + ' (SET: numpy may use a slow kernel; run with env -u OPENBLAS_CORETYPE)'}",
             f"- OPENBLAS_L2_SIZE: {'unset' if l2 is None else repr(l2)}"]
    try:
        from threadpoolctl import threadpool_info  # optional
        for info in threadpool_info():
            lines.append(f"- threadpoolctl: {info.get('internal_api')} {info.get('version')}, "
                         f"kernel {info.get('architecture')}, {info.get('num_threads')} threads "
                         f"({os.path.basename(info.get('filepath', ''))})")
    except ImportError:
        cfg = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
        blas = cfg.get("Build Dependencies", {}).get("blas", {}) if isinstance(cfg, dict) else {}
        lines.append(f"- threadpoolctl not importable; numpy's BLAS: {blas.get('name', '?')} "
                     f"{blas.get('version', '')}, kernel {openblas_corename()} (asked OpenBLAS directly)")
    lines.append(f"- numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
                 f"python {platform.python_version()}, {os.cpu_count()} CPUs visible")
    return "\n".join(lines)


def make_numpy(kind, T, N, D, H, rng):
    G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    f32 = np.float32
    s = 1 / np.sqrt(H)
    x = rng.standard_normal((T, N, D), dtype=f32)
    h0 = rng.standard_normal((N, H), dtype=f32)
    c0 = rng.standard_normal((N, H), dtype=f32)
    Wx = (rng.standard_normal((D, G * H), dtype=f32) * s).astype(f32)
    Wh = (rng.standard_normal((H, G * H), dtype=f32) * s).astype(f32)
    b = (rng.standard_normal(G * H, dtype=f32) * s).astype(f32)
    dh = rng.standard_normal((T, N, H), dtype=f32)

    if kind == "rnn":
        def run():
            h, cache = rnn_forward(x, h0, Wx, Wh, b)
            return rnn_backward(dh, cache)
    elif kind == "lstm":
        def run():
            h, c, cache = lstm_forward(x, h0, c0, Wx, Wh, b)
            return lstm_backward(dh, cache)
    else:
        def run():
            h, cache = gru_forward(x, h0, Wx, Wh, b, b)
            return gru_backward(dh, cache)
    return run


def make_torch(kind, T, N, D, H):
    torch.manual_seed(0)
    mod = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](D, H)
    x = torch.randn(T, N, D, requires_grad=True)
    h0 = torch.randn(1, N, H, requires_grad=True)
    c0 = torch.randn(1, N, H, requires_grad=True)
    dh = torch.randn(T, N, H)

    def run():
        mod.zero_grad(set_to_none=True)
        x.grad = h0.grad = c0.grad = None
        out, _ = mod(x, (h0, c0)) if kind == "lstm" else mod(x, h0)
        out.backward(dh)
    return run


def best_of(fns, reps):
    """Interleave the callables, `reps` rounds after one warm-up each.

    Returns the best wall-clock time and the best process CPU time of each callable. On a
    loaded machine the wall time includes waiting for a core; the CPU time (all threads of this
    process, spin-waits included) is a second, less load-sensitive view of the work done.
    """
    for fn in fns:
        fn()
    wall = [float("inf")] * len(fns)
    cpu = [float("inf")] * len(fns)
    for _ in range(reps):
        for k, fn in enumerate(fns):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[k] = min(wall[k], time.perf_counter() - t0)
            cpu[k] = min(cpu[k], time.process_time() - c0)
    return wall, cpu


def numpy_peak_mib(fn) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main():
    print("# NumPy RNN/LSTM/GRU vs torch.nn (forward + backward, float32, CPU)\n")
    print(blas_report())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"- best of {ARGS.reps} repetitions each, numpy and torch interleaved; "
          f"load average at start {load:.1f} on {os.cpu_count()} CPUs"
          + (" (LOADED: timings are inflated and noisy)" if load > (os.cpu_count() or 1) else "") + "\n")
    print("| model | T | N | D | H | numpy ms | torch ms | ratio | target | CPU-time ratio "
          "| numpy peak MiB | min activations MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rng = np.random.default_rng(0)
    results = []
    for kind in [m.strip() for m in ARGS.models.split(",") if m.strip()]:
        for shape in SHAPES:
            T, N, D, H = shape
            f_np = make_numpy(kind, T, N, D, H, rng)
            f_t = make_torch(kind, T, N, D, H)
            (t_np, t_t), (c_np, c_t) = best_of([f_np, f_t], ARGS.reps)
            ratio = t_np / t_t
            target = TARGETS.get((kind, shape))
            peak = numpy_peak_mib(f_np)
            G = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
            # what any BPTT must keep: the gate activations and states of every step (float32)
            act = T * N * H * (G + {"rnn": 0, "lstm": 2, "gru": 1}[kind]) * 4 / 2**20
            tgt = "" if target is None else (f"<= {target} " + ("ok" if ratio <= target else "MISSED"))
            print(f"| {kind} | {T} | {N} | {D} | {H} | {t_np * 1e3:.1f} | {t_t * 1e3:.1f} | "
                  f"{ratio:.2f} | {tgt} | {c_np / c_t:.2f} | {peak:.1f} | {act:.1f} |", flush=True)
            results.append((kind, shape, ratio, target))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nProcess peak RSS (numpy and torch together): {rss:.0f} MiB. numpy peak is "
          "tracemalloc's peak of one forward + backward (inputs excluded).")
    missed = [r for r in results if r[3] is not None and r[2] > r[3]]
    if missed:
        print("Targets missed on this run: " + ", ".join(f"{k} {s}: {r:.2f} > {t}" for k, s, r, t in missed)
              + " (a loaded machine inflates the ratio; rerun on an idle one).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
