"""Command line: ``python -m course_lib.torch_rnn.train`` trains a word language model.

The library behind it (:func:`train_lm`, :func:`evaluate`, checkpoints, :class:`TrainConfig`)
is :mod:`course_lib.torch_rnn.training`; its names are re-exported here so that
``from course_lib.torch_rnn.train import train_lm`` keeps working. This module is what
``-m`` executes, so the package never imports it (runpy would warn).

Defaults as word_language_model::

    python -m course_lib.torch_rnn.train --data DIR --model LSTM --emsize 200 --nhid 200 \\
        --nlayers 2 --lr 20 --clip 0.25 --epochs 40 --batch-size 20 --bptt 35 --dropout 0.2 \\
        --tied --seed 1111 --device auto --save model.pt

Without ``--data`` it trains on the prose of the Python documentation (word level, shipped
with Python). ``--epochs 1 --max-batches 5`` is a quick smoke run.
"""

from __future__ import annotations

import argparse
import sys

import torch

from ..metrics import perplexity
from .lm import RNNLM
from .sampling import sample
from .training import (TrainConfig, TrainState, batch_loss, embedded_corpus, evaluate,
                       load_checkpoint, resolve_device, resume_training, save_checkpoint,
                       train_epoch, train_lm)

__all__ = ["main", "TrainConfig", "TrainState", "train_lm", "train_epoch", "resume_training",
           "evaluate", "batch_loss",
           "save_checkpoint", "load_checkpoint", "embedded_corpus", "resolve_device"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m course_lib.torch_rnn.train",
        description="Train an RNN/LSTM/GRU word language model (pytorch/examples word_language_model "
                    "defaults). Without --data: the Python documentation prose shipped with Python.")
    p.add_argument("--data", default=None,
                   help="folder with train.txt, valid.txt, test.txt (WikiText/PTB layout); default: embedded corpus")
    p.add_argument("--model", default="LSTM", choices=["RNN_TANH", "RNN_RELU", "LSTM", "GRU"],
                   help="recurrent layer type (default LSTM)")
    p.add_argument("--emsize", type=int, default=200, help="embedding size (default 200)")
    p.add_argument("--nhid", type=int, default=200, help="hidden units per layer (default 200)")
    p.add_argument("--nlayers", type=int, default=2, help="number of layers (default 2)")
    p.add_argument("--lr", type=float, default=20.0, help="initial SGD learning rate (default 20)")
    p.add_argument("--clip", type=float, default=0.25, help="gradient norm clipping (default 0.25)")
    p.add_argument("--epochs", type=int, default=40, help="number of epochs (default 40)")
    p.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=20,
                   help="training batch size N (default 20)")
    p.add_argument("--eval-batch-size", dest="eval_batch_size", type=int, default=10,
                   help="evaluation batch size (default 10)")
    p.add_argument("--bptt", type=int, default=35, help="truncated BPTT window length (default 35)")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout (default 0.2)")
    p.add_argument("--tied", action="store_true", help="tie the decoder weight to the embedding")
    p.add_argument("--seed", type=int, default=1111, help="random seed (default 1111)")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps")
    p.add_argument("--save", default="model.pt", help="checkpoint path (default model.pt)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint at --save")
    p.add_argument("--log-interval", dest="log_interval", type=int, default=200,
                   help="batches between progress updates (default 200)")
    p.add_argument("--max-batches", dest="max_batches", type=int, default=None,
                   help="train on at most this many batches per epoch (smoke runs)")
    p.add_argument("--max-eval-batches", dest="max_eval_batches", type=int, default=None,
                   help="evaluate on at most this many batches (smoke runs)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--torch-nn", dest="torch_nn", action="store_true",
                   help="use torch.nn's fused RNN modules instead of course_lib's (for comparison)")
    p.add_argument("--generate", type=int, default=0, metavar="N",
                   help="print N sampled words from the trained model at the end")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    return p


def main(argv=None) -> int:
    """Entry point of ``python -m course_lib.torch_rnn.train``; returns an exit status."""
    args = _parser().parse_args(argv)
    if args.tied and args.emsize != args.nhid:
        # Fail before loading a corpus: RNNLM would raise the same, only later.
        raise SystemExit(f"error: --tied needs --emsize == --nhid, got emsize={args.emsize}, nhid={args.nhid}")
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    if args.data is None:
        vocab, train, valid, test = embedded_corpus()
        source = "Python documentation prose (embedded)"
    else:
        from ..data import load_corpus

        corpus = load_corpus(args.data)
        if corpus.valid is None:
            raise SystemExit(f"--data: {args.data} has no valid.txt")
        vocab, train, valid, test = corpus.vocab, corpus.train, corpus.valid, corpus.test
        source = args.data
    print(f"corpus: {source}: V={len(vocab)}, train {len(train)}, valid {len(valid)}, "
          f"test {0 if test is None else len(test)} tokens; device {device}", flush=True)
    try:
        model = RNNLM(len(vocab), args.emsize, args.nhid, args.nlayers, rnn_type=args.model,
                      dropout=args.dropout, tied=args.tied,
                      rnn_impl="torch" if args.torch_nn else "course_lib")
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    history = train_lm(model, train, valid, epochs=args.epochs, lr=args.lr, clip=args.clip, bptt=args.bptt,
                       batch_size=args.batch_size, eval_batch_size=args.eval_batch_size, device=device,
                       seed=args.seed, checkpoint=args.save, resume=args.resume, vocab=vocab,
                       log_interval=args.log_interval, progress=args.progress,
                       max_batches=args.max_batches, max_eval_batches=args.max_eval_batches,
                       restore_best=True, verbose=True)
    if test is not None and len(test) > 2 * args.eval_batch_size:
        test_loss = evaluate(model, test, args.bptt, args.eval_batch_size, max_batches=args.max_eval_batches)
        print(f"| end of training | test loss {test_loss:6.3f} | test ppl {perplexity(test_loss):9.2f} "
              f"| best valid ppl {min(history['valid_ppl']):9.2f}", flush=True)
    if args.generate > 0:
        words = sample(model, vocab, [vocab.eos] if vocab.eos else [vocab.itos[0]], args.generate,
                       temperature=args.temperature, seed=args.seed)
        print(" ".join(words).replace(" <eos> ", "\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
