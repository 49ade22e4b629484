"""Chapters 4 and 5 say what their code computes: each claim the second edition corrected is
checked against the page's own executed code (run here with `glue` recorded), or against the
text itself where the error was in the writing (notation, an unsafe snippet)."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import jupytext  # noqa: E402
import myst_nb  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from conftest import ROOT  # noqa: E402

PAGES = ["ch4_design_patterns", "ch4_encoder_decoder", "ch5_lstm", "ch5_lstm_practice"]


def source(page: str) -> str:
    return (ROOT / "book" / f"{page}.md").read_text(encoding="utf-8")


def prose(page: str) -> str:
    """The page without its code cells (Markdown, math and directives only)."""
    return re.sub(r"```\{code-cell\}.*?\n```", "", source(page), flags=re.S)


def display_math(page: str) -> dict[str, str]:
    """label -> TeX of every labelled display equation of the page."""
    block = r"^\$\$\n((?:(?!\$\$).)*?)\n\$\$ \(([\w-]+)\)"     # no $$ inside one equation
    return {m.group(2): m.group(1) for m in re.finditer(block, source(page), flags=re.S | re.M)}


def run_page(page: str) -> tuple[dict, dict]:
    """Execute every code cell of the page in one namespace; return (namespace, glued values).

    A page may set process-wide state (the torch_rnn back end, torch's thread count): it is put
    back afterwards so that the tests that run later in this process see the defaults."""
    import torch
    from course_lib.torch_rnn import get_backend, set_backend
    backend, threads = get_backend(), torch.get_num_threads()
    glued: dict = {}
    real_glue = myst_nb.glue
    myst_nb.glue = lambda name, value, display=True: glued.__setitem__(name, value)
    ns: dict = {"__name__": f"page_{page}"}
    try:
        for cell in jupytext.read(ROOT / "book" / f"{page}.md").cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, f"{page}.md", "exec"), ns)
    finally:
        myst_nb.glue = real_glue
        set_backend(backend)
        torch.set_num_threads(threads)
        import matplotlib.pyplot as plt
        plt.close("all")
    return ns, glued


@pytest.fixture(scope="module")
def lstm_page():
    return run_page("ch5_lstm")


# ---- ch5_lstm ------------------------------------------------------------------------------

def test_switch_figure_text_names_every_step_where_h_is_on(lstm_page):
    ns, glued = lstm_page
    on = np.flatnonzero(np.abs(ns["h_sw"][:, 0, 0]) > 1e-3).tolist()
    assert 27 in on and 28 in on                     # the overwritten value is read too
    assert glued["ch5_h_on_steps"] == ", ".join(map(str, on))
    assert "{glue:text}`ch5_h_on_steps`" in prose("ch5_lstm")
    assert not re.search(r"zero except where the read switch opens the output gate\s*\(\$t = 9\.\.11\$\)",
                         prose("ch5_lstm"))


def test_switch_plots_are_steps_not_ramps():
    cells = [c for c in re.findall(r"```\{code-cell\}.*?\n```", source("ch5_lstm"), flags=re.S)
             if "gates_sw" in c and "plt.subplots" in c]
    assert len(cells) == 1
    assert ".step(" in cells[0] and ".plot(" not in cells[0]


def test_what_carries_the_gradient_matches_the_page_numbers(lstm_page):
    ns, glued = lstm_page
    text = prose("ch5_lstm")
    assert "nothing forces an exponential decay" not in text
    assert not re.search(r"f \\approx 1\$, and the\s+gradient is carried back unchanged", text)
    assert "at most 1" in text and "cannot explode" in text
    # the direct path decays like the forget gates say; the full gradient is carried by more
    assert glued["ch5_f3_pow50"] == pytest.approx(glued["ch5_mean_f_3"] ** 50)
    assert 0.3 < glued["ch5_direct3_50"] / glued["ch5_f3_pow50"] < 3
    assert glued["ch5_ratio_lstm3_50"] > 3 * glued["ch5_direct3_50"]
    assert glued["ch5_max_f_3"] < 1
    for key in ("ch5_direct3_50", "ch5_f3_pow50", "ch5_ratio_lstm3_50"):
        assert f"{{glue:text}}`{key}" in text


LSTM_BWD_LABELS = ["lstm-bwd-dh", "lstm-bwd-do", "lstm-bwd-dc-tot", "lstm-bwd-gates",
                   "lstm-bwd-dc", "lstm-bwd-da", "lstm-bwd-dw", "lstm-jacobian-cc", "gru-bwd"]


def test_lstm_backward_is_derived_with_labels_and_checked_in_the_page(lstm_page):
    ns, glued = lstm_page
    assert set(LSTM_BWD_LABELS) <= set(display_math("ch5_lstm"))
    assert "c_{\\text{tot}}" in display_math("ch5_lstm")["lstm-bwd-dc-tot"]
    assert glued["ch5_bwd_vs_numeric"] < 1e-7         # by-hand equations vs centred differences
    assert glued["ch5_bwd_vs_library"] < 1e-10        # ... and vs lstm_backward
    assert glued["ch5_bwd_bug"] > 1e-2                # the check sees a dropped f in dc[t-1]
    assert glued["ch5_jac_error"] < 1e-6              # the full dc[t]/dc[t-1] formula
    assert glued["ch5_gru_bwd_numeric"] < 1e-6


def test_gru_credits_cho_with_the_reset_gate_difference(lstm_page):
    _, glued = lstm_page
    text = prose("ch5_lstm")
    assert r"(r[t] \odot h[t-1])\,W_{h,n}" in text
    assert glued["ch5_diff_cho"] > 1e-3 and glued["ch5_diff_gru"] < 1e-5


def test_cs231n_layout_note_is_checked(lstm_page):
    _, glued = lstm_page
    text = prose("ch5_lstm")
    assert "$i, f, o, g$" in text and "$(N, T, D)$" in text
    assert glued["ch5_diff_cs231n"] < 1e-12


def test_vanilla_rnn_is_not_called_an_lstm_that_resets(lstm_page):
    _, glued = lstm_page
    assert "the vanilla RNN is an LSTM whose\nmemory is reset" not in source("ch5_lstm")
    assert glued["ch5_reset_vs_rnn"] > 0.1            # tanh(tanh(.)) is another RNN


def test_stacked_lstm_has_a_layer_index(lstm_page):
    _, glued = lstm_page
    assert "h^{(l-1)}[t]\\,W_x^{(l)}" in display_math("ch5_lstm")["ch5-stacked"]
    assert glued["ch5_diff_stacked"] < 1e-5


# ---- ch5_lstm_practice ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def practice_page():
    return run_page("ch5_lstm_practice")


def test_fill_is_always_under_no_grad():
    lines = source("ch5_lstm_practice").splitlines()
    for k, line in enumerate(lines):
        if ".fill_(" in line:
            assert "no_grad" in line or "no_grad" in lines[k - 1], f"line {k + 1}: {line.strip()}"


@pytest.mark.slow
def test_adding_problem_quotes_the_trained_rnns_own_radius(practice_page):
    ns, glued = practice_page
    Wh = ns["model_rnn"][0].weight_hh_l0.detach().double().numpy().T
    assert glued["ch5_add_rho_rnn"] == pytest.approx(np.abs(np.linalg.eigvals(Wh)).max())
    assert glued["ch5_add_sigma_rnn"] > 1             # so the prose must not use the bound
    assert glued["ch5_add_reach_rnn"] < 1e-2 < glued["ch5_add_reach_lstm"]
    text = prose("ch5_lstm_practice")
    assert "{glue:text}`ch5_add_rho_rnn" in text and "{glue:text}`ch5_add_reach_rnn" in text


@pytest.mark.slow
def test_word_boundary_units_are_selected_on_other_text_and_counted(practice_page):
    ns, glued = practice_page
    sel, snip = ns["select_range"], ns["snippet_range"]
    assert sel[1] <= snip[0] or snip[1] <= sel[0], "units selected on the text they are shown on"
    diff = ns["f_space_minus_letter"]
    assert glued["ch5_n_space_units"] == int(np.sum(diff < -0.25)) > 0
    assert sorted(ns["units"]) == sorted(np.argsort(diff)[:8])    # the 8 the text describes
    assert glued["ch5_snip_f_space"] < glued["ch5_snip_f_letter"] - 0.2   # holds on new text
    assert glued["ch5_f_top_space"] < glued["ch5_f_top_letter"] - 0.25
    text = prose("ch5_lstm_practice")
    assert "The rows are the 8 units" not in text
    assert "{glue:text}`ch5_n_space_units`" in text


# ---- all four pages ------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_one_notation_zero_based_no_ytilde(page):
    text = prose(page)
    assert "\\ytilde" not in text and "y~" not in text
    assert not re.search(r"t = 1\s*\.\.\s*T|\[1\s*\.\.\s*[TS]", text), "1-based steps"
    assert not re.search(r"\bh\[0\] = |c\[0\] = ", text), "the initial state is h[-1]"


@pytest.mark.parametrize("page", ["ch4_design_patterns", "ch4_encoder_decoder"])
def test_no_s_for_steps_or_states_and_no_prime_for_a_transition(page):
    for label, tex in display_math(page).items():
        assert not re.search(r"\bs\[", tex), f"({label}) uses s as a state"
        assert not re.search(r"\bs = ", tex), f"({label}) uses s as a step"
        assert "f'" not in tex, f"({label}): f' reads as a derivative"
    if page == "ch4_encoder_decoder":
        tex = display_math(page)["ch4-encdec"]
        assert "d[t]" in tex and "\\mathrm{ctx}" in tex and "u = 0..S-1" in tex


@pytest.mark.parametrize("page", PAGES)
def test_training_times_are_not_printed_as_zero_seconds(page):
    assert not re.search(r"seconds:\.0f", source(page))
