"""Lesson 08 · beyond top-p: what each sampler of the zoo keeps, at any temperature, on the real model."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_utils import checks, sampling
from course_utils.display import chance
from course_utils.plots import ROLE, BarPanel, mark_dynamic
from course_utils.widgets.base import slider_style
from course_utils.widgets.model_explorer import GOOD_PROMPTS, ModelExplorer, dial_controls, nice_limit, shorten

__all__ = ["SamplerZooExplorer", "ZOO_SAMPLERS"]

#: The samplers the zoo explorer offers: name shown -> (slider minimum, maximum, step, readout format,
#: what the dial keeps). XTC is shown at xtc_probability = 1: the step where its coin makes it act.
ZOO_SAMPLERS: dict[str, tuple[str, float, float, float, str, str]] = {
    "top_p": ("top-p", 0.05, 1.0, 0.05, ".2f", "the most likely tokens until their mass reaches p"),
    "min_p": ("min-p", 0.0, 1.0, 0.01, ".2f", "tokens at least min_p times as likely as the top token"),
    "top_n_sigma": ("top-nσ", 0.0, 4.0, 0.1, ".1f", "logits within n standard deviations of the largest"),
    "typical_p": ("typical", 0.05, 1.0, 0.05, ".2f", "tokens whose surprise is closest to the entropy, to mass p"),
    "eta_cutoff": ("η", 0.0, 0.02, 0.0005, ".4f", "tokens above min(η, √η·e^(−entropy))"),
    "epsilon_cutoff": ("ε", 0.0, 0.02, 0.0005, ".4f", "tokens more likely than ε"),
    "xtc_threshold": ("XTC", 0.0, 0.5, 0.01, ".2f", "removes every token above the threshold but the least likely"),
}


def _dial_slider(name: str, value: float) -> widgets.FloatSlider:
    label, low, high, step, fmt, _ = ZOO_SAMPLERS[name]
    value = checks.real_number(value, name)
    if not low <= value <= high:
        raise ValueError(f"{name}={value!r} is outside the slider's range [{low:g}, {high:g}]")
    return widgets.FloatSlider(
        value=value, min=low, max=high, step=step, description=f"{name} ({label})", readout_format=fmt,
        style=slider_style(), layout=widgets.Layout(width="420px"),
    )


def zoo_settings(sampler: str, value: float, temperature: float) -> dict[str, float]:
    """The sampling keywords for one sampler of the zoo at `value` (XTC: the step where it acts)."""
    if sampler == "xtc_threshold":
        return {"temperature": temperature, "xtc_probability": 1.0, "xtc_threshold": value}
    return {"temperature": temperature, sampler: value}


class SamplerZooExplorer(ModelExplorer):
    """Pick a sampler, its setting and a temperature: see what it keeps and what is drawn from.

    ``SamplerZooExplorer(model, prompt="Once upon a time, there was a", sampler="top_n_sigma",
    top_n_sigma=1.0, temperature=2.0)``. Top: every token of the vocabulary by rank (log scale),
    its probability after temperature, kept in blue and removed in grey, with the cut drawn where the
    kept ranks begin and end (typical and XTC can remove the most likely tokens, so the kept ranks
    need not start at 1). Bottom: the final distribution the token is drawn from (kept tokens
    renormalised), for the most likely tokens. Temperature is applied first (``order="transformers"``).
    XTC is shown at ``xtc_probability = 1``: the step where its coin makes it act.

    Controls: ``sampler``, one slider per sampler (only the chosen one is shown), ``temperature``,
    ``prompt``.
    """

    def __init__(
        self,
        model,
        prompt: str = GOOD_PROMPTS[1],
        *,
        sampler: str = "top_n_sigma",
        temperature: float = 2.0,
        top_p: float = 0.9,
        min_p: float = 0.1,
        top_n_sigma: float = 1.0,
        typical_p: float = 0.9,
        eta_cutoff: float = 0.002,
        epsilon_cutoff: float = 0.0005,
        xtc_threshold: float = 0.1,
        n_tokens: int = 12,
    ):
        if sampler not in ZOO_SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(map(repr, ZOO_SAMPLERS))}, got {sampler!r}")
        self.n_tokens = checks.whole_number(n_tokens, "n_tokens", minimum=3, maximum=20)
        given = {"top_p": top_p, "min_p": min_p, "top_n_sigma": top_n_sigma, "typical_p": typical_p,
                 "eta_cutoff": eta_cutoff, "epsilon_cutoff": epsilon_cutoff, "xtc_threshold": xtc_threshold}
        controls = {
            "sampler": widgets.Dropdown(
                options=[(f"{spec[0]} ({name})", name) for name, spec in ZOO_SAMPLERS.items()], value=sampler,
                description="sampler", style=slider_style(),
            ),
            **{name: _dial_slider(name, given[name]) for name in ZOO_SAMPLERS},
            **dial_controls(temperature=temperature),
        }
        super().__init__(model, prompt, controls, size=(820, 520), main=sampler)

    def _build_axes(self, figure: Figure) -> None:
        rank_ax = figure.add_axes([0.1, 0.55, 0.86, 0.27])
        (self.kept_curve,) = rank_ax.plot([], [], "-", color=ROLE["kept"], lw=2.2, label="kept")
        (self.removed_curve,) = rank_ax.plot([], [], "-", color=ROLE["removed"], lw=1.5, label="removed")
        self.first_cut = rank_ax.axvline(1.0, color=ROLE["threshold"], ls="--", lw=1.2)
        self.last_cut = rank_ax.axvline(2.0, color=ROLE["threshold"], ls="--", lw=1.2)
        mark_dynamic(self.kept_curve, self.removed_curve, self.first_cut, self.last_cut)
        rank_ax.set_xscale("log")
        rank_ax.set_yscale("log")
        rank_ax.set_xlim(0.8, 1.25 * self.model.vocab_size)
        rank_ax.set_ylim(1e-12, 1.5)
        rank_ax.set_xlabel("rank of the token (log scale)", fontsize=9)
        rank_ax.set_ylabel("probability after T", fontsize=9)
        rank_ax.legend(loc="lower left", fontsize=9, frameon=False)
        rank_ax.grid(True, lw=0.4, alpha=0.5)
        for side in ("top", "right"):
            rank_ax.spines[side].set_visible(False)
        self.rank_ax = rank_ax
        bars_ax = figure.add_axes([0.1, 0.1, 0.86, 0.3])
        self.bars = BarPanel(bars_ax, self.n_tokens, horizontal=False, value_label="final probability",
                             label_fontsize=9, label_rotation=30)
        bars_ax.set_title("the distribution the next token is drawn from (most likely tokens before the cut)",
                          fontsize=9, color=ROLE["text"])
        self._ranks_shown = None

    def _main_control(self) -> str:
        return self.controls["sampler"].value

    def _boundary_artists(self):
        return [self.first_cut, self.last_cut]

    def _update(self, values: dict[str, Any]) -> str:
        for name in ZOO_SAMPLERS:  # only the chosen sampler's slider shows
            self.controls[name].layout.display = None if name == values["sampler"] else "none"
        return super()._update(values)

    def _draw(self, values: dict[str, Any], prompt: str) -> str:
        sampler, temperature = values["sampler"], values["temperature"]
        logits = self.logits(prompt)
        ranked = self.logits.ranked(prompt)
        settings = zoo_settings(sampler, values[sampler], temperature)
        probs = sampling.softmax(logits, temperature=temperature)[ranked]
        final = sampling.next_token_distribution(logits, **settings)[ranked]
        kept = final > 0
        kept_ranks = np.flatnonzero(kept)
        first, last = int(kept_ranks[0]), int(kept_ranks[-1])  # 0-based ranks; the chain keeps at least one
        count = int(kept.sum())

        # ~400 ranks spread evenly on the log axis, plus the ranks on either side of each cut.
        v = len(ranked)
        sample = np.unique(np.concatenate([
            np.geomspace(1, v, 400).astype(int) - 1, [first - 1, first, last, last + 1],
        ]).clip(0, v - 1))
        x, y, k = sample + 1.0, np.maximum(probs[sample], 1e-300), kept[sample]
        self.kept_curve.set_data(x, np.where(k, y, np.nan))
        self.removed_curve.set_data(x, np.where(k, np.nan, y))
        self.first_cut.set_xdata([first + 0.5] * 2)
        self.first_cut.set_visible(first > 0)
        # Where the kept ranks end; past the last rank when the dial cuts nothing there (XTC on a flat
        # distribution), so the cut is always on screen.
        self.last_cut.set_xdata([last + 1.5 if last < v - 1 else 1.1 * v] * 2)

        top = ranked[: self.n_tokens]
        shown = final[: self.n_tokens]
        self.bars.set_limits(0.0, nice_limit(1.15 * max(float(shown.max()), 1e-9)))
        self.bars.update(shown, [self.label(i, max_chars=10) for i in top],
                         [ROLE["kept"] if p > 0 else ROLE["removed"] for p in shown])

        label = ZOO_SAMPLERS[sampler][0]
        dial = f"{label} {values[sampler]:{ZOO_SAMPLERS[sampler][4]}}"
        mass = float(probs[kept].sum())
        dropped_top = " (the most likely token removed)" if first > 0 else ""
        self.title.set_text(f"{label} keeps {ZOO_SAMPLERS[sampler][5]}")
        self.subtitle.set_text(
            f'{dial} at T = {temperature:g} after "{shorten(prompt)}": keeps {count:,} of '
            f"{v:,} tokens{dropped_top}, {chance(min(mass, 1.0))} of the probability"
        )
        return (
            f"{dial}, T = {temperature:g} · kept {count:,} of {v:,} tokens · "
            f"kept mass {chance(min(mass, 1.0))} · top token drawn with {chance(float(final.max()))}"
        )
