"""Checks for ps2-rnn-forward: the RNN step and sequence forward, affine + softmax loss, torch.

Each ``check_*`` adds parts worth ``weight`` points in total to a :class:`~.checks.Score`.
"""

from __future__ import annotations

import numpy as np

from .checks import Diagnosed, Score, assert_close, describe, seed_label
from .diagnose import BOOK, explain_gradient
from .factories import logits_inputs, rnn_inputs
from .numpy_checks import forward_part
from .sealing import guard, reference

__all__ = ["check_rnn_step_forward", "check_rnn_forward", "check_affine_forward",
           "check_softmax_cross_entropy", "check_torch_rnn"]

NP = "course_lib.numpy_rnn."


def check_rnn_step_forward(score: Score, weight: float, fn, seed: int, N: int = 3, D: int = 4,
                           H: int = 5, dtype: str = "float64") -> None:
    """h = tanh(x @ Wx + h_prev @ Wh + b) on seeded inputs, compared with the reference."""
    args = rnn_inputs(seed, T=0, N=N, D=D, H=H, dtype=dtype)
    forward_part(score, weight, "rnn_step_forward", fn, NP + "rnn_step_forward", args, ["h"],
                 f"h ({seed_label(seed)})")


def check_rnn_forward(score: Score, weight: float, fn, seed: int, T: int = 4, N: int = 3,
                      D: int = 4, H: int = 5, dtype: str = "float64") -> None:
    """All T hidden states h (T, N, H) from h0, compared with the reference."""
    args = rnn_inputs(seed, T=T, N=N, D=D, H=H, dtype=dtype)
    forward_part(score, weight, "rnn_forward", fn, NP + "rnn_forward", args, ["h"],
                 f"h ({seed_label(seed)})")


def check_affine_forward(score: Score, weight: float, fn, seed: int, lead=(4, 3), H: int = 5,
                         V: int = 6, dtype: str = "float64") -> None:
    """out = x @ W + b for x (..., H), compared with the reference."""
    rng = np.random.default_rng(seed)
    args = {"x": rng.standard_normal(tuple(lead) + (H,)).astype(dtype),
            "W": (rng.standard_normal((H, V)) / np.sqrt(H)).astype(dtype),
            "b": rng.standard_normal(V).astype(dtype)}
    forward_part(score, weight, "affine_forward", fn, NP + "affine_forward", args, ["out"],
                 f"out ({seed_label(seed)})")


def check_softmax_cross_entropy(score: Score, weight: float, fn, seed: int, shape=(4, 3),
                                V: int = 6, dtype: str = "float64", masked: bool = False,
                                scale: float = 2.0) -> None:
    """Two parts (weight/2 each): the loss, and dlogits."""
    args = logits_inputs(seed, shape=shape, V=V, dtype=dtype, scale=scale, masked=masked)
    state: dict = {}

    def run():
        if not state:
            expected = reference(NP + "softmax_cross_entropy")(*args.values())
            got = guard(fn, "softmax_cross_entropy")(*[a.copy() for a in args.values()])
            if not isinstance(got, tuple) or len(got) != 2:
                raise AssertionError("softmax_cross_entropy: expected (loss, dlogits), got "
                                     f"{type(got).__name__}")
            state.update(expected=expected, got=got)
        return state["expected"], state["got"]

    def diagnosed(name, got, expected):
        try:
            assert_close("softmax_cross_entropy", name, got, expected, args)
        except AssertionError as exc:
            M = float(np.sum(args["mask"])) if masked else int(np.prod(shape))
            M = int(M) if float(M).is_integer() else M
            sizes = {"M": ("the M positions that count" if masked else "the M positions", M)}
            found = explain_gradient(name, got, expected, np.dtype(dtype), sizes)
            if not found:
                raise
            raise Diagnosed(str(exc), f"{name}: {found}\nSee {BOOK['softmax']}.") from None

    def check_loss():
        expected, got = run()
        loss = got[0]
        if np.ndim(loss) != 0:
            raise AssertionError(f"softmax_cross_entropy: loss should be a scalar, got shape "
                                 f"{np.shape(loss)}\n  inputs: {describe(args)}")
        diagnosed("loss", np.asarray(loss, dtype=dtype), np.asarray(expected[0]))

    def check_dlogits():
        expected, got = run()
        diagnosed("dlogits", got[1], expected[1])

    what = seed_label(seed) + (", with mask" if masked else "") + (f", logits x{scale:g}" if scale != 2 else "")
    score.part(weight / 2, f"softmax_cross_entropy: loss ({what}) [{describe(args)}]", check_loss)
    score.part(weight / 2, f"softmax_cross_entropy: dlogits ({what}) [{describe(args)}]", check_dlogits)


def check_torch_rnn(score: Score, weight: float, weights_fn, forward_fn, seed: int, T: int = 5,
                    N: int = 2, D: int = 3, H: int = 4) -> None:
    """Two parts: the weights taken from a torch.nn.RNN, and rnn_forward with them = torch's output."""
    import torch

    torch.manual_seed(seed)
    rnn = torch.nn.RNN(D, H)
    with torch.no_grad():  # non-zero biases, so a forgotten bias_hh shows
        rnn.bias_hh_l0.normal_()
        rnn.bias_ih_l0.normal_()
    x = torch.randn(T, N, D, generator=torch.Generator().manual_seed(seed + 1))
    h0 = torch.randn(1, N, H, generator=torch.Generator().manual_seed(seed + 2))
    with torch.no_grad():
        out, _ = rnn(x, h0)
    params, _ = reference(NP + "convert.from_torch")(rnn)
    ref = (params["Wx_l0"], params["Wh_l0"], params["b_l0"])
    inputs = {"x": x, "h0": h0[0]}
    state: dict = {}

    def weights():
        if "w" not in state:
            got = guard(weights_fn, "rnn_weights_from_torch")(rnn)
            if not isinstance(got, tuple) or len(got) != 3:
                raise AssertionError("rnn_weights_from_torch: expected (Wx, Wh, b), got "
                                     f"{type(got).__name__}")
            state["w"] = got
        return state["w"]

    def check_weights():
        got = weights()
        for name, g, e in zip(("Wx", "Wh", "b"), got, ref):
            assert_close("rnn_weights_from_torch", name, g, e,
                         {"weight_ih_l0": rnn.weight_ih_l0, "weight_hh_l0": rnn.weight_hh_l0})

    def check_output():
        Wx, Wh, b = weights()
        h = guard(forward_fn, "rnn_forward")(x.numpy().copy(), h0[0].numpy().copy(),
                                           np.asarray(Wx), np.asarray(Wh), np.asarray(b))
        if not isinstance(h, tuple):
            raise AssertionError(f"rnn_forward: expected (h, cache), got {type(h).__name__}")
        assert_close("rnn_forward", "h", h[0], out.numpy(), inputs,
                     against="torch.nn.RNN's output (with your rnn_weights_from_torch)")

    score.part(weight / 2, f"rnn_weights_from_torch ({seed_label(seed)}, D={D}, H={H})", check_weights)
    score.part(weight / 2, f"rnn_forward == torch.nn.RNN ({seed_label(seed)}) [{describe(inputs)}]",
               check_output)
