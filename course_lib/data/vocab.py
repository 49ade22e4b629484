"""Vocabularies: the map between tokens and the integer ids a model sees.

A :class:`Vocabulary` holds ``itos`` (id -> token, a list) and ``stoi`` (token -> id, a
dict). Special tokens come first: ``<unk>`` (stands for every token not in the
vocabulary) then ``<eos>`` (end of line/sentence, appended per line as in pytorch/examples'
``word_language_model``), then any extra ``specials``, then the corpus tokens by
decreasing frequency, ties broken by sorting the tokens (so the vocabulary does not depend
on the order of the text: the alphabet gets ids in a..z order).

Two tokenizers: word level splits on whitespace, character level keeps every character
(spaces and newlines included, so ``decode(encode(text)) == text``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from ..validate import check_choice, check_int

__all__ = ["Vocabulary", "tokenize", "word_tokens", "UNK", "EOS"]

UNK = "<unk>"
EOS = "<eos>"
_LEVELS = ("word", "char")


def _check_level(level: str) -> str:
    return check_choice(level, "level", _LEVELS)


def tokenize(text: str, level: str = "word") -> List[str]:
    """Split a text into tokens.

    Parameters
    ----------
    text : str
    level : {"word", "char"}
        ``"word"``: ``text.split()`` (whitespace, no ``<eos>``; see :func:`word_tokens`).
        ``"char"``: ``list(text)``, every character including spaces and newlines.

    Returns
    -------
    list of str
    """
    if not isinstance(text, str):
        raise ValueError(f"text: expected a str, got {type(text).__name__}")
    if _check_level(level) == "char":
        return list(text)
    return text.split()


def word_tokens(text: str, eos: Optional[str] = EOS, skip_blank: bool = False) -> List[str]:
    """Word tokens line by line, with ``eos`` appended to every line.

    This is pytorch/examples' ``word_language_model`` tokenisation:
    ``for line in text: tokens += line.split() + ['<eos>']`` (blank lines give a lone
    ``<eos>`` unless ``skip_blank``).

    Parameters
    ----------
    text : str
    eos : str or None
        Token appended per line; ``None`` appends nothing.
    skip_blank : bool
        Drop lines with no tokens (the Python documentation has many).

    Returns
    -------
    list of str
    """
    if not isinstance(text, str):
        raise ValueError(f"text: expected a str, got {type(text).__name__}")
    out: List[str] = []
    tail = [eos] if eos is not None else []
    for line in text.splitlines():
        words = line.split()
        if skip_blank and not words:
            continue
        out.extend(words)
        out.extend(tail)
    return out


class Vocabulary:
    """A bidirectional token <-> id map with ``<unk>``/``<eos>`` handling.

    Parameters
    ----------
    itos : sequence of str
        Tokens in id order; must be unique and contain ``unk``/``eos`` when those are set.
    unk : str or None
        Token that unknown tokens map to. ``None``: encoding an unknown token raises
        ``ValueError``.
    eos : str or None
        End-of-line token (only recorded; :func:`word_tokens` appends it).
    level : {"word", "char"}
        How :meth:`encode` tokenizes a str and how :meth:`decode` joins tokens.

    Attributes
    ----------
    itos : list of str, length V
    stoi : dict str -> int

    Examples
    --------
    >>> v = Vocabulary.from_tokens("the cat saw the dog".split())
    >>> v.itos
    ['<unk>', 'the', 'cat', 'dog', 'saw']
    >>> v.encode("the dog saw a cat").tolist()
    [1, 3, 4, 0, 2]
    >>> v.decode([1, 3, 0])
    'the dog <unk>'
    """

    def __init__(
        self,
        itos: Sequence[str],
        unk: Optional[str] = UNK,
        eos: Optional[str] = None,
        level: str = "word",
    ) -> None:
        self.level = _check_level(level)
        self.itos: List[str] = [str(t) for t in itos]
        self.stoi: Dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            dup = [t for t, c in Counter(self.itos).items() if c > 1][:5]
            raise ValueError(f"itos: expected unique tokens, got duplicates {dup}")
        if not self.itos:
            raise ValueError("itos: expected at least one token, got an empty list")
        for name, tok in (("unk", unk), ("eos", eos)):
            if tok is not None and tok not in self.stoi:
                raise ValueError(f"{name}: token {tok!r} is not in itos")
        self.unk = unk
        self.eos = eos

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_tokens(
        cls,
        tokens: Iterable[str],
        min_freq: int = 1,
        max_size: Optional[int] = None,
        unk: Optional[str] = UNK,
        eos: Optional[str] = None,
        specials: Sequence[str] = (),
        level: str = "word",
    ) -> "Vocabulary":
        """Build a vocabulary from a token stream.

        Order of ids: ``unk``, ``eos``, ``specials``, then tokens with count >= ``min_freq``
        by decreasing count (ties: sorted), truncated so that ``len(vocab) <= max_size``.

        Parameters
        ----------
        tokens : iterable of str
            The training stream (e.g. :func:`word_tokens` output or ``list(text)``).
        min_freq : int
            Tokens seen fewer times map to ``unk`` (needs ``unk`` when it drops any).
        max_size : int or None
            Cap on V, specials included.
        unk, eos : str or None
            Special tokens, always in the vocabulary when not None.
        specials : sequence of str
            Further reserved tokens (e.g. a padding symbol), after ``unk``/``eos``.
        level : {"word", "char"}

        Returns
        -------
        Vocabulary
        """
        _check_level(level)
        check_int(min_freq, "min_freq")
        if isinstance(tokens, str):
            # A bare str is almost always a mistake at word level; at char level it is the text.
            if level == "word":
                raise ValueError("tokens: expected a sequence of tokens, got a str (use tokenize(text) first)")
            tokens = list(tokens)
        counts = Counter(tokens)
        if not counts:
            raise ValueError("tokens: expected a non-empty token stream, got an empty one")
        head: List[str] = []
        for t in [unk, eos, *specials]:
            if t is not None and t not in head:
                head.append(t)
        # At least room for the special tokens.
        check_int(max_size, "max_size", max(1, len(head)), optional=True)
        body = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in head),
            key=lambda t: (-counts[t], t),
        )
        if max_size is not None:
            body = body[: max_size - len(head)]
        if unk is None and len(body) + sum(t in counts for t in head) < len(counts):
            raise ValueError(
                "unk: min_freq/max_size drop tokens, so an <unk> token is needed; got unk=None"
            )
        return cls(head + body, unk=unk, eos=eos, level=level)

    @classmethod
    def from_text(cls, text: str, level: str = "word", **kwargs: Any) -> "Vocabulary":
        """:meth:`from_tokens` on ``tokenize(text, level)``; keyword arguments pass through."""
        return cls.from_tokens(tokenize(text, level), level=level, **kwargs)

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __iter__(self):
        return iter(self.itos)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self.itos == other.itos
            and self.unk == other.unk
            and self.eos == other.eos
            and self.level == other.level
        )

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self.itos[:8])
        more = ", ..." if len(self) > 8 else ""
        return f"Vocabulary(V={len(self)}, level={self.level!r}, unk={self.unk!r}, eos={self.eos!r}, itos=[{head}{more}])"

    @property
    def unk_id(self) -> Optional[int]:
        """Id of ``unk`` (None when the vocabulary has none)."""
        return None if self.unk is None else self.stoi[self.unk]

    @property
    def eos_id(self) -> Optional[int]:
        """Id of ``eos`` (None when the vocabulary has none)."""
        return None if self.eos is None else self.stoi[self.eos]

    def token_to_id(self, token: str) -> int:
        """Id of ``token``; unknown tokens give ``unk_id`` (ValueError when ``unk`` is None)."""
        i = self.stoi.get(token)
        if i is not None:
            return i
        if self.unk is None:
            raise ValueError(f"token: {token!r} is not in the vocabulary and it has no unk token")
        return self.stoi[self.unk]

    def id_to_token(self, i: int) -> str:
        """Token of id ``i``, ``0 <= i < V``."""
        return self.itos[check_int(i, "i", 0, len(self.itos) - 1)]

    __getitem__ = token_to_id

    # ------------------------------------------------------------------ encode / decode
    def encode(self, text_or_tokens: str | Iterable[str]) -> np.ndarray:
        """Map a text (tokenized at this vocabulary's level) or a token list to ids.

        Parameters
        ----------
        text_or_tokens : str or iterable of str, S tokens

        Returns
        -------
        ids : numpy.ndarray of int64, shape (S,)
            Unknown tokens become ``unk_id``.
        """
        tokens = tokenize(text_or_tokens, self.level) if isinstance(text_or_tokens, str) else text_or_tokens
        stoi = self.stoi
        get = stoi.get
        if self.unk is None:
            try:
                ids = [stoi[t] for t in tokens]
            except KeyError as e:
                raise ValueError(
                    f"text_or_tokens: token {e.args[0]!r} is not in the vocabulary and it has no unk token"
                ) from None
        else:
            u = stoi[self.unk]
            ids = [get(t, u) for t in tokens]
        return np.asarray(ids, dtype=np.int64)

    def decode_tokens(self, ids: Iterable[int]) -> List[str]:
        """Map ids (list, array or tensor, shape (S,)) to their tokens."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        itos = self.itos
        V = len(itos)
        out = []
        for i in ids:
            out.append(itos[check_int(i, "ids", 0, V - 1)])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Ids (shape (S,)) to text: tokens joined by ``""`` (char level) or ``" "`` (word level).

        ``decode(encode(text)) == text`` at char level when every character is known;
        at word level it gives ``" ".join(text.split())``.
        """
        sep = "" if self.level == "char" else " "
        return sep.join(self.decode_tokens(ids))

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> Dict[str, Any]:
        """A JSON-serialisable description (``itos``, ``unk``, ``eos``, ``level``)."""
        return {"itos": list(self.itos), "unk": self.unk, "eos": self.eos, "level": self.level}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Vocabulary":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, dict) or "itos" not in d:
            raise ValueError("d: expected a dict with an 'itos' list (from Vocabulary.to_dict)")
        return cls(d["itos"], unk=d.get("unk"), eos=d.get("eos"), level=d.get("level", "word"))

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as UTF-8 JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False, indent=0)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocabulary":
        """Read a vocabulary written by :meth:`save`."""
        with open(path, "r", encoding="utf-8") as f:
            return cls.from_dict(json.load(f))
