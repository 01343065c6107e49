"""The exercise machinery (Feedback, Exercise, FunctionExercise, ValueExercise) and its two examples.

Every trap of ``softmax_exercise`` gets a planted wrong answer, and the test asserts that
``check`` rejects it with a message that names the actual problem; the reference solution (the
code ``solution()`` shows) passes.
"""

import numpy as np
import pytest

from course_utils import sampling
from course_utils.exercises import (
    Case,
    Feedback,
    FunctionExercise,
    ValueExercise,
    first_token_probability_exercise,
    softmax_exercise,
)


def good_softmax(logits):
    logits = np.asarray(logits, dtype=float)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


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


def test_reference_solution_passes():
    result = softmax_exercise.check(good_softmax)
    assert result and result.kind == "correct"


def test_the_code_that_solution_shows_passes():
    namespace = {"np": np}
    exec(softmax_exercise.solution().code, namespace)
    assert softmax_exercise.check(namespace["softmax"])


def test_sampling_softmax_passes():
    assert softmax_exercise.check(sampling.softmax)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (naive_softmax, ["[1000., 999.]", "overflows to inf", "nan"]),
        (global_max_softmax, ["row 1", "other row"]),
        (whole_array_softmax, ["whole result sums to 1", "each row"]),
        (axis0_softmax, ["columns", "axis=-1"]),
        (no_keepdims_softmax, ["raised ValueError", "batch"]),
        (in_place_softmax, ["changed the array it was given"]),
        (mean_shift_softmax, ["-inf", "probability must be exactly 0"]),
        (unnormalised_softmax, ["sum to", "not 1"]),
        (linear_softmax, ["proportional to exp(logit)"]),
        (crashing_softmax, ["raised ZeroDivisionError: oops"]),
        (scalar_softmax, ["shape"]),
    ],
)
def test_planted_wrong_softmax_is_rejected_with_its_reason(wrong, words):
    result = softmax_exercise.check(wrong)
    assert not result
    assert result.kind == "incorrect"
    for word in words:
        assert word in result.message, result.message


def test_feedback_never_shows_the_fix():
    for wrong in (naive_softmax, global_max_softmax, axis0_softmax, mean_shift_softmax):
        message = softmax_exercise.check(wrong).message
        assert "logits.max(axis=-1, keepdims=True)" not in message
        assert "def softmax" not in message


def test_check_wants_the_function_not_its_result():
    result = softmax_exercise.check(good_softmax(np.array([1.0, 2.0])))
    assert not result
    assert "without parentheses" in result.message


def test_no_answer_yet():
    assert softmax_exercise.check(None).title == "No answer yet"
    assert softmax_exercise.check(...).title == "No answer yet"


def test_learner_warnings_are_silenced(recwarn):
    softmax_exercise.check(naive_softmax)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_hints_come_one_at_a_time_then_stay_on_the_last():
    exercise = FunctionExercise(
        "demo",
        reference=good_softmax,
        cases=[Case((np.array([1.0, 2.0]),), "two logits")],
        diagnose=lambda case, expected, got: None,
        question="q",
        hints=["first", "second"],
        solution="pass",
    )
    assert [exercise.hint().message for _ in range(3)] == ["first", "second", "second"]
    assert exercise.hint(1).title.startswith("Hint 1 of 2")
    with pytest.raises(ValueError, match="from 1 to 2"):
        exercise.hint(3)
    with pytest.raises(ValueError, match="from 1 to 2"):
        exercise.hint(0)


def test_feedback_displays_as_text_and_html():
    feedback = Feedback("incorrect", "Not yet", "a < b & c")
    assert str(feedback) == "✗ Not yet\na < b & c"
    assert repr(feedback) == str(feedback)
    html = feedback._repr_html_()
    assert "a &lt; b &amp; c" in html and "#D55E00" in html
    solution = softmax_exercise.solution()
    assert "<pre" in solution._repr_html_() and "def softmax" in str(solution)
    assert not solution and not softmax_exercise.hint(1)


def test_value_exercise_right_answer_and_known_mistakes():
    exercise = first_token_probability_exercise
    expected = float(sampling.softmax(np.array([2.0, 1.0, 0.1]))[0])
    assert exercise.check(expected)
    assert exercise.check(round(expected, 3))
    assert exercise.check(np.float32(expected))
    assert exercise.check(np.array([expected]))
    assert "sum of the logits" in exercise.check(2.0 / 3.1).message
    assert "e^2.0 on its own" in exercise.check(np.exp(2.0)).message
    assert "percentage" in exercise.check(100 * expected).message
    assert "equal logits" in exercise.check(1 / 3).message
    assert "not it" in exercise.check(0.5).message
    assert "single number" in exercise.check("0.66").message
    assert "single number" in exercise.check(True).message
    assert "not a finite number" in exercise.check(float("nan")).message


def test_value_exercise_refuses_indistinguishable_mistakes():
    with pytest.raises(ValueError, match="could not tell them apart"):
        ValueExercise("x", expected=0.5, tolerance=0.01, question="q", hints=["h"], solution="s",
                      mistakes=[(0.51, "close")])
    with pytest.raises(ValueError, match="tolerance must be positive"):
        ValueExercise("x", expected=0.5, tolerance=0, question="q", hints=["h"], solution="s")


def test_exercise_needs_hints_and_cases():
    with pytest.raises(ValueError, match="at least one hint"):
        ValueExercise("x", expected=0.5, tolerance=0.01, question="q", hints=[], solution="s")
    with pytest.raises(ValueError, match="at least one case"):
        FunctionExercise("x", reference=good_softmax, cases=[], diagnose=lambda *a: None,
                         question="q", hints=["h"], solution="s")
