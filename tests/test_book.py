"""The book as a reader gets it: a forced, warnings-as-errors build, then checks of the site."""

from __future__ import annotations

import re
import sys
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


def test_no_page_loads_a_script_twice(built_book):
    # A repeated inline `const` (sphinx-thebe's THEBE_JS_URL under Sphinx 7.4) is a SyntaxError
    # in every reader's browser; book/_ext/unique_scripts.py keeps one copy.
    script = re.compile(r"<script\b([^>]*)>(.*?)</script>", flags=re.S)
    for f in toc_files():
        html = (built_book / f"{f}.html").read_text(encoding="utf-8")
        seen = [m.group(0) for m in script.finditer(html)]
        repeated = sorted({s[:120] for s in seen if seen.count(s) > 1})
        assert not repeated, f"{f}.html loads these scripts more than once: {repeated}"


def _jupyter(cmd: list[str], home: Path, **kw):
    """Run a command as Binder's user would: ~ is `home`, the venv's tools first on PATH."""
    import subprocess

    from conftest import tool_env

    env = {k: v for k, v in tool_env().items() if not k.startswith("JUPYTER")}
    env["HOME"] = str(home)
    env["PATH"] = f"{home / 'bin'}:{env['PATH']}"
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True, **kw)


def test_binder_opens_every_page_as_a_notebook(tmp_path):
    """The launch button opens lab/tree/book/<page>.md on Binder: Jupytext must be installed and
    its notebook must be the default viewer of Markdown, and each page must read as a notebook."""
    import json

    import jupytext

    binder_reqs = (ROOT / "binder" / "requirements.txt").read_text()
    assert "-r ../requirements.txt" in binder_reqs.splitlines(), "binder/ must install the course's requirements"
    assert re.search(r"^jupytext\b", (ROOT / "requirements.txt").read_text(), flags=re.M)

    # Run binder/postBuild as repo2docker would, with `pip` replaced by a recorder.
    (tmp_path / "bin").mkdir()
    fake_pip = tmp_path / "bin" / "pip"
    fake_pip.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "pip.log"}\n')
    fake_pip.chmod(0o755)
    _jupyter(["bash", str(ROOT / "binder" / "postBuild")], tmp_path)
    assert (tmp_path / "pip.log").read_text().split() == ["install", "--no-deps", "-e", "."]

    # What JupyterLab (jupyterlab_server) reads as the settings overrides in that home.
    read = ("import json; from jupyter_server.services.config.manager import ConfigManager; "
            "print(json.dumps(ConfigManager(config_dir_name='labconfig').get('default_setting_overrides')))")
    overrides = json.loads(_jupyter([sys.executable, "-c", read], tmp_path).stdout)
    viewers = overrides.get("@jupyterlab/docmanager-extension:plugin", {}).get("defaultViewers", {})
    assert viewers.get("markdown") == "Jupytext Notebook", overrides
    assert "python" not in viewers, "course_lib's .py files must keep opening in the editor"
    # The viewer's name is the one this jupytext's JupyterLab extension registers.
    labext = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyterlab-jupytext"
    assert any("Jupytext Notebook" in js.read_text(errors="ignore") for js in labext.rglob("*.js")), labext

    for f in toc_files():
        source = (ROOT / f).with_suffix(".md")
        nb = jupytext.read(source)  # every page opens; prose-only pages as markdown cells
        n_code = source.read_text().count("```{code-cell}")
        if Path(f).name.startswith("ch"):
            assert n_code > 0, f"{f}: a chapter without code cells"
        if n_code:
            assert nb.metadata["jupytext"]["text_representation"]["format_name"] == "myst", f
            assert nb.metadata["kernelspec"]["name"] == "python3", f
            assert sum(c.cell_type == "code" for c in nb.cells) == n_code, f"{f}: Jupytext lost code cells"


def test_repository_docs_link_to_files_that_exist():
    # CONTRIBUTING.md once cited a DESIGN.md that did not exist.
    docs = ["README.md", "CONTRIBUTING.md", "DESIGN.md", "exercises/README.md", "autograder/README.md"]
    broken = []
    for doc in docs:
        text = (ROOT / doc).read_text()
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            if not urlparse(target).scheme and not ((ROOT / doc).parent / target).exists():
                broken.append(f"{doc} -> {target}")
        for name in re.findall(r"\b([A-Z]+\.md)\b", text):
            if not (ROOT / name).exists():
                broken.append(f"{doc} names {name}")
    assert not broken, broken
