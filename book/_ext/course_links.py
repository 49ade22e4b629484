"""Sphinx roles that link the book to the course's exercise notebooks.

``{exercise}`ps2-rnn-forward``` renders as a link to that assignment's student notebook in the
repository, and ``{colab}`ps2-rnn-forward``` opens it in Google Colab. Both derive from
``repository.url`` and ``repository.branch`` in ``_config.yml``, the one place the repository's
address is set, so a fork changes it there and every link follows.
"""

from __future__ import annotations

from urllib.parse import urlparse

from docutils import nodes

ASSIGNMENTS = ("ps1-language-models", "ps2-rnn-forward", "ps3-bptt", "ps4-design-patterns", "ps5-lstm")


def _repo(config):
    opts = config.html_theme_options or {}
    url = (opts.get("repository_url") or "").rstrip("/")
    branch = opts.get("repository_branch") or "main"
    return url, branch


def _notebook_path(name: str) -> str:
    return f"exercises/{name}/{name}.ipynb"


def _make_role(kind: str):
    def role(name, rawtext, text, lineno, inliner, options=None, content=None):
        env = inliner.document.settings.env
        assignment = text.strip()
        if assignment not in ASSIGNMENTS:
            msg = inliner.reporter.error(
                f"{kind}: unknown assignment {assignment!r}; expected one of {ASSIGNMENTS}",
                line=lineno)
            return [inliner.problematic(rawtext, rawtext, msg)], [msg]
        url, branch = _repo(env.config)
        if kind == "exercise":
            href = f"{url}/blob/{branch}/{_notebook_path(assignment)}"
            label = f"exercises/{assignment}"
        else:
            host_path = urlparse(url).path.strip("/")
            href = f"https://colab.research.google.com/github/{host_path}/blob/{branch}/{_notebook_path(assignment)}"
            label = f"open {assignment} in Colab"
        node = nodes.reference(rawtext, "", internal=False, refuri=href)
        node += nodes.literal(label, label) if kind == "exercise" else nodes.Text(label)
        return [node], []

    return role


def setup(app):
    app.add_role("exercise", _make_role("exercise"))
    app.add_role("colab", _make_role("colab"))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
