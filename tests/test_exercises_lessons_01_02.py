"""Exercises of lessons 00-02: reference solutions pass, planted wrong answers are rejected with
a message that names the trap (and never prints the reference solution)."""

import numpy as np
import pytest

from course_utils import exercises as ex
from course_utils import sampling

# -- reference solutions, written the way a learner would -------------------------------------


def top_tokens(logits, k):
    return np.argsort(np.asarray(logits))[::-1][:k]


def log_probs(logits):
    z = np.asarray(logits, dtype=float)
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def missing_mass(top_logprobs):
    return 1.0 - float(np.sum(np.exp(top_logprobs)))


def is_pmf(values):
    values = np.asarray(values, dtype=float)
    return bool(values.size > 0 and np.all(np.isfinite(values)) and np.all(values >= 0) and abs(values.sum() - 1.0) <= 1e-6)


@pytest.mark.parametrize(
    "exercise, answer",
    [
        (ex.lesson01_top_tokens, top_tokens),
        (ex.lesson01_top_tokens, lambda z, k: np.argsort(-np.asarray(z), kind="stable")[:k].tolist()),
        (ex.lesson01_log_probs, log_probs),
        (ex.lesson01_log_probs, lambda z: sampling.log_softmax(z)),
        (ex.lesson01_missing_mass, missing_mass),
        (ex.lesson02_is_pmf, is_pmf),
        (ex.lesson02_logit_gap, np.log(9.0)),
        (ex.lesson02_logit_gap, np.log(0.9) - np.log(0.1)),
    ],
)
def test_reference_answers_pass(exercise, answer):
    feedback = exercise.check(answer)
    assert feedback, str(feedback)
    assert str(feedback).startswith("✓ Correct!")


def test_solutions_shown_by_solution_pass():
    """The code that solution() prints is itself a correct answer."""
    for exercise in (ex.lesson01_top_tokens, ex.lesson01_log_probs, ex.lesson01_missing_mass, ex.lesson02_is_pmf):
        namespace = {"np": np}
        exec(exercise.solution().code, namespace)
        assert exercise.check(namespace[exercise.name]), exercise.name
    namespace = {"np": np}
    exec(ex.lesson02_logit_gap.solution().code, namespace)
    assert ex.lesson02_logit_gap.check(namespace["logit_gap"])


def _rejected(exercise, answer, *phrases):
    feedback = exercise.check(answer)
    text = str(feedback)
    assert not feedback, f"wrong answer accepted: {text}"
    assert text.startswith("✗")
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in feedback: {text}"
    assert exercise.solution().code not in text, "feedback must not give the solution away"
    return text


# -- lesson 01: top_tokens ----------------------------------------------------------------------


def test_top_tokens_rejects_ascending_argsort():
    _rejected(ex.lesson01_top_tokens, lambda z, k: np.argsort(z)[:k], "smallest", "small to large")


def test_top_tokens_rejects_values_instead_of_indices():
    _rejected(ex.lesson01_top_tokens, lambda z, k: np.sort(z)[::-1][:k], "logit values themselves", "indices")


def test_top_tokens_rejects_unsorted_argpartition():
    _rejected(ex.lesson01_top_tokens, lambda z, k: np.argpartition(z, -k)[-k:], "not in order", "largest first")


def test_top_tokens_rejects_wrong_length_and_stub():
    _rejected(ex.lesson01_top_tokens, lambda z, k: np.argsort(z)[::-1][: k + 1], "expected a flat array of k")
    _rejected(ex.lesson01_top_tokens, lambda z, k: None, "forget `return`")


def test_top_tokens_rejects_duplicates_when_ties():
    def picks_first_max_twice(z, k):
        z = np.asarray(z)
        return np.array([int(np.argmax(z))] * k) if k > 1 and np.sum(z == z.max()) > 1 else np.argsort(z)[::-1][:k]

    _rejected(ex.lesson01_top_tokens, picks_first_max_twice, "tie", "more than once")


def test_top_tokens_rejects_nan_blind_sorting_of_masked_tokens():
    # Replacing -inf by 0 makes masked tokens outrank negative-but-real ones.
    def masks_as_zero(z, k):
        z = np.where(np.isneginf(z), 0.0, z)
        return np.argsort(z)[::-1][:k]

    _rejected(ex.lesson01_top_tokens, lambda z, k: masks_as_zero(np.asarray(z) - 1.0, k), "masked tokens", "least likely")


# -- lesson 01: log_probs ----------------------------------------------------------------------


def test_log_probs_rejects_log_of_softmax():
    _rejected(ex.lesson01_log_probs, lambda z: np.log(sampling.softmax(z)), "very unlikely token", "-inf", "underflows")


def test_log_probs_rejects_naive_logsumexp_overflow():
    def naive(z):
        z = np.asarray(z, dtype=float)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    _rejected(ex.lesson01_log_probs, naive, "very large logits", "overflowed", "-inf")


def test_log_probs_rejects_whole_batch_normalisation():
    def whole_batch(z):
        z = np.asarray(z, dtype=float)
        m = z.max()
        return z - m - np.log(np.exp(z - m).sum())

    _rejected(ex.lesson01_log_probs, whole_batch, "batch", "own distribution")


def test_log_probs_rejects_probabilities_and_lost_masks():
    _rejected(ex.lesson01_log_probs, lambda z: sampling.softmax(z), "never above 0")

    def unmasks(z):
        z = np.where(np.isneginf(z), -50.0, np.asarray(z, dtype=float))
        return log_probs(z)

    _rejected(ex.lesson01_log_probs, unmasks, "masked token", "stay -inf")


def test_log_probs_rejects_in_place_modification():
    def in_place(z):
        z -= z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    _rejected(ex.lesson01_log_probs, in_place, "changed the array")


# -- lesson 01: missing_mass -------------------------------------------------------------------


def test_missing_mass_cases_are_possible_api_answers():
    for case in ex._MISSING_MASS_CASES:
        assert np.exp(np.asarray(case.args[0], dtype=float)).sum() <= 1.0


def test_missing_mass_rejects_covered_mass():
    _rejected(ex.lesson01_missing_mass, lambda t: float(np.sum(np.exp(t))), "cover", "everything else")


def test_missing_mass_rejects_summed_logprobs():
    _rejected(ex.lesson01_missing_mass, lambda t: 1.0 - float(np.sum(t)), "added the log-probabilities")


def test_missing_mass_rejects_base_ten():
    _rejected(ex.lesson01_missing_mass, lambda t: 1.0 - float(np.sum(np.power(10.0, t))), "natural logarithms")


def test_missing_mass_rejects_non_numbers():
    _rejected(ex.lesson01_missing_mass, lambda t: [1.0 - float(np.sum(np.exp(t)))] * 2, "single number")


# -- lesson 02: the base softmax exercise is used as exercise 1 ---------------------------------


def test_lesson02_softmax_exercise_rejects_naive_overflow():
    _rejected(ex.softmax_exercise, lambda z: np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True), "overflows")


# -- lesson 02: is_pmf -------------------------------------------------------------------------


def test_is_pmf_rejects_sum_only_check():
    _rejected(ex.lesson02_is_pmf, lambda v: bool(abs(np.sum(v) - 1.0) <= 1e-6), "negative", "every value must also be a probability")


def test_is_pmf_rejects_exact_equality():
    _rejected(ex.lesson02_is_pmf, lambda v: bool(v.size > 0 and np.all(v >= 0) and v.sum() == 1.0), "not exactly 1", "too strict")


def test_is_pmf_rejects_nan_and_empty_blindness():
    def no_nan_check(v):
        return bool(not np.any(v < 0) and not np.any(v > 1) and abs(np.nansum(v) - 1.0) <= 1e-6)

    _rejected(ex.lesson02_is_pmf, no_nan_check, "[nan, 1.0]", "finite number")

    def no_empty_check(v):
        return bool(np.all(np.isfinite(v)) and np.all(v >= 0) and (v.size == 0 or abs(v.sum() - 1.0) <= 1e-6))

    _rejected(ex.lesson02_is_pmf, no_empty_check, "empty array", "at least one outcome")

    _rejected(ex.lesson02_is_pmf, lambda v: bool(np.all(v >= 0) and np.all(v <= 1)), "do not sum to 1")


def test_is_pmf_rejects_non_bool():
    _rejected(ex.lesson02_is_pmf, lambda v: np.abs(v.sum() - 1) <= 1e-6 and v, "True or False")


# -- lesson 02: logit_gap ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, phrase",
    [
        (0.9, "probability itself"),
        (9.0, "odds"),
        (np.log10(9.0), "natural one"),
        (np.log(0.9), "log p_a alone"),
        (-np.log(9.0), "gap is positive"),
        (1.0, f"p = {sampling.softmax([1.0, 0.0])[0]:.4f}"),
        ("2.2", "single number"),
        (np.inf, "not a finite number"),
        (..., "No answer yet"),
    ],
)
def test_logit_gap_rejects_common_mistakes(answer, phrase):
    _rejected(ex.lesson02_logit_gap, answer, phrase)


# -- lesson 00: the warm-up --------------------------------------------------------------------


def test_vocabulary_warm_up_uses_the_model():
    from course_utils.model import load_model

    vocab = load_model().vocab_size
    assert ex.lesson00_vocabulary.check(vocab)
    assert "Too low" in str(ex.lesson00_vocabulary.check(1000))
    assert "Too high" in str(ex.lesson00_vocabulary.check(vocab * 10))
    assert "Close" in str(ex.lesson00_vocabulary.check(vocab + 1))
    assert "whole number" in str(ex.lesson00_vocabulary.check(3.5))
    assert "whole number" in str(ex.lesson00_vocabulary.check("many"))


def test_hints_are_revealed_one_by_one():
    exercise = ex.lesson01_log_probs
    exercise._hints_shown = 0
    titles = [exercise.hint().title for _ in range(len(exercise.hints) + 1)]
    assert titles[0].startswith("Hint 1 of 3")
    assert titles[-1].startswith("Hint 3 of 3") and "last hint" in titles[-1]
