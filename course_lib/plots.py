"""The one figure style of the book, and the diagram primitives its chapters draw with.

Every figure in the book is produced by code in its page; calling :func:`use_style` once at the
top of a page gives them all the same fonts, colours and sizes. Diagrams (unrolled networks,
batch-ification grids, encoder-decoders) are drawn with :func:`box`, :func:`arrow` and
:func:`diagram_axes` so they share that look too.

Colours have fixed roles across the book, so a reader learns them once:

========  ============================================
role      used for
========  ============================================
input     x[t], embeddings, the input stream
hidden    h[t], the recurrent state
cell      c[t], the LSTM's memory
output    z[t] (logits), p[t] (predictions), targets y[t]
gate      LSTM/GRU gates
loss      losses, gradients
========  ============================================
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

#: Role -> colour (colour-blind-safe Okabe-Ito palette).
COLORS = {
    "input": "#0072B2",
    "hidden": "#009E73",
    "cell": "#E69F00",
    "output": "#CC79A7",
    "gate": "#56B4E9",
    "loss": "#D55E00",
    "neutral": "#555555",
}

#: Colour cycle for line plots (series 1, 2, ...).
CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

_STYLE = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
}


def use_style(check_text: bool = True) -> None:
    """Apply the book's matplotlib style (fonts, colour cycle, sizes) to every later figure.

    With ``check_text`` (the default, used by every page), every later pyplot figure is checked
    by :func:`check_text_size` whenever it is drawn: text smaller than :data:`MIN_TEXT_PX` on
    the page raises ValueError, and the page's build fails.
    """
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcParams.update(_STYLE)
    plt.rcParams["axes.prop_cycle"] = cycler(color=CYCLE)
    hook = "course_lib.plots:_check_on_draw"
    hooks = [h for h in plt.rcParams["figure.hooks"] if h != hook]
    plt.rcParams["figure.hooks"] = hooks + [hook] if check_text else hooks


#: Width in CSS pixels of a page's content column in the built book at a 1280 px wide window
#: (sphinx-book-theme, both sidebars shown; images are shown at most 688 px wide there),
#: measured in Chromium; a wider figure is scaled
#: down to it, so its text shrinks by the same factor.
PAGE_CONTENT_PX = 688

#: Smallest text height (font size in CSS px) a figure may show on the page.
MIN_TEXT_PX = 8.0


def rendered_text_px(fig, content_px: float = PAGE_CONTENT_PX) -> list[tuple[str, float]]:
    """Font size in CSS pixels of every visible text of ``fig`` as the book page shows it.

    The page shows the figure saved with ``bbox_inches="tight"`` at ``fig.dpi``, one image pixel
    per CSS pixel, shrunk to the content column when it is wider:

    .. math::

        \\text{px} &= \\text{fontsize [pt]} \\cdot \\frac{\\text{dpi}}{72}\\\\
        &\\quad \\cdot \\min\\Big(1, \\frac{\\text{content\\_px}}{w_{\\text{tight}} \\cdot \\text{dpi}}\\Big)

    with :math:`w_{\\text{tight}}` the width in inches of the figure's tight bounding box.

    Returns
    -------
    list of (text, px), one per visible, non-empty Text artist (titles, labels, ticks, legends,
    annotations, diagram labels).
    """
    from matplotlib.text import Text

    if not content_px > 0:
        raise ValueError(f"content_px: expected a positive width in pixels, got {content_px!r}")
    renderer = fig.canvas.get_renderer()
    width_px = fig.get_tightbbox(renderer).width * fig.dpi
    scale = min(1.0, content_px / width_px)
    sizes = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.get_figure() is not None:
            sizes.append((t.get_text(), t.get_fontsize() * fig.dpi / 72 * scale))
    return sizes


def check_text_size(fig, content_px: float = PAGE_CONTENT_PX, min_px: float = MIN_TEXT_PX):
    """Raise ValueError naming every text of ``fig`` that the page would show below ``min_px``.

    :func:`use_style` runs this on every figure of the book when it is drawn, so a page whose
    figure has unreadable text fails to build.
    """
    small = [(text, px) for text, px in rendered_text_px(fig, content_px) if px < min_px]
    if small:
        shown = ", ".join(f"{text[:30]!r} ({px:.1f} px)" for text, px in small[:8])
        raise ValueError(f"fig: {len(small)} text(s) would render below {min_px} px on a "
                         f"{content_px} px wide page: {shown}; enlarge the font or narrow the "
                         f"figure")


def _check_on_draw(fig) -> None:
    """figure.hooks entry: check the text size every time ``fig`` is drawn (shown or saved)."""
    def on_draw(event):
        # get_tightbbox below draws nothing, so this cannot recurse
        check_text_size(event.canvas.figure)
    fig.canvas.mpl_connect("draw_event", on_draw)


def color(role: str) -> str:
    """Colour of a role ("input", "hidden", "cell", "output", "gate", "loss", "neutral")."""
    if role not in COLORS:
        raise ValueError(f"role: expected one of {sorted(COLORS)}, got {role!r}")
    return COLORS[role]


def diagram_axes(width: float, height: float, ax=None, scale: float = 0.9):
    """An axes for a diagram: data units are layout units, no ticks or frame.

    Parameters
    ----------
    width, height : float
        Extent of the drawing in layout units; the figure is ``scale`` inches per unit.
    ax : matplotlib Axes, optional
        Draw into this axes instead of a new figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(max(2.0, width * scale), max(1.0, height * scale)))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax


def box(ax, xy: tuple[float, float], text: str, role: str = "neutral", width: float = 0.9,
        height: float = 0.6, fontsize: float = 10, filled: bool = True):
    """Draw a rounded box centred at ``xy`` labelled ``text`` in the colour of ``role``.

    Returns the patch, whose centre and size :func:`arrow` uses to stop at the border.
    """
    from matplotlib.patches import FancyBboxPatch

    x, y = xy
    c = color(role)
    patch = FancyBboxPatch(
        (x - width / 2, y - height / 2), width, height,
        boxstyle="round,pad=0.02,rounding_size=0.12",
        facecolor=c if filled else "white", edgecolor=c, linewidth=1.5, alpha=0.9 if filled else 1,
    )
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize,
            color="white" if filled else c, fontweight="bold")
    return patch


def arrow(ax, start: tuple[float, float], end: tuple[float, float], text: str | None = None,
          role: str = "neutral", curve: float = 0.0, shrink: float = 0.32, fontsize: float = 9,
          text_offset: tuple[float, float] = (0.0, 0.12)):
    """Draw an arrow from ``start`` to ``end`` (layout units), optionally labelled at its middle.

    ``shrink`` pulls both ends in (about half a box height) so arrows stop at box borders;
    ``curve`` bends the arrow (connectionstyle arc3 radius), used for recurrent self-loops.
    """
    from matplotlib.patches import FancyArrowPatch

    (x0, y0), (x1, y1) = start, end
    d = np.hypot(x1 - x0, y1 - y0)
    if d > 0 and shrink > 0:
        ux, uy = (x1 - x0) / d, (y1 - y0) / d
        s = min(shrink, d / 3)
        x0, y0, x1, y1 = x0 + ux * s, y0 + uy * s, x1 - ux * s, y1 - uy * s
    a = FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12,
                        color=color(role), linewidth=1.4,
                        connectionstyle=f"arc3,rad={curve}")
    ax.add_patch(a)
    if text:
        mx, my = (x0 + x1) / 2 + text_offset[0], (y0 + y1) / 2 + text_offset[1]
        ax.text(mx, my, text, ha="center", va="bottom", fontsize=fontsize, color=color(role))
    return a


def _m(tex: str) -> str:
    """Math text for a diagram label, so that the figure writes x[t] as the equations do."""
    return f"${tex}$"


def unrolled_rnn(T: int = 4, ax=None, labels: Sequence[str] | None = None,
                 show_outputs: bool = True, weight_labels: bool = True, title: str | None = None):
    """Draw a recurrent network unfolded over ``T`` steps, t = 0..T-1.

    Inputs x[t] at the bottom, hidden states h[t] in the middle (h[-1] = h0 enters from the
    left), logits z[t] = h[t] Wy + b_y on top; horizontal arrows carry h[t-1] -> h[t] through
    the *same* Wh at every step.

    Parameters
    ----------
    T : int
        Number of time steps drawn (>= 1).
    labels : sequence of str, optional
        Text under each input box (e.g. the characters fed in).
    """
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T: expected an integer >= 1, got {T!r}")
    ax = diagram_axes(1.6 * T + 1.5, 3.6 if show_outputs else 2.6, ax=ax)
    ax.text(0.35, 1.8, _m("h[-1]"), ha="center", va="center", fontsize=10,
            color=color("hidden"))
    for t in range(T):
        cx = 1.7 + 1.6 * t
        box(ax, (cx, 0.5), _m(f"x[{t}]"), "input")
        box(ax, (cx, 1.8), _m(f"h[{t}]"), "hidden")
        arrow(ax, (cx, 0.5), (cx, 1.8), _m("W_x") if weight_labels else None, "input",
              text_offset=(0.3, -0.1))
        prev = (0.35, 1.8) if t == 0 else (cx - 1.6, 1.8)
        arrow(ax, prev, (cx, 1.8), _m("W_h") if weight_labels else None, "hidden", shrink=0.45)
        if show_outputs:
            box(ax, (cx, 3.1), _m(f"z[{t}]"), "output")
            arrow(ax, (cx, 1.8), (cx, 3.1), _m("W_y") if weight_labels else None, "output",
                  text_offset=(0.3, -0.1))
        if labels is not None and t < len(labels):
            ax.text(cx, 0.12, str(labels[t]), ha="center", va="top", fontsize=9,
                    color=color("neutral"))
    if title:
        ax.set_title(title)
    return ax


def token_grid(grid, ax=None, title: str | None = None, row_label: str = "t",
               col_label: str = "sequence n", highlight_rows: Sequence[int] | None = None,
               role: str = "input"):
    """Draw a (T, N) array of tokens as a grid of labelled cells (rows are time, columns are
    sequences), the picture of batch-ification. ``highlight_rows`` shades some rows (a batch).
    """
    from matplotlib.patches import Rectangle

    grid = np.asarray(grid)
    if grid.ndim != 2:
        raise ValueError(f"grid: expected a 2-D (T, N) array, got shape {grid.shape}")
    T, N = grid.shape
    ax = diagram_axes(N * 0.6 + 0.8, T * 0.45 + 0.7, ax=ax, scale=0.75)
    hl = set(highlight_rows or [])
    for t in range(T):
        for n in range(N):
            x, y = 0.7 + n * 0.6, T * 0.45 - t * 0.45 + 0.05
            ax.add_patch(Rectangle((x, y), 0.55, 0.4, facecolor=color(role),
                                   alpha=0.85 if t in hl else 0.18, edgecolor="white"))
            ax.text(x + 0.275, y + 0.2, str(grid[t, n]), ha="center", va="center", fontsize=9,
                    color="white" if t in hl else "black")
        ax.text(0.5, T * 0.45 - t * 0.45 + 0.25, str(t), ha="right", va="center", fontsize=8,
                color=color("neutral"))
    ax.text(0.45, T * 0.45 + 0.55, row_label, ha="right", fontsize=8, color=color("neutral"))
    ax.text(0.7 + N * 0.3, T * 0.45 + 0.55, col_label, ha="center", fontsize=8,
            color=color("neutral"))
    if title:
        ax.set_title(title)
    return ax


def folded_rnn(ax=None, delay_label: str = "unit delay", title: str | None = None):
    """Draw the folded (compact) recurrent network: x[t] -> h[t] -> z[t], with the state fed
    back into the cell through a unit delay box (z^-1) that turns h[t] into h[t-1].

    The picture of :math:`h[t] = f(h[t-1], x[t])`, :math:`z[t] = h[t] W_y + b_y` before it is
    unfolded in time (compare :func:`unrolled_rnn`).
    """
    ax = diagram_axes(5.4, 3.6, ax=ax)
    box(ax, (1.4, 0.5), _m("x[t]"), "input")
    box(ax, (1.4, 1.8), _m("h[t]"), "hidden", width=1.1)
    box(ax, (1.4, 3.1), _m("z[t]"), "output")
    box(ax, (4.3, 1.8), _m("z^{-1}"), "neutral", width=0.8, filled=False)
    arrow(ax, (1.4, 0.5), (1.4, 1.8), _m("W_x"), "input", text_offset=(0.3, -0.1))
    arrow(ax, (1.4, 1.8), (1.4, 3.1), _m("W_y"), "output", text_offset=(0.3, -0.1))
    # h[t] leaves to the right, passes the delay, and comes back into the cell as h[t-1]
    arrow(ax, (1.95, 2.0), (3.9, 2.0), _m("h[t]"), "hidden", shrink=0.0, text_offset=(0.0, 0.04))
    arrow(ax, (3.9, 1.6), (1.95, 1.6), None, "hidden", shrink=0.0)
    ax.text(2.92, 1.5, _m("h[t-1]") + " (via " + _m("W_h") + ")", ha="center", va="top",
            fontsize=9, color=color("hidden"))
    ax.text(4.3, 2.25, delay_label, ha="center", va="bottom", fontsize=9, color=color("neutral"))
    if title:
        ax.set_title(title)
    return ax


def stacked_rnn(T: int = 3, L: int = 2, ax=None, title: str | None = None):
    """Draw an L-layer (stacked) recurrent network unfolded over T steps, t = 0..T-1.

    Layer l reads the hidden states of layer l-1 at the same step (``h^(0)[t] = x[t]``) and its
    own previous state (``h^(l)[-1]`` enters from the left); each layer has its own
    Wx^(l), Wh^(l), b^(l), shared over time; the last layer feeds the logits z[t].
    """
    for name, v in (("T", T), ("L", L)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
    height = 1.3 * (L + 1) + 1.0
    ax = diagram_axes(1.6 * T + 1.6, height, ax=ax)
    for t in range(T):
        cx = 1.7 + 1.6 * t
        box(ax, (cx, 0.5), _m(f"x[{t}]"), "input")
        prev_y = 0.5
        for layer in range(1, L + 1):
            y = 0.5 + 1.3 * layer
            box(ax, (cx, y), _m(f"h^{{({layer})}}[{t}]"), "hidden", width=1.05)
            arrow(ax, (cx, prev_y), (cx, y), _m(f"W_x^{{({layer})}}") if t == 0 else None,
                  "input" if layer == 1 else "hidden", text_offset=(0.38, -0.12))
            start = (0.4, y) if t == 0 else (cx - 1.6, y)
            # Wh's label on the last arrow, away from the Wx labels of the first column
            wh = _m(f"W_h^{{({layer})}}") if t == T - 1 > 0 else None
            arrow(ax, start, (cx, y), wh, "hidden", shrink=0.5, text_offset=(0.0, 0.32))
            prev_y = y
        y_out = 0.5 + 1.3 * (L + 1)
        box(ax, (cx, y_out), _m(f"z[{t}]"), "output")
        arrow(ax, (cx, prev_y), (cx, y_out), _m("W_y") if t == 0 else None, "output",
              text_offset=(0.3, -0.1))
    for layer in range(1, L + 1):
        ax.text(0.4, 0.5 + 1.3 * layer + 0.3, _m(f"h^{{({layer})}}[-1]"), ha="center",
                va="bottom", fontsize=9, color=color("hidden"))
    if title:
        ax.set_title(title)
    return ax


#: Design patterns :func:`design_pattern` draws (Chapter 4).
DESIGN_PATTERNS = ("seq2vec", "vec2seq", "seq2seq", "encdec", "bidirectional", "stacked")


def _dashed(patch):
    patch.set_linestyle((0, (3, 2)))
    return patch


def _chain(ax, xs, y, label, dx, role="hidden", start_label=None, reverse=False):
    """State boxes at xs, linked by recurrent arrows (right to left if ``reverse``)."""
    for k, cx in enumerate(xs):
        box(ax, (cx, y), label(k), role, width=1.0)
    order = list(range(len(xs)))[::-1] if reverse else list(range(len(xs)))
    if start_label:
        sx = xs[order[0]] + (dx * 0.78 if reverse else -dx * 0.78)
        ax.text(sx, y + 0.34, start_label, ha="center", va="bottom", fontsize=9, color=color(role))
        arrow(ax, (sx, y), (xs[order[0]], y), None, role, shrink=0.45)
    for a_, b_ in zip(order[:-1], order[1:]):
        arrow(ax, (xs[a_], y), (xs[b_], y), None, role, shrink=0.5)


def _fed_back_outputs(ax, xs, T):
    """Decoder columns: input <bos> or y[t-1] below, prediction p[t] above, y[t] fed back."""
    for t, cx in enumerate(xs):
        box(ax, (cx, 0.5), "<bos>" if t == 0 else _m(f"y[{t - 1}]"), "output", filled=False)
        arrow(ax, (cx, 0.5), (cx, 1.8), None, "output")
        box(ax, (cx, 3.1), _m(f"p[{t}]"), "output")
        arrow(ax, (cx, 1.8), (cx, 3.1), None, "output")
        if t + 1 < T:
            _dashed(arrow(ax, (cx + 0.45, 3.0), (xs[t + 1] - 0.45, 0.62), None, "output",
                          shrink=0.0))


def _inputs_up(ax, xs, y_to):
    for t, cx in enumerate(xs):
        box(ax, (cx, 0.5), _m(f"x[{t}]"), "input")
        arrow(ax, (cx, 0.5), (cx, y_to), None, "input")


def _pattern_encdec(ax, xs, dx, T):
    _chain(ax, xs, 1.8, lambda k: _m(f"h[{k}]"), dx, start_label=_m("h[-1]"))
    _inputs_up(ax, xs, 1.8)
    ys = [xs[-1] + dx * (t + 1) for t in range(T)]
    _chain(ax, ys, 1.8, lambda k: _m(f"d[{k}]"), dx, role="output")
    arrow(ax, (xs[-1], 1.8), (ys[0], 1.8), None, "hidden", shrink=0.5)
    # the context label sits under the arrow, in the gap between the two rows of boxes
    ax.text((xs[-1] + ys[0]) / 2, 1.42, _m(r"\mathrm{ctx}"), ha="center", va="top", fontsize=9,
            color=color("hidden"))
    _fed_back_outputs(ax, ys, T)
    for cols, text, role in ((xs, "encoder: reads x", "hidden"),
                             (ys, "decoder: writes y", "output")):
        ax.text((cols[0] + cols[-1]) / 2, 3.95, text, ha="center", va="center", fontsize=10,
                color=color(role))
    ax.axvline((xs[-1] + ys[0]) / 2, ymin=0.05, ymax=0.95, color=color("neutral"),
               linewidth=0.8, linestyle=":")


def _pattern_bidirectional(ax, xs, dx, T):
    _chain(ax, xs, 1.7, lambda k: _m(rf"\overrightarrow{{h}}[{k}]"), dx,
           start_label=_m(r"\overrightarrow{h}[-1]"))
    _chain(ax, xs, 2.9, lambda k: _m(rf"\overleftarrow{{h}}[{k}]"), dx,
           start_label=_m(rf"\overleftarrow{{h}}[{T}]"), reverse=True)
    _inputs_up(ax, xs, 1.7)
    for t, cx in enumerate(xs):
        # x[t] also feeds the backward row, and p[t] also reads the forward row: these two
        # arrows pass beside the middle row's boxes
        arrow(ax, (cx + 0.35, 0.8), (cx + 0.62, 2.6), None, "input", shrink=0.0, curve=0.35)
        box(ax, (cx, 4.2), _m(f"p[{t}]"), "output")
        arrow(ax, (cx, 2.9), (cx, 4.2), None, "output")
        arrow(ax, (cx - 0.35, 2.0), (cx - 0.62, 3.9), None, "hidden", shrink=0.0, curve=-0.35)


def design_pattern(kind: str, T: int = 3, ax=None, title: str | None = None):
    """Draw one recurrent design pattern, unfolded over ``T`` steps, t = 0..T-1.

    ======================  ===========================================================
    kind                    picture
    ======================  ===========================================================
    ``"seq2vec"``           inputs x[0..T-1] -> states h[0..T-1] -> one prediction p at the end
    ``"vec2seq"``           a vector v sets the initial state; each step emits p[t], and the
                            token y[t] drawn from it is fed back (dashed) as the next input
                            (``<bos>`` first)
    ``"seq2seq"``           synchronised: one prediction p[t] per input x[t]
    ``"encdec"``            an encoder reads x[0..T-1]; its last state, the context ``ctx``,
                            starts a decoder d[0..T-1] that writes p[t] from ``<bos>``, y[0], ...
    ``"bidirectional"``     a forward row and a backward row of states; p[t] reads both
    ``"stacked"``           two layers, as :func:`stacked_rnn`
    ======================  ===========================================================

    Parameters
    ----------
    kind : str
        One of :data:`DESIGN_PATTERNS`.
    T : int
        Steps drawn (>= 1; the encoder-decoder draws T encoder and T decoder steps).
    ax : matplotlib Axes, optional
    title : str, optional
    """
    if kind not in DESIGN_PATTERNS:
        raise ValueError(f"kind: expected one of {DESIGN_PATTERNS}, got {kind!r}")
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ValueError(f"T: expected an integer >= 1, got {T!r}")
    if kind == "stacked":
        return stacked_rnn(T=T, L=2, ax=ax, title=title)
    dx = 1.8 if kind == "bidirectional" else 1.5
    width = dx * (2 * T if kind == "encdec" else T) + 1.6
    height = {"encdec": 4.3, "bidirectional": 4.8}.get(kind, 3.6)
    ax = diagram_axes(width, height, ax=ax, scale=0.75)
    xs = [1.6 + dx * t for t in range(T)]
    if kind in ("seq2vec", "seq2seq"):
        _chain(ax, xs, 1.8, lambda k: _m(f"h[{k}]"), dx, start_label=_m("h[-1]"))
        _inputs_up(ax, xs, 1.8)
        for t, cx in enumerate(xs if kind == "seq2seq" else xs[-1:]):
            box(ax, (cx, 3.1), _m("p") if kind == "seq2vec" else _m(f"p[{t}]"), "output")
            arrow(ax, (cx, 1.8), (cx, 3.1), None, "output")
    elif kind == "vec2seq":
        box(ax, (0.45, 1.8), _m("v"), "input", width=0.6)
        _chain(ax, xs, 1.8, lambda k: _m(f"h[{k}]"), dx)
        arrow(ax, (0.45, 1.8), (xs[0], 1.8), None, "input", shrink=0.45)
        _fed_back_outputs(ax, xs, T)
    elif kind == "encdec":
        _pattern_encdec(ax, xs, dx, T)
    else:
        _pattern_bidirectional(ax, xs, dx, T)
    if title:
        ax.set_title(title)
    return ax


#: Titles of the six panels of :func:`design_patterns_overview`.
PATTERN_TITLES = {"seq2vec": "sequence → vector", "vec2seq": "vector → sequence",
                  "seq2seq": "sequence → sequence, synchronised", "encdec": "encoder-decoder",
                  "bidirectional": "bidirectional", "stacked": "stacked (2 layers)"}


def design_patterns_overview():
    """The six patterns of Chapter 4 on one figure, three rows of two, each unfolded in time.

    Two per row (not three) keeps the figure narrow enough that its labels stay readable when
    the page scales it to its content width (see :func:`check_text_size`).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(9, 9.4))
    for ax, kind in zip(axes.flat, DESIGN_PATTERNS):
        design_pattern(kind, T=2 if kind == "encdec" else 3, ax=ax, title=PATTERN_TITLES[kind])
    fig.tight_layout()
    return fig


def lstm_cell_diagram(ax=None, title: str | None = None):
    """Draw one LSTM cell: the cell-state line c[t-1] -> c[t] on top, the four gates below.

    The picture of :math:`c[t] = f \\odot c[t-1] + i \\odot g` and
    :math:`h[t] = o \\odot \\tanh(c[t])`: the forget gate f multiplies the old memory (a times
    junction), the input gate i multiplies the candidate g before it is added (the plus
    junction), and the output gate o decides how much of :math:`\\tanh(c[t])` becomes the
    hidden state. h[t-1] (from the left) and x[t] (from below) join into one bus that feeds
    all four blocks, :math:`a[t] = x[t] W_x + h[t-1] W_h + b`.
    """
    ax = diagram_axes(10.0, 5.6, ax=ax, scale=0.8)
    yc, yg, yb = 4.8, 2.7, 1.3
    xf, xi, xg, xo, xt = 2.6, 3.9, 5.2, 6.8, 8.2
    ax.text(0.6, yc, _m("c[t-1]"), ha="center", va="center", fontsize=11, color=color("cell"))
    ax.text(9.5, yc, _m("c[t]"), ha="center", va="center", fontsize=11, color=color("cell"))
    box(ax, (xf, yc), r"$\times$", "cell", width=0.45, height=0.45, fontsize=12)
    box(ax, (4.55, yc), "+", "cell", width=0.45, height=0.45, fontsize=12)
    arrow(ax, (1.1, yc), (xf, yc), None, "cell", shrink=0.25)
    arrow(ax, (xf, yc), (4.55, yc), None, "cell", shrink=0.25)
    arrow(ax, (4.55, yc), (9.1, yc), None, "cell", shrink=0.25)
    for x, name, fn in ((xf, "f", r"\sigma"), (xi, "i", r"\sigma"), (xg, "g", r"\tanh"),
                        (xo, "o", r"\sigma")):
        box(ax, (x, yg), _m(f"{name}: {fn}"), "cell" if name == "g" else "gate", width=1.0,
            height=0.6, fontsize=10)
        arrow(ax, (x, yb), (x, yg), None, "neutral", shrink=0.32)
    arrow(ax, (xf, yg), (xf, yc), None, "gate", shrink=0.3)
    box(ax, (4.55, 3.75), r"$\times$", "cell", width=0.45, height=0.45, fontsize=12)
    arrow(ax, (xi, yg), (4.55, 3.75), None, "gate", shrink=0.32)
    arrow(ax, (xg, yg), (4.55, 3.75), None, "cell", shrink=0.32)
    arrow(ax, (4.55, 3.75), (4.55, yc), None, "cell", shrink=0.25)
    # output path: tanh(c[t]) times o -> h[t], which leaves to the right (next step, output)
    box(ax, (xt, 3.75), _m(r"\tanh"), "cell", width=0.8, height=0.45, fontsize=10)
    arrow(ax, (xt, yc), (xt, 3.75), None, "cell", shrink=0.22)
    box(ax, (xt, yg), r"$\times$", "hidden", width=0.45, height=0.45, fontsize=12)
    arrow(ax, (xt, 3.75), (xt, yg), None, "cell", shrink=0.25)
    arrow(ax, (xo, yg), (xt, yg), None, "gate", shrink=0.5)
    arrow(ax, (xt, yg), (9.5, yg), None, "hidden", shrink=0.25)
    ax.text(9.55, yg - 0.3, _m("h[t]"), ha="center", va="top", fontsize=11, color=color("hidden"))
    # the input bus: h[t-1] from the left and x[t] from below feed every block
    ax.text(0.6, yb, _m("h[t-1]"), ha="center", va="center", fontsize=11, color=color("hidden"))
    arrow(ax, (1.15, yb), (1.9, yb), None, "hidden", shrink=0.0)
    ax.plot([1.9, xo], [yb, yb], color=color("neutral"), linewidth=1.6)
    box(ax, (1.9, 0.35), _m("x[t]"), "input", width=0.8, height=0.45, fontsize=10)
    arrow(ax, (1.9, 0.35), (1.9, yb), None, "input", shrink=0.22)
    ax.text(4.7, yb - 0.2, _m("a[t] = x[t]\\,W_x + h[t-1]\\,W_h + b"), ha="center", va="top",
            fontsize=10, color=color("neutral"))
    if title:
        ax.set_title(title)
    return ax


class Table:
    """A small table of computed numbers that notebooks render as HTML.

    The book's pages build tables from code (never typed by hand); an object with
    ``_repr_html_`` is rendered by Jupyter and by myst-nb alike, where a Markdown string
    would need a GFM-table-aware renderer.

    Parameters
    ----------
    header : sequence of str
        Column titles.
    rows : sequence of sequences
        Cell values; floats are shown with ``floatfmt``, everything else with ``str``.
    align : str, optional
        One letter per column, ``"l"`` or ``"r"`` (default: text left, numbers right).
    floatfmt : str
        Format spec for float cells, e.g. ``".1f"``.
    """

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence], align: str | None = None,
                 floatfmt: str = ".1f"):
        self.header = [str(h) for h in header]
        self.rows = [list(r) for r in rows]
        for k, r in enumerate(self.rows):
            if len(r) != len(self.header):
                raise ValueError(f"rows: expected {len(self.header)} cells per row (one per header "
                                 f"column), got {len(r)} in row {k}")
        if align is not None and (len(align) != len(self.header) or set(align) - {"l", "r"}):
            raise ValueError(f"align: expected {len(self.header)} letters 'l' or 'r', got {align!r}")
        self.align = align
        self.floatfmt = floatfmt

    def _cell(self, v) -> str:
        if isinstance(v, (float, np.floating)):
            return format(float(v), self.floatfmt)
        return str(v)

    def _repr_html_(self) -> str:
        import html

        def side(j, v):
            if self.align is not None:
                return "left" if self.align[j] == "l" else "right"
            return "right" if isinstance(v, (int, float, np.integer, np.floating)) else "left"

        head = "".join(f'<th style="text-align:{side(j, self.rows[0][j] if self.rows else "")}">'
                       f"{html.escape(h)}</th>" for j, h in enumerate(self.header))
        body = "".join("<tr>" + "".join(f'<td style="text-align:{side(j, v)}">{html.escape(self._cell(v))}</td>'
                                        for j, v in enumerate(r)) + "</tr>" for r in self.rows)
        return (f'<table class="table"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>")

    def __repr__(self) -> str:
        widths = [max(len(h), *(len(self._cell(r[j])) for r in self.rows)) if self.rows else len(h)
                  for j, h in enumerate(self.header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(self.header, widths))]
        lines += ["  ".join(self._cell(v).ljust(w) for v, w in zip(r, widths)) for r in self.rows]
        return "\n".join(lines)
