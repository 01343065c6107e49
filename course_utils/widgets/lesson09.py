"""Lesson 09 · speculative decoding: what each check of a draft kept, and what the model wrote itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from course_utils import checks, interface, sampling
from course_utils.generation import Generation, generate
from course_utils.plots import ROLE, BarPanel, TokenTextPanel, mark_dynamic, new_figure, title_block, token_label
from course_utils.speculative import Verification, acceptance_rate
from course_utils.widgets.base import Explorer, slider_style
from course_utils.widgets.model_explorer import _check_model

__all__ = ["SpeculationStepper", "CheckView"]

#: The longest draft the stepper draws (its bar slots): prompt lookup's γ.
MAX_DRAFT = 8
#: The colour of each drafted token's fate, and of the token the model wrote itself.
FATE_COLORS = {
    "accepted": ROLE["kept"],
    "rejected": ROLE["chosen"],
    "not checked": ROLE["removed"],
    "model's own": ROLE["second_curve"],
}
#: The legend: what each colour means, and what the rule saw (its p at T = 0 is 1 or 0).
_FATE_LEGEND = {
    "accepted": "accepted: greedy's token\n(the rule's p = 1 at T = 0)",
    "rejected": "rejected: not greedy's\n(the rule's p = 0)",
    "not checked": "not checked: after\nthe rejection",
    "model's own": "the token the model\nwrote itself",
}
#: How dark the reply's tokens are shaded (TokenTextPanel, 0..1): this check's kept draft, its own token.
_ACCEPTED_SHADE, _OWN_SHADE = 0.9, 0.25


@dataclass(frozen=True)
class CheckView:
    """One check of a draft with what the model thought of each token, at T = 1 (nothing cut).

    ``verification`` is the generation's own record (at temperature 0 its ``p`` is 1 for greedy's
    token and 0 otherwise). ``drafted_probs[i]`` is the model's softmax probability of drafted
    token i in the check's forward pass (after the tokens drafted before it); ``own_prob`` is that
    of the token the model wrote after them (None when the text ended first).
    """

    verification: Verification
    drafted_probs: tuple[float, ...]
    own_prob: float | None

    @property
    def fates(self) -> list[str]:
        """For each drafted token: accepted, rejected or not checked (after the rejection)."""
        v = self.verification
        return ["accepted" if i < v.accepted else "rejected" if i == v.rejected_at else "not checked"
                for i in range(len(v.drafted))]


@dataclass(frozen=True)
class Speculation:
    """A greedy prompt-lookup generation and one `CheckView` per check."""

    generation: Generation
    checks: tuple[CheckView, ...]


class SpeculationStepper(Explorer):
    """Step through the checks of a greedy prompt-lookup generation: what was drafted, what the
    model kept, and the token it wrote itself, each check one forward pass.

    ``SpeculationStepper(model, model.chat_prompt("Repeat this paragraph exactly:\\n\\n" + text),
    prompt_lookup_num_tokens=8, max_new_tokens=40)`` runs ``generate(..., temperature=0,
    prompt_lookup_num_tokens=8)`` once (remembered for the same model, prompt and settings). The
    bars are the drafted tokens, their height the probability the model gave each at T = 1 in the
    check's pass (the rule itself sees p at T = 0: 1 for greedy's token, 0 for any other, which the
    colours say), coloured accepted, rejected or not checked; the last bar is the token the model wrote
    itself (at the rejection, or a bonus after a draft kept whole). The text below is the reply so
    far, this check's kept draft shaded dark.

    Controls: ``check`` (1 to the number of checks). It opens on the first check whose next one looks
    different (another number drafted or kept), unless ``check=`` says. γ has no slider: each γ is
    a generation of its own (seconds on a laptop), so compare γ with ``prompt_lookup_num_tokens=``.
    Tests read ``bars.values`` / ``.labels`` / ``.colors``, ``readout_text`` and ``checks``.
    """

    def __init__(self, model, prompt: str, *, prompt_lookup_num_tokens: int = 8, max_new_tokens: int = 40,
                 check: int | None = None):
        self.model = _check_model(model)
        interface.require(model, interface.BatchModel, "SpeculationStepper")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"prompt must be a non-empty string of text, got {prompt!r}")
        self.prompt = prompt
        self.gamma = checks.whole_number(
            prompt_lookup_num_tokens, "prompt_lookup_num_tokens", minimum=1, maximum=MAX_DRAFT,
            hint=f"It is how many tokens prompt lookup drafts per check; the stepper draws up to {MAX_DRAFT}.")
        self.max_new_tokens = checks.whole_number(
            max_new_tokens, "max_new_tokens", minimum=1, maximum=200,
            hint="The stepper shows every check of the generation; 40 tokens give about ten.")
        speculation = speculate_greedily(model, prompt, self.gamma, self.max_new_tokens)
        self.generation, self.checks = speculation.generation, speculation.checks
        # The reply's token texts, decoded once: every step shows a prefix of them.
        self._reply = [model.decode([t]) for t in self.generation.token_ids]
        count = len(self.checks)
        check = opening_check(self.checks) if check is None else checks.whole_number(
            check, "check", minimum=1, maximum=count, hint=f"This generation made {count} checks.")
        slider = widgets.IntSlider(value=check, min=1, max=count, description="check", style=slider_style(),
                                   layout=widgets.Layout(width="420px"))
        super().__init__({"check": slider}, self._build_figure())

    def __repr__(self) -> str:
        return (f"SpeculationStepper(check={self.values['check']}, prompt_lookup_num_tokens={self.gamma}, "
                f"max_new_tokens={self.max_new_tokens})")

    # -- the figure --------------------------------------------------------------------------
    def _build_figure(self) -> Figure:
        figure = new_figure(820, 500)
        self.title, self.subtitle = title_block(figure)
        ax = figure.add_axes([0.08, 0.44, 0.6, 0.38])
        self.bars = BarPanel(ax, self.gamma + 1, horizontal=False, value_label="probability at T = 1",
                             limits=(0.0, 1.15), value_format=percent_2, label_rotation=30)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.set_xlabel("drafted tokens, then the one the model wrote itself", fontsize=9, labelpad=6)
        self.separator = ax.axvline(0.5, color=ROLE["threshold"], ls="--", lw=1)
        mark_dynamic(self.separator)
        handles = [Patch(color=FATE_COLORS[fate], label=label) for fate, label in _FATE_LEGEND.items()]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.03, 1.0), fontsize=9, frameon=False,
                  labelspacing=0.9)
        figure.text(0.015, 0.255, "The reply so far: this check's kept draft shaded dark, the model's own token light.",
                    fontsize=9, color="#444444")
        self.text_panel = TokenTextPanel(figure.add_axes([0.02, 0.02, 0.96, 0.21]), fontsize=10, max_lines=3)
        return figure

    def _update(self, values: dict[str, Any]) -> str:
        k = values["check"]
        view = self.checks[k - 1]
        v = view.verification
        fates = view.fates
        values_shown = list(view.drafted_probs)
        labels = [self._label(t) for t in v.drafted]
        colors = [FATE_COLORS[fate] for fate in fates]
        if v.token is not None:
            values_shown.append(view.own_prob)
            labels.append("→ " + self._label(v.token, max_chars=10))
            colors.append(FATE_COLORS["model's own"])
        self.bars.update(values_shown, labels, colors)
        self.separator.set_xdata([len(v.drafted) - 0.5] * 2)
        self.separator.set_visible(bool(v.drafted) and v.token is not None)
        self.title.set_text(_title(k, v))
        self.subtitle.set_text(self._summary())
        self._show_reply(v)
        return _readout(k, len(self.checks), v, self._quoted(v.token))

    def _summary(self) -> str:
        """The whole generation in numbers: checks, tokens per pass, the acceptance rate α."""
        made = sum(view.verification.new_tokens for view in self.checks)
        count = len(self.checks)
        alpha = acceptance_rate([view.verification for view in self.checks])
        measured = "nothing drafted" if np.isnan(alpha) else f"α = {alpha:.2g} of drafted tokens kept"
        return (f"prompt lookup (γ = {self.gamma}), greedy: {count} checks made {made} tokens, "
                f"{made / count:.2g} per forward pass; {measured}")

    def _show_reply(self, v: Verification) -> None:
        shades = [None] * v.start + [_ACCEPTED_SHADE] * v.accepted + [_OWN_SHADE] * (v.token is not None)
        self.text_panel.set_tokens(self._reply[: v.start + v.new_tokens], shades)

    def _label(self, token: int, max_chars: int = 12) -> str:
        return token_label(self.model.token_text(int(token)), max_chars=max_chars)

    def _quoted(self, token: int | None) -> str | None:
        return None if token is None else repr(self.model.decode([int(token)]))


# -- the numbers behind the picture --------------------------------------------------------------

_SPECULATIONS: dict[tuple, tuple[Any, Speculation]] = {}
_REMEMBERED = 8


def speculate_greedily(model, prompt: str, gamma: int, max_new_tokens: int) -> Speculation:
    """The greedy prompt-lookup generation of `prompt`, with the T = 1 probabilities of every check's
    tokens read from the check's own forward pass (no extra pass). Remembered per model and settings:
    a notebook that shows the stepper twice, or a test, pays for one generation."""
    key = (id(model), prompt, gamma, max_new_tokens)
    remembered = _SPECULATIONS.get(key)
    if remembered is not None and remembered[0] is model:
        return remembered[1]
    recorder = PassRecorder(model)
    generation = generate(recorder, prompt, max_new_tokens=max_new_tokens, temperature=0,
                          prompt_lookup_num_tokens=gamma)
    speculation = Speculation(generation, _check_views(generation.verifications, recorder.passes))
    if len(_SPECULATIONS) >= _REMEMBERED:
        _SPECULATIONS.pop(next(iter(_SPECULATIONS)))
    _SPECULATIONS[key] = (model, speculation)
    return speculation


class PassRecorder:
    """The model, remembering every forward pass over several new positions (a check's pass: the
    last token and the draft) with its logits; everything else is the model's own."""

    def __init__(self, model):
        self._model = model
        self.passes: list[tuple[list[int], np.ndarray]] = []

    def __getattr__(self, name: str):
        return getattr(self._model, name)

    def forward(self, tokens, cache, is_real=None, *, all_positions: bool = False, **options):
        logits = self._model.forward(tokens, cache, is_real, all_positions=all_positions, **options)
        if all_positions:
            self.passes.append((np.asarray(tokens)[0].tolist(), np.array(logits[0])))
        return logits


def _check_views(verifications, passes) -> tuple[CheckView, ...]:
    """Each check with the T = 1 probabilities its pass gave its drafted tokens and its own token."""
    if len(passes) != len(verifications):
        raise RuntimeError(
            f"the generation made {len(verifications)} checks but {len(passes)} multi-token passes were seen; "
            "SpeculationStepper expects one pass per check (prompt lookup drafts without the model)"
        )
    views = []
    for v, (tokens, logits) in zip(verifications, passes):
        if tokens[1:] != list(v.drafted):
            raise RuntimeError(f"the pass of the check at token {v.start} ran {tokens[1:]}, not its draft {v.drafted}")
        probs = sampling.softmax(logits.astype(np.float64), axis=-1)
        views.append(CheckView(
            v,
            tuple(float(probs[i, t]) for i, t in enumerate(v.drafted)),
            None if v.token is None else float(probs[v.accepted, v.token]),
        ))
    return tuple(views)


def opening_check(views) -> int:
    """The first check whose next one drafts or keeps another number of tokens (the → key then
    recolours or moves bars), else 1."""
    shape = [(len(view.verification.drafted), view.verification.accepted, view.verification.token is None)
             for view in views]
    return next((k for k in range(1, len(views)) if shape[k - 1] != shape[k]), 1)


def percent_2(value: float) -> str:
    """A probability as a percentage to 2 significant digits at most (every machine prints the same)."""
    percent = 100 * value
    if percent >= 99.5:
        return "100%"
    if percent < 0.01:
        return "0%" if value == 0 else "<0.01%"
    return f"{percent:.2g}%"


def _title(k: int, v: Verification) -> str:
    drafted = len(v.drafted)
    if drafted == 0:
        return f"Check {k}: nothing to draft, so this pass made one token, as plain decoding does"
    if v.accepted == drafted:
        return f"Check {k}: every drafted token was right: {v.new_tokens} tokens from one forward pass"
    if v.accepted == 0:
        return f"Check {k}: the first drafted token was wrong; the pass still gives the model's own token"
    return f"Check {k}: the model kept {v.accepted} of {drafted} drafted tokens, then wrote the next itself"


def _readout(k: int, count: int, v: Verification, own: str | None) -> str:
    drafted = len(v.drafted)
    made = f"{v.new_tokens} token{'s' if v.new_tokens != 1 else ''} for one forward pass"
    if drafted == 0:
        return f"check {k} of {count}: prompt lookup found nothing to draft, so the model wrote {own} itself — {made}"
    kept = f"drafted {drafted}, accepted {'all ' if v.accepted == drafted else ''}{v.accepted}"
    if own is None:
        return f"check {k} of {count}: {kept}, and the text ended there — {made}"
    then = f"then the model added {own} as a bonus" if v.accepted == drafted else f"then the model wrote {own} itself"
    return f"check {k} of {count}: {kept}, {then} — {made}"
