"""Lesson 04 (top-k, top-p, min-p, and the order of the chain)."""

from __future__ import annotations

import functools

import numpy as np

from course_utils import sampling
from course_utils.exercises.engine import ARRAY, Case, FunctionExercise, ValueExercise, describe, whole_numbers
from course_utils.sampling import softmax

__all__ = ["top_p_keep_exercise", "min_p_keep_exercise", "chain_order_exercise"]


def _tokens(n: int) -> str:
    return f"{n} token" if n == 1 else f"{n} tokens"


def _kept_by(filter_logits, probs, value) -> np.ndarray:
    """Which tokens a sampling filter keeps, for probabilities instead of logits."""
    with np.errstate(divide="ignore"):
        return np.isfinite(filter_logits(np.log(np.asarray(probs, dtype=np.float64)), value))


def _not_a_mask(case: Case, mask: np.ndarray, what: str) -> str | None:
    probs = case.args[0]
    if mask.shape != probs.shape or mask.dtype != bool:
        return (
            f"On {case.about}, your function returned {describe(mask)} (dtype {mask.dtype}, shape "
            f"{mask.shape}). It should return a boolean array with one True/False per token: True "
            f"for the tokens {what} keeps."
        )
    return None


TWELVE = sampling.softmax(np.array([1.2, 3.1, 0.4, 2.2, -0.5, 2.9, 0.0, 1.7, -1.3, 2.5, 0.9, -2.0]))


# -- Exercise 1: top_p_keep ---------------------------------------------------------------------


def top_p_keep(probs, top_p):
    probs = np.asarray(probs, dtype=float)
    order = np.argsort(-probs, kind="stable")  # most likely first
    sorted_probs = probs[order]
    mass_above = np.cumsum(sorted_probs) - sorted_probs
    keep = np.zeros(len(probs), dtype=bool)
    keep[order[mass_above < top_p]] = True  # the crossing token stays
    return keep


TOP_P_CASES = (
    Case((np.array([0.5, 0.3, 0.15, 0.05]), 0.7), "sorted probabilities [0.5, 0.3, 0.15, 0.05] with top_p = 0.7"),
    Case((np.array([0.05, 0.3, 0.5, 0.15]), 0.7), "the same probabilities, unsorted, with top_p = 0.7"),
    Case((np.array([0.15, 0.05, 0.5, 0.3]), 0.1), "a tiny top_p = 0.1 (below the top token's probability)"),
    Case((np.array([0.2, 0.7, 0.1]), 0.95), "probabilities [0.2, 0.7, 0.1] with top_p = 0.95"),
    Case((np.array([0.01, 0.02, 0.9, 0.03, 0.04]), 1.0), "top_p = 1.0 (nothing should be removed)"),
    Case((TWELVE, 0.9), "twelve tokens with top_p = 0.9"),
)


def same_kept_set(probs: np.ndarray, got: np.ndarray, expected: np.ndarray) -> bool:
    """Equal masks, or masks that differ only in which of several equally likely tokens they keep."""
    return bool(np.array_equal(got, expected)) or (
        got.sum() == expected.sum() and np.array_equal(np.sort(probs[got]), np.sort(probs[expected]))
    )


def _diagnose_top_p_keep(case: Case, expected: np.ndarray, mask: np.ndarray) -> str | None:
    probs, top_p = case.args
    if (problem := _not_a_mask(case, mask, "the nucleus")) is not None:
        return problem
    if same_kept_set(probs, mask, expected):
        return None
    n_got, n_right = int(mask.sum()), int(expected.sum())
    kept_mass = float(probs[mask].sum())
    if n_got == 0:
        return f"On {case.about}, your function kept no token at all. Sampling needs at least one: the most likely token is always kept."
    prefix = np.zeros_like(mask)
    prefix[:n_got] = True
    order = np.argsort(-probs, kind="stable")
    if not np.array_equal(order[:n_got], np.flatnonzero(mask)) and np.array_equal(mask, prefix):
        return (
            f"On {case.about}, you kept the first {n_got} tokens in the order they were given. The "
            "nucleus is made of the *most likely* tokens, whatever their position: sort by "
            "probability first (np.argsort(-probs)), then map the result back to the original positions."
        )
    if n_got == n_right - 1 and kept_mass < top_p:
        return (
            f"On {case.about}, you kept {_tokens(n_got)} holding {kept_mass:.4g}, which is less than "
            f"top_p = {top_p}. The token that crosses the line belongs to the nucleus: keep a token "
            "if the tokens ranked *above* it hold less than top_p."
        )
    if n_got > n_right and kept_mass >= top_p:
        return (
            f"On {case.about}, you kept {_tokens(n_got)} holding {kept_mass:.4g}. A smaller set of the "
            f"most likely tokens already reaches top_p = {top_p}: top-p keeps the *smallest* such set."
        )
    return (
        f"On {case.about}, you kept {_tokens(n_got)} holding {kept_mass:.4g}. Keep the smallest set of "
        f"most likely tokens whose probabilities add up to at least top_p = {top_p}."
    )


top_p_keep_exercise = FunctionExercise(
    "top_p_keep",
    cases=TOP_P_CASES,
    expected=functools.partial(_kept_by, sampling.top_p_filter),
    returns=ARRAY,
    diagnose=_diagnose_top_p_keep,
    question=(
        "Write top_p_keep(probs, top_p): for a 1-D probability vector (in any order) and "
        "0 < top_p <= 1, return a boolean array that is True for the tokens nucleus sampling keeps: "
        "the smallest set of most likely tokens whose probabilities add up to at least top_p "
        "(and never fewer than one token)."
    ),
    hints=(
        "Work in sorted order: order = np.argsort(-probs) lists token indices from most to least likely.",
        "For each token in that order, how much probability do the tokens ranked above it hold? "
        "np.cumsum(sorted_probs) - sorted_probs. A token stays if that is still below top_p; "
        "this keeps the token that crosses the line, and always keeps the first.",
        "Build keep = np.zeros(len(probs), dtype=bool) and set keep[order[stays]] = True to go back "
        "from sorted positions to the original ones.",
    ),
    solution=top_p_keep,
    praise="That is Hugging Face's TopPLogitsWarper, in probability space.",
)


# -- Exercise 2: min_p_keep ---------------------------------------------------------------------


def min_p_keep(probs, min_p):
    probs = np.asarray(probs, dtype=float)
    return probs >= min_p * probs.max()


MIN_P_CASES = (
    Case((np.array([0.5, 0.3, 0.15, 0.05]), 0.2), "probabilities [0.5, 0.3, 0.15, 0.05] with min_p = 0.2"),
    Case((np.array([0.03, 0.9, 0.05, 0.02]), 0.05), "a confident distribution, unsorted, with min_p = 0.05"),
    Case((np.array([0.26, 0.25, 0.25, 0.24]), 0.5), "a flat distribution with min_p = 0.5"),
    Case((np.array([0.5, 0.25, 0.125, 0.125]), 0.25), "tokens exactly at the threshold (0.25 x 0.5 = 0.125)"),
    Case((TWELVE, 0.1), "twelve tokens with min_p = 0.1"),
)


def _diagnose_min_p_keep(case: Case, expected: np.ndarray, mask: np.ndarray) -> str | None:
    probs, min_p = case.args
    if (problem := _not_a_mask(case, mask, "min-p")) is not None:
        return problem
    if np.array_equal(mask, expected):
        return None
    if np.array_equal(mask, probs > min_p * probs.max()):
        return (
            f"On {case.about}, you dropped tokens whose probability equals the threshold exactly. "
            "Min-p keeps every token with p >= min_p * max(p): at least, not more than."
        )
    if np.array_equal(mask, probs >= min_p) or np.array_equal(mask, probs > min_p):
        return (
            f"On {case.about}, you compared each probability with min_p = {min_p} itself. Min-p is "
            "relative: the threshold is min_p times the probability of the most likely token, so it "
            "rises when the model is confident and falls when it is not."
        )
    if not mask.any():
        return f"On {case.about}, your function kept no token. The most likely token always passes: p_max >= min_p * p_max."
    return (
        f"On {case.about}, you kept {_tokens(int(mask.sum()))}, but {int(expected.sum())} have a "
        f"probability of at least min_p x max(p) = {min_p * probs.max():.4g}."
    )


min_p_keep_exercise = FunctionExercise(
    "min_p_keep",
    cases=MIN_P_CASES,
    expected=functools.partial(_kept_by, sampling.min_p_filter),
    returns=ARRAY,
    diagnose=_diagnose_min_p_keep,
    question=(
        "Write min_p_keep(probs, min_p): for a 1-D probability vector and 0 <= min_p <= 1, return a "
        "boolean array that is True for every token with p_i >= min_p * max_j p_j."
    ),
    hints=(
        "The threshold is not min_p: it is min_p times the largest probability.",
        "One comparison does it for every token at once: probs >= threshold.",
    ),
    solution=min_p_keep,
    praise="One line, no sorting: that is why min-p is cheap as well as adaptive.",
)


# -- Exercise 3: chain_order --------------------------------------------------------------------

CHAIN_LOGITS = np.array([3.0, 2.5, 2.0, 1.0, 0.5, 0.0])
CHAIN_TEMPERATURE = 2.0
CHAIN_TOP_P = 0.8


def chain_order():
    z = [3.0, 2.5, 2.0, 1.0, 0.5, 0.0]

    def nucleus_size(probs, top_p=0.8):
        return int(np.searchsorted(np.cumsum(probs), top_p) + 1)  # includes the crossing token

    return (nucleus_size(softmax(z, temperature=2.0)), nucleus_size(softmax(z)))


def survivors(order: str) -> int:
    """How many tokens the course's sampling chain keeps in ``order`` (the check's answer)."""
    final = sampling.next_token_distribution(
        CHAIN_LOGITS, temperature=CHAIN_TEMPERATURE, top_p=CHAIN_TOP_P, order=order
    )
    return int((final > 0).sum())


def _nucleus_size_without_crossing_token(temperature: float) -> int:
    return int((np.cumsum(sampling.softmax(CHAIN_LOGITS, temperature=temperature)) < CHAIN_TOP_P).sum())


def _diagnose_chain_order(answer: tuple[int, int], expected: tuple[int, int]) -> str:
    (n_hf, n_cpp), (right_hf, right_cpp) = answer, expected
    messages = []
    if n_hf != right_hf:
        if n_hf == right_cpp:
            messages.append(
                "For transformers, the nucleus is measured *after* temperature: take the "
                "cumulative sums of softmax(z / 2), not of softmax(z)."
            )
        elif n_hf == _nucleus_size_without_crossing_token(CHAIN_TEMPERATURE):
            messages.append(
                "Your transformers count leaves out the token whose probability carries the "
                "cumulative sum past 0.8; top-p keeps that token."
            )
        else:
            messages.append("Your transformers count is off: temperature first, then top-p on softmax(z / 2).")
    if n_cpp != right_cpp:
        if n_cpp == right_hf:
            messages.append(
                "For llama.cpp, top-p runs *before* temperature, on the T = 1 distribution "
                "softmax(z); temperature only reshapes the survivors."
            )
        elif n_cpp == _nucleus_size_without_crossing_token(1.0):
            messages.append(
                "Your llama.cpp count leaves out the token that carries the cumulative sum past "
                "0.8; top-p keeps that token."
            )
        else:
            messages.append("Your llama.cpp count is off: top-p first, on softmax(z) at T = 1.")
    return " ".join(messages)


_SURVIVORS = (survivors("transformers"), survivors("llama.cpp"))

chain_order_exercise = ValueExercise(
    "chain_order",
    kind=whole_numbers(2, "(3, 5)"),
    expected=_SURVIVORS,
    question=(
        "Logits z = [3.0, 2.5, 2.0, 1.0, 0.5, 0.0], temperature = 2.0, top_p = 0.8. How many tokens "
        "survive in transformers' order (temperature first) and in llama.cpp's order (temperature "
        "last)? Answer (n_transformers, n_llamacpp)."
    ),
    hints=(
        "Both orders keep the smallest set of most likely tokens whose mass reaches 0.8. They "
        "differ in which distribution that mass is measured on.",
        "transformers: np.cumsum(softmax(z, temperature=2.0)). llama.cpp: np.cumsum(softmax(z)). "
        "In each, count the tokens up to and including the first cumulative sum >= 0.8.",
    ),
    solution=chain_order,
    mistakes=(
        (
            _SURVIVORS[::-1],
            "You have the two numbers the wrong way round: transformers applies temperature "
            "first, llama.cpp last.",
        ),
        (
            (_nucleus_size_without_crossing_token(CHAIN_TEMPERATURE), _nucleus_size_without_crossing_token(1.0)),
            "Both counts leave out the token whose probability carries the cumulative sum past "
            "0.8. Top-p keeps that token: the kept set is the smallest one that *reaches* top_p.",
        ),
    ),
    diagnose=_diagnose_chain_order,
    praise=(
        "Heating first spreads the mass, so the nucleus needs more tokens; measuring at T = 1 keeps "
        "it small, whatever the temperature does afterwards."
    ),
)
