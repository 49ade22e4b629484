"""The fused LSTM's gradients against eager's along a real WikiText-2 training run.

The run is bench_wikitext_lm.py's course_lib run (word_language_model defaults, trained on
valid.txt, evaluated on test.txt, lr divided by 4 on plateau), driven by the ``fused`` back end.
Before every SGD step the same loss is also differentiated with the ``eager`` back end, on the
same weights, batch, carried hidden state and dropout masks (the RNG state is replayed), and
the two gradients are compared parameter by parameter, before and after clipping::

    rel = max over parameters p of  ||g_fused(p) - g_eager(p)|| / ||g_eager(p)||

Only the fused gradient is applied, so the run is exactly a fused training run. Float32
training at lr 20 is chaotic: a one-ulp change of the weights changes a 3-epoch perplexity
by several percent. This check separates that from a real difference between the back ends.
A bug in the fused backward shows up as one step whose gradient differs far beyond
round-off. Round-off stays near 1e-7 at every step.

Usage (from the repository root; a full run takes about twice a training run)::

    python benchmarks/check_fused_gradients.py --seed 1111 --threads 1
    python benchmarks/check_fused_gradients.py --epochs 1 --max-batches 50   # a quick check

Prints a line every ``--every`` steps and for every step over ``--tolerance``, the test
perplexity after each epoch, then the worst step; exits 1 if any step exceeded the tolerance.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench_wikitext_lm import add_run_arguments, load_wikitext  # noqa: E402
from course_lib.data.batching import batchify, get_batch  # noqa: E402
from course_lib.metrics import perplexity  # noqa: E402
from course_lib.torch_rnn.models import RNNLM, detach_hidden  # noqa: E402
from course_lib.torch_rnn.train import batch_loss as _batch_loss, evaluate  # noqa: E402


def _relative_differences(got, want, names):
    """Largest ||got - want|| / ||want|| over parameters, and the parameter it occurs in."""
    rel = [float((g - w).norm() / w.norm().clamp_min(1e-30)) for g, w in zip(got, want)]
    k = max(range(len(rel)), key=rel.__getitem__)
    return rel[k], names[k]


def _grads(model, params, backend, x, y, hidden, clip):
    """Loss, next hidden state, gradients before and after clipping, with ``backend``."""
    model.rnn.backend = backend
    model.zero_grad(set_to_none=True)
    loss, hidden = _batch_loss(model, x, y, hidden)
    loss.backward()
    raw = [p.grad.clone() for p in params]
    if clip > 0:
        nn.utils.clip_grad_norm_(params, clip)
    return loss.detach(), hidden, raw, [p.grad.clone() for p in params]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(p)
    p.add_argument("--seed", type=int, default=1111)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--every", type=int, default=100, help="print every this many steps")
    p.add_argument("--tolerance", type=float, default=1e-5,
                   help="largest relative gradient difference accepted at any step")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    vocab, train_ids, test_ids = load_wikitext(args.data)
    torch.manual_seed(args.seed)
    model = RNNLM(len(vocab), args.emsize, args.nhid, args.nlayers, "LSTM", args.dropout)
    source = batchify(torch.as_tensor(train_ids), args.batch_size)
    test_t = torch.as_tensor(test_ids)
    params = [q for q in model.parameters() if q.requires_grad]
    names = [n for n, q in model.named_parameters() if q.requires_grad]
    print(f"fused against eager gradients, seed {args.seed}, {args.epochs} epoch(s), "
          f"lr {args.lr}, clip {args.clip}, tolerance {args.tolerance:g}", flush=True)

    torch.manual_seed(args.seed)            # as train_lm: dropout masks from this seed on
    lr, best, step, start = args.lr, None, 0, time.perf_counter()
    worst = (0.0, -1, "")
    failures = 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        hidden = model.init_hidden(args.batch_size)
        for b, i in enumerate(range(0, source.size(0) - 1, args.bptt)):
            if args.max_batches is not None and b >= args.max_batches:
                break
            x, y = get_batch(source, i, args.bptt)
            hidden = detach_hidden(hidden)
            rng = torch.get_rng_state()
            loss_e, _, raw_e, clipped_e = _grads(model, params, "eager", x, y, hidden, args.clip)
            torch.set_rng_state(rng)        # the same dropout masks for the fused pass
            loss_f, hidden, raw_f, _ = _grads(model, params, "fused", x, y, hidden, args.clip)
            rel, name = _relative_differences(raw_f, raw_e, names)
            rel_c, _ = _relative_differences([q.grad for q in params], clipped_e, names)
            rel = max(rel, rel_c)
            if rel > worst[0]:
                worst = (rel, step, name)
            if rel > args.tolerance:
                failures += 1
            if rel > args.tolerance or step % args.every == 0:
                print(f"epoch {epoch} step {step:5d} T={x.size(0)}: loss fused {float(loss_f):.7f} "
                      f"eager {float(loss_e):.7f}; gradient rel. difference {rel:.2e} ({name})"
                      f"{'  OVER TOLERANCE' if rel > args.tolerance else ''}; "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
            with torch.no_grad():
                for q in params:
                    q.add_(q.grad, alpha=-lr)   # the fused gradient, clipped
            step += 1
        val = evaluate(model, test_t, args.bptt, args.eval_batch_size,
                       max_batches=args.max_eval_batches)
        print(f"epoch {epoch}: test ppl {perplexity(val):.2f} (lr {lr:g})", flush=True)
        if best is None or val < best:
            best = val
        else:
            lr /= 4.0
    verdict = "PASS" if failures == 0 else f"FAIL ({failures} step(s) over tolerance)"
    print(f"worst relative gradient difference, fused against eager: {worst[0]:.2e} at step "
          f"{worst[1]} ({worst[2]}), over {step} steps: {verdict}", flush=True)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
