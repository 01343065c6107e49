"""Lesson 06 · repetition: what a repetition penalty does to the distribution and to a looping text."""

from __future__ import annotations

from typing import Any, NamedTuple

import textwrap

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_utils import checks, sampling
from course_utils.degeneration import Loop, loop_at_end
from course_utils.display import significant
from course_utils.generation import Generation, generate
from course_utils.plots import ROLE, BarPanel, mark_dynamic
from course_utils.widgets.base import slider_style
from course_utils.widgets.model_explorer import ModelExplorer, nice_limit, shorten

__all__ = ["PenaltyExplorer", "LoopPoint", "REPETITION_PENALTIES", "FREQUENCY_PENALTIES"]

#: Stops of the repetition_penalty slider: fine steps just above 1, where a little already
#: breaks many loops, then coarser up to 2 (Hugging Face's docs suggest about 1.2).
REPETITION_PENALTIES: tuple[float, ...] = (
    1.0, 1.01, 1.02, 1.03, 1.05, 1.07, 1.1, 1.15, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0,
)
#: Stops of the frequency_penalty slider (OpenAI's range is -2 to 2; negative values reward repeats).
FREQUENCY_PENALTIES: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0)


class LoopPoint(NamedTuple):
    """The step of a greedy text where its loop is about to repeat, and the model's logits there."""

    prompt_ids: list[int]
    history: list[int]  # the greedy tokens generated before that step
    loop: Loop | None  # the loop the text ends in (None: it does not loop)
    logits: np.ndarray  # float64, the next-token logits after prompt + history
    ranked: np.ndarray  # token ids from most to least likely there (ties by id)


class PenaltyExplorer(ModelExplorer):
    """Turn a repetition penalty up on a text that loops, and watch the loop's next token lose.

    ``PenaltyExplorer(model, prompt="The AI-powered", repetition_penalty=1.0,
    frequency_penalty=0.0, max_new_tokens=40)``. Without a penalty, greedy decoding of the
    prompt ends in a loop; the *loop point* is the step where the loop's unit is about to be
    repeated for the second time. The left bars show the next-token distribution there without a
    penalty, the right bars the same tokens with the current penalties (Hugging Face's
    ``repetition_penalty`` over prompt + generated tokens, OpenAI's ``frequency_penalty`` over the
    generated tokens; ``course_utils.sampling.next_token_distribution`` computes both). Below, the
    greedy continuation re-drawn under the current penalties. The readout says whether it still loops, and the smallest repetition penalty
    tried so far (at this frequency penalty) that ended the loop.

    Each setting's continuation is generated once (about a second) and kept, so the sliders
    update when released, and going back to a setting is instant.

    Controls: ``repetition_penalty``, ``frequency_penalty``, ``prompt``.
    """

    def __init__(
        self,
        model,
        prompt: str = "The AI-powered",
        *,
        repetition_penalty: float = 1.0,
        frequency_penalty: float = 0.0,
        max_new_tokens: int = 40,
        n_tokens: int = 8,
    ):
        self.n_tokens = checks.whole_number(n_tokens, "n_tokens", minimum=3, maximum=12)
        self.max_new_tokens = checks.whole_number(max_new_tokens, "max_new_tokens", minimum=16, maximum=80)
        controls = {
            "repetition_penalty": _stops_slider(
                "repetition_penalty", repetition_penalty, REPETITION_PENALTIES, "repetition_penalty (1 = off)"
            ),
            "frequency_penalty": _stops_slider(
                "frequency_penalty", frequency_penalty, FREQUENCY_PENALTIES, "frequency_penalty (0 = off)"
            ),
        }
        self._texts: dict[tuple[str, float, float], Generation] = {}
        self._loop_points: dict[str, LoopPoint] = {}
        super().__init__(model, prompt, controls, size=(820, 420), main="repetition_penalty")

    def _build_axes(self, figure: Figure) -> None:
        self.before = BarPanel(figure.add_axes([0.15, 0.407, 0.3, 0.403]), self.n_tokens, value_label="probability, no penalty")
        self.after = BarPanel(figure.add_axes([0.64, 0.407, 0.3, 0.403]), self.n_tokens, value_label="probability, with the penalty")
        # The text changes with almost every setting: one wrapped text, blitted per frame (a panel
        # that shades each token costs a hundred artists per redraw).
        self.text_caption = figure.text(0.015, 0.239, "", fontsize=9, color="#444444")
        # Three lines, the end kept: room for a 40-token text and no blank band under a short one.
        self.text_box = figure.text(0.015, 0.195, "", fontsize=10, color=ROLE["text"], va="top", family="DejaVu Sans")
        mark_dynamic(self.text_caption, self.text_box)

    # -- what the drawing needs, computed once per prompt or setting -----------------------------
    def loop_point(self, prompt: str) -> LoopPoint:
        """Where greedy decoding of ``prompt``, without penalties, is about to repeat its loop.

        That is the step where the loop's unit is about to start its second copy; a text that
        does not loop is looked at after its last token.
        """
        if prompt not in self._loop_points:
            plain = self.continuation(prompt, 1.0, 0.0)
            loop = loop_at_end(plain.token_ids)
            end = len(plain.token_ids) if loop is None else len(plain.token_ids) - loop.span + loop.period
            history = list(plain.token_ids[:end])
            logits = np.asarray(self.model.next_token_logits(list(plain.prompt_ids) + history), dtype=np.float64)
            ranked = np.argsort(-logits, kind="stable")
            self._loop_points[prompt] = LoopPoint(list(plain.prompt_ids), history, loop, logits, ranked)
        return self._loop_points[prompt]

    def continuation(self, prompt: str, repetition_penalty: float, frequency_penalty: float) -> Generation:
        """The greedy continuation of ``prompt`` under these penalties (generated once, then kept)."""
        key = (prompt, repetition_penalty, frequency_penalty)
        if key not in self._texts:
            self._texts[key] = generate(
                self.model, prompt, max_new_tokens=self.max_new_tokens, temperature=0,
                repetition_penalty=repetition_penalty, frequency_penalty=frequency_penalty,
            )
        return self._texts[key]

    def smallest_breaking_penalty(self, prompt: str, frequency_penalty: float) -> float | None:
        """The smallest repetition penalty tried so far (at this frequency penalty) whose text does not loop."""
        tried = sorted(rp for (p, rp, fp) in self._texts if p == prompt and fp == frequency_penalty)
        return next((rp for rp in tried if loop_at_end(self._texts[(prompt, rp, frequency_penalty)].token_ids) is None), None)

    def loop_breakers(self, prompt: str) -> dict[str, float]:
        """For each penalty, the smallest value tried so far *alone* (the other one off) whose text does
        not loop: what the readout keeps, whichever slider moved last."""
        found: dict[str, float] = {}
        for (p, rp, fp), text in self._texts.items():
            if p != prompt or loop_at_end(text.token_ids) is not None:
                continue
            for name, value, alone in (("repetition_penalty", rp, fp == 0.0 and rp != 1.0),
                                       ("frequency_penalty", fp, rp == 1.0 and fp != 0.0)):
                if alone:
                    found[name] = min(found.get(name, value), value)
        return found

    # -- drawing ---------------------------------------------------------------------------------
    def _draw(self, values: dict[str, Any], prompt: str) -> str:
        rp, fp = values["repetition_penalty"], values["frequency_penalty"]
        prompt_ids, history, loop, logits, ranked = self.loop_point(prompt)
        plain = sampling.softmax(logits)
        penalised = sampling.next_token_distribution(
            logits, prompt_ids=prompt_ids, generated_ids=history, repetition_penalty=rp, frequency_penalty=fp
        )
        shown = ranked[: self.n_tokens]
        seen = set(prompt_ids) | set(history)
        colors = [ROLE["seen"] if i in seen else ROLE["bar"] for i in shown]
        labels = [self.label(i) for i in shown]
        limit = nice_limit(1.15 * float(max(plain[shown].max(), penalised[shown].max())))
        for panel, probs in ((self.before, plain), (self.after, penalised)):
            panel.set_limits(0.0, limit)
            panel.update(probs[shown], labels, colors)

        text = self.continuation(prompt, rp, fp)
        text_loop = loop_at_end(text.token_ids)
        self.text_box.set_text(_wrapped(prompt + text.text))
        verdict = "still ends in a loop" if text_loop else "no loop at its end"
        self.text_caption.set_text(f"Greedy continuation with these penalties ({len(text.token_ids)} tokens): {verdict}")
        top_before, top_after = int(shown[0]), int(np.argmax(penalised))
        where = "at the loop point" if loop else "after the whole text (it does not loop)"
        if top_after == top_before:
            self.title.set_text(f"The penalty has not flipped the choice: {self.label(top_before)} still wins")
        else:
            self.title.set_text(f"The penalty flips the choice: {self.label(top_after)} now beats {self.label(top_before)}")
        self.subtitle.set_text(f'after "{shorten(prompt)}" + the greedy text, {where}; orange = already in the text')
        breakers = self.loop_breakers(prompt)
        tried = ("smallest tried that ends the loop alone: " + ", ".join(f"{name} {value:g}" for name, value in breakers.items())
                 if breakers else "no penalty tried alone yet ends the loop")
        # One part per line: in a laptop's window the parts do not fit on one, and must not break mid-phrase.
        return "\n".join((
            _describe(rp, fp),
            f"{where}: {self.label(top_before)} {significant(plain[top_before])} → {significant(penalised[top_before])}, "
            f"chosen {self.label(top_after)}",
            f"greedy text: {verdict}",
            tried if loop else "the text does not loop",
        ))


def _stops_slider(name: str, value: float, stops: tuple[float, ...], description: str) -> widgets.SelectionSlider:
    if value not in stops:
        raise ValueError(f"{name}={value!r} is not a stop on its slider; choose one of {', '.join(f'{s:g}' for s in stops)}")
    # Released, not dragged: a new setting generates a whole text (about a second).
    return widgets.SelectionSlider(
        options=[(f"{s:g}", s) for s in stops], value=value, description=description, continuous_update=False,
        style=slider_style(), layout=widgets.Layout(width="420px"),
    )


def _wrapped(text: str, width: int = 120, lines: int = 3) -> str:
    """The text for the figure: newlines shown as ↵, wrapped, the end kept if it is long."""
    wrapped = textwrap.wrap(text.replace("\n", " ↵ "), width=width)
    return "\n".join(wrapped if len(wrapped) <= lines else ["…"] + wrapped[-(lines - 1):])


def _describe(repetition_penalty: float, frequency_penalty: float) -> str:
    parts = [f"repetition_penalty {repetition_penalty:g}"]
    if frequency_penalty:
        parts.append(f"frequency_penalty {frequency_penalty:g}")
    return ", ".join(parts)
