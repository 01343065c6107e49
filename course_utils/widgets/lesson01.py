"""Lesson 01 · what the model predicts: its most likely next tokens after a prompt."""

from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as widgets
from matplotlib.figure import Figure

from course_utils import checks, sampling
from course_utils.plots import ROLE, BarPanel
from course_utils.widgets.base import slider_style
from course_utils.widgets.model_explorer import GOOD_PROMPTS, ModelExplorer, nice_limit, shorten

__all__ = ["TopTokensExplorer"]


class TopTokensExplorer(ModelExplorer):
    """A prompt in, the real model's most likely next tokens out, as ranked bars.

    ``TopTokensExplorer(model, prompt="The capital of France is")``; pick an example prompt
    from the dropdown or type one and press Enter. ``scale="logit"`` shows the raw scores
    instead of probabilities (same ranking, different numbers).

    Controls: ``prompt`` (text), ``n_tokens`` (1-20), ``scale`` ('probability' or 'logit').
    """

    MAX_TOKENS = 20

    def __init__(
        self,
        model,
        prompt: str = GOOD_PROMPTS[0],
        *,
        prompts: Sequence[str] = GOOD_PROMPTS,
        n_tokens: int = 10,
        scale: str = "probability",
    ):
        n_tokens = checks.whole_number(n_tokens, "n_tokens", minimum=1, maximum=self.MAX_TOKENS)
        if scale not in ("probability", "logit"):
            raise ValueError(f"scale must be 'probability' or 'logit', got {scale!r}")
        self.prompt_menu = widgets.Dropdown(
            options=list(prompts),
            value=prompt if prompt in prompts else None,
            description="example prompts",
            style=slider_style(),
        )
        controls = {
            "n_tokens": widgets.IntSlider(
                value=n_tokens, min=1, max=self.MAX_TOKENS, description="tokens shown", style=slider_style()
            ),
            "scale": widgets.ToggleButtons(
                options=["probability", "logit"], value=scale, description="bar length", style=slider_style()
            ),
        }
        self.prompt_menu.observe(self._on_menu, names="value")
        super().__init__(
            model, prompt, controls, size=(720, 420), prompt_first=True, before=[self.prompt_menu], main="n_tokens"
        )

    def _build_axes(self, figure: Figure) -> None:
        ax = figure.add_axes([0.2, 0.12, 0.72, 0.7])
        self.bars = BarPanel(ax, self.MAX_TOKENS, dynamic_labels=True)

    def _on_menu(self, change: dict) -> None:
        if change["new"] is not None:
            self.controls["prompt"].value = change["new"]

    def _draw(self, values: dict[str, Any], prompt: str) -> str:
        n, scale = values["n_tokens"], values["scale"]
        if prompt not in self.prompt_menu.options:
            self.prompt_menu.value = None
        logits = self.logits(prompt)
        probs = sampling.softmax(logits)
        top = self.logits.ranked(prompt)[:n]
        # Up to 10 bars keep their size; more bars fill the panel (a new limit redraws the axes).
        self.bars.ax.set_ylim(max(n, 10) - 0.5, -0.5)
        labels = [self.label(i) for i in top]
        mass = float(probs[top].sum())
        if scale == "probability":
            shown = probs[top]
            self.bars.set_limits(0.0, nice_limit(1.15 * float(shown[0])))
            self.bars.ax.set_xlabel("probability of being the next token")
            self.bars.update(shown, labels, ROLE["bar"])
            self.subtitle.set_text(
                f"These {n} tokens hold {mass:.1%} of the probability; "
                f"the other {logits.size - n:,} tokens share the rest."
            )
        else:
            shown = logits[top]
            low, high = min(0.0, float(shown.min())), max(0.0, float(shown.max()))
            pad = 0.2 * (high - low or 1.0)
            self.bars.set_limits(low - (pad if low < 0 else 0.0), high + pad)
            self.bars.ax.set_xlabel("logit (the model's raw score, before softmax)")
            self.bars.update(shown, labels, ROLE["bar"], texts=[f"{v:.2f}" for v in shown])
            self.subtitle.set_text("Logits can be any real number; only the differences between them matter.")
        self.title.set_text(f'The model\'s top {n} next tokens after "{shorten(prompt)}"')
        best = int(top[0])
        return (
            f"top token {labels[0]} p = {probs[best]:.1%} (logit {logits[best]:.2f}) · "
            f"the top {n} hold {mass:.1%} of the probability"
        )
