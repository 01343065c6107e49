"""Lesson 06 (repetition): Hugging Face's repetition penalty, and the smallest penalty that ends a loop."""

from __future__ import annotations

import functools

import numpy as np

from course_utils import sampling
from course_utils.exercises.engine import FLOATS, NUMBER, Case, FunctionExercise, describe, remembering

__all__ = ["repetition_penalty_exercise", "smallest_loop_breaker_exercise", "beam_score_exercise"]


# -- Exercise 1: repetition_penalty -------------------------------------------------------------


def repetition_penalty(logits, ids, penalty):
    out = np.array(logits, dtype=float)  # a copy: callers reuse their logits
    seen = np.unique(np.asarray(ids, dtype=int))  # each seen token once, however often it appeared
    out[seen] = np.where(out[seen] < 0, out[seen] * penalty, out[seen] / penalty)
    return out


def _expected_repetition_penalty(logits, ids, penalty):
    return sampling.penalize_logits(logits, prompt_ids=list(ids), repetition_penalty=penalty)


REPETITION_PENALTY_CASES = (
    Case((np.array([2.0, 1.0, 0.5, 3.0]), [0], 2.0), "logits [2, 1, 0.5, 3], ids [0], penalty 2"),
    Case((np.array([2.0, 1.0, 0.5, 3.0]), [3, 1], 1.5), "logits [2, 1, 0.5, 3], ids [3, 1], penalty 1.5"),
    Case((np.array([1.0, -2.0, 0.5, 0.0]), [1, 2], 2.0), "a negative logit: logits [1, -2, 0.5, 0], ids [1, 2], penalty 2"),
    Case(
        (np.array([4.0, 1.0, -1.0, 2.0]), [0, 0, 0, 3], 1.25),
        "a repeated id: logits [4, 1, -1, 2], ids [0, 0, 0, 3] (token 0 three times), penalty 1.25",
    ),
    Case((np.array([3.0, -3.0, 1.0]), [0, 1], 0.5), "a penalty below 1 (it rewards repeats): logits [3, -3, 1], ids [0, 1], penalty 0.5"),
    Case((np.array([1.5, 0.5, -0.5, 2.5]), [], 1.3), "no ids at all (nothing seen yet), penalty 1.3"),
)


def _diagnose_repetition_penalty(case: Case, expected: np.ndarray, got: np.ndarray) -> str | None:
    logits, ids, penalty = case.args
    about = case.about
    if got.shape != expected.shape:
        return f"On {about}, your function returned shape {got.shape}; return every logit, shape {expected.shape}."
    if np.allclose(got, expected, rtol=1e-9, atol=1e-12):
        return None
    seen = np.unique(np.asarray(ids, dtype=int))
    divided_all = logits.copy()
    divided_all[seen] = logits[seen] / penalty
    if np.allclose(got, divided_all):
        return (
            f"On {about}, you divided every seen logit by the penalty, the negative ones too. Dividing a "
            "negative logit by a penalty above 1 moves it *up*, towards zero: that token becomes more likely, "
            "the opposite of a penalty. (The CTRL paper's original rule had this flaw; every library fixed it.)"
        )
    inverted = logits.copy()
    inverted[seen] = np.where(logits[seen] < 0, logits[seen] / penalty, logits[seen] * penalty)
    if seen.size and np.allclose(got, inverted):
        return (
            f"On {about}, your seen logits moved the wrong way: a penalty above 1 must push every seen token "
            "towards *less* likely, so a positive logit gets smaller and a negative one more negative."
        )
    counted = logits.astype(float).copy()
    for token in np.asarray(ids, dtype=int):
        counted[token] = counted[token] * penalty if counted[token] < 0 else counted[token] / penalty
    if np.allclose(got, counted):
        return (
            f"On {about}, a token that appears several times in ids was penalised once per appearance. "
            "Hugging Face's rule penalises each seen token once, however often it appeared."
        )
    unseen = np.setdiff1d(np.arange(logits.size), seen)
    if not np.allclose(got[unseen], logits[unseen]):
        return (
            f"On {about}, your function changed tokens that are not in ids (positions "
            f"{[int(i) for i in unseen if not np.isclose(got[i], logits[i])]}). Only the seen tokens are penalised."
        )
    return f"On {about}, your function returned {describe(got)}; the penalised logits are {describe(expected)}."


def _explain_repetition_penalty_error(case: Case, error: Exception) -> str | None:
    if isinstance(error, IndexError) and len(case.args[1]) == 0:
        return (
            "np.asarray([]) is an array of floats, and floats cannot index an array: convert the ids with "
            "np.asarray(ids, dtype=int). No ids means no token is penalised."
        )
    return None


repetition_penalty_exercise = FunctionExercise(
    "repetition_penalty",
    cases=REPETITION_PENALTY_CASES,
    expected=_expected_repetition_penalty,
    returns=FLOATS,
    diagnose=_diagnose_repetition_penalty,
    question=(
        "Write repetition_penalty(logits, ids, penalty): return a new array of logits in which every token "
        "that appears in ids (the prompt and the text generated so far) is penalised as Hugging Face does: "
        "a positive logit is divided by the penalty, a negative one multiplied by it. Other tokens are unchanged."
    ),
    hints=(
        "Work on a copy (np.array(logits, dtype=float)), and penalise each distinct id once: np.unique(ids).",
        "np.where(condition, a, b) picks element by element from a where the condition holds, from b elsewhere: "
        "one way to treat the negative and the positive logits differently.",
    ),
    solution=repetition_penalty,
    explain_error=_explain_repetition_penalty_error,
    praise=(
        "That is transformers' RepetitionPenaltyLogitsProcessor, exactly: vLLM's repetition_penalty and "
        "llama.cpp's --repeat-penalty apply the same rule (llama.cpp over the last 64 tokens only)."
    ),
)


# -- Exercise 2: smallest_loop_breaker ----------------------------------------------------------


def smallest_loop_breaker(model, prompt, penalties, max_new_tokens):
    from course_utils.degeneration import loop_at_end
    from course_utils.generation import generate

    for penalty in sorted(penalties):  # the grid may come in any order: try the mildest first
        text = generate(model, prompt, max_new_tokens=max_new_tokens, temperature=0, repetition_penalty=penalty)
        if loop_at_end(text.token_ids) is None:
            return penalty
    return None


def _loops(model, prompt, penalty, max_new_tokens) -> bool:
    from course_utils.degeneration import loop_at_end
    from course_utils.generation import generate

    text = generate(model, prompt, max_new_tokens=max_new_tokens, temperature=0, repetition_penalty=penalty)
    return loop_at_end(text.token_ids) is not None


def _smallest_sampled(model, prompt, penalties, max_new_tokens):
    """What the search returns with generate()'s default temperature (1) instead of greedy decoding."""
    from course_utils.degeneration import loop_at_end
    from course_utils.generation import generate

    for penalty in sorted(penalties):
        if loop_at_end(generate(model, prompt, max_new_tokens=max_new_tokens, repetition_penalty=penalty).token_ids) is None:
            return penalty
    return None


#: The loop exercise 2 breaks: greedy decoding repeats " AI-powered" from the first token.
LOOP_PROMPT = "The AI-powered"
LOOP_TOKENS = 24


def smallest_loop_breaker_cases() -> tuple[Case, ...]:
    """Built when check() runs: they need the model. The model remembers its logits, so each of the
    few texts the check needs is generated once per kernel (a first check takes seconds, not a minute)."""
    from course_utils.model import load_model

    model = remembering(load_model())
    return (
        Case((model, LOOP_PROMPT, (1.0, 1.01, 1.02, 1.03, 1.05), LOOP_TOKENS),
             f"the prompt {LOOP_PROMPT!r}, penalties (1.0, 1.01, 1.02, 1.03, 1.05)"),
        Case((model, LOOP_PROMPT, (1.2, 1.1, 1.0, 1.05), LOOP_TOKENS),
             f"the prompt {LOOP_PROMPT!r}, penalties not in order: (1.2, 1.1, 1.0, 1.05)"),
    )


def _diagnose_smallest_loop_breaker(case: Case, expected, got) -> str | None:
    model, prompt, penalties, max_new_tokens = case.args
    about = case.about
    if np.isclose(got, expected):
        return None
    if not any(np.isclose(got, p) for p in penalties):
        return f"On {about}, you returned {got:g}, which is not one of the penalties of the grid."
    if _loops(model, prompt, got, max_new_tokens):
        sampled = got == _smallest_sampled(model, prompt, penalties, max_new_tokens)
        return (
            f"On {about}, you returned {got:g}, but at that penalty greedy text still ends in a loop. Return a "
            "penalty whose text has no loop at its end (loop_at_end(...) is None)."
            + (" It is the answer for *sampled* texts: if you called generate() without temperature=0, it sampled "
               "at temperature 1, and the loop is greedy decoding's." if sampled else "")
        )
    return (
        f"On {about}, you returned {got:g}: it ends the loop, but a milder penalty of the grid does too. "
        "Try the penalties from the smallest up (the grid may not be sorted)."
    )


smallest_loop_breaker_exercise = FunctionExercise(
    "smallest_loop_breaker",
    cases=smallest_loop_breaker_cases,
    returns=NUMBER,
    diagnose=_diagnose_smallest_loop_breaker,
    question=(
        "Write smallest_loop_breaker(model, prompt, penalties, max_new_tokens): generate max_new_tokens greedy "
        "tokens (temperature=0) for each repetition penalty in penalties, and return the smallest penalty whose "
        "text does not end in a loop (loop_at_end(result.token_ids) is None). At least one of them does."
    ),
    hints=(
        "generate(model, prompt, max_new_tokens=max_new_tokens, temperature=0, repetition_penalty=p) gives the "
        "greedy text at penalty p; loop_at_end(result.token_ids) is None when it does not end in a loop.",
        "Walk through sorted(penalties) and return the first one that breaks the loop.",
    ),
    solution=smallest_loop_breaker,
    praise=(
        "Penalty search in a few lines, and the reason to do it on your own prompts: the smallest penalty that "
        "works changes the text least."
    ),
)


# -- Exercise 3: beam_score ---------------------------------------------------------------------


def beam_score(token_logprobs, length_penalty):
    logprobs = np.asarray(token_logprobs, dtype=float)  # every new token, the end-of-text token included
    return float(logprobs.sum() / len(logprobs) ** length_penalty)


#: The question whose finished beams the check scores: short answers that end, and longer ones.
BEAM_QUESTION = "What is the capital of France?"


@functools.lru_cache(maxsize=1)
def _searched_beams() -> tuple[tuple[tuple[float, ...], float, float, str], ...]:
    """Finished hypotheses of real beam searches (3 beams, up to 10 tokens) at three length penalties:
    (token log-probabilities, length_penalty, the score beam_search gave it, a description). Searched
    once per kernel: they need the model."""
    from course_utils.beam_search import beam_search
    from course_utils.model import load_model

    model = load_model()
    found = []
    for length_penalty in (1.0, 2.0, 0.0):
        result = beam_search(model, BEAM_QUESTION, num_beams=3, max_new_tokens=10, length_penalty=length_penalty, chat=True)
        for beam in result.beams[:2]:
            ending = "ends with the end-of-text token" if beam.token_ids[-1] in model.eos_ids else "was cut at 10 tokens"
            about = f"a finished beam of {len(beam.token_ids)} tokens ({ending}) at length_penalty {length_penalty:g}"
            found.append((tuple(beam.token_logprobs), length_penalty, beam.score, about))
    return tuple(found)


def beam_score_cases() -> tuple[Case, ...]:
    return tuple(Case((list(logprobs), length_penalty), about) for logprobs, length_penalty, _, about in _searched_beams())


def _expected_beam_score(token_logprobs, length_penalty):
    """The score beam_search itself gave this hypothesis."""
    return next(score for logprobs, penalty, score, _ in _searched_beams()
                if logprobs == tuple(token_logprobs) and penalty == length_penalty)


def _diagnose_beam_score(case: Case, expected: float, got: float) -> str | None:
    logprobs, length_penalty = case.args
    logprobs = np.asarray(logprobs, dtype=float)
    n, total = len(logprobs), float(logprobs.sum())
    if np.isclose(got, expected, rtol=1e-9, atol=1e-12):
        return None
    about = case.about
    if np.isclose(got, total / n) and length_penalty != 1.0:
        return (
            f"On {about}, you returned the mean log-probability {got:.4g}: that is the score at length_penalty 1 "
            "only. Divide the sum by the length raised to the power length_penalty."
        )
    if np.isclose(got, total) and length_penalty != 0.0:
        return (
            f"On {about}, you returned the summed log-probability {got:.4g}, the score at length_penalty 0. "
            "Divide by `len ** length_penalty`."
        )
    if n > 1 and np.isclose(got, total / (n - 1) ** length_penalty):
        return (
            f"On {about}, you divided by `{n - 1} ** length_penalty`. Hugging Face counts every new token, "
            f"the end-of-text token too: {n} here."
        )
    if np.isclose(got, float(np.exp(logprobs).prod()) / n ** length_penalty) or got > 0:
        return (
            f"On {about}, your score is {got:.4g}. The score works on log-probabilities: sum them (a product of "
            "probabilities), it stays negative."
        )
    return f"On {about}, you returned {got:.4g}; beam_search scored this hypothesis {expected:.4g}."


beam_score_exercise = FunctionExercise(
    "beam_score",
    cases=beam_score_cases,
    expected=_expected_beam_score,
    returns=NUMBER,
    diagnose=_diagnose_beam_score,
    question=(
        "Write beam_score(token_logprobs, length_penalty): the score Hugging Face's beam search gives a "
        "finished hypothesis, from the natural log-probabilities of its new tokens (the end-of-text token "
        "included): their sum divided by the number of tokens to the power length_penalty."
    ),
    hints=(
        "Check yourself on length_penalty 0 (the score is the plain sum) and 1 (the mean log-probability).",
        "len(token_logprobs) counts the end-of-text token too: Hugging Face's generated_length does.",
    ),
    solution=beam_score,
    praise=(
        "That one line decides which finished text beam search returns: 0 favours short texts, 1 compares "
        "per-token averages, above 1 favours long ones."
    ),
)
