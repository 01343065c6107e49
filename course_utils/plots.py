"""Figure builders for the explorers: pure-Agg matplotlib figures whose artists are updated in place.

Everything here draws numbers it is given; it never calls the model. The explorers in
``course_utils.widgets`` compute the numbers (through ``course_utils.sampling``) and hand them
to these panels.

Why pure Agg, no pyplot: a ``matplotlib.figure.Figure`` attached to a ``FigureCanvasAgg`` never
auto-displays in a notebook, needs no backend (no ipympl, no ``%matplotlib`` magic), and renders
to an RGBA buffer that :func:`figure_to_png` encodes quickly. The reason this matters for strict
nbval is in the ``course_utils.widgets`` docstring.

Speed rules every panel follows (a slider redraw must stay well under 40 ms):
  * artists are created once and then changed with ``set_height`` / ``set_width`` /
    ``set_data`` / ``set_text`` / ``set_color``, never re-plotted;
  * axis limits are fixed by the caller (no autoscaling per redraw), tick labels are few;
  * artists that change per redraw are marked with :func:`mark_dynamic`; everything else (axes,
    ticks, labels: most of the text, and text is what Agg draws slowest) is drawn once into a
    cached background, and each redraw blits the dynamic artists over it. The background is
    redrawn only when its signature (limits, tick labels, static texts) changes, and the tests
    check the blitted picture is pixel-identical to a full draw;
  * PNG encoding uses Pillow at ``compress_level=1`` straight from ``canvas.buffer_rgba()``.

Colours are the Okabe-Ito palette (safe for the common forms of colour blindness), and every
role a colour plays (kept token, removed token, chosen token, ...) has one name in
:data:`ROLE`, so all lessons speak the same visual language.
"""

from __future__ import annotations

import io
import weakref
from dataclasses import dataclass
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from course_utils.tokenizer import visible

__all__ = [
    "OKABE_ITO",
    "ROLE",
    "DPI",
    "visible",
    "token_label",
    "new_figure",
    "figure_to_png",
    "mark_dynamic",
    "BarPanel",
    "CurvePanel",
    "TokenTextPanel",
]

#: The Okabe-Ito colour-blind-safe palette (Okabe & Ito, 2008), as hex strings.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: What each colour means in every lesson. ``removed`` is a light grey: greyed-out tokens read
#: as "gone" for every viewer, whatever their colour vision.
ROLE = {
    "bar": OKABE_ITO["blue"],  # a token's probability (or logit), nothing special
    "kept": OKABE_ITO["blue"],  # survives truncation
    "removed": "#C8C8C8",  # cut by truncation
    "chosen": OKABE_ITO["vermillion"],  # the token that was sampled / is highlighted
    "curve": OKABE_ITO["orange"],  # a quantity plotted against a dial
    "second_curve": OKABE_ITO["bluish_green"],
    "threshold": OKABE_ITO["black"],  # a p line, a k line, a current-value marker
    "text": "#222222",
}

#: Screen dots per inch for explorer figures: sharp enough to read 9-pt token labels, small
#: enough that drawing and PNG-encoding stay fast.
DPI = 80

def token_label(text: str, max_chars: int = 14) -> str:
    """A plot label for a token: whitespace made visible, long tokens shortened with '…'.

    An empty token shows as ∅ so that its bar still has a label.
    """
    if max_chars < 2:
        raise ValueError(f"max_chars must be at least 2, got {max_chars}")
    label = visible(text)
    if label == "":
        return "∅"
    if len(label) > max_chars:
        return label[: max_chars - 1] + "…"
    return label


def new_figure(width_px: int, height_px: int, dpi: int = DPI) -> Figure:
    """A pyplot-free figure with an Agg canvas: it never auto-displays and needs no backend."""
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def mark_dynamic(*artists) -> None:
    """Declare artists that change on every redraw (bars, value labels, markers, titles).

    :func:`figure_to_png` then draws everything else once into a cached background and, on
    each redraw, restores that background and draws only these artists on top (blitting).
    Dynamic artists are drawn in z-order after the static ones, so they must not need to sit
    underneath a static artist.
    """
    for artist in artists:
        figure = artist.get_figure(root=True)
        if figure is None:
            raise ValueError(f"{artist!r} must be added to a figure before it is marked dynamic")
        artist.set_animated(True)
        _DYNAMIC.setdefault(figure, []).append(artist)


_DYNAMIC: "weakref.WeakKeyDictionary[Figure, list]" = weakref.WeakKeyDictionary()
_BACKGROUNDS: "weakref.WeakKeyDictionary[Figure, tuple]" = weakref.WeakKeyDictionary()


def _static_signature(figure: Figure) -> tuple:
    """Everything that shapes the static layer: limits, tick labels, static texts and patches.

    Cheap to compute (no drawing); when it changes, the cached background is redrawn.
    """
    parts: list = [tuple(figure.bbox.bounds)]
    for text in figure.texts:
        if not text.get_animated():
            parts.append((text.get_text(), text.get_position(), text.get_visible()))
    for ax in figure.axes:
        parts.append((ax.get_position().bounds, ax.get_xlim(), ax.get_ylim(), ax.get_visible()))
        for axis in (ax.xaxis, ax.yaxis):
            locations = axis.get_majorticklocs()
            parts.append((tuple(locations), tuple(axis.get_major_formatter().format_ticks(locations))))
        for text in ax.texts:
            if not text.get_animated():
                parts.append((text.get_text(), text.get_position(), text.get_visible(), text.get_color()))
        for patch in ax.patches:
            if not patch.get_animated():
                parts.append((patch.get_xy() if hasattr(patch, "get_xy") else None, patch.get_facecolor()))
        for line in ax.lines:
            if not line.get_animated():
                parts.append((id(line), line.get_visible(), len(line.get_xdata())))
    return tuple(parts)


def figure_to_png(
    figure: Figure, compress_level: int = 1, *, full: bool = False, text: dict[str, str] | None = None
) -> bytes:
    """Render ``figure`` with Agg and encode it as PNG bytes, fast.

    Artists marked with :func:`mark_dynamic` are blitted over a cached background, which is
    redrawn only when the static layer changed (see :func:`_static_signature`); ``full=True``
    forces a complete draw. Drawing once and encoding the RGBA buffer with Pillow at level 1
    is several times faster than ``figure.savefig`` (a second full draw, zlib level 6), and the
    file is only modestly larger: flat-colour plots compress well at any level.

    ``text`` is stored as PNG text chunks (e.g. which slider value the picture was drawn for,
    which the browser tests read back).
    """
    canvas = figure.canvas
    dynamic = [a for a in _DYNAMIC.get(figure, ()) if a.axes is not None or a.figure is not None]
    if not dynamic:
        canvas.draw()
    else:
        signature = _static_signature(figure)
        cached = _BACKGROUNDS.get(figure)
        if full or cached is None or cached[0] != signature:
            canvas.draw()  # draws every artist that is not animated
            _BACKGROUNDS[figure] = (signature, canvas.copy_from_bbox(figure.bbox))
        else:
            canvas.restore_region(cached[1])
        for artist in sorted(dynamic, key=lambda a: a.get_zorder()):
            if artist.get_visible():
                figure.draw_artist(artist)
    width, height = canvas.get_width_height(physical=True)
    rgba = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    out = io.BytesIO()
    rgba.convert("RGB").save(out, format="PNG", compress_level=compress_level, pnginfo=info)
    return out.getvalue()


def _percent(value: float) -> str:
    if value == 0:
        return "0%"
    if value < 0.001:
        return "<0.1%"
    return f"{value:.1%}"


class BarPanel:
    """A fixed number of bar slots, one per token, updated in place.

    ``horizontal=True`` puts token labels on the y axis with the first slot on top: the most
    readable layout for ranked tokens. ``horizontal=False`` gives classic upright bars, with
    slots in the order given (used where bars line up with sliders).

    Slots beyond the data passed to :meth:`update` are hidden, so the same panel serves any
    number of tokens up to ``n_slots``.

    Bars and value annotations are dynamic (blitted, see :func:`mark_dynamic`). Token labels
    are tick labels, part of the cached background, unless ``dynamic_labels=True`` (horizontal
    panels only): then they are drawn per frame too, which is cheaper when the labels change on
    most redraws (a slider that changes how many tokens are shown, a stepper).
    """

    def __init__(
        self,
        ax,
        n_slots: int,
        *,
        horizontal: bool = True,
        value_label: str = "probability",
        limits: tuple[float, float] = (0.0, 1.0),
        value_format=_percent,
        show_values: bool = True,
        label_fontsize: float = 9,
        label_rotation: float = 0,
        dynamic_labels: bool = False,
    ):
        if n_slots < 1:
            raise ValueError(f"n_slots must be at least 1, got {n_slots}")
        self.ax = ax
        self.n_slots = n_slots
        self.horizontal = horizontal
        self.value_format = value_format
        positions = np.arange(n_slots)
        zeros = np.zeros(n_slots)
        if horizontal:
            self.bars = list(ax.barh(positions, zeros, height=0.72, color=ROLE["bar"]))
            ax.set_ylim(n_slots - 0.5, -0.5)
            ax.set_yticks(positions, [""] * n_slots, fontsize=label_fontsize)
            ax.set_xlabel(value_label)
            ax.tick_params(axis="y", length=0)
        else:
            self.bars = list(ax.bar(positions, zeros, width=0.72, color=ROLE["bar"]))
            ax.set_xlim(-0.5, n_slots - 0.5)
            ax.set_xticks(positions, [""] * n_slots, fontsize=label_fontsize)
            ax.set_ylabel(value_label)
            ax.tick_params(axis="x", length=0)
        self._value_axis = ax.xaxis if horizontal else ax.yaxis
        self._label_axis = ax.yaxis if horizontal else ax.xaxis
        # Rotated labels are anchored at their end, so each one ends under its own bar.
        self._label_style = (
            {"rotation": label_rotation, "ha": "right", "rotation_mode": "anchor"} if label_rotation else {}
        )
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        self.value_texts = []
        if show_values:
            for position in positions:
                xy = (0.0, position) if horizontal else (position, 0.0)
                self.value_texts.append(
                    ax.text(
                        *xy,
                        "",
                        fontsize=label_fontsize - 1,
                        color=ROLE["text"],
                        va="center" if horizontal else "bottom",
                        ha="left" if horizontal else "center",
                        clip_on=False,
                    )
                )
        self.label_texts = []
        if dynamic_labels:
            if not horizontal:
                raise ValueError("dynamic_labels=True needs horizontal=True")
            ax.set_yticks([])  # the labels are drawn texts; empty ticks would only cost time
            self.label_texts = [
                ax.text(
                    -0.015, position, "", transform=ax.get_yaxis_transform(), ha="right", va="center",
                    fontsize=label_fontsize, color=ROLE["text"],
                )
                for position in positions
            ]
        mark_dynamic(*self.bars, *self.value_texts, *self.label_texts)
        self._labels: list[str] = [""] * n_slots
        self._values = np.zeros(n_slots)
        self._n_shown = 0
        self.set_limits(*limits)

    def set_limits(self, low: float, high: float) -> None:
        """Fix the value axis to [low, high] (no autoscaling on redraw)."""
        if not high > low:
            raise ValueError(f"limits must satisfy low < high, got ({low}, {high})")
        self._limits = (float(low), float(high))
        if self.horizontal:
            self.ax.set_xlim(low, high)
        else:
            self.ax.set_ylim(low, high)

    def update(
        self,
        values: Sequence[float],
        labels: Sequence[str] | None = None,
        colors: Sequence[str] | str | None = None,
        texts: Sequence[str] | None = None,
    ) -> None:
        """Show ``values`` in the first ``len(values)`` slots; hide the rest.

        ``labels`` are used as given (pass them through :func:`token_label` first); ``None``
        keeps the current labels. ``colors`` is one colour for all bars or one per bar.
        ``texts`` replaces the value annotations (default: ``value_format`` of each value).
        """
        values = np.asarray(values, dtype=float)
        n = len(values)
        if n > self.n_slots:
            raise ValueError(f"got {n} values for a panel with {self.n_slots} slots")
        if labels is not None:
            if len(labels) != n:
                raise ValueError(f"got {len(labels)} labels for {n} values")
            self._labels = list(labels) + [""] * (self.n_slots - n)
            if self.label_texts:
                for text, label in zip(self.label_texts, self._labels):
                    text.set_text(label)
            else:
                self._label_axis.set_ticklabels(self._labels, **self._label_style)
        if colors is None:
            colors = [ROLE["bar"]] * n
        elif isinstance(colors, str):
            colors = [colors] * n
        elif len(colors) != n:
            raise ValueError(f"got {len(colors)} colors for {n} values")
        low, high = self._limits
        pad = 0.01 * (high - low)
        for i, bar in enumerate(self.bars):
            shown = i < n
            value = float(values[i]) if shown else 0.0
            bar.set_visible(shown)
            if self.horizontal:
                bar.set_width(value)
            else:
                bar.set_height(value)
            if shown:
                bar.set_facecolor(colors[i])
            if self.value_texts:
                text = self.value_texts[i]
                text.set_visible(shown)
                if shown:
                    # Annotations sit just past the bar's end, on whichever side it points to.
                    end = value + pad if value >= 0 else value - pad
                    if self.horizontal:
                        text.set_x(end)
                        text.set_horizontalalignment("left" if value >= 0 else "right")
                    else:
                        text.set_y(end)
                        text.set_verticalalignment("bottom" if value >= 0 else "top")
                    text.set_text(texts[i] if texts is not None else self.value_format(value))
        self._values = values
        self._n_shown = n

    # Read-back accessors: tests assert what the figure shows through these.
    @property
    def values(self) -> list[float]:
        """Bar lengths currently drawn, one per shown slot."""
        get = (lambda b: b.get_width()) if self.horizontal else (lambda b: b.get_height())
        return [float(get(bar)) for bar in self.bars[: self._n_shown]]

    @property
    def labels(self) -> list[str]:
        """Token labels currently drawn, one per shown slot."""
        return self._labels[: self._n_shown]

    @property
    def colors(self) -> list[str]:
        """Bar face colours currently drawn, as '#rrggbb' strings."""
        return [to_hex(bar.get_facecolor()) for bar in self.bars[: self._n_shown]]

    @property
    def value_strings(self) -> list[str]:
        """The value annotations currently drawn next to the bars."""
        return [t.get_text() for t in self.value_texts[: self._n_shown]]


class CurvePanel:
    """One or two curves against a dial (e.g. entropy vs temperature) with the current value marked.

    The curves change only when their data does (:meth:`set_curves`); moving the dial only moves
    the marker (:meth:`mark`), which is two ``set_data`` calls.
    """

    def __init__(
        self,
        ax,
        *,
        xlabel: str,
        ylabel: str,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        names: Sequence[str] = ("",),
        colors: Sequence[str] | None = None,
    ):
        self.ax = ax
        colors = list(colors or [ROLE["curve"], ROLE["second_curve"]])[: len(names)]
        self.lines = []
        for name, color in zip(names, colors):
            (line,) = ax.plot([], [], color=color, lw=2, label=name or None)
            self.lines.append(line)
        if any(names) and len(names) > 1:
            ax.legend(loc="best", fontsize=8, frameon=False)
        self.marker_line = ax.axvline(xlim[0], color=ROLE["threshold"], lw=1, ls="--")
        self.marker_points = []
        for color in colors:
            (point,) = ax.plot([], [], "o", color=color, markeredgecolor=ROLE["threshold"], ms=6)
            self.marker_points.append(point)
        mark_dynamic(*self.lines, self.marker_line, *self.marker_points)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(True, lw=0.4, alpha=0.5)

    def set_curves(self, x: Sequence[float], *ys: Sequence[float]) -> None:
        """Replace the curve data (one y array per name given at construction)."""
        if len(ys) != len(self.lines):
            raise ValueError(f"got {len(ys)} curves for a panel with {len(self.lines)}")
        for line, y in zip(self.lines, ys):
            line.set_data(x, y)

    def mark(self, x: float, *ys: float) -> None:
        """Move the current-value marker to ``x``, with a dot on each curve at ``ys``."""
        self.marker_line.set_xdata([x, x])
        for point, y in zip(self.marker_points, ys):
            point.set_data([x], [y])

    @property
    def marked_x(self) -> float:
        return float(self.marker_line.get_xdata()[0])


@dataclass
class _PlacedToken:
    text: str
    x: float
    line: int
    width: float


class TokenTextPanel:
    """Text laid out token by token, each generated token on a box shaded by a number in [0, 1].

    Used to show generated text where each token's background says how probable it was when
    it was chosen. The prompt is drawn plain; token widths are measured once per token with
    the renderer, so adding a token costs a few text measurements, not a re-layout.
    """

    def __init__(self, ax, *, fontsize: float = 11, max_lines: int = 6, cmap: str = "Blues"):
        self.ax = ax
        self.fontsize = fontsize
        self.max_lines = max_lines
        self._prop = FontProperties(size=fontsize)
        self._cmap = matplotlib.colormaps[cmap]
        ax.set_xlim(0, 1)
        ax.set_ylim(max_lines, 0)
        ax.set_axis_off()
        self._artists: list = []
        self.tokens: list[str] = []
        self.shades: list[float | None] = []

    def _width(self, text: str) -> float:
        """Token width as a fraction of the axes width."""
        figure = self.ax.figure
        renderer = figure.canvas.get_renderer()
        width_px, _, _ = renderer.get_text_width_height_descent(text, self._prop, ismath=False)
        axes_px = self.ax.get_window_extent(renderer).width
        return width_px / axes_px

    def set_tokens(self, tokens: Sequence[str], shades: Sequence[float | None]) -> None:
        """Lay out ``tokens``; a shade of None draws the token plain (e.g. the prompt).

        Newlines in tokens start a new line and are shown as ↵; lines that do not fit are
        dropped from the top, so the newest text stays visible.
        """
        if len(tokens) != len(shades):
            raise ValueError(f"got {len(tokens)} tokens and {len(shades)} shades")
        for artist in self._artists:
            artist.remove()
        self._artists = []
        self.tokens = list(tokens)
        self.shades = list(shades)
        placed: list[_PlacedToken] = []
        x, line = 0.0, 0
        for text in tokens:
            shown = text.replace("\n", "↵")
            width = self._width(shown.replace(" ", "\u00a0")) if shown else 0.0
            if x + width > 1.0 and x > 0:
                x, line = 0.0, line + 1
            placed.append(_PlacedToken(shown, x, line, width))
            x += width
            if "\n" in text:
                x, line = 0.0, line + 1
        first_line = max(0, (placed[-1].line + 1 if placed else 0) - self.max_lines)
        for token, shade in zip(placed, shades):
            if token.line < first_line:
                continue
            y = token.line - first_line + 0.5
            if shade is not None:
                face = self._cmap(0.15 + 0.75 * float(np.clip(shade, 0.0, 1.0)))
                self._artists.append(
                    self.ax.add_patch(
                        Rectangle(
                            (token.x, y - 0.42), token.width, 0.84, facecolor=face, edgecolor="white", lw=0.5
                        )
                    )
                )
                color = "white" if shade > 0.55 else ROLE["text"]
            else:
                color = "#555555"
            self._artists.append(
                self.ax.text(
                    token.x, y, token.text.replace(" ", "\u00a0"), fontproperties=self._prop,
                    va="center", ha="left", color=color,
                )
            )


# ============================================================================================
# Lesson 03: static figures (sampling converges to the probabilities) -- lessons 03-04 author
# ============================================================================================


class StaticFigure:
    """A finished, non-interactive figure for a notebook cell.

    Displays as PNG (``_repr_png_``) and as a stable one-line text (its description), so a cell
    that shows it passes strict nbval: nbval skips PNGs and compares the text.
    """

    def __init__(self, figure: Figure, description: str):
        self.figure = figure
        self.description = description

    def _repr_png_(self) -> bytes:
        return figure_to_png(self.figure)

    def __repr__(self) -> str:
        return self.description


def sampling_convergence_figure(
    probs,
    counts: dict[int, Sequence[int]],
    token_text,
    *,
    top: int = 8,
    title: str = "The more tokens you draw, the closer their frequencies get to the probabilities",
) -> StaticFigure:
    """Empirical frequencies of N seeded draws next to the true probabilities, one panel per N.

    ``probs`` is the full next-token distribution; ``counts`` maps a number of draws N to the
    per-token counts of those draws (``np.bincount(draws, minlength=len(probs))``);
    ``token_text(i)`` gives token i's text. Each panel shows the ``top`` most likely tokens plus
    one bar for all other tokens together: a filled bar for the observed frequency and a black
    tick for the probability. The panel title gives the total variation distance between the
    two, over those ``top + 1`` groups.
    """
    probs = np.asarray(probs, dtype=float)
    sizes = sorted(counts)
    if not sizes:
        raise ValueError("counts is empty; pass at least one {N: counts} entry")
    for n in sizes:
        if len(counts[n]) != len(probs) or int(np.sum(counts[n])) != n:
            raise ValueError(
                f"counts[{n}] must hold one count per token ({len(probs)}) summing to {n}; "
                "use np.bincount(draws, minlength=len(probs))"
            )
    best = np.argsort(-probs, kind="stable")[:top]
    labels = [token_label(token_text(int(i))) for i in best] + ["all others"]
    truth = np.append(probs[best], 1.0 - probs[best].sum())
    freqs = {}
    for n in sizes:
        c = np.asarray(counts[n], dtype=float)
        freqs[n] = np.append(c[best], n - c[best].sum()) / n
    positions = np.arange(len(labels))

    figure = new_figure(190 * len(sizes) + 90, 350)
    axes = np.atleast_1d(figure.subplots(1, len(sizes), sharey=True))
    high = 1.05 * max(truth.max(), max(f.max() for f in freqs.values()))
    for ax, n in zip(axes, sizes):
        distance = 0.5 * np.abs(freqs[n] - truth).sum()
        bars = ax.barh(positions, freqs[n], height=0.7, color=ROLE["bar"])
        (ticks,) = ax.plot(truth, positions, "|", color=ROLE["threshold"], ms=14, mew=2)
        ax.set_title(f"N = {n:,}: distance {distance:.3f}", fontsize=10)
        ax.set_xlim(0, high)
        ax.set_xlabel("share of draws")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_yticks(positions, labels, fontsize=9)
    axes[0].set_ylim(len(labels) - 0.5, -0.5)
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    figure.legend(
        [bars, ticks], ["frequency in the N draws", "probability"],
        loc="upper right", ncol=2, fontsize=9, frameon=False,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    return StaticFigure(figure, f"sampling_convergence_figure(N = {', '.join(f'{n:,}' for n in sizes)})")


__all__ += ["StaticFigure", "sampling_convergence_figure"]


# ============================================================================================
# Lesson 05: static figures (greedy's loop, the Holtzman replication) -- lesson 05 author
# ============================================================================================


def _plain_axes(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def loop_probability_figure(
    probs: Sequence[float],
    loop_start: int | None,
    period: int | None = None,
    *,
    title: str = "Greedy decoding: once the loop starts, the model grows more and more sure of it",
) -> StaticFigure:
    """The probability each generated token had, step by step, with a repeating loop shaded.

    ``probs[i]`` is the probability of the i-th generated token under the model (T = 1);
    ``loop_start`` is the index of the loop's first token (None: no loop), ``period`` its
    length in tokens, drawn as alternating bands so each repeat is visible.
    """
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 1 or probs.size == 0:
        raise ValueError(f"probs must be a non-empty 1-D sequence of probabilities, got shape {probs.shape}")
    if loop_start is not None and not 0 <= loop_start < probs.size:
        raise ValueError(f"loop_start must be None or an index into probs (0 to {probs.size - 1}), got {loop_start}")
    figure = new_figure(760, 300)
    ax = figure.add_axes([0.08, 0.16, 0.9, 0.68])
    steps = np.arange(1, probs.size + 1)
    if loop_start is not None:
        width = period or (probs.size - loop_start)
        for n, start in enumerate(range(loop_start, probs.size, width)):
            ax.axvspan(start + 0.5, min(start + width, probs.size) + 0.5, color=OKABE_ITO["orange"],
                       alpha=0.28 if n % 2 == 0 else 0.14, lw=0)
    ax.plot(steps, probs, "o-", color=ROLE["bar"], ms=3.5, lw=1.2, label="probability of the chosen token")
    ax.set_xlim(0.5, probs.size + 0.5)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("generated token (step)")
    ax.set_ylabel("probability (T = 1)")
    _plain_axes(ax)
    if loop_start is not None:
        ax.text(loop_start + 1, 1.02, "repeating loop (one band per repeat)", fontsize=9,
                color="#7A5200", va="bottom")
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    description = f"loop_probability_figure({probs.size} steps, loop from step {None if loop_start is None else loop_start + 1})"
    return StaticFigure(figure, description)


def replication_figure(
    labels: Sequence[str],
    repetition_pct: Sequence[float],
    perplexity: Sequence[float],
    distinct_2: Sequence[float],
    paper_repetition_pct: Sequence[float | None],
    paper_perplexity: Sequence[float | None],
    human_perplexity: float | None = None,
    *,
    title: str = "Same shape as the paper: greedy loops and is over-confident; pure sampling wanders",
) -> StaticFigure:
    """Our measurements per decoding method (bars) beside the paper's numbers (black diamonds).

    One row per method in every panel: repetition %, perplexity (log scale, with the paper's
    human-text perplexity as a dashed line), distinct-2. ``paper_*`` hold None where the paper
    has no number for that method.
    """
    n = len(labels)
    columns = (repetition_pct, perplexity, distinct_2, paper_repetition_pct, paper_perplexity)
    if n == 0 or any(len(c) != n for c in columns):
        raise ValueError(f"labels and every metric need one value per method; got {n} labels and lengths {[len(c) for c in columns]}")
    rows = np.arange(n)
    figure = new_figure(980, 80 + 34 * n + 90)
    axes = figure.subplots(1, 3, sharey=True, gridspec_kw={"wspace": 0.08})
    panels = (
        (axes[0], repetition_pct, paper_repetition_pct, "generations ending in a loop (%)", False),
        (axes[1], perplexity, paper_perplexity, "perplexity (model's own, log scale)", True),
        (axes[2], distinct_2, [None] * n, "distinct-2 (share of unique bigrams)", False),
    )
    for ax, ours, paper, xlabel, log in panels:
        values = np.asarray(ours, dtype=float)
        ax.barh(rows, values, height=0.62, color=ROLE["bar"], label="SmolLM2-135M (this course)")
        marked = [(r, v) for r, v in zip(rows, paper) if v is not None]
        if marked:
            ax.plot([v for _, v in marked], [r for r, _ in marked], "D", color=ROLE["threshold"], ms=7,
                    label="GPT-2 Large (Holtzman et al., 2020)")
        for r, v in zip(rows, values):
            ax.text(v, r, f" {v:.3g}", va="center", fontsize=8.5, color=ROLE["text"])
        if log:
            ax.set_xscale("log")
            ax.set_xlim(0.9, 2.5 * max(values.max(), max((v for _, v in marked), default=1)))
            if human_perplexity is not None:
                ax.axvline(human_perplexity, color=ROLE["threshold"], ls="--", lw=1,
                           label="human text (paper)")
        else:
            high = max(values.max(), max((v for _, v in marked), default=0))
            ax.set_xlim(0, 1.22 * high if high > 0 else 1)
        ax.set_xlabel(xlabel, fontsize=9.5)
        _plain_axes(ax)
    axes[0].set_yticks(rows, list(labels), fontsize=9.5)
    axes[0].set_ylim(n - 0.5, -0.5)
    handles, names = [], []
    for ax in axes[:2]:
        for h, name in zip(*ax.get_legend_handles_labels()):
            if name not in names:
                handles.append(h)
                names.append(name)
    figure.legend(handles, names, loc="lower center", ncol=3, fontsize=9, frameon=False)
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    figure.subplots_adjust(left=0.2, right=0.97, top=1 - 45 / figure.bbox.height, bottom=95 / figure.bbox.height)
    return StaticFigure(figure, f"replication_figure({n} methods: {', '.join(labels)})")


__all__ += ["loop_probability_figure", "replication_figure"]


# ============================================================================================
# Lesson 01: static figures (the shape of a real model's logits)
# ============================================================================================


def logit_histogram_figure(
    logits,
    *,
    bins: int = 60,
    top_label: str | None = None,
    title: str | None = None,
) -> StaticFigure:
    """Histogram of one step's logits (every vocabulary entry), count axis on a log scale.

    ``logits`` is the model's full 1-D logit vector for one position; ``bins`` equal-width bins
    span its range. A dashed line marks the largest logit, labelled with ``top_label`` (the top
    token's text, already passed through :func:`token_label`) when given. The count axis is
    logarithmic because the tail that matters holds a handful of tokens beside a hump of
    thousands: on a linear axis it would not show at all. The default title states that
    takeaway with the vocabulary size read from ``logits``.
    """
    values = np.asarray(logits, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"logits must be a non-empty 1-D array (one logit per vocabulary token), got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            "logits must be finite to be binned; this one has NaN or ±inf entries "
            "(plot the model's raw logits, before any top-k / top-p masking)"
        )
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a positive whole number of bins, got {bins!r}")
    counts, edges = np.histogram(values, bins=int(bins))
    top = float(values.max())

    figure = new_figure(760, 330)
    ax = figure.add_axes([0.09, 0.15, 0.88, 0.70])
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=ROLE["bar"], edgecolor="white", lw=0.3)
    ax.set_yscale("log")
    ax.set_ylim(0.7, 2.5 * counts.max())
    ax.set_xlim(edges[0] - 0.5, edges[-1] + 0.04 * (edges[-1] - edges[0]))
    ax.axvline(top, color=ROLE["chosen"], ls="--", lw=1.2)
    marker = f"top token {top_label}: {top:.1f}" if top_label else f"top logit: {top:.1f}"
    ax.text(top, 1.5 * counts.max(), marker + " ", ha="right", va="top", fontsize=9, color=ROLE["chosen"])
    ax.set_xlabel("logit")
    ax.set_ylabel("number of tokens (log scale)")
    _plain_axes(ax)
    ax.set_axisbelow(True)
    ax.grid(True, axis="y", lw=0.4, alpha=0.5)
    if title is None:
        title = f"Almost all of the {values.size:,} logits sit in a broad hump, far below the few top tokens"
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    return StaticFigure(figure, f"logit_histogram_figure({values.size:,} logits in {len(counts)} bins)")


__all__ += ["logit_histogram_figure"]
