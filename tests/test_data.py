"""course_lib.data: batchify/get_batch, vocabularies, generated corpora, text loaders."""

from __future__ import annotations

import contextlib
import io
import json
import re

import numpy as np
import pytest

from course_lib.data import (
    CHILDRENS_BOOK_WORDS,
    Vocabulary,
    adding_task,
    alphabet,
    batchify,
    childrens_book,
    classify_sentence,
    copy_task,
    execute_program,
    get_batch,
    is_grammatical,
    iter_batches,
    learning_to_execute,
    load_corpus,
    load_text,
    num_batches,
    python_docs_text,
    python_source_text,
    sentence_report,
    split_sentences,
    tokenize,
    word_tokens,
)

try:  # torch is an optional dependency of course_lib; only its tests need it
    import torch
except ImportError:  # pragma: no cover - the course's environment has torch
    torch = None
requires_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def columns(source) -> list[str]:
    return ["".join(str(c) for c in source[:, j].tolist()) for j in range(source.shape[1])]


# ================================================================================ batchify
def test_alphabet_picture():
    source = batchify(alphabet(), 4)
    assert isinstance(source, np.ndarray) and source.shape == (6, 4)
    assert columns(source) == ["abcdef", "ghijkl", "mnopqr", "stuvwx"]
    # Rows are time: the first row holds the first letter of every column.
    assert "".join(source[0]) == "agms"


def test_alphabet_picture_as_ids_through_a_vocabulary():
    v = Vocabulary.from_tokens(alphabet(), unk=None, level="char")
    source = batchify(v.encode(alphabet()), 4)  # (6, 4)
    assert source.dtype == np.int64
    assert [v.decode(source[:, j]) for j in range(4)] == ["abcdef", "ghijkl", "mnopqr", "stuvwx"]


@requires_torch
@pytest.mark.parametrize("S,N", [(10, 3), (12, 4), (7, 7), (5, 1)])
def test_batchify_layout_on_list_numpy_and_torch(S, N):
    T = S // N
    expected = np.arange(T * N).reshape(N, T).T  # column n is ids[n*T:(n+1)*T]
    out_list = batchify(list(range(S)), N)
    out_np = batchify(np.arange(S, dtype=np.int32), N)
    out_t = batchify(torch.arange(S), N)
    assert isinstance(out_list, np.ndarray) and out_list.shape == (T, N)
    assert isinstance(out_np, np.ndarray) and out_np.dtype == np.int32
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.int64
    for out in (out_list, out_np, out_t.numpy()):
        np.testing.assert_array_equal(out, expected)


@requires_torch
def test_batchify_keeps_the_tensor_device():
    # The meta device stands in for a GPU: a copy to the CPU would show up as device 'cpu'.
    out = batchify(torch.empty(20, device="meta"), 3)
    assert out.device.type == "meta" and tuple(out.shape) == (6, 3)


@requires_torch
@pytest.mark.gpu
def test_batchify_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    ids = torch.arange(26, device="cuda")
    out = batchify(ids, 4)
    assert out.device == ids.device
    np.testing.assert_array_equal(out.cpu().numpy(), batchify(np.arange(26), 4))


@pytest.mark.parametrize("bad", [0, -1, 27, 2.0, True])
def test_batchify_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        batchify(alphabet(), bad)


@pytest.mark.parametrize("bad", [[], np.zeros((3, 2)), "tensor"])
def test_batchify_bad_ids(bad):
    if isinstance(bad, str):
        if torch is None:
            pytest.skip("torch is not installed")
        bad = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="ids"):
        batchify(bad, 1)


# ================================================================================ get_batch
def test_get_batch_shift_and_short_last_batch():
    source = batchify(alphabet(), 4)  # (6, 4)
    x, y = get_batch(source, 0, 4)
    assert x.shape == y.shape == (4, 4)
    np.testing.assert_array_equal(x, source[0:4])
    np.testing.assert_array_equal(y, source[1:5])
    assert columns(x)[0] == "abcd" and columns(y)[0] == "bcde"
    # T - 1 - i = 1: only one target row is left.
    x, y = get_batch(source, 4, 4)
    assert x.shape == y.shape == (1, 4)
    assert "".join(x[0]) == "ekqw" and "".join(y[0]) == "flrx"


@requires_torch
def test_get_batch_torch_views():
    source = batchify(torch.arange(100), 5)  # (20, 5)
    x, y = get_batch(source, 17, 8)
    assert isinstance(x, torch.Tensor) and tuple(x.shape) == (2, 5)
    assert torch.equal(y, source[18:20]) and torch.equal(x[1:], y[:-1])


@pytest.mark.parametrize("S,N,bptt", [(26, 4, 2), (26, 4, 5), (100, 3, 7), (10, 5, 1), (9, 3, 50)])
def test_iter_batches_covers_every_target_once(S, N, bptt):
    source = batchify(np.arange(S), N)
    batches = list(iter_batches(source, bptt))
    assert len(batches) == num_batches(source, bptt)
    starts = [i for i, _, _ in batches]
    assert starts == list(range(0, source.shape[0] - 1, bptt))
    np.testing.assert_array_equal(np.concatenate([y for _, _, y in batches]), source[1:])
    np.testing.assert_array_equal(np.concatenate([x for _, x, _ in batches]), source[:-1])
    assert all(len(x) <= bptt for _, x, _ in batches)


@pytest.mark.parametrize("bad", [0, -3, 1.5])
def test_get_batch_bad_bptt(bad):
    source = batchify(alphabet(), 4)
    with pytest.raises(ValueError, match="bptt"):
        get_batch(source, 0, bad)
    with pytest.raises(ValueError, match="bptt"):
        iter_batches(source, bad)  # eagerly, before the first batch


@pytest.mark.parametrize("bad", [-1, 5, 6])
def test_get_batch_bad_start(bad):
    with pytest.raises(ValueError, match=r"^i: expected 0 <= i <= T - 2 = 4"):
        get_batch(batchify(alphabet(), 4), bad, 2)


# =============================================================================== vocabulary
def test_vocabulary_char_round_trip():
    text = "Doug saw Jane.\nJane saw Spot."
    v = Vocabulary.from_text(text, level="char")
    ids = v.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert v.decode(ids) == text
    assert len(v) == len(set(text)) + 1  # + <unk>


def test_vocabulary_word_round_trip_unknowns_and_order():
    tokens = "the cat saw the dog and the cat ran".split()
    v = Vocabulary.from_tokens(tokens, eos="<eos>")
    # Specials first, then by decreasing count, ties in sorted order.
    assert v.itos == ["<unk>", "<eos>", "the", "cat", "and", "dog", "ran", "saw"]
    assert v.decode(v.encode(tokens)) == " ".join(tokens)
    ids = v.encode("the zebra saw a cat")
    assert ids.tolist() == [2, 0, 7, 0, 3]
    assert v.decode(ids) == "the <unk> saw <unk> cat"
    assert "cat" in v and "zebra" not in v
    assert v.token_to_id("zebra") == v.unk_id == 0 and v["the"] == 2
    assert v.id_to_token(3) == "cat" and v.eos_id == 1


def test_vocabulary_min_freq_and_max_size():
    tokens = list("aaaabbbccd")
    v = Vocabulary.from_tokens(tokens, min_freq=2, level="char")
    assert v.itos == ["<unk>", "a", "b", "c"]
    assert v.encode("abcd").tolist() == [1, 2, 3, 0]
    v = Vocabulary.from_tokens(tokens, max_size=3, level="char")
    assert v.itos == ["<unk>", "a", "b"]


def test_vocabulary_closed_rejects_unknown():
    v = Vocabulary.from_tokens(list("abc"), unk=None, level="char")
    assert len(v) == 3
    with pytest.raises(ValueError, match="not in the vocabulary"):
        v.encode("abd")
    with pytest.raises(ValueError, match="unk"):
        Vocabulary.from_tokens(list("aab"), min_freq=2, unk=None, level="char")


def test_vocabulary_json_save_load(tmp_path):
    v = Vocabulary.from_tokens(word_tokens("ünïcode words\nand more words"), eos="<eos>")
    path = tmp_path / "vocab.json"
    v.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["itos"] == v.itos and data["unk"] == "<unk>" and data["eos"] == "<eos>"
    w = Vocabulary.load(path)
    assert w == v and w.stoi == v.stoi
    assert w.encode("more ünïcode nope").tolist() == v.encode("more ünïcode nope").tolist()


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: Vocabulary.from_tokens([]), "tokens"),
        (lambda: Vocabulary.from_tokens(["a"], min_freq=0), "min_freq"),
        (lambda: Vocabulary.from_tokens(["a"], max_size=0), "max_size"),
        (lambda: Vocabulary.from_tokens("a b"), "tokens"),
        (lambda: Vocabulary(["a", "a"]), "itos"),
        (lambda: tokenize("ab", level="byte"), "level"),
        (lambda: Vocabulary.from_tokens(["a"]).decode([5]), "ids"),
    ],
)
def test_vocabulary_bad_arguments(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_word_tokens_appends_eos_per_line():
    assert word_tokens("a b\n\nc") == ["a", "b", "<eos>", "<eos>", "c", "<eos>"]
    assert word_tokens("a b\n\nc", skip_blank=True) == ["a", "b", "<eos>", "c", "<eos>"]
    assert tokenize(" a  b\n", "char") == [" ", "a", " ", " ", "b", "\n"]


# =========================================================================== children's book
def test_childrens_book_sentences_are_grammatical():
    text = childrens_book(300, seed=1)
    sentences = split_sentences(text)
    assert len(sentences) == 300
    assert all(is_grammatical(s) for s in sentences)
    assert set(text.split()) == set(CHILDRENS_BOOK_WORDS)
    # Every one of the 6 (subject, object) pairs the grammar allows shows up.
    assert len({(s[0], s[2]) for s in sentences}) == 6
    assert sentence_report(text) == {"ok": 300, "reflexive": 0, "run-on": 0, "fragment": 0, "ungrammatical": 0}


def test_childrens_book_is_seeded_and_chained():
    assert childrens_book(20, seed=5) == childrens_book(20, seed=5)
    assert childrens_book(20, seed=5) != childrens_book(20, seed=6)
    sentences = split_sentences(childrens_book(50, seed=2, chained=True))
    assert all(a[2] == b[0] for a, b in zip(sentences, sentences[1:]))


@pytest.mark.parametrize(
    "sentence,kind",
    [
        ("Doug saw Jane .", "ok"),
        ("Spot saw Doug.", "ok"),
        ("Doug saw Doug.", "reflexive"),
        ("Jane saw Spot saw Doug saw", "run-on"),
        ("Jane saw Spot saw Doug .", "run-on"),
        ("Doug .", "fragment"),
        ("Doug saw .", "fragment"),
        ("saw Doug .", "ungrammatical"),
        ("Doug Jane .", "ungrammatical"),
        ("Doug saw Bob .", "ungrammatical"),
    ],
)
def test_classify_sentence_names_the_mistakes(sentence, kind):
    assert classify_sentence(sentence) == kind
    assert is_grammatical(sentence) == (kind == "ok")
    assert is_grammatical(sentence, allow_reflexive=True) == (kind in ("ok", "reflexive"))


# ====================================================================== learning to execute
def run_with_real_print(code: str) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(code, {"__builtins__": {"range": range, "print": print}})
    return buf.getvalue().rstrip("\n")


@pytest.mark.parametrize("length,nesting", [(1, 1), (2, 2), (4, 3), (6, 4)])
def test_learning_to_execute_targets_equal_program_output(length, nesting):
    programs = learning_to_execute(60, length=length, nesting=nesting, seed=length * 10 + nesting)
    assert len(programs) == 60
    for p in programs:
        assert p.output == run_with_real_print(p.code), p.code
        assert p.code.splitlines()[-1].startswith("print(")
        int(p.output)  # one integer value
    # Literals respect the length knob (multipliers and loop counts are smaller still).
    literals = [int(t) for p in programs for t in re.findall(r"\d+", p.code)]
    assert max(literals) < 10**length


def test_learning_to_execute_knobs_and_seed():
    ops = ("add", "sub", "mul", "assign", "ifelse", "loop")
    a = learning_to_execute(30, nesting=1, seed=0)
    b = learning_to_execute(30, nesting=4, seed=0)
    assert np.mean([len(p.code) for p in b]) > np.mean([len(p.code) for p in a])
    assert learning_to_execute(5, seed=3) == learning_to_execute(5, seed=3)
    assert learning_to_execute(5, seed=3) != learning_to_execute(5, seed=4)
    # Every construct appears over enough programs, and one op alone gives only that op.
    code = "\n".join(p.code for p in learning_to_execute(200, nesting=2, seed=1, ops=ops))
    assert "for x in range(" in code and " if " in code and "else" in code and "*" in code
    loops = learning_to_execute(10, nesting=1, seed=1, ops=("loop",))
    assert all("for x in range(" in p.code for p in loops)
    with pytest.raises(ValueError, match="ops"):
        learning_to_execute(1, ops=("divide",))
    for kw in ("length", "nesting", "n_programs"):
        args = {"n_programs": 1, kw: 0}
        with pytest.raises(ValueError, match=kw):
            learning_to_execute(**args)


@pytest.mark.parametrize(
    "code",
    ["import os", "print(open('x'))", "print(().__class__)", "print('s')", "print(len([1]))", "print(__import__)"],
)
def test_execute_program_is_restricted(code):
    with pytest.raises(ValueError, match="code"):
        execute_program(code)


def test_execute_program_runs_allowed_code():
    assert execute_program("a=3\nfor x in range(4):\n  a+=2\nprint((a if 1<2 else 0))") == "11"


# ============================================================================== memory tasks
def test_copy_task_shapes_and_targets():
    K, delay, n_symbols, N = 5, 7, 6, 32
    x, y = copy_task(N, seq_len=K, delay=delay, n_symbols=n_symbols, seed=0)
    T = 2 * K + delay
    assert x.shape == y.shape == (T, N) and x.dtype == y.dtype == np.int64
    assert ((x[:K] >= 1) & (x[:K] <= n_symbols)).all()
    np.testing.assert_array_equal(y[K + delay :], x[:K])
    assert (y[: K + delay] == 0).all()
    assert (x[K + delay - 1] == n_symbols + 1).all()  # the GO delimiter
    assert (x[K : K + delay - 1] == 0).all() and (x[K + delay :] == 0).all()
    x2, _ = copy_task(N, seq_len=K, delay=delay, n_symbols=n_symbols, seed=0)
    np.testing.assert_array_equal(x, x2)
    with pytest.raises(ValueError, match="delay"):
        copy_task(2, delay=0)


def test_adding_task_shapes_and_targets():
    T, N = 40, 64
    x, y = adding_task(N, seq_len=T, seed=1)
    assert x.shape == (T, N, 2) and y.shape == (N,) and x.dtype == y.dtype == np.float32
    markers = x[..., 1]
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert (markers.sum(axis=0) == 2).all()
    assert (markers[: T // 2].sum(axis=0) == 1).all() and (markers[T // 2 :].sum(axis=0) == 1).all()
    assert ((x[..., 0] >= 0) & (x[..., 0] < 1)).all()
    np.testing.assert_allclose(y, (x[..., 0] * markers).sum(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="seq_len"):
        adding_task(2, seq_len=1)


# ================================================================================ real text
def test_python_docs_text():
    text = python_docs_text()
    assert len(text) > 300_000 and text == python_docs_text()
    assert "The \"for\" statement" in text or "for_stmt" in text


def test_python_source_text_is_deterministic_and_capped():
    a = python_source_text(max_chars=5000)
    assert len(a) == 5000 and a == python_source_text(max_chars=5000)
    assert "def " in python_source_text(max_chars=200_000)
    shuffled = python_source_text(max_chars=5000, seed=1)
    assert shuffled == python_source_text(max_chars=5000, seed=1) and shuffled != a
    one = python_source_text(max_files=1, max_chars=None)
    assert a.startswith(one[:1000])
    with pytest.raises(ValueError, match="max_chars"):
        python_source_text(max_chars=0)


def test_load_text(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("hello\nworld\n", encoding="utf-8")
    assert load_text(p) == "hello\nworld\n"
    (tmp_path / "empty.txt").write_text("  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        load_text(tmp_path / "empty.txt")


def test_load_corpus(tmp_path):
    (tmp_path / "train.txt").write_text(" the cat sat \n\n the dog sat \n", encoding="utf-8")
    (tmp_path / "valid.txt").write_text(" the bird sat \n", encoding="utf-8")
    (tmp_path / "test.txt").write_text(" a <unk> \n", encoding="utf-8")
    c = load_corpus(tmp_path)
    v = c.vocab
    assert v.itos[:2] == ["<unk>", "<eos>"]
    # pytorch/examples: every line, blank ones too, ends in <eos>.
    assert v.decode_tokens(c.train) == "the cat sat <eos> <eos> the dog sat <eos>".split()
    assert v.decode_tokens(c.valid) == "the <unk> sat <eos>".split()
    assert c.test.tolist() == [v.unk_id, v.unk_id, v.eos_id]
    assert c.train.dtype == np.int64
    only_train = load_corpus(tmp_path, valid=None, test="missing.txt")
    assert only_train.valid is None and only_train.test is None
    with pytest.raises(ValueError, match="train"):
        load_corpus(tmp_path, train="nope.txt")
    (tmp_path / "blank.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        load_corpus(tmp_path, train="blank.txt")
    with pytest.raises(ValueError, match="directory"):
        load_corpus(tmp_path / "nowhere")
