"""Lesson 09's figures: what one forward pass costs, the accept / reject rule, the proof that the rule
keeps the model's distribution, and the speed-up prompt lookup gets against Leviathan's formula.

Like every static figure, each returns a :class:`~course_utils.plots.figures.StaticFigure` whose text
(what strict nbval compares) names what was drawn and never a measured time: timings are the
machine's own, and the numbers behind the other figures are drawn, not printed.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from course_utils import checks
from course_utils.plots.figures import _SERIES_COLORS, StaticFigure, _finish_with_side_legend, _plain_axes
from course_utils.plots.rendering import OKABE_ITO, ROLE, new_figure, token_label
from course_utils.speculative import RULE

__all__ = ["forward_time_figure", "rule_figure", "first_token_histogram_figure", "speedup_figure"]


# -- what a pass costs ----------------------------------------------------------------------------


def forward_time_figure(times: Mapping[int, float], *, title: str | None = None) -> StaticFigure:
    """Milliseconds one forward pass takes for each count of new tokens, and the same per token.

    ``times`` is what ``speculative.forward_times`` returns: seconds per pass, by count of new tokens
    (1, 2, 4, 8, 16). A dotted line shows what the same tokens would cost one pass each (count times
    the one-token pass): the gap between it and the measured line is what speculation spends.
    The text of the figure names the counts only; the times are this machine's.
    """
    counts = _counts_and_times(times)
    seconds = np.array([times[c] for c in counts], dtype=float)
    ms, x = 1000 * seconds, np.array(counts, dtype=float)
    figure = new_figure(780, 360)
    ax = figure.add_axes([0.1, 0.15, 0.55, 0.7])
    ax.plot(x, ms, "o-", color=ROLE["bar"], lw=2, ms=6, label="one pass, all tokens")
    ax.plot(x, ms / x, "s-", color=ROLE["curve"], lw=1.8, ms=5, label="that pass per token")
    if counts[0] == 1:
        ax.plot(x, x * ms[0], ":", color=ROLE["threshold"], lw=1.5, label="a pass per token\n(plain decoding)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [str(c) for c in counts])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("new tokens in the pass (a draft of n − 1 tokens and the last token)")
    ax.set_ylabel("milliseconds")
    if title is None:
        n = 8 if 8 in counts else counts[-1]
        title = f"Checking {n} tokens in one pass costs far less than {n} passes"
    _finish_with_side_legend(figure, ax, title)
    return StaticFigure(figure, f"forward_time_figure({', '.join(map(str, counts))} new tokens)")


def _counts_and_times(times: Mapping[int, float]) -> list[int]:
    """The counts of `times`, ascending, each a whole number ≥ 1 with a positive finite time."""
    if not isinstance(times, Mapping) or not times:
        raise TypeError(
            f"times must be a non-empty dict {{new tokens: seconds}}, such as speculative.forward_times(model, ids) "
            f"returns; got {type(times).__name__}"
        )
    counts = sorted(checks.whole_number(c, "a count of new tokens in times", minimum=1) for c in times)
    for count in counts:
        seconds = times[count]
        if not (isinstance(seconds, (int, float, np.floating)) and np.isfinite(seconds) and seconds > 0):
            raise ValueError(f"times[{count}] = {seconds!r} must be a positive number of seconds")
    return counts


# -- the rule ---------------------------------------------------------------------------------------


def rule_figure(p, q, labels: Sequence[str], drafted: int | str, *, title: str | None = None) -> StaticFigure:
    """The accept / reject rule on a small vocabulary: p (the model) and q (the draft) side by side,
    the chance of keeping each token if the draft proposed it, min(1, p/q), and what a rejection
    draws from instead, norm(max(0, p − q)). Both come from ``speculative.RULE``, the rule the
    course's speculation runs.

    ``labels`` name the tokens; ``drafted`` is the token the draft proposed (its index in
    ``labels`` or its label), marked in every panel.
    """
    p, q = _distribution(p, "p"), _distribution(q, "q")
    if not len(p) == len(q) == len(labels):
        raise ValueError(
            f"p, q and labels must have one entry per token; got {len(p)}, {len(q)} and {len(labels)}"
        )
    at = _token_index(drafted, labels)
    if q[at] == 0:
        raise ValueError(f"drafted={drafted!r} has q = 0: the draft cannot have proposed it; pick a token with q > 0")
    acceptance = np.array([RULE.acceptance(pi, qi) if qi > 0 else np.nan for pi, qi in zip(p, q)])
    rejectable = bool(np.any(q > p))
    residual = RULE.residual(p, q) if rejectable else np.zeros_like(p)
    shown = [token_label(str(label)) for label in labels]
    x = np.arange(len(p))

    figure = new_figure(900, 380)
    axes = figure.subplots(1, 3, gridspec_kw={"left": 0.07, "right": 0.985, "bottom": 0.2, "top": 0.8,
                                              "wspace": 0.3})
    ax = axes[0]
    ax.bar(x - 0.2, p, width=0.4, color=ROLE["bar"], label="p: the model")
    ax.bar(x + 0.2, q, width=0.4, color=ROLE["curve"], label="q: the draft")
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1.15 * max(float(p.max()), float(q.max())))
    ax.set_title("the two distributions", fontsize=10)
    ax.legend(loc="upper right", fontsize=9, frameon=False)
    ax = axes[1]
    ax.bar(x, np.nan_to_num(acceptance), width=0.6, color=ROLE["second_curve"])
    ax.set_ylabel("chance of keeping it, min(1, p/q)")
    ax.set_ylim(0, 1.08)
    ax.set_title("if the draft proposes this token", fontsize=10)
    ax = axes[2]
    ax.bar(x, residual, width=0.6, color=ROLE["chosen"])
    ax.set_ylabel("probability, norm(max(0, p − q))")
    ax.set_ylim(0, 1.15 * max(float(residual.max()), 0.05))
    ax.set_title("after a rejection, draw from", fontsize=10)
    if not rejectable:
        ax.text(0.5, 0.5, "q never exceeds p:\nno draft is ever rejected", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color=ROLE["text"])
    for ax in axes:
        ax.set_xticks(x, shown, fontsize=9, rotation=30, ha="right", rotation_mode="anchor")
        ax.get_xticklabels()[at].set_fontweight("bold")
        ax.axvspan(at - 0.45, at + 0.45, color=OKABE_ITO["yellow"], alpha=0.3, lw=0, zorder=0)
        ax.set_xlabel("token (the drafted one shaded)")
        _plain_axes(ax)
    if title is None:
        title = "Keep a drafted token with chance min(1, p/q); on a rejection, draw where p has more than q"
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    return StaticFigure(figure, f"rule_figure({len(p)} tokens, drafted {shown[at]})")


def _distribution(values, name: str) -> np.ndarray:
    """`values` as a probability distribution (non-negative, summing to 1), or a ValueError naming `name`."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size < 2 or not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be a 1-D sequence of at least two probabilities (finite, ≥ 0); got {values!r}")
    if not np.isclose(array.sum(), 1.0, atol=1e-6):
        raise ValueError(f"{name} must sum to 1 (a distribution over the tokens shown); it sums to {array.sum():.6g}")
    return array


def _token_index(token: int | str, labels: Sequence[str]) -> int:
    """The index of `token` in `labels`: an index as given, or a label looked up."""
    if isinstance(token, str):
        if token not in labels:
            raise ValueError(f"drafted={token!r} is not one of the labels: {', '.join(map(repr, labels))}")
        return list(labels).index(token)
    return checks.whole_number(token, "drafted", minimum=0, maximum=len(labels) - 1,
                               hint="It is the index in labels of the token the draft proposed.")


# -- the same distribution -------------------------------------------------------------------------


def first_token_histogram_figure(
    labels: Sequence[str],
    plain_counts: Sequence[int],
    speculative_counts: Sequence[int],
    p,
    *,
    title: str = "Same distribution: plain and speculative draws both follow p",
) -> StaticFigure:
    """How often each token came first in many seeded draws, plain sampling next to speculative
    decoding, with the model's exact probability p of each marked.

    The counts are over the tokens of ``labels`` (add an "others" label with its count and p to
    account for every draw); each side's shares are its counts over their sum.
    """
    p = np.asarray(p, dtype=float)
    plain, fast = _counts(plain_counts, "plain_counts"), _counts(speculative_counts, "speculative_counts")
    if not len(labels) == len(plain) == len(fast) == len(p):
        raise ValueError(
            f"labels, plain_counts, speculative_counts and p need one entry per token; got "
            f"{len(labels)}, {len(plain)}, {len(fast)} and {len(p)}"
        )
    x = np.arange(len(p))
    figure = new_figure(800, 360)
    ax = figure.add_axes([0.09, 0.2, 0.62, 0.66])
    ax.bar(x - 0.2, plain / plain.sum(), width=0.4, color=ROLE["bar"], label=f"plain sampling ({plain.sum():,} draws)")
    ax.bar(x + 0.2, fast / fast.sum(), width=0.4, color=ROLE["curve"],
           label=f"speculative ({fast.sum():,} draws)")
    ax.hlines(p, x - 0.42, x + 0.42, color=ROLE["threshold"], lw=2.5, label="the model's exact p")
    ax.set_xticks(x, [token_label(str(label)) for label in labels], fontsize=9, rotation=30, ha="right",
                  rotation_mode="anchor")
    ax.set_ylim(0, 1.15 * max(float(p.max()), float((plain / plain.sum()).max()), float((fast / fast.sum()).max())))
    ax.set_xlabel("first generated token")
    ax.set_ylabel("share of draws")
    _finish_with_side_legend(figure, ax, title)
    return StaticFigure(
        figure,
        f"first_token_histogram_figure({len(p)} tokens, {plain.sum():,} plain and {fast.sum():,} speculative draws)",
    )


def _counts(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer) or np.any(array < 0) \
            or array.sum() == 0:
        raise ValueError(f"{name} must be a 1-D sequence of whole counts ≥ 0, not all zero; got {values!r}")
    return array.astype(np.int64)


# -- what prompt lookup gains ------------------------------------------------------------------------


def speedup_figure(
    gammas: Sequence[int],
    tokens_per_check: Mapping[str, Sequence[float]],
    formula_tokens: Mapping[str, Sequence[float]],
    speedups: Mapping[str, Sequence[float]] | None = None,
    *,
    title: str = "More drafted tokens per check pay off only as far as the draft keeps being right",
) -> StaticFigure:
    """Tokens per check measured (solid) against Leviathan's (1 − α^(γ+1)) / (1 − α) with the measured
    α (dashed), over the draft length γ, one colour per task; with ``speedups``, the measured speed-up
    over plain decoding on a second axis (dotted).

    Each mapping is task name -> one value per γ of ``gammas``; ``formula_tokens`` and ``speedups``
    name the same tasks as ``tokens_per_check``.
    """
    gammas = [checks.whole_number(g, "each of gammas", minimum=1) for g in gammas]
    if not gammas:
        raise ValueError("gammas needs at least one draft length, such as (1, 2, 4, 8)")
    series = {"tokens_per_check": tokens_per_check, "formula_tokens": formula_tokens}
    if speedups is not None:
        series["speedups"] = speedups
    for name, values in series.items():
        _check_series(name, values, list(tokens_per_check), len(gammas))
    figure = new_figure(820, 380)
    ax = figure.add_axes([0.08, 0.15, 0.56 if speedups else 0.62, 0.7])
    for (task, measured), color in zip(tokens_per_check.items(), _SERIES_COLORS):
        ax.plot(gammas, measured, "o-", color=color, lw=2, ms=6, label=f"{task}: measured")
        ax.plot(gammas, formula_tokens[task], "--", color=color, lw=1.5, label=f"{task}: formula with its α")
    ax.plot(gammas, np.array(gammas) + 1.0, ":", color=ROLE["removed"], lw=1.5, label="γ + 1: every draft kept")
    ax.set_xticks(gammas)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("γ: tokens drafted per check")
    ax.set_ylabel("tokens per check (per forward pass)")
    if speedups:
        twin = figure.add_axes(ax.get_position(), sharex=ax, frameon=False)
        twin.yaxis.tick_right()
        twin.yaxis.set_label_position("right")
        twin.xaxis.set_visible(False)
        for (task, values), color in zip(speedups.items(), _SERIES_COLORS):
            twin.plot(gammas, values, "s:", color=color, lw=1.5, ms=5)
            ax.plot([], [], "s:", color=color, lw=1.5, ms=5, label=f"{task}: speed-up (right axis)")
        twin.set_ylim(bottom=0)
        twin.set_ylabel("measured speed-up over plain decoding (×, dotted)")
        for side in ("top", "left"):
            twin.spines[side].set_visible(False)
    _finish_with_side_legend(figure, ax, title)
    if speedups:
        ax.legend(loc="upper left", bbox_to_anchor=(1.12, 1.0), fontsize=9.5, frameon=False)
    described = f"γ = {', '.join(map(str, gammas))}; {', '.join(tokens_per_check)}"
    return StaticFigure(figure, f"speedup_figure({described}{'; with speed-ups' if speedups else ''})")


def _check_series(name: str, values, tasks: list[str], length: int) -> None:
    """`values` must be a dict naming exactly `tasks`, each with `length` numbers."""
    if not isinstance(values, Mapping) or not values:
        raise TypeError(f"{name} must be a non-empty dict {{task name: one value per γ}}; got {type(values).__name__}")
    if list(values) != tasks:
        raise ValueError(f"{name} names the tasks {list(values)}; it must name those of tokens_per_check, {tasks}")
    for task, row in values.items():
        if len(row) != length:
            raise ValueError(f"{name}[{task!r}] has {len(row)} values for {length} draft lengths (gammas)")
