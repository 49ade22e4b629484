"""Checks for ps4-design-patterns: a seq->vec classifier and an encoder-decoder in torch.

Graded on behaviour, not on the code: shapes, masking (padding never changes a prediction),
teacher forcing (logits[t] sees tgt_in[:t+1] and the encoder's summary, nothing later), greedy
decoding that feeds back its own predictions, and the held-out accuracy the classifier reaches
with a fixed training budget (a few hundred Adam steps on CPU, seconds).
"""

from __future__ import annotations

import torch

import course_lib.torch_rnn  # noqa: F401  (imported so that the seal covers it)

from .checks import Score
from .sealing import guard, is_remote, sandbox_helper

__all__ = ["PAD", "classification_data", "train_classifier", "accuracy",
           "check_classifier_shapes", "check_classifier_masking", "check_classifier_accuracy",
           "check_encdec_shapes", "check_teacher_forcing", "check_greedy_decode"]

PAD = 0


def classification_data(n: int, seed: int, num_classes: int = 4, T_min: int = 3, T_max: int = 8):
    """Padded sequences whose label is their first token.

    Returns ``x (T_max, n)`` long (tokens 1..C, padding 0 after each length), ``lengths (n,)``
    and ``labels (n,)`` = first token - 1: the model must remember the beginning of a sequence
    of variable length.
    """
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(T_min, T_max + 1, (n,), generator=g)
    x = torch.randint(1, num_classes + 1, (T_max, n), generator=g)
    x[torch.arange(T_max)[:, None] >= lengths[None, :]] = PAD
    return x, lengths, x[0] - 1


def train_classifier(model: torch.nn.Module, seed: int = 0, steps: int = 150, batch: int = 64,
                     lr: float = 1e-2) -> torch.nn.Module:
    """The fixed training budget: ``steps`` Adam steps on fresh batches of classification_data."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        x, lengths, y = classification_data(batch, seed=10_000 * seed + step)
        loss = torch.nn.functional.cross_entropy(model(x, lengths), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def accuracy(model: torch.nn.Module, seed: int, n: int = 500) -> float:
    """Accuracy on ``n`` held-out sequences (seeds never used in training)."""
    x, lengths, y = classification_data(n, seed=seed)
    with torch.no_grad():
        return float((model(x, lengths).argmax(-1) == y).float().mean())


def _tensor(name, out, shape, dtype_kind="float"):
    if not isinstance(out, torch.Tensor):
        raise AssertionError(f"{name} should return a torch.Tensor, got {type(out).__name__}")
    if tuple(out.shape) != tuple(shape):
        raise AssertionError(f"{name} returned shape {tuple(out.shape)}, expected {tuple(shape)}")
    if dtype_kind == "float" and not out.is_floating_point():
        raise AssertionError(f"{name} should return float logits, got {out.dtype}")
    if dtype_kind == "long" and out.dtype != torch.long:
        raise AssertionError(f"{name} should return token ids (torch.long), got {out.dtype}")
    return out


def _close(name, a, b, what):
    if not torch.allclose(a, b, atol=1e-5, rtol=1e-4):
        err = (a - b).abs().max().item()
        raise AssertionError(f"{name}: {what} (max |difference| {err:.3e})")


def _make(cls, *args, seed=0):
    torch.manual_seed(seed)
    return cls(*args)


# --------------------------------------------------------------------------- seq -> vec

def check_classifier_shapes(score: Score, weight: float, cls, seed: int,
                            sizes=((8, 5), (1, 1), (3, 2))) -> None:
    """One part per (T, N): logits (N, C) float for x (T, N) and lengths (N,)."""
    for T, N in sizes:
        def check(T=T, N=N):
            model = guard(_make, "SeqClassifier.__init__")(cls, 5, 8, 16, 4, seed=seed)
            x, lengths, _ = classification_data(N, seed, T_min=min(T, 3), T_max=T)
            with torch.no_grad():
                out = guard(model, "SeqClassifier.forward")(x, lengths)
            _tensor(f"SeqClassifier(5, 8, 16, 4).forward(x ({T}, {N}), lengths ({N},))", out, (N, 4))

        score.part(weight / len(sizes), f"SeqClassifier: logits shape for x ({T}, {N})", check)


def check_classifier_masking(score: Score, weight: float, cls, seed: int, N: int = 6) -> None:
    """Two parts: changing padded positions, and appending extra padding, change no logit."""
    x, lengths, _ = classification_data(N, seed, T_min=2, T_max=7)

    def model_out(xx):
        model = guard(_make, "SeqClassifier.__init__")(cls, 5, 8, 16, 4, seed=seed)
        with torch.no_grad():
            return _tensor("SeqClassifier.forward", guard(model, "SeqClassifier.forward")(xx, lengths),
                           (N, 4))

    def check_content():
        noisy = x.clone()
        pad = torch.arange(x.shape[0])[:, None] >= lengths[None, :]
        noisy[pad] = torch.randint(1, 5, (int(pad.sum()),), generator=torch.Generator().manual_seed(seed))
        _close("SeqClassifier.forward", model_out(noisy), model_out(x),
               f"the logits change when the tokens after each sequence's length change "
               f"(lengths {lengths.tolist()}): use the hidden state at step lengths[n] - 1")

    def check_extra():
        longer = torch.cat([x, torch.full((3, N), PAD, dtype=x.dtype)])
        _close("SeqClassifier.forward", model_out(longer), model_out(x),
               "the logits change when 3 rows of padding are appended (x (7, N) -> (10, N))")

    score.part(weight / 2, f"SeqClassifier: padded tokens are ignored (seed {seed})", check_content)
    score.part(weight / 2, f"SeqClassifier: extra padding is ignored (seed {seed})", check_extra)


def check_classifier_accuracy(score: Score, weight: float, cls, seed: int, target: float = 0.9,
                              steps: int = 150) -> None:
    """One part: after the fixed budget, held-out accuracy >= target."""

    def check():
        model = guard(_make, "SeqClassifier.__init__")(cls, 5, 16, 32, 4, seed=seed)

        class Sealed(torch.nn.Module):  # every forward of the student's model runs sealed
            def __init__(self):
                super().__init__()
                self.inner = model

            def forward(self, x, lengths):
                return guard(self.inner, "SeqClassifier.forward")(x, lengths)

        wrapped = Sealed()
        if is_remote(model):  # the autograder's checker: the model trains where it lives
            sandbox_helper(model, "ps4.train_classifier", model, seed=seed, steps=steps)
        else:
            train_classifier(wrapped, seed=seed, steps=steps)
        acc = accuracy(wrapped, seed=seed + 777)
        if not acc >= target:
            raise AssertionError(
                f"SeqClassifier(5, 16, 32, 4): held-out accuracy {acc:.3f} after {steps} Adam steps "
                f"(lr 1e-2, batch 64); expected >= {target}")

    score.part(weight, f"SeqClassifier: held-out accuracy >= {target} after {steps} steps (seed {seed})", check)


# --------------------------------------------------------------------------- seq -> seq

def _encdec(cls, seed, V=7):
    return guard(_make, "EncoderDecoder.__init__")(cls, V, 8, 16, seed=seed)


def _ids(seed, shape, V=7):
    return torch.randint(1, V, shape, generator=torch.Generator().manual_seed(seed))


def check_encdec_shapes(score: Score, weight: float, cls, seed: int,
                        sizes=((5, 4, 3), (1, 1, 1), (2, 6, 2))) -> None:
    """One part per (S, T, N): logits (T, N, V) for src (S, N), tgt_in (T, N)."""
    for S, T, N in sizes:
        def check(S=S, T=T, N=N):
            model = _encdec(cls, seed)
            with torch.no_grad():
                out = guard(model, "EncoderDecoder.forward")(_ids(seed, (S, N)), _ids(seed + 1, (T, N)))
            _tensor(f"EncoderDecoder(7, 8, 16).forward(src ({S}, {N}), tgt_in ({T}, {N}))", out, (T, N, 7))

        score.part(weight / len(sizes), f"EncoderDecoder: logits shape for S={S}, T={T}, N={N}", check)


def check_teacher_forcing(score: Score, weight: float, cls, seed: int, S: int = 5, T: int = 6,
                          N: int = 3) -> None:
    """Three parts: logits[t] ignores tgt_in[t+1:], depends on tgt_in[t], and on the source."""
    src, tgt = _ids(seed, (S, N)), _ids(seed + 1, (T, N))

    def out(model, s, t):
        with torch.no_grad():
            return _tensor("EncoderDecoder.forward", guard(model, "EncoderDecoder.forward")(s, t), (T, N, 7))

    def check_causal():
        model = _encdec(cls, seed)
        base = out(model, src, tgt)
        for k in range(1, T):
            changed = tgt.clone()
            changed[k:] = (changed[k:] % 6) + 1
            _close("EncoderDecoder.forward", out(model, src, changed)[:k], base[:k],
                   f"logits[:{k}] change when tgt_in[{k}:] changes: step t may only see "
                   f"tgt_in[:t+1] (teacher forcing feeds the previous target, never a later one)")

    def check_input():
        model = _encdec(cls, seed)
        base = out(model, src, tgt)
        for k in range(T):
            changed = tgt.clone()
            changed[k] = (changed[k] % 6) + 1
            if torch.allclose(out(model, src, changed)[k], base[k], atol=1e-7):
                raise AssertionError(
                    f"EncoderDecoder.forward: logits[{k}] do not depend on tgt_in[{k}]: with teacher "
                    f"forcing, step t's decoder input is tgt_in[t]")

    def check_source():
        model = _encdec(cls, seed)
        changed = (src % 6) + 1
        if torch.allclose(out(model, changed, tgt)[0], out(model, src, tgt)[0], atol=1e-7):
            raise AssertionError(
                "EncoderDecoder.forward: logits[0] do not depend on src: start the decoder from "
                "the encoder's final hidden state")

    score.part(weight / 3, f"EncoderDecoder: logits[t] never see a later target (seed {seed})", check_causal)
    score.part(weight / 3, f"EncoderDecoder: logits[t] depend on tgt_in[t] (seed {seed})", check_input)
    score.part(weight / 3, f"EncoderDecoder: the decoder starts from the encoder (seed {seed})", check_source)


def check_greedy_decode(score: Score, weight: float, cls, seed: int, S: int = 4, N: int = 3,
                        steps: int = 6, bos: int = 1) -> None:
    """One part: greedy_decode returns (steps, N) ids, each the argmax given its own previous ones."""

    def check():
        model = _encdec(cls, seed)
        src = _ids(seed, (S, N))
        with torch.no_grad():
            ys = _tensor(f"EncoderDecoder.greedy_decode(src ({S}, {N}), bos={bos}, steps={steps})",
                         guard(model.greedy_decode, "EncoderDecoder.greedy_decode")(src, bos, steps),
                         (steps, N), "long")
            tgt_in = torch.cat([torch.full((1, N), bos, dtype=torch.long), ys[:-1]])
            logits = guard(model, "EncoderDecoder.forward")(src, tgt_in)
        expected = logits.argmax(-1)
        if not torch.equal(ys, expected):
            t = int((ys != expected).any(dim=1).nonzero()[0])
            raise AssertionError(
                f"EncoderDecoder.greedy_decode: step {t} returned {ys[t].tolist()}, but the argmax "
                f"of forward(src, [bos] + previous outputs) is {expected[t].tolist()}: feed each "
                f"step's prediction back as the next input")

    score.part(weight, f"EncoderDecoder.greedy_decode feeds back its predictions (seed {seed})", check)
