"""Lesson 03 · temperature: one dial over the real model's distribution, with entropy and the top token's share."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from course_utils import checks, sampling
from course_utils.plots import OKABE_ITO, ROLE, BarPanel, CurvePanel
from course_utils.widgets.model_explorer import (
    GOOD_PROMPTS,
    TEMPERATURES,
    ModelExplorer,
    dial_controls,
    others_label,
    shorten,
)

__all__ = ["TemperatureExplorer"]


class TemperatureExplorer(ModelExplorer):
    """A temperature slider over the real model's next-token distribution for a prompt.

    ``TemperatureExplorer(model, prompt="The capital of France is", temperature=1.0)``.
    Left: the top tokens' probabilities at T, plus one bar for all the other tokens together.
    Right: entropy (bits) and the top token's probability as functions of T, current T marked.
    Readout: entropy, effective number of choices 2^H, top-token probability.

    Controls: ``temperature`` (a stop of :data:`TEMPERATURES`, 0-3), ``prompt`` (text).
    """

    def __init__(self, model, prompt: str = GOOD_PROMPTS[0], *, temperature: float = 1.0, n_tokens: int = 10):
        n_tokens = checks.whole_number(n_tokens, "n_tokens", minimum=2, maximum=15)
        self.n_tokens = n_tokens
        self._curves_for: str | None = None
        self._curve_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        super().__init__(model, prompt, dial_controls(temperature=temperature), size=(800, 440))

    def _build_axes(self, figure: Figure) -> None:
        bars_ax = figure.add_axes([0.16, 0.11, 0.4, 0.7])
        self.bars = BarPanel(bars_ax, self.n_tokens + 1, value_label="probability at T")
        t_max = TEMPERATURES[-1]
        entropy_ax = figure.add_axes([0.7, 0.52, 0.27, 0.29])
        self.entropy_curve = CurvePanel(
            entropy_ax, xlabel="", ylabel="entropy (bits)", xlim=(0, t_max), ylim=(0, 1), color=ROLE["curve"]
        )
        entropy_ax.tick_params(labelbottom=False)
        top_ax = figure.add_axes([0.7, 0.11, 0.27, 0.29])
        self.top_curve = CurvePanel(
            top_ax, xlabel="temperature T", ylabel="top-token p", xlim=(0, t_max), ylim=(0, 1.02),
            color=ROLE["second_curve"],
        )
        self._curves_for = None

    def _curve_data(self, prompt: str, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entropy and top-token probability at every slider stop, computed once per prompt."""
        if prompt not in self._curve_cache:
            grid = np.array(TEMPERATURES)
            probs = np.stack([sampling.softmax(logits, temperature=t) for t in grid])
            self._curve_cache = {prompt: (sampling.entropy(probs), probs.max(axis=-1))}
        return self._curve_cache[prompt]

    def _set_curves(self, prompt: str, logits: np.ndarray) -> None:
        grid = np.array(TEMPERATURES)
        entropies, tops = self._curve_data(prompt, logits)
        self.entropy_curve.set_curve(grid, entropies)
        self.entropy_curve.ax.set_ylim(0, 1.08 * float(entropies.max()) or 1.0)
        self.top_curve.set_curve(grid, tops)
        self._curves_for = prompt

    def _draw(self, values: dict[str, Any], prompt: str) -> str:
        temperature = values["temperature"]
        logits = self.logits(prompt)
        if self._curves_for != prompt:
            self._set_curves(prompt, logits)
        probs = sampling.softmax(logits, temperature=temperature)
        top = self.logits.ranked(prompt)[: self.n_tokens]
        shown = probs[top]
        rest = max(0.0, 1.0 - float(shown.sum()))
        labels = [self.label(i) for i in top] + [others_label(logits.size - top.size)]
        colors = [ROLE["bar"]] * len(top) + [OKABE_ITO["sky_blue"]]
        self.bars.update(np.append(shown, rest), labels, colors)
        h = sampling.entropy(probs)
        p_top = float(probs.max())
        self.entropy_curve.mark(temperature, h)
        self.top_curve.mark(temperature, p_top)
        if temperature == 0:
            notice = "T = 0 is greedy: all probability on the top token"
        elif temperature < 1:
            notice = f"T = {temperature:g} < 1 sharpens: the top token gains, the tail shrinks"
        elif temperature == 1:
            notice = "T = 1: the model's own distribution"
        else:
            notice = f"T = {temperature:g} > 1 flattens: probability flows to the long tail"
        self.title.set_text(notice)
        self.subtitle.set_text(
            f'after "{shorten(prompt)}": entropy {h:.2f} bits ≈ {2 ** h:,.1f} equally likely choices; '
            f"top token {p_top:.1%}"
        )
        return (
            f"T = {temperature:g} · entropy {h:.2f} bits · effective choices 2^H = {2 ** h:,.1f} · "
            f"top token {labels[0]} {p_top:.1%}"
        )
