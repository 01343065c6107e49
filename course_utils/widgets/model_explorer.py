"""What every explorer over the real model shares: the model check, the prompt box, the dials.

:class:`ModelExplorer` sits between :class:`~course_utils.widgets.base.Explorer` and the explorers
that take the course's model. It owns the model check, the logits cache (moving a dial never runs
the model again), the prompt box, the guard for an empty prompt and the title block; a subclass
passes its other controls (:func:`dial_controls` builds the standard sampling dials), builds its
axes and implements :meth:`ModelExplorer._draw`. docs/adding-an-explorer.md walks through one.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_utils import checks, interface
from course_utils.plots import new_figure, title_block, token_label
from course_utils.widgets.base import Explorer, slider_style

__all__ = ["ModelExplorer", "dial_controls", "TEMPERATURES", "GOOD_PROMPTS", "EMPTY_PROMPT"]

#: Temperatures the temperature sliders stop at: fine steps near 0, where small changes matter
#: most, then 0.05 up to 1, then 0.1 up to 3. Arrow keys move one stop at a time.
TEMPERATURES: tuple[float, ...] = tuple(
    sorted(
        {0.0, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1}
        | {round(0.1 + 0.05 * i, 2) for i in range(1, 19)}
        | {round(1.0 + 0.1 * i, 1) for i in range(1, 21)}
    )
)

#: Prompts whose next token is interesting to look at (offered in prompt dropdowns).
GOOD_PROMPTS: tuple[str, ...] = (
    "The capital of France is",
    "Once upon a time, there was a",
    "The best thing about summer is",
    "def fibonacci(n):\n   ",
    "My favourite colour is",
    "2 + 2 =",
    "The opposite of hot is",
    "Roses are red, violets are",
)

#: The readout while the prompt box is empty (nothing to draw yet).
EMPTY_PROMPT = "Type a prompt in the box and press Enter."


class ModelExplorer(Explorer):
    """An explorer of the real model's next-token distribution after a prompt the learner can edit.

    A subclass calls ``super().__init__(model, prompt, controls, size=(width, height))`` after
    checking its own arguments, builds its axes in :meth:`_build_axes` and draws in
    :meth:`_draw`, which is called only when the prompt is not empty. ``self.title`` and
    ``self.subtitle`` are the title block (what to notice, then the numbers); ``self.logits`` gives
    the model's logits for a prompt, computed once per prompt.

    The prompt box is the last control unless ``prompt_first=True``.
    """

    def __init__(
        self,
        model,
        prompt: str,
        controls: Mapping[str, widgets.ValueWidget],
        *,
        size: tuple[int, int],
        prompt_first: bool = False,
        before: Sequence[widgets.Widget] = (),
        after: Sequence[widgets.Widget] = (),
        main: str | None = None,
    ):
        self.model = _check_model(model)
        self.logits = PromptLogits(self.model)
        self._size = size
        box = {"prompt": _prompt_box(prompt)}
        controls = {**box, **controls} if prompt_first else {**controls, **box}
        super().__init__(controls, self._build_figure(), before=before, after=after, main=main)

    # -- what subclasses implement -------------------------------------------------------
    def _build_axes(self, figure: Figure) -> None:
        """Add the explorer's axes and panels to ``figure`` (below the title block)."""
        raise NotImplementedError

    def _draw(self, values: dict[str, Any], prompt: str) -> str:
        """Update the figure for ``values`` (``prompt`` is not empty); return the readout text."""
        raise NotImplementedError

    # -- the shared machinery ------------------------------------------------------------
    def _build_figure(self) -> Figure:
        figure = new_figure(*self._size)
        self.title, self.subtitle = title_block(figure)
        self._build_axes(figure)
        return figure

    def _update(self, values: dict[str, Any]) -> str:
        prompt = values["prompt"]
        if not prompt.strip():
            return EMPTY_PROMPT
        return self._draw(values, prompt)

    def label(self, token_id: int, max_chars: int = 14) -> str:
        """A plot label for one of the model's tokens."""
        return token_label(self.model.token_text(int(token_id)), max_chars=max_chars)


def dial_controls(*, top_k_minimum: int = 0, **dials: Any) -> dict[str, widgets.ValueWidget]:
    """The standard sampling dials, in the order given: ``temperature``, ``top_k``, ``top_p``, ``min_p``.

    ``dial_controls(temperature=1.0, top_p=0.9)`` gives a temperature slider (stops at
    :data:`TEMPERATURES`) and a top-p slider. ``top_k_minimum=1`` makes top-k a pure truncation
    slider (no "0 = off").
    """
    builders = {
        "temperature": _temperature_slider,
        "top_k": lambda value: _top_k_slider(value, top_k_minimum),
        "top_p": _top_p_slider,
        "min_p": _min_p_slider,
    }
    unknown = sorted(set(dials) - set(builders))
    if unknown:
        raise TypeError(f"{unknown[0]!r} is not a sampling dial; the dials are {', '.join(builders)}")
    return {name: builders[name](value) for name, value in dials.items()}


def _temperature_slider(temperature: float) -> widgets.SelectionSlider:
    if temperature not in TEMPERATURES:
        raise ValueError(
            f"temperature={temperature!r} is not a stop on the temperature slider; "
            f"choose one of {', '.join(f'{t:g}' for t in TEMPERATURES)}"
        )
    return widgets.SelectionSlider(
        options=[(f"{t:.2f}", t) for t in TEMPERATURES],
        value=temperature,
        description="temperature T",
        continuous_update=True,
        style=slider_style(),
        layout=widgets.Layout(width="420px"),
    )


def _top_k_slider(top_k: int, minimum: int) -> widgets.IntSlider:
    top_k = checks.whole_number(top_k, "top_k", minimum=minimum, maximum=100)
    return widgets.IntSlider(
        value=top_k, min=minimum, max=100, description="top_k" + (" (0 = off)" if minimum == 0 else ""),
        style=slider_style(),
    )


def _top_p_slider(top_p: float) -> widgets.FloatSlider:
    # Steps of 0.05: one step of 0.01 moves the p line by about a pixel and rarely changes a kept bar.
    return widgets.FloatSlider(
        value=checks.fraction(top_p, "top_p"), min=0.05, max=1.0, step=0.05, description="top_p (1 = off)",
        readout_format=".2f", style=slider_style(),
    )


def _min_p_slider(min_p: float) -> widgets.FloatSlider:
    return widgets.FloatSlider(
        value=checks.fraction(min_p, "min_p"), min=0.0, max=1.0, step=0.01, description="min_p (0 = off)",
        readout_format=".2f", style=slider_style(),
    )


def _prompt_box(prompt: str) -> widgets.Text:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"prompt must be a non-empty string of text, got {prompt!r}")
    return widgets.Text(
        value=prompt,
        description="prompt (press Enter)",
        continuous_update=False,
        style=slider_style(),
        # As wide as the figure, so a whole question fits (lesson 07's does not in 460 px).
        layout=widgets.Layout(width="100%", max_width="820px"),
    )


def _check_model(model: Any) -> Any:
    """An explorer needs an `interface.LanguageModel` (the course's model, or an adapter)."""
    missing = interface.lacks(model, interface.LanguageModel)
    if missing:
        raise TypeError(
            f"model must be the course's language model (from course_utils.model import load_model; "
            f"model = load_model()); got {type(model).__name__}, which has no {', '.join(missing)}"
        )
    return model


class PromptLogits:
    """Logits per prompt, and their ranking, computed once: moving a dial never runs the model."""

    def __init__(self, model: Any, size: int = 16):
        self.model = model
        self.size = size
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _entry(self, prompt: str) -> tuple[np.ndarray, np.ndarray]:
        if prompt not in self._cache:
            ids = self.model.encode(prompt)
            logits = np.asarray(self.model.next_token_logits(ids), dtype=np.float64)
            if len(self._cache) >= self.size:
                self._cache.pop(next(iter(self._cache)))
            # Most to least likely, ties by id: the same order at every temperature.
            self._cache[prompt] = (logits, np.argsort(-logits, kind="stable"))
        return self._cache[prompt]

    def __call__(self, prompt: str) -> np.ndarray:
        """The model's next-token logits after ``prompt`` (float64, shape (vocab_size,))."""
        return self._entry(prompt)[0]

    def ranked(self, prompt: str) -> np.ndarray:
        """Token ids from most to least likely after ``prompt``."""
        return self._entry(prompt)[1]


# -- small helpers the model explorers' drawings share ------------------------------------------


def shorten(text: str, limit: int = 38) -> str:
    """A prompt for a title: newlines shown as ↵, long prompts cut at the start (the end matters)."""
    text = text.replace("\n", "↵").replace("\t", "⇥")
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def most_likely(probs: np.ndarray, n: int) -> np.ndarray:
    """Ids of the ``n`` most likely tokens with non-zero probability, most likely first.

    A partial sort: the full vocabulary never needs ordering to show the top few.
    """
    n = min(n, probs.size)
    candidates = np.argpartition(-probs, n - 1)[:n]
    candidates = candidates[np.lexsort((candidates, -probs[candidates]))]
    return candidates[probs[candidates] > 0]


def nice_limit(value: float) -> float:
    """An axis limit just above ``value`` from a short fixed list, so that limits (and with them
    the cached background of the figure) change only when the data moves a lot."""
    for limit in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        if value <= limit:
            return limit
    return 1.2


def others_label(count: int) -> str:
    return f"(other {count:,})"
