"""The book's figure helpers: they draw what they say, and reject bad arguments by name."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_lib import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_use_style_sets_the_shared_cycle():
    plots.use_style()
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    assert [c.lower() for c in cycle] == [c.lower() for c in plots.CYCLE]


def test_color_roles_and_bad_role():
    assert plots.color("hidden") == plots.COLORS["hidden"]
    with pytest.raises(ValueError, match="role"):
        plots.color("nonsense")


def test_unrolled_rnn_draws_every_step_with_shared_weights():
    ax = plots.unrolled_rnn(T=3, labels="abc")
    t = texts(ax)
    for k in (1, 2, 3):
        assert f"x[{k}]" in t and f"h[{k}]" in t and f"y~[{k}]" in t
    assert t.count("Wh") == 3 and t.count("Wx") == 3  # one shared set, drawn at every step
    assert {"a", "b", "c"} <= set(t)
    with pytest.raises(ValueError, match="T"):
        plots.unrolled_rnn(T=0)


def test_token_grid_shows_the_batchify_columns():
    from course_lib.data import alphabet, batchify

    grid = batchify(list(alphabet()), 4)
    ax = plots.token_grid(grid, highlight_rows=[0, 1])
    t = texts(ax)
    for ch in "abcdefghijklmnopqrstuvwx":
        assert ch in t
    assert "y" not in t and "z" not in t  # the remainder is dropped
    with pytest.raises(ValueError, match="grid"):
        plots.token_grid(np.arange(5))


@pytest.mark.parametrize("kind", plots.DESIGN_PATTERNS)
def test_design_patterns_draw(kind):
    ax = plots.design_pattern(kind, T=3)
    assert len(ax.patches) > 3


def test_design_pattern_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        plots.design_pattern("seq2tree")


def test_cell_and_stack_diagrams_draw():
    assert len(plots.lstm_cell_diagram().patches) > 5
    assert len(plots.stacked_rnn(T=3, L=2).patches) >= 6
    assert len(plots.folded_rnn().patches) >= 3


def test_table_renders_computed_numbers_and_checks_rows():
    table = plots.Table(["model", "perplexity"], [["bigram", 415.123], ["KN 5-gram", 289.0]])
    html = table._repr_html_()
    assert "<table" in html and "415.1" in html and "KN 5-gram" in html
    assert "415.1" in repr(table)
    with pytest.raises(ValueError, match="rows"):
        plots.Table(["a", "b"], [[1]])
    with pytest.raises(ValueError, match="align"):
        plots.Table(["a", "b"], [[1, 2]], align="lx")
