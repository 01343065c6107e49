"""Beam search, step for step as Hugging Face's `generate(num_beams=k, do_sample=False)` runs it.

    from course_utils.beam_search import beam_search
    result = beam_search(model, "The Romans built", num_beams=4, max_new_tokens=20)
    result.text, result.score       # the best finished hypothesis and its length-normalised log-probability
    result.beams                    # all num_beams finished hypotheses, best first

Instead of drawing one token, beam search keeps the `num_beams` most likely partial texts (the
"beams") and extends each by every token, keeping the best `num_beams` of the extensions. It is
deterministic and aims at the most likely text, which is why its text loops (Holtzman et al.'s
"likelihood trap"). The rules below are transformers 5.x's `GenerationMixin._beam_search`
(generation/utils.py; re-checked against the installed library by tests/test_beam_search.py):

* Every step scores `(1 + number of EOS tokens) * num_beams` candidates (at least 2 * num_beams): the
  best extensions over all beams by the summed log-probability of their tokens. At the first step
  only beam 0 counts (the others start at -1e9), so the beams do not all pick the same token.
* A candidate that ends with an end-of-sequence token, or reaches `max_new_tokens`, is finished.
  The finished ones among the best `num_beams` candidates join the finished hypotheses, scored
  `sum of log-probs / generated_length ** length_penalty`, where generated_length counts the new
  tokens including the end-of-sequence token; the best `num_beams` finished hypotheses are kept.
  The best `num_beams` unfinished candidates run on as the beams.
* Stopping: at `max_new_tokens`; when every candidate is finished; with `early_stopping=True`, as
  soon as `num_beams` hypotheses are finished; otherwise when `num_beams` are finished and the best
  running beam cannot beat the worst of them: with `early_stopping=False` judged at the current
  length, with `"never"` at the longest possible length when `length_penalty > 0`.
* The result is the best finished hypothesis; `score` is its score as above (Hugging Face's
  `sequences_scores`).

The model runs the `num_beams` beams as one batch; after each step its KV cache rows are reordered
to follow the beams that continue (`KVCache.reorder`). Any model with `vocab_size`, `eos_ids`,
`encode`, `decode`, `chat_prompt`, `new_cache(batch_size)` (a cache with `reorder(rows)`) and
`forward(tokens, cache)` (logits of each row's last token) can be searched.

`encode_prompt` and `check_max_new_tokens` check a prompt and a length for every decoding loop
(`generation` uses them too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from course_utils import checks

# Hugging Face's stand-in for "impossible" scores; kept so that ties and edge cases match.
_IMPOSSIBLE = -1.0e9
EARLY_STOPPING = (True, False, "never")


@dataclass(frozen=True)
class Beam:
    """One finished hypothesis."""

    token_ids: list[int]  # the new tokens, including a final end-of-sequence token if one came
    text: str  # the new text, without the end-of-sequence token
    score: float  # logprob / len(token_ids) ** length_penalty
    logprob: float  # the sum of the tokens' natural log-probabilities
    token_logprobs: list[float]  # each token's natural log-probability under the model (T = 1)


@dataclass(frozen=True)
class BeamSearchResult:
    """The best hypothesis, with the others for comparison."""

    prompt: str
    prompt_ids: list[int]
    token_ids: list[int]  # the best hypothesis's new tokens (with a final end-of-sequence token if one came)
    text: str  # its new text only, without the end-of-sequence token
    score: float  # its score, as Hugging Face's sequences_scores
    logprob: float  # its summed log-probability
    token_logprobs: list[float]  # each of its tokens' log-probability under the model (T = 1)
    finish_reason: str  # "eos" or "max_new_tokens"
    beams: list[Beam]  # every finished hypothesis kept, best first
    settings: dict
    # The running beams after each step, best first: (new tokens, summed log-probability). A figure of
    # the search (`plots.beam_walk_figure`) reads them.
    steps: list[list[tuple[list[int], float]]] = field(default_factory=list)

    @property
    def full_text(self) -> str:
        """The prompt followed by the new text."""
        return self.prompt + self.text


def beam_search(
    model,
    prompt: str | Sequence[int],
    *,
    num_beams: int,
    max_new_tokens: int,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    chat: bool = False,
) -> BeamSearchResult:
    """The most likely continuation beam search finds; see the module docstring for the rules."""
    k = _check_num_beams(num_beams)
    check_max_new_tokens(max_new_tokens)
    length_penalty = _check_length_penalty(length_penalty)
    early_stopping = _check_early_stopping(early_stopping)
    prompt_text, prompt_ids = encode_prompt(model, prompt, chat, name="prompt")
    eos_ids = model.eos_ids
    n_candidates = max(2, 1 + len(eos_ids)) * k
    eos_lookup = np.zeros(model.vocab_size, dtype=bool)
    eos_lookup[list(eos_ids)] = True

    running = [[] for _ in range(k)]  # each beam's new tokens
    running_logprobs = [[] for _ in range(k)]  # and each token's own log-probability
    running_scores = np.full(k, _IMPOSSIBLE)
    running_scores[0] = 0.0
    # (score, summed log-prob, tokens, token log-probs, finished?): Hugging Face fills the list with
    # placeholders that never finished, and so does this.
    finished: list[tuple] = [(_IMPOSSIBLE, _IMPOSSIBLE, [], [], False)] * k
    improvement_possible = True
    steps: list[list[tuple[list[int], float]]] = []

    cache = model.new_cache(1)
    # Every beam starts from the prompt: run it once and copy its row.
    logits = np.repeat(model.forward(np.array([prompt_ids]), cache), k, axis=0)
    for step in range(max_new_tokens):
        generated_length = step + 1
        token_log_probs = _log_softmax(logits)
        flat = (token_log_probs + running_scores[:, None]).reshape(-1)
        top = _top(flat, n_candidates)
        scores, parents, tokens = flat[top], top // model.vocab_size, top % model.vocab_size
        candidates = [running[b] + [int(t)] for b, t in zip(parents, tokens)]
        candidate_logprobs = [running_logprobs[b] + [float(token_log_probs[b, t])] for b, t in zip(parents, tokens)]
        ends = eos_lookup[tokens] | (generated_length == max_new_tokens)

        # The best num_beams candidates that have not ended run on.
        running_order = _top(scores + ends * _IMPOSSIBLE, k)
        running = [candidates[i] for i in running_order]
        running_logprobs = [candidate_logprobs[i] for i in running_order]
        running_scores = (scores + ends * _IMPOSSIBLE)[running_order]
        steps.append([(list(beam), float(score)) for beam, score in zip(running, running_scores) if score > _IMPOSSIBLE / 2])

        # Finished candidates among the best num_beams join the finished hypotheses if good enough.
        normalised = scores / generated_length**length_penalty
        closed = (all(f[-1] for f in finished) and early_stopping is True) or not improvement_possible
        just_finished = ends & (np.arange(n_candidates) < k)
        normalised = normalised + closed * _IMPOSSIBLE + ~just_finished * _IMPOSSIBLE
        merged = finished + [
            (normalised[i], scores[i], candidates[i], candidate_logprobs[i], bool(just_finished[i]))
            for i in range(n_candidates)
        ]
        finished = [merged[i] for i in _top(np.array([m[0] for m in merged]), k)]

        improvement_possible = improvement_possible and _can_improve(
            running_scores[0], finished, generated_length, max_new_tokens, length_penalty, early_stopping
        )
        all_finished_and_done = all(f[-1] for f in finished) and early_stopping is True
        if not improvement_possible or all_finished_and_done or ends.all():
            break
        cache.reorder(parents[running_order] if step else np.zeros(k, dtype=np.int64))
        logits = model.forward(np.array([[beam[-1]] for beam in running]), cache)

    beams = [_beam(model, *hypothesis[:4]) for hypothesis in finished]
    best = beams[0]
    ended = bool(best.token_ids) and best.token_ids[-1] in eos_ids
    return BeamSearchResult(
        prompt=prompt_text,
        prompt_ids=list(prompt_ids),
        token_ids=best.token_ids,
        text=best.text,
        score=best.score,
        logprob=best.logprob,
        token_logprobs=best.token_logprobs,
        finish_reason="eos" if ended else "max_new_tokens",
        beams=beams,
        settings=dict(
            num_beams=k, max_new_tokens=max_new_tokens, length_penalty=length_penalty,
            early_stopping=early_stopping, chat=chat,
        ),
        steps=steps,
    )


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first (ties: lower index first)."""
    k = min(k, len(values))
    part = np.argpartition(-values, k - 1)[:k] if k < len(values) else np.arange(len(values))
    return part[np.lexsort((part, -values[part]))]


def _can_improve(best_running, finished, generated_length, max_new_tokens, length_penalty, early_stopping) -> bool:
    """Hugging Face's `_check_early_stop_heuristic`: could the best running beam still beat a finished one?"""
    if early_stopping == "never" and length_penalty > 0.0:
        length = max_new_tokens
    else:
        length = generated_length
    best_possible = best_running / length**length_penalty
    worst_finished = min(f[0] for f in finished)
    return any(best_possible > (worst_finished if f[-1] else _IMPOSSIBLE) for f in finished)


def _beam(model, score: float, logprob: float, tokens: list[int], token_logprobs: list[float]) -> Beam:
    ended = bool(tokens) and tokens[-1] in model.eos_ids
    text = model.decode(tokens[:-1] if ended else tokens)
    return Beam(list(tokens), text, float(score), float(logprob), list(token_logprobs))


# ---- checking what a learner passes in -------------------------------------------------------


def _check_num_beams(num_beams) -> int:
    return checks.whole_number(
        num_beams, "num_beams", minimum=1,
        hint="It is how many partial texts beam search keeps at every step; Holtzman et al. used 16, 4 is a common choice.",
    )


def _check_length_penalty(length_penalty) -> float:
    return checks.real_number(
        length_penalty, "length_penalty",
        hint="A hypothesis's score is its log-probability / length ** length_penalty: 1.0 (the default) "
        "averages per token, 0 sums.",
    )


def _check_early_stopping(early_stopping):
    if not any(early_stopping is option or (isinstance(early_stopping, str) and early_stopping == option)
               for option in EARLY_STOPPING):
        raise ValueError(
            f"early_stopping must be True, False or 'never' (Hugging Face's values), got {early_stopping!r}."
        )
    return early_stopping


def check_max_new_tokens(max_new_tokens) -> None:
    checks.whole_number(
        max_new_tokens, "max_new_tokens", minimum=1,
        hint="It is how many tokens to generate at most, e.g. max_new_tokens=32.",
    )


def encode_prompt(model, prompt, chat: bool, name: str) -> tuple[str, list[int]]:
    """The prompt as text and the token ids the model reads."""
    if not isinstance(chat, bool):
        raise TypeError(f"chat must be True or False, got {chat!r}.")
    if isinstance(prompt, str):
        if not prompt and not chat:
            raise ValueError(f"{name} is empty; the model needs at least one token to continue from.")
        return prompt, model.encode(model.chat_prompt(prompt) if chat else prompt)
    if isinstance(prompt, Sequence) or isinstance(prompt, np.ndarray):
        if chat:
            raise ValueError(
                f"chat=True wraps a text prompt in the chat template; {name} is a list of token ids. "
                "Pass the user's message as a string, or apply model.chat_prompt() yourself."
            )
        ids = checks.token_ids(prompt, model.vocab_size, name)
        return model.decode(ids), ids
    raise TypeError(f"{name} must be a string or a list of token ids, got {type(prompt).__name__}: {prompt!r}.")
