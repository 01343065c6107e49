"""The draw: one token from the chain's final distribution, and how close it came to another.

The draw is an exponential race (the Gumbel-max trick, as vLLM's sampler draws): every token that
top-k keeps (every token when top-k is off) gets its own exponential random number e_i, and the
token with the largest p_i / e_i wins, which happens with probability exactly p_i. Unlike
inverting the cumulative distribution, the outcome then depends only on the gap between the two
best scores log p_i - log e_i, so the last-digit differences between two machines' logits
(about 3e-5) change a draw only when that gap is that small. The draw's *margin* says how far
from that it was, in raw logits, counting the cuts of top-k, top-p and min-p too; the
reproducibility module's policy (``COURSE_MIN_MARGIN``) decides what margin is enough.
"""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import numpy as np

from course_utils.chain import Chain, Run
from course_utils.processors import History
from course_utils.processors import Temperature
from course_utils.processors.samplers import _Cut
from course_utils.processors.truncation import divide_by_temperature, softmax
from course_utils.reproducibility import check_margin, required


class Draw(NamedTuple):
    """One drawn token and how far the draw was from choosing another."""

    token: int
    # The smallest change of the logits (in logit units) that could make another token win: half
    # the gap between the winner's score and the runner-up's, or less when a cut of top-k, top-p or
    # min-p could remove the winner or bring back a token that would beat it. float("inf") when
    # only one token could be chosen; NaN where nothing asked for it (sample_next_token).
    margin: float


class Decision:
    """One step of the chain on one row: the draw, and (computed when first asked for) the final
    distribution it came from and the kept counts another machine could see."""

    def __init__(self, chain: Chain, run: Run, draw: Draw):
        self.chain, self.run, self.draw = chain, run, draw
        self.ids = run.ids  # the tokens `probs` covers (top-k's survivors); None: every token

    @cached_property
    def probs(self) -> np.ndarray:
        """The final distribution over `ids` (0 for every other token)."""
        return softmax(self.run.final)

    @cached_property
    def kept_range(self) -> tuple[int, int]:
        """The fewest and the most tokens another machine's chain could keep (`kept_range`)."""
        return kept_range(self.chain, self.run.row, self.probs, self.run)

    @property
    def prob(self) -> float:
        """The drawn token's probability in the final distribution."""
        return float(self.probs[self._where(self.draw.token)])

    @property
    def rank(self) -> int:
        """0 if the drawn token was the most likely of the final distribution, 1 if second, ..."""
        return int(np.count_nonzero(self.probs > self.prob))

    @property
    def n_kept(self) -> int:
        return int(np.count_nonzero(self.probs))

    @property
    def entropy(self) -> float:
        """Of the final distribution, in bits."""
        p = self.probs[self.probs > 0]
        return float(-(p * np.log2(p)).sum() + 0.0)

    def _where(self, token: int) -> int:
        return token if self.ids is None else int(np.searchsorted(self.ids, token))


def decide(chain: Chain, row: np.ndarray, history: History, rng: np.random.Generator, *, measure: bool = True) -> Decision:
    """Apply the chain to one row of logits once, draw once, and say how it was decided.

    Without `measure` (when nothing will read or check the margin), the margin is NaN and the work
    of measuring it is skipped: the token is the same. With XTC on, its coin comes from `rng` first
    (one number per step), then the draw's.
    """
    xtc_applies = chain.xtc.coin(rng) if chain.xtc is not None else True
    run = chain.run(chain.penalize(row[None], [history])[0] if chain.before else row, xtc_applies=xtc_applies)
    draw = race(chain, run, rng, measure)
    if measure:
        check_margin(draw.margin, f"Token {draw.token} was drawn")
    return Decision(chain, run, draw)


def race(chain: Chain, run: Run, rng: np.random.Generator, measure: bool) -> Draw:
    """The draw from the chain's `run` on one row; its margin is in raw logits (a penalty p moves a
    logit by up to max(p, 1/p) times as much)."""
    token, distance = _race(chain, run, rng, measure)
    return Draw(token, distance / chain.slope)


def _race(chain: Chain, run: Run, rng, measure: bool) -> tuple[int, float]:
    c, x, stages = chain.config, run.penalized, run.stages
    t = c.temperature
    cuts = sampler_cuts(chain, run)
    if t == 0.0 and cuts:  # greedy after cuts that may remove the largest logit (typical, XTC)
        return _greedy_after_cuts(run, cuts, measure)
    if t == 0.0:  # greedy: the largest logit, whatever the cuts (they all keep it)
        row = run.row.astype(np.float64)
        return int(np.argmax(row)), (_half_gap(row) if measure else float("nan"))
    kept = np.isfinite(_last_cut(stages))
    # Every token top-k kept enters, each with its own exponential (so which tokens enter is
    # decided at top-k's cut: `run.top_k_gap`).
    log_e = np.log(rng.standard_exponential(len(x)))
    # Each kept token's score log p_i - log e_i is logit / T - log e_i up to a constant shared by
    # all: the highest wins, and a logit change of d moves a score by d / T. (Written this way, a
    # score never underflows to -inf as log p_i can.)
    with np.errstate(over="ignore"):
        scores = (stages["temperature"] if c.order == "transformers" else divide_by_temperature(x, t)) - log_e
    entrants = np.flatnonzero(kept)  # a removed token has p = 0 and never wins
    winner = int(entrants[np.argmax(scores[entrants])])
    token = int(winner if run.ids is None else run.ids[winner])
    if not measure:
        return token, float("nan")
    distance = min(_half_gap(scores[entrants]) * t, run.top_k_gap)
    distance = _top_p_min_p_cut(chain, stages, kept, scores, winner, distance)
    return token, _sampler_cut(cuts, kept, scores, winner, t, distance)


def sampler_cuts(chain: Chain, run: Run) -> list[np.ndarray]:
    """For each cut of `processors.samplers` in the chain (typical, epsilon, eta, top-nσ, XTC,
    mirostat): per token of the run, how far (in raw logits, before the penalties' slope) its side
    of that cut is. Cuts behind a temperature of 0 leave one token whatever they do: none."""
    cuts, seen, unit = [], run.penalized, 1.0
    for processor in chain.truncation:
        if isinstance(processor, Temperature):
            unit = processor.temperature
        elif isinstance(processor, _Cut) and unit > 0:
            applies = {"applies": run.xtc_applied} if processor is chain.xtc else {}
            cuts.append(processor.cut_distance(seen, **applies) * unit)
        seen = run.stages[processor.name]
    return cuts


def _sampler_cut(cuts: list[np.ndarray], kept: np.ndarray, scores: np.ndarray, winner: int, t: float,
                 bound: float) -> float:
    """How far (raw logits) the samplers' cuts are from changing who wins the race, when less than
    `bound`: the winner crossing a cut, or a removed token crossing back while it could also catch
    up with the winner (half its score's gap behind, T (score_w - score_j) / 2)."""
    if not cuts:
        return bound
    removed = np.flatnonzero(~kept & np.isfinite(scores))
    behind = np.maximum(t * (scores[winner] - scores[removed]) / 2, 0.0)
    margin = bound
    for d in cuts:
        margin = min(margin, float(d[winner]), float(np.min(np.maximum(behind, d[removed]), initial=np.inf)))
    return margin


def _greedy_after_cuts(run: Run, cuts: list[np.ndarray], measure: bool) -> tuple[int, float]:
    """Greedy decoding where a cut before temperature (llama.cpp's order) may remove the largest
    logit: the largest of those the cuts keep, by half its gap to the next kept, or less when a cut
    could change which it is."""
    kept = np.isfinite(_last_cut(run.stages))
    kept_logits = np.where(kept, run.penalized, -np.inf)
    winner = int(np.argmax(kept_logits))
    token = winner if run.ids is None else int(run.ids[winner])
    if not measure:
        return token, float("nan")
    scores = run.penalized.astype(np.float64)
    return token, _sampler_cut(cuts, kept, scores, winner, 1.0, _half_gap(kept_logits))


def _last_cut(stages: dict) -> np.ndarray:
    """The logits after the last cut of either order (temperature may come after it)."""
    return stages[[name for name in stages if name != "temperature"][-1]]


def _top_p_min_p_cut(chain: Chain, stages: dict, kept: np.ndarray, scores: np.ndarray, winner: int,
                     bound: float) -> float:
    """How far (raw logits) top-p's and min-p's cuts are from changing who wins the race, when it
    is less than `bound` (the margin so far): `bound` otherwise.

    Two kinds of token matter. The winner, if a cut could remove it. And a removed token j that a
    change of the logits could both bring back across the cut and lift above the winner: that takes
    its distance from the cut, and at least half its score's gap below the winner's (`scores`:
    x_i / T - log e_i, so that is T (score_w - score_j) / 2 in logits). The distance from a cut is
    the smallest change d of the logits (the token's one way, every other token's the other way)
    that moves the token across it. Removed tokens are looked at nearest first, and only while they
    could still lower the margin.
    """
    c = chain.config
    if c.top_p >= 1.0 and c.min_p == 0.0:
        return bound
    unit, keep = chain.filter_unit, c.min_tokens_to_keep
    names = list(stages)
    before = stages[names[names.index("top_p") - 1]]  # what top-p sees (min-p sees what top-p keeps)
    q = softmax(before) if c.top_p < 1.0 else None  # what top-p measures its masses in
    best, second = _largest(before, 2) if c.min_p > 0.0 else (None, None)
    # Both cuts keep the min_tokens_to_keep most likely whatever the rest: a top-k of their own.
    keep_cuts = [] if keep == 1 else [
        (kth - next_one) / 2 for kth, next_one in
        (_largest(stages[name], keep + 1)[-2:] for name in ("top_k", "top_p"))
        if np.isfinite(next_one)
    ]

    def distance_from_cut(token: int, kept: bool, limit: float) -> float:
        d = min([limit / unit, *keep_cuts])  # the cuts that keep the min_tokens_to_keep most likely
        if c.top_p < 1.0 and (kept or not np.isfinite(stages["top_p"][token])):
            move = _top_p_removal if kept else _top_p_inclusion
            d = min(d, move(before, q, c.top_p, token, keep, d))
        if c.min_p > 0.0 and np.isfinite(stages["top_p"][token]):
            # A token stays while it is within log(min_p) of the best of the others: of all those
            # top-k kept, since a change that brings one back past top-p's cut can make it the best.
            best_other = second if before[token] == best else best
            d = min(d, abs(stages["top_p"][token] - best_other - np.log(c.min_p)) / 2)
        return d * unit

    margin = distance_from_cut(winner, kept=True, limit=bound)
    # Removed tokens whose score is within 2 margin / T of the winner's: only they could beat it
    # within the margin.
    removed = np.flatnonzero((scores > scores[winner] - 2 * margin / c.temperature) & ~kept)
    behind = np.maximum(c.temperature * (scores[winner] - scores[removed]) / 2, 0.0)  # raw logits to catch up
    for token, lag in sorted(zip(removed.tolist(), behind.tolist()), key=lambda pair: pair[1]):
        if lag >= margin:
            break
        margin = min(margin, max(lag, distance_from_cut(token, kept=False, limit=margin)))
    return margin


def _largest(z: np.ndarray, n: int) -> np.ndarray:
    """The n largest values of z, largest first (padded with -inf)."""
    if n == 2:  # the common case, in two passes instead of a partition
        top = int(np.argmax(z))
        return np.array([z[top], max(z[:top].max(initial=-np.inf), z[top + 1 :].max(initial=-np.inf))])
    if len(z) < n:
        z = np.concatenate([z, np.full(n - len(z), -np.inf)])
    return -np.sort(-np.partition(z, len(z) - n)[-n:])


def _top_p_removal(z: np.ndarray, q: np.ndarray, p: float, token: int, keep: int, limit: float) -> float:
    """The smallest d below `limit` (else `limit`) such that moving the logits (`z`, probabilities
    `q`) by at most d makes top-p remove `token`: it goes down by d, the tokens ranked above it and
    those that overtake it (at d = half their gap) go up, the rest go down, until the mass ranked
    above it reaches p (with at least `keep` tokens above it: top-p never removes the `keep` most
    likely)."""
    above = z > z[token]
    base, n_above = q[above].sum(), int(np.count_nonzero(above))
    below_total = q[~above].sum()  # summed, not 1 - base: a mass near 1 would round away what is left
    # Only the tokens that could overtake it before `limit`.
    near = np.flatnonzero(~above & (z > z[token] - 2 * limit) & (q > 0))
    near = near[near != token]
    gaps = (z[token] - z[near]) / 2  # the d at which each overtakes this one
    order = np.argsort(gaps, kind="stable")
    at = np.concatenate([[0.0], gaps[order]])
    overtaken = np.concatenate([[0.0], np.cumsum(q[near][order])])
    rising = base + overtaken
    falling = np.maximum(below_total - overtaken, q[token])  # this token and those still below it
    # rising e^d / (rising e^d + falling e^-d) >= p  <=>  e^(2d) >= p falling / ((1 - p) rising)
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.maximum(0.5 * np.log(p * falling / ((1 - p) * rising)), 0.0)
    needed = np.where((rising > 0) & (n_above + np.arange(len(at)) >= keep), needed, np.inf)
    return float(min(limit, np.min(np.maximum(at, needed))))


def _top_p_inclusion(z: np.ndarray, q: np.ndarray, p: float, token: int, keep: int, limit: float) -> float:
    """The smallest d below `limit` (else `limit`) such that moving the logits (`z`, probabilities
    `q`) by at most d makes top-p keep `token`: it and the tokens below it go up by d, the tokens
    above it down (those it overtakes, at d = half their gap, stop counting as above) until the
    mass ranked above it falls below p, or it ranks among the `keep` most likely."""
    above = z > z[token]
    total_above, n_above = q[above].sum(), int(np.count_nonzero(above))
    rest = q[~above].sum()  # this token and those below it; summed: 1 - total_above could round to 0
    near = np.flatnonzero(above & (z < z[token] + 2 * limit))  # those it could overtake before `limit`
    gaps = (z[near] - z[token]) / 2
    order = np.argsort(gaps, kind="stable")
    at = np.concatenate([[0.0], gaps[order]])
    overtaken = np.concatenate([[0.0], np.cumsum(q[near][order])])
    still_above = total_above - overtaken
    # a e^-d / (a e^-d + o e^-d + r e^d) < p  <=>  e^(2d) > (a - p (a + o)) / (p r)
    excess = still_above - p * (still_above + overtaken)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        needed = np.where(excess > 0, np.maximum(0.5 * np.log(excess / (p * rest)), 0.0), 0.0)
    needed = np.where(n_above - np.arange(len(at)) < keep, 0.0, needed)
    return float(min(limit, np.min(np.maximum(at, needed))))


def _half_gap(scores: np.ndarray) -> float:
    """Half the gap between the best and second-best finite score (inf if there is no second)."""
    finite = scores[np.isfinite(scores)]
    if finite.size < 2:
        return float("inf")
    second, best = np.partition(finite, finite.size - 2)[-2:]
    return float(best - second) / 2


# ---- how many tokens another machine could keep ----------------------------------------------


def kept_range(chain: Chain, penalized: np.ndarray, final: np.ndarray, run: Run | None = None) -> tuple[int, int]:
    """The fewest and the most tokens the chain keeps when every logit may move by the margin
    ``COURSE_MIN_MARGIN`` requires: what another machine could count. Without a required margin, or
    without top-p and min-p (top-k keeps k, ties aside), both are the count itself (`final`'s).

    Moving every logit by up to d moves a mass's log-odds, and a probability ratio's log, by up to
    2d (2d / T behind temperature in the transformers order), so the count is taken again with
    top_p and min_p moved that far each way. The samplers' cuts (`sampler_cuts`, measured on `run`,
    the step's own run when given: XTC's coin and mirostat's mu as they were) widen the range by
    every token that close to one of them.
    """
    c = chain.config
    count = int(np.count_nonzero(final))
    if required() == 0 or c.temperature == 0.0:
        return count, count
    if run is None and any(isinstance(p, _Cut) for p in chain.truncation):
        run = chain.run(penalized, xtc_applies=True)  # with XTC: the count when it acts
    fewest, most = _sampler_cut_range(chain, run, count)
    if c.top_p >= 1.0 and c.min_p == 0.0:
        return fewest, most
    spread = 2 * required() * chain.slope / chain.filter_unit

    def moved(sign: float) -> int:
        top_p = c.top_p if c.top_p >= 1.0 else float(1 / (1 + np.exp(-(_logit(c.top_p) + sign * spread))))
        min_p = min(1.0, c.min_p * float(np.exp(-sign * spread)))
        moved_chain = Chain(c.replace(top_p=top_p, min_p=min_p))
        xtc_applies = run.xtc_applied if run is not None else True
        return int(np.count_nonzero(softmax(moved_chain.run(penalized, xtc_applies=xtc_applies).final)))

    return min(fewest, moved(-1)), max(most, moved(+1))


def _sampler_cut_range(chain: Chain, run: Run | None, count: int) -> tuple[int, int]:
    """`count` widened by the tokens within the required margin of a sampler's cut: those kept
    could be removed, those removed could come back."""
    cuts = sampler_cuts(chain, run) if run is not None else []
    if not cuts:
        return count, count
    kept = np.isfinite(_last_cut(run.stages))
    near = [d < required() * chain.slope for d in cuts]
    could_go = int(np.count_nonzero(np.logical_or.reduce(near) & kept))
    could_come = int(np.count_nonzero(np.logical_or.reduce(near) & ~kept))
    return max(count - could_go, 1), count + could_come


def _logit(q) -> np.ndarray:
    """log(q / (1 - q)), the log-odds of a probability; +-inf at 1 and 0."""
    q = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)  # a cumulative sum can round past 1
    with np.errstate(divide="ignore"):
        return np.log(q) - np.log1p(-q)

