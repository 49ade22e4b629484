"""Checks for ps5-lstm: LSTM step/sequence forward and backward, gates as switches, torch.nn.LSTM."""

from __future__ import annotations

import numpy as np

from .checks import Score, assert_close, describe, seed_label
from .factories import lstm_inputs
from .numpy_checks import backward_parts, forward_part
from .sealing import guard, reference

__all__ = ["check_lstm_step_forward", "check_lstm_step_backward", "check_lstm_forward",
           "check_lstm_backward", "check_gate_switches", "check_torch_lstm"]

NP = "course_lib.numpy_rnn."


def check_lstm_step_forward(score: Score, weight: float, fn, seed: int, N: int = 3, D: int = 4,
                            H: int = 5, dtype: str = "float64") -> None:
    """h and c of one LSTM step (gates i, f, g, o) compared with the reference."""
    args = lstm_inputs(seed, T=0, N=N, D=D, H=H, dtype=dtype)
    forward_part(score, weight, "lstm_step_forward", fn, NP + "lstm_step_forward", args,
                 ["h", "c"], f"h and c ({seed_label(seed)}, {dtype})", gates=True)


def check_lstm_forward(score: Score, weight: float, fn, seed: int, T: int = 4, N: int = 3,
                       D: int = 4, H: int = 5, dtype: str = "float64") -> None:
    """All h (T, N, H) and c (T, N, H) compared with the reference."""
    args = lstm_inputs(seed, T=T, N=N, D=D, H=H, dtype=dtype)
    forward_part(score, weight, "lstm_forward", fn, NP + "lstm_forward", args, ["h", "c"],
                 f"h and c ({seed_label(seed)}, T={T}, {dtype})", gates=True)


def check_lstm_step_backward(score: Score, weight: float, fwd, bwd, seed: int, N: int = 3,
                             D: int = 4, H: int = 5, dtype: str = "float64") -> None:
    """dx, dh_prev, dc_prev, dWx, dWh, db from upstream dh and dc."""
    args = lstm_inputs(seed, T=0, N=N, D=D, H=H, dtype=dtype)
    backward_parts(score, weight, "lstm_step_forward", "lstm_step_backward", fwd, bwd,
                   NP + "lstm_step_forward", NP + "lstm_step_backward", args, n_out=2,
                   grad_names=["dx", "dh_prev", "dc_prev", "dWx", "dWh", "db"],
                   grad_of=["x", "h_prev", "c_prev", "Wx", "Wh", "b"], seed=seed,
                   title=f"({seed_label(seed)}, {dtype})", kind="lstm")


def check_lstm_backward(score: Score, weight: float, fwd, bwd, seed: int, T: int = 4, N: int = 3,
                        D: int = 4, H: int = 5, dtype: str = "float64", step_bwd=None) -> None:
    """dx, dh0, dc0, dWx, dWh, db of BPTT through the LSTM from upstream dh (T, N, H).

    ``step_bwd``: the student's lstm_step_backward, which their lstm_backward calls; a gradient
    wrong only through it keeps its credit and the message names the helper.
    """
    args = lstm_inputs(seed, T=T, N=N, D=D, H=H, dtype=dtype)
    backward_parts(score, weight, "lstm_forward", "lstm_backward", fwd, bwd,
                   NP + "lstm_forward", NP + "lstm_backward", args, n_out=2, n_up=1,
                   grad_names=["dx", "dh0", "dc0", "dWx", "dWh", "db"],
                   grad_of=["x", "h0", "c0", "Wx", "Wh", "b"], seed=seed,
                   title=f"({seed_label(seed)}, T={T}, {dtype})", kind="lstm",
                   helper=("lstm_step_backward", step_bwd) if step_bwd is not None else None)


# (name, i, f, o, what must hold) with +1 = gate open (sigmoid(+30) ~ 1), -1 = closed
_SWITCHES = [
    ("reset", -1, -1, +1, "c = 0 (forget and input gates closed) and h = tanh(0) = 0"),
    ("keep", -1, +1, +1, "c = c_prev (forget open, input closed) and h = tanh(c_prev)"),
    ("write", +1, -1, +1, "c = g = tanh(b_g) (forget closed, input open) and h = tanh(g)"),
    ("output off", +1, +1, -1, "h = 0 (output gate closed) while c = c_prev + g"),
]


def check_gate_switches(score: Score, weight: float, fn, seed: int, N: int = 2, H: int = 3,
                        D: int = 2) -> None:
    """Four parts: with Wx = Wh = 0 and biases of +-30, the gates act as switches."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D))
    h_prev = rng.standard_normal((N, H))
    c_prev = rng.standard_normal((N, H))
    bg = rng.standard_normal(H)
    Wx, Wh = np.zeros((D, 4 * H)), np.zeros((H, 4 * H))
    ref = reference(NP + "lstm_step_forward")
    for name, i, f, o, what in _SWITCHES:
        b = np.concatenate([np.full(H, 30.0 * i), np.full(H, 30.0 * f), bg, np.full(H, 30.0 * o)])
        args = {"x": x, "h_prev": h_prev, "c_prev": c_prev, "Wx": Wx, "Wh": Wh, "b": b}

        def check(args=args, name=name, what=what):
            h_ref, c_ref, _ = ref(*args.values())
            out = guard(fn, "lstm_step_forward")(*[a.copy() for a in args.values()])
            if not isinstance(out, tuple) or len(out) != 3:
                raise AssertionError(f"lstm_step_forward: expected (h, c, cache), got {type(out).__name__}")
            for label, got, exp in (("c", out[1], c_ref), ("h", out[0], h_ref)):
                assert_close("lstm_step_forward", label, got, exp, args, rtol=1e-6, atol=1e-6,
                             against=f"the '{name}' switch: {what} (gate order i, f, g, o)")

        score.part(weight / len(_SWITCHES), f"lstm_step_forward: gates as switches, '{name}'", check)


def check_torch_lstm(score: Score, weight: float, weights_fn, forward_fn, seed: int, T: int = 5,
                     N: int = 2, D: int = 3, H: int = 4) -> None:
    """Two parts: the weights of a torch.nn.LSTM, and lstm_forward with them = torch's h and c."""
    import torch

    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(D, H)
    with torch.no_grad():
        lstm.bias_hh_l0.normal_()
    g = torch.Generator().manual_seed(seed + 1)
    x, h0, c0 = torch.randn(T, N, D, generator=g), torch.randn(1, N, H, generator=g), torch.randn(1, N, H, generator=g)
    with torch.no_grad():
        out, (hT, cT) = lstm(x, (h0, c0))
    params, _ = reference(NP + "convert.from_torch")(lstm)
    ref = (params["Wx_l0"], params["Wh_l0"], params["b_l0"])
    inputs = {"x": x, "h0": h0[0], "c0": c0[0]}
    state: dict = {}

    def weights():
        if "w" not in state:
            got = guard(weights_fn, "lstm_weights_from_torch")(lstm)
            if not isinstance(got, tuple) or len(got) != 3:
                raise AssertionError(f"lstm_weights_from_torch: expected (Wx, Wh, b), got {type(got).__name__}")
            state["w"] = got
        return state["w"]

    def check_weights():
        for name, g_, e in zip(("Wx", "Wh", "b"), weights(), ref):
            assert_close("lstm_weights_from_torch", name, g_, e,
                         {"weight_ih_l0": lstm.weight_ih_l0, "weight_hh_l0": lstm.weight_hh_l0})

    def check_output():
        Wx, Wh, b = weights()
        res = guard(forward_fn, "lstm_forward")(x.numpy().copy(), h0[0].numpy().copy(),
                                                c0[0].numpy().copy(), np.asarray(Wx),
                                                np.asarray(Wh), np.asarray(b))
        if not isinstance(res, tuple) or len(res) != 3:
            raise AssertionError(f"lstm_forward: expected (h, c, cache), got {type(res).__name__}")
        assert_close("lstm_forward", "h", res[0], out.numpy(), inputs,
                     against="torch.nn.LSTM's output (with your lstm_weights_from_torch)")
        assert_close("lstm_forward", "c[-1]", res[1][-1], cT[0].numpy(), inputs,
                     against="torch.nn.LSTM's final cell state")

    score.part(weight / 2, f"lstm_weights_from_torch ({seed_label(seed)}, D={D}, H={H})", check_weights)
    score.part(weight / 2, f"lstm_forward == torch.nn.LSTM ({seed_label(seed)}) [{describe(inputs)}]",
               check_output)
