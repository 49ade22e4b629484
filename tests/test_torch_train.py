"""Training, evaluation, checkpoints, sampling and the command line of course_lib.torch_rnn."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from course_lib.data import Vocabulary, batchify  # noqa: E402
from course_lib.torch_rnn import training as training_mod  # noqa: E402
from course_lib.torch_rnn.models import RNNLM  # noqa: E402
from course_lib.torch_rnn.sampling import sample  # noqa: E402
from course_lib.torch_rnn.train import evaluate, load_checkpoint, train_lm  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


from torch_helpers import assert_close, one_thread  # noqa: E402,F401  (autouse fixture)


def _stream(n=600, V=12, seed=0):
    """A learnable stream: a noisy cycle through the vocabulary."""
    rng = np.random.default_rng(seed)
    ids = np.arange(n) % V
    flip = rng.random(n) < 0.1
    ids[flip] = rng.integers(0, V, flip.sum())
    return ids.astype(np.int64)


def _model(seed=0, V=12, dropout=0.0, rnn_type="LSTM"):
    torch.manual_seed(seed)
    return RNNLM(V, emsize=8, nhid=8, nlayers=2, rnn_type=rnn_type, dropout=dropout)


def test_evaluate_equals_one_pass_over_the_columns():
    m = _model()
    ids = _stream(203)
    loss = evaluate(m, ids, bptt=7, batch_size=4)
    # Carrying the state window by window is the same as one pass over each whole column.
    src = batchify(torch.from_numpy(ids), 4)  # (T, N)
    with torch.no_grad():
        logits, _ = m(src[:-1])
    ref = F.cross_entropy(logits.reshape(-1, 12), src[1:].reshape(-1)).item()
    assert loss == pytest.approx(ref, rel=1e-6)
    assert m.training, "evaluate must restore the training mode"
    with pytest.raises(ValueError, match="data_ids"):
        evaluate(m, np.zeros((3, 3), dtype=np.int64))


def test_one_step_is_clipped_plain_sgd():
    m = _model(1)
    ref = _model(1)
    ids = _stream(200)
    lr, clip = 2.0, 0.05
    train_lm(m, ids, ids, epochs=1, lr=lr, clip=clip, bptt=5, batch_size=4, max_batches=1,
             progress=False, device="cpu")
    src = batchify(torch.from_numpy(ids), 4)
    logits, _ = ref(src[:5], ref.init_hidden(4))
    F.cross_entropy(logits.reshape(-1, 12), src[1:6].reshape(-1)).backward()
    norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in ref.parameters()))
    assert norm > clip  # so the clipping is exercised
    with torch.no_grad():
        for p in ref.parameters():
            p -= lr * p.grad * (clip / (norm + 1e-6))
    for (name, a), b in zip(m.named_parameters(), ref.parameters()):
        assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


def test_training_lowers_validation_loss_and_history():
    torch.manual_seed(2)
    m = RNNLM(12, emsize=16, nhid=16, nlayers=1, dropout=0.0)
    train, valid = _stream(1200, seed=1), _stream(300, seed=2)
    before = evaluate(m, valid, 10, 5)
    hist = train_lm(m, train, valid, epochs=3, lr=5.0, clip=1.0, bptt=10, batch_size=8,
                    eval_batch_size=5, progress=False, seed=3, device="cpu")
    assert hist["epoch"] == [1, 2, 3]
    assert set(hist) >= {"train_loss", "valid_loss", "valid_ppl", "lr", "tokens_per_s"}
    assert hist["valid_loss"][-1] < 0.6 * before
    assert hist["valid_ppl"][-1] == pytest.approx(math.exp(hist["valid_loss"][-1]))


def test_lr_divided_by_four_when_validation_does_not_improve(monkeypatch):
    scripted = iter([5.0, 4.0, 4.5, 4.2, 3.0])
    monkeypatch.setattr(training_mod, "evaluate", lambda *a, **k: next(scripted))
    hist = train_lm(_model(), _stream(200), _stream(50), epochs=5, lr=8.0, bptt=5, batch_size=4,
                    max_batches=1, progress=False, device="cpu")
    assert hist["lr"] == [8.0, 8.0, 8.0, 2.0, 0.5]


def test_bad_arguments_raise_value_error():
    m = _model()
    with pytest.raises(ValueError, match="train_ids"):
        train_lm(m, np.zeros((4, 4), dtype=np.int64), _stream(50), epochs=1, progress=False)
    with pytest.raises(ValueError, match="bptt"):
        train_lm(m, _stream(100), _stream(50), epochs=1, bptt=0, progress=False)
    with pytest.raises(ValueError, match="ntoken"):
        train_lm(m, _stream(100, V=20), _stream(50), epochs=1, progress=False)
    with pytest.raises(ValueError, match="device"):
        train_lm(m, _stream(100), _stream(50), epochs=1, progress=False, device="tpu:7")


def test_checkpoint_round_trip_resumes_to_the_same_loss(tmp_path):
    vocab = Vocabulary([f"w{i}" for i in range(12)], unk="w0")
    train, valid = _stream(500, seed=4), _stream(200, seed=5)
    kw = dict(lr=5.0, clip=0.25, bptt=6, batch_size=5, progress=False, seed=7, device="cpu", vocab=vocab)

    straight = _model(3, dropout=0.3)
    hist_a = train_lm(straight, train, valid, epochs=2, **kw)

    first = _model(3, dropout=0.3)
    path = tmp_path / "lm.pt"
    train_lm(first, train, valid, epochs=1, checkpoint=path, **kw)
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 1 and ckpt["vocab"] == vocab and ckpt["config"] == first.config
    restored = ckpt["model"]
    assert evaluate(restored, valid, 6, 5) == evaluate(first, valid, 6, 5)
    # The restored model's next training step has exactly the same loss.
    x = torch.from_numpy(train[:12]).view(6, 2)
    torch.manual_seed(0)
    la = F.cross_entropy(first(x)[0].reshape(-1, 12), x.roll(-1, 0).reshape(-1))
    torch.manual_seed(0)
    lb = F.cross_entropy(restored(x)[0].reshape(-1, 12), x.roll(-1, 0).reshape(-1))
    assert la.item() == lb.item()
    # Resuming from the checkpoint reproduces the uninterrupted run (weights, lr, dropout draws).
    resumed = ckpt["model"]
    hist_b = train_lm(resumed, train, valid, epochs=2, checkpoint=path, resume=True, **kw)
    assert hist_b["epoch"] == [1, 2]
    assert hist_b["train_loss"] == hist_a["train_loss"]
    assert hist_b["valid_loss"] == hist_a["valid_loss"]
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_sampling_is_deterministic_for_a_seed():
    vocab = Vocabulary([f"w{i}" for i in range(12)], unk="w0")
    m = _model(4, dropout=0.5)
    a = sample(m, vocab, "w1 w2", 20, seed=3)
    b = sample(m, vocab, "w1 w2", 20, seed=3)
    c = sample(m, vocab, "w1 w2", 20, seed=4)
    assert isinstance(a, str) and len(a.split()) == 20
    assert a == b and a != c
    assert m.training, "sample must restore the training mode"
    toks = sample(m, vocab, ["w1", "w2"], 5, seed=3)
    assert toks == a.split()[:5]
    # temperature 0 and top_k=1 are both greedy decoding.
    greedy = sample(m, vocab, ["w3"], 6, temperature=0)
    assert sample(m, vocab, ["w3"], 6, top_k=1, seed=9) == greedy
    m.eval()
    with torch.no_grad():
        ids, h = [3], m.init_hidden(1)
        for _ in range(6):
            logits, h = m(torch.tensor([[ids[-1]]]), h)
            ids.append(int(logits[-1, 0].argmax()))
    assert greedy == [vocab.itos[i] for i in ids[1:]]
    assert sample(m, vocab, ["w1"], 0) == []
    with pytest.raises(ValueError, match="prefix"):
        sample(m, vocab, [], 3)  # no tokens and no <eos> to start from
    with pytest.raises(ValueError, match="temperature"):
        sample(m, vocab, "w1", 3, temperature=-1)
    with pytest.raises(ValueError, match="n"):
        sample(m, vocab, "w1", -1)


def test_top_k_restricts_the_support():
    vocab = Vocabulary([f"w{i}" for i in range(12)], unk="w0")
    m = _model(5)
    m.eval()
    with torch.no_grad():
        logits, _ = m(torch.tensor([[1]]))
    top2 = {vocab.itos[i] for i in torch.topk(logits[-1, 0], 2).indices.tolist()}
    firsts = {sample(m, vocab, ["w1"], 1, top_k=2, temperature=5.0, seed=s)[0] for s in range(30)}
    assert firsts <= top2 and len(firsts) == 2


@pytest.mark.slow
def test_cli_smoke_run_on_the_embedded_corpus(tmp_path):
    save = tmp_path / "cli.pt"
    cmd = [sys.executable, "-m", "course_lib.torch_rnn.train", "--emsize", "8", "--nhid", "8",
           "--nlayers", "1", "--epochs", "1", "--max-batches", "2", "--batch-size", "4", "--bptt", "5",
           "--max-eval-batches", "5", "--device", "cpu", "--save", str(save), "--no-progress",
           "--generate", "5", "--tied"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Warning" not in res.stderr, res.stderr[-2000:]
    assert "Python documentation" in res.stdout
    assert "| epoch   1 |" in res.stdout and "test ppl" in res.stdout
    ckpt = load_checkpoint(save)
    assert ckpt["config"]["tied"] and ckpt["config"]["nhid"] == 8
    assert len(ckpt["vocab"]) == ckpt["config"]["ntoken"]
    from course_lib.torch_rnn.train import main

    with pytest.raises(SystemExit, match="emsize"):
        main(cmd[3:] + ["--nhid", "9"])  # --tied with emsize 8 != nhid 9: a clear error, no training


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (no GPU on this machine)")
def test_training_and_sampling_on_cuda_match_the_cpu():
    vocab = Vocabulary([f"w{i}" for i in range(12)], unk="w0")
    train, valid = _stream(400, seed=6), _stream(100, seed=7)
    kw = dict(epochs=1, lr=5.0, clip=1.0, bptt=8, batch_size=4, max_batches=5, progress=False, seed=1)
    cpu, gpu = _model(6), _model(6)
    h_cpu = train_lm(cpu, train, valid, device="cpu", **kw)
    h_gpu = train_lm(gpu, train, valid, device="cuda", **kw)
    assert next(gpu.parameters()).is_cuda
    assert h_gpu["train_loss"][0] == pytest.approx(h_cpu["train_loss"][0], rel=1e-4)
    assert h_gpu["valid_loss"][0] == pytest.approx(h_cpu["valid_loss"][0], rel=1e-4)
    assert sample(gpu, vocab, "w1", 10, seed=2) == sample(gpu, vocab, "w1", 10, seed=2)


def test_cli_main_on_a_wikitext_style_folder(tmp_path, capsys):
    from course_lib.torch_rnn.train import main

    lines = [" ".join(f"w{(i + j) % 9}" for j in range(8)) for i in range(60)]
    for name, part in (("train.txt", lines[:40]), ("valid.txt", lines[40:50]), ("test.txt", lines[50:])):
        (tmp_path / name).write_text("\n".join(part) + "\n")
    save = tmp_path / "m.pt"
    assert main(["--data", str(tmp_path), "--model", "GRU", "--emsize", "6", "--nhid", "6", "--nlayers", "1",
                 "--epochs", "2", "--batch-size", "3", "--bptt", "4", "--eval-batch-size", "2",
                 "--device", "cpu", "--save", str(save), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "V=11" in out and "| epoch   2 |" in out and "test ppl" in out
    ckpt = load_checkpoint(save)
    assert ckpt["epoch"] == 2 and ckpt["config"]["rnn_type"] == "GRU" and len(ckpt["vocab"]) == 11


def _benchmark(name):
    """A script of benchmarks/ imported as a module (they import each other by file name)."""
    import importlib

    sys.path.insert(0, os.path.join(REPO, "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def _tiny_wikitext(folder):
    """A WikiText-style folder (valid.txt for training, test.txt) of 23 words, 80 lines."""
    lines = [" ".join(f"w{(i * 7 + j) % 23}" for j in range(10)) for i in range(80)]
    (folder / "valid.txt").write_text("\n".join(lines[:60]) + "\n")
    (folder / "test.txt").write_text("\n".join(lines[60:]) + "\n")


def test_wikitext_benchmark_runs_seeds_and_noise_floor(tmp_path, capsys):
    """benchmarks/bench_wikitext_lm.py end to end on a tiny WikiText-style folder: two seeds,
    both implementations and their one-ulp twins. A few SGD steps in float32 are far too few
    for round-off to grow, so course_lib and torch.nn must report the same perplexities."""
    import re

    bench = _benchmark("bench_wikitext_lm")
    _tiny_wikitext(tmp_path)
    from course_lib.torch_rnn import get_backend, set_backend

    before = get_backend()          # the benchmark sets the process-wide back end
    try:
        assert bench.main(["--data", str(tmp_path), "--epochs", "1", "--emsize", "8", "--nhid", "8",
                           "--batch-size", "4", "--bptt", "5", "--eval-batch-size", "2", "--lr", "1",
                           "--max-batches", "3", "--seed", "1", "2", "--noise-floor", "--threads", "1",
                           "--backend", "fused"]) == 0
    finally:
        set_backend(before)
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (course_lib|torch\.nn\.LSTM|torch\.nn, 1 ulp|course_lib, 1 ulp) +\| +(\d+) \|", out, re.M)
    assert len(rows) == 8 and {seed for _, seed in rows} == {"1", "2"}
    same = re.search(r"^\(course_lib - torch\.nn\.LSTM\) / torch\.nn\.LSTM per seed: (.*);", out, re.M)
    assert same, out
    assert all(abs(float(d.rstrip("%"))) < 0.01 for d in same.group(1).split(", "))
    assert "(torch.nn, 1 ulp - torch.nn.LSTM)" in out and "(course_lib, 1 ulp - course_lib)" in out
    assert re.search(r"mean test perplexities: .* \(target <= 2%\): PASS", out)


def test_fused_gradient_check_passes_and_catches_a_planted_bug(tmp_path, capsys, monkeypatch):
    """benchmarks/check_fused_gradients.py on a tiny WikiText-style folder: the fused LSTM's
    gradients match eager's at every step; a fused backward that forgets the forget gate on the
    cell-state path (dc[t-1] = dc[t] instead of dc[t] * f[t], a real BPTT slip) is reported
    and fails the run."""
    import course_lib.torch_rnn.fused as fused_mod

    check = _benchmark("check_fused_gradients")
    _tiny_wikitext(tmp_path)
    argv = ["--data", str(tmp_path), "--epochs", "2", "--emsize", "8", "--nhid", "8",
            "--batch-size", "4", "--bptt", "5", "--eval-batch-size", "2", "--lr", "1",
            "--max-batches", "3", "--threads", "1", "--every", "1"]
    assert check.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("gradient rel. difference") == 6 and "test ppl" in out and ": PASS" in out

    forward_loop, backward_loop = fused_mod.fused_lstm_loops()

    def buggy_backward_loop(dhs, dh_last, dc, w_hh, k_c, f, ka):
        return backward_loop(dhs, dh_last, dc, w_hh, k_c, torch.ones_like(f), ka)

    monkeypatch.setitem(fused_mod.FUSED_LOOPS, "lstm", (forward_loop, buggy_backward_loop))
    assert check.main(argv) == 1
    out = capsys.readouterr().out
    assert "OVER TOLERANCE" in out and "FAIL" in out
