"""Lesson 01 (logits): the top tokens, log-probabilities, and what an API's top_logprobs leave out."""

from __future__ import annotations

import numpy as np

from course_utils import sampling
from course_utils.exercises.engine import ARRAY, FLOATS, NUMBER, Case, FunctionExercise, describe

__all__ = ["top_tokens_exercise", "log_probs_exercise", "missing_mass_exercise"]


# -- Exercise 1: top_tokens ---------------------------------------------------------------------


def top_tokens(logits, k):
    logits = np.asarray(logits)
    return np.argsort(logits, kind="stable")[::-1][:k]  # indices, largest logit first


TOP_TOKENS_CASES = (
    Case((np.array([0.1, 2.0, -1.0, 3.5, 0.7]), 3), "five logits, k=3"),
    Case((np.array([0.1, 2.0, -1.0, 3.5, 0.7]), 1), "five logits, k=1"),
    Case((np.array([0.3, -0.2, 0.9]), 3), "k equal to the number of tokens"),
    Case((np.array([1.0, 5.0, 5.0, 2.0]), 2), "a tie for first place (either order is fine)"),
    Case((np.array([-np.inf, 0.5, -np.inf, 0.2]), 2), "masked tokens (logit -inf)"),
    Case(
        (np.random.default_rng(1).normal(0.0, 3.0, size=49152).astype(np.float32), 20),
        "a vocabulary-sized array of 49,152 random float32 logits, k=20",
    ),
)


def _diagnose_top_tokens(case: Case, expected: np.ndarray, got: np.ndarray) -> str | None:
    logits, k = case.args
    if got.shape != (k,):
        return f"On {case.about}, you returned shape {got.shape}; expected a flat array of k = {k} indices."
    if got.dtype.kind not in "iu":
        top_values = np.sort(logits)[::-1][:k]
        if got.dtype.kind == "f" and np.allclose(np.sort(got), np.sort(top_values)):
            return f"On {case.about}, you returned the logit values themselves; return their indices (positions) instead."
        return f"On {case.about}, you returned {got.dtype} values; token indices are whole numbers."
    if got.min() < 0 or got.max() >= logits.size:
        return f"On {case.about}, some of your indices are outside the range 0..{logits.size - 1}."
    if len(set(got.tolist())) != k:
        return f"On {case.about}, the same index appears more than once: list each token once."
    chosen = logits[got]
    if not np.array_equal(np.sort(chosen)[::-1], logits[expected]):
        if np.isneginf(chosen).sum() > np.isneginf(logits[expected]).sum():
            return (
                f"On {case.about}, you picked masked tokens (logit -inf) over real ones: a masked "
                "token is the least likely of all, never a top token."
            )
        if np.array_equal(np.sort(chosen), np.sort(logits)[:k]):
            return f"On {case.about}, you returned the k *smallest* logits: np.argsort sorts from small to large."
        return f"On {case.about}, your indices do not pick the k largest logits."
    if np.any(np.diff(chosen) > 0):
        return (
            f"On {case.about}, you found the right tokens but not in order, largest first "
            "(np.argpartition, for example, does not sort what it finds)."
        )
    return None


top_tokens_exercise = FunctionExercise(
    "top_tokens",
    cases=TOP_TOKENS_CASES,
    returns=ARRAY,
    diagnose=_diagnose_top_tokens,
    question=(
        "Write top_tokens(logits, k): return the indices of the k largest logits, largest first. "
        "Ties may come in either order; masked tokens (-inf) are the least likely of all."
    ),
    hints=(
        "You need positions, not values: numpy has a function that returns the indices that would sort an array.",
        "np.argsort sorts from smallest to largest. How do you reverse an array, and then keep its first k entries?",
    ),
    solution=top_tokens,
    praise="That is the first step of every 'top tokens' plot, of top-k sampling, and of an API's top_logprobs.",
)


# -- Exercise 2: log_probs ----------------------------------------------------------------------


def log_probs(logits):
    z = np.asarray(logits, dtype=float)
    return z - np.logaddexp.reduce(z)  # log p_i = z_i - log(sum_j exp(z_j)), without overflow


def _expected_log_probs(logits):
    return sampling.log_softmax(np.asarray(logits, dtype=np.float64), axis=-1)


# One distribution (a 1-D array): the recipe of section 2 answers every case. Batches of rows,
# and the subtract-the-max trick behind them, are lesson 02's (its softmax exercise).
LOG_PROBS_CASES = (
    Case((np.array([1.0, 2.0, 3.0]),), "three ordinary logits"),
    Case((np.array([0.0, -800.0]),), "a very unlikely token (logits [0, -800])"),
    Case((np.array([1000.0, 999.0]),), "very large logits [1000, 999]"),
    Case((np.array([2.0, -np.inf, 1.0]),), "a masked token (a logit of -inf)"),
)


def _diagnose_log_probs(case: Case, expected: np.ndarray, got: np.ndarray) -> str | None:
    (logits,) = case.args
    if got.shape != expected.shape:
        return (
            f"On {case.about}, you returned shape {got.shape}; expected one log-probability per "
            f"logit, shape {expected.shape}."
        )
    if np.isnan(got).any():
        return (
            f"On {case.about}, your function returned {describe(got)}: a nan means an inf - inf or "
            "0 / 0 happened somewhere. Which of your steps can overflow?"
        )
    masked = np.isneginf(expected)
    wrongly_infinite = np.isneginf(got) & ~masked
    if np.isneginf(got).all():
        return (
            f"On {case.about}, you returned {describe(got)}: every token came out -inf. "
            "A sum of exponentials overflowed to inf (exp(1000) is too large for a float), and "
            "z - inf is -inf. Can you get log(sum(exp(z))) without computing the sum itself?"
        )
    if wrongly_infinite.any():
        return (
            f"On {case.about}, you returned -inf for a token whose probability is tiny but not zero "
            f"(its log-probability is {describe(expected[wrongly_infinite])}). Computing p first and "
            "then np.log(p) loses it: p underflows to 0. Can you get log p without computing p?"
        )
    if not np.array_equal(np.isneginf(got), masked):
        return f"On {case.about}, a masked token (logit -inf) has probability 0, so its log-probability must stay -inf."
    if np.any(got > 1e-9):
        return f"On {case.about}, you returned {describe(got)}: a log-probability is never above 0 (p is never above 1)."
    if np.allclose(got[~masked], expected[~masked], rtol=1e-7, atol=1e-9):
        return None
    return (
        f"On {case.about}, you returned {describe(got)}, but the log-probabilities are "
        f"{describe(expected)}. Check that exp() of your answer sums to 1."
    )


log_probs_exercise = FunctionExercise(
    "log_probs",
    cases=LOG_PROBS_CASES,
    expected=_expected_log_probs,
    returns=FLOATS,
    diagnose=_diagnose_log_probs,
    question=(
        "Write log_probs(logits): the natural-log probability of every token, log p_i, for a 1-D "
        "array of logits. It must be exact where np.log(softmax(z)) fails: very unlikely tokens, "
        "very large logits, and masked (-inf) tokens."
    ),
    hints=(
        "Write the formula out: log p_i = log(exp(z_i) / sum_j exp(z_j)) = z_i - log(sum_j exp(z_j)). "
        "Only the second term needs care.",
        "Section 2 computed that second term for the model's logits, one number for all tokens, "
        "without ever computing exp(z) on its own: look at how it got `log_normaliser`.",
        "A masked token needs nothing special: exp(-inf) is 0, so it adds nothing to the sum, and "
        "-inf minus a finite number stays -inf.",
    ),
    solution=log_probs,
    praise=(
        "This is log_softmax, what an API's logprobs are made of; scipy calls the second term "
        "logsumexp, and PyTorch's log_softmax computes it exactly this way."
    ),
)


# -- Exercise 3: missing_mass -------------------------------------------------------------------


def missing_mass(top_logprobs):
    return 1.0 - float(np.sum(np.exp(top_logprobs)))


MISSING_MASS_CASES = (
    Case(([-0.2, -2.5, -4.0],), "three top_logprobs [-0.2, -2.5, -4.0]"),
    Case(([-0.2578, -2.73, -4.42, -4.61, -4.75],), "five top_logprobs, as an API returns them"),
    Case(([-0.0001],), "a single, nearly certain token"),
    Case((np.array([-1.2, -1.5, -1.9]),), "a numpy array of three logprobs"),
    Case(([],), "an empty list (top_logprobs=0 returns no alternatives)"),
)


def _diagnose_missing_mass(case: Case, expected: float, got: float) -> str | None:
    (top,) = case.args
    if abs(got - expected) <= 1e-9:
        return None
    logprobs = np.asarray(top, dtype=np.float64)
    covered = float(np.exp(logprobs).sum())
    if abs(got - covered) <= 1e-9:
        return (
            f"On {case.about}, you returned the probability the listed tokens cover ({got:.4f}); "
            "the question asks for the probability of everything else."
        )
    if abs(got - (1.0 - logprobs.sum())) <= 1e-9 or abs(got - logprobs.sum()) <= 1e-9:
        return f"On {case.about}, you added the log-probabilities themselves; turn each one into a probability first."
    if abs(got - (1.0 - float(np.power(10.0, logprobs).sum()))) <= 1e-9:
        return f"On {case.about}: APIs report natural logarithms (base e), not base 10."
    if not 0.0 <= got <= 1.0:
        return f"On {case.about}, you returned {got:.4g}, which cannot be a probability: it must lie between 0 and 1."
    return f"On {case.about}, you returned {got:.6f}, which is not the probability of the unlisted tokens."


missing_mass_exercise = FunctionExercise(
    "missing_mass",
    cases=MISSING_MASS_CASES,
    returns=NUMBER,
    diagnose=_diagnose_missing_mass,
    question=(
        "An API returned the top_logprobs of one position (natural-log probabilities of the most "
        "likely tokens). Write missing_mass(top_logprobs): the probability that the next token is "
        "none of the listed ones."
    ),
    hints=(
        "Each logprob is log p. What undoes a natural logarithm?",
        "All tokens together have probability 1. Subtract what the listed tokens have.",
    ),
    solution=missing_mass,
    praise="Now you can tell from any API response how much of the distribution it did not show you.",
)
