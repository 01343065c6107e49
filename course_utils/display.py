"""Numbers as the lessons print them: few enough digits that every machine prints the same.

The model's logits differ between machines in their 5th-6th significant digit (CPU and BLAS
kernels round differently), so a lesson never prints a model-derived number with more digits
than that noise leaves untouched. `significant` rounds to significant digits and prints the
result in plain notation, with thousands separators, as a reader would write it.

The tables lessons print live here too, so that a lesson cell shows an idea in a few lines:
`replication_table` (lesson 05's results next to Holtzman et al.'s), `kept_per_step` and `mean_kept`
(how many tokens truncation kept in a generation, as every machine counts them), `tokens_only_in`
(lesson 04's "which tokens does only one order keep") `top_tokens` and `token_logprobs` (lesson
07's "the most likely tokens, before and after a change").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from course_utils import checks
from course_utils.reproducibility import NearTieError, required, same_count

__all__ = ["significant", "chance", "replication_table", "tokens_only_in", "top_tokens", "token_logprobs", "kept_per_step",
           "mean_kept"]


def significant(value, digits: int = 2) -> str:
    """`value` rounded to `digits` significant digits, in plain notation: 21988.6 -> '22,000'.

    0.0645 -> '0.065', 432.4 -> '430', 4.41 -> '4.4', 0 -> '0'.
    """
    if not checks.is_real(value):
        raise TypeError(f"value must be a number, got {type(value).__name__}: {value!r}.")
    digits = checks.whole_number(digits, "digits", minimum=1)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"value must be finite to be rounded, got {value!r}.")
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    decimals = digits - 1 - exponent
    rounded = round(value, decimals)
    return f"{rounded:,.{max(decimals, 0)}f}"


def chance(probability) -> str:
    """A probability as a learner reads it, to 2 significant digits: '14%', '2.9%', '1 in 2,500'.

    Small chances read as "1 in N", so a rare event never prints as a flat "0.0%" beside a total
    that is not zero; a near-certainty reads "over 99%", never a rounded "100%".
    """
    p = checks.fraction(probability, "probability")
    if p > 0.99 and p < 1.0:
        return "over 99%"
    if p >= 0.01 or p == 0.0:
        return f"{significant(100 * p, 2)}%"
    if p < 1e-7:
        return "under 1 in 10 million"
    return f"1 in {significant(1 / p, 2)}"


def replication_table(results: dict) -> str:
    """A replication results file (scripts/replicate_holtzman.py) as a text table: one row per
    method with its loops %, perplexity, distinct-2 and self-BLEU-4, the paper's loops % and
    perplexity where the paper has that method, and the paper's human-text perplexity last."""
    try:
        paper, methods = results["paper"]["table1"], results["methods"]
    except (KeyError, TypeError):
        raise ValueError(
            "results must be a replication results file as scripts/replicate_holtzman.py writes it "
            "(a dict with 'methods' and 'paper' -> 'table1'); load it with json.loads first."
        ) from None
    width = max(30, *(len(method["label"]) + 1 for method in methods.values()))
    lines = [f"{'method':<{width}}{'loops %':>8}{'perplexity':>11}{'distinct-2':>11}{'self-BLEU-4':>12}"
             "   paper: loops %, perplexity"]
    for name, method in methods.items():
        m, ref = method["metrics"], paper.get(name, {})
        ref_text = f"{ref['repetition_pct']:.2f}, {ref['perplexity']:.2f}" if ref else "—"
        lines.append(f"{method['label']:<{width}}{m['repetition_pct']:>8.1f}{m['perplexity']:>11.2f}"
                     f"{m['distinct_2']:>11.3f}{m['self_bleu_4']:>12.3f}   {ref_text}")
    lines.append(f"{'human text':<{width}}{'':>8}{'—':>11}{'':>11}{'':>12}   —, {paper['human']['perplexity']:.2f}")
    return "\n".join(lines)


def tokens_only_in(probs, other, token_text: Callable[[int], str], limit: int = 6) -> str:
    """The tokens `probs` keeps (probability > 0) and `other` removes (probability 0), most likely
    first, as "'token' 1.2%, ...": at most `limit` shown, "..." when there are more, "(none)" if none.

    It names tokens, not how many: a count of tokens decided at a cut belongs to
    `sampling.kept_count`, which checks that every machine counts the same."""
    probs, other = np.asarray(probs, dtype=float), np.asarray(other, dtype=float)
    if probs.shape != other.shape or probs.ndim != 1:
        raise ValueError(
            f"probs and other must be two 1-D distributions over the same vocabulary, got shapes "
            f"{probs.shape} and {other.shape}."
        )
    limit = checks.whole_number(limit, "limit", minimum=1)
    only = np.flatnonzero((probs > 0) & (other == 0))
    only = only[np.argsort(-probs[only], kind="stable")]
    shown = ", ".join(f"{token_text(int(i))!r} {probs[i]:.1%}" for i in only[:limit]) or "(none)"
    return f"{shown}{' ...' if len(only) > limit else ''}"


def top_tokens(probs, token_text: Callable[[int], str], n: int = 5) -> str:
    """The `n` most likely tokens of `probs` as "'␣Paris' 77%, '␣the' 6.5%, ...": percentages to 2
    significant digits (what every machine prints the same), ties in token-id order."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 1:
        raise ValueError(f"probs must be one distribution (a 1-D array), got shape {probs.shape}.")
    n = checks.whole_number(n, "n", minimum=1)
    top = np.argsort(-probs, kind="stable")[:n]
    return ", ".join(f"{token_text(int(i))!r} {significant(100 * probs[i])}%" for i in top)


def token_logprobs(logprobs, token_ids, token_text: Callable[[int], str]) -> str:
    """Log-probabilities of `token_ids` as "'␣Paris' -0.3, '␣the' -2.7": one decimal (what every
    machine prints the same), and a log-probability that rounds to zero printed as 0.0, not -0.0.
    A masked token (-inf) is left out: it is not in the distribution at all."""
    logprobs = np.asarray(logprobs, dtype=float)
    return ", ".join(f"{token_text(int(i))!r} {round(float(logprobs[i]), 1) + 0.0:.1f}"
                     for i in token_ids if np.isfinite(logprobs[i]))


def kept_per_step(steps) -> list[int]:
    """How many tokens truncation kept at each step of a generation (`GenerationStep.n_kept`), as
    every machine counts them: a count another machine could make differently raises `NearTieError`
    (under COURSE_MIN_MARGIN, which records each step's `kept_range`)."""
    return [same_count(*_kept_range(step), None, f"Step {number}'s count of kept tokens")
            for number, step in enumerate(steps, start=1)]


def mean_kept(steps, digits: int = 2) -> str:
    """The mean number of tokens truncation kept per step, to `digits` significant digits
    (`significant`), as every machine prints it: the fewest and the most another machine could
    count must print the same, or `NearTieError`."""
    ranges = np.array([_kept_range(step) for step in steps], dtype=float)
    if ranges.size == 0:
        raise ValueError("steps is empty: a generation with no steps kept no tokens to average.")
    fewest, most = (significant(value, digits) for value in ranges.mean(axis=0))
    if required() > 0 and fewest != most:
        raise NearTieError(
            f"The mean number of kept tokens prints as {fewest} or {most} when the model's numbers move by "
            "the required margin: print it with fewer significant digits."
        )
    return most


def _kept_range(step) -> tuple[int, int]:
    return step.kept_range if step.kept_range is not None else (step.n_kept, step.n_kept)
