"""What the instructor reads: student-controlled text made safe for tables, CSVs and logs.

A student chooses their file names, notebook cells, exception messages and (through an LMS)
even their display name. Printed raw, a newline forges a table row, an ANSI escape rewrites the
terminal, and a lone surrogate (``'\\ud800'``) makes every UTF-8 writer raise. ``printable``
turns any such value into one visible line.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"

# Unicode categories that are invisible or move the cursor: controls, format characters
# (bidi overrides, zero-width joiners), surrogates, private use, unassigned, line/paragraph
# separators.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b", "\\": "\\\\"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAYBE_UNSAFE = re.compile(r"[^ -\[\]-~]")  # anything but printable ASCII other than '\'


def _escape_char(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    if ch == " " or unicodedata.category(ch) not in _UNSAFE_CATEGORIES:
        return ch
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value, limit: int = 200) -> str:
    """One visible line for ``value``: safe in a table cell, a CSV field or a log line.

    Control characters, newlines, ANSI escapes, bidi/zero-width format characters and lone
    surrogates become visible escapes (``\\n``, ``\\x1b``, ``\\ud800``); a backslash is doubled so
    an escape cannot be faked. Letters of any script (``Zoë``, ``日本``) are kept. The result
    is cut to ``limit`` characters, the last one an ellipsis ``…`` when something was cut.

    Parameters
    ----------
    value : any
        Converted with ``str``; ``None`` gives ``""``.
    limit : int
        Largest length of the result (>= 1).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit: expected an int >= 1, got {limit!r}")
    text = "" if value is None else str(value)
    if _MAYBE_UNSAFE.search(text):
        text = "".join(_escape_char(ch) for ch in text)
    if len(text) > limit:
        text = text[:limit - 1] + ELLIPSIS
    return text


def storable(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so that it encodes as UTF-8.

    For text kept in full (a notebook's cells, an HTML page), where escaping every control
    character would change what the student wrote.
    """
    return _SURROGATE.sub("\ufffd", str(text)) if text else text
