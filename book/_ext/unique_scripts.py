"""Emit each page's scripts once: the fix for "Identifier 'THEBE_JS_URL' has already been declared".

Why the error appears on every page: sphinx-thebe (loaded by Jupyter Book whether or not thebe is
used) registers the inline script ``const THEBE_JS_URL = ...`` with ``app.add_js_file(None,
body=...)`` at ``env-before-read-docs``, after the HTML builder was initialised. Sphinx 7.4
(jupyter-book 1.0.4 allows only ``sphinx~=7.0``) hands such a late script to the builder at once
(``filename=None``) and again in ``StandaloneHTMLBuilder.prepare_writing`` ("assets registered
after Builder.init()", re-added with ``filename=''``). ``None != ''`` defeats the builder's
duplicate check, so the page declares the ``const`` twice and the browser throws a SyntaxError.
sphinx-togglebutton's ``var togglebuttonSelector`` is doubled the same way (harmless, ``var``).

The fix drops the second copy of any script (same file, same attributes, same inline body)
from the page's ``script_files`` before the template renders it. Keeping the first copy keeps
the order the extensions chose.
"""

from __future__ import annotations


def _script_key(script) -> tuple:
    """What makes two script entries the same script: the file (None and '' alike) and attributes."""
    filename = getattr(script, "filename", script) or ""
    attributes = getattr(script, "attributes", {}) or {}
    return filename, tuple(sorted(attributes.items()))


def unique_scripts(scripts: list) -> list:
    """The entries of ``scripts`` (Sphinx ``_JavaScript`` objects or plain file names) with every
    repeat of an earlier entry removed, order kept."""
    seen: set[tuple] = set()
    kept = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if scripts:
        # In place: the template and the builder share this list (the builder restores it after
        # each page, so every page is cleaned again).
        scripts[:] = unique_scripts(scripts)


def setup(app):
    # Late priority: after the extensions that add per-page scripts (MathJax, myst-nb).
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
