"""The book as a reader gets it: a forced, warnings-as-errors build, then checks of the site."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from conftest import ROOT

pytestmark = [pytest.mark.book, pytest.mark.slow]


def toc_files() -> list[str]:
    """Every page named in _toc.yml (root, chapters, sections), as paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return found


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.refs.append(a[key])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_toc_lists_only_book_pages():
    for f in toc_files():
        assert f.startswith("book/"), f"_toc.yml lists {f!r}, outside book/"
        assert any((ROOT / f).with_suffix(s).exists() for s in (".md", ".ipynb")), f


def test_every_toc_page_is_built(built_book):
    for f in toc_files():
        page = built_book / f"{f}.html"
        assert page.exists(), f"{f} is in _toc.yml but {page} was not built"
        assert re.search(r"<h1\b", page.read_text(encoding="utf-8")), f"{page} has no title"


def test_no_cell_shows_an_error_or_stderr(built_book):
    bad = re.compile(r'class="[^"]*\b(output (?:traceback|stderr)|output error)\b|Traceback \(most recent call last\)')
    for f in toc_files():
        html = (built_book / f"{f}.html").read_text(encoding="utf-8")
        m = bad.search(html)
        assert m is None, f"{f}.html shows an error or stderr output: ...{html[max(0, m.start()-200):m.end()+300]}"


def test_internal_links_resolve(built_book):
    pages = sorted(built_book.rglob("*.html"))
    ids = {p.resolve(): _parse(p).ids for p in pages}
    broken = []
    for page in pages:
        if "_static" in page.parts or "_sources" in page.parts:
            continue
        for ref in _parse(page).refs:
            url = urlparse(ref)
            if url.scheme or ref.startswith(("//", "mailto:", "javascript:", "data:")):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page.resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(built_book)} -> {ref}")
            elif url.fragment and target.suffix == ".html":
                if url.fragment not in (ids[target] if target in ids else _parse(target).ids):
                    broken.append(f"{page.relative_to(built_book)} -> {ref} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:50])


def test_math_is_served_by_the_site_itself(built_book):
    html = (built_book / "book" / "intro.html").read_text(encoding="utf-8")
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', html, flags=re.I)
    assert scripts, "intro.html loads no MathJax"
    for src in scripts:
        assert not urlparse(src).scheme, f"MathJax comes from the network: {src}"
        assert (built_book / "book" / urlparse(src).path).resolve().exists(), f"MathJax file missing: {src}"
