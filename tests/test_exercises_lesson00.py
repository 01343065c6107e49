"""Lesson 00's warm-up: the answer comes from the model; wrong guesses get told how far off they are."""

import pytest
from exercise_support import assert_rejected

from course_utils.exercises.lesson00 import vocabulary_size_exercise
from course_utils.model import load_model

MISTAKES = [
    (3.5, ["whole number"]),
    ("many", ["whole number"]),
    (True, ["whole number"]),
    (0, ["at least one token"]),
    (-5, ["at least one token"]),
]


@pytest.mark.parametrize("answer, phrases", MISTAKES, ids=repr)
def test_planted_mistakes(answer, phrases):
    assert_rejected(vocabulary_size_exercise, answer, *phrases)


def test_guesses_are_told_how_far_off_they_are():
    vocab = load_model().vocab_size
    assert vocabulary_size_exercise.check(vocab) and vocabulary_size_exercise.check(float(vocab))
    assert_rejected(vocabulary_size_exercise, 1000, "Too low")
    assert_rejected(vocabulary_size_exercise, vocab * 10, "Too high")
    assert_rejected(vocabulary_size_exercise, vocab + 1, "Close", "too high")
