"""Lesson 04 · truncation: what top-k, top-p and min-p keep, and how the chain's order changes it."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_utils import checks, sampling
from course_utils.plots import OKABE_ITO, ROLE, BarPanel, mark_dynamic
from course_utils.widgets.base import slider_style
from course_utils.widgets.model_explorer import GOOD_PROMPTS, ModelExplorer, dial_controls, nice_limit, shorten

__all__ = ["TruncationExplorer", "ChainOrderExplorer"]


_MODE_NAMES = {"top_k": "top-k", "top_p": "top-p", "min_p": "min-p"}
_MODE_TITLES = {
    "top_k": "top-k keeps a fixed number of tokens, however sure the model is",
    "top_p": "top-p keeps the most likely tokens until their probability adds up to p",
    "min_p": "min-p keeps the tokens at least min_p times as likely as the top token",
}


class TruncationExplorer(ModelExplorer):
    """Top-k, top-p or min-p over the real model's distribution: what is kept, what is cut.

    ``TruncationExplorer(model, prompt="Once upon a time, there was a", mode="top_p", top_p=0.9)``.
    Top: the cumulative probability of the ranked tokens, with the p line in top-p mode.
    Bottom: the ranked probabilities after temperature, kept tokens in blue, removed ones grey,
    with the k line (top-k) or the min_p x p_max line (min-p). Readout: kept count and kept mass.
    Temperature is applied first, as in transformers (``order="transformers"``).

    Controls: ``mode`` ('top_k', 'top_p', 'min_p'), ``top_k``, ``top_p``, ``min_p``,
    ``temperature``, ``prompt``. Only the active mode's slider is shown.
    """

    def __init__(
        self,
        model,
        prompt: str = GOOD_PROMPTS[1],
        *,
        mode: str = "top_p",
        temperature: float = 1.0,
        top_k: int = 10,
        top_p: float = 0.9,
        min_p: float = 0.1,
        n_tokens: int = 30,
    ):
        if mode not in _MODE_NAMES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, _MODE_NAMES))}, got {mode!r}")
        n_tokens = checks.whole_number(n_tokens, "n_tokens", minimum=5, maximum=50)
        self.n_tokens = n_tokens
        self._ranking_for: str | None = None
        controls = {
            "mode": widgets.ToggleButtons(
                options=[(name, key) for key, name in _MODE_NAMES.items()], value=mode,
                description="truncation", style=slider_style(),
            ),
            **dial_controls(top_k=top_k, top_p=top_p, min_p=min_p, temperature=temperature, top_k_minimum=1),
        }
        super().__init__(model, prompt, controls, size=(820, 500), main=mode)

    def _build_axes(self, figure: Figure) -> None:
        n = self.n_tokens
        cum_ax = figure.add_axes([0.09, 0.6, 0.88, 0.22])
        bars_ax = figure.add_axes([0.09, 0.17, 0.88, 0.38])
        ranks = np.arange(n)
        (self.kept_curve,) = cum_ax.plot([], [], "o-", color=ROLE["kept"], ms=4, lw=1.5, label="kept")
        (self.removed_curve,) = cum_ax.plot([], [], "o-", color=ROLE["removed"], ms=4, lw=1.5, label="removed")
        self.p_line = cum_ax.axhline(0.9, color=ROLE["threshold"], ls="--", lw=1)
        mark_dynamic(self.kept_curve, self.removed_curve, self.p_line)
        cum_ax.set_xlim(-0.5, n - 0.5)
        cum_ax.set_xticks(ranks)
        cum_ax.set_ylim(0, 1.02)
        cum_ax.set_ylabel("cumulative p")
        cum_ax.tick_params(labelbottom=False)
        cum_ax.legend(loc="lower right", fontsize=9, frameon=False)
        cum_ax.grid(True, lw=0.4, alpha=0.5)
        for side in ("top", "right"):
            cum_ax.spines[side].set_visible(False)
        self.cumulative_ax = cum_ax
        self.bars = BarPanel(
            bars_ax, n, horizontal=False, value_label="probability", show_values=False, label_fontsize=9,
            label_rotation=60,
        )
        self.k_line = bars_ax.axvline(9.5, color=ROLE["threshold"], ls="--", lw=1)
        self.min_p_line = bars_ax.axhline(0.0, color=ROLE["threshold"], ls="--", lw=1)
        mark_dynamic(self.k_line, self.min_p_line)
        self._ranks = ranks
        self._ranking_for = None

    def _main_control(self) -> str:
        return self.controls["mode"].value  # the active mode's slider

    def _boundary_artists(self):
        return {"top_k": [self.k_line], "top_p": [self.p_line], "min_p": [self.min_p_line]}[self.controls["mode"].value]

    def _set_ranking(self, prompt: str) -> None:
        self._top = self.logits.ranked(prompt)[: self.n_tokens]
        self._labels = [self.label(i, max_chars=10) for i in self._top]
        self.bars.update(np.zeros(len(self._top)), self._labels)
        self._ranking_for = prompt

    def _update(self, values: dict[str, Any]) -> str:
        for name in _MODE_NAMES:  # only the active mode's slider shows, even before a prompt is typed
            self.controls[name].layout.display = None if name == values["mode"] else "none"
        return super()._update(values)

    def _draw(self, values: dict[str, Any], prompt: str) -> str:
        mode, temperature = values["mode"], values["temperature"]
        logits = self.logits(prompt)
        if self._ranking_for != prompt:
            self._set_ranking(prompt)
        settings = {
            "top_k": values["top_k"] if mode == "top_k" else 0,
            "top_p": values["top_p"] if mode == "top_p" else 1.0,
            "min_p": values["min_p"] if mode == "min_p" else 0.0,
        }
        probs = sampling.softmax(logits, temperature=temperature)
        kept = sampling.next_token_distribution(logits, temperature=temperature, **settings) > 0
        kept_count, kept_mass = int(kept.sum()), float(probs[kept].sum())

        top = self._top
        shown = probs[top]
        shown_kept = kept[top]
        self.bars.set_limits(0.0, nice_limit(1.1 * float(shown[0])))
        self.bars.update(shown, colors=[ROLE["kept"] if k else ROLE["removed"] for k in shown_kept])
        cumulative = np.cumsum(shown)
        ranks = self._ranks[: len(top)]
        self.kept_curve.set_data(ranks, np.where(shown_kept, cumulative, np.nan))
        self.removed_curve.set_data(ranks, np.where(shown_kept, np.nan, cumulative))

        self.p_line.set_visible(mode == "top_p")
        self.p_line.set_ydata([values["top_p"]] * 2)
        self.k_line.set_visible(mode == "top_k" and values["top_k"] < self.n_tokens)
        self.k_line.set_xdata([values["top_k"] - 0.5] * 2)
        self.min_p_line.set_visible(mode == "min_p")
        self.min_p_line.set_ydata([values["min_p"] * float(shown[0])] * 2)

        dial = f"{_MODE_NAMES[mode]} {values[mode]:g}"
        more = f" (first {self.n_tokens} shown)" if kept_count > self.n_tokens else ""
        self.title.set_text(_MODE_TITLES[mode])
        self.subtitle.set_text(
            f'{dial} at T = {temperature:g} after "{shorten(prompt)}": keeps {kept_count:,} tokens{more} '
            f"holding {kept_mass:.1%} of the probability"
        )
        return (
            f"{dial}, T = {temperature:g} · kept {kept_count:,} of {logits.size:,} tokens · "
            f"kept mass {kept_mass:.1%} (renormalised to 100% before sampling)"
        )


_ORDER_COLORS = {"transformers": OKABE_ITO["blue"], "llama.cpp": OKABE_ITO["orange"]}
_ORDER_CHAINS = {
    "transformers": "temperature → top-k → top-p → min-p",
    "llama.cpp": "top-k → top-p → min-p → temperature",
}


class ChainOrderExplorer(ModelExplorer):
    """The same dials, two orders: transformers (temperature first) vs llama.cpp (temperature last).

    ``ChainOrderExplorer(model, prompt=..., temperature=2.0, top_p=0.9)``. Each panel shows the
    final distribution the next token is drawn from, on the same ranked tokens; tokens the
    chain removed show the word "removed". At T = 1 the two orders agree; move T away from 1
    with top-p or min-p on and they keep different tokens.

    Controls: ``temperature``, ``top_k`` (0 = off), ``top_p`` (1 = off), ``min_p`` (0 = off), ``prompt``.
    """

    def __init__(
        self,
        model,
        prompt: str = GOOD_PROMPTS[1],
        *,
        temperature: float = 2.0,
        top_k: int = 0,
        top_p: float = 0.9,
        min_p: float = 0.0,
        n_tokens: int = 12,
    ):
        n_tokens = checks.whole_number(n_tokens, "n_tokens", minimum=3, maximum=20)
        self.n_tokens = n_tokens
        controls = dial_controls(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
        super().__init__(model, prompt, controls, size=(820, 440))

    def _build_axes(self, figure: Figure) -> None:
        self.panels: dict[str, BarPanel] = {}
        for order, left in zip(sampling.ORDERS, (0.14, 0.61)):
            ax = figure.add_axes([left, 0.11, 0.33, 0.64])
            panel = BarPanel(ax, self.n_tokens, value_label="probability the token is drawn")
            ax.set_title(f"order={order!r}\n{_ORDER_CHAINS[order]}", fontsize=9, color=ROLE["text"])
            self.panels[order] = panel

    def _draw(self, values: dict[str, Any], prompt: str) -> str:
        logits = self.logits(prompt)
        settings = {key: values[key] for key in ("temperature", "top_k", "top_p", "min_p")}
        top = self.logits.ranked(prompt)[: self.n_tokens]
        labels = [self.label(i) for i in top]
        finals = {order: sampling.next_token_distribution(logits, order=order, **settings) for order in sampling.ORDERS}
        high = max(float(final[top].max()) for final in finals.values())
        counts = {}
        for order, final in finals.items():
            shown = final[top]
            panel = self.panels[order]
            panel.set_limits(0.0, nice_limit(1.2 * high))
            panel.update(
                shown, labels, _ORDER_COLORS[order],
                texts=[_percent_or_removed(p) for p in shown],
            )
            counts[order] = int((final > 0).sum())
        differ = int(((finals["transformers"] > 0) != (finals["llama.cpp"] > 0)).sum())
        self.title.set_text(
            "Same dials, different order: they keep different tokens" if differ
            else "Same dials, different order: here both keep the same tokens"
        )
        dials = ", ".join(f"{key}={value:g}" for key, value in settings.items())
        self.subtitle.set_text(
            f"{dials}: transformers keeps {counts['transformers']:,} tokens, llama.cpp keeps {counts['llama.cpp']:,}"
        )
        return (
            f"transformers keeps {counts['transformers']:,} tokens · llama.cpp keeps {counts['llama.cpp']:,} tokens · "
            f"kept by only one of them: {differ:,}"
        )


def _percent_or_removed(p: float) -> str:
    if p == 0:
        return "removed"
    return f"{p:.1%}" if p >= 0.001 else "<0.1%"
