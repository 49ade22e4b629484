"""Models of course_lib.torch_rnn.models: shapes, masking, weight tying, detach, decoding, learning."""

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from course_lib.torch_rnn import modules as cl_modules  # noqa: E402
from course_lib.torch_rnn.models import (  # noqa: E402
    EncoderDecoder,
    MaskedRNN,
    RNNLM,
    SeqClassifier,
    SeqTagger,
    VecToSeq,
    detach_hidden,
    lengths_to_mask,
    masked_cross_entropy,
)

RNN_TYPES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


from torch_helpers import assert_close, one_thread  # noqa: E402,F401  (autouse fixture)


def _pad_batch(seed, T=6, N=4, V=20, pad=0, lengths=(6, 3, 1, 4)):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, V, (T, N), generator=g)
    L = torch.tensor(lengths)
    for n in range(N):
        x[L[n]:, n] = pad
    return x, L


# ------------------------------------------------------------------------------------ RNNLM


@pytest.mark.parametrize("rnn_type", RNN_TYPES)
def test_rnnlm_shapes_and_hidden(rnn_type):
    torch.manual_seed(0)
    m = RNNLM(30, emsize=8, nhid=12, nlayers=2, rnn_type=rnn_type, dropout=0.0)
    x = torch.randint(0, 30, (7, 3))
    h0 = m.init_hidden(3)
    logits, h = m(x, h0)
    assert logits.shape == (7, 3, 30)
    if rnn_type == "LSTM":
        assert isinstance(h, tuple) and h[0].shape == h[1].shape == (2, 3, 12)
        assert float(h0[0].abs().sum() + h0[1].abs().sum()) == 0.0
    else:
        assert h.shape == (2, 3, 12)
    # Carrying the state across two halves equals one pass over the whole window.
    logits_a, h_a = m(x[:4], m.init_hidden(3))
    logits_b, _ = m(x[4:], h_a)
    assert_close(torch.cat([logits_a, logits_b]), logits)


def test_rnnlm_uses_course_lib_modules_and_matches_torch_nn():
    torch.manual_seed(0)
    ours = RNNLM(25, emsize=6, nhid=6, nlayers=2, dropout=0.0).double()
    ref = RNNLM(25, emsize=6, nhid=6, nlayers=2, dropout=0.0, rnn_impl="torch").double()
    assert isinstance(ours.rnn, cl_modules.LSTM) and not isinstance(ours.rnn, nn.LSTM)
    assert isinstance(ref.rnn, nn.LSTM)
    # Same parameter names and shapes: a state dict moves between the two implementations.
    ref.load_state_dict(ours.state_dict())
    x = torch.randint(0, 25, (9, 4))
    lo1, (h1, c1) = ours(x)
    lo2, (h2, c2) = ref(x)
    assert_close(lo1, lo2, atol=1e-10, rtol=0)
    assert_close(c1, c2, atol=1e-10, rtol=0)


def test_rnnlm_tied_weights_share_storage():
    m = RNNLM(40, emsize=10, nhid=10, nlayers=1, tied=True, dropout=0.0)
    assert m.decoder.weight is m.encoder.weight
    assert m.decoder.weight.data_ptr() == m.encoder.weight.data_ptr()
    # One parameter, counted once, receiving gradient from both uses.
    names = [n for n, _ in m.named_parameters()]
    assert "decoder.weight" not in names and "encoder.weight" in names
    logits, _ = m(torch.randint(0, 40, (5, 2)))
    logits.sum().backward()
    assert m.encoder.weight.grad is not None
    untied = RNNLM(40, emsize=10, nhid=10, nlayers=1, tied=False)
    assert untied.decoder.weight.data_ptr() != untied.encoder.weight.data_ptr()
    with pytest.raises(ValueError, match="emsize"):
        RNNLM(40, emsize=8, nhid=10, tied=True)


@pytest.mark.parametrize("bad", [dict(ntoken=0), dict(rnn_type="TRANSFORMER"), dict(dropout=1.5)])
def test_rnnlm_rejects_bad_arguments(bad):
    kwargs = dict(ntoken=10, emsize=4, nhid=4, nlayers=1)
    kwargs.update(bad)
    with pytest.raises(ValueError, match=next(iter(bad))):
        RNNLM(**kwargs)


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU"])
def test_detach_hidden_cuts_the_graph(rnn_type):
    torch.manual_seed(0)
    m = RNNLM(12, emsize=4, nhid=5, nlayers=2, rnn_type=rnn_type, dropout=0.0)
    first = torch.full((3, 2), 7)  # token 7 only in the first window
    second = torch.full((3, 2), 2)
    _, h = m(first)
    hd = m.detach_hidden(h)
    for a, b in zip(h if isinstance(h, tuple) else (h,), hd if isinstance(hd, tuple) else (hd,)):
        assert a.grad_fn is not None
        assert b.grad_fn is None and not b.requires_grad
        assert_close(a, b)
    assert type(hd) is type(h)
    logits, _ = m(second, hd)
    logits.sum().backward()
    g = m.encoder.weight.grad
    assert float(g[7].abs().sum()) == 0.0, "gradient leaked into the previous window"
    assert float(g[2].abs().sum()) > 0.0
    # Without detaching, the gradient does reach the first window's token.
    m.zero_grad()
    _, h = m(first)
    logits, _ = m(second, h)
    logits.sum().backward()
    assert float(m.encoder.weight.grad[7].abs().sum()) > 0.0


def test_detach_hidden_nested_and_bad_input():
    a = torch.ones(2, requires_grad=True) * 2
    out = detach_hidden([a, (a, a)])
    assert isinstance(out, list) and isinstance(out[1], tuple) and out[1][0].grad_fn is None
    with pytest.raises(ValueError, match="h"):
        detach_hidden("not a state")


# ------------------------------------------------------------------------------------ masking


def test_lengths_to_mask_and_masked_loss():
    mask = lengths_to_mask(torch.tensor([3, 1]), 4)
    assert mask.tolist() == [[True, True], [True, False], [True, False], [False, False]]
    with pytest.raises(ValueError, match="lengths"):
        lengths_to_mask(torch.tensor([5]), 4)
    logits = torch.randn(4, 2, 3)
    targets = torch.randint(0, 3, (4, 2))
    full = masked_cross_entropy(logits, targets, mask)
    ref = nn.functional.cross_entropy(logits[mask], targets[mask])
    assert_close(full, ref)
    with pytest.raises(ValueError, match="targets"):
        masked_cross_entropy(logits, targets[:3])


@pytest.mark.parametrize("rnn_type,bidirectional", [("LSTM", True), ("GRU", False), ("RNN_TANH", True)])
def test_masked_rnn_matches_torch_nn_without_padding(rnn_type, bidirectional):
    torch.manual_seed(0)
    ours = MaskedRNN(rnn_type, 3, 5, num_layers=2, bidirectional=bidirectional).double()
    cls = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN_TANH": nn.RNN}[rnn_type]
    ref = cls(3, 5, num_layers=2, bidirectional=bidirectional).double()
    dirs = 2 if bidirectional else 1
    with torch.no_grad():
        for layer in range(2):
            for d in range(dirs):
                cell = ours.cells[layer * dirs + d]
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(ref, name + sfx).copy_(getattr(cell, name))
    x = torch.randn(6, 4, 3, dtype=torch.float64)
    out, h = ours(x)
    out_ref, h_ref = ref(x)
    assert_close(out, out_ref, atol=1e-10, rtol=0)
    if rnn_type == "LSTM":
        assert_close(h[0], h_ref[0], atol=1e-10, rtol=0)
        assert_close(h[1], h_ref[1], atol=1e-10, rtol=0)
    else:
        assert_close(h, h_ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_classifier_ignores_padding(rnn_type, bidirectional, pooling):
    torch.manual_seed(1)
    clf = SeqClassifier(3, vocab_size=20, emsize=5, hidden_size=6, num_layers=2, rnn_type=rnn_type,
                        bidirectional=bidirectional, pooling=pooling)
    clf.eval()
    x, L = _pad_batch(0)
    logits = clf(x, L)
    assert logits.shape == (4, 3)
    alone = torch.cat([clf(x[: L[n], n: n + 1]) for n in range(4)])
    assert_close(logits, alone, atol=1e-6, rtol=0)
    # Whatever sits in the padding does not matter.
    x2 = x.clone()
    x2[~lengths_to_mask(L, 6)] = 13
    assert_close(clf(x2, L), logits, atol=1e-6, rtol=0)
    # ...but without lengths it would: the mask is what makes the difference.
    assert not torch.allclose(clf(x2), clf(x))


def test_classifier_float_features_and_bad_input():
    clf = SeqClassifier(2, input_size=3, hidden_size=4)
    assert clf(torch.randn(5, 6, 3)).shape == (6, 2)
    with pytest.raises(ValueError, match="x"):
        clf(torch.randn(5, 6, 4))
    with pytest.raises(ValueError, match="lengths"):
        clf(torch.randn(5, 6, 3), torch.tensor([5, 5]))
    with pytest.raises(ValueError, match="pooling"):
        SeqClassifier(2, input_size=3, pooling="median")
    with pytest.raises(ValueError, match="vocab_size"):
        SeqClassifier(2)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_tagger_shapes_and_padding(bidirectional):
    torch.manual_seed(2)
    tagger = SeqTagger(20, 5, emsize=4, hidden_size=6, bidirectional=bidirectional, rnn_type="GRU")
    x, L = _pad_batch(1)
    logits = tagger(x, L)
    assert logits.shape == (6, 4, 5)
    for n in range(4):
        assert_close(logits[: L[n], n], tagger(x[: L[n], n: n + 1])[:, 0], atol=1e-6, rtol=0)
    # Each step's output depends on later inputs only when bidirectional.
    x2 = x.clone()
    x2[5, 0] = (x[5, 0] % 19) + 1
    changed = not torch.allclose(tagger(x2, L)[0, 0], logits[0, 0])
    assert changed == bidirectional
    tags = torch.randint(0, 5, (6, 4))
    loss = tagger.loss(x, tags, L)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)


# ------------------------------------------------------------------------------------ vec -> seq


def test_vec_to_seq_teacher_forcing_and_generation():
    torch.manual_seed(3)
    gen = VecToSeq(6, 11, emsize=5, hidden_size=7, num_layers=2, bos_idx=1, eos_idx=2, pad_idx=0)
    vec = torch.randn(3, 6)
    tokens = torch.randint(3, 11, (5, 3))
    tokens[0] = 1
    assert gen(vec, tokens).shape == (5, 3, 11)
    # The vector conditions the output.
    assert not torch.allclose(gen(vec, tokens), gen(vec + 1, tokens))
    loss = gen.loss(vec, tokens)
    loss.backward()
    assert gen.to_h.weight.grad.abs().sum() > 0
    out = gen.generate(vec, max_len=8)
    assert out.dtype == torch.long and out.shape[1] == 3 and out.shape[0] <= 8
    s1 = gen.generate(vec, max_len=8, greedy=False, seed=5)
    s2 = gen.generate(vec, max_len=8, greedy=False, seed=5)
    assert torch.equal(s1, s2)
    # After <eos> a sequence only emits padding.
    for col in s1.t().tolist():
        if 2 in col:
            assert all(t == 0 for t in col[col.index(2) + 1:])
    with pytest.raises(ValueError, match="vec"):
        gen(torch.randn(3, 5), tokens)


# ------------------------------------------------------------------------------------ encoder-decoder


def test_encoder_decoder_shapes_masking_and_teacher_forcing():
    torch.manual_seed(4)
    ed = EncoderDecoder(15, 13, emsize=6, hidden_size=8, num_layers=2, bidirectional_encoder=True)
    ed.eval()
    src, L = _pad_batch(2, V=15)
    tgt_in = torch.randint(3, 13, (5, 4))
    tgt_in[0] = ed.bos_idx
    logits = ed(src, tgt_in, L)
    assert logits.shape == (5, 4, 13)
    # Padding of the source is ignored: each sequence encoded alone gives the same logits.
    for n in range(4):
        alone = ed(src[: L[n], n: n + 1], tgt_in[:, n: n + 1])
        assert_close(logits[:, n], alone[:, 0], atol=1e-6, rtol=0)
    # Ratio 0 feeds back the model's own argmax: later target tokens do not matter.
    tgt2 = tgt_in.clone()
    tgt2[2:] = 3
    free1 = ed(src, tgt_in, L, teacher_forcing_ratio=0.0)
    assert_close(free1, ed(src, tgt2, L, teacher_forcing_ratio=0.0))
    assert not torch.allclose(ed(src, tgt_in, L), ed(src, tgt2, L))
    # Free running equals greedy decoding's choices.
    greedy = ed.greedy_decode(src, L, max_len=5)
    steps = min(greedy.size(0), 5)
    first = free1.argmax(-1)[:steps]
    alive = torch.ones(4, dtype=torch.bool)
    for t in range(steps):
        assert torch.equal(first[t][alive], greedy[t][alive])
        alive &= greedy[t] != ed.eos_idx
    # A ratio in (0, 1) is reproducible for a seed.
    assert_close(ed(src, tgt_in, L, 0.5, seed=3), ed(src, tgt_in, L, 0.5, seed=3))
    tgt = torch.cat([tgt_in, torch.zeros(1, 4, dtype=torch.long)])  # pads at the end
    loss = ed.loss(src, tgt, L)
    ref = nn.functional.cross_entropy(logits.reshape(-1, 13), tgt[1:].reshape(-1), ignore_index=0)
    assert_close(loss, ref)
    with pytest.raises(ValueError, match="teacher_forcing_ratio"):
        ed(src, tgt_in, L, teacher_forcing_ratio=2.0)


def test_beam_search_of_width_one_is_greedy_and_sampling_is_seeded():
    torch.manual_seed(5)
    ed = EncoderDecoder(10, 10, emsize=4, hidden_size=6, rnn_type="GRU")
    ed.eval()
    src, L = _pad_batch(3, V=10)
    greedy = ed.greedy_decode(src, L, max_len=6).t().tolist()
    beams = ed.beam_search(src, L, beam_size=1, max_len=6)
    for g, b in zip(greedy, beams):
        g = g[: g.index(ed.eos_idx) + 1] if ed.eos_idx in g else g
        assert b == g
    wide = ed.beam_search(src, L, beam_size=4, max_len=6)
    assert len(wide) == 4 and all(isinstance(t, int) for seq in wide for t in seq)
    a = ed.sample_decode(src, L, max_len=6, seed=11, temperature=1.5)
    b = ed.sample_decode(src, L, max_len=6, seed=11, temperature=1.5)
    assert torch.equal(a, b)


def _reverse_batch(n, gen, max_len, pad=0, bos=1, eos=2):
    """Digit strings (tokens 3..12) of length 1..max_len and their reversals with <bos>/<eos>."""
    L = torch.randint(1, max_len + 1, (n,), generator=gen)
    src = torch.full((max_len, n), pad)
    tgt = torch.full((max_len + 2, n), pad)
    for i in range(n):
        d = torch.randint(3, 13, (int(L[i]),), generator=gen)
        src[: L[i], i] = d
        tgt[0, i] = bos
        tgt[1: L[i] + 1, i] = d.flip(0)
        tgt[L[i] + 1, i] = eos
    return src, L, tgt


@pytest.mark.slow
def test_encoder_decoder_learns_to_reverse_digit_strings():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    max_len = 5
    ed = EncoderDecoder(13, 13, emsize=16, hidden_size=64, rnn_type="LSTM")
    opt = torch.optim.Adam(ed.parameters(), lr=1e-2)
    for _ in range(REVERSE_STEPS):
        src, L, tgt = _reverse_batch(64, gen, max_len)
        loss = ed.loss(src, tgt, L)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(ed.parameters(), 1.0)
        opt.step()
    ed.eval()
    src, L, tgt = _reverse_batch(400, torch.Generator().manual_seed(123), max_len)
    out = ed.greedy_decode(src, L, max_len=max_len + 1)  # (T', N)
    ref = tgt[1:]  # y1 .. <eos>, pads
    pred = torch.zeros_like(ref)
    pred[: out.size(0)] = out[: ref.size(0)]
    mask = ref != 0
    acc = float(((pred == ref) & mask).sum()) / float(mask.sum())
    assert acc >= 0.95, f"token accuracy {acc:.3f} < 0.95 after {REVERSE_STEPS} steps"


REVERSE_STEPS = 200


# ------------------------------------------------------------------------------------ long memory


def _copy_recall_accuracy(kind, steps, delay=40, hidden=32, n_symbols=4, seed=0):
    """Train a recurrent tagger on the copy task (one symbol, ``delay`` steps) and score the recall.

    ``x = s, 0 .. 0, GO`` and the target at the last step is ``s``: the symbol must survive
    ``delay`` steps of blanks. Returns the recall accuracy on fresh sequences (chance 1/n_symbols).
    """
    from course_lib.data import copy_task
    from course_lib.torch_rnn import LSTM, RNN

    torch.manual_seed(seed)
    emb = nn.Embedding(n_symbols + 2, 16)
    rnn = (LSTM if kind == "LSTM" else RNN)(16, hidden)
    head = nn.Linear(hidden, n_symbols + 2)
    if kind == "LSTM":
        with torch.no_grad():
            # Forget-gate bias 3 (sigma = 0.95): the cell starts out remembering, as in
            # Gers et al. (2000) and the chrono initialisation; gates are i, f, g, o.
            rnn.bias_ih_l0[hidden: 2 * hidden].fill_(3.0)
    params = [*emb.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    for it in range(steps):
        x, y = (torch.from_numpy(a) for a in copy_task(64, 1, delay, n_symbols, seed=seed * 10_000 + it))
        logits = head(rnn(emb(x))[0][-1])  # (N, C): the recall step
        loss = nn.functional.cross_entropy(logits, y[-1])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    x, y = (torch.from_numpy(a) for a in copy_task(500, 1, delay, n_symbols, seed=10**6))
    with torch.no_grad():
        pred = head(rnn(emb(x))[0][-1]).argmax(-1)
    return float((pred == y[-1]).float().mean())


@pytest.mark.slow
def test_lstm_remembers_across_40_steps_where_the_plain_rnn_stays_at_chance():
    lstm = _copy_recall_accuracy("LSTM", steps=120)
    rnn = _copy_recall_accuracy("RNN", steps=120)
    assert lstm >= 0.9, f"LSTM recall accuracy {lstm:.3f}"
    assert rnn <= 0.4, f"plain RNN recall accuracy {rnn:.3f} (chance 0.25)"
