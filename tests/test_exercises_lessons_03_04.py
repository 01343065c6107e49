"""Lesson 03 and 04 exercises: reference solutions pass, planted wrong answers get a helpful "why"."""

import numpy as np
import pytest

from course_utils import exercises as ex
from course_utils.sampling import softmax

LESSON_03_04 = [
    ex.temperature_softmax_exercise,
    ex.temperature_for_target_exercise,
    ex.effective_choices_exercise,
    ex.top_p_keep_exercise,
    ex.min_p_keep_exercise,
    ex.chain_order_exercise,
]


def run_solution(exercise):
    """Execute the solution text a learner would see, in a namespace like the notebook's."""
    namespace = {"np": np, "softmax": softmax}
    exec(exercise.solution().code, namespace)
    return namespace


def rejected(feedback, *phrases):
    """The answer failed, and the explanation contains every phrase (case-insensitive)."""
    assert not feedback, f"a wrong answer passed: {feedback}"
    text = str(feedback).lower()
    for phrase in phrases:
        assert phrase.lower() in text, f"{phrase!r} missing from the feedback:\n{feedback}"
    return True


# -- reference solutions pass ------------------------------------------------------------------


@pytest.mark.parametrize(
    "exercise, answer_name",
    [
        (ex.temperature_softmax_exercise, "softmax_t"),
        (ex.effective_choices_exercise, "effective_choices"),
        (ex.top_p_keep_exercise, "top_p_keep"),
        (ex.min_p_keep_exercise, "min_p_keep"),
        (ex.temperature_for_target_exercise, "T_for_90"),
        (ex.chain_order_exercise, "answer"),
    ],
)
def test_the_published_solution_passes(exercise, answer_name):
    feedback = exercise.check(run_solution(exercise)[answer_name])
    assert feedback, str(feedback)
    assert "Correct" in str(feedback)


@pytest.mark.parametrize("exercise", LESSON_03_04, ids=lambda e: e.name)
def test_every_exercise_has_a_question_hints_and_a_placeholder_message(exercise):
    assert exercise.question and len(exercise.hints) >= 2
    assert "No answer yet" in str(exercise.check(None))
    assert "No answer yet" in str(exercise.check(...))
    assert str(exercise.hint()).startswith("💡 Hint 1 of")


@pytest.mark.parametrize(
    "exercise",
    [ex.temperature_softmax_exercise, ex.effective_choices_exercise, ex.top_p_keep_exercise, ex.min_p_keep_exercise],
    ids=lambda e: e.name,
)
def test_a_placeholder_function_is_told_to_return_something(exercise):
    def placeholder(*args):
        ...

    assert rejected(exercise.check(placeholder), "returned None", "return")


# -- Lesson 03: softmax with temperature ---------------------------------------------------------


def test_temperature_multiplied_instead_of_divided():
    def multiplies(z, t):
        s = np.asarray(z, dtype=float) * t
        e = np.exp(s - s.max())
        return e / e.sum()

    assert rejected(ex.temperature_softmax_exercise.check(multiplies), "multiplying the logits by T")


def test_temperature_ignored():
    def ignores(z, t):
        s = np.asarray(z, dtype=float)
        e = np.exp(s - s.max())
        return e / e.sum()

    assert rejected(ex.temperature_softmax_exercise.check(ignores), "no effect")


def test_temperature_without_the_max_shift_overflows_at_tiny_t():
    def naive(z, t):
        e = np.exp(np.asarray(z, dtype=float) / t)
        return e / e.sum()

    assert rejected(ex.temperature_softmax_exercise.check(naive), "small temperature", "overflows")


def test_temperature_shift_that_breaks_on_minus_inf():
    def shifts_by_min(z, t):
        s = np.asarray(z, dtype=float) / t
        e = np.exp(s - s.min())  # -inf - (-inf) = nan
        return e / e.sum()

    assert rejected(ex.temperature_softmax_exercise.check(shifts_by_min), "-inf")


def test_temperature_as_a_power_without_renormalising():
    def powers(z, t):
        s = np.asarray(z, dtype=float)
        p = np.exp(s - s.max())
        return (p / p.sum()) ** (1 / t)

    assert rejected(ex.temperature_softmax_exercise.check(powers), "sum to", "normalise")


def test_temperature_function_that_modifies_its_input():
    def in_place(z, t):
        z /= t
        z -= z.max()
        np.exp(z, out=z)
        return z / z.sum()

    assert rejected(ex.temperature_softmax_exercise.check(in_place), "changed the array")


# -- Lesson 03: the temperature for 90% -------------------------------------------------------------


def test_temperature_target_direction_hints():
    assert rejected(ex.temperature_for_target_exercise.check(0.5), "too hot")
    assert rejected(ex.temperature_for_target_exercise.check(0.3), "too cold")
    assert rejected(ex.temperature_for_target_exercise.check(1.5), "too hot")
    assert rejected(ex.temperature_for_target_exercise.check(-0.2), "must be positive")


def test_temperature_target_reciprocal_mistake():
    assert rejected(ex.temperature_for_target_exercise.check(1 / ex.temperature_for_target_exercise.expected), "1/T")


def test_temperature_target_really_gives_ninety_percent():
    t = ex.temperature_for_target_exercise.expected
    assert softmax([2.0, 1.0, 0.1], temperature=t)[0] == pytest.approx(0.9, abs=1e-9)
    assert ex.temperature_for_target_exercise.check(round(t, 3))
    assert ex.temperature_for_target_exercise.check(np.float64(t))


def test_temperature_target_rejects_a_non_number():
    assert rejected(ex.temperature_for_target_exercise.check("0.43"), "single number")


# -- Lesson 03: effective number of choices -------------------------------------------------------


def test_effective_choices_nan_from_zero_probabilities():
    def with_zeros(p):
        p = np.asarray(p, dtype=float)
        return 2 ** -(p * np.log2(p)).sum()

    assert rejected(ex.effective_choices_exercise.check(with_zeros), "0 * log(0)", "nan")


def test_effective_choices_returns_entropy_itself():
    def entropy_only(p):
        p = np.asarray(p, dtype=float)
        p = p[p > 0]
        return -(p * np.log2(p)).sum()

    assert rejected(ex.effective_choices_exercise.check(entropy_only), "entropy", "2 to the power")


def test_effective_choices_mixes_bits_and_e():
    def mixed(p):
        p = np.asarray(p, dtype=float)
        p = p[p > 0]
        return np.exp(-(p * np.log2(p)).sum())

    assert rejected(ex.effective_choices_exercise.check(mixed), "bits and 2**h")


def test_effective_choices_sign_error():
    def wrong_sign(p):
        p = np.asarray(p, dtype=float)
        p = p[p > 0]
        return 2 ** (p * np.log2(p)).sum()

    assert rejected(ex.effective_choices_exercise.check(wrong_sign), "sign")


def test_effective_choices_natural_log_with_exp_is_fine():
    def in_nats(p):
        p = np.asarray(p, dtype=float)
        p = p[p > 0]
        return np.exp(-(p * np.log(p)).sum())

    assert ex.effective_choices_exercise.check(in_nats)


# -- Lesson 04: top-p -------------------------------------------------------------------------------


def _sorted_mask(probs, keep_sorted):
    order = np.argsort(-probs, kind="stable")
    keep = np.zeros(len(probs), dtype=bool)
    keep[order[keep_sorted]] = True
    return keep


def test_top_p_that_drops_the_crossing_token():
    def drops_crossing(probs, top_p):
        probs = np.asarray(probs, dtype=float)
        cumulative = np.cumsum(np.sort(probs)[::-1])
        keep_sorted = cumulative < top_p
        keep_sorted[0] = True
        return _sorted_mask(probs, keep_sorted)

    assert rejected(ex.top_p_keep_exercise.check(drops_crossing), "crosses the line")


def test_top_p_without_sorting():
    def unsorted(probs, top_p):
        probs = np.asarray(probs, dtype=float)
        mass_above = np.cumsum(probs) - probs
        return mass_above < top_p

    assert rejected(ex.top_p_keep_exercise.check(unsorted), "sort by probability")


def test_top_p_that_keeps_one_too_many():
    def one_too_many(probs, top_p):
        probs = np.asarray(probs, dtype=float)
        sorted_probs = np.sort(probs)[::-1]
        mass_above = np.cumsum(sorted_probs) - sorted_probs
        keep_sorted = np.concatenate([[True], mass_above[:-1] < top_p])
        return _sorted_mask(probs, keep_sorted)

    assert rejected(ex.top_p_keep_exercise.check(one_too_many), "smallest")


def test_top_p_that_keeps_nothing():
    def keeps_nothing(probs, top_p):
        return np.zeros(len(probs), dtype=bool)

    assert rejected(ex.top_p_keep_exercise.check(keeps_nothing), "no token", "always kept")


def test_top_p_returning_indices_instead_of_a_mask():
    def indices(probs, top_p):
        return np.flatnonzero(ex._top_p_keep_reference(probs, top_p))

    assert rejected(ex.top_p_keep_exercise.check(indices), "boolean array")


def test_top_p_tie_break_does_not_matter():
    probs = np.array([0.4, 0.3, 0.3])
    expected = ex._top_p_keep_reference(probs, 0.5)
    other_tie = np.array([True, False, True])
    assert expected.sum() == other_tie.sum() == 2
    assert ex._same_kept_set(probs, other_tie, expected)


# -- Lesson 04: min-p -------------------------------------------------------------------------------


def test_min_p_absolute_threshold():
    def absolute(probs, min_p):
        return np.asarray(probs) >= min_p

    assert rejected(ex.min_p_keep_exercise.check(absolute), "relative", "most likely token")


def test_min_p_strict_inequality():
    def strict(probs, min_p):
        probs = np.asarray(probs)
        return probs > min_p * probs.max()

    assert rejected(ex.min_p_keep_exercise.check(strict), "equals the threshold", ">=")


def test_min_p_threshold_from_the_smallest_probability():
    def from_min(probs, min_p):
        probs = np.asarray(probs)
        return probs >= min_p * probs.min()

    assert rejected(ex.min_p_keep_exercise.check(from_min), "min_p x max(p)")


# -- Lesson 04: the order of the chain ------------------------------------------------------------


def test_chain_order_expected_is_computed_not_typed():
    from course_utils.sampling import next_token_distribution

    z = [3.0, 2.5, 2.0, 1.0, 0.5, 0.0]
    counts = tuple(
        int((next_token_distribution(z, temperature=2.0, top_p=0.8, order=o) > 0).sum())
        for o in ("transformers", "llama.cpp")
    )
    assert ex.chain_order_exercise.expected == counts
    assert counts[0] != counts[1], "the exercise needs a setting where the orders disagree"


@pytest.mark.parametrize(
    "answer, phrase",
    [
        ((3, 4), "wrong way round"),
        ((3, 3), "after* temperature"),
        ((4, 4), "before* temperature"),
        ((3, 2), "carries the cumulative sum past"),
        ((4, 2), "llama.cpp count leaves out"),
        ((9, 9), "is off"),
        ((4,), "tuple of two whole numbers"),
        ("4, 3", "tuple of two whole numbers"),
        ((4.5, 3), "tuple of two whole numbers"),
    ],
)
def test_chain_order_mistakes(answer, phrase):
    assert rejected(ex.chain_order_exercise.check(answer), phrase)


def test_chain_order_accepts_whole_floats_and_numpy_ints():
    assert ex.chain_order_exercise.check((4.0, np.int64(3)))
