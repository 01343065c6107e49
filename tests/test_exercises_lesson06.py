"""Lesson 06's exercises: every planted mistake is rejected with a message that names it (the loop
breaker runs on the real model)."""

import numpy as np
import pytest
from exercise_support import assert_rejected

from course_utils.degeneration import loop_at_end
from course_utils.exercises.lesson06 import (
    beam_score_exercise, repetition_penalty_exercise, smallest_loop_breaker_exercise,
)
from course_utils.generation import generate

# -- repetition_penalty -------------------------------------------------------------------------


def divides_negatives_too(logits, ids, penalty):  # CTRL's original rule
    out = np.array(logits, dtype=float)
    seen = np.unique(ids)
    out[seen] = out[seen] / penalty
    return out


def wrong_way(logits, ids, penalty):
    out = np.array(logits, dtype=float)
    seen = np.unique(ids)
    out[seen] = np.where(out[seen] < 0, out[seen] / penalty, out[seen] * penalty)
    return out


def once_per_occurrence(logits, ids, penalty):
    out = np.array(logits, dtype=float)
    for token in ids:
        out[token] = out[token] * penalty if out[token] < 0 else out[token] / penalty
    return out


def penalises_everything(logits, ids, penalty):
    out = np.array(logits, dtype=float)
    return np.where(out < 0, out * penalty, out / penalty)


def only_the_first_id(logits, ids, penalty):
    out = np.array(logits, dtype=float)
    if len(ids):
        token = ids[0]
        out[token] = out[token] * penalty if out[token] < 0 else out[token] / penalty
    return out


# -- smallest_loop_breaker ----------------------------------------------------------------------


def _loops(model, prompt, penalty, max_new_tokens):
    text = generate(model, prompt, max_new_tokens=max_new_tokens, temperature=0, repetition_penalty=penalty)
    return loop_at_end(text.token_ids) is not None


def grid_order(model, prompt, penalties, max_new_tokens):  # assumes the grid is sorted
    return next(p for p in penalties if not _loops(model, prompt, p, max_new_tokens))


def first_that_loops(model, prompt, penalties, max_new_tokens):
    return next(p for p in sorted(penalties) if _loops(model, prompt, p, max_new_tokens))


def largest(model, prompt, penalties, max_new_tokens):
    return max(penalties)


def not_in_the_grid(model, prompt, penalties, max_new_tokens):
    return 1.5


def float_ids(logits, ids, penalty):  # np.asarray([]) is float: fine for [0], an IndexError for []
    out = np.array(logits, dtype=float)
    seen = np.unique(np.asarray(ids))
    out[seen] = np.where(out[seen] < 0, out[seen] * penalty, out[seen] / penalty)
    return out


def samples_instead_of_greedy(model, prompt, penalties, max_new_tokens):
    for penalty in sorted(penalties):
        if loop_at_end(generate(model, prompt, max_new_tokens=max_new_tokens, repetition_penalty=penalty).token_ids) is None:
            return penalty
    return None


def mean_always(token_logprobs, length_penalty):
    return float(np.mean(token_logprobs))


def sum_always(token_logprobs, length_penalty):
    return float(np.sum(token_logprobs))


def without_the_end_token(token_logprobs, length_penalty):
    return float(np.sum(token_logprobs) / (len(token_logprobs) - 1) ** length_penalty)


def probabilities(token_logprobs, length_penalty):
    return float(np.prod(np.exp(token_logprobs)) / len(token_logprobs) ** length_penalty)


MISTAKES = [
    (beam_score_exercise, mean_always, ["mean log-probability", "length_penalty 1 only"]),
    (beam_score_exercise, sum_always, ["summed log-probability", "length_penalty 0"]),
    (beam_score_exercise, without_the_end_token, ["end-of-text token too"]),
    (beam_score_exercise, probabilities, ["log-probabilities", "stays negative"]),
    (repetition_penalty_exercise, float_ids, ["IndexError", "dtype=int"]),
    (smallest_loop_breaker_exercise, samples_instead_of_greedy, ["*sampled*", "temperature=0"]),
    (repetition_penalty_exercise, divides_negatives_too, ["negative", "more likely"]),
    (repetition_penalty_exercise, wrong_way, ["wrong way"]),
    (repetition_penalty_exercise, once_per_occurrence, ["once per appearance"]),
    (repetition_penalty_exercise, penalises_everything, ["not in ids"]),
    (repetition_penalty_exercise, only_the_first_id, ["the penalised logits are"]),
    (smallest_loop_breaker_exercise, grid_order, ["milder penalty", "not be sorted"]),
    (smallest_loop_breaker_exercise, first_that_loops, ["still ends in a loop"]),
    (smallest_loop_breaker_exercise, largest, ["milder penalty"]),
    (smallest_loop_breaker_exercise, not_in_the_grid, ["not one of the penalties"]),
]


@pytest.mark.parametrize("exercise, wrong, phrases", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_planted_mistakes(exercise, wrong, phrases):
    assert_rejected(exercise, wrong, *phrases)
