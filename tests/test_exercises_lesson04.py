"""Lesson 04's exercises: every planted mistake is rejected with a message that names it."""

import numpy as np
import pytest
from exercise_support import assert_rejected

from course_utils.exercises.lesson04 import (
    chain_order_exercise,
    min_p_keep_exercise,
    same_kept_set,
    top_p_keep,
    top_p_keep_exercise,
)
from course_utils.sampling import next_token_distribution


def _sorted_mask(probs, keep_sorted):
    order = np.argsort(-probs, kind="stable")
    keep = np.zeros(len(probs), dtype=bool)
    keep[order[keep_sorted]] = True
    return keep


# -- top_p_keep ---------------------------------------------------------------------------------


def drops_crossing_token(probs, top_p):
    probs = np.asarray(probs, dtype=float)
    keep_sorted = np.cumsum(np.sort(probs)[::-1]) < top_p
    keep_sorted[0] = True
    return _sorted_mask(probs, keep_sorted)


def without_sorting(probs, top_p):
    probs = np.asarray(probs, dtype=float)
    return np.cumsum(probs) - probs < top_p


def keeps_one_too_many(probs, top_p):
    probs = np.asarray(probs, dtype=float)
    sorted_probs = np.sort(probs)[::-1]
    mass_above = np.cumsum(sorted_probs) - sorted_probs
    return _sorted_mask(probs, np.concatenate([[True], mass_above[:-1] < top_p]))


def keeps_nothing(probs, top_p):
    return np.zeros(len(probs), dtype=bool)


def indices_not_mask(probs, top_p):
    return np.flatnonzero(top_p_keep(probs, top_p))


# -- min_p_keep ---------------------------------------------------------------------------------


def absolute_threshold(probs, min_p):
    return np.asarray(probs) >= min_p


def strict_inequality(probs, min_p):
    probs = np.asarray(probs)
    return probs > min_p * probs.max()


def threshold_from_the_smallest(probs, min_p):
    probs = np.asarray(probs)
    return probs >= min_p * probs.min()


MISTAKES = [
    (top_p_keep_exercise, drops_crossing_token, ["crosses the line"]),
    (top_p_keep_exercise, without_sorting, ["sort by probability"]),
    (top_p_keep_exercise, keeps_one_too_many, ["smallest"]),
    (top_p_keep_exercise, keeps_nothing, ["no token", "always kept"]),
    (top_p_keep_exercise, indices_not_mask, ["boolean array"]),
    (min_p_keep_exercise, absolute_threshold, ["relative", "most likely token"]),
    (min_p_keep_exercise, strict_inequality, ["equals the threshold", ">="]),
    (min_p_keep_exercise, threshold_from_the_smallest, ["min_p x max(p)"]),
]


@pytest.mark.parametrize("exercise, wrong, phrases", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_planted_mistakes(exercise, wrong, phrases):
    assert_rejected(exercise, wrong, *phrases)


def test_top_p_tie_break_does_not_matter():
    probs = np.array([0.4, 0.3, 0.3])
    expected = top_p_keep(probs, 0.5)
    other_tie = np.array([True, False, True])
    assert expected.sum() == other_tie.sum() == 2
    assert same_kept_set(probs, other_tie, expected)


# -- chain_order --------------------------------------------------------------------------------

VALUE_MISTAKES = [
    ((3, 4), ["wrong way round"]),
    ((3, 3), ["after* temperature"]),
    ((4, 4), ["before* temperature"]),
    ((3, 2), ["carries the cumulative sum past"]),
    ((4, 2), ["llama.cpp count leaves out"]),
    ((9, 9), ["is off"]),
    ((4,), ["tuple of two whole numbers"]),
    ("3, 4", ["tuple of two whole numbers"]),
    ((4.5, 3), ["tuple of two whole numbers"]),
]


@pytest.mark.parametrize("answer, phrases", VALUE_MISTAKES, ids=repr)
def test_planted_value_mistakes(answer, phrases):
    assert_rejected(chain_order_exercise, answer, *phrases)


def test_chain_order_expected_is_computed_not_typed():
    z = [3.0, 2.5, 2.0, 1.0, 0.5, 0.0]
    counts = tuple(
        int((next_token_distribution(z, temperature=2.0, top_p=0.8, order=o) > 0).sum())
        for o in ("transformers", "llama.cpp")
    )
    assert chain_order_exercise.expected == counts == (4, 3)
    assert counts[0] != counts[1], "the exercise needs a setting where the orders disagree"


def test_chain_order_accepts_whole_floats_and_numpy_ints():
    assert chain_order_exercise.check((4.0, np.int64(3)))
