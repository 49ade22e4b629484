"""The NumPy language model: gradients, truncated BPTT, optimizers, sampling, and that it learns."""

import math

import numpy as np
import pytest

from course_lib.data import batchify, get_batch
from course_lib.gradcheck import numerical_gradient, rel_error
from course_lib.numpy_rnn.lm import SGD, Adam, NumpyLM


def _stream(n, V, seed=0):
    return np.random.default_rng(seed).integers(0, V, size=n)


CONFIGS = [("rnn", 1), ("lstm", 1), ("gru", 1), ("lstm", 2), ("gru", 2)]


def _lm_problem(cell, num_layers, V=6, T=3, N=2, H=4):
    model = NumpyLM(V, 3, H, cell=cell, seed=1, dtype=np.float64, num_layers=num_layers)
    # a larger output layer than the init's U(-0.1, 0.1) so that the loss depends on h noticeably
    model.params["W_out"] *= 10
    model.params["W_embed"] *= 10
    model.params["b_out"] = np.linspace(-1, 1, V)
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, V, (T, N)), rng.integers(0, V, (T, N))
    h0 = rng.standard_normal((num_layers, N, H))
    h = (h0, rng.standard_normal((num_layers, N, H))) if cell == "lstm" else h0
    return model, x, y, h


@pytest.mark.parametrize("cell,num_layers", CONFIGS)
def test_loss_and_grads_match_numerical_gradient(cell, num_layers):
    model, x, y, h = _lm_problem(cell, num_layers)
    loss, grads, h_final = model.loss_and_grads(x, y, h)
    assert list(grads) == list(model.params)
    for k, p in model.params.items():
        assert grads[k].shape == p.shape and grads[k].dtype == p.dtype
        numeric = numerical_gradient(lambda _: model.loss(x, y, h)[0], p)
        err = rel_error(grads[k], numeric)
        # a scalar loss through L layers has gradient entries ~1e-6 whose centred differences
        # carry ~1e-11 of rounding noise; a wrong backward is off by O(1). The exact check is
        # the comparison with torch below.
        assert err < 1e-5, f"{cell}: d{k} rel_error {err:.2e}"


@pytest.mark.parametrize("cell,num_layers", CONFIGS)
def test_loss_grads_and_state_match_torch(cell, num_layers):
    torch = pytest.importorskip("torch")
    from course_lib.numpy_rnn.convert import grads_from_torch, to_torch

    model, x, y, h = _lm_problem(cell, num_layers)
    loss, grads, h_final = model.loss_and_grads(x, y, h)

    P = {k: torch.tensor(v, requires_grad=True) for k, v in model.params.items()
         if k in ("W_embed", "W_out", "b_out")}
    rnn = to_torch({k: v for k, v in model.params.items() if k not in P}, cell=cell)
    e = torch.nn.functional.embedding(torch.from_numpy(x), P["W_embed"])
    state = tuple(map(torch.from_numpy, h)) if cell == "lstm" else torch.from_numpy(h)
    out, t_final = rnn(e, state)
    logits = out @ P["W_out"] + P["b_out"]
    t_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, model.V),
                                               torch.from_numpy(y).reshape(-1))
    t_loss.backward()
    assert abs(loss - t_loss.item()) < 1e-12
    expected = dict(grads_from_torch(rnn), **{k: v.grad.numpy() for k, v in P.items()})
    assert sorted(expected) == sorted(grads)
    for k in grads:
        np.testing.assert_allclose(grads[k], expected[k], rtol=0, atol=1e-10, err_msg=k)
    for a, b in zip(h_final if cell == "lstm" else [h_final],
                    t_final if cell == "lstm" else [t_final]):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=0, atol=1e-12)


def test_truncated_bptt_equals_full_forward_and_cuts_the_gradient():
    V = 7
    model = NumpyLM(V, 4, 5, cell="lstm", seed=3, dtype=np.float64)
    source = batchify(_stream(3 * 13, V), 3)                     # (13, 3)
    x_full, y_full = get_batch(source, 0, 100)                   # (12, 3)

    def rows(lo, hi):
        m = np.zeros(x_full.shape)
        m[lo:hi] = 1.0
        return m

    # window 1 from a zero state is the full sequence's loss on its rows, gradients included
    x1, y1 = get_batch(source, 0, 5)
    loss1, grads1, h = model.loss_and_grads(x1, y1)
    full1, full_grads1, _ = model.loss_and_grads(x_full, y_full, mask=rows(0, 5))
    assert loss1 == pytest.approx(full1, rel=1e-13)
    for k in grads1:
        np.testing.assert_allclose(grads1[k], full_grads1[k], rtol=1e-10, atol=1e-15, err_msg=k)
    # window 2 continues from the carried state: the same loss as the full forward ...
    x2, y2 = get_batch(source, 5, 5)
    loss2, grads2, _ = model.loss_and_grads(x2, y2, h)
    full2, full_grads2, _ = model.loss_and_grads(x_full, y_full, mask=rows(5, 10))
    assert loss2 == pytest.approx(full2, rel=1e-13)
    # ... but its gradient stops at the window's start, while the full one reaches window 1
    assert not np.allclose(grads2["Wh_l0"], full_grads2["Wh_l0"], rtol=1e-3)
    # without the carried state the loss differs: the state really carries information
    assert model.loss(x2, y2)[0] != pytest.approx(loss2, rel=1e-6)

    # train()'s first step is exactly that first window
    history = NumpyLM(V, 4, 5, cell="lstm", seed=3, dtype=np.float64).train(
        _stream(3 * 13, V), steps=1, bptt=5, batch_size=3)
    assert history["loss"][0] == pytest.approx(loss1, rel=1e-13)


def test_evaluate_and_perplexity():
    V = 9
    ids = _stream(400, V, seed=4)
    model = NumpyLM(V, 4, 6, cell="gru", seed=0, dtype=np.float64)
    nll = model.evaluate(ids, batch_size=4, bptt=7)
    # the window length does not change the result: the state is carried across windows
    assert nll == pytest.approx(model.evaluate(ids, batch_size=4, bptt=1000), rel=1e-12)
    source = batchify(ids, 4)
    whole, _ = model.loss(*get_batch(source, 0, 1000))
    assert nll == pytest.approx(whole, rel=1e-12)
    assert model.perplexity(ids, batch_size=4, bptt=7) == pytest.approx(math.exp(nll), rel=1e-12)
    # an untrained model with a near-zero output layer is close to uniform: perplexity ~ V
    assert abs(model.perplexity(ids, batch_size=4) - V) < 0.5


def test_adam_and_sgd_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(4)]
    for ours, theirs in [(Adam(lr=0.1, betas=(0.8, 0.99), eps=1e-6),
                          lambda q: torch.optim.Adam([q], lr=0.1, betas=(0.8, 0.99), eps=1e-6)),
                         (SGD(lr=0.3, momentum=0.9), lambda q: torch.optim.SGD([q], lr=0.3, momentum=0.9)),
                         (SGD(lr=0.3), lambda q: torch.optim.SGD([q], lr=0.3))]:
        params = {"W": p0.copy()}
        q = torch.tensor(p0, requires_grad=True)
        opt = theirs(q)
        for g in grads:
            ours.step(params, {"W": g.copy()})
            q.grad = torch.tensor(g)
            opt.step()
        np.testing.assert_allclose(params["W"], q.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_sampling_is_deterministic_for_a_seed():
    model = NumpyLM(20, 8, 16, cell="lstm", seed=0)
    for k in ("W_out", "W_embed"):
        model.params[k] *= 30                    # a peaked, input-dependent distribution
    a = model.sample([1, 2, 3], 50, temperature=1.0, seed=7)
    b = model.sample(np.array([1, 2, 3]), 50, temperature=1.0, seed=7)
    assert a.dtype == np.int64 and a.shape == (50,)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, model.sample([1, 2, 3], 50, temperature=1.0, seed=8))
    assert a.min() >= 0 and a.max() < 20
    # temperature 0 is greedy: independent of the seed, and each token is the argmax
    g = model.sample([1, 2, 3], 5, temperature=0, seed=1)
    np.testing.assert_array_equal(g, model.sample([1, 2, 3], 5, temperature=0, seed=2))
    seq = [1, 2, 3]
    for w in g:
        scores, _, _ = model.forward(np.array(seq)[:, None])
        assert w == np.argmax(scores[-1, 0])
        seq.append(w)
    assert model.sample([4], 0, seed=0).shape == (0,)


def test_samples_follow_the_softmax_at_the_temperature():
    model = NumpyLM(6, 4, 8, cell="gru", seed=0, dtype=np.float64)
    model.params["b_out"] = np.log(np.array([0.4, 0.3, 0.15, 0.1, 0.04, 0.01]))
    prefix = np.array([2, 5])
    scores, _, _ = model.forward(prefix[:, None])
    rng = np.random.default_rng(0)
    for tau in (1.0, 0.5):
        p = np.exp(scores[-1, 0] / tau)
        p /= p.sum()
        draws = np.array([model.sample(prefix, 1, temperature=tau, seed=rng)[0] for _ in range(800)])
        freq = np.bincount(draws, minlength=6) / len(draws)
        # 800 draws: the standard error of each frequency is <= 0.018 (tau 1 vs 0.5 moves the
        # top probability by ~0.15, greedy decoding would move it to 1)
        np.testing.assert_allclose(freq, p, atol=0.06)


def test_training_keeps_dtype_and_lowers_the_loss_with_sgd():
    V = 5
    ids = np.tile(np.arange(V), 60)                                 # 0 1 2 3 4 0 1 2 ...
    model = NumpyLM(V, 4, 8, cell="rnn", seed=0)                     # float32
    before = model.evaluate(ids, batch_size=4)
    history = model.train(ids, epochs=10, bptt=10, batch_size=4, lr=0.5, optimizer="sgd",
                          clip=5.0, valid_ids=ids, seed=0)
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert history["steps"] == len(history["loss"]) == len(history["grad_norm"])
    assert len(history["valid_loss"]) == 10
    assert before > 1.5 and history["valid_loss"][-1] < 0.2          # ln 5 = 1.61 -> learnt
    assert isinstance(model.optimizer, SGD)


def test_bad_input_raises():
    model = NumpyLM(10, 4, 5, cell="lstm")
    x = np.zeros((3, 2), dtype=np.int64)
    with pytest.raises(ValueError, match=r"x: expected token ids in \[0, V\) = \[0, 10\)"):
        model.loss_and_grads(x + 10, x)
    with pytest.raises(ValueError, match=r"y: expected shape \(T, N\) = \(3, 2\)"):
        model.loss_and_grads(x, x[:2])
    with pytest.raises(ValueError, match="x: expected an integer"):
        model.loss_and_grads(x.astype(float), x)
    with pytest.raises(ValueError, match=r"h: expected the LSTM state as a pair"):
        model.loss_and_grads(x, x, np.zeros((1, 2, 5), np.float32))
    with pytest.raises(ValueError, match="h0"):
        model.loss_and_grads(x, x, (np.zeros((1, 3, 5), np.float32),) * 2)
    with pytest.raises(ValueError, match="epochs, steps"):
        model.train(np.arange(10).repeat(5))
    with pytest.raises(ValueError, match="optimizer"):
        model.train(np.arange(10).repeat(5), steps=1, optimizer="rmsprop")
    with pytest.raises(ValueError, match="prefix"):
        model.sample([], 3)
    with pytest.raises(ValueError, match="cell"):
        NumpyLM(10, 4, 5, cell="transformer")


def _char_corpus():
    from pydoc_data.topics import topics           # the Python docs' prose, shipped offline

    text = " ".join(topics.values())
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    return np.array([index[ch] for ch in text], dtype=np.int64), len(vocab)


@pytest.mark.slow
def test_lstm_lm_beats_the_unigram_model_on_python_docs():
    ids, V = _char_corpus()
    train, valid = ids[:200_000], ids[-10_000:]
    # unigram baseline: add-one smoothed training counts over the same vocabulary, scored on
    # the tokens the LM predicts (rows 1.. of the validation stream batchified in 10 columns)
    counts = np.bincount(train, minlength=V) + 1.0
    targets = batchify(valid, 10)[1:]
    unigram = float(-np.mean(np.log(counts / counts.sum())[targets]))

    # a fixed budget of 80 Adam steps of 32 x 32 characters (~2.5k characters per parameter
    # update, ~40% of one pass over the training slice)
    model = NumpyLM(V, 32, 64, cell="lstm", seed=0)
    history = model.train(train, steps=80, bptt=32, batch_size=32, lr=2e-2, optimizer="adam",
                          clip=1.0, seed=0)
    assert history["steps"] == 80 and np.mean(history["loss"][-10:]) < history["loss"][0] - 1.0
    lm = model.evaluate(valid, batch_size=10)
    # measured: unigram 3.19 nats/char, LSTM 2.08
    assert lm < unigram - 0.5, f"LSTM {lm:.3f} nats/char vs unigram {unigram:.3f}"
