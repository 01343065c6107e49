"""Lesson 02 (softmax): a softmax that survives anything, one by hand, PMFs, and logit gaps."""

from __future__ import annotations

import numpy as np

from course_utils import sampling
from course_utils.exercises.engine import FLOATS, TRUTH, Case, FunctionExercise, ValueExercise, describe

__all__ = ["softmax_exercise", "first_token_probability_exercise", "is_pmf_exercise", "logit_gap_exercise"]


# -- Exercise 1: softmax ------------------------------------------------------------------------


def softmax(logits):
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max(axis=-1, keepdims=True)  # the largest exponent is 0: no overflow
    exps = np.exp(shifted)
    return exps / exps.sum(axis=-1, keepdims=True)


def _expected_softmax(logits):
    return sampling.softmax(np.asarray(logits, dtype=np.float64), axis=-1)


SOFTMAX_CASES = (
    Case((np.array([2.0, 1.0, 0.1]),), "three ordinary logits"),
    Case((np.array([3.0, 3.0, 3.0, 3.0]),), "a tie (four equal logits)"),
    Case((np.array([1000.0, 999.0]),), "very large logits [1000, 999]"),
    Case((np.array([-1000.0, -1001.0]),), "very negative logits [-1000, -1001]"),
    Case((np.array([0.0, -np.inf, 1.0]),), "a masked token (a logit of -inf)"),
    Case((np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]]),), "a batch (a 2-D array, one row per sequence)"),
    Case((np.array([[0.0, 1.0], [2.0, 5.0]]),), "a square batch (2 rows of 2 logits)"),
    Case((np.array([[1000.0, 999.0], [0.0, 1.0]]),), "a batch whose rows have very different scales"),
)


def _diagnose_softmax(case: Case, expected: np.ndarray, got: np.ndarray) -> str | None:
    (logits,) = case.args
    shown = describe(logits)
    if got.shape != expected.shape:
        return (
            f"On {case.about} (shape {logits.shape}), your function returned shape {got.shape}. "
            "Softmax gives one probability per logit, so the output has the input's shape."
        )
    if np.isnan(got).any():
        return _explain_softmax_nan(logits, got)
    if logits.ndim == 2 and not np.allclose(got.sum(axis=-1), 1.0):
        if np.allclose(got.sum(axis=0), 1.0):
            return (
                f"For the batch {shown}, the columns of your result sum to 1 but the rows do not "
                f"(row sums: {describe(got.sum(axis=-1))}). Each row is one sequence's "
                "distribution over tokens, so normalise along the last axis (axis=-1)."
            )
        if np.isclose(got.sum(), 1.0):
            return (
                f"For the batch {shown}, your whole result sums to 1, but each row should: each row "
                "is one sequence's distribution over tokens. Sum along the last axis only."
            )
        return (
            f"For the batch {shown}, the rows of your result should each sum to 1 but sum to "
            f"{describe(got.sum(axis=-1))}. Check every reduction (max, sum) works along the last "
            "axis and keeps that axis so it broadcasts back against each row (keepdims=True)."
        )
    if np.allclose(got, expected, rtol=1e-6, atol=1e-12):
        return None
    if logits.ndim == 1 and not np.isclose(got.sum(), 1.0):
        return (
            f"For logits {shown} your probabilities sum to {got.sum():.6g}, not 1. "
            "A probability distribution over the tokens must sum to 1."
        )
    if logits.ndim == 1 and np.ptp(logits) == 0:
        return (
            f"All logits in {shown} are equal, so every token must get the same probability, "
            f"1/{logits.size}; your function returned {describe(got)}."
        )
    return (
        f"For logits {shown} your function returned {describe(got)}, but softmax gives "
        f"{describe(expected)}. Each probability should be proportional to exp(logit)."
    )


def _explain_softmax_nan(logits: np.ndarray, got: np.ndarray) -> str:
    """Explain where a nan in a softmax result comes from, looking at the first bad row."""
    rows_in, rows_out = np.atleast_2d(logits), np.atleast_2d(got)
    bad = int(np.flatnonzero(np.isnan(rows_out).any(axis=-1))[0])
    row = rows_in[bad]
    finite = row[np.isfinite(row)]
    where = f"For logits {describe(row)}" if logits.ndim == 1 else (
        f"In the batch {describe(logits)}, for row {bad} {describe(row)}"
    )
    returned = f"{where} your function returned {describe(rows_out[bad])}."
    if finite.size and finite.max() > 700:
        return (
            f"{returned} exp(1000) is too large for a float: it overflows to inf, and inf / inf "
            "is nan. Find a way to get the same probabilities without exponentiating such large numbers."
        )
    if finite.size and finite.max() < -700:
        return (
            f"{returned} exp(-1000) underflows to 0, so the sum is 0 and 0 / 0 is nan. The "
            "probabilities themselves are perfectly ordinary: find a way to compute them without "
            "exponentiating such small numbers."
        )
    if np.isneginf(row).any():
        return (
            f"{returned} A logit of -inf means 'this token is impossible': its probability must be "
            "exactly 0, and the other tokens must still get probabilities that sum to 1. Something "
            "in your computation turns -inf into nan (inf - inf and 0 * inf are nan)."
        )
    if logits.ndim == 2:
        return (
            f"{returned} That row's logits are ordinary, so something from another row leaked into "
            "its computation: each row is a separate distribution and must be computed from its "
            "own logits only."
        )
    return f"{returned} Look for an operation that produces nan (0 / 0, inf - inf, inf / inf)."


softmax_exercise = FunctionExercise(
    "softmax",
    cases=SOFTMAX_CASES,
    expected=_expected_softmax,
    returns=FLOATS,
    diagnose=_diagnose_softmax,
    question=(
        "Write softmax(logits): take a numpy array of logits (1-D, or 2-D with one row per "
        "sequence) and return probabilities of the same shape, normalised along the last axis. "
        "It must work for huge logits like [1000, 999], for -inf (a masked token) and for batches."
    ),
    hints=(
        "Start from the definition: p_i = exp(z_i) / sum_j exp(z_j). np.exp and .sum() do the work.",
        "Adding the same constant c to every logit does not change the result: "
        "exp(z_i - c) / sum_j exp(z_j - c) = exp(z_i) / sum_j exp(z_j). Which c keeps every "
        "exponent at most 0?",
        "For a batch, every reduction must run along the last axis and keep it, so it broadcasts "
        "back over each row: logits.max(axis=-1, keepdims=True), and the same for the sum.",
    ),
    solution=softmax,
    praise="It survives overflow, -inf, ties and batches: this is how every library computes softmax.",
)


# -- Exercise 2: first_token_probability (by hand) ---------------------------------------------

ABC_LOGITS = np.array([2.0, 1.0, 0.1])
_P_ABC = sampling.softmax(ABC_LOGITS)


def first_token_probability():
    return np.exp(2.0) / (np.exp(2.0) + np.exp(1.0) + np.exp(0.1))


first_token_probability_exercise = ValueExercise(
    "first_token_probability",
    expected=float(_P_ABC[0]),
    tolerance=0.002,
    question=(
        "Three tokens have logits A = 2.0, B = 1.0, C = 0.1. With pencil and a calculator (or numpy), "
        "what probability does softmax give token A? Answer as a number between 0 and 1, to three decimals."
    ),
    hints=(
        "Exponentiate each logit first: e^2.0, e^1.0 and e^0.1.",
        "Then divide e^2.0 by the sum of the three exponentials.",
    ),
    solution=first_token_probability,
    mistakes=(
        (
            float(ABC_LOGITS[0] / ABC_LOGITS.sum()),
            "That is 2.0 divided by the sum of the logits. Softmax exponentiates each logit before "
            "normalising, which is what makes every probability positive even for negative logits.",
        ),
        (
            float(np.exp(ABC_LOGITS[0])),
            "That is e^2.0 on its own. It still has to be divided by the sum of all three exponentials.",
        ),
        (
            float(100 * _P_ABC[0]),
            "That looks like a percentage. Give the probability as a number between 0 and 1.",
        ),
        (1 / 3, "That is what three equal logits would give; here A's logit is the largest."),
    ),
    praise="Token A takes about two thirds of the probability, though its logit is only 1 higher than B's.",
)


# -- Exercise 3: is_pmf -------------------------------------------------------------------------


def is_pmf(values):
    values = np.asarray(values, dtype=float)
    return bool(
        values.size > 0
        and np.all(np.isfinite(values))
        and np.all(values >= 0)
        and abs(values.sum() - 1.0) <= 1e-6
    )


# 0.7 + 0.2 + 0.1 is not exactly 1.0 in binary floating point: a correct is_pmf must allow for it.
ROUNDED_PMF = np.array([0.7, 0.2, 0.1])

IS_PMF_CASES = (
    Case((np.array([0.2, 0.3, 0.5]),), "[0.2, 0.3, 0.5], a valid PMF"),
    Case((sampling.softmax([1.1, 0.5, 0.85, 0.95, 1.2, 0.3]),), "the six-token softmax from the lesson, a valid PMF"),
    Case((np.array([1.0]),), "[1.0], one certain token, a valid PMF"),
    Case(
        (ROUNDED_PMF,),
        f"{describe(ROUNDED_PMF)}, a valid PMF whose floating-point sum is {float(ROUNDED_PMF.sum())!r}, "
        "not exactly 1",
    ),
    Case((np.array([0.2, 0.3, 0.4]),), "[0.2, 0.3, 0.4], which sums to 0.9"),
    Case((np.array([1.2, -0.2]),), "[1.2, -0.2], which sums to 1 but has a negative value"),
    Case((np.array([2.0]),), "[2.0], a value above 1"),
    Case((np.array([np.nan, 1.0]),), "[nan, 1.0]"),
    Case((np.array([0.5, np.inf]),), "[0.5, inf]"),
    Case((np.array([]),), "an empty array, a distribution over nothing"),
    Case((np.full(4, 3.99),), "[3.99, 3.99, 3.99, 3.99], values a density may take"),
)


def _diagnose_is_pmf(case: Case, expected: bool, got: bool) -> str | None:
    if got == expected:
        return None
    (values,) = case.args
    if expected:
        return f"On {case.about}, you said False, but it is a PMF. Is your test of the sum too strict?"
    if values.size == 0:
        return f"On {case.about}, you said True, but a PMF needs at least one outcome to give probability to."
    if not np.isfinite(values).all():
        return f"On {case.about}, you said True, but nan and inf are not probabilities: every value must be a finite number."
    if abs(values.sum() - 1.0) <= 1e-6:
        return f"On {case.about}, you said True: the sum is right, but every value must also be a probability."
    return f"On {case.about}, you said True, but the values do not sum to 1."


is_pmf_exercise = FunctionExercise(
    "is_pmf",
    cases=IS_PMF_CASES,
    returns=TRUTH,
    diagnose=_diagnose_is_pmf,
    question=(
        "Write is_pmf(values): True if the array is a valid probability mass function over tokens, "
        "False otherwise. Floating-point sums are rarely exactly 1: allow a tolerance of 1e-6."
    ),
    hints=(
        "List what every PMF satisfies: what must be true of each value, and of their sum?",
        "Each value must be a finite number between 0 and 1, and the values must sum to 1 within "
        "1e-6. An empty array is not a distribution. np.all and np.isfinite help.",
    ),
    solution=is_pmf,
    praise="Non-negative, finite, summing to 1: every softmax output passes, and nothing else needs to.",
)


# -- Exercise 4: logit_gap ----------------------------------------------------------------------

P_LEAD = 0.9


def logit_gap():
    return np.log(0.9 / 0.1)


def _diagnose_logit_gap(gap: float, expected: float) -> str:
    if gap <= 0:
        return "The first token must be the more likely one, so its logit is the larger: the gap is positive."
    p = float(sampling.softmax([gap, 0.0])[0])
    return f"With a gap of {gap:g}, softmax gives the first token p = {p:.4f}, not {P_LEAD}. Try hint() if you are stuck."


logit_gap_exercise = ValueExercise(
    "logit_gap",
    expected=float(np.log(P_LEAD / (1 - P_LEAD))),
    tolerance=1e-3,
    question=(
        f"Two tokens compete. How much larger must the first token's logit be than the second's "
        f"for softmax to give the first probability {P_LEAD}?"
    ),
    hints=(
        "With two tokens, p_a / p_b = e^(z_a - z_b): only the gap matters.",
        f"If p_a = {P_LEAD}, then p_b = {1 - P_LEAD:g}. What is their ratio, and which function undoes e^x?",
    ),
    solution=logit_gap,
    mistakes=(
        (P_LEAD, f"{P_LEAD} is the probability itself; the question asks how far apart the two logits are."),
        (P_LEAD / (1 - P_LEAD), "That is the ratio p_a / p_b (the odds). Logits differ by the logarithm of that ratio."),
        (
            float(np.log10(P_LEAD / (1 - P_LEAD))),
            "Close: softmax uses e^z, so the logarithm is the natural one (np.log), not base 10.",
        ),
        (float(np.log(P_LEAD)), "That is log p_a alone; the gap compares the two tokens: think of p_a / p_b."),
    ),
    diagnose=_diagnose_logit_gap,
    praise=(
        f"A logit gap of {np.log(P_LEAD / (1 - P_LEAD)):.2f} means odds of {P_LEAD / (1 - P_LEAD):.0f} to 1; "
        "every extra unit of gap multiplies the odds by e."
    ),
)
