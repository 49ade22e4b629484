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
output    y~[t], logits, predictions
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


def use_style() -> None:
    """Apply the book's matplotlib style (fonts, colour cycle, sizes) to every later figure."""
    import matplotlib.pyplot as plt
    from cycler import cycler

    plt.rcParams.update(_STYLE)
    plt.rcParams["axes.prop_cycle"] = cycler(color=CYCLE)


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


def unrolled_rnn(T: int = 4, ax=None, labels: Sequence[str] | None = None,
                 show_outputs: bool = True, weight_labels: bool = True, title: str | None = None):
    """Draw a recurrent network unfolded over ``T`` steps.

    Inputs x[t] at the bottom, hidden states h[t] in the middle, outputs y~[t] on top;
    horizontal arrows carry h[t-1] -> h[t] through the *same* Wh at every step.

    Parameters
    ----------
    T : int
        Number of time steps drawn (>= 1).
    labels : sequence of str, optional
        Text under each input box (e.g. the characters fed in).
    """
    if T < 1:
        raise ValueError(f"T: expected an integer >= 1, got {T}")
    ax = diagram_axes(1.6 * T + 1.2, 3.6 if show_outputs else 2.6, ax=ax)
    ax.text(0.35, 1.8, "h[0]", ha="center", va="center", fontsize=10, color=color("hidden"))
    for t in range(T):
        cx = 1.4 + 1.6 * t
        box(ax, (cx, 0.5), f"x[{t + 1}]", "input")
        box(ax, (cx, 1.8), f"h[{t + 1}]", "hidden")
        arrow(ax, (cx, 0.5), (cx, 1.8), "Wx" if weight_labels else None, "input",
              text_offset=(0.28, -0.1))
        prev = (0.35, 1.8) if t == 0 else (cx - 1.6, 1.8)
        arrow(ax, prev, (cx, 1.8), "Wh" if weight_labels else None, "hidden", shrink=0.45)
        if show_outputs:
            box(ax, (cx, 3.1), f"y~[{t + 1}]", "output")
            arrow(ax, (cx, 1.8), (cx, 3.1), "Wy" if weight_labels else None, "output",
                  text_offset=(0.28, -0.1))
        if labels is not None and t < len(labels):
            ax.text(cx, 0.02, str(labels[t]), ha="center", va="bottom", fontsize=9,
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
    """Draw the folded (compact) recurrent network: x[t] -> h[t] -> y~[t], with the state fed
    back into the cell through a unit delay box (z^-1) that turns h[t] into h[t-1].

    The picture of :math:`h[t] = f(h[t-1], x[t])`, :math:`\\tilde y[t] = g(h[t])` before it is
    unfolded in time (compare :func:`unrolled_rnn`).
    """
    ax = diagram_axes(5.0, 3.6, ax=ax)
    box(ax, (1.4, 0.5), "x[t]", "input")
    box(ax, (1.4, 1.8), "h[t]", "hidden", width=1.1)
    box(ax, (1.4, 3.1), "y~[t]", "output")
    box(ax, (4.0, 1.8), "$z^{-1}$", "neutral", width=0.8, filled=False)
    arrow(ax, (1.4, 0.5), (1.4, 1.8), "Wx", "input", text_offset=(0.28, -0.1))
    arrow(ax, (1.4, 1.8), (1.4, 3.1), "Wy", "output", text_offset=(0.28, -0.1))
    # h[t] leaves to the right, passes the delay, and comes back into the cell as h[t-1]
    arrow(ax, (1.95, 2.0), (3.6, 2.0), "h[t]", "hidden", shrink=0.0, text_offset=(0.0, 0.04))
    arrow(ax, (3.6, 1.6), (1.95, 1.6), None, "hidden", shrink=0.0)
    ax.text(2.78, 1.5, "h[t-1] (via Wh)", ha="center", va="top", fontsize=9,
            color=color("hidden"))
    ax.text(4.0, 2.25, delay_label, ha="center", va="bottom", fontsize=8, color=color("neutral"))
    if title:
        ax.set_title(title)
    return ax


def stacked_rnn(T: int = 3, L: int = 2, ax=None, title: str | None = None):
    """Draw an L-layer (stacked) recurrent network unfolded over T steps.

    Layer l reads the hidden states of layer l-1 at the same step (``h^(0)[t] = x[t]``) and its
    own previous state; each layer has its own Wx^(l), Wh^(l), b^(l), shared over time.
    """
    if T < 1 or L < 1:
        raise ValueError(f"T, L: expected integers >= 1, got T={T}, L={L}")
    height = 1.3 * (L + 1) + 1.0
    ax = diagram_axes(1.6 * T + 1.4, height, ax=ax)
    for t in range(T):
        cx = 1.5 + 1.6 * t
        box(ax, (cx, 0.5), f"x[{t + 1}]", "input")
        prev_y = 0.5
        for layer in range(1, L + 1):
            y = 0.5 + 1.3 * layer
            box(ax, (cx, y), f"$h^{{({layer})}}[{t + 1}]$", "hidden", width=1.05)
            arrow(ax, (cx, prev_y), (cx, y), f"$W_x^{{({layer})}}$" if t == 0 else None,
                  "input" if layer == 1 else "hidden", text_offset=(0.38, -0.12))
            start = (0.35, y) if t == 0 else (cx - 1.6, y)
            arrow(ax, start, (cx, y), f"$W_h^{{({layer})}}$" if t == 1 else None, "hidden",
                  shrink=0.5, text_offset=(0.0, 0.05))
            prev_y = y
        y_out = 0.5 + 1.3 * (L + 1)
        box(ax, (cx, y_out), f"y~[{t + 1}]", "output")
        arrow(ax, (cx, prev_y), (cx, y_out), "Wy" if t == 0 else None, "output",
              text_offset=(0.28, -0.1))
    for layer in range(1, L + 1):
        ax.text(0.3, 0.5 + 1.3 * layer, f"$h^{{({layer})}}[0]$", ha="center", va="center",
                fontsize=9, color=color("hidden"))
    if title:
        ax.set_title(title)
    return ax


#: Design patterns :func:`design_pattern` draws (Chapter 4).
DESIGN_PATTERNS = ("seq2vec", "vec2seq", "seq2seq", "encdec", "bidirectional", "stacked")


def _dashed(patch):
    patch.set_linestyle((0, (3, 2)))
    return patch


def design_pattern(kind: str, T: int = 3, ax=None, title: str | None = None):
    """Draw one recurrent design pattern, unfolded over ``T`` steps.

    ======================  ===========================================================
    kind                    picture
    ======================  ===========================================================
    ``"seq2vec"``           inputs x[1..T] -> states h[1..T] -> one output y~ at the end
    ``"vec2seq"``           a vector v sets h[0]; each step emits y~[t], fed back (dashed)
                            as the next input (``<bos>`` first)
    ``"seq2seq"``           synchronised: one output y~[t] per input x[t]
    ``"encdec"``            an encoder reads x[1..T]; its last state starts a decoder
                            s[1..T] that writes y~[1..T] from ``<bos>``, y[1], ...
    ``"bidirectional"``     a forward row h->[t] and a backward row h<-[t]; y~[t] reads both
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
    dx = 1.5
    x0 = 1.5
    if kind == "encdec":
        ax = diagram_axes(dx * 2 * T + 1.4, 4.0, ax=ax, scale=0.75)
    elif kind == "bidirectional":
        dx = 1.8
        ax = diagram_axes(dx * T + 1.4, 4.8, ax=ax, scale=0.75)
    else:
        ax = diagram_axes(dx * T + 1.4, 3.6, ax=ax, scale=0.75)

    def chain(xs, y, label, role="hidden", start_label="h[0]", reverse=False):
        """State boxes at xs, linked by recurrent arrows (right to left if ``reverse``)."""
        for k, cx in enumerate(xs):
            box(ax, (cx, y), label(k), role, width=1.0)
        order = list(range(len(xs)))[::-1] if reverse else list(range(len(xs)))
        if start_label:
            sx = xs[order[0]] + (dx * 0.75 if reverse else -dx * 0.75)
            ax.text(sx, y, start_label, ha="center", va="center", fontsize=9, color=color(role))
            arrow(ax, (sx, y), (xs[order[0]], y), None, role, shrink=0.45)
        for a_, b_ in zip(order[:-1], order[1:]):
            arrow(ax, (xs[a_], y), (xs[b_], y), None, role, shrink=0.5)

    xs = [x0 + dx * t for t in range(T)]
    if kind in ("seq2vec", "seq2seq", "bidirectional"):
        for t, cx in enumerate(xs):
            box(ax, (cx, 0.5), f"x[{t + 1}]", "input")
    if kind in ("seq2vec", "seq2seq"):
        chain(xs, 1.8, lambda k: f"h[{k + 1}]")
        for t, cx in enumerate(xs):
            arrow(ax, (cx, 0.5), (cx, 1.8), None, "input")
        outs = xs if kind == "seq2seq" else xs[-1:]
        for cx in outs:
            t = xs.index(cx)
            box(ax, (cx, 3.1), "y~" if kind == "seq2vec" else f"y~[{t + 1}]", "output")
            arrow(ax, (cx, 1.8), (cx, 3.1), None, "output")
    elif kind == "vec2seq":
        box(ax, (0.5, 1.8), "v", "input", width=0.6)
        chain(xs, 1.8, lambda k: f"h[{k + 1}]", start_label=None)
        arrow(ax, (0.5, 1.8), (xs[0], 1.8), None, "input", shrink=0.45)
        for t, cx in enumerate(xs):
            box(ax, (cx, 0.5), "<bos>" if t == 0 else f"y[{t}]", "output", filled=False)
            arrow(ax, (cx, 0.5), (cx, 1.8), None, "output")
            box(ax, (cx, 3.1), f"y~[{t + 1}]", "output")
            arrow(ax, (cx, 1.8), (cx, 3.1), None, "output")
            if t + 1 < T:
                _dashed(arrow(ax, (cx + 0.45, 3.0), (xs[t + 1] - 0.45, 0.62), None, "output",
                              shrink=0.0))
    elif kind == "encdec":
        chain(xs, 1.8, lambda k: f"h[{k + 1}]")
        for t, cx in enumerate(xs):
            box(ax, (cx, 0.5), f"x[{t + 1}]", "input")
            arrow(ax, (cx, 0.5), (cx, 1.8), None, "input")
        ys = [x0 + dx * (T + t) for t in range(T)]
        chain(ys, 1.8, lambda k: f"s[{k + 1}]", role="output", start_label=None)
        arrow(ax, (xs[-1], 1.8), (ys[0], 1.8), None, "hidden", shrink=0.5)

        for t, cx in enumerate(ys):
            box(ax, (cx, 0.5), "<bos>" if t == 0 else f"y[{t}]", "output", filled=False)
            arrow(ax, (cx, 0.5), (cx, 1.8), None, "output")
            box(ax, (cx, 3.1), f"y~[{t + 1}]", "output")
            arrow(ax, (cx, 1.8), (cx, 3.1), None, "output")
        ax.text((xs[0] + xs[-1]) / 2, 3.1, "encoder: reads x", ha="center", va="center",
                fontsize=10, color=color("hidden"))
        ax.text((ys[0] + ys[-1]) / 2, 3.65, "decoder: writes y", ha="center", va="center",
                fontsize=10, color=color("output"))
        ax.axvline((xs[-1] + ys[0]) / 2 + 0.0, ymin=0.05, ymax=0.95, color=color("neutral"),
                   linewidth=0.8, linestyle=":")
    elif kind == "bidirectional":
        chain(xs, 1.7, lambda k: f"$\\rightarrow$h[{k + 1}]")
        chain(xs, 2.9, lambda k: f"$\\leftarrow$h[{k + 1}]", start_label="h[T+1]", reverse=True)
        for t, cx in enumerate(xs):
            arrow(ax, (cx, 0.5), (cx, 1.7), None, "input")
            # x[t] also feeds the backward row, and y~[t] also reads the forward row: these
            # two arrows pass beside the middle row's boxes
            arrow(ax, (cx + 0.35, 0.8), (cx + 0.62, 2.6), None, "input", shrink=0.0, curve=0.35)
            box(ax, (cx, 4.2), f"y~[{t + 1}]", "output")
            arrow(ax, (cx, 2.9), (cx, 4.2), None, "output")
            arrow(ax, (cx - 0.35, 2.0), (cx - 0.62, 3.9), None, "hidden", shrink=0.0, curve=-0.35)
    if title:
        ax.set_title(title)
    return ax


def lstm_cell_diagram(ax=None, title: str | None = None):
    """Draw one LSTM cell: the cell-state line c[t-1] -> c[t] on top, the four gates below.

    The picture of :math:`c[t] = f \\odot c[t-1] + i \\odot g` and
    :math:`h[t] = o \\odot \\tanh(c[t])`: the forget gate f multiplies the old memory, the
    input gate i multiplies the candidate g before it is added, and the output gate o decides
    how much of :math:`\\tanh(c[t])` becomes the hidden state. All four gates read
    ``[x[t], h[t-1]]`` (drawn as one bus).
    """
    ax = diagram_axes(9.0, 5.2, ax=ax, scale=0.8)
    yc, yg, yb = 4.3, 2.3, 0.7
    # the memory line
    ax.text(0.45, yc, "c[t-1]", ha="center", va="center", fontsize=10, color=color("cell"))
    ax.text(8.55, yc, "c[t]", ha="center", va="center", fontsize=10, color=color("cell"))
    mul_f = box(ax, (2.4, yc), "×", "cell", width=0.45, height=0.45, fontsize=12)
    add = box(ax, (4.5, yc), "+", "cell", width=0.45, height=0.45, fontsize=12)
    del mul_f, add
    arrow(ax, (0.9, yc), (2.4, yc), None, "cell", shrink=0.25)
    arrow(ax, (2.4, yc), (4.5, yc), None, "cell", shrink=0.25)
    arrow(ax, (4.5, yc), (8.1, yc), None, "cell", shrink=0.25)
    # gates
    for x, name, fn in ((2.4, "f", "σ"), (3.5, "i", "σ"), (4.6, "g", "tanh"), (6.3, "o", "σ")):
        box(ax, (x, yg), f"{name}\n{fn}", "gate" if name != "g" else "cell", width=0.8,
            height=0.75, fontsize=9)
        arrow(ax, (x, yb + 0.25), (x, yg), None, "neutral", shrink=0.38)
    arrow(ax, (2.4, yg), (2.4, yc), None, "gate", shrink=0.35)
    box(ax, (4.05, 3.3), "×", "cell", width=0.45, height=0.45, fontsize=12)
    arrow(ax, (3.5, yg), (4.05, 3.3), None, "gate", shrink=0.35)
    arrow(ax, (4.6, yg), (4.05, 3.3), None, "cell", shrink=0.35)
    arrow(ax, (4.05, 3.3), (4.5, yc), None, "cell", shrink=0.25)
    # output path: tanh(c[t]) * o -> h[t]
    box(ax, (7.2, 3.3), "tanh", "cell", width=0.7, height=0.45, fontsize=9)
    arrow(ax, (7.2, yc), (7.2, 3.3), None, "cell", shrink=0.22)
    box(ax, (7.2, yg), "×", "hidden", width=0.45, height=0.45, fontsize=12)
    arrow(ax, (7.2, 3.3), (7.2, yg), None, "cell", shrink=0.25)
    arrow(ax, (6.3, yg), (7.2, yg), None, "gate", shrink=0.4)
    arrow(ax, (7.2, yg), (8.3, yb), None, "hidden", shrink=0.25)
    ax.text(8.55, yb - 0.05, "h[t]", ha="center", va="top", fontsize=10, color=color("hidden"))
    # the input bus [x[t], h[t-1]]
    ax.plot([1.0, 6.3], [yb + 0.25, yb + 0.25], color=color("neutral"), linewidth=1.4)
    ax.text(0.55, yb + 0.25, "h[t-1]", ha="center", va="center", fontsize=10,
            color=color("hidden"))
    box(ax, (1.6, yb - 0.35), "x[t]", "input", width=0.7, height=0.45, fontsize=9)
    arrow(ax, (1.6, yb - 0.35), (1.6, yb + 0.25), None, "input", shrink=0.2)
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
