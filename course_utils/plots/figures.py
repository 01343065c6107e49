"""Static lesson figures, in lesson order: finished pictures a notebook cell shows once.

Each builder takes numbers a lesson computed and returns a :class:`StaticFigure`, which displays
as a PNG and as a stable one-line description (strict nbval compares the description).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from course_utils import checks
from course_utils.plots.rendering import OKABE_ITO, ROLE, figure_to_png, new_figure, token_label


class StaticFigure:
    """A finished, non-interactive figure for a notebook cell.

    Displays as PNG (``_repr_png_``) and as a stable one-line text (its description), so a cell
    that shows it passes strict nbval: nbval skips PNGs and compares the text.
    """

    def __init__(self, figure: Figure, description: str):
        self.figure = figure
        self.description = description

    def _repr_png_(self) -> bytes:
        return figure_to_png(self.figure)

    def __repr__(self) -> str:
        return self.description


# -- lesson 01: the shape of a real model's logits ---------------------------------------------


def logit_histogram_figure(
    logits,
    *,
    bins: int = 60,
    top_label: str | None = None,
    title: str | None = None,
) -> StaticFigure:
    """Histogram of one step's logits (every vocabulary entry), count axis on a log scale.

    ``logits`` is the model's full 1-D logit vector for one position; ``bins`` equal-width bins
    span its range. A dashed line marks the largest logit, labelled with ``top_label`` (the top
    token's text, already passed through :func:`token_label`) when given. The count axis is
    logarithmic because the tail that matters holds a handful of tokens beside a hump of
    thousands: on a linear axis it would not show at all. The default title states that
    takeaway with the vocabulary size read from ``logits``.
    """
    values = np.asarray(logits, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"logits must be a non-empty 1-D array (one logit per vocabulary token), got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            "logits must be finite to be binned; this one has NaN or ±inf entries "
            "(plot the model's raw logits, before any top-k / top-p masking)"
        )
    bins = checks.whole_number(bins, "bins", minimum=1)
    counts, edges = np.histogram(values, bins=bins)
    top = float(values.max())

    figure = new_figure(760, 330)
    ax = figure.add_axes([0.09, 0.15, 0.88, 0.70])
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=ROLE["bar"], edgecolor="white", lw=0.3)
    ax.set_yscale("log")
    ax.set_ylim(0.7, 2.5 * counts.max())
    ax.set_xlim(edges[0] - 0.5, edges[-1] + 0.04 * (edges[-1] - edges[0]))
    ax.axvline(top, color=ROLE["chosen"], ls="--", lw=1.2)
    marker = f"top token {top_label}: {top:.1f}" if top_label else f"top logit: {top:.1f}"
    ax.text(top, 1.5 * counts.max(), marker + " ", ha="right", va="top", fontsize=9, color=ROLE["chosen"])
    ax.set_xlabel("logit")
    ax.set_ylabel("number of tokens (log scale)")
    _plain_axes(ax)
    ax.set_axisbelow(True)
    ax.grid(True, axis="y", lw=0.4, alpha=0.5)
    if title is None:
        title = f"Almost all of the {values.size:,} logits sit in a broad hump, far below the few top tokens"
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    return StaticFigure(figure, f"logit_histogram_figure({values.size:,} logits in {len(counts)} bins)")


# -- lesson 03: sampling converges to the probabilities --------------------------------------


def sampling_convergence_figure(
    probs,
    counts: dict[int, Sequence[int]],
    token_text,
    *,
    top: int = 8,
    title: str = "The more tokens you draw, the closer their frequencies get to the probabilities",
) -> StaticFigure:
    """Empirical frequencies of N seeded draws next to the true probabilities, one panel per N.

    ``probs`` is the full next-token distribution; ``counts`` maps a number of draws N to the
    per-token counts of those draws (``np.bincount(draws, minlength=len(probs))``);
    ``token_text(i)`` gives token i's text. Each panel shows the ``top`` most likely tokens plus
    one bar for all other tokens together: a filled bar for the observed frequency and a black
    tick for the probability. The panel title gives the total variation distance between the
    two, over those ``top + 1`` groups.
    """
    probs = np.asarray(probs, dtype=float)
    sizes = sorted(counts)
    if not sizes:
        raise ValueError("counts is empty; pass at least one {N: counts} entry")
    for n in sizes:
        if len(counts[n]) != len(probs) or int(np.sum(counts[n])) != n:
            raise ValueError(
                f"counts[{n}] must hold one count per token ({len(probs)}) summing to {n}; "
                "use np.bincount(draws, minlength=len(probs))"
            )
    best = np.argsort(-probs, kind="stable")[:top]
    labels = [token_label(token_text(int(i))) for i in best] + ["all others"]
    truth = np.append(probs[best], 1.0 - probs[best].sum())
    freqs = {}
    for n in sizes:
        c = np.asarray(counts[n], dtype=float)
        freqs[n] = np.append(c[best], n - c[best].sum()) / n
    positions = np.arange(len(labels))

    figure = new_figure(190 * len(sizes) + 90, 350)
    axes = np.atleast_1d(figure.subplots(1, len(sizes), sharey=True))
    high = 1.05 * max(truth.max(), max(f.max() for f in freqs.values()))
    for ax, n in zip(axes, sizes):
        distance = 0.5 * np.abs(freqs[n] - truth).sum()
        bars = ax.barh(positions, freqs[n], height=0.7, color=ROLE["bar"])
        (ticks,) = ax.plot(truth, positions, "|", color=ROLE["threshold"], ms=14, mew=2)
        ax.set_title(f"N = {n:,}: distance {distance:.3f}", fontsize=10)
        ax.set_xlim(0, high)
        ax.set_xlabel("share of draws")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_yticks(positions, labels, fontsize=9)
    axes[0].set_ylim(len(labels) - 0.5, -0.5)
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    # The legend sits under the panels: at the top it ran into a long title.
    figure.legend(
        [bars, ticks], ["frequency in the N draws", "probability"],
        loc="lower center", ncol=2, fontsize=9, frameon=False,
    )
    figure.tight_layout(rect=(0, 0.07, 1, 0.93))
    return StaticFigure(figure, f"sampling_convergence_figure(N = {', '.join(f'{n:,}' for n in sizes)})")


def chain_stages_figure(chains: dict, token_text, *, top: int = 8) -> StaticFigure:
    """The distribution after every stage of the sampling chain, one row per chain order.

    ``chains`` maps a row title (e.g. ``order="transformers"``) to the list of
    ``sampling.sampling_stages(...)`` for the same logits. Every panel shows the same ``top`` tokens
    (the most likely at the input) with their probability after that stage: blue while a token is
    kept, a grey stub once a stage has removed it. A panel's title names the stage and how many of
    the vocabulary's tokens it still keeps.
    """
    rows = list(chains.values())
    if not rows or any(not stages for stages in rows):
        raise ValueError("chains must map each order to a non-empty list of sampling_stages(...)")
    top = checks.whole_number(top, "top", minimum=1, maximum=20)
    inputs = rows[0][0].probs
    shown = np.argsort(-inputs, kind="stable")[:top]
    labels = [token_label(token_text(int(i)), max_chars=8) for i in shown]
    n_cols = max(len(stages) for stages in rows)
    figure = new_figure(150 * n_cols + 60, 190 * len(rows) + 70)
    axes = np.atleast_2d(figure.subplots(len(rows), n_cols, sharey=True, squeeze=False))
    high = 1.05 * max(float(stage.probs[shown].max()) for stages in rows for stage in stages)
    positions = np.arange(top)
    for r, (title, stages) in enumerate(chains.items()):
        for c, ax in enumerate(axes[r]):
            if c >= len(stages):
                ax.set_visible(False)
                continue
            probs = stages[c].probs[shown]
            kept = probs > 0
            ax.bar(positions, np.where(kept, probs, 0.012 * high), color=[ROLE["kept"] if k else ROLE["removed"] for k in kept])
            ax.set_title(f"{stages[c].label}\nkeeps {int(np.count_nonzero(stages[c].probs)):,}", fontsize=8.5)
            ax.set_ylim(0, high)
            ax.set_xticks(positions, labels, rotation=70, fontsize=7.5)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        axes[r][0].set_ylabel(f"{title}\nprobability", fontsize=9)
    figure.suptitle("Stage by stage: where the chain cuts, and what temperature does to the survivors",
                    fontsize=11, x=0.01, ha="left")
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    return StaticFigure(figure, f"chain_stages_figure({', '.join(chains)})")


# -- lesson 05: greedy's loop, the Holtzman replication -------------------------------------


def _finish_with_side_legend(figure, ax, title: str) -> None:
    """A light grid, plain axes, the legend outside on the right, and the takeaway as the title."""
    ax.grid(True, lw=0.4, alpha=0.5)
    _plain_axes(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9.5, frameon=False)
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")


def _plain_axes(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def loop_probability_figure(
    probs: Sequence[float],
    loop_start: int | None,
    period: int | None = None,
    *,
    title: str = "Greedy decoding: once the loop starts, the model grows more and more sure of it",
) -> StaticFigure:
    """The probability each generated token had, step by step, with a repeating loop shaded.

    ``probs[i]`` is the probability of the i-th generated token under the model (T = 1);
    ``loop_start`` is the index of the loop's first token (None: no loop), ``period`` its
    length in tokens, drawn as alternating bands so each repeat is visible.
    """
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 1 or probs.size == 0:
        raise ValueError(f"probs must be a non-empty 1-D sequence of probabilities, got shape {probs.shape}")
    if loop_start is not None and not 0 <= loop_start < probs.size:
        raise ValueError(f"loop_start must be None or an index into probs (0 to {probs.size - 1}), got {loop_start}")
    figure = new_figure(760, 300)
    ax = figure.add_axes([0.08, 0.16, 0.9, 0.68])
    steps = np.arange(1, probs.size + 1)
    if loop_start is not None:
        width = period or (probs.size - loop_start)
        for n, start in enumerate(range(loop_start, probs.size, width)):
            ax.axvspan(start + 0.5, min(start + width, probs.size) + 0.5, color=OKABE_ITO["orange"],
                       alpha=0.28 if n % 2 == 0 else 0.14, lw=0)
    ax.plot(steps, probs, "o-", color=ROLE["bar"], ms=3.5, lw=1.2, label="probability of the chosen token")
    ax.set_xlim(0.5, probs.size + 0.5)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("generated token (step)")
    ax.set_ylabel("probability (T = 1)")
    _plain_axes(ax)
    if loop_start is not None:
        ax.text(loop_start + 1, 1.02, "repeating loop (one band per repeat)", fontsize=9,
                color="#7A5200", va="bottom")
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    description = f"loop_probability_figure({probs.size} steps, loop from step {None if loop_start is None else loop_start + 1})"
    return StaticFigure(figure, description)


def _label_bars(ax, rows, values, paper_at: dict) -> None:
    """Each bar's value at its end, or just past the paper's diamond when that sits on the label."""
    to_axes = lambda x: ax.transAxes.inverted().transform(ax.transData.transform((x, 0)))[0]  # noqa: E731
    for r, v in zip(rows, values):
        diamond = paper_at.get(r)
        on_label = diamond is not None and 0 <= to_axes(diamond) - to_axes(v) < 0.12
        ax.annotate(f"{v:.3g}", (diamond if on_label else v, r), xytext=(7, 0), textcoords="offset points",
                    va="center", fontsize=8.5, color=ROLE["text"])


def replication_figure(
    labels: Sequence[str],
    repetition_pct: Sequence[float],
    perplexity: Sequence[float],
    distinct_2: Sequence[float],
    paper_repetition_pct: Sequence[float | None],
    paper_perplexity: Sequence[float | None],
    *,
    title: str = "Same shape as the paper: greedy loops, pure sampling wanders, top-p sits between",
) -> StaticFigure:
    """Our measurements per decoding method (bars) beside the paper's numbers (black diamonds).

    One row per method in every panel: repetition %, perplexity (log scale), distinct-2.
    ``paper_*`` hold None where the paper has no number for that method. Perplexity is each
    model's own (SmolLM2's here, GPT-2 Large's in the paper): compare the order of the rows, not
    the values. The paper's human-text perplexity is not drawn, for the same reason.
    """
    n = len(labels)
    columns = (repetition_pct, perplexity, distinct_2, paper_repetition_pct, paper_perplexity)
    if n == 0 or any(len(c) != n for c in columns):
        raise ValueError(f"labels and every metric need one value per method; got {n} labels and lengths {[len(c) for c in columns]}")
    rows = np.arange(n)
    figure = new_figure(980, 80 + 34 * n + 90)
    axes = figure.subplots(1, 3, sharey=True, gridspec_kw={"wspace": 0.08})
    panels = (
        (axes[0], repetition_pct, paper_repetition_pct, "generations ending in a loop (%)", False),
        (axes[1], perplexity, paper_perplexity, "perplexity (model's own, log scale)", True),
        (axes[2], distinct_2, [None] * n, "distinct-2 (share of unique bigrams)", False),
    )
    for ax, ours, paper, xlabel, log in panels:
        values = np.asarray(ours, dtype=float)
        ax.barh(rows, values, height=0.62, color=ROLE["bar"], label="SmolLM2-135M (this course)")
        marked = [(r, v) for r, v in zip(rows, paper) if v is not None]
        if marked:
            ax.plot([v for _, v in marked], [r for r, _ in marked], "D", color=ROLE["threshold"], ms=7,
                    label="GPT-2 Large (Holtzman et al., 2020)")
        if log:
            ax.set_xscale("log")
            ax.set_xlim(0.9, 2.5 * max(values.max(), max((v for _, v in marked), default=1)))
        else:
            high = max(values.max(), max((v for _, v in marked), default=0))
            ax.set_xlim(0, 1.22 * high if high > 0 else 1)
        _label_bars(ax, rows, values, dict(marked))
        ax.set_xlabel(xlabel, fontsize=9.5)
        _plain_axes(ax)
    axes[0].set_yticks(rows, list(labels), fontsize=9.5)
    axes[0].set_ylim(n - 0.5, -0.5)
    handles, names = [], []
    for ax in axes[:2]:
        for h, name in zip(*ax.get_legend_handles_labels()):
            if name not in names:
                handles.append(h)
                names.append(name)
    figure.legend(handles, names, loc="lower center", ncol=3, fontsize=9, frameon=False)
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    figure.subplots_adjust(left=0.2, right=0.97, top=1 - 45 / figure.bbox.height, bottom=95 / figure.bbox.height)
    return StaticFigure(figure, f"replication_figure({n} methods: {', '.join(labels)})")


# -- lesson 07: where two machines part ----------------------------------------------------------


def draw_margins_figure(
    margins: Sequence[float],
    closest: int,
    *,
    machines_differ_by: float,
    bfloat16_rounding: float,
    title: str = "Only a near-tie lets the last digits decide: one close draw among many clear ones",
) -> StaticFigure:
    """Each draw's margin (in logits, log scale), the closest draw highlighted, with two lines for
    comparison: how much two CPUs' logits differ, and how much bfloat16 rounds a logit.

    ``margins[i]`` is step i's `GenerationStep.margin` (a finite number > 0); ``closest`` the index
    of the smallest (`reproducibility.weakest_draw`). A draw flips on a machine whose logits differ
    by more than its margin, so bars above a line are safe from that difference.
    """
    margins = np.asarray(margins, dtype=float)
    if margins.ndim != 1 or margins.size == 0 or not np.all(np.isfinite(margins) & (margins > 0)):
        raise ValueError(f"margins must be a non-empty 1-D sequence of finite margins > 0, got {margins!r}")
    closest = checks.whole_number(closest, "closest", minimum=0, maximum=margins.size - 1)
    figure = new_figure(760, 300)
    ax = figure.add_axes([0.09, 0.16, 0.64, 0.7])
    steps = np.arange(1, margins.size + 1)
    colours = [ROLE["chosen"] if i == closest else ROLE["bar"] for i in range(margins.size)]
    ax.bar(steps, margins, color=colours, width=0.8)
    lines = (
        (bfloat16_rounding, OKABE_ITO["orange"], "bfloat16 rounds a logit\nby up to this much"),
        (machines_differ_by, ROLE["threshold"], "two CPUs' logits differ\nby about this much"),
    )
    for level, colour, label in lines:
        ax.axhline(level, color=colour, ls="--", lw=1.2)
        ax.annotate(label, (1.01, level), xycoords=("axes fraction", "data"), va="center", fontsize=9, color=colour)
    ax.set_yscale("log")
    ax.set_ylim(min(margins.min(), machines_differ_by) / 3, margins.max() * 3)
    ax.set_xlim(0.4, margins.size + 0.6)
    ax.set_xlabel("generated token (step); the closest draw in red")
    ax.set_ylabel("margin of the draw (logits)")
    _plain_axes(ax)
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    return StaticFigure(figure, f"draw_margins_figure({margins.size} draws, the closest at step {closest + 1})")


def beam_walk_figure(steps, finished, token_text, *, title: str | None = None) -> StaticFigure:
    """Beam search step by step: one column per step, its running beams best first (each box: the
    beam's newest token and its summed log-probability), a line from each beam to the beam it grew
    from; then a last column with the finished hypotheses and their scores. The winner's path is red.

    ``steps`` and ``finished`` are a `beam_search.BeamSearchResult`'s ``steps`` (lists of
    (new tokens, summed log-probability)) and ``beams``; ``token_text`` shows a token id.
    """
    columns = [list(step) for step in steps if step] + [[(list(b.token_ids), b.score) for b in finished]]
    if len(columns) < 2:
        raise ValueError("a beam walk needs at least one step with running beams and the finished hypotheses")
    winner = columns[-1][0][0]
    rows = max(len(column) for column in columns)
    figure = new_figure(190 * len(columns) + 40, 70 * rows + 110)
    ax = figure.add_axes([0.01, 0.02, 0.98, 0.8])
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(rows - 0.5, -0.9)
    ax.axis("off")
    position = {}
    for x, column in enumerate(columns):
        last = x == len(columns) - 1
        ax.text(x, -0.7, "finished (score)" if last else f"step {x + 1}", ha="center", fontsize=10, color=ROLE["text"])
        for y, (tokens, value) in enumerate(column):
            on_path = winner[: len(tokens)] == tokens
            shown = token_label(token_text(tokens[-1])) if tokens else "∅"
            if last:
                shown = "…" + token_label(token_text(tokens[-1]))
            ax.text(x, y, f"{shown}\n{value:.2f}", ha="center", va="center", fontsize=10,
                    color="white" if on_path else ROLE["text"],
                    bbox=dict(boxstyle="round,pad=0.4", fc=ROLE["chosen"] if on_path else "#EEEEEE", ec="none"))
            position[(x, tuple(tokens))] = y
            parent = position.get((x - 1, tuple(tokens[:-1])))
            if x > 0 and not last and parent is not None:
                ax.plot([x - 0.62, x - 0.38], [parent, y], color=ROLE["chosen"] if on_path else "#AAAAAA", lw=1.2)
    leaders = [column[0][0] for column in columns[:-1]]
    overtaken = any(winner[: len(lead)] != lead for lead in leaders)
    figure.suptitle(title or (
        f"Beam search keeps the {rows} best partial texts at every step; "
        + ("the winner (red) was not always in the lead" if overtaken else "the winner (red) led all the way")
    ), fontsize=11, x=0.01, ha="left")
    return StaticFigure(figure, f"beam_walk_figure({len(columns) - 1} steps, {rows} beams)")


# -- lesson 08: beyond top-p ----------------------------------------------------------------------

_SERIES_COLORS = (OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["bluish_green"], OKABE_ITO["vermillion"],
                  OKABE_ITO["reddish_purple"], OKABE_ITO["sky_blue"], OKABE_ITO["black"])


def kept_over_temperature_figure(
    temperatures: Sequence[float],
    counts: dict[str, Sequence[int]],
    vocab_size: int,
    *,
    title: str = "Heat the distribution and top-p, typical and η keep thousands; min-p and top-nσ do not",
) -> StaticFigure:
    """How many tokens each sampler keeps (log scale) at each temperature, one line per sampler.

    ``counts[label][i]`` is the count at ``temperatures[i]``; the vocabulary size is drawn as a ceiling.
    """
    temperatures = np.asarray(temperatures, dtype=float)
    if temperatures.ndim != 1 or temperatures.size < 2 or not counts:
        raise ValueError("temperatures needs at least two values and counts at least one sampler")
    for label, values in counts.items():
        if len(values) != temperatures.size:
            raise ValueError(f"counts[{label!r}] has {len(values)} values for {temperatures.size} temperatures")
    figure = new_figure(760, 360)
    ax = figure.add_axes([0.1, 0.15, 0.6, 0.7])
    for (label, values), color in zip(counts.items(), _SERIES_COLORS):
        ax.plot(temperatures, values, "o-", color=color, lw=1.8, ms=5, label=label)
    ax.axhline(vocab_size, color=ROLE["removed"], ls=":", lw=1.2)
    ax.text(temperatures[0], vocab_size * 1.15, f"the whole vocabulary ({vocab_size:,})", fontsize=9,
            color=ROLE["text"], va="bottom")
    ax.set_yscale("log")
    ax.set_ylim(1, vocab_size * 3)
    ax.set_xticks(temperatures)
    ax.set_xlabel("temperature T")
    ax.set_ylabel("tokens kept (log scale)")
    _finish_with_side_legend(figure, ax, title)
    description = (f"kept_over_temperature_figure({', '.join(counts)} at T = "
                   f"{', '.join(f'{t:g}' for t in temperatures)})")
    return StaticFigure(figure, description)


def surprise_figure(
    surprises: dict[str, Sequence[float]],
    tau: float,
    *,
    title: str = "Mirostat steers each token's surprise toward τ; plain sampling lets it wander",
) -> StaticFigure:
    """The surprise (bits) of each generated token, one line per generation, with the target τ.

    Each series also gets its running mean (dashed), which is what mirostat's feedback steers.
    """
    if not surprises:
        raise ValueError("surprises needs at least one series")
    tau = checks.real_number(tau, "tau")
    figure = new_figure(780, 340)
    ax = figure.add_axes([0.08, 0.15, 0.9, 0.68])
    longest = 1
    for (label, values), color in zip(surprises.items(), _SERIES_COLORS):
        values = np.asarray(values, dtype=float)
        steps = np.arange(1, values.size + 1)
        longest = max(longest, values.size)
        ax.plot(steps, values, "o-", color=color, ms=3, lw=1, alpha=0.8, label=label)
        ax.plot(steps, np.cumsum(values) / steps, "--", color=color, lw=2, label=f"{label}: running mean")
    ax.axhline(tau, color=ROLE["threshold"], lw=1.5, ls=":", label=f"target τ = {tau:g} bits")
    ax.set_xlim(0.5, longest + 0.5)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("generated token (step)")
    ax.set_ylabel("surprise of the chosen token (bits)")
    ax.grid(True, lw=0.4, alpha=0.5)
    _plain_axes(ax)
    ax.legend(loc="upper right", fontsize=9, frameon=False, ncol=2)
    figure.suptitle(title, fontsize=11, x=0.01, ha="left")
    description = f"surprise_figure({', '.join(surprises)}; tau = {tau:g})"
    return StaticFigure(figure, description)


def high_temperature_figure(
    cells: Sequence[dict],
    *,
    title: str = "Diversity against perplexity: each line is one method, each point one temperature",
) -> StaticFigure:
    """Distinct-2 (y) against perplexity under the model (x, log scale) for each method and temperature.

    ``cells``: dicts with ``label``, ``temperature``, ``perplexity`` and ``distinct_2`` (the cells of
    ``data/high_temperature_replication.json``). Points of one method are joined in temperature order
    and labelled with their T.
    """
    methods: dict[str, list[dict]] = {}
    for cell in cells:
        methods.setdefault(cell["label"], []).append(cell)
    if not methods:
        raise ValueError("cells is empty")
    figure = new_figure(820, 420)
    ax = figure.add_axes([0.09, 0.13, 0.62, 0.74])
    for (label, points), color in zip(methods.items(), _SERIES_COLORS):
        points = sorted(points, key=lambda c: c["temperature"])
        x = [p["perplexity"] for p in points]
        y = [p["distinct_2"] for p in points]
        ax.plot(x, y, "o-", color=color, lw=1.6, ms=6, label=label)
        for p in points:
            ax.annotate(f"T={p['temperature']:g}", (p["perplexity"], p["distinct_2"]), xytext=(4, -11),
                        textcoords="offset points", fontsize=9, color=color)
    ax.set_xscale("log")
    ax.set_xlabel("perplexity under the model (log scale): further right = less like the model's own text")
    ax.set_ylabel("distinct-2 (share of unique bigrams)")
    _finish_with_side_legend(figure, ax, title)
    temperatures = sorted({c["temperature"] for c in cells})
    description = (f"high_temperature_figure({len(methods)} methods at T = "
                   f"{', '.join(f'{t:g}' for t in temperatures)})")
    return StaticFigure(figure, description)
