"""Explorers: ipywidgets controls wired to one matplotlib figure, redrawn in place.

How an explorer is displayed, and why
-------------------------------------
An explorer draws a pure-Agg ``matplotlib.figure.Figure`` (see ``course_utils.plots``) into an
``ipywidgets.Image`` as PNG bytes, and puts its controls, that image and a one-line readout in a
``VBox``. Displayed as a cell's last expression, its ``_repr_mimebundle_`` returns three things:

* ``application/vnd.jupyter.widget-view+json`` -- the live widget, in JupyterLab with a kernel;
* ``image/png`` -- a picture of the explorer's current state, for every place without a kernel
  (GitHub, nbconvert HTML, PDF);
* ``text/plain`` -- a stable one-liner such as ``TemperatureExplorer(prompt='The capital of
  France is', temperature=0.7)``: no memory address, no model id.

Measured on this project's machines (nbval 0.11, ipywidgets 8.1.9, nbconvert 7.17, matplotlib
3.11; ``tests/test_widgets.py`` repeats the measurement on every run):

* strict ``pytest --nbval`` compares every output mime type except ``image/png``, ``image/jpeg``
  and the widget-view (nbval skips those: model ids are random), so for an explorer cell it
  compares only ``text/plain``, deterministic by construction: an executed explorer cell has
  exactly one output (these three mime types) and passes. The same slider written with
  ``interact`` fails: the committed output is the widget alone, but on re-execution the
  ``Output`` widget's captured figure also arrives as top-level outputs (``<Figure size 640x480
  with 1 Axes>``, the function's repr), "dissimilar number of outputs for key text/plain". An
  ``Output`` widget with ``clear_output`` fails the same way.
* nothing is displayed as a side effect: the figure is not a pyplot figure (pyplot's inline
  backend would show it at cell end), so no backend, ``%matplotlib`` magic or ipympl is needed.
* nbconvert's HTML exporter prefers the widget-view when the notebook carries widget state in
  ``metadata.widgets`` (``nbconvert --execute`` stores it); it then emits a script that loads
  the widget manager from a CDN (unpkg) to render the stored Image widget, which needs the
  network. Without widget state it falls back to the bundle's ``image/png``, an inline
  ``<img>``: drop ``metadata.widgets`` for an offline export (``scripts/export_html.py`` does).
  JupyterLab restores the stored widget state when a notebook is opened, so the picture shows
  there too before any cell runs. nbconvert's LaTeX export (the PDF route) cannot show widgets
  and includes the ``image/png`` whether or not widget state is present.

Tests and the benchmark drive explorers without a browser: ``explorer.set(temperature=0.5)``
changes controls (one redraw for any number of values), and each explorer exposes its panels
(``explorer.bars.values``, ``.labels``, ``.colors``) and ``explorer.readout_text``.

Speed: an explorer never recomputes model logits when only a sampling dial moved (logits are
cached per prompt); it updates artists in place and blits them over a cached background (see
``course_utils.plots.figure_to_png``); ``benchmarks/bench_explorers.py`` measures
control-change-to-PNG latency against rebuilding the figure.

The explorers (each takes the model, or for softmax the tokens and logits, and is displayed as
a cell's last expression): :class:`TopTokensExplorer` (lesson 01), :class:`SoftmaxExplorer`
(02), :class:`TemperatureExplorer` (03), :class:`TruncationExplorer` and
:class:`ChainOrderExplorer` (04), :class:`GenerationStepper` (05).
"""

from __future__ import annotations

import base64
import contextlib
import html
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_utils import sampling
from course_utils.plots import (
    DPI,
    OKABE_ITO,
    ROLE,
    BarPanel,
    CurvePanel,
    TokenTextPanel,
    figure_to_png,
    mark_dynamic,
    new_figure,
    token_label,
    visible,
)

__all__ = [
    "Explorer",
    "slider_style",
    "TEMPERATURES",
    "GOOD_PROMPTS",
    "TopTokensExplorer",
    "SoftmaxExplorer",
    "TemperatureExplorer",
    "TruncationExplorer",
    "ChainOrderExplorer",
    "GenerationStepper",
    "GeneratedToken",
]

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def slider_style() -> dict[str, str]:
    """The style every control uses: descriptions are never cut off."""
    return {"description_width": "initial"}


class Explorer:
    """Base class: named controls, one figure, a readout line; redraws on every control change.

    A subclass builds its figure and controls, then calls ``super().__init__(controls, figure)``
    last, and implements :meth:`_update`, which receives the current control values, updates
    the figure's artists in place and returns the readout as plain text. ``before`` / ``after``
    are extra widgets (a dropdown, buttons) placed around the controls; they are not values.
    ``main`` names the slider a learner moves first (default: the first control); override
    :meth:`_main_control` when it depends on the state (truncation: the active mode's slider).
    Subclasses build their figure in ``_build_figure()``, so the benchmark can time the naive
    approach (a new figure per event) with exactly the same drawing code.

    Public API (for notebooks and tests):
        ``explorer``             display it as a cell's last expression
        ``explorer.set(**values)``  change several controls, redraw once; returns the explorer
        ``explorer.values``      dict of current control values
        ``explorer.controls``    dict name -> ipywidgets control (keyboard-operable)
        ``explorer.png``         PNG bytes of the current picture
        ``explorer.readout_text``   the current readout line, plain text
        ``explorer.widget``      the ipywidgets ``VBox`` (controls, image, readout)

    Hooks for the browser tests (the contract in tests/browser_support.py): the root ``VBox``
    has the DOM class ``dd-explorer``, the image ``dd-figure``, the main slider
    ``dd-main-control``, and every PNG carries a ``dd-main`` text chunk: the main slider's value
    as it reads on screen, so a test can prove the pixels were drawn for that value.
    """

    def __init__(
        self,
        controls: Mapping[str, widgets.ValueWidget],
        figure: Figure,
        *,
        before: Sequence[widgets.Widget] = (),
        after: Sequence[widgets.Widget] = (),
        main: str | None = None,
    ):
        self.controls: dict[str, widgets.ValueWidget] = dict(controls)
        self.figure = figure
        self._main = main if main is not None else next(iter(self.controls))
        if not isinstance(self.controls.get(self._main), _SLIDERS):
            raise ValueError(
                f"main={self._main!r} must name a slider control (the keyboard moves sliders in "
                f"JupyterLab); the controls are: {', '.join(self.controls)}"
            )
        width, height = (int(round(v)) for v in figure.canvas.get_width_height(physical=True))
        self.image = widgets.Image(
            format="png", width=width, layout=widgets.Layout(max_width="100%", height="auto")
        )
        self.readout = widgets.HTML(layout=widgets.Layout(min_height="1.6em"))
        self._holding = 0
        self._dirty = False
        self._png = b""
        self._readout_text = ""
        for control in self.controls.values():
            control.observe(self._on_control_change, names="value")
        control_box = widgets.HBox(
            [*before, *self.controls.values(), *after],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.widget = widgets.VBox([control_box, self.image, self.readout])
        self.widget.add_class("dd-explorer")
        self.image.add_class("dd-figure")
        self._marked_main: widgets.ValueWidget | None = None
        self.refresh()

    # -- what subclasses implement -------------------------------------------------------
    def _update(self, values: dict[str, Any]) -> str:
        """Update the figure's artists for ``values``; return the readout as plain text."""
        raise NotImplementedError

    # -- the machinery ------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        """Current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def png(self) -> bytes:
        """PNG bytes of the picture currently shown."""
        return self._png

    @property
    def readout_text(self) -> str:
        """The readout line currently shown, as plain text."""
        return self._readout_text

    @contextlib.contextmanager
    def hold_updates(self) -> Iterator[None]:
        """Change several controls with a single redraw at the end."""
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
            if self._holding == 0 and self._dirty:
                self.refresh()

    def set(self, **values: Any) -> "Explorer":
        """Set controls by name, e.g. ``explorer.set(temperature=0.5)``, then redraw once.

        Raises a ValueError naming the control if the name is unknown or the value is not one
        the control can take (sliders do not silently clamp here).
        """
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no control named {', '.join(map(repr, unknown))}; "
                f"its controls are: {', '.join(self.controls)}"
            )
        for name, value in values.items():
            _check_control_value(name, self.controls[name], value)
        with self.hold_updates():
            for name, value in values.items():
                self.controls[name].value = value
            self._dirty = True
        return self

    def refresh(self) -> None:
        """Redraw the figure for the current control values and push it to the image widget."""
        if self._holding:
            self._dirty = True
            return
        self._dirty = False
        self._readout_text = self._update(self.values)
        main = self.controls[self._main_control()]
        if main is not self._marked_main:
            if self._marked_main is not None:
                self._marked_main.remove_class("dd-main-control")
            main.add_class("dd-main-control")
            self._marked_main = main
        self._png = figure_to_png(self.figure, text={"dd-main": _as_shown(main)})
        self.image.value = self._png
        self.readout.value = f"<span style='font-family: monospace'>{html.escape(self._readout_text)}</span>"

    def _on_control_change(self, change: dict) -> None:
        self.refresh()

    def _main_control(self) -> str:
        """The name of the slider a learner moves first (marked for the browser tests)."""
        return self._main

    # -- display ----------------------------------------------------------------------
    def __repr__(self) -> str:
        arguments = ", ".join(f"{name}={_short_repr(value)}" for name, value in self.values.items())
        return f"{type(self).__name__}({arguments})"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Live widget + static PNG + stable text; see the module docstring for why."""
        data = {
            "text/plain": repr(self),
            "image/png": base64.b64encode(self._png).decode("ascii"),
        }
        view = self.widget._repr_mimebundle_().get(_WIDGET_VIEW)
        if view is not None:
            data[_WIDGET_VIEW] = view
        width = self.image.width
        metadata = {"image/png": {"width": int(width)}} if width else {}
        return data, metadata

    def close(self) -> None:
        """Close every widget this explorer owns (frees the kernel-side widget models)."""
        for control in self.controls.values():
            control.close()
        self.image.close()
        self.readout.close()
        self.widget.close()


_SLIDERS = (widgets.IntSlider, widgets.FloatSlider, widgets.SelectionSlider)


def _as_shown(control: widgets.ValueWidget) -> str:
    """A control's value as its readout shows it on screen (e.g. '0.70' for a temperature)."""
    if isinstance(control, widgets.SelectionSlider):
        return str(control.label)
    if isinstance(control, (widgets.FloatSlider, widgets.IntSlider)):
        return format(control.value, control.readout_format)
    return str(control.value)


def _short_repr(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def _check_control_value(name: str, control: widgets.ValueWidget, value: Any) -> None:
    options = getattr(control, "options", None)
    if options is not None:
        allowed = [option[1] if isinstance(option, tuple) else option for option in options]
        if value not in allowed:
            shown = ", ".join(_short_repr(a) for a in allowed[:40])
            raise ValueError(f"{name}={value!r} is not one of the choices: {shown}")
        return
    low, high = getattr(control, "min", None), getattr(control, "max", None)
    if low is not None and high is not None and not (low <= value <= high):
        raise ValueError(f"{name}={value!r} is outside the slider's range [{low}, {high}]")


# -- shared pieces of the model explorers -------------------------------------------------------

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


def _prompt_box(prompt: str) -> widgets.Text:
    _check_prompt(prompt)
    return widgets.Text(
        value=prompt,
        description="prompt (press Enter)",
        continuous_update=False,
        style=slider_style(),
        layout=widgets.Layout(width="460px"),
    )


def _check_prompt(prompt: Any) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"prompt must be a non-empty string of text, got {prompt!r}")
    return prompt


def _check_model(model: Any) -> Any:
    missing = [name for name in ("encode", "next_token_logits", "token_text") if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f"model must be the course's language model (from course_utils.model import load_model; "
            f"model = load_model()); got {type(model).__name__}, which has no {', '.join(missing)}"
        )
    return model


def _shorten(text: str, limit: int = 38) -> str:
    """A prompt for a title: newlines shown as ↵, long prompts cut at the start (the end matters)."""
    text = text.replace("\n", "↵").replace("\t", "⇥")
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


class _PromptLogits:
    """Logits per prompt, and their ranking, computed once: moving a dial never runs the model."""

    def __init__(self, model: Any, size: int = 16):
        self.model = _check_model(model)
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


def _most_likely(probs: np.ndarray, n: int) -> np.ndarray:
    """Ids of the ``n`` most likely tokens with non-zero probability, most likely first.

    A partial sort: the full vocabulary never needs ordering to show the top few.
    """
    n = min(n, probs.size)
    candidates = np.argpartition(-probs, n - 1)[:n]
    candidates = candidates[np.lexsort((candidates, -probs[candidates]))]
    return candidates[probs[candidates] > 0]


def _nice_limit(value: float) -> float:
    """An axis limit just above ``value`` from a short fixed list, so that limits (and with them
    the cached background of the figure) change only when the data moves a lot."""
    for limit in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        if value <= limit:
            return limit
    return 1.2


def _others_label(count: int) -> str:
    return f"(other {count:,})"


def _title_block(figure: Figure, top: float = 0.97):
    """A bold title (what to notice) and a subtitle (the numbers) at the top left of a figure."""
    title = figure.text(0.015, top, "", ha="left", va="top", fontsize=12, fontweight="bold", color=ROLE["text"])
    subtitle = figure.text(0.015, top - 0.065, "", ha="left", va="top", fontsize=10, color="#444444")
    mark_dynamic(title, subtitle)
    return title, subtitle


# -- lesson 01: what the model predicts ---------------------------------------------------------


class TopTokensExplorer(Explorer):
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
        self.model = _check_model(model)
        self._logits = _PromptLogits(model)
        if not (isinstance(n_tokens, int) and 1 <= n_tokens <= self.MAX_TOKENS):
            raise ValueError(f"n_tokens must be a whole number from 1 to {self.MAX_TOKENS}, got {n_tokens!r}")
        if scale not in ("probability", "logit"):
            raise ValueError(f"scale must be 'probability' or 'logit', got {scale!r}")
        self.prompt_menu = widgets.Dropdown(
            options=list(prompts),
            value=prompt if prompt in prompts else None,
            description="example prompts",
            style=slider_style(),
        )
        controls = {
            "prompt": _prompt_box(prompt),
            "n_tokens": widgets.IntSlider(
                value=n_tokens, min=1, max=self.MAX_TOKENS, description="tokens shown", style=slider_style()
            ),
            "scale": widgets.ToggleButtons(
                options=["probability", "logit"], value=scale, description="bar length", style=slider_style()
            ),
        }
        self.prompt_menu.observe(self._on_menu, names="value")
        super().__init__(controls, self._build_figure(), before=[self.prompt_menu], main="n_tokens")

    def _build_figure(self) -> Figure:
        figure = new_figure(720, 420)
        self.title, self.subtitle = _title_block(figure)
        ax = figure.add_axes([0.2, 0.12, 0.72, 0.7])
        self.bars = BarPanel(ax, self.MAX_TOKENS, dynamic_labels=True)
        return figure

    def _on_menu(self, change: dict) -> None:
        if change["new"] is not None:
            self.controls["prompt"].value = change["new"]

    def _update(self, values: dict[str, Any]) -> str:
        prompt, n, scale = values["prompt"], values["n_tokens"], values["scale"]
        if not prompt.strip():
            return "Type a prompt in the box and press Enter."
        if prompt not in self.prompt_menu.options:
            self.prompt_menu.value = None
        logits = self._logits(prompt)
        probs = sampling.softmax(logits)
        top = self._logits.ranked(prompt)[:n]
        # Up to 10 bars keep their size; more bars fill the panel (a new limit redraws the axes).
        self.bars.ax.set_ylim(max(n, 10) - 0.5, -0.5)
        labels = [token_label(self.model.token_text(int(i))) for i in top]
        mass = float(probs[top].sum())
        if scale == "probability":
            shown = probs[top]
            self.bars.set_limits(0.0, _nice_limit(1.15 * float(shown[0])))
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
        self.title.set_text(f'The model\'s top {n} next tokens after "{_shorten(prompt)}"')
        best = int(top[0])
        return (
            f"top token {labels[0]} p = {probs[best]:.1%} (logit {logits[best]:.2f}) · "
            f"the top {n} hold {mass:.1%} of the probability"
        )


# -- lesson 02: softmax -------------------------------------------------------------------------

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
                step=0.01,  # fine enough that logits like 0.85 or 0.97 sit on the grid and read exactly
                description=f"logit of {visible(token)}",
                readout_format="+.2f",
                style=slider_style(),
            )
            for i, (token, value) in enumerate(zip(tokens, logits))
        }
        if temperature is not None:
            controls["temperature"] = _temperature_slider(temperature)
        super().__init__(controls, self._build_figure())

    def _build_figure(self) -> Figure:
        n = len(self.tokens)
        figure = new_figure(760, 380)
        self.title, self.subtitle = _title_block(figure)
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


# -- lesson 03: temperature ---------------------------------------------------------------------


class TemperatureExplorer(Explorer):
    """A temperature slider over the real model's next-token distribution for a prompt.

    ``TemperatureExplorer(model, prompt="The capital of France is", temperature=1.0)``.
    Left: the top tokens' probabilities at T, plus one bar for all the other tokens together.
    Right: entropy (bits) and the top token's probability as functions of T, current T marked.
    Readout: entropy, effective number of choices 2^H, top-token probability.

    Controls: ``temperature`` (a stop of :data:`TEMPERATURES`, 0-3), ``prompt`` (text).
    """

    def __init__(self, model, prompt: str = GOOD_PROMPTS[0], *, temperature: float = 1.0, n_tokens: int = 10):
        self.model = _check_model(model)
        self._logits = _PromptLogits(model)
        if not (isinstance(n_tokens, int) and 2 <= n_tokens <= 15):
            raise ValueError(f"n_tokens must be a whole number from 2 to 15, got {n_tokens!r}")
        self.n_tokens = n_tokens
        self._curves_for: str | None = None
        self._curve_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        controls = {"temperature": _temperature_slider(temperature), "prompt": _prompt_box(prompt)}
        super().__init__(controls, self._build_figure())

    def _build_figure(self) -> Figure:
        figure = new_figure(800, 440)
        self.title, self.subtitle = _title_block(figure)
        bars_ax = figure.add_axes([0.16, 0.11, 0.4, 0.7])
        self.bars = BarPanel(bars_ax, self.n_tokens + 1, value_label="probability at T")
        t_max = TEMPERATURES[-1]
        entropy_ax = figure.add_axes([0.7, 0.52, 0.27, 0.29])
        self.entropy_curve = CurvePanel(
            entropy_ax, xlabel="", ylabel="entropy (bits)", xlim=(0, t_max), ylim=(0, 1), colors=[ROLE["curve"]]
        )
        entropy_ax.tick_params(labelbottom=False)
        top_ax = figure.add_axes([0.7, 0.11, 0.27, 0.29])
        self.top_curve = CurvePanel(
            top_ax, xlabel="temperature T", ylabel="top-token p", xlim=(0, t_max), ylim=(0, 1.02),
            colors=[ROLE["second_curve"]],
        )
        self._curves_for = None
        return figure

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
        self.entropy_curve.set_curves(grid, entropies)
        self.entropy_curve.ax.set_ylim(0, 1.08 * float(entropies.max()) or 1.0)
        self.top_curve.set_curves(grid, tops)
        self._curves_for = prompt

    def _update(self, values: dict[str, Any]) -> str:
        prompt, temperature = values["prompt"], values["temperature"]
        if not prompt.strip():
            return "Type a prompt in the box and press Enter."
        logits = self._logits(prompt)
        if self._curves_for != prompt:
            self._set_curves(prompt, logits)
        probs = sampling.softmax(logits, temperature=temperature)
        top = self._logits.ranked(prompt)[: self.n_tokens]
        shown = probs[top]
        rest = max(0.0, 1.0 - float(shown.sum()))
        labels = [token_label(self.model.token_text(int(i))) for i in top] + [_others_label(logits.size - top.size)]
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
            f'after "{_shorten(prompt)}": entropy {h:.2f} bits ≈ {2 ** h:,.1f} equally likely choices; '
            f"top token {p_top:.1%}"
        )
        return (
            f"T = {temperature:g} · entropy {h:.2f} bits · effective choices 2^H = {2 ** h:,.1f} · "
            f"top token {labels[0]} {p_top:.1%}"
        )


# -- lesson 04: truncation ----------------------------------------------------------------------

_MODE_NAMES = {"top_k": "top-k", "top_p": "top-p", "min_p": "min-p"}
_MODE_TITLES = {
    "top_k": "top-k keeps a fixed number of tokens, however sure the model is",
    "top_p": "top-p keeps the most likely tokens until their probability adds up to p",
    "min_p": "min-p keeps the tokens at least min_p times as likely as the top token",
}


def _top_k_slider(top_k: int, minimum: int) -> widgets.IntSlider:
    return widgets.IntSlider(
        value=top_k, min=minimum, max=100, description="top_k" + (" (0 = off)" if minimum == 0 else ""),
        style=slider_style(),
    )


def _top_p_slider(top_p: float) -> widgets.FloatSlider:
    return widgets.FloatSlider(
        value=top_p, min=0.01, max=1.0, step=0.01, description="top_p (1 = off)", readout_format=".2f",
        style=slider_style(),
    )


def _min_p_slider(min_p: float) -> widgets.FloatSlider:
    return widgets.FloatSlider(
        value=min_p, min=0.0, max=1.0, step=0.01, description="min_p (0 = off)", readout_format=".2f",
        style=slider_style(),
    )


class TruncationExplorer(Explorer):
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
        self.model = _check_model(model)
        self._logits = _PromptLogits(model)
        if mode not in _MODE_NAMES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, _MODE_NAMES))}, got {mode!r}")
        if not (isinstance(n_tokens, int) and 5 <= n_tokens <= 50):
            raise ValueError(f"n_tokens must be a whole number from 5 to 50, got {n_tokens!r}")
        self.n_tokens = n_tokens
        self._ranking_for: str | None = None
        controls = {
            "mode": widgets.ToggleButtons(
                options=[(name, key) for key, name in _MODE_NAMES.items()], value=mode,
                description="truncation", style=slider_style(),
            ),
            "top_k": _top_k_slider(top_k, minimum=1),
            "top_p": _top_p_slider(top_p),
            "min_p": _min_p_slider(min_p),
            "temperature": _temperature_slider(temperature),
            "prompt": _prompt_box(prompt),
        }
        super().__init__(controls, self._build_figure(), main=mode)

    def _build_figure(self) -> Figure:
        n = self.n_tokens
        figure = new_figure(820, 500)
        self.title, self.subtitle = _title_block(figure)
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
        cum_ax.legend(loc="lower right", fontsize=8, frameon=False)
        cum_ax.grid(True, lw=0.4, alpha=0.5)
        for side in ("top", "right"):
            cum_ax.spines[side].set_visible(False)
        self.cumulative_ax = cum_ax
        self.bars = BarPanel(
            bars_ax, n, horizontal=False, value_label="probability", show_values=False, label_fontsize=8,
            label_rotation=60,
        )
        self.k_line = bars_ax.axvline(9.5, color=ROLE["threshold"], ls="--", lw=1)
        self.min_p_line = bars_ax.axhline(0.0, color=ROLE["threshold"], ls="--", lw=1)
        mark_dynamic(self.k_line, self.min_p_line)
        self._ranks = ranks
        self._ranking_for = None
        return figure

    def _main_control(self) -> str:
        return self.controls["mode"].value  # the active mode's slider

    def _set_ranking(self, prompt: str) -> None:
        self._top = self._logits.ranked(prompt)[: self.n_tokens]
        self._labels = [token_label(self.model.token_text(int(i)), max_chars=10) for i in self._top]
        self.bars.update(np.zeros(len(self._top)), self._labels)
        self._ranking_for = prompt

    def _update(self, values: dict[str, Any]) -> str:
        mode, prompt, temperature = values["mode"], values["prompt"], values["temperature"]
        for name in _MODE_NAMES:
            self.controls[name].layout.display = None if name == mode else "none"
        if not prompt.strip():
            return "Type a prompt in the box and press Enter."
        logits = self._logits(prompt)
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
        self.bars.set_limits(0.0, _nice_limit(1.1 * float(shown[0])))
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
            f'{dial} at T = {temperature:g} after "{_shorten(prompt)}": keeps {kept_count:,} tokens{more} '
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


class ChainOrderExplorer(Explorer):
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
        self.model = _check_model(model)
        self._logits = _PromptLogits(model)
        if not (isinstance(n_tokens, int) and 3 <= n_tokens <= 20):
            raise ValueError(f"n_tokens must be a whole number from 3 to 20, got {n_tokens!r}")
        self.n_tokens = n_tokens
        controls = {
            "temperature": _temperature_slider(temperature),
            "top_k": _top_k_slider(top_k, minimum=0),
            "top_p": _top_p_slider(top_p),
            "min_p": _min_p_slider(min_p),
            "prompt": _prompt_box(prompt),
        }
        super().__init__(controls, self._build_figure())

    def _build_figure(self) -> Figure:
        figure = new_figure(820, 440)
        self.title, self.subtitle = _title_block(figure)
        self.panels: dict[str, BarPanel] = {}
        for order, left in zip(sampling.ORDERS, (0.14, 0.61)):
            ax = figure.add_axes([left, 0.11, 0.33, 0.64])
            panel = BarPanel(ax, self.n_tokens, value_label="probability the token is drawn")
            ax.set_title(f"order={order!r}\n{_ORDER_CHAINS[order]}", fontsize=9, color=ROLE["text"])
            self.panels[order] = panel
        return figure

    def _update(self, values: dict[str, Any]) -> str:
        prompt = values["prompt"]
        if not prompt.strip():
            return "Type a prompt in the box and press Enter."
        logits = self._logits(prompt)
        settings = {key: values[key] for key in ("temperature", "top_k", "top_p", "min_p")}
        top = self._logits.ranked(prompt)[: self.n_tokens]
        labels = [token_label(self.model.token_text(int(i))) for i in top]
        finals = {order: sampling.next_token_distribution(logits, order=order, **settings) for order in sampling.ORDERS}
        high = max(float(final[top].max()) for final in finals.values())
        counts = {}
        for order, final in finals.items():
            shown = final[top]
            panel = self.panels[order]
            panel.set_limits(0.0, _nice_limit(1.2 * high))
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


# -- lesson 05: generation, one token at a time ------------------------------------------------


@dataclass(frozen=True)
class GeneratedToken:
    """One step of a :class:`GenerationStepper` run."""

    token_id: int
    text: str  # the token's raw text, as it appears in the generated string
    probability: float  # its probability in the distribution it was drawn from
    kept: int  # how many tokens that distribution kept after truncation
    shown_ids: tuple[int, ...]  # the most likely tokens of that distribution (what the bars show)
    shown_probs: tuple[float, ...]


class GenerationStepper(Explorer):
    """Generate text one token at a time, seeing the distribution each token was drawn from.

    ``GenerationStepper(model, prompt="Once upon a time", temperature=0.8, top_p=0.9, seed=0,
    steps=5)``. Press "next token" (or call :meth:`step`) to draw one token with
    ``course_utils.sampling.sample_next_token`` and a ``np.random.default_rng(seed)``; the
    bars then show the distribution it was drawn from (after truncation) with the chosen token
    highlighted, and the text below shades each generated token by the probability it had.
    Moving a sampling dial shows the distribution of the *next* draw under the new settings.
    Changing ``prompt`` or ``seed`` (or "reset") starts over, so a run is reproducible.

    Controls: ``temperature``, ``top_k`` (0 = off), ``top_p`` (1 = off), ``min_p`` (0 = off),
    ``seed``, ``prompt``. Methods: ``step(n=1)``, ``reset()``; ``tokens`` lists the steps.
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
        self.model = _check_model(model)
        if not (isinstance(n_tokens, int) and 3 <= n_tokens <= 15):
            raise ValueError(f"n_tokens must be a whole number from 3 to 15, got {n_tokens!r}")
        if not (isinstance(seed, int) and 0 <= seed < 2**31):
            raise ValueError(f"seed must be a whole number from 0 to 2**31 - 1, got {seed!r}")
        if not (isinstance(steps, int) and steps >= 0):
            raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
        self.n_tokens = n_tokens
        self._eos = frozenset(getattr(model, "eos_ids", ()))
        self._run_key: tuple | None = None
        self._logits_for: tuple[int, ...] | None = None
        self._show_draw = False
        controls = {
            "temperature": _temperature_slider(temperature),
            "top_k": _top_k_slider(top_k, minimum=0),
            "top_p": _top_p_slider(top_p),
            "min_p": _min_p_slider(min_p),
            "seed": widgets.BoundedIntText(
                value=seed, min=0, max=2**31 - 1, description="seed", style=slider_style(),
                layout=widgets.Layout(width="150px"),
            ),
            "prompt": _prompt_box(prompt),
        }
        self.next_button = widgets.Button(description="next token", icon="forward", button_style="primary")
        self.reset_button = widgets.Button(description="reset", icon="undo")
        self.next_button.on_click(lambda _: self.step())
        self.reset_button.on_click(lambda _: self.reset())
        super().__init__(controls, self._build_figure(), after=[self.next_button, self.reset_button])
        if steps:
            self.step(steps)

    def _build_figure(self) -> Figure:
        figure = new_figure(800, 540)
        self.title, self.subtitle = _title_block(figure)
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
        return figure

    # -- running ---------------------------------------------------------------------------
    @property
    def tokens(self) -> list[GeneratedToken]:
        """The tokens generated so far, oldest first."""
        return list(self._steps)

    @property
    def text(self) -> str:
        """The prompt followed by the generated text (an end-of-text token adds nothing)."""
        generated = "".join(t.text for t in self._steps if t.token_id not in self._eos)
        return self.controls["prompt"].value + generated

    @property
    def finished(self) -> bool:
        """True once the model has produced an end-of-text token."""
        return bool(self._steps) and self._steps[-1].token_id in self._eos

    def reset(self) -> "GenerationStepper":
        """Start over from the prompt with a fresh ``np.random.default_rng(seed)``."""
        self._restart(self.values)
        self.refresh()
        return self

    def step(self, n: int = 1) -> "GenerationStepper":
        """Draw ``n`` tokens (stopping early at end of text) with the current settings."""
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"step(n) takes a whole number n >= 1, got {n!r}")
        values = self.values
        if not values["prompt"].strip():
            self.refresh()  # the readout asks for a prompt
            return self
        if self._run_key != (values["prompt"], values["seed"]):
            self._restart(values)
        settings = _sampling_settings(values)
        for _ in range(n):
            if self.finished:
                break
            logits = self._next_logits()
            final = sampling.next_token_distribution(logits, **settings)
            token = sampling.sample_next_token(logits, rng=self._rng, **settings)
            shown = _most_likely(final, self.n_tokens)
            self._steps.append(
                GeneratedToken(
                    token_id=token,
                    text=self.model.decode([token]),
                    probability=float(final[token]),
                    kept=int((final > 0).sum()),
                    shown_ids=tuple(int(i) for i in shown),
                    shown_probs=tuple(float(final[i]) for i in shown),
                )
            )
            self._ids.append(token)
        self._show_draw = True
        self._draw_settings = settings
        self.refresh()
        return self

    def _restart(self, values: dict[str, Any]) -> None:
        self._run_key = (values["prompt"], values["seed"])
        self._rng = np.random.default_rng(values["seed"])
        self._ids = list(self.model.encode(values["prompt"]))
        self._steps: list[GeneratedToken] = []
        self._show_draw = False

    def _next_logits(self) -> np.ndarray:
        """The model's logits after the text so far (the model's own dtype, as generate() uses)."""
        key = tuple(self._ids)
        if self._logits_for != key:
            self._cached_logits = self.model.next_token_logits(self._ids)
            self._logits_for = key
        return self._cached_logits

    # -- drawing ----------------------------------------------------------------------------
    def _update(self, values: dict[str, Any]) -> str:
        if not values["prompt"].strip():
            return "Type a prompt in the box and press Enter."
        if self._run_key != (values["prompt"], values["seed"]):
            self._restart(values)
        settings = _sampling_settings(values)
        dials = _describe_settings(settings)
        label = lambda i: token_label(self.model.token_text(int(i)))  # noqa: E731
        if self._show_draw and self._steps and settings == self._draw_settings:
            last = self._steps[-1]
            colors = [ROLE["chosen"] if i == last.token_id else ROLE["bar"] for i in last.shown_ids]
            self.bars.set_limits(0.0, _nice_limit(1.15 * max(last.shown_probs)))
            self.bars.update(last.shown_probs, [label(i) for i in last.shown_ids], colors)
            chosen = label(last.token_id)
            ended = " — the model ended the text" if self.finished else ""
            self.title.set_text(f"Step {len(self._steps)}: drew {chosen} (p = {last.probability:.1%}){ended}")
            self.subtitle.set_text(f"{dials}; drawn from the {last.kept:,} tokens truncation kept, seed {values['seed']}")
            readout = (
                f"step {len(self._steps)} · drew {chosen} with p = {last.probability:.1%} "
                f"from {last.kept:,} kept tokens"
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
                shown = _most_likely(final, self.n_tokens)
                kept = int((final > 0).sum())
                self.bars.set_limits(0.0, _nice_limit(1.15 * float(final[shown[0]])))
                self.bars.update(final[shown], [label(i) for i in shown], ROLE["bar"])
                self.title.set_text(f"Next draw (step {len(self._steps) + 1}): press 'next token' to draw from these")
                self.subtitle.set_text(f"{dials}: {kept:,} tokens kept, seed {values['seed']}")
                readout = (
                    f"next token: {kept:,} tokens kept · most likely {label(shown[0])} "
                    f"{final[shown[0]]:.1%} · {len(self._steps)} generated so far"
                )
        text_key = (values["prompt"], tuple(t.token_id for t in self._steps))
        if self._text_drawn_for != text_key:
            self.text_panel.set_tokens(
                [values["prompt"]] + [t.text for t in self._steps],
                [None] + [t.probability for t in self._steps],
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
