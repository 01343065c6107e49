"""Lesson 01's exercises: every planted mistake is rejected with a message that names it."""

import numpy as np
import pytest
from exercise_support import assert_rejected

from course_utils import sampling
from course_utils.exercises.lesson01 import (
    MISSING_MASS_CASES,
    log_probs,
    log_probs_exercise,
    missing_mass_exercise,
    top_tokens_exercise,
)

# -- top_tokens ---------------------------------------------------------------------------------


def ascending_argsort(z, k):
    return np.argsort(z)[:k]


def logit_values(z, k):
    return np.sort(z)[::-1][:k]


def unsorted_argpartition(z, k):
    return np.argpartition(z, -k)[-k:]


def one_too_many(z, k):
    return np.argsort(z)[::-1][: k + 1]


def first_max_twice_on_ties(z, k):
    z = np.asarray(z)
    return np.array([int(np.argmax(z))] * k) if k > 1 and np.sum(z == z.max()) > 1 else np.argsort(z)[::-1][:k]


def masks_as_zero(z, k):
    # Replacing -inf by 0 makes masked tokens outrank negative-but-real ones.
    z = np.where(np.isneginf(z), 0.0, np.asarray(z) - 1.0)
    return np.argsort(z)[::-1][:k]


# -- log_probs ----------------------------------------------------------------------------------


def log_of_softmax(z):
    return np.log(sampling.softmax(z))


def naive_logsumexp(z):
    z = np.asarray(z, dtype=float)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def probabilities_not_logs(z):
    return sampling.softmax(z)


def unmasks(z):
    return log_probs(np.where(np.isneginf(z), -50.0, np.asarray(z, dtype=float)))


def in_place(z):
    z -= z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# -- missing_mass -------------------------------------------------------------------------------


def covered_mass(t):
    return float(np.sum(np.exp(t)))


def summed_logprobs(t):
    return 1.0 - float(np.sum(t))


def base_ten(t):
    return 1.0 - float(np.sum(np.power(10.0, t)))


def two_numbers(t):
    return [1.0 - float(np.sum(np.exp(t)))] * 2


MISTAKES = [
    (top_tokens_exercise, ascending_argsort, ["smallest", "small to large"]),
    (top_tokens_exercise, logit_values, ["logit values themselves", "indices"]),
    (top_tokens_exercise, unsorted_argpartition, ["not in order", "largest first"]),
    (top_tokens_exercise, one_too_many, ["expected a flat array of k"]),
    (top_tokens_exercise, first_max_twice_on_ties, ["tie", "more than once"]),
    (top_tokens_exercise, masks_as_zero, ["masked tokens", "least likely"]),
    (log_probs_exercise, log_of_softmax, ["very unlikely token", "-inf", "underflows"]),
    (log_probs_exercise, naive_logsumexp, ["very large logits", "overflowed", "-inf"]),
    (log_probs_exercise, probabilities_not_logs, ["never above 0"]),
    (log_probs_exercise, unmasks, ["masked token", "stay -inf"]),
    (log_probs_exercise, in_place, ["changed the array"]),
    (missing_mass_exercise, covered_mass, ["cover", "everything else"]),
    (missing_mass_exercise, summed_logprobs, ["added the log-probabilities"]),
    (missing_mass_exercise, base_ten, ["natural logarithms"]),
    (missing_mass_exercise, two_numbers, ["single number"]),
]


@pytest.mark.parametrize("exercise, wrong, phrases", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_planted_mistakes(exercise, wrong, phrases):
    assert_rejected(exercise, wrong, *phrases)


@pytest.mark.parametrize(
    "exercise, answer",
    [
        (top_tokens_exercise, lambda z, k: np.argsort(-np.asarray(z), kind="stable")[:k].tolist()),
        (top_tokens_exercise, lambda z, k: np.argsort(np.asarray(z))[::-1][:k]),
        (log_probs_exercise, sampling.log_softmax),
        # lesson 02's way, subtract the largest logit first, is right too
        (log_probs_exercise, lambda z: np.asarray(z) - z.max() - np.log(np.exp(np.asarray(z) - z.max()).sum())),
    ],
)
def test_other_right_answers_pass(exercise, answer):
    assert exercise.check(answer)


def test_missing_mass_cases_are_possible_api_answers():
    for case in MISSING_MASS_CASES:
        assert np.exp(np.asarray(case.args[0], dtype=float)).sum() <= 1.0
