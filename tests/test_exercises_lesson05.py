"""Lesson 05's exercises: every planted mistake is rejected with a message that names it (the
greedy loop runs on the real model)."""

import numpy as np
import pytest
from exercise_support import assert_rejected

from course_utils.exercises.lesson05 import (
    cut_at_stop_exercise, greedy_generate, greedy_generate_exercise, perplexity_exercise,
)

# -- greedy_generate ----------------------------------------------------------------------------


def no_append(model, prompt, max_new_tokens):
    ids = model.encode(prompt)
    return [int(np.argmax(model.next_token_logits(ids))) for _ in range(max_new_tokens)]


def keeps_eos(model, prompt, max_new_tokens):
    ids = model.encode(prompt)
    new = []
    for _ in range(max_new_tokens):
        token = int(np.argmax(model.next_token_logits(ids + new)))
        new.append(token)
        if token in model.eos_ids:
            break
    return new


def returns_prompt_too(model, prompt, max_new_tokens):
    return model.encode(prompt) + greedy_generate(model, prompt, max_new_tokens)


def off_by_one(model, prompt, max_new_tokens):
    return greedy_generate(model, prompt, max_new_tokens - 1)


def second_best(model, prompt, max_new_tokens):
    ids = model.encode(prompt)
    new = []
    for _ in range(max_new_tokens):
        new.append(int(np.argsort(model.next_token_logits(ids + new))[-2]))
    return new


def returns_text(model, prompt, max_new_tokens):
    return model.decode(greedy_generate(model, prompt, max_new_tokens))


# -- perplexity ---------------------------------------------------------------------------------


def by_product(probs):  # underflows on long texts
    probs = np.asarray(probs, dtype=float)
    return float(np.prod(probs) ** (-1 / probs.size))


def wrong_sign(probs):
    return float(np.exp(np.log(probs).mean()))


def sum_not_mean(probs):
    return float(np.exp(-np.log(probs).sum()))


def arithmetic_mean(probs):
    return 1 / float(np.mean(probs))


def cross_entropy(probs):
    return float(-np.log(probs).mean())


def n_minus_one(probs):
    return float(np.exp(-np.log(probs).sum() / (len(probs) - 1)))


def a_word(probs):
    return "four"


# -- cut_at_stop --------------------------------------------------------------------------------


def first_in_the_list(text, stop):
    for s in stop:
        if s in text:
            return text[: text.find(s)]
    return text


def find_minus_one(text, stop):
    return text[: min(text.find(s) for s in stop)]


def keeps_the_stop_string(text, stop):
    positions = [text.find(s) + len(s) for s in stop if s in text]
    return text[: min(positions)] if positions else text


def never_cuts(text, stop):
    return text


def text_and_stop_string(text, stop):  # generate() records both; the exercise asks for the text
    return first_in_the_list(text, stop), next((s for s in stop if s in text), None)


MISTAKES = [
    (greedy_generate_exercise, no_append, ["same token"]),
    (greedy_generate_exercise, keeps_eos, ["end-of-sequence"]),
    (greedy_generate_exercise, returns_prompt_too, ["starts with the prompt"]),
    (greedy_generate_exercise, off_by_one, ["stopped after"]),
    (greedy_generate_exercise, second_best, ["largest logit"]),
    (greedy_generate_exercise, returns_text, ["which is text", "token ids"]),
    (cut_at_stop_exercise, first_in_the_list, ["*in the list*", "*in the text*"]),
    (cut_at_stop_exercise, find_minus_one, ["-1", "last character"]),
    (cut_at_stop_exercise, keeps_the_stop_string, ["ends with the stop string"]),
    (cut_at_stop_exercise, never_cuts, ["whole text"]),
    (cut_at_stop_exercise, text_and_stop_string, ["should be text"]),
    (perplexity_exercise, by_product, ["underflows"]),
    (perplexity_exercise, wrong_sign, ["reciprocal"]),
    (perplexity_exercise, sum_not_mean, ["Divide by the number of tokens"]),
    (perplexity_exercise, arithmetic_mean, ["geometric mean"]),
    (perplexity_exercise, cross_entropy, ["e to the power"]),
    (perplexity_exercise, n_minus_one, ["N - 1"]),
    (perplexity_exercise, a_word, ["single number"]),
]


@pytest.mark.parametrize("exercise, wrong, phrases", MISTAKES, ids=[m[1].__name__ for m in MISTAKES])
def test_planted_mistakes(exercise, wrong, phrases):
    assert_rejected(exercise, wrong, *phrases)


def test_greedy_wants_the_function_not_a_number():
    assert_rejected(greedy_generate_exercise, 42, "function itself")


def test_perplexity_hint_gives_a_case_to_check_by_hand():
    assert "4" in perplexity_exercise.hint(1).message
