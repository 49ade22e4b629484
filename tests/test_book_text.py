"""The book's prose says what its code computes (issue 17): checks of the text and of the
glued values of chapters 1-3, and a run of every in-text exercise's solution on every page.

Glued values are recomputed by running a page's code cells, in order, up to the cell that glues
them (`run_page_until`), so a test costs seconds, not a book build. Solutions come in two forms:
gated (`solution-start` ... `solution-end`, with code cells that the book build executes) and
plain `{solution}` blocks whose ```python fences the build never runs; those are run here,
after the page's earlier cells (`test_fenced_solutions_run`)."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, tool_env

BOOK = ROOT / "book"
PAGES = sorted(p for p in BOOK.glob("*.md") if not p.name.startswith("_"))

_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_GATED = re.compile(r"^```\{solution-start\} (\S+)\n.*?^```\{solution-end\}", re.S | re.M)
_PLAIN = re.compile(r"^(`{3,})\{solution\} (\S+)\n(.*?)^\1[ \t]*$", re.S | re.M)
_FENCE = re.compile(r"^```(?:python|ipython3?)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)

_PRELUDE = """\
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.show = lambda *args, **kwargs: plt.close("all")
import myst_nb
GLUED = {}
def _glue(name, value, display=True):
    GLUED[name] = value
myst_nb.glue = _glue
"""


def text(name: str) -> str:
    return (BOOK / name).read_text(encoding="utf-8")


def prose(name: str) -> str:
    """A page without its code cells: what a reader reads as text."""
    return _CELL.sub("", text(name))


def cell_code(cell: str) -> str:
    """A code cell's source without its leading `:option:` lines."""
    lines = cell.splitlines()
    while lines and lines[0].startswith(":"):
        lines.pop(0)
    return "\n".join(lines) + "\n"


def code_cells(page_text: str) -> list[tuple[int, str]]:
    """(position, source) of every code cell, in page order."""
    return [(m.start(), cell_code(m.group(1))) for m in _CELL.finditer(page_text)]


def run_page_until(name: str, key: str) -> tuple[dict, dict]:
    """Run the code cells of book/<name> in order until one has glued `key`.

    Returns (glued values, the page's namespace). The cells run in this process, with
    myst_nb.glue recording instead of displaying and plt.show closing figures."""
    namespace: dict = {"__name__": "__book_page__"}
    exec(_PRELUDE, namespace)
    for _, code in code_cells(text(name)):
        exec(compile(code, f"{name} cell", "exec"), namespace)
        if key in namespace["GLUED"]:
            return namespace["GLUED"], namespace
    raise AssertionError(f"{name}: no code cell glues {key!r}")


def solution_program(page_text: str) -> str | None:
    """A script that runs a page's code cells in order and, at its place, the code of every
    plain `{solution}` block (in a copy of the namespace, so a solution cannot change what the
    page computes later). None when the page has no such code."""
    pieces = [(pos, "cell", code) for pos, code in code_cells(page_text)]
    for m in _PLAIN.finditer(page_text):
        for f in _FENCE.finditer(m.group(3)):
            pieces.append((m.start(), m.group(2), f.group(1)))
    if not any(kind != "cell" for _, kind, _ in pieces):
        return None
    out = [_PRELUDE]
    for _, kind, code in sorted(pieces, key=lambda p: p[0]):
        if kind == "cell":
            out.append(code)
        else:
            out.append(f"print('solution {kind}:', flush=True)\n"
                       f"exec(compile({code!r}, 'solution {kind}', 'exec'), dict(globals()))\n")
    return "\n".join(out)


def run_program(program: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = tool_env()
    env["PYTHONPATH"] = str(ROOT)
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-c", program], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


def sentences(page_text: str, needle: str) -> list[str]:
    """The sentences (split at '. ' and blank lines) of a text that contain `needle`."""
    flat = re.sub(r"\s+", " ", page_text)
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z{(])", flat) if needle in s]


# --- E1: exploding gradients need sigma_max, not rho > 1 ---------------------------------------

def test_vanishing_page_states_the_singular_value_condition_not_rho():
    page = prose("ch3_vanishing.md")
    flat = re.sub(r"\s+", " ", page)
    assert not re.search(r"\\rho\s*>\s*1\$?\s*is\s*\*?necessary", flat), \
        "the false claim 'rho > 1 is necessary for exploding gradients' is back"
    assert "contracting map, $\\rho < 1$" not in flat, "Bengio 1994 paraphrased as 'rho < 1'"
    condition = sentences(page, "{cite:t}`pascanu2013difficulty`: $\\sigma_{\\max}")
    assert condition, "the Pascanu et al. condition on sigma_max is not stated"
    assert "**sufficient**" in condition[0] and "**necessary**" in condition[0]
    bengio = " ".join(sentences(page, "bengio1994learning"))
    assert "robustly" in bengio and "not \"$\\rho < 1$ implies vanishing\"" in bengio


def test_non_normal_counterexample_has_rho_below_one_and_growing_products():
    glued, ns = run_page_until("ch3_vanishing.md", "ch3v_nn_grad_peak_lag")
    assert glued["ch3v_nn_rho"] < 1 < glued["ch3v_nn_sigma"]
    assert glued["ch3v_nn_rho20"] == pytest.approx(0.12, abs=0.005)
    assert glued["ch3v_nn_pow20"] > 1e3 and glued["ch3v_nn_pow20"] > 1e4 * glued["ch3v_nn_rho20"]
    assert glued["ch3v_nn_grad_peak"] > 1e3, "the tanh RNN's gradient does not grow"
    assert glued["ch3v_nn_pow300"] < 1, "the powers should decay in the limit (rho < 1)"
    # the glued numbers are the matrix the page shows, recomputed independently
    W = ns["W_nn"]
    assert np.abs(np.linalg.eigvals(W)).max() == pytest.approx(glued["ch3v_nn_rho"])
    assert np.linalg.norm(np.linalg.matrix_power(W, 20), 2) == pytest.approx(glued["ch3v_nn_pow20"])
    assert "ex-ch3v-nonnormal" in text("ch3_vanishing.md"), "the in-text exercise is missing"


def test_horizon_exercise_says_24_steps_for_rho_one_half():
    solution = text("ch3_vanishing.md").split("{solution-start} ex-ch3v-horizon")[1]
    solution = solution.split("{solution-end}")[0]
    steps = int(np.floor(7 * np.log(10) / -np.log(0.5))) + 1
    assert steps == 24 and "24 for $\\rho = 0.5$" in solution and "23 for" not in solution


def test_clipping_demo_shows_recurrent_gradients_alive_and_clipping_deciding():
    glued, _ = run_page_until("ch3_vanishing.md", "ch3v_value_final")
    assert glued["ch3v_noclip_steps"] < glued["ch3v_norm_steps"], "the unclipped run should diverge"
    assert glued["ch3v_norm_final"] < 1 / 6, "the clipped run should learn (beat the mean)"
    assert glued["ch3v_norm_wh_min"] > 1e-3, "recurrent gradients died: saturation, not clipping"
    assert glued["ch3v_noclip_wh1"] > glued["ch3v_noclip_wy1"], "the spike is not recurrent"
    flat = re.sub(r"\s+", " ", prose("ch3_vanishing.md"))
    assert "that needs the LSTM" not in flat and "**never enlarges**" in flat


# --- E2: the planted bug of ch3_bptt is the bug its prose describes ---------------------------

def test_planted_bugs_compute_what_the_prose_says():
    import torch

    _, ns = run_page_until("ch3_bptt.md", "ch3_gradcheck_bug_b")
    p = {k: torch.tensor(v, requires_grad=True) for k, v in ns["params"].items()}
    x, h0, y = (torch.tensor(ns[k]) for k in ("x", "h0", "y"))
    T, N = y.shape
    h, a, hs = h0, [], []
    for t in range(T):                                  # the forward, by autograd
        a.append(x[t] @ p["Wx"] + h @ p["Wh"] + p["b"])
        a[-1].retain_grad()
        h = torch.tanh(a[-1])
        hs.append(h)
    z = torch.stack(hs) @ p["Wy"] + p["by"]             # (T, N, V)
    per_step = torch.nn.functional.cross_entropy(z.permute(0, 2, 1), y,
                                                 reduction="none").sum(1) / (T * N)
    per_step.sum().backward(retain_graph=True)
    # bug A: "the sum over t is dropped": only the t = T-1 term h[T-2]^T dL/da[T-1]
    expected_a = hs[T - 2].detach().T @ a[T - 1].grad
    np.testing.assert_allclose(ns["dWh_bug_a"], expected_a.numpy(), rtol=1e-10, atol=1e-14)
    # bug B: "only the last loss term": the gradient of L[T-1] alone
    (expected_b,) = torch.autograd.grad(per_step[-1], p["Wh"])
    np.testing.assert_allclose(ns["dWh_bug_b"], expected_b.numpy(), rtol=1e-10, atol=1e-14)
    page = prose("ch3_bptt.md")
    assert "**Bug A: the sum over $t$ in {eq}`ch3-dW` is dropped.**" in page
    assert "**Bug B: only the last loss term is backpropagated.**" in page


def test_rnn_backward_is_included_from_the_library_and_the_table_quotes_it():
    from course_lib.numpy_rnn import rnn_backward

    page = text("ch3_bptt.md")
    assert re.search(r"```\{literalinclude\} \.\./course_lib/numpy_rnn/rnn\.py\n:pyobject: rnn_backward",
                     page), "rnn_backward is not shown by a literalinclude of the library"
    source = inspect.getsource(rnn_backward)
    table = page.split("Line by line:")[1].split("\n\n")[1]
    quoted = [q for row in table.splitlines()[2:] for q in re.findall(r"`([^`]+)`", row.split("|")[1])]
    assert len(quoted) >= 8
    missing = [q for q in quoted if q not in source]
    assert not missing, f"the line-by-line table quotes code that rnn_backward does not have: {missing}"


def test_double_sum_is_credited_to_pascanu_not_goodfellow():
    sent = " ".join(sentences(prose("ch3_bptt.md"), "goodfellow2016deep"))
    assert "single sum" in sent and "pascanu2013difficulty" in sent


# --- E4: corpus size, citations, intro -----------------------------------------------------------

def test_corpus_token_count_is_glued_and_matches_the_corpus():
    from course_lib.data.vocab import Vocabulary
    from course_lib.torch_rnn.train import embedded_corpus

    page = prose("ch1_language_models.md")
    assert "a few hundred thousand words" not in page
    assert "{glue:text}`ch1_train_tokens:,` tokens" in page
    glued, _ = run_page_until("ch1_language_models.md", "ch1_unk_test")
    full_vocab, train_ids, _, test_ids = embedded_corpus()
    assert glued["ch1_train_tokens"] == len(train_ids) == 59_375
    words = [full_vocab.itos[i] for i in train_ids]
    vocab = Vocabulary.from_tokens(words, max_size=2000, eos="<eos>")
    unk = np.mean(np.array(vocab.encode([full_vocab.itos[i] for i in test_ids])) == vocab.stoi["<unk>"])
    assert glued["ch1_unk_test"] == pytest.approx(100 * unk) and 20 < glued["ch1_unk_test"] < 30
    assert "ch1_unk_share" in prose("ch1_neural_lm.md").split("All models on the same test text")[1]


def test_language_model_citations_claim_what_the_papers_report():
    page = prose("ch1_neural_lm.md")
    for s in sentences(page, "mikolov2010recurrent"):
        assert "Penn Treebank" not in s.split("zaremba2014regularization")[0], s
    for s in sentences(page, "zaremba2014regularization"):
        after = s.split("zaremba2014regularization")[1].split("merity2016pointer")[0]
        assert "WikiText" not in after.split(" and ")[0], s
    assert "preview" in page.lower()


def test_intro_claims_are_accurate():
    page = re.sub(r"\s+", " ", prose("intro.md"))
    assert "Every equation in the book is implemented" not in page
    assert "PyTorch is used from Chapter 2" not in page and "Chapter 1 on" in page
    assert "peephole" in page


# --- notation -------------------------------------------------------------------------------------

MY_PAGES = ["intro.md", "ch1_language_models.md", "ch1_neural_lm.md", "ch2_rnn_unrolled.md",
            "ch3_bptt.md", "ch3_vanishing.md", "glossary.md"]


@pytest.mark.parametrize("name", MY_PAGES)
def test_pages_use_the_books_notation(name):
    page = text(name)
    assert "\\ytilde" not in page and "y~" not in page, f"{name}: y~ is not a symbol of the book"
    assert not re.search(r"\\sum_\{[a-z]'?=1\}\^\{?T\}?", page), f"{name}: a time sum from 1 to T"
    assert "h[0] \\text{ given" not in page and "$h[0]$ is the initial state" not in page, \
        f"{name}: the initial state is h[-1]"
    assert "\\lambda\\, p_{\\text{KN}}" not in page and "add-$k$" not in page


def test_notation_page_lists_the_decided_symbols_once():
    page = text("notation.md") + text("_notation_core.md")
    rows = [r.split("|")[1].strip() for r in page.splitlines() if r.startswith("| $")]
    for symbol in ["$z[t]$", "$p[t]$", "$y[t]$", "$J[t]$", "$d[t]$", "$\\mathrm{ctx}$", "$k$",
                   "$k_1$, $k_2$", "$n$", "$w$", "$\\Delta$", "$h[-1] = h_0$", "$\\sigma_{\\max}(\\Wh)$"]:
        assert symbol in rows, f"notation page has no row for {symbol}"
    duplicated = {r for r in rows if rows.count(r) > 1}
    assert not duplicated, f"symbols listed twice: {duplicated}"
    assert "per sequence" in page.lower() and "0-based" in page


# --- solutions of in-text exercises ---------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_gated_solutions_are_closed_and_executable(page):
    """A gated solution's code is in code cells (run by the build), never in a plain fence."""
    src = page.read_text(encoding="utf-8")
    starts = re.findall(r"^```\{solution-start\}", src, re.M)
    ends = re.findall(r"^```\{solution-end\}", src, re.M)
    assert len(starts) == len(ends), f"{page.name}: unbalanced solution-start/solution-end"
    for m in _GATED.finditer(src):
        assert not _FENCE.search(m.group(0)), \
            f"{page.name}: solution {m.group(1)} has a ```python fence the build would not run"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_fenced_solutions_run(page, tmp_path):
    """Run the ```python code of every plain {solution} block after the page's earlier cells."""
    program = solution_program(page.read_text(encoding="utf-8"))
    if program is None:
        pytest.skip(f"{page.name}: no plain solution with code (gated ones run in the build)")
    proc = run_program(program, cwd=BOOK)
    assert proc.returncode == 0, f"{page.name}: a solution or a cell before it failed:\n" \
                                 f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"


def test_solution_runner_fails_on_a_broken_solution(tmp_path):
    """The runner is no rubber stamp: a solution that raises, or uses a name the page never
    defined, fails it; a correct one passes."""
    page = textwrap.dedent("""\
        ```{code-cell} ipython3
        value = 41
        ```

        ````{solution} ex-demo
        ```python
        assert value + 1 == %s
        ```
        ````
        """)
    good = run_program(solution_program(page % "42"), cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    bad = run_program(solution_program(page % "43"), cwd=tmp_path)
    assert bad.returncode != 0 and "solution ex-demo" in bad.stderr
    undefined = run_program(solution_program(page.replace("value + 1", "valeu + 1") % "42"),
                            cwd=tmp_path)
    assert undefined.returncode != 0 and "NameError" in undefined.stderr
