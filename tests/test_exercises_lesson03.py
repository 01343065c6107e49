"""Lesson 03's exercises: every planted mistake is rejected with a message that names it."""

import numpy as np
import pytest
from exercise_support import assert_rejected

from course_utils.exercises.lesson03 import (
    effective_choices_exercise,
    softmax_t_exercise,
    temperature_for_90_exercise,
)
from course_utils.sampling import softmax

# -- softmax_t ----------------------------------------------------------------------------------


def multiplies(z, t):
    s = np.asarray(z, dtype=float) * t
    e = np.exp(s - s.max())
    return e / e.sum()


def ignores_temperature(z, t):
    s = np.asarray(z, dtype=float)
    e = np.exp(s - s.max())
    return e / e.sum()


def no_max_shift(z, t):
    e = np.exp(np.asarray(z, dtype=float) / t)
    return e / e.sum()


def shifts_by_min(z, t):
    s = np.asarray(z, dtype=float) / t
    e = np.exp(s - s.min())  # -inf - (-inf) = nan
    return e / e.sum()


def power_without_renormalising(z, t):
    s = np.asarray(z, dtype=float)
    p = np.exp(s - s.max())
    return (p / p.sum()) ** (1 / t)


def in_place(z, t):
    z /= t
    z -= z.max()
    np.exp(z, out=z)
    return z / z.sum()


# -- effective_choices --------------------------------------------------------------------------


def keeps_zeros(p):
    p = np.asarray(p, dtype=float)
    return 2 ** -(p * np.log2(p)).sum()


def entropy_itself(p):
    p = np.asarray(p, dtype=float)
    p = p[p > 0]
    return -(p * np.log2(p)).sum()


def bits_with_e(p):
    p = np.asarray(p, dtype=float)
    p = p[p > 0]
    return np.exp(-(p * np.log2(p)).sum())


def wrong_sign(p):
    p = np.asarray(p, dtype=float)
    p = p[p > 0]
    return 2 ** (p * np.log2(p)).sum()


def in_nats(p):
    p = np.asarray(p, dtype=float)
    p = p[p > 0]
    return np.exp(-(p * np.log(p)).sum())


def section_one_copied(z, T):  # the lesson's own function: right for every T > 0, nan at T = 0
    s = np.asarray(z, dtype=float) / T
    e = np.exp(s - s.max())
    return e / e.sum()


def arrays_only(logits, temperature):  # passes on arrays, fails on the plain list the task allows
    scaled = logits / temperature
    e = np.exp(scaled - scaled.max())
    return e / e.sum()


def natural_log_with_two(probs):
    p = np.asarray(probs, dtype=float)
    p = p[p > 0]
    return 2 ** -(p * np.log(p)).sum()


MISTAKES = [
    (softmax_t_exercise, section_one_copied, ["T = 0", "largest logit"]),
    (softmax_t_exercise, arrays_only, ["plain Python list", "TypeError"]),
    (effective_choices_exercise, natural_log_with_two, ["nats", "np.log2"]),
    (softmax_t_exercise, multiplies, ["multiplying the logits by T"]),
    (softmax_t_exercise, ignores_temperature, ["no effect"]),
    (softmax_t_exercise, no_max_shift, ["small temperature", "overflows"]),
    (softmax_t_exercise, shifts_by_min, ["-inf"]),
    (softmax_t_exercise, power_without_renormalising, ["sum to", "normalise"]),
    (softmax_t_exercise, in_place, ["changed the array"]),
    (effective_choices_exercise, keeps_zeros, ["0 * log(0)", "nan"]),
    (effective_choices_exercise, entropy_itself, ["entropy", "2 to the power"]),
    (effective_choices_exercise, bits_with_e, ["Bits and `2**H`"]),
    (effective_choices_exercise, wrong_sign, ["sign"]),
]


@pytest.mark.parametrize("exercise, wrong, phrases", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_planted_mistakes(exercise, wrong, phrases):
    assert_rejected(exercise, wrong, *phrases)


def test_effective_choices_in_nats_with_exp_is_fine():
    assert effective_choices_exercise.check(in_nats)


# -- temperature_for_90 -------------------------------------------------------------------------

VALUE_MISTAKES = [
    (0.5, ["too hot"]),
    (0.3, ["too cold"]),
    (1.5, ["too hot"]),
    (-0.2, ["must be positive"]),
    (1 / temperature_for_90_exercise.expected, ["1/T"]),
    ("0.43", ["single number"]),
]


@pytest.mark.parametrize("answer, phrases", VALUE_MISTAKES, ids=repr)
def test_planted_value_mistakes(answer, phrases):
    assert_rejected(temperature_for_90_exercise, answer, *phrases)


def test_the_temperature_for_90_really_gives_ninety_percent():
    t = temperature_for_90_exercise.expected
    assert softmax([2.0, 1.0, 0.1], temperature=t)[0] == pytest.approx(0.9, abs=1e-9)
    assert temperature_for_90_exercise.check(round(t, 3))
    assert temperature_for_90_exercise.check(np.float64(t))
