"""Offline corpora: generated toy languages, long-memory tasks, and text shipped with Python.

Generated (seeded, no files):

- :func:`alphabet` - the 26 letters, the stream of the batch-ification picture.
- :func:`childrens_book` - the children's-book language over {Doug, Jane, Spot, saw, .}
  ("Doug saw Jane ."), with :func:`classify_sentence` to name the mistakes a small RNN
  makes ("Doug saw Doug ." is *reflexive*, "Jane saw Spot saw Doug ..." is a *run-on*).
- :func:`learning_to_execute` - small Python programs and the value they print
  (Zaremba & Sutskever, 2014), each target checked by running the program in a
  restricted namespace (:func:`execute_program`).
- :func:`copy_task`, :func:`adding_task` - long-range memory benchmarks, time-major.

Real text available offline:

- :func:`python_docs_text` - the prose of the Python documentation topics
  (``pydoc_data.topics``, about 465k characters).
- :func:`python_source_text` - Python source of the standard library.
- :func:`load_text` - a user's text file; :func:`load_corpus` - a WikiText/PTB folder.
"""

from __future__ import annotations

import ast
import os
import re
import string
import sysconfig
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..validate import check_int, check_seed
from .vocab import EOS, UNK, Vocabulary, word_tokens

__all__ = [
    "alphabet",
    "CHILDRENS_BOOK_NAMES",
    "CHILDRENS_BOOK_WORDS",
    "childrens_book",
    "split_sentences",
    "classify_sentence",
    "is_grammatical",
    "sentence_report",
    "Program",
    "learning_to_execute",
    "execute_program",
    "copy_task",
    "adding_task",
    "python_docs_text",
    "python_source_text",
    "load_text",
    "Corpus",
    "load_corpus",
]

SeedLike = Union[None, int, np.random.Generator]


# =============================================================================== alphabet
def alphabet() -> str:
    """The lowercase alphabet ``"abcdefghijklmnopqrstuvwxyz"`` (26 characters).

    ``batchify(alphabet(), 4)`` is the book's picture: columns abcdef / ghijkl / mnopqr /
    stuvwx, and y, z dropped.
    """
    return string.ascii_lowercase


# ========================================================================= children's book
CHILDRENS_BOOK_NAMES: Tuple[str, ...] = ("Doug", "Jane", "Spot")
CHILDRENS_BOOK_WORDS: Tuple[str, ...] = CHILDRENS_BOOK_NAMES + ("saw", ".")


def childrens_book(n_sentences: int = 100, seed: SeedLike = 0, chained: bool = False) -> str:
    """Sentences of the children's-book language ``NAME saw OTHER_NAME .``.

    The grammar: ``S -> N1 saw N2 .`` with N1, N2 in {Doug, Jane, Spot} and N1 != N2
    (nobody sees themselves). Tokens are separated by single spaces, so ``text.split()``
    gives the word stream over the 5-word vocabulary ``CHILDRENS_BOOK_WORDS``.

    Parameters
    ----------
    n_sentences : int
        Number of sentences, >= 1.
    seed : int, numpy.random.Generator or None
    chained : bool
        If True each sentence's subject is the previous sentence's object
        ("Doug saw Jane . Jane saw Spot ."), the story of the book's intuition.

    Returns
    -------
    str
        e.g. ``"Doug saw Jane . Spot saw Doug ."``
    """
    n_sentences = check_int(n_sentences, "n_sentences", 1)
    rng = check_seed(seed)
    names = CHILDRENS_BOOK_NAMES
    out = []
    subj = names[int(rng.integers(len(names)))]
    for _ in range(n_sentences):
        if not chained:
            subj = names[int(rng.integers(len(names)))]
        others = [m for m in names if m != subj]
        obj = others[int(rng.integers(len(others)))]
        out.append(f"{subj} saw {obj} .")
        subj = obj
    return " ".join(out)


def _sentence_tokens(sentence: Union[str, Sequence[str]]) -> List[str]:
    if isinstance(sentence, str):
        # "Doug saw Jane." and "Doug saw Jane ." tokenize alike.
        return re.findall(r"[^\s.]+|\.", sentence)
    return [str(t) for t in sentence]


def split_sentences(text_or_tokens: Union[str, Sequence[str]]) -> List[List[str]]:
    """Split a children's-book text (or token stream) into sentences, each ending at ".".

    A trailing piece without "." is kept as a last, unfinished sentence.

    Returns
    -------
    list of list of str
    """
    tokens = _sentence_tokens(text_or_tokens)
    out: List[List[str]] = []
    cur: List[str] = []
    for t in tokens:
        cur.append(t)
        if t == ".":
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def classify_sentence(sentence: Union[str, Sequence[str]]) -> str:
    """Name what is right or wrong with one children's-book sentence.

    Returns
    -------
    {"ok", "reflexive", "run-on", "fragment", "ungrammatical"}
        - ``"ok"``: ``N1 saw N2 .`` with N1 != N2.
        - ``"reflexive"``: ``N saw N .`` ("Doug saw Doug .").
        - ``"run-on"``: names and "saw" alternate past the object
          ("Jane saw Spot saw Doug ." or without the final ".").
        - ``"fragment"``: stops early ("Doug ." or "Doug saw .", or no final ".").
        - ``"ungrammatical"``: anything else ("saw Doug .", "Doug Jane .").
    """
    toks = _sentence_tokens(sentence)
    names = set(CHILDRENS_BOOK_NAMES)
    body = toks[:-1] if toks and toks[-1] == "." else toks
    ended = len(body) < len(toks)
    # Names at even positions and "saw" at odd ones is the only shape the language allows.
    alternating = all((t in names) if i % 2 == 0 else (t == "saw") for i, t in enumerate(body))
    if not body or not alternating or "." in body:
        return "ungrammatical"
    if len(body) == 3 and ended:
        return "reflexive" if body[0] == body[2] else "ok"
    if len(body) > 3:
        return "run-on"
    return "fragment"


def is_grammatical(sentence: Union[str, Sequence[str]], allow_reflexive: bool = False) -> bool:
    """True for ``N1 saw N2 .`` with N1 != N2 (N1 == N2 too when ``allow_reflexive``)."""
    kind = classify_sentence(sentence)
    return kind == "ok" or (allow_reflexive and kind == "reflexive")


def sentence_report(text_or_tokens: Union[str, Sequence[str]]) -> Dict[str, int]:
    """Count each :func:`classify_sentence` kind over a generated text.

    Returns
    -------
    dict
        Keys ``"ok", "reflexive", "run-on", "fragment", "ungrammatical"`` (all present).
    """
    counts = Counter(classify_sentence(s) for s in split_sentences(text_or_tokens))
    return {k: counts.get(k, 0) for k in ("ok", "reflexive", "run-on", "fragment", "ungrammatical")}


# ====================================================================== learning to execute
@dataclass(frozen=True)
class Program:
    """A learning-to-execute example: Python source and what it prints.

    Attributes
    ----------
    code : str
        Statements ending in one ``print(...)`` of an int expression.
    output : str
        The printed value (``str`` of an int, no newline), from running ``code``.
    """

    code: str
    output: str


_LTE_OPS = ("add", "sub", "mul", "assign", "ifelse", "loop")

_ALLOWED_NODES = (
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.For, ast.If, ast.IfExp, ast.Call,
    ast.Name, ast.Load, ast.Store, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Compare,
    ast.Add, ast.Sub, ast.Mult, ast.USub, ast.UAdd, ast.Lt, ast.Gt, ast.LtE, ast.GtE,
    ast.Eq, ast.NotEq,
)


def execute_program(code: str) -> str:
    """Run a learning-to-execute program in a restricted namespace and return its output.

    The program may only use integer literals, variables, ``+ - *``, comparisons,
    ``if``/``else``, ``for ... in range(...)`` and ``print``; the namespace's builtins are
    exactly ``range`` and a ``print`` that records its arguments. Anything else (imports,
    attribute access, other calls, strings) raises ``ValueError`` before execution.

    Parameters
    ----------
    code : str

    Returns
    -------
    str
        What ``print`` wrote, lines joined by ``"\\n"``, without the final newline.
    """
    if not isinstance(code, str):
        raise ValueError(f"code: expected a str, got {type(code).__name__}")
    try:
        tree = ast.parse(code, mode="exec")
    except SyntaxError as e:
        raise ValueError(f"code: not valid Python ({e.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ValueError(f"code: {type(node).__name__} is not allowed in a learning-to-execute program")
        if isinstance(node, ast.Constant) and not (isinstance(node.value, int) and not isinstance(node.value, bool)):
            raise ValueError(f"code: only int literals are allowed, got {node.value!r}")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in ("print", "range")):
            raise ValueError("code: only print(...) and range(...) may be called")
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ValueError(f"code: name {node.id!r} is not allowed")
    lines: List[str] = []

    def _print(*args):
        lines.append(" ".join(str(a) for a in args))

    namespace = {"__builtins__": {"range": range, "print": _print}}
    exec(compile(tree, "<learning-to-execute>", "exec"), namespace)  # noqa: S102 - AST-checked above
    return "\n".join(lines)


class _ProgramGen:
    """Recursive generator after Zaremba & Sutskever (2014), 'Learning to Execute'."""

    def __init__(self, rng: np.random.Generator, length: int, ops: Sequence[str]):
        self.rng = rng
        self.length = length
        self.ops = list(ops)
        self.names = [c for c in string.ascii_lowercase if c not in "xl"]  # x is the loop variable
        self.used = 0

    def num(self) -> int:
        return int(self.rng.integers(0, 10 ** self.length))

    def small(self) -> int:
        # Loop counts and multipliers stay small so values grow polynomially, as in the paper.
        return int(self.rng.integers(1, 4 * self.length + 1))

    def var(self) -> str:
        i = self.used
        self.used += 1
        base = self.names[i % len(self.names)]
        return base if i < len(self.names) else f"{base}{i // len(self.names)}"

    def gen(self, depth: int) -> Tuple[List[str], str, int]:
        """Return (statements, expression, value) with ``depth`` nested operations."""
        if depth == 0:
            v = self.num()
            return [], str(v), v
        op = self.ops[int(self.rng.integers(len(self.ops)))]
        stmts, e, v = self.gen(depth - 1)
        if op in ("add", "sub"):
            c = self.num()
            sign = "+" if op == "add" else "-"
            if self.rng.random() < 0.5:
                return stmts, f"({e}{sign}{c})", v + c if op == "add" else v - c
            return stmts, f"({c}{sign}{e})", c + v if op == "add" else c - v
        if op == "mul":
            c = self.small()
            return stmts, f"({e}*{c})", v * c
        if op == "assign":
            name = self.var()
            return stmts + [f"{name}={e}"], name, v
        if op == "ifelse":
            a, b, other = self.num(), self.num(), self.num()
            cmp_ = "<" if self.rng.random() < 0.5 else ">"
            cond = a < b if cmp_ == "<" else a > b
            if self.rng.random() < 0.5:
                # Expression form, as in the paper's examples.
                return stmts, f"({e} if {a}{cmp_}{b} else {other})", v if cond else other
            name = self.var()
            block = [f"if {a}{cmp_}{b}:", f"  {name}={e}", "else:", f"  {name}={other}"]
            return stmts + block, name, v if cond else other
        if op == "loop":
            name = self.var()
            k, c = self.small(), self.num()
            sign = "+" if self.rng.random() < 0.5 else "-"
            block = [f"{name}={e}", f"for x in range({k}):", f"  {name}{sign}={c}"]
            return stmts + block, name, v + k * c if sign == "+" else v - k * c
        raise AssertionError(op)  # unreachable: ops validated by the caller


def learning_to_execute(
    n_programs: int,
    length: int = 4,
    nesting: int = 2,
    seed: SeedLike = 0,
    ops: Sequence[str] = _LTE_OPS,
) -> List[Program]:
    """Generate small Python programs and the value each prints.

    Each program is ``nesting`` operations composed, drawn from ``ops``:

    - ``"add"``/``"sub"``: ``(e+c)``, ``(c-e)``, ... with a ``length``-digit literal c;
    - ``"mul"``: ``(e*k)`` with a small k in ``1..4*length``;
    - ``"assign"``: ``v=e`` then uses ``v``;
    - ``"ifelse"``: ``(e if a<b else c)`` or an ``if``/``else`` statement;
    - ``"loop"``: ``v=e`` then ``for x in range(k): v+=c`` (or ``-=``);

    ending in ``print(expr)``. Literals have at most ``length`` digits. The target is
    obtained by *running* the program with :func:`execute_program` and must agree with the
    value the generator computed (a ``RuntimeError`` otherwise, which would be a bug).

    Parameters
    ----------
    n_programs : int
        >= 1.
    length : int
        Maximum number of digits of the literals, >= 1 (the paper's "length").
    nesting : int
        Number of composed operations, >= 1 (the paper's "nesting").
    seed : int, numpy.random.Generator or None
    ops : sequence of str
        Subset of ``("add", "sub", "mul", "assign", "ifelse", "loop")``.

    Returns
    -------
    list of Program
        Each with ``.code`` and ``.output``.

    Examples
    --------
    >>> p = learning_to_execute(1, length=2, nesting=2, seed=3)[0]
    >>> execute_program(p.code) == p.output
    True
    """
    n_programs = check_int(n_programs, "n_programs", 1)
    length = check_int(length, "length", 1)
    nesting = check_int(nesting, "nesting", 1)
    ops = tuple(ops)
    bad = [o for o in ops if o not in _LTE_OPS]
    if not ops or bad:
        raise ValueError(f"ops: expected a non-empty subset of {_LTE_OPS}, got {ops!r}")
    rng = check_seed(seed)
    out = []
    for _ in range(n_programs):
        g = _ProgramGen(rng, length, ops)
        stmts, expr, value = g.gen(nesting)
        code = "\n".join(stmts + [f"print({expr})"])
        printed = execute_program(code)
        if printed != str(value):
            raise RuntimeError(f"learning_to_execute: generator value {value} != executed {printed!r} for\n{code}")
        out.append(Program(code=code, output=printed))
    return out


# =============================================================================== memory tasks
def copy_task(
    n_sequences: int,
    seq_len: int = 10,
    delay: int = 20,
    n_symbols: int = 8,
    seed: SeedLike = 0,
) -> Tuple[np.ndarray, np.ndarray]:
    """The copy task: remember ``seq_len`` symbols across ``delay`` steps and replay them.

    Layout of one column (Arjovsky et al., 2016), ``T = 2 * seq_len + delay``::

        x:  s_1 .. s_K | 0 .. 0  GO | 0   ..  0
        y:  0   ..   0 | 0 .. 0   0 | s_1 .. s_K
            K steps      delay steps  K steps

    Symbols are ``1..n_symbols``, ``0`` is blank and ``GO = n_symbols + 1`` is the
    delimiter on the last delay step, so there are ``n_symbols + 2`` classes. A model
    that outputs blanks then random symbols has cross-entropy
    ``K * ln(n_symbols) / T`` per step.

    Parameters
    ----------
    n_sequences : int
        N >= 1.
    seq_len : int
        K >= 1 symbols to copy.
    delay : int
        Steps between the last symbol and the first recall, >= 1 (includes the GO step).
    n_symbols : int
        >= 1.
    seed : int, numpy.random.Generator or None

    Returns
    -------
    x : numpy.ndarray of int64, shape (T, N)
        Input ids.
    y : numpy.ndarray of int64, shape (T, N)
        Target ids; ``y[K + delay:] == x[:K]``.
    """
    N = check_int(n_sequences, "n_sequences", 1)
    K = check_int(seq_len, "seq_len", 1)
    delay = check_int(delay, "delay", 1)
    n_symbols = check_int(n_symbols, "n_symbols", 1)
    rng = check_seed(seed)
    T = 2 * K + delay
    x = np.zeros((T, N), dtype=np.int64)
    y = np.zeros((T, N), dtype=np.int64)
    symbols = rng.integers(1, n_symbols + 1, size=(K, N))  # (K, N)
    x[:K] = symbols
    x[K + delay - 1] = n_symbols + 1
    y[K + delay :] = symbols
    return x, y


def adding_task(
    n_sequences: int,
    seq_len: int = 50,
    seed: SeedLike = 0,
    dtype=np.float32,
) -> Tuple[np.ndarray, np.ndarray]:
    """The adding problem (Hochreiter & Schmidhuber, 1997; Le et al., 2015).

    Each step carries a value ``u[t] ~ U[0, 1)`` and a marker ``m[t] in {0, 1}``; exactly
    two markers are 1, one in the first half ``[0, T//2)`` and one in the second half
    ``[T//2, T)``. The target is the sum of the two marked values,
    ``y = sum_t m[t] * u[t]``. Always predicting 1 gives a mean squared error of about
    1/6, the baseline a model must beat.

    Parameters
    ----------
    n_sequences : int
        N >= 1.
    seq_len : int
        T >= 2.
    seed : int, numpy.random.Generator or None
    dtype : numpy float dtype

    Returns
    -------
    x : numpy.ndarray, shape (T, N, 2)
        ``x[..., 0]`` the values, ``x[..., 1]`` the markers.
    y : numpy.ndarray, shape (N,)
        The sums, in [0, 2).
    """
    N = check_int(n_sequences, "n_sequences", 1)
    T = check_int(seq_len, "seq_len", 2)
    rng = check_seed(seed)
    values = rng.random((T, N))  # (T, N)
    half = T // 2
    first = rng.integers(0, half, size=N)  # (N,)
    second = rng.integers(half, T, size=N)  # (N,)
    markers = np.zeros((T, N))
    cols = np.arange(N)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    x = np.stack([values, markers], axis=-1).astype(dtype)  # (T, N, 2)
    y = (x[..., 0] * x[..., 1]).sum(axis=0).astype(dtype)  # (N,)
    return x, y


# ================================================================================ real text
def python_docs_text() -> str:
    """The prose of the Python documentation topics shipped with Python.

    ``pydoc_data.topics.topics`` (the text ``help("topic")`` prints), topics in sorted key
    order joined by blank lines; about 465k characters on Python 3.11. The exact text
    depends on the Python version.

    Returns
    -------
    str
    """
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k].strip("\n") for k in sorted(topics))


_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "lib2to3"}


def _stdlib_files() -> List[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        # Tests and third-party packages are not "the standard library's source" and vary by install.
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for f in filenames:
            if f.endswith(".py"):
                files.append(Path(dirpath) / f)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def python_source_text(
    max_files: Optional[int] = None,
    max_chars: Optional[int] = 1_000_000,
    seed: SeedLike = None,
) -> str:
    """Python source code of the standard library, concatenated.

    Files are the ``.py`` files under ``sysconfig.get_paths()["stdlib"]`` (test suites and
    site-packages excluded), in sorted path order, or in a seeded permutation of that order
    when ``seed`` is given; deterministic for a given Python installation. Files are joined
    by a blank line and the result is cut at ``max_chars``.

    Parameters
    ----------
    max_files : int or None
        Use at most this many files (>= 1); None: all.
    max_chars : int or None
        Cut the text at this many characters (>= 1); None: no cut (tens of MB).
    seed : int, numpy.random.Generator or None
        None keeps sorted order.

    Returns
    -------
    str
    """
    if max_files is not None:
        max_files = check_int(max_files, "max_files", 1)
    if max_chars is not None:
        max_chars = check_int(max_chars, "max_chars", 1)
    files = _stdlib_files()
    if not files:
        raise ValueError("python_source_text: no .py files found in the standard library directory")
    if seed is not None:
        order = check_seed(seed).permutation(len(files))
        files = [files[i] for i in order]
    if max_files is not None:
        files = files[:max_files]
    parts: List[str] = []
    total = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # a few legacy files are not UTF-8; skipping them keeps the text clean
        parts.append(text)
        total += len(text) + 2
        if max_chars is not None and total >= max_chars:
            break
    out = "\n\n".join(parts)
    return out if max_chars is None else out[:max_chars]


def load_text(path: Union[str, os.PathLike], encoding: str = "utf-8") -> str:
    """Read a whole text file.

    Parameters
    ----------
    path : str or path-like
    encoding : str

    Returns
    -------
    str

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The file is empty (an empty corpus cannot train anything).
    """
    text = Path(path).read_text(encoding=encoding)
    if not text.strip():
        raise ValueError(f"path: {os.fspath(path)!r} is empty; expected a non-empty corpus")
    return text


@dataclass
class Corpus:
    """A tokenized WikiText/PTB-style corpus.

    Attributes
    ----------
    vocab : Vocabulary
        Built from the training split (``<unk>`` id 0, ``<eos>`` id 1).
    train, valid, test : numpy.ndarray of int64, shape (S,), or None
        The id streams (None for a split whose file is absent).
    """

    vocab: Vocabulary
    train: np.ndarray
    valid: Optional[np.ndarray]
    test: Optional[np.ndarray]

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{k}={'None' if getattr(self, k) is None else len(getattr(self, k))}" for k in ("train", "valid", "test")
        )
        return f"Corpus(V={len(self.vocab)}, {sizes})"


def load_corpus(
    directory: Union[str, os.PathLike],
    train: str = "train.txt",
    valid: Optional[str] = "valid.txt",
    test: Optional[str] = "test.txt",
    min_freq: int = 1,
    max_size: Optional[int] = None,
    eos: str = EOS,
    unk: str = UNK,
) -> Corpus:
    """Load a WikiText/PTB-style folder as word-id streams.

    Tokenisation follows pytorch/examples' ``word_language_model``: every line is
    ``line.split() + ["<eos>"]``. The vocabulary comes from the training file only (with
    ``min_freq``/``max_size``); words of valid/test that it lacks map to ``<unk>``
    (WikiText and PTB already contain ``<unk>`` tokens, which map to the same id).

    Parameters
    ----------
    directory : str or path-like
    train : str
        File name of the training split (must exist).
    valid, test : str or None
        File names of the held-out splits; a missing file (or None) gives ``None``.
    min_freq, max_size : see :meth:`Vocabulary.from_tokens`
    eos, unk : str

    Returns
    -------
    Corpus
        ``.vocab``, ``.train``, ``.valid``, ``.test`` (int64 arrays of shape (S,)).
    """
    d = Path(directory)
    if not d.is_dir():
        raise ValueError(f"directory: expected a folder with {train}, got {os.fspath(directory)!r}")
    train_path = d / train
    if not train_path.is_file():
        raise ValueError(f"train: {train_path} does not exist")
    train_tokens = word_tokens(load_text(train_path), eos=eos)
    vocab = Vocabulary.from_tokens(train_tokens, min_freq=min_freq, max_size=max_size, unk=unk, eos=eos)
    splits = {}
    for name, fname in (("valid", valid), ("test", test)):
        if fname is None or not (d / fname).is_file():
            splits[name] = None
        else:
            splits[name] = vocab.encode(word_tokens(load_text(d / fname), eos=eos))
    return Corpus(vocab=vocab, train=vocab.encode(train_tokens), valid=splits["valid"], test=splits["test"])
