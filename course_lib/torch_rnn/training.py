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

The hyper-parameters are one :class:`TrainConfig` (as nanoGPT's); :func:`train_lm` runs
:func:`train_epoch` once per epoch, after :func:`resume_training` when it continues from a
checkpoint.

Command line (defaults as word_language_model, :mod:`course_lib.torch_rnn.train`)::

    python -m course_lib.torch_rnn.train --data DIR --model LSTM --emsize 200 --nhid 200 \\
        --nlayers 2 --lr 20 --clip 0.25 --epochs 40 --batch-size 20 --bptt 35 --dropout 0.2 \\
        --tied --seed 1111 --device auto --save model.pt

Without ``--data`` it trains on the prose of the Python documentation (word level, shipped
with Python). ``--epochs 1 --max-batches 5`` is a quick smoke run.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import Vocabulary, batchify, iter_batches, num_batches
from ..metrics import perplexity
from ..validate import check_bool, check_int, check_number
from .device import resolve_device
from .lm import RNNLM
from .recurrent import detach_hidden

__all__ = ["TrainConfig", "TrainState", "train_lm", "train_epoch", "resume_training", "evaluate", "batch_loss",
           "save_checkpoint", "load_checkpoint", "embedded_corpus", "resolve_device"]

CHECKPOINT_FORMAT = "course_lib.torch_rnn.lm/1"
HISTORY_KEYS = ("epoch", "train_loss", "valid_loss", "valid_ppl", "lr", "tokens_per_s", "seconds")


@dataclass(frozen=True)
class TrainConfig:
    """The hyper-parameters of a training run (word_language_model's defaults).

    Attributes
    ----------
    epochs : int
        Total number of epochs (when resuming, training continues up to this number).
    lr : float
        Initial SGD learning rate, > 0 (20 in word_language_model); divided by 4 after every
        epoch whose validation loss does not improve.
    clip : float
        Maximum global gradient norm, book eq. :eq:`ch3v-clip-norm`; 0 disables clipping.
    bptt : int
        Window length of truncated BPTT (the book's k).
    batch_size, eval_batch_size : int
        Columns N for training and for evaluation.
    seed : int or None
        Seeds torch's generator (dropout) at the start; None leaves it alone.
    log_interval : int
        Windows between updates of the progress bar's loss / perplexity.
    max_batches, max_eval_batches : int or None
        Train (evaluate) on at most this many windows per epoch (smoke runs).
    restore_best : bool
        Load the weights of the epoch with the best validation loss at the end.
    """

    epochs: int = 40
    lr: float = 20.0
    clip: float = 0.25
    bptt: int = 35
    batch_size: int = 20
    eval_batch_size: int = 10
    seed: Optional[int] = 1111
    log_interval: int = 200
    max_batches: Optional[int] = None
    max_eval_batches: Optional[int] = None
    restore_best: bool = False

    def __post_init__(self):
        # Validated here, once, so that a bad value fails where it is passed.
        for name in ("epochs", "bptt", "batch_size", "eval_batch_size", "log_interval"):
            check_int(getattr(self, name), name)
        for name in ("max_batches", "max_eval_batches"):
            check_int(getattr(self, name), name, optional=True)
        check_int(self.seed, "seed", None, optional=True)
        check_number(self.lr, "lr", 0, strict=True)
        check_number(self.clip, "clip", 0)
        check_bool(self.restore_best, "restore_best")

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes``; an unknown name raises ValueError listing the fields."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: expected TrainConfig fields "
                             f"{sorted(fields)}")
        return dataclasses.replace(self, **changes)


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


def batch_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, hidden):
    """Mean cross-entropy (nats per token) of one window: x, y (L, N) -> (loss, hidden)."""
    logits, hidden = model(x, hidden)  # (L, N, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
    return loss, hidden


@torch.no_grad()
def evaluate(model: nn.Module, data_ids, bptt: int = 35, batch_size: int = 10,
             max_batches: Optional[int] = None) -> float:
    """Mean cross-entropy per predicted token (nats) of ``model`` on a stream of ids.

    The stream is batchified into ``batch_size`` columns and read window by window
    (:func:`course_lib.data.iter_batches`) with the hidden state carried across windows, as in
    training but without dropout (book eq. :eq:`ch1-ppl` for the perplexity)::

        L = - (1 / M) sum_{t, n} ln p(source[t+1, n] | source[<=t, n]),   M = (T - 1) * N

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
    check_int(bptt, "bptt")
    check_int(batch_size, "batch_size")
    check_int(max_batches, "max_batches", optional=True)
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
        for b, (_, x, y) in enumerate(iter_batches(source, bptt)):  # (L, N), (L, N)
            if max_batches is not None and b >= max_batches:
                break
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


@dataclass
class TrainState:
    """Where a run stands after an epoch: what :func:`save_checkpoint` stores to resume it.

    ``lr`` is the rate for the next epoch, ``epoch`` the last finished one (0 = none),
    ``history`` the per-epoch lists :func:`train_lm` returns.
    """

    lr: float
    epoch: int = 0
    best_val_loss: Optional[float] = None
    history: Dict[str, list] = dataclasses.field(
        default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    best_model_state: Optional[dict] = None
    vocab: Optional[Vocabulary] = None


def resume_training(checkpoint, model: nn.Module) -> TrainState:
    """Load the weights of ``checkpoint`` into ``model`` and restore torch's RNG state.

    Returns the run's :class:`TrainState`, so that training continues with the next epoch
    and reproduces the uninterrupted run (dropout draws included).
    """
    ckpt = load_checkpoint(checkpoint)
    model.load_state_dict(ckpt["model_state"])
    _set_rng_state(ckpt["rng_state"])
    state = TrainState(lr=ckpt["lr"], epoch=ckpt["epoch"], best_val_loss=ckpt["best_val_loss"],
                       best_model_state=ckpt.get("best_model_state"), vocab=ckpt["vocab"])
    if ckpt["history"]:
        state.history = {k: list(v) for k, v in ckpt["history"].items()}
    return state


def _sgd_step(params: List[nn.Parameter], lr: float, clip: float) -> None:
    """Global-norm clipping (book eq. :eq:`ch3v-clip-norm`, skipped for clip = 0), then SGD."""
    if clip > 0:
        nn.utils.clip_grad_norm_(params, clip)
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-lr)


def train_epoch(model: nn.Module, source: torch.Tensor, lr: float, config: TrainConfig, *,
                desc: str = "", progress: bool = False) -> Dict[str, float]:
    """One epoch of truncated BPTT over ``source`` (T, N), as word_language_model's ``train()``.

    ::

        h = init_hidden(N)
        for x, y in iter_batches(source, bptt):    (L, N) each
            h = detach_hidden(h)                   keep the value, cut the graph
            loss = CE(model(x, h)) ;  backward
            clip_grad_norm_(params, clip) ;  p -= lr * p.grad

    Returns ``train_loss`` (mean over the epoch's tokens), ``tokens`` and ``seconds``.
    """
    from tqdm.auto import tqdm

    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_windows = num_batches(source, config.bptt)
    if config.max_batches is not None:
        n_windows = min(n_windows, config.max_batches)
    t0 = time.perf_counter()
    hidden = model.init_hidden(source.size(1))
    total = torch.zeros((), dtype=torch.float64, device=source.device)
    n_tok = 0
    bar = tqdm(total=n_windows, desc=desc, disable=not progress, leave=False, unit="batch",
               file=sys.stderr)
    for b, (_, x, y) in enumerate(iter_batches(source, config.bptt)):  # (L, N), (L, N)
        if b >= n_windows:
            break
        # Carry the state's value into this window, not its graph (truncated BPTT).
        hidden = detach_hidden(hidden)
        model.zero_grad(set_to_none=True)
        loss, hidden = batch_loss(model, x, y, hidden)
        loss.backward()
        _sgd_step(params, lr, config.clip)
        total += loss.detach().double() * y.numel()
        n_tok += y.numel()
        bar.update(1)
        if progress and (b + 1) % config.log_interval == 0:
            # The only host sync of the loop, once per log_interval windows.
            cur = float(total) / n_tok
            bar.set_postfix(loss=f"{cur:.2f}", ppl=f"{perplexity(cur):.1f}", lr=f"{lr:g}")
    bar.close()
    if source.device.type == "cuda":
        torch.cuda.synchronize(source.device)
    return {"train_loss": float(total) / max(1, n_tok), "tokens": n_tok,
            "seconds": time.perf_counter() - t0}


def _check_streams(model: nn.Module, train_t: torch.Tensor, valid_t: torch.Tensor,
                   batch_size: int) -> None:
    if train_t.numel() < 2 * batch_size:
        raise ValueError(f"train_ids: expected at least 2 * batch_size = {2 * batch_size} ids, "
                         f"got {train_t.numel()}")
    ntoken = getattr(model, "ntoken", None)
    top = int(max(train_t.max(), valid_t.max()))
    if ntoken is not None and top >= ntoken:
        raise ValueError(f"train_ids, valid_ids: ids must be < the model's ntoken = {ntoken}, "
                         f"got max {top}")


def _end_of_epoch(state: TrainState, model: nn.Module, config: TrainConfig, epoch: int,
                  stats: Dict[str, float], val_loss: float, seconds: float, verbose: bool) -> None:
    """Record the epoch in ``state.history``, print it, keep the best weights, anneal lr."""
    tok_s = stats["tokens"] / max(stats["seconds"], 1e-9)
    for key, value in zip(HISTORY_KEYS, (epoch, stats["train_loss"], val_loss,
                                         perplexity(val_loss), state.lr, tok_s, seconds)):
        state.history[key].append(value)
    if verbose:
        print(f"| epoch {epoch:3d} | lr {state.lr:8.4g} | train loss {stats['train_loss']:6.3f} "
              f"| valid loss {val_loss:6.3f} | valid ppl {perplexity(val_loss):9.2f} "
              f"| {tok_s:8.0f} tok/s | {seconds:6.1f} s", flush=True)
    if state.best_val_loss is None or val_loss < state.best_val_loss:
        state.best_val_loss = val_loss
        if config.restore_best:
            state.best_model_state = {k: v.detach().cpu().clone()
                                      for k, v in model.state_dict().items()}
    else:
        state.lr /= 4.0      # no improvement on the validation set: anneal as word_language_model
    state.epoch = epoch


def train_lm(model: nn.Module, train_ids, valid_ids, config: Optional[TrainConfig] = None, *,
             device=None, checkpoint=None, resume: bool = False,
             vocab: Optional[Vocabulary] = None, progress: bool = True,
             verbose: Optional[bool] = None, **hyper) -> Dict[str, list]:
    """Train a language model with truncated BPTT, plain SGD and lr annealing on plateau.

    Each epoch is :func:`train_epoch`, then ``evaluate(model, valid_ids)``; ``lr /= 4`` unless
    the validation loss improved.

    Parameters
    ----------
    model : RNNLM
        Moved to ``device``; trained in place.
    train_ids, valid_ids : 1-D ints, shape (S,)
        Token-id streams (list, NumPy array or tensor).
    config : TrainConfig, optional
        The hyper-parameters (default: word_language_model's). Any of its fields may also be
        given as a keyword (``epochs=2, lr=5.0``), overriding ``config``.
    device : str, torch.device or None
        ``None``/``'auto'`` picks cuda, then mps, then cpu.
    checkpoint : path, optional
        Written after every epoch (see :func:`save_checkpoint`).
    resume : bool
        If ``checkpoint`` exists, continue from it (:func:`resume_training`) with the next
        epoch, reproducing the uninterrupted run.
    vocab : Vocabulary, optional
        Stored in the checkpoint so that sampling can decode.
    progress : bool
        Show a tqdm bar per epoch (on stderr).
    verbose : bool, optional
        Print one summary line per epoch (stdout); defaults to ``progress``.

    Returns
    -------
    history : dict of lists, one entry per epoch
        ``epoch``, ``train_loss`` (mean over the epoch's windows), ``valid_loss``,
        ``valid_ppl``, ``lr`` (the rate used in that epoch), ``tokens_per_s`` (training),
        ``seconds``.
    """
    config = (config if config is not None else TrainConfig()).replace(**hyper)
    verbose = progress if verbose is None else verbose
    if not hasattr(model, "init_hidden"):
        raise ValueError("model: expected a language model with init_hidden(batch_size), e.g. RNNLM")
    dev = resolve_device(device)
    model.to(dev)
    train_t, valid_t = _as_ids(train_ids, "train_ids"), _as_ids(valid_ids, "valid_ids")
    _check_streams(model, train_t, valid_t, config.batch_size)
    source = batchify(train_t, config.batch_size).to(dev)  # (T, N)
    if config.seed is not None:
        torch.manual_seed(config.seed)
    state = TrainState(lr=config.lr)
    if resume and checkpoint is not None and os.path.isfile(checkpoint):
        state = resume_training(checkpoint, model)
    vocab = vocab if vocab is not None else state.vocab
    for epoch in range(state.epoch + 1, config.epochs + 1):
        t0 = time.perf_counter()
        stats = train_epoch(model, source, state.lr, config, progress=progress,
                            desc=f"epoch {epoch}/{config.epochs}")
        val_loss = evaluate(model, valid_t, config.bptt, config.eval_batch_size,
                            max_batches=config.max_eval_batches)
        _end_of_epoch(state, model, config, epoch, stats, val_loss, time.perf_counter() - t0,
                      verbose)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, vocab=vocab, lr=state.lr, epoch=epoch,
                            best_val_loss=state.best_val_loss, history=state.history,
                            train_config=dataclasses.asdict(config),
                            best_model_state=state.best_model_state if config.restore_best else None)
    if config.restore_best and state.best_model_state is not None:
        model.load_state_dict(state.best_model_state)
    return state.history

# ------------------------------------------------------------------------------ corpus


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


