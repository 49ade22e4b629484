"""The book's figure helpers: they draw what they say, readably, and reject bad arguments by name."""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from conftest import ROOT  # noqa: E402
from course_lib import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _style_and_close():
    plots.use_style()
    yield
    plt.close("all")


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_use_style_sets_the_shared_cycle():
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    assert [c.lower() for c in cycle] == [c.lower() for c in plots.CYCLE]


def test_color_roles_and_bad_role():
    assert plots.color("hidden") == plots.COLORS["hidden"]
    with pytest.raises(ValueError, match="role"):
        plots.color("nonsense")


def test_unrolled_rnn_draws_every_step_with_shared_weights():
    ax = plots.unrolled_rnn(T=3, labels="abc")
    t = texts(ax)
    for k in (0, 1, 2):                       # 0-based steps, as in the code
        assert f"$x[{k}]$" in t and f"$h[{k}]$" in t and f"$z[{k}]$" in t
    assert "$h[-1]$" in t and "$x[3]$" not in t
    assert t.count("$W_h$") == 3 and t.count("$W_x$") == 3  # one shared set, drawn at every step
    assert {"a", "b", "c"} <= set(t)
    with pytest.raises(ValueError, match="T"):
        plots.unrolled_rnn(T=0)


def test_no_diagram_writes_ascii_tilde_outputs():
    figs = [plots.unrolled_rnn(T=2).figure, plots.folded_rnn().figure,
            plots.stacked_rnn(T=2).figure, plots.lstm_cell_diagram().figure,
            plots.design_patterns_overview()]
    for fig in figs:
        for t in fig.findobj(matplotlib.text.Text):
            assert "~" not in t.get_text(), f"ASCII tilde label {t.get_text()!r}"


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


def test_encoder_decoder_uses_the_book_notation():
    t = texts(plots.design_pattern("encdec", T=2))
    assert {"$d[0]$", "$d[1]$", "$h[1]$", r"$\mathrm{ctx}$", "$p[1]$", "<bos>", "$y[0]$"} <= set(t)
    assert not any(re.search(r"\bs\[", s) for s in t)     # s is never a state


def test_design_pattern_rejects_unknown_kind_and_bad_T():
    with pytest.raises(ValueError, match="kind"):
        plots.design_pattern("seq2tree")
    with pytest.raises(ValueError, match="T"):
        plots.design_pattern("seq2seq", T=0)


def test_lstm_cell_diagram_feeds_x_and_h_prev_into_every_gate():
    ax = plots.lstm_cell_diagram()
    t = texts(ax)
    assert {"$x[t]$", "$h[t-1]$", "$c[t-1]$", "$c[t]$", "$h[t]$"} <= set(t)
    gates = {s[1] for s in t if re.fullmatch(r"\$[figo]: .*\$", s)}
    assert gates == set("figo")
    # one arrow rises from the input bus into each of the four gate boxes
    bus_y = [line.get_ydata()[0] for line in ax.lines]
    assert len(bus_y) == 1
    gate_boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)
                  and p.get_width() == pytest.approx(1.0)]
    assert len(gate_boxes) == 4
    # FancyArrowPatch keeps its end points (data units) in _posA_posB
    starts = [p._posA_posB[0] for p in ax.patches
              if isinstance(p, matplotlib.patches.FancyArrowPatch)]
    for gate in gate_boxes:
        x_mid = gate.get_x() + gate.get_width() / 2
        assert any(abs(x - x_mid) < 0.05 and abs(y - bus_y[0]) < 0.4 for x, y in starts), \
            "a gate without an arrow from the input bus"


def test_stack_and_folded_diagrams_draw():
    assert len(plots.stacked_rnn(T=3, L=2).patches) >= 6
    assert len(plots.folded_rnn().patches) >= 3
    with pytest.raises(ValueError, match="L"):
        plots.stacked_rnn(T=2, L=0)


# ---- readability: text size on the page, and labels that do not sit on other boxes ---------

def _small_text_figure(fontsize, width=6.0):
    fig, ax = plt.subplots(figsize=(width, 2))
    ax.set_title("title", fontsize=fontsize)
    return fig


def test_rendered_text_px_follows_font_size_dpi_and_page_scaling():
    narrow = _small_text_figure(10, width=3.0)          # narrower than the page: shown 1:1
    sizes = dict(plots.rendered_text_px(narrow, content_px=700))
    assert sizes["title"] == pytest.approx(10 * narrow.dpi / 72)
    wide = _small_text_figure(10, width=20.0)           # shrunk to the content column
    renderer = wide.canvas.get_renderer()
    width_px = wide.get_tightbbox(renderer).width * wide.dpi
    assert dict(plots.rendered_text_px(wide, content_px=700))["title"] == pytest.approx(
        10 * wide.dpi / 72 * 700 / width_px)
    with pytest.raises(ValueError, match="content_px"):
        plots.rendered_text_px(narrow, content_px=0)


def test_check_text_size_names_the_unreadable_text():
    plots.check_text_size(_small_text_figure(10))
    with pytest.raises(ValueError, match=r"'title' \(\d\.\d px\)"):
        plots.check_text_size(_small_text_figure(4))
    with pytest.raises(ValueError, match="below 8"):       # fine on its own, too wide for the page
        plots.check_text_size(_small_text_figure(9, width=16.0))


def test_use_style_checks_every_figure_when_it_is_drawn():
    fig = _small_text_figure(3)
    with pytest.raises(ValueError, match="below 8"):
        fig.savefig(io.BytesIO(), format="png")
    plots.use_style(check_text=False)
    _small_text_figure(3).savefig(io.BytesIO(), format="png")
    plots.use_style()
    assert plt.rcParams["figure.hooks"].count("course_lib.plots:_check_on_draw") == 1


def test_every_page_that_draws_uses_the_checked_style():
    """So the build (tests/test_book.py) fails on any book figure with text below 8 px."""
    for page in sorted((ROOT / "book").glob("*.md")):
        src = page.read_text(encoding="utf-8")
        if re.search(r"\bplt\.|plots\.", src):
            assert "plots.use_style()" in src, f"{page.name} draws figures without plots.use_style()"


BOOK_DIAGRAMS = {
    "unrolled": lambda: plots.unrolled_rnn(T=4, labels=["the", "value", "of", "the"]).figure,
    "folded": lambda: plots.folded_rnn().figure,
    "stacked": lambda: plots.stacked_rnn(T=3, L=2).figure,
    "token_grid": lambda: plots.token_grid(np.arange(24).reshape(6, 4)).figure,
    "encdec": lambda: plots.design_pattern("encdec", T=3).figure,
    "overview": plots.design_patterns_overview,
    "lstm_cell": lambda: plots.lstm_cell_diagram(title="one LSTM step").figure,
}


@pytest.mark.parametrize("name", sorted(BOOK_DIAGRAMS))
def test_book_diagrams_are_readable_on_the_page(name):
    fig = BOOK_DIAGRAMS[name]()
    plots.check_text_size(fig)


def _overlap(a, b, tol=1.0):
    return (a.x0 + tol < b.x1 and b.x0 + tol < a.x1 and a.y0 + tol < b.y1 and b.y0 + tol < a.y1)


@pytest.mark.parametrize("name", sorted(BOOK_DIAGRAMS))
def test_diagram_labels_do_not_collide_with_boxes_or_each_other(name):
    fig = BOOK_DIAGRAMS[name]()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        boxes = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
        labels = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts if t.get_text()]
        for text, tb in labels:
            cx, cy = (tb.x0 + tb.x1) / 2, (tb.y0 + tb.y1) / 2
            for bb in boxes:
                if bb.contains(cx, cy):          # the box's own label: must fit inside it
                    assert bb.x0 - 1 <= tb.x0 and tb.x1 <= bb.x1 + 1, f"{text!r} overflows its box"
                else:
                    assert not _overlap(tb, bb), f"{name}: label {text!r} collides with a box"
        for k, (t1, b1) in enumerate(labels):
            for t2, b2 in labels[k + 1:]:
                assert not _overlap(b1, b2), f"{name}: labels {t1!r} and {t2!r} overlap"
