"""Lesson 08's exercises: every planted mistake is rejected with a message that names it."""

import numpy as np
import pytest
from exercise_support import assert_rejected

from course_utils.exercises.lesson08 import (
    dry_penalty_exercise,
    eta_threshold_exercise,
    top_n_sigma_keep_exercise,
    xtc_keep,
    xtc_keep_exercise,
)
from course_utils.processors import DRY, TopNSigma

# -- top_n_sigma_keep ---------------------------------------------------------------------------


def sample_std(logits, n):
    z = np.asarray(logits, dtype=float)
    return z >= z.max() - n * z.std(ddof=1)


def from_the_mean(logits, n):
    z = np.asarray(logits, dtype=float)
    return z >= z.mean() - n * z.std()


def on_probabilities(logits, n):
    z = np.asarray(logits, dtype=float)
    p = np.exp(z - z.max())
    p /= p.sum()
    return p >= p.max() - n * p.std()


def strict(logits, n):
    z = np.asarray(logits, dtype=float)
    return z > z.max() - n * z.std()


def indices_not_mask(logits, n):
    z = np.asarray(logits, dtype=float)
    return np.flatnonzero(z >= z.max() - n * z.std())


# -- eta_threshold ------------------------------------------------------------------------------


def _entropy(probs, log):
    p = np.asarray(probs, dtype=float)
    p = p[p > 0]
    return -(p * log(p)).sum()


def in_bits(probs, eta):
    return float(min(eta, np.sqrt(eta) * np.exp(-_entropy(probs, np.log2))))


def forgets_the_min(probs, eta):
    return float(np.sqrt(eta) * np.exp(-_entropy(probs, np.log)))


def no_square_root(probs, eta):
    return float(min(eta, eta * np.exp(-_entropy(probs, np.log))))


def zero_log_zero(probs, eta):
    p = np.asarray(probs, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.minimum(eta, np.sqrt(eta) * np.exp((p * np.log(p)).sum())))


# -- xtc_keep -----------------------------------------------------------------------------------


def removes_every_top_choice(probs, threshold):
    return np.asarray(probs) < threshold


def keeps_the_most_likely(probs, threshold):
    p = np.asarray(probs, dtype=float)
    keep = np.ones(len(p), dtype=bool)
    top = np.flatnonzero(p >= threshold)
    if len(top) >= 2:
        keep[top] = False
        keep[top[np.argmax(p[top])]] = True
    return keep


def acts_on_one(probs, threshold):
    p = np.asarray(probs, dtype=float)
    keep = xtc_keep(p, threshold)
    if (p >= threshold).sum() == 1:
        keep[p >= threshold] = False
    return keep


MISTAKES = [
    (top_n_sigma_keep_exercise, sample_std, ["N - 1", "np.std"]),
    (top_n_sigma_keep_exercise, from_the_mean, ["from the mean", "largest"]),
    (top_n_sigma_keep_exercise, on_probabilities, ["probabilities", "temperature"]),
    (top_n_sigma_keep_exercise, strict, [">=, not >"]),
    (top_n_sigma_keep_exercise, indices_not_mask, ["boolean array"]),
    (eta_threshold_exercise, in_bits, ["bits", "nats"]),
    (eta_threshold_exercise, forgets_the_min, ["smaller of"]),
    (eta_threshold_exercise, no_square_root, ["square root"]),
    (eta_threshold_exercise, zero_log_zero, ["nan", "0 log 0"]),
    (xtc_keep_exercise, removes_every_top_choice, ["least likely"]),
    (xtc_keep_exercise, keeps_the_most_likely, ["*least* likely"]),
    (xtc_keep_exercise, acts_on_one, ["at least two"]),
]


@pytest.mark.parametrize("exercise, wrong, phrases", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_planted_mistakes(exercise, wrong, phrases):
    assert_rejected(exercise, wrong, *phrases)


# -- dry_penalty --------------------------------------------------------------------------------

VALUE_MISTAKES = [
    (0.8 * 1.75 ** 3, ["token 5 itself"]),
    (0.8 * 1.75, ["one token longer"]),
    (0.8 * 1.75 ** 4, ["allowed length"]),
    ("2.45", ["single number"]),
]


@pytest.mark.parametrize("answer, phrases", VALUE_MISTAKES, ids=repr)
def test_planted_value_mistakes(answer, phrases):
    assert_rejected(dry_penalty_exercise, answer, *phrases)


def test_dry_penalty_is_computed_by_the_processor_not_typed():
    tokens, penalties = DRY(0.8, 1.75, 2, -1).penalties(np.array([7, 3, 9, 4, 5, 1, 8, 7, 3, 9, 4]))
    assert tokens.tolist() == [5]
    assert dry_penalty_exercise.expected == pytest.approx(penalties[0]) == pytest.approx(0.8 * 1.75 ** 2)


def test_top_n_sigma_keeps_the_same_tokens_at_every_temperature():
    z = np.random.default_rng(8).standard_normal(200) * 3
    kept = np.isfinite(TopNSigma(1.0)(z))
    for t in (0.3, 1.0, 2.0, 5.0):
        assert np.array_equal(np.isfinite(TopNSigma(1.0)(z / t)), kept)
