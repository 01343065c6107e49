"""Lesson 07 · constraints: the model's distribution next to the grammar-masked one, step by step."""

from __future__ import annotations

from typing import Any, NamedTuple

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_utils import checks, sampling
from course_utils.display import significant
from course_utils.chain import Chain, SamplingConfig
from course_utils.generation import GenerationStep, next_step
from course_utils.plots import ROLE, BarPanel
from course_utils.structured import TokenConstraint
from course_utils.widgets.base import slider_style
from course_utils.widgets.model_explorer import ModelExplorer, most_likely, shorten

__all__ = ["ConstraintExplorer", "PERSON_QUESTION", "PERSON_SCHEMA"]

#: The chat question of lesson 07's structured-output demo, and the schema its answer must follow.
PERSON_QUESTION = "Give me a JSON object describing a person called Alice who is 31"
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


class StepView(NamedTuple):
    """What one step of a constrained generation looked like, for drawing."""

    step: GenerationStep  # the token chosen and its record (allowed_prob: the mass the mask kept)
    model_ids: np.ndarray  # the model's most likely tokens (T = 1, nothing masked)
    model_probs: np.ndarray
    model_allowed: np.ndarray  # which of them the grammar allowed
    masked_ids: np.ndarray  # the most likely tokens after the mask, renormalised
    masked_probs: np.ndarray
    n_allowed: int  # how many tokens of the vocabulary the grammar allowed
    text_before: str  # the answer so far, before this step's token


class ConstraintExplorer(ModelExplorer):
    """Structured output one step at a time: what the model wanted, what the grammar allowed.

    ``ConstraintExplorer(model, prompt=PERSON_QUESTION, json_schema=PERSON_SCHEMA, step=1)``. The
    prompt is a chat question; the answer is generated greedily with the grammar's mask on the raw
    logits (``generate(..., chat=True, temperature=0, json_schema=...)``, token for token). The left
    bars are the model's own distribution at the chosen step, the tokens the grammar forbids in
    grey; the right bars are what is left after the mask, renormalised, with the chosen token
    highlighted. The title says how much of the model's probability the mask removed
    (1 - ``GenerationStep.allowed_prob``). ``grammar=`` takes a Lark grammar or
    ``{"syntax": "regex", "definition": ...}`` instead of a schema.

    Controls: ``step`` (1 to ``max_steps``; past the end of the answer, its last step), ``prompt``.
    ``steps`` lists the answer's ``GenerationStep`` records, ``text`` the answer.
    """

    def __init__(
        self,
        model,
        prompt: str = PERSON_QUESTION,
        *,
        json_schema: dict | str | None = None,
        grammar: str | dict | None = None,
        step: int = 1,
        max_steps: int = 24,
        n_tokens: int = 8,
        chat: bool = True,
    ):
        self.n_tokens = checks.whole_number(n_tokens, "n_tokens", minimum=3, maximum=12)
        self.max_steps = checks.whole_number(max_steps, "max_steps", minimum=1, maximum=64)
        step = checks.whole_number(step, "step", minimum=1, maximum=self.max_steps)
        if not isinstance(chat, bool):
            raise TypeError(f"chat must be True or False, got {chat!r}.")
        self.chat = chat
        if json_schema is None and grammar is None:
            json_schema = PERSON_SCHEMA
        self._constraint_args = dict(json_schema=json_schema, grammar=grammar)
        self._check_constraint(model)
        self._runs: dict[str, list[StepView]] = {}
        controls = {
            "step": widgets.IntSlider(
                value=step, min=1, max=self.max_steps, description="step", style=slider_style(),
                layout=widgets.Layout(width="420px"),
            )
        }
        super().__init__(model, prompt, controls, size=(820, 460), main="step")

    def _check_constraint(self, model) -> None:
        """A schema or grammar llguidance rejects is an error now, not at the first draw."""
        self._new_constraint(model)

    def _new_constraint(self, model) -> TokenConstraint:
        return TokenConstraint(model.tokenizer, **self._constraint_args)

    def _build_axes(self, figure: Figure) -> None:
        self.model_bars = BarPanel(
            figure.add_axes([0.15, 0.1, 0.32, 0.64]), self.n_tokens,
            value_label="the model's probability", dynamic_labels=True,
        )
        self.masked_bars = BarPanel(
            figure.add_axes([0.64, 0.1, 0.32, 0.64]), self.n_tokens,
            value_label="probability after the mask", dynamic_labels=True,
        )
        # Both axes stay at 0..1: the two sides compare at a glance, and a step never redraws the background.
        self.model_bars.ax.set_title("the model alone (grey: the grammar forbids it)", fontsize=9)
        self.masked_bars.ax.set_title("after the mask, renormalised (red: chosen)", fontsize=9)

    # -- the answer, computed once per prompt ---------------------------------------------
    def run(self, prompt: str) -> list[StepView]:
        """Every step of the constrained greedy answer to ``prompt`` (computed once per prompt)."""
        if prompt not in self._runs:
            self._runs[prompt] = self._generate(prompt)
        return self._runs[prompt]

    def _generate(self, prompt: str) -> list[StepView]:
        model = self.model
        constraint = self._new_constraint(model)
        prompt_ids = list(model.encode(model.chat_prompt(prompt) if self.chat else prompt))
        chain = Chain(SamplingConfig(temperature=0.0), masks=[constraint])
        rng = np.random.default_rng(0)  # greedy draws nothing; next_step wants a generator all the same
        new_ids: list[int] = []
        views: list[StepView] = []
        for _ in range(self.max_steps):
            logits = np.asarray(model.next_token_logits(prompt_ids + new_ids))
            probs = sampling.softmax(logits)
            allowed = constraint.allowed()
            masked = sampling.softmax(np.where(allowed, logits, -np.inf))
            text_before = model.decode(new_ids)
            step = next_step(model, logits, rng=rng, chain=chain, prompt_ids=prompt_ids, generated_ids=new_ids)
            top, top_masked = most_likely(probs, self.n_tokens), most_likely(masked, self.n_tokens)
            views.append(StepView(
                step, top, probs[top], allowed[top], top_masked, masked[top_masked], int(allowed.sum()), text_before,
            ))
            new_ids.append(step.token_id)
            if step.token_id in model.eos_ids:
                break
        return views

    @property
    def steps(self) -> list[GenerationStep]:
        """The current prompt's constrained answer, one ``GenerationStep`` per token."""
        return [view.step for view in self.run(self.values["prompt"])]

    @property
    def text(self) -> str:
        """The current prompt's constrained answer, without the end-of-sequence token."""
        ids = [s.token_id for s in self.steps if s.token_id not in self.model.eos_ids]
        return self.model.decode(ids)

    # -- drawing --------------------------------------------------------------------------
    def _draw(self, values: dict[str, Any], prompt: str) -> str:
        views = self.run(prompt)
        index = min(values["step"], len(views)) - 1
        view = views[index]
        chosen = view.step.token_id
        model_colors = [
            ROLE["chosen"] if i == chosen else ROLE["kept"] if ok else ROLE["removed"]
            for i, ok in zip(view.model_ids, view.model_allowed)
        ]
        self.model_bars.update(view.model_probs, [self.label(i) for i in view.model_ids], model_colors)
        self.masked_bars.update(
            view.masked_probs, [self.label(i) for i in view.masked_ids],
            [ROLE["chosen"] if i == chosen else ROLE["kept"] for i in view.masked_ids],
        )
        removed = removed_share(view.step.allowed_prob)
        ended = " (the answer's last step)" if index == len(views) - 1 and values["step"] > len(views) else ""
        self.title.set_text(f"Step {index + 1}{ended}: the grammar removed {removed} of the model's probability")
        self.subtitle.set_text(
            f"{_tokens(view.n_allowed)} of {self.model.vocab_size:,} allowed after "
            f"\u201c{shorten(view.text_before, 44) or '(nothing yet)'}\u201d; greedy picks {self.label(chosen)}"
        )
        return (
            f"step {index + 1} of {len(views)} · {_tokens(view.n_allowed)} allowed · the mask removed {removed} "
            f"of the model's probability · chose {self.label(chosen)}"
        )


def _tokens(n: int) -> str:
    """"1 token", "2,046 tokens"."""
    return f"{n:,} token{'' if n == 1 else 's'}"


def removed_share(allowed_prob: float) -> str:
    """1 - allowed_prob as a percentage to 2 significant digits; below 0.1 % just "under 0.1 %"
    (the last digits of a tiny remainder are machine noise)."""
    removed = 1.0 - float(allowed_prob)
    if removed < 0.001:
        return "under 0.1 %"
    return f"{significant(100 * removed)} %"
