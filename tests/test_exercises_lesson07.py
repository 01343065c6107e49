"""Lesson 07's exercises: every planted mistake is rejected with a message that names it, and the
"digits only" mask is the one llguidance builds for the regex [0-9]+ over the real vocabulary."""

import numpy as np
import pytest
from exercise_support import assert_rejected

from course_utils.exercises.lesson07 import apply_logit_bias_exercise, digit_tokens, digit_tokens_exercise
from course_utils.structured import TokenConstraint

# -- apply_logit_bias ---------------------------------------------------------------------------


def bans_to_minus_infinity(logits, logit_bias):
    biased = np.array(logits, dtype=float)
    for token_id, bias in logit_bias.items():
        biased[token_id] = -np.inf if bias <= -100 else biased[token_id] + bias
    return biased


def sets_instead_of_adds(logits, logit_bias):
    biased = np.array(logits, dtype=float)
    for token_id, bias in logit_bias.items():
        biased[token_id] = bias
    return biased


def multiplies(logits, logit_bias):
    biased = np.array(logits, dtype=float)
    for token_id, bias in logit_bias.items():
        biased[token_id] *= bias
    return biased


def returns_probabilities(logits, logit_bias):
    biased = np.array(logits, dtype=float)
    for token_id, bias in logit_bias.items():
        biased[token_id] += bias
    exps = np.exp(biased - biased.max())
    return exps / exps.sum()


def returns_log_probabilities(logits, logit_bias):
    biased = returns_probabilities(logits, logit_bias)
    return np.log(biased)


def changes_the_input(logits, logit_bias):
    for token_id, bias in logit_bias.items():
        logits[token_id] += bias
    return logits


# -- digit_tokens -------------------------------------------------------------------------------


def with_isdigit(vocabulary):
    return np.array([text.isdigit() for text in vocabulary])


def allows_empty(vocabulary):
    return np.array([all(c in "0123456789" for c in text) for text in vocabulary])


def strips_spaces(vocabulary):
    return np.array([text.strip().isascii() and text.strip().isdigit() for text in vocabulary])


def single_digits_only(vocabulary):
    return np.array([len(text) == 1 and text in "0123456789" for text in vocabulary])


def any_digit(vocabulary):
    return np.array([any(c in "0123456789" for c in text) for text in vocabulary])


def ids_not_mask(vocabulary):
    return np.flatnonzero(digit_tokens(vocabulary))


MISTAKES = [
    (apply_logit_bias_exercise, bans_to_minus_infinity, ["-inf", "added"]),
    (apply_logit_bias_exercise, sets_instead_of_adds, ["*to* the bias"]),
    (apply_logit_bias_exercise, multiplies, ["multiplied"]),
    (apply_logit_bias_exercise, returns_probabilities, ["probabilities", "before any softmax"]),
    (apply_logit_bias_exercise, returns_log_probabilities, ["log-probabilities", "not normalised"]),
    (apply_logit_bias_exercise, changes_the_input, ["changed"]),
    (digit_tokens_exercise, with_isdigit, ["isdigit", "ASCII"]),
    (digit_tokens_exercise, allows_empty, ["empty token"]),
    (digit_tokens_exercise, strips_spaces, ["a space is not a digit"]),
    (digit_tokens_exercise, single_digits_only, ["several digits"]),
    (digit_tokens_exercise, any_digit, ["not only digits"]),
    (digit_tokens_exercise, ids_not_mask, ["boolean array"]),
]


@pytest.mark.parametrize("exercise, wrong, phrases", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_planted_mistakes(exercise, wrong, phrases):
    assert_rejected(exercise, wrong, *phrases)


def test_the_digit_mask_is_llguidance_s_first_step_for_the_regex(model):
    vocabulary = [model.decode([token_id]) for token_id in range(model.vocab_size)]
    constraint = TokenConstraint(model.tokenizer, grammar={"syntax": "regex", "definition": "[0-9]+"})
    assert np.array_equal(digit_tokens(vocabulary), constraint.allowed())
