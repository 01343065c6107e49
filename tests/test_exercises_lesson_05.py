"""Lesson 05 exercises: the reference solutions pass, planted wrong answers get the right advice."""

import numpy as np
import pytest

from course_utils import exercises
from course_utils.model import load_model

# --- perplexity -----------------------------------------------------------------------------


def perplexity_right(probs):
    return float(np.exp(-np.log(np.asarray(probs, dtype=float)).mean()))


def perplexity_by_product(probs):  # underflows on long texts
    probs = np.asarray(probs, dtype=float)
    return float(np.prod(probs) ** (-1 / probs.size))


def perplexity_wrong_sign(probs):
    return float(np.exp(np.log(probs).mean()))


def perplexity_sum(probs):
    return float(np.exp(-np.log(probs).sum()))


def perplexity_arithmetic_mean(probs):
    return 1 / float(np.mean(probs))


def perplexity_cross_entropy(probs):
    return float(-np.log(probs).mean())


def perplexity_n_minus_one(probs):
    return float(np.exp(-np.log(probs).sum() / (len(probs) - 1)))


def test_perplexity_reference_solution_passes():
    assert exercises.perplexity_exercise.check(perplexity_right)
    namespace = {"np": np}
    exec(exercises.perplexity_exercise.solution().code or exercises.perplexity_exercise._solution, namespace)
    assert exercises.perplexity_exercise.check(namespace["perplexity"])


@pytest.mark.parametrize(
    "wrong, advice",
    [
        (perplexity_by_product, "underflows"),
        (perplexity_wrong_sign, "reciprocal"),
        (perplexity_sum, "Divide by the number of tokens"),
        (perplexity_arithmetic_mean, "geometric mean"),
        (perplexity_cross_entropy, "e to the power"),
        (perplexity_n_minus_one, "N - 1"),
        (lambda probs: None, "returned None"),
        (lambda probs: "four", "single number"),
    ],
)
def test_perplexity_wrong_answers_get_their_advice(wrong, advice):
    feedback = exercises.perplexity_exercise.check(wrong)
    assert not feedback
    assert advice in feedback.message


def test_perplexity_hints_and_placeholder():
    assert not exercises.perplexity_exercise.check(...)
    assert "4" in exercises.perplexity_exercise.hint(1).message


# --- the greedy loop (uses the real model) ---------------------------------------------------


@pytest.fixture(scope="module")
def model():
    return load_model()


def greedy_right(model, prompt, max_new_tokens):
    ids = model.encode(prompt)
    new = []
    for _ in range(max_new_tokens):
        token = int(np.argmax(model.next_token_logits(ids + new)))
        if token in model.eos_ids:
            break
        new.append(token)
    return new


def greedy_no_append(model, prompt, max_new_tokens):
    ids = model.encode(prompt)
    return [int(np.argmax(model.next_token_logits(ids))) for _ in range(max_new_tokens)]


def greedy_keeps_eos(model, prompt, max_new_tokens):
    ids = model.encode(prompt)
    new = []
    for _ in range(max_new_tokens):
        token = int(np.argmax(model.next_token_logits(ids + new)))
        new.append(token)
        if token in model.eos_ids:
            break
    return new


def greedy_returns_prompt_too(model, prompt, max_new_tokens):
    ids = model.encode(prompt)
    return ids + greedy_right(model, prompt, max_new_tokens)


def greedy_off_by_one(model, prompt, max_new_tokens):
    return greedy_right(model, prompt, max_new_tokens - 1)


def greedy_second_best(model, prompt, max_new_tokens):
    ids = model.encode(prompt)
    new = []
    for _ in range(max_new_tokens):
        token = int(np.argsort(model.next_token_logits(ids + new))[-2])
        new.append(token)
    return new


def greedy_text(model, prompt, max_new_tokens):
    return model.decode(greedy_right(model, prompt, max_new_tokens))


def test_greedy_reference_solution_passes(model):
    assert exercises.greedy_loop_exercise.check(greedy_right)
    namespace = {"np": np}
    exec(exercises.greedy_loop_exercise._solution, namespace)
    assert exercises.greedy_loop_exercise.check(namespace["greedy_generate"])


@pytest.mark.parametrize(
    "wrong, advice",
    [
        (greedy_no_append, "same token"),
        (greedy_keeps_eos, "end-of-sequence"),
        (greedy_returns_prompt_too, "starts with the prompt"),
        (greedy_off_by_one, "stopped after"),
        (greedy_second_best, "largest logit"),
        (greedy_text, "returned text"),
        (42, "function itself"),
    ],
)
def test_greedy_wrong_answers_get_their_advice(model, wrong, advice):
    feedback = exercises.greedy_loop_exercise.check(wrong)
    assert not feedback
    assert advice in feedback.message
