"""Live panels: bars, a curve against a dial, and shaded token text, created once and updated in place.

Each panel creates its artists when it is built and afterwards only changes their data, colours
and texts, marking what changes per redraw with :func:`~course_utils.plots.rendering.mark_dynamic`
so that :func:`~course_utils.plots.rendering.figure_to_png` can blit it over a cached background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle

from course_utils.plots.rendering import ROLE, mark_dynamic

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
                        fontsize=label_fontsize,
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
                    # Annotations sit just past the bar's end, on whichever side it points to; near
                    # the top of the axis, inside the bar's end, where they cannot be cut off.
                    inside = self.horizontal and value > low + 0.85 * (high - low)
                    end = value - pad if inside else value + pad if value >= 0 else value - pad
                    if self.horizontal:
                        text.set_x(end)
                        text.set_horizontalalignment("right" if inside or value < 0 else "left")
                        text.set_color("white" if inside and colors[i] != ROLE["removed"] else ROLE["text"])
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
    """A curve against a dial (e.g. entropy vs temperature) with the current value marked.

    The curve changes only when its data does (:meth:`set_curve`); moving the dial only moves
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
        color: str = ROLE["curve"],
    ):
        self.ax = ax
        (self.line,) = ax.plot([], [], color=color, lw=2)
        self.marker_line = ax.axvline(xlim[0], color=ROLE["threshold"], lw=1, ls="--")
        (self.marker_point,) = ax.plot([], [], "o", color=color, markeredgecolor=ROLE["threshold"], ms=6)
        mark_dynamic(self.line, self.marker_line, self.marker_point)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(True, lw=0.4, alpha=0.5)

    def set_curve(self, x: Sequence[float], y: Sequence[float]) -> None:
        """Replace the curve's data."""
        self.line.set_data(x, y)

    def mark(self, x: float, y: float) -> None:
        """Move the current-value marker to ``x``, with a dot on the curve at ``y``."""
        self.marker_line.set_xdata([x, x])
        self.marker_point.set_data([x], [y])

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
