"""Speed of course_lib.torch_rnn's RNN/LSTM/GRU against torch.nn's, forward + backward.

Default problem (issue 5): T=64, N=32, D=128, H=256, float32, one layer, CPU with 2 threads.
Target: the fastest course_lib back end divided by torch.nn.LSTM <= 1.5.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_torch_rnn.py
    .venv/bin/python benchmarks/bench_torch_rnn.py --device cuda      # on a GPU machine

Each timed call is ``out, state = rnn(x, hx); loss(out, state).backward()`` with x, the initial
state and every parameter requiring gradients, as inside a language model. The implementations
are timed in interleaved rounds (one call of each per round) so that load from other processes
hits them alike. The table gives the best and the median time per call, the ratio of best
times (the usual robust estimate on a shared machine: interference only ever adds time) and
the median over rounds of the per-round ratio. On CUDA the device is synchronised before each
clock reading.
"""

import argparse
import platform
import statistics
import sys
import time

import torch

from course_lib.torch_rnn import GRU, LSTM, RNN, fused, synchronize

_OURS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
_TORCH = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}


def _cpu_name() -> str:
    """The CPU model: the ratio depends on it (torch.nn's oneDNN kernels and the MKL GEMMs that
    course_lib's steps call do not rank alike on every processor)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _make_step(rnn, x, hx):
    params = list(rnn.parameters())

    def step():
        for p in params:
            p.grad = None
        x.grad = None
        out, state = rnn(x, hx)
        h_n = state[0] if isinstance(state, tuple) else state
        # Gradients reach the whole output sequence and the final state, as in a language model.
        (out.square().mean() + h_n.square().mean()).backward()

    return step


def _with_fused_loops(step, scripted: bool):
    """``step`` with the fused LSTM's time loops scripted (the default) or in plain Python."""
    loops = (fused.fused_lstm_loops() if scripted else
             (fused.lstm_forward_loop, fused.lstm_backward_loop))

    def run():
        fused.FUSED_LOOPS["lstm"] = loops
        step()

    return run


def bench_cell(kind: str, backends, args, device, dtype):
    torch.manual_seed(0)
    ref = _TORCH[kind](args.D, args.H, num_layers=args.layers).to(device=device, dtype=dtype)
    x = torch.randn(args.T, args.N, args.D, device=device, dtype=dtype, requires_grad=True)
    h0 = torch.zeros(args.layers, args.N, args.H, device=device, dtype=dtype,
                     requires_grad=True)
    hx = (h0, h0.detach().clone().requires_grad_(True)) if kind == "lstm" else h0
    steps = {"torch.nn": _make_step(ref, x, hx)}
    for backend in backends:
        if backend == "fused-python" and kind != "lstm":
            continue                    # only the LSTM's fused loops are scripted
        ours = _OURS[kind](args.D, args.H, num_layers=args.layers,
                           backend="fused" if backend == "fused-python" else backend)
        ours = ours.to(device=device, dtype=dtype)
        ours.load_state_dict(ref.state_dict())
        step = _make_step(ours, x, hx)
        if backend in ("fused", "fused-python"):
            step = _with_fused_loops(step, scripted=backend == "fused")
        steps[backend] = step

    for step in steps.values():         # warm-up: allocator, TorchScript profiling runs
        for _ in range(args.warmup):
            step()
    synchronize(device)
    times = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            synchronize(device)
            t0 = time.perf_counter()
            step()
            synchronize(device)
            times[name].append(time.perf_counter() - t0)
    rows = []
    ref_times = times["torch.nn"]
    for name, ts in times.items():
        rows.append((kind.upper(), name, 1e3 * min(ts), 1e3 * statistics.median(ts),
                     min(ts) / min(ref_times),
                     statistics.median(t / r for t, r in zip(ts, ref_times))))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps (default cpu)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    p.add_argument("--cells", default="lstm,gru,rnn", help="comma list of lstm, gru, rnn")
    p.add_argument("--backends", default="eager,script,fused",
                   help="comma list of course_lib back ends; 'fused-python' is the fused LSTM "
                        "with its time loops not scripted (what scripting buys)")
    p.add_argument("--T", type=int, default=64)
    p.add_argument("--N", type=int, default=32)
    p.add_argument("--D", type=int, default=128)
    p.add_argument("--H", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=20, help="timed rounds")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls of each first")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available on this machine")
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    backends = [b for b in args.backends.split(",") if b]
    cells = [c for c in args.cells.split(",") if c]
    for c in cells:
        if c not in _OURS:
            p.error(f"--cells: expected a comma list of lstm, gru, rnn, got {c!r}")

    print(f"forward + backward, T={args.T} N={args.N} D={args.D} H={args.H} "
          f"layers={args.layers} {args.dtype} on {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else
             f" ({_cpu_name()}), {torch.get_num_threads()} threads")
          + f"; torch {torch.__version__}; {args.repeats} interleaved rounds\n")
    print("| cell | implementation | best ms | median ms | ratio of best | median ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    best = {}
    for kind in cells:
        rows = bench_cell(kind, backends, args, device, dtype)
        for cell, name, ms_min, ms_med, ratio_min, ratio_med in rows:
            print(f"| {cell} | {name} | {ms_min:.2f} | {ms_med:.2f} | {ratio_min:.2f} "
                  f"| {ratio_med:.2f} |")
            if name != "torch.nn":
                best[cell] = min(best.get(cell, (float("inf"), "", 0.0)),
                                 (ratio_min, name, ratio_med))
        sys.stdout.flush()
    print()
    for cell, (ratio, name, ratio_med) in best.items():
        verdict = "meets" if ratio <= 1.5 else "MISSES"
        print(f"fastest course_lib {cell}: {name}, {ratio:.2f} x torch.nn by best time, "
              f"{ratio_med:.2f} by median ({verdict} the <= 1.5 target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
