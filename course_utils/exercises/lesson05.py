"""Lesson 05 (generation): the autoregressive loop, where a text stops, and perplexity."""

from __future__ import annotations

import numpy as np

from course_utils import degeneration
from course_utils.exercises.engine import NUMBER, TEXT, TOKEN_IDS, Case, FunctionExercise, remembering

__all__ = ["greedy_generate_exercise", "cut_at_stop_exercise", "perplexity_exercise"]


# -- Exercise 1: greedy_generate ----------------------------------------------------------------


def greedy_generate(model, prompt, max_new_tokens):
    ids = model.encode(prompt)
    new = []
    for _ in range(max_new_tokens):
        token = int(np.argmax(model.next_token_logits(ids + new)))
        if token in model.eos_ids:
            break
        new.append(token)
    return new


GREEDY_CHAT_QUESTION = "Answer with one word: what colour is the sky on a clear day?"


def greedy_generate_cases() -> tuple[Case, ...]:
    """An ordinary prompt, a longer one, and a chat reply the instruct model ends after a few
    tokens (so the learner's loop must stop at the end-of-sequence token). Built when check()
    runs: they need the model, which remembers its logits (`remembering`)."""
    from course_utils.model import load_model

    model = remembering(load_model())
    return (
        Case((model, "The capital of France is", 6), "the prompt 'The capital of France is'"),
        Case((model, "Once upon a time", 10), "the prompt 'Once upon a time'"),
        Case(
            (model, model.chat_prompt(GREEDY_CHAT_QUESTION), 40),
            "a chat prompt the model answers in a few tokens, then ends",
        ),
    )


def _expected_greedy_generate(model, prompt, max_new_tokens) -> list[int]:
    from course_utils.generation import generate

    reference = generate(model, prompt, max_new_tokens=max_new_tokens, temperature=0)
    # generate() records a final end-of-sequence token; the learner's loop stops before it.
    return [t for t in reference.token_ids if t not in model.eos_ids]


def _diagnose_greedy_generate(case: Case, expected: list[int], got: list[int]) -> str | None:
    model, prompt, max_new_tokens = case.args
    about = case.about
    prompt_ids = model.encode(prompt)
    if got[: len(prompt_ids)] == prompt_ids and len(got) > len(expected):
        return (
            f"On {about}, your list starts with the prompt's {len(prompt_ids)} token ids. "
            "Return only the tokens your loop generated."
        )
    if got == expected:
        return None
    if len(got) > len(expected) and got[: len(expected)] == expected and got[len(expected)] in model.eos_ids:
        return (
            f"On {about}, the model produced an end-of-sequence token ({model.token_text(got[len(expected)])}) "
            "and your loop kept it (or kept going). Stop before appending a token in model.eos_ids: "
            "the text is finished."
        )
    if len(got) >= 3 and len(set(got)) == 1 and len(set(expected)) > 1:
        return (
            f"On {about}, your loop returned the same token {len(got)} times. Each step must "
            "feed the model the prompt *plus every token generated so far*; otherwise it "
            "answers the same question again and again."
        )
    if got == expected[: len(got)]:
        return (
            f"On {about}, your loop stopped after {len(got)} tokens; it should generate "
            f"{len(expected)} (max_new_tokens = {max_new_tokens}, unless the model ends the text first)."
        )
    if got[: len(expected)] == expected:
        return (
            f"On {about}, your loop generated {len(got)} tokens; max_new_tokens = {max_new_tokens} "
            "is the most it may generate. Check your loop's range."
        )
    step = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
    return (
        f"On {about}, your token {step + 1} is {model.token_text(got[step])}, but greedy "
        f"decoding picks {model.token_text(expected[step])}, the token with the largest "
        "logit. Use the argmax, with no randomness, at every step."
    )


greedy_generate_exercise = FunctionExercise(
    "greedy_generate",
    cases=greedy_generate_cases,
    expected=_expected_greedy_generate,
    returns=TOKEN_IDS,
    diagnose=_diagnose_greedy_generate,
    question=(
        "Write greedy_generate(model, prompt, max_new_tokens): encode the prompt, then repeat "
        "max_new_tokens times: get model.next_token_logits(ids), take the most likely token, stop "
        "if it is an end-of-sequence token (in model.eos_ids), otherwise append it. Return the list "
        "of new token ids (not the prompt's)."
    ),
    hints=(
        "The loop's state is one list: ids = model.encode(prompt) to start, and every chosen token "
        "is appended to it, so the next call to next_token_logits sees it.",
        "int(np.argmax(logits)) is the greedy choice. Keep the new tokens in their own list (or "
        "slice them off: ids[len(prompt_ids):]) so you can return them.",
    ),
    solution=greedy_generate,
    praise=(
        "That loop is all of text generation: every sampling method in this course only changes "
        "the line that picks the token."
    ),
)


# -- Exercise 2: cut_at_stop --------------------------------------------------------------------


def cut_at_stop(text, stop):
    # Where each stop string first occurs; find() says -1 for one that does not occur.
    starts = [text.find(s) for s in stop]
    found = [start for start in starts if start >= 0]
    if not found:
        return text
    return text[: min(found)]  # the earliest occurrence of any, without the stop string itself


def _expected_cut_at_stop(text, stop):
    from course_utils.generation import first_stop

    found = first_stop(text, stop)
    return text if found is None else text[: found[0]]


CUT_AT_STOP_CASES = (
    Case(("Paris is the capital.\n\nQ: And of Italy?", ["\n\n"]), "the text 'Paris is the capital.↵↵Q: And of Italy?' with stop ['↵↵']"),
    Case(("Rome.", ["\n\n"]), "the text 'Rome.' with stop ['↵↵'], which it does not contain"),
    Case(("a. b. c.", [". "]), "the text 'a. b. c.' with stop ['. '], which occurs twice"),
    Case(("A: 1\nB: 2\n\nC: 3", ["\n\n", "\nB"]), "the text 'A: 1↵B: 2↵↵C: 3' with stop ['↵↵', '↵B']"),
    Case(("\n\nHello", ["\n\n"]), "a text that starts with its stop string"),
)


def _diagnose_cut_at_stop(case: Case, expected: str, got: str) -> str | None:
    text, stop = case.args
    if got == expected:
        return None
    shown = case.about
    if got == text[:-1] and expected == text:
        return (
            f"For {shown}, you returned {got!r}: the last character is gone. text.find(s) returns -1 "
            "when s does not occur, and text[:-1] drops the last character. Return the whole text then."
        )
    if any(got == expected + s for s in stop):
        return (
            f"For {shown}, your text ends with the stop string. Cut just before it: the returned text "
            "excludes it, as OpenAI's API, vLLM and llama.cpp return it."
        )
    in_list_order = next((text[: text.find(s)] for s in stop if s in text), text)
    if got == in_list_order:
        return (
            f"For {shown}, you cut at the first stop string *in the list* that occurs. Generation stops "
            "at whichever occurs first *in the text*: take the smallest position of all of them."
        )
    if got == text:
        return f"For {shown}, you returned the whole text, but a stop string occurs in it; cut before it."
    return f"For {shown}, you returned {got!r}; the text before the first stop string is {expected!r}."


cut_at_stop_exercise = FunctionExercise(
    "cut_at_stop",
    cases=CUT_AT_STOP_CASES,
    expected=_expected_cut_at_stop,
    returns=TEXT,
    diagnose=_diagnose_cut_at_stop,
    question=(
        "Write cut_at_stop(text, stop): text is what a generation wrote (a str), stop a list of stop "
        "strings. Return the text before the first occurrence of any of them, without the stop string; "
        "the whole text if none occurs."
    ),
    hints=(
        "text.find(s) gives the position where s first occurs in text, or -1 if it does not occur.",
        "Several stop strings can occur: the text ends at the smallest position among those found "
        "(not at the first one of the list). Then slice: text[:position].",
    ),
    solution=cut_at_stop,
    praise=(
        "That is what generate(stop=...) does after every token, on the decoded text: so a stop string "
        "that spans several tokens is found too."
    ),
)


# -- Exercise 3: perplexity ---------------------------------------------------------------------


def perplexity(probs):
    log_p = np.log(np.asarray(probs, dtype=float))  # a sum of logs never underflows
    return float(np.exp(-log_p.mean()))


def _expected_perplexity(probs):
    return degeneration.perplexity(np.log(np.asarray(probs, dtype=np.float64)))


PERPLEXITY_CASES = (
    Case((np.array([0.25, 0.25, 0.25, 0.25]),), "four tokens that each had probability 1/4"),
    Case((np.array([0.5, 0.125]),), "two tokens with probabilities 1/2 and 1/8"),
    Case((np.array([1.0, 1.0, 1.0]),), "three tokens the model was certain of"),
    Case((np.array([0.9, 0.6, 0.3, 0.05]),), "four tokens with probabilities [0.9, 0.6, 0.3, 0.05]"),
    Case((np.full(400, 0.01),), "a 400-token text where every token had probability 0.01"),
)


def _diagnose_perplexity(case: Case, expected: float, value: float) -> str | None:
    (probs,) = case.args
    shown = case.about
    if np.isclose(value, expected, rtol=1e-6):
        return None
    if not np.isfinite(value) or value == 0:
        return (
            f"For {shown}, your function returned {value}. Multiplying 400 probabilities of 0.01 "
            "gives 1e-800, which a float cannot hold: it underflows to 0, and `0 ** (-1/N)` is inf. "
            "Work with logarithms: the log of a product is the sum of the logs, which never underflows."
        )
    n = probs.size
    log_p = np.log(probs)
    if np.isclose(value, 1.0 / expected, rtol=1e-6):
        return (
            f"For {shown}, you returned {value:.4g}, the reciprocal of the perplexity. Check the sign: "
            "perplexity is exp of the *negative* mean log-probability, so it is never below 1."
        )
    if np.isclose(value, float(np.exp(-log_p.sum())), rtol=1e-6):
        return (
            f"For {shown}, you returned exp(-sum of log p) = {value:.4g}. Divide by the number of "
            "tokens first: perplexity uses the *mean* log-probability, so a longer text is not "
            "automatically more perplexing."
        )
    if np.isclose(value, 1.0 / probs.mean(), rtol=1e-6):
        return (
            f"For {shown}, you returned 1 / (mean probability) = {value:.4g}. Perplexity averages "
            "the *log*-probabilities (a geometric mean), so one very unlikely token weighs heavily."
        )
    if np.isclose(value, -log_p.mean(), rtol=1e-6):
        return (
            f"For {shown}, you returned the mean negative log-probability ({value:.4g} nats, the "
            "cross-entropy). Perplexity is e to the power of that."
        )
    if n > 1 and np.isclose(value, float(np.exp(-log_p.sum() / (n - 1))), rtol=1e-6):
        return f"For {shown}, you divided by N - 1 = {n - 1}; there are N = {n} tokens."
    return f"For {shown}, your function returned {value:.4g}; the perplexity is {expected:.4g}."


perplexity_exercise = FunctionExercise(
    "perplexity",
    cases=PERPLEXITY_CASES,
    expected=_expected_perplexity,
    returns=NUMBER,
    diagnose=_diagnose_perplexity,
    question=(
        "Write perplexity(probs): given the probability the model gave each token of a text "
        "(a 1-D array, every value in (0, 1]), return exp(-(1/N) * sum_i log p_i)."
    ),
    hints=(
        "Test yourself on a case you can do in your head: four tokens of probability 1/4 each must "
        "give 4 -- 'as unsure as a fair choice among 4 tokens'.",
        "Do not multiply the probabilities: for a long text the product underflows to 0. Take "
        "np.log of the probabilities, average, negate, then np.exp.",
    ),
    solution=perplexity,
    praise=(
        "Perplexity is 'the number of equally likely choices the model was torn between', on "
        "average: 1 means certain, 4 means a fair four-way choice."
    ),
)
