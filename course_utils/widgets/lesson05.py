"""Lesson 05 · generation, one token at a time: the distribution behind every generated token."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_utils import checks, sampling
from course_utils.chain import Chain, SamplingConfig
from course_utils.generation import GenerationStep, next_step
from course_utils.plots import ROLE, BarPanel, TokenTextPanel
from course_utils.widgets.base import slider_style
from course_utils.widgets.model_explorer import ModelExplorer, dial_controls, most_likely, nice_limit

__all__ = ["GenerationStepper"]


class GenerationStepper(ModelExplorer):
    """Generate text one token at a time, seeing the distribution each token was drawn from.

    ``GenerationStepper(model, prompt="Once upon a time", temperature=0.8, top_p=0.9, seed=0,
    steps=5)``. Press "next token" (or call :meth:`step`) to draw one token through
    ``course_utils.generation.next_step`` (the step ``generate`` takes) with a
    ``np.random.default_rng(seed)``; the
    bars then show the distribution it was drawn from (after truncation) with the chosen token
    highlighted, and the text below shades each generated token by the probability it had.
    Moving a sampling dial shows the distribution of the *next* draw under the new settings.
    Changing ``prompt`` or ``seed`` (or "reset") starts over, so a run is reproducible.

    Controls: ``temperature``, ``top_k`` (0 = off), ``top_p`` (1 = off), ``min_p`` (0 = off),
    ``seed``, ``prompt``. Methods: ``step(n=1)``, ``reset()``; ``tokens`` lists the steps as
    ``generation.GenerationStep`` records, the same as ``generate(...).steps``.
    """

    def __init__(
        self,
        model,
        prompt: str = "Once upon a time",
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        min_p: float = 0.0,
        seed: int = 0,
        steps: int = 0,
        n_tokens: int = 10,
    ):
        n_tokens = checks.whole_number(n_tokens, "n_tokens", minimum=3, maximum=15)
        seed = checks.whole_number(seed, "seed", minimum=0, maximum=2**31 - 1)
        steps = checks.whole_number(steps, "steps", minimum=0)
        self.n_tokens = n_tokens
        self._eos = frozenset(getattr(model, "eos_ids", ()))
        self._run_key: tuple | None = None
        self._logits_for: tuple[int, ...] | None = None
        self._show_draw = False
        controls = {
            **dial_controls(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p),
            "seed": widgets.BoundedIntText(
                value=seed, min=0, max=2**31 - 1, description="seed", style=slider_style(),
                layout=widgets.Layout(width="150px"),
            ),
        }
        self.next_button = widgets.Button(description="next token", icon="forward", button_style="primary")
        self.reset_button = widgets.Button(description="reset", icon="undo")
        self.next_button.on_click(lambda _: self.step())
        self.reset_button.on_click(lambda _: self.reset())
        super().__init__(model, prompt, controls, size=(800, 540), after=[self.next_button, self.reset_button])
        if steps:
            self.step(steps)

    def _build_axes(self, figure: Figure) -> None:
        bars_ax = figure.add_axes([0.2, 0.42, 0.7, 0.4])
        self.bars = BarPanel(
            bars_ax, self.n_tokens, value_label="probability (after truncation)", dynamic_labels=True
        )
        text_ax = figure.add_axes([0.02, 0.02, 0.96, 0.28])
        self.text_panel = TokenTextPanel(text_ax, max_lines=5)
        figure.text(
            0.015, 0.32, "The text so far: each generated token is shaded by the probability it had when drawn "
            "(darker = more likely).", fontsize=9, color="#444444",
        )
        self._text_drawn_for: tuple | None = None

    # -- running ---------------------------------------------------------------------------
    @property
    def tokens(self) -> list[GenerationStep]:
        """The steps taken so far, oldest first (``generate``'s own step records)."""
        return list(self._steps)

    @property
    def text(self) -> str:
        """The prompt followed by the generated text (an end-of-text token adds nothing)."""
        generated = [t for t in self._new_ids if t not in self._eos]
        return self.controls["prompt"].value + self.model.decode(generated)

    @property
    def finished(self) -> bool:
        """True once the model has produced an end-of-text token."""
        return bool(self._new_ids) and self._new_ids[-1] in self._eos

    def reset(self) -> "GenerationStepper":
        """Start over from the prompt with a fresh ``np.random.default_rng(seed)``."""
        self._restart(self.values)
        self.refresh()
        return self

    def step(self, n: int = 1) -> "GenerationStepper":
        """Draw ``n`` tokens (stopping early at end of text) with the current settings."""
        n = checks.whole_number(n, "n", minimum=1, hint="step(n) draws n tokens.")
        values = self.values
        if not values["prompt"].strip():
            self.refresh()  # the readout asks for a prompt
            return self
        if self._run_key != (values["prompt"], values["seed"]):
            self._restart(values)
        settings = _sampling_settings(values)
        chain = Chain(SamplingConfig(**settings))
        for _ in range(n):
            if self.finished:
                break
            logits = self._next_logits()
            final = sampling.next_token_distribution(logits, **settings)
            shown = most_likely(final, self.n_tokens)
            self._last_shown = (shown, final[shown])
            step = next_step(
                self.model, logits, rng=self._rng, chain=chain,
                prompt_ids=self._prompt_ids, generated_ids=self._new_ids,
            )
            self._steps.append(step)
            self._new_ids.append(step.token_id)
        self._show_draw = True
        self._draw_settings = settings
        self.refresh()
        return self

    def _restart(self, values: dict[str, Any]) -> None:
        self._run_key = (values["prompt"], values["seed"])
        self._rng = np.random.default_rng(values["seed"])
        self._prompt_ids = list(self.model.encode(values["prompt"]))
        self._new_ids: list[int] = []
        self._steps: list[GenerationStep] = []
        self._show_draw = False

    def _next_logits(self) -> np.ndarray:
        """The model's logits after the text so far (the model's own dtype, as generate() uses)."""
        key = (len(self._prompt_ids), *self._new_ids)
        if self._logits_for != key:
            self._cached_logits = self.model.next_token_logits(self._prompt_ids + self._new_ids)
            self._logits_for = key
        return self._cached_logits

    # -- drawing ----------------------------------------------------------------------------
    def _draw(self, values: dict[str, Any], prompt: str) -> str:
        if self._run_key != (values["prompt"], values["seed"]):
            self._restart(values)
        settings = _sampling_settings(values)
        dials = _describe_settings(settings)
        label = self.label
        if self._show_draw and self._steps and settings == self._draw_settings:
            last = self._steps[-1]
            shown_ids, shown_probs = self._last_shown
            colors = [ROLE["chosen"] if i == last.token_id else ROLE["bar"] for i in shown_ids]
            self.bars.set_limits(0.0, nice_limit(1.15 * float(shown_probs.max())))
            self.bars.update(shown_probs, [label(i) for i in shown_ids], colors)
            chosen = label(last.token_id)
            ended = " — the model ended the text" if self.finished else ""
            self.title.set_text(f"Step {len(self._steps)}: drew {chosen} (p = {last.prob:.1%}){ended}")
            self.subtitle.set_text(f"{dials}; drawn from the {last.n_kept:,} tokens truncation kept, seed {values['seed']}")
            readout = (
                f"step {len(self._steps)} · drew {chosen} with p = {last.prob:.1%} "
                f"from {last.n_kept:,} kept tokens"
            )
        else:
            self._show_draw = False
            if self.finished:
                self.bars.update([], [])
                self.title.set_text("The model ended the text: press reset to start again")
                self.subtitle.set_text(dials)
                readout = f"finished after {len(self._steps)} tokens"
            else:
                final = sampling.next_token_distribution(self._next_logits(), **settings)
                shown = most_likely(final, self.n_tokens)
                kept = int((final > 0).sum())
                self.bars.set_limits(0.0, nice_limit(1.15 * float(final[shown[0]])))
                self.bars.update(final[shown], [label(i) for i in shown], ROLE["bar"])
                self.title.set_text(f"Next draw (step {len(self._steps) + 1}): press 'next token' to draw from these")
                self.subtitle.set_text(f"{dials}: {kept:,} tokens kept, seed {values['seed']}")
                readout = (
                    f"next token: {kept:,} tokens kept · most likely {label(shown[0])} "
                    f"{final[shown[0]]:.1%} · {len(self._steps)} generated so far"
                )
        text_key = (values["prompt"], tuple(self._new_ids))
        if self._text_drawn_for != text_key:
            self.text_panel.set_tokens(
                [values["prompt"]] + [self.model.decode([t]) for t in self._new_ids],
                [None] + [t.prob for t in self._steps],
            )
            self._text_drawn_for = text_key
        return readout


def _sampling_settings(values: dict[str, Any]) -> dict[str, Any]:
    return {key: values[key] for key in ("temperature", "top_k", "top_p", "min_p")}


def _describe_settings(settings: dict[str, Any]) -> str:
    parts = ["greedy (T = 0)" if settings["temperature"] == 0 else f"T = {settings['temperature']:g}"]
    if settings["top_k"]:
        parts.append(f"top_k = {settings['top_k']}")
    if settings["top_p"] < 1:
        parts.append(f"top_p = {settings['top_p']:g}")
    if settings["min_p"] > 0:
        parts.append(f"min_p = {settings['min_p']:g}")
    return ", ".join(parts)
