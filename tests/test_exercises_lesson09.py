"""Lesson 09's exercises: every planted mistake is rejected with a message that names it."""

import numpy as np
import pytest
from exercise_support import assert_rejected, literal_markdown

from course_utils import speculative
from course_utils.exercises.lesson09 import (
    THREE_P,
    THREE_Q,
    _next_token_probabilities,
    expected_tokens,
    expected_tokens_exercise,
    speculative_step,
    speculative_step_exercise,
)

# -- speculative_step ---------------------------------------------------------------------------


def _kept(p, x):
    next_token = np.zeros(len(p))
    next_token[x] = 1.0
    return next_token


def q_over_p(p, q, x, u):
    if u < min(1.0, q[x] / p[x]):
        return _kept(p, x)
    r = np.maximum(p - q, 0.0)
    return r / r.sum()


def less_or_equal(p, q, x, u):
    if u <= min(1.0, p[x] / q[x]):
        return _kept(p, x)
    r = np.maximum(p - q, 0.0)
    return r / r.sum()


def resamples_from_p(p, q, x, u):
    return _kept(p, x) if u < min(1.0, p[x] / q[x]) else p.copy()


def q_minus_p(p, q, x, u):
    if u < min(1.0, p[x] / q[x]):
        return _kept(p, x)
    r = np.maximum(q - p, 0.0)
    return r / r.sum()


def not_normalised(p, q, x, u):
    return _kept(p, x) if u < min(1.0, p[x] / q[x]) else np.maximum(p - q, 0.0)


def changes_p(p, q, x, u):
    if u < min(1.0, p[x] / q[x]):
        return _kept(p, x)
    p -= q
    np.maximum(p, 0.0, out=p)
    return p / p.sum()


def returns_the_token(p, q, x, u):
    return x if u < min(1.0, p[x] / q[x]) else speculative_step(p, q, x, u)


def returns_a_bool(p, q, x, u):
    return u < min(1.0, p[x] / q[x])


def rejects_everything(p, q, x, u):
    r = np.maximum(p - q, 0.0)
    return r / r.sum()


# -- expected_tokens ----------------------------------------------------------------------------


def forgets_the_model_token(alpha, gamma):
    if alpha == 1:
        return float(gamma)
    return alpha * (1 - alpha ** gamma) / (1 - alpha)


def power_gamma(alpha, gamma):
    if alpha == 1:
        return float(gamma)
    return (1 - alpha ** gamma) / (1 - alpha)


def divides_by_zero(alpha, gamma):
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def nan_at_one(alpha, gamma):
    alpha = np.float64(alpha)
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def gamma_times_alpha(alpha, gamma):
    return gamma * alpha


MISTAKES = [
    (speculative_step_exercise, q_over_p, ["q(x)/p(x)", "the other way up"]),
    (speculative_step_exercise, less_or_equal, ["exactly p(x)/q(x)", "<= instead of <"]),
    (speculative_step_exercise, resamples_from_p, ["returned p itself", "biases the text"]),
    (speculative_step_exercise, q_minus_p, ["max(0, q − p)", "max(0, p − q)"]),
    (speculative_step_exercise, not_normalised, ["sums to 0.3", "divide the residual by its sum"]),
    (speculative_step_exercise, changes_p, ["changed the array it was given"]),
    (speculative_step_exercise, returns_the_token, ["the token x = 1 itself"]),
    (speculative_step_exercise, returns_a_bool, ["whether x is kept"]),
    (speculative_step_exercise, rejects_everything, ["you rejected x", "keeps it"]),
    (expected_tokens_exercise, forgets_the_model_token, ["one less", "one token of its own"]),
    (expected_tokens_exercise, power_gamma, ["γ + 1 terms"]),
    (expected_tokens_exercise, divides_by_zero, ["ZeroDivisionError", "0 by 0", "on its own"]),
    (expected_tokens_exercise, nan_at_one, ["returned nan", "0 by 0"]),
    (expected_tokens_exercise, gamma_times_alpha, ["γ·α", "first rejection"]),
]


@pytest.mark.parametrize("exercise, wrong, phrases", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_planted_mistakes(exercise, wrong, phrases):
    assert_rejected(exercise, wrong, *phrases)


@pytest.mark.parametrize("exercise, solution", [(speculative_step_exercise, speculative_step),
                                                (expected_tokens_exercise, expected_tokens)])
def test_the_reference_passes_and_every_message_is_inline_markdown(exercise, solution):
    feedback = exercise.check(solution)
    assert feedback and literal_markdown(feedback) is None, str(feedback)
    for number in range(1, len(exercise.hints) + 1):
        assert literal_markdown(exercise.hint(number)) is None


def test_the_checker_asks_the_course_rule_not_a_copy_of_it(monkeypatch):
    rejected = speculative_step_exercise.expected(THREE_P, THREE_Q, 1, 0.7)
    assert np.allclose(rejected, speculative.RULE.residual(THREE_P, THREE_Q))

    class KeepsEverything(speculative.Rule):
        def acceptance(self, p_x, q_x):
            return 1.0

    monkeypatch.setattr(speculative, "RULE", KeepsEverything())
    assert np.array_equal(speculative_step_exercise.expected(THREE_P, THREE_Q, 1, 0.7), [0.0, 1.0, 0.0])


def test_the_checker_leaves_its_cases_unchanged():
    cases = speculative_step_exercise.cases
    before = [tuple(a.copy() if isinstance(a, np.ndarray) else a for a in case.args) for case in cases]
    for answer in (speculative_step, changes_p):
        speculative_step_exercise.check(answer)
    for case, args in zip(cases, before):
        for now, then in zip(case.args, args):
            assert np.array_equal(now, then)


def test_the_payoff_is_computed_from_the_learners_own_step():
    feedback = speculative_step_exercise.check(speculative_step)
    assert "x ~ q, then your step: next token probabilities [0.5, 0.3, 0.2] = p" in feedback.message
    assert np.allclose(_next_token_probabilities(speculative_step, THREE_P, THREE_Q), THREE_P, atol=1e-12)
    # the classic wrong rule, drawing the replacement from p, leans towards the draft's q
    biased = _next_token_probabilities(resamples_from_p, THREE_P, THREE_Q)
    assert np.allclose(biased, [0.35, 0.39, 0.26], atol=1e-12)


@pytest.mark.parametrize("alpha, gamma", [(0.0, 3), (1.0, 4), (0.8, 4), (0.7, 0)])
def test_expected_tokens_agrees_with_the_course(alpha, gamma):
    assert expected_tokens(alpha, gamma) == pytest.approx(speculative.expected_tokens(alpha, gamma))
