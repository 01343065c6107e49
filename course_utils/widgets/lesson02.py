"""Lesson 02 · softmax: one slider per logit, and the probabilities they make."""

from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_utils import sampling
from course_utils.plots import ROLE, BarPanel, new_figure, title_block, token_label, visible
from course_utils.widgets.base import Explorer, slider_style
from course_utils.widgets.model_explorer import dial_controls

__all__ = ["SoftmaxExplorer", "SOFTMAX_TOKENS", "SOFTMAX_LOGITS"]


#: The softmax explorer's default tokens and logits (a capital-city flavour, six tokens).
SOFTMAX_TOKENS = (" Paris", " London", " the", " a", " Rome", " France")
SOFTMAX_LOGITS = (4.0, 2.5, 2.0, 1.5, 1.0, -1.0)


class SoftmaxExplorer(Explorer):
    """One slider per logit (2-8 tokens) and the softmax probabilities, live.

    ``SoftmaxExplorer(tokens=[" Paris", " London", ...], logits=[4.0, 2.5, ...])``; pass
    ``temperature=1.0`` to add a temperature slider. Controls are named ``logit_0``,
    ``logit_1``, ... (in token order) and ``temperature``.
    """

    def __init__(
        self,
        tokens: Sequence[str] = SOFTMAX_TOKENS,
        logits: Sequence[float] = SOFTMAX_LOGITS,
        *,
        temperature: float | None = None,
        logit_range: tuple[float, float] = (-5.0, 5.0),
    ):
        tokens = list(tokens)
        logits = [float(v) for v in logits]
        if not 2 <= len(tokens) <= 8:
            raise ValueError(f"tokens must list 2 to 8 tokens (one slider each), got {len(tokens)}")
        if len(logits) != len(tokens):
            raise ValueError(f"logits must give one number per token: {len(tokens)} tokens but {len(logits)} logits")
        low, high = (float(v) for v in logit_range)
        if not low < high:
            raise ValueError(f"logit_range must be (low, high) with low < high, got {logit_range!r}")
        outside = [v for v in logits if not low <= v <= high]
        if outside:
            raise ValueError(f"logits {outside} are outside logit_range {logit_range}; widen logit_range")
        self.tokens = tokens
        self.logit_range = (low, high)
        controls: dict[str, widgets.ValueWidget] = {
            f"logit_{i}": widgets.FloatSlider(
                value=value,
                min=low,
                max=high,
                step=0.05,  # one arrow key visibly moves a bar; the lessons' logits (0.85, 0.95) sit on the grid
                description=f"logit of {visible(token)}",
                readout_format="+.2f",
                style=slider_style(),
            )
            for i, (token, value) in enumerate(zip(tokens, logits))
        }
        if temperature is not None:
            controls.update(dial_controls(temperature=temperature))
        super().__init__(controls, self._build_figure())

    def _build_figure(self) -> Figure:
        n = len(self.tokens)
        figure = new_figure(760, 380)
        self.title, self.subtitle = title_block(figure)
        left = figure.add_axes([0.08, 0.12, 0.38, 0.66])
        right = figure.add_axes([0.57, 0.12, 0.38, 0.66])
        self.logit_bars = BarPanel(
            left, n, horizontal=False, value_label="logit", limits=self.logit_range, value_format=lambda v: f"{v:+.2f}"
        )
        left.axhline(0.0, color=ROLE["threshold"], lw=0.8)
        left.set_title("logits (you set these)", fontsize=10)
        self.bars = BarPanel(right, n, horizontal=False, value_label="probability")
        right.set_title("softmax probabilities (sum to 1)", fontsize=10)
        labels = [token_label(t, max_chars=9) for t in self.tokens]
        self._labels = labels
        self.logit_bars.update(np.zeros(n), labels)
        self.bars.update(np.zeros(n), labels)
        return figure

    def _update(self, values: dict[str, Any]) -> str:
        logits = np.array([values[f"logit_{i}"] for i in range(len(self.tokens))])
        temperature = values.get("temperature", 1.0)
        probs = sampling.softmax(logits, temperature=temperature)
        top = int(np.argmax(probs))
        colors = [ROLE["chosen"] if i == top else ROLE["bar"] for i in range(len(probs))]
        self.logit_bars.update(logits, colors=colors)
        self.bars.update(probs, colors=colors)
        self.title.set_text("Softmax: raise one logit and every other probability falls")
        at = "" if "temperature" not in values else f" at T = {temperature:g}"
        self.subtitle.set_text(
            f"The largest logit gets the largest probability{at}: {self._labels[top]} {probs[top]:.1%}. "
            f"The bars always sum to {probs.sum():.0%}."
        )
        parts = " · ".join(f"{label} {p:.1%}" for label, p in zip(self._labels, probs))
        return f"{parts} · sum {probs.sum():.3f}"
