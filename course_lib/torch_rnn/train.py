"""Training a recurrent language model with truncated BPTT, as pytorch/examples' word_language_model.

The stream of training ids is batchified into N columns, ``source (T_total, N)``, and cut into
windows of ``bptt`` rows (:func:`course_lib.data.get_batch`). The hidden state is carried from
one window to the next -- each column is one long sequence -- but detached, so gradients flow
back at most ``bptt`` steps (truncated BPTT)::

    for each window x, y (L, N):
        h = detach(h)                              # keep the value, cut the graph
        logits, h = model(x, h)                    # (L, N, V)
        loss = mean_{t,n} -ln softmax(logits[t, n])[y[t, n]]
        g = grad(loss);  g *= min(1, clip / ||g||) # global-norm clipping
        theta -= lr * g                            # plain SGD
    after each epoch: lr /= 4 if the validation loss did not improve

Losses are natural-log cross-entropies per predicted token and perplexity is ``exp`` of the
mean (:mod:`course_lib.metrics`).

Command line (defaults as word_language_model)::

    python -m course_lib.torch_rnn.train --data DIR --model LSTM --emsize 200 --nhid 200 \\
        --nlayers 2 --lr 20 --clip 0.25 --epochs 40 --batch-size 20 --bptt 35 --dropout 0.2 \\
        --tied --seed 1111 --device auto --save model.pt

Without ``--data`` it trains on the prose of the Python documentation (word level, shipped
with Python). ``--epochs 1 --max-batches 5`` is a quick smoke run.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Vocabulary, batchify, get_batch
from ..metrics import perplexity
from .models import RNNLM, detach_hidden

__all__ = ["train_lm", "evaluate", "save_checkpoint", "load_checkpoint", "resolve_device",
           "embedded_corpus", "main"]

CHECKPOINT_FORMAT = "course_lib.torch_rnn.lm/1"


def _check_pos_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
    return int(value)


def _check_pos_float(value, name: str, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")
    return float(value)


def resolve_device(device=None) -> torch.device:
    """``None``/``'auto'`` -> :func:`~course_lib.torch_rnn.device.default_device`; else ``torch.device(device)``."""
    if device is None or device == "auto":
        from .device import default_device

        return default_device()
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device: expected 'auto', 'cpu', 'cuda', 'cuda:0', 'mps' or a torch.device, "
                         f"got {device!r} ({e})") from None


def _as_ids(ids, name: str) -> torch.Tensor:
    """A 1-D int64 CPU tensor from a list, NumPy array or tensor of ids, shape (S,)."""
    if isinstance(ids, torch.Tensor):
        t = ids.detach().cpu()
    else:
        try:
            t = torch.as_tensor(np.asarray(ids))
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a 1-D sequence of int token ids, got {type(ids).__name__}") from None
    if t.dim() != 1 or t.dtype.is_floating_point or t.dtype == torch.bool or t.numel() < 2:
        raise ValueError(f"{name}: expected a 1-D stream of at least 2 int ids, shape (S,), "
                         f"got shape {tuple(t.shape)} dtype {t.dtype}")
    return t.long()


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _batch_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, hidden):
    logits, hidden = model(x, hidden)  # (L, N, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
    return loss, hidden


@torch.no_grad()
def evaluate(model: nn.Module, data_ids, bptt: int = 35, batch_size: int = 10,
             max_batches: Optional[int] = None) -> float:
    """Mean cross-entropy per predicted token (nats) of ``model`` on a stream of ids.

    The stream is batchified into ``batch_size`` columns and read window by window with the
    hidden state carried across windows, as in training but without dropout::

        loss = - (1 / M) sum_{t, n} ln p(source[t+1, n] | source[<=t, n]),   M = (T - 1) * N

    Parameters
    ----------
    model : RNNLM
        Or any module with ``init_hidden(N)`` and ``forward(x (L, N), h) -> (logits (L, N, V), h)``.
    data_ids : 1-D ints, shape (S,)
        List, NumPy array or tensor.
    bptt : int
        Window length L.
    batch_size : int
        Columns N (``S // N`` rows each; the remainder is dropped).
    max_batches : int, optional
        Stop after this many windows (a quick estimate).

    Returns
    -------
    float
        The mean loss; ``course_lib.metrics.perplexity(loss)`` is the perplexity.
    """
    _check_pos_int(bptt, "bptt")
    _check_pos_int(batch_size, "batch_size")
    source = batchify(_as_ids(data_ids, "data_ids"), batch_size).to(_model_device(model))  # (T, N)
    if source.size(0) < 2:
        raise ValueError(f"data_ids: expected at least 2 rows after batchify with batch_size={batch_size}, "
                         f"got {source.size(0)}")
    was_training = model.training
    model.eval()
    hidden = model.init_hidden(batch_size)
    total = torch.zeros((), dtype=torch.float64, device=source.device)
    count = 0
    try:
        for b, i in enumerate(range(0, source.size(0) - 1, bptt)):
            if max_batches is not None and b >= max_batches:
                break
            x, y = get_batch(source, i, bptt)  # (L, N), (L, N)
            logits, hidden = model(x, hidden)
            total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1),
                                     reduction="sum").double()
            count += y.numel()
    finally:
        model.train(was_training)
    return float(total) / count


def _rng_state() -> Dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path, model: nn.Module, *, vocab: Optional[Vocabulary] = None,
                    lr: float, epoch: int, best_val_loss: Optional[float] = None,
                    history: Optional[dict] = None, train_config: Optional[dict] = None,
                    best_model_state: Optional[dict] = None) -> None:
    """Write everything needed to rebuild the model and resume training at the next epoch.

    The file (``torch.save``) holds plain tensors, numbers, strings and lists only, so
    ``torch.load(path, weights_only=True)`` reads it:
    ``format``, ``config`` (the model's constructor arguments), ``model_state``,
    ``vocab`` (``Vocabulary.to_dict()``), ``lr``, ``epoch`` (last finished, 1-based),
    ``best_val_loss``, ``history``, ``train_config`` (bptt, batch_size, clip, ...),
    ``rng_state`` (so dropout draws continue as without the interruption) and optionally
    ``best_model_state``.
    """
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError("model: expected a model with a .config dict (e.g. RNNLM) so it can be rebuilt")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_class": type(model).__name__,
        "config": dict(config),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "vocab": vocab.to_dict() if vocab is not None else None,
        "lr": float(lr),
        "epoch": int(epoch),
        "best_val_loss": None if best_val_loss is None else float(best_val_loss),
        "history": history or {},
        "train_config": train_config or {},
        "rng_state": _rng_state(),
        "best_model_state": best_model_state,
    }
    tmp = f"{os.fspath(path)}.tmp"
    torch.save(payload, tmp)
    # Atomic replace: an interrupted save never leaves a truncated checkpoint behind.
    os.replace(tmp, path)


def load_checkpoint(path, map_location=None) -> Dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Returns
    -------
    dict
        The stored fields plus ``model`` (an :class:`RNNLM` rebuilt from ``config`` with the
        weights loaded, on ``map_location``) and ``vocab`` as a :class:`Vocabulary` (or None).
    """
    if not os.path.isfile(path):
        raise ValueError(f"path: no checkpoint file at {os.fspath(path)!r}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"path: {os.fspath(path)!r} is not a {CHECKPOINT_FORMAT} checkpoint")
    model = RNNLM.from_config(ckpt["config"])
    model.load_state_dict(ckpt["model_state"])
    if map_location is not None:
        model.to(resolve_device(map_location))
    ckpt["model"] = model
    ckpt["vocab"] = Vocabulary.from_dict(ckpt["vocab"]) if ckpt.get("vocab") else None
    return ckpt


def train_lm(model: nn.Module, train_ids, valid_ids, *, epochs: int = 40, lr: float = 20.0,
             clip: float = 0.25, bptt: int = 35, batch_size: int = 20, eval_batch_size: int = 10,
             device=None, seed: Optional[int] = 1111, checkpoint=None, resume: bool = False,
             vocab: Optional[Vocabulary] = None, log_interval: int = 200, progress: bool = True,
             max_batches: Optional[int] = None, max_eval_batches: Optional[int] = None,
             restore_best: bool = False, verbose: Optional[bool] = None) -> Dict[str, list]:
    """Train a language model with truncated BPTT, plain SGD and lr annealing on plateau.

    One epoch (word_language_model's ``train()``)::

        h = init_hidden(N)
        for i in 0, bptt, 2 bptt, ...:             x, y = get_batch(source, i, bptt)  (L, N)
            h = detach_hidden(h)
            loss = CE(model(x, h)) ;  backward
            clip_grad_norm_(params, clip)          ||g|| <= clip
            p -= lr * p.grad                       for every parameter
        val = evaluate(model, valid_ids)           lr /= 4 unless val < best_val

    Parameters
    ----------
    model : RNNLM
        Moved to ``device``; trained in place.
    train_ids, valid_ids : 1-D ints, shape (S,)
        Token-id streams (list, NumPy array or tensor).
    epochs : int
        Total number of epochs (when resuming, training continues up to this number).
    lr : float
        Initial SGD learning rate (20 in word_language_model).
    clip : float
        Maximum global gradient norm; 0 disables clipping.
    bptt : int
        Window length L.
    batch_size, eval_batch_size : int
        Columns N for training and for evaluation (20 and 10 as word_language_model).
    device : str, torch.device or None
        ``None``/``'auto'`` picks cuda, then mps, then cpu.
    seed : int or None
        Seeds torch's generator (dropout) at the start; None leaves it alone.
    checkpoint : path, optional
        Written after every epoch (see :func:`save_checkpoint`).
    resume : bool
        If ``checkpoint`` exists, load the weights, lr, epoch, history and RNG state from it
        and continue with the next epoch, reproducing the uninterrupted run.
    vocab : Vocabulary, optional
        Stored in the checkpoint so that sampling can decode.
    log_interval : int
        Windows between updates of the progress bar's loss / perplexity.
    progress : bool
        Show a tqdm bar per epoch (on stderr).
    verbose : bool, optional
        Print one summary line per epoch (stdout); defaults to ``progress``.
    max_batches : int, optional
        Train on at most this many windows per epoch (smoke runs).
    max_eval_batches : int, optional
        Evaluate on at most this many windows of ``valid_ids`` (smoke runs).
    restore_best : bool
        Load the weights of the epoch with the best validation loss at the end.

    Returns
    -------
    history : dict of lists, one entry per epoch
        ``epoch``, ``train_loss`` (mean over the epoch's windows), ``valid_loss``,
        ``valid_ppl``, ``lr`` (the rate used in that epoch), ``tokens_per_s`` (training),
        ``seconds``.
    """
    from tqdm.auto import tqdm

    if verbose is None:
        verbose = progress
    epochs = _check_pos_int(epochs, "epochs")
    lr = _check_pos_float(lr, "lr")
    clip = _check_pos_float(clip, "clip", allow_zero=True)
    bptt = _check_pos_int(bptt, "bptt")
    batch_size = _check_pos_int(batch_size, "batch_size")
    eval_batch_size = _check_pos_int(eval_batch_size, "eval_batch_size")
    log_interval = _check_pos_int(log_interval, "log_interval")
    if max_batches is not None:
        max_batches = _check_pos_int(max_batches, "max_batches")
    if max_eval_batches is not None:
        max_eval_batches = _check_pos_int(max_eval_batches, "max_eval_batches")
    if not hasattr(model, "init_hidden"):
        raise ValueError("model: expected a language model with init_hidden(batch_size), e.g. RNNLM")
    dev = resolve_device(device)
    model.to(dev)
    train_t = _as_ids(train_ids, "train_ids")
    valid_t = _as_ids(valid_ids, "valid_ids")
    if train_t.numel() < 2 * batch_size:
        raise ValueError(f"train_ids: expected at least 2 * batch_size = {2 * batch_size} ids, got {train_t.numel()}")
    ntoken = getattr(model, "ntoken", None)
    if ntoken is not None and int(max(train_t.max(), valid_t.max())) >= ntoken:
        raise ValueError(f"train_ids, valid_ids: ids must be < the model's ntoken = {ntoken}, "
                         f"got max {int(max(train_t.max(), valid_t.max()))}")
    source = batchify(train_t, batch_size).to(dev)  # (T, N)
    if seed is not None:
        torch.manual_seed(seed)

    history: Dict[str, list] = {k: [] for k in ("epoch", "train_loss", "valid_loss", "valid_ppl",
                                                "lr", "tokens_per_s", "seconds")}
    best_val: Optional[float] = None
    best_state = None
    start_epoch = 1
    train_config = dict(bptt=bptt, batch_size=batch_size, eval_batch_size=eval_batch_size, clip=clip,
                        seed=seed, max_batches=max_batches, max_eval_batches=max_eval_batches)
    if resume and checkpoint is not None and os.path.isfile(checkpoint):
        ckpt = load_checkpoint(checkpoint)
        model.load_state_dict(ckpt["model_state"])
        lr = ckpt["lr"]
        best_val = ckpt["best_val_loss"]
        start_epoch = ckpt["epoch"] + 1
        history = {k: list(v) for k, v in ckpt["history"].items()} or history
        best_state = ckpt.get("best_model_state")
        _set_rng_state(ckpt["rng_state"])
        if vocab is None:
            vocab = ckpt["vocab"]

    params = [p for p in model.parameters() if p.requires_grad]
    n_windows = -(-(source.size(0) - 1) // bptt)
    if max_batches is not None:
        n_windows = min(n_windows, max_batches)
    for epoch in range(start_epoch, epochs + 1):
        model.train()
        t0 = time.perf_counter()
        hidden = model.init_hidden(batch_size)
        total = torch.zeros((), dtype=torch.float64, device=dev)
        n_tok = 0
        bar = tqdm(total=n_windows, desc=f"epoch {epoch}/{epochs}", disable=not progress,
                   leave=False, unit="batch", file=sys.stderr)
        for b, i in enumerate(range(0, source.size(0) - 1, bptt)):
            if b >= n_windows:
                break
            x, y = get_batch(source, i, bptt)  # (L, N), (L, N)
            # Carry the state's value into this window, not its graph (truncated BPTT).
            hidden = detach_hidden(hidden)
            model.zero_grad(set_to_none=True)
            loss, hidden = _batch_loss(model, x, y, hidden)
            loss.backward()
            if clip > 0:
                nn.utils.clip_grad_norm_(params, clip)
            with torch.no_grad():
                for p in params:
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-lr)
            total += loss.detach().double() * y.numel()
            n_tok += y.numel()
            bar.update(1)
            if progress and (b + 1) % log_interval == 0:
                # The only host sync of the loop, once per log_interval windows.
                cur = float(total) / n_tok
                bar.set_postfix(loss=f"{cur:.2f}", ppl=f"{perplexity(cur):.1f}", lr=f"{lr:g}")
        bar.close()
        train_loss = float(total) / max(1, n_tok)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        train_seconds = time.perf_counter() - t0
        val_loss = evaluate(model, valid_t, bptt, eval_batch_size, max_batches=max_eval_batches)
        seconds = time.perf_counter() - t0
        history["epoch"].append(epoch)
        history["train_loss"].append(train_loss)
        history["valid_loss"].append(val_loss)
        history["valid_ppl"].append(perplexity(val_loss))
        history["lr"].append(lr)
        history["tokens_per_s"].append(n_tok / max(train_seconds, 1e-9))
        history["seconds"].append(seconds)
        if verbose:
            print(f"| epoch {epoch:3d} | lr {lr:8.4g} | train loss {train_loss:6.3f} | valid loss {val_loss:6.3f} "
                  f"| valid ppl {perplexity(val_loss):9.2f} | {n_tok / max(train_seconds, 1e-9):8.0f} tok/s "
                  f"| {seconds:6.1f} s", flush=True)
        if best_val is None or val_loss < best_val:
            best_val = val_loss
            if restore_best:
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            # No improvement on the validation set: anneal as word_language_model does.
            lr /= 4.0
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, vocab=vocab, lr=lr, epoch=epoch, best_val_loss=best_val,
                            history=history, train_config=train_config,
                            best_model_state=best_state if restore_best else None)
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    return history


# ------------------------------------------------------------------------------ command line


def embedded_corpus(valid_fraction: float = 0.1, test_fraction: float = 0.1):
    """The Python documentation prose as a word-level corpus (no download).

    Lines are tokenized as word_language_model does (``line.split() + ['<eos>']``, blank lines
    skipped); the stream is split in order into train / valid / test, and the vocabulary is
    built from the training part (unseen words map to ``<unk>``).

    Returns
    -------
    vocab : Vocabulary
    train, valid, test : numpy.ndarray of int64, shape (S_split,)
    """
    from ..data import EOS, UNK, python_docs_text, word_tokens

    tokens = word_tokens(python_docs_text(), eos=EOS, skip_blank=True)
    S = len(tokens)
    n_test, n_valid = int(S * test_fraction), int(S * valid_fraction)
    n_train = S - n_valid - n_test
    vocab = Vocabulary.from_tokens(tokens[:n_train], unk=UNK, eos=EOS)
    ids = vocab.encode(tokens)
    return vocab, ids[:n_train], ids[n_train:n_train + n_valid], ids[n_train + n_valid:]


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
        from .sampling import sample

        words = sample(model, vocab, [vocab.eos] if vocab.eos else [vocab.itos[0]], args.generate,
                       temperature=args.temperature, seed=args.seed)
        print(" ".join(words).replace(" <eos> ", "\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
