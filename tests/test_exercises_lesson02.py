"""Lesson 02's exercises: every planted mistake is rejected with a message that names it."""

import numpy as np
import pytest
from exercise_support import assert_rejected

from course_utils import sampling
from course_utils.exercises.lesson02 import (
    first_token_probability_exercise,
    is_pmf_exercise,
    logit_gap_exercise,
    softmax_exercise,
)

# -- softmax ------------------------------------------------------------------------------------


def naive_softmax(logits):
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def global_max_softmax(logits):  # one max for the whole batch
    e = np.exp(logits - logits.max())
    return e / e.sum(axis=-1, keepdims=True)


def whole_array_softmax(logits):  # normalises over every element, not per row
    e = np.exp(logits - logits.max())
    return e / e.sum()


def axis0_softmax(logits):  # normalises down the columns
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def no_keepdims_softmax(logits):  # broadcasting bug on batches
    e = np.exp(logits - logits.max(axis=-1))
    return e / e.sum(axis=-1)


def in_place_softmax(logits):  # changes the caller's array
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def mean_shift_softmax(logits):  # -inf - (-inf) is nan
    e = np.exp(logits - logits.mean(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def unnormalised_softmax(logits):
    return np.exp(logits - logits.max(axis=-1, keepdims=True))


def linear_softmax(logits):  # divides by the sum of the logits, no exp
    shifted = logits - logits.min(axis=-1, keepdims=True) + 1.0
    return shifted / shifted.sum(axis=-1, keepdims=True)


def crashing_softmax(logits):
    raise ZeroDivisionError("oops")


def scalar_softmax(logits):
    return float(np.max(logits))


# -- is_pmf -------------------------------------------------------------------------------------


def sum_only(v):
    return bool(abs(np.sum(v) - 1.0) <= 1e-6)


def exact_sum(v):
    return bool(v.size > 0 and np.all(v >= 0) and v.sum() == 1.0)


def no_nan_check(v):
    return bool(not np.any(v < 0) and not np.any(v > 1) and abs(np.nansum(v) - 1.0) <= 1e-6)


def no_empty_check(v):
    return bool(np.all(np.isfinite(v)) and np.all(v >= 0) and (v.size == 0 or abs(v.sum() - 1.0) <= 1e-6))


def bounds_only(v):
    return bool(np.all(v >= 0) and np.all(v <= 1))


def not_a_bool(v):
    return np.abs(v.sum() - 1) <= 1e-6 and v


MISTAKES = [
    (softmax_exercise, naive_softmax, ["[1000., 999.]", "overflows to inf", "nan"]),
    (softmax_exercise, global_max_softmax, ["row 1", "other row"]),
    (softmax_exercise, whole_array_softmax, ["whole result sums to 1", "each row"]),
    (softmax_exercise, axis0_softmax, ["columns", "axis=-1"]),
    (softmax_exercise, no_keepdims_softmax, ["raised ValueError", "batch"]),
    (softmax_exercise, in_place_softmax, ["changed the array it was given"]),
    (softmax_exercise, mean_shift_softmax, ["-inf", "probability must be exactly 0"]),
    (softmax_exercise, unnormalised_softmax, ["sum to", "not 1"]),
    (softmax_exercise, linear_softmax, ["proportional to exp(logit)"]),
    (softmax_exercise, crashing_softmax, ["raised ZeroDivisionError: oops"]),
    (softmax_exercise, scalar_softmax, ["shape"]),
    (is_pmf_exercise, sum_only, ["negative", "every value must also be a probability"]),
    (is_pmf_exercise, exact_sum, ["not exactly 1", "too strict"]),
    (is_pmf_exercise, no_nan_check, ["[nan, 1.0]", "finite number"]),
    (is_pmf_exercise, no_empty_check, ["empty array", "at least one outcome"]),
    (is_pmf_exercise, bounds_only, ["do not sum to 1"]),
    (is_pmf_exercise, not_a_bool, ["True or False"]),
]


@pytest.mark.parametrize("exercise, wrong, phrases", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_planted_mistakes(exercise, wrong, phrases):
    assert_rejected(exercise, wrong, *phrases)


def test_softmax_diagnoses_never_show_the_fix():
    for wrong in (naive_softmax, global_max_softmax, axis0_softmax, mean_shift_softmax):
        message = softmax_exercise.check(wrong).message
        assert "logits.max(axis=-1, keepdims=True)" not in message
        assert "def softmax" not in message


def test_the_course_softmax_passes():
    assert softmax_exercise.check(sampling.softmax)


P_A = float(sampling.softmax(np.array([2.0, 1.0, 0.1]))[0])

VALUE_MISTAKES = [
    (first_token_probability_exercise, 2.0 / 3.1, ["sum of the logits"]),
    (first_token_probability_exercise, np.exp(2.0), ["e^2.0 on its own"]),
    (first_token_probability_exercise, 100 * P_A, ["percentage"]),
    (first_token_probability_exercise, 1 / 3, ["equal logits"]),
    (first_token_probability_exercise, 0.5, ["not it"]),
    (first_token_probability_exercise, "0.66", ["single number"]),
    (first_token_probability_exercise, True, ["single number"]),
    (first_token_probability_exercise, float("nan"), ["not a finite number"]),
    (logit_gap_exercise, 0.9, ["probability itself"]),
    (logit_gap_exercise, 9.0, ["odds"]),
    (logit_gap_exercise, np.log10(9.0), ["natural one"]),
    (logit_gap_exercise, np.log(0.9), ["log p_a alone"]),
    (logit_gap_exercise, -np.log(9.0), ["gap is positive"]),
    (logit_gap_exercise, 1.0, [f"p = {sampling.softmax([1.0, 0.0])[0]:.4f}"]),
    (logit_gap_exercise, "2.2", ["single number"]),
    (logit_gap_exercise, np.inf, ["not a finite number"]),
]


@pytest.mark.parametrize("exercise, answer, phrases", VALUE_MISTAKES, ids=[f"{m[0].name}={m[1]!r}" for m in VALUE_MISTAKES])
def test_planted_value_mistakes(exercise, answer, phrases):
    assert_rejected(exercise, answer, *phrases)


@pytest.mark.parametrize(
    "exercise, answer",
    [
        (first_token_probability_exercise, P_A),
        (first_token_probability_exercise, round(P_A, 3)),
        (first_token_probability_exercise, np.float32(P_A)),
        (first_token_probability_exercise, np.array([P_A])),
        (logit_gap_exercise, np.log(9.0)),
        (logit_gap_exercise, np.log(0.9) - np.log(0.1)),
    ],
)
def test_right_values_in_any_numeric_form_pass(exercise, answer):
    assert exercise.check(answer)
