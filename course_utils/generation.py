"""Autoregressive generation with the course's model: one token at a time, every step recorded.

    from course_utils.model import load_model
    from course_utils.generation import generate, generate_batch

    model = load_model()
    g = generate(model, "Once upon a time", max_new_tokens=20, temperature=0.7, top_p=0.9, seed=1)
    g.text                      # the new text only
    g.steps[0]                  # GenerationStep(token_id=..., token_text='␣there', prob=..., entropy=..., ...)

Each step runs the model on the text so far (its KV cache makes that one token of work), turns the
logits into the final distribution with `course_utils.sampling` (temperature, top-k, top-p, min-p,
in the chain `order`), and draws the next token from it with the generation's own
`np.random.default_rng(seed)`. `temperature=0` is greedy decoding.

When it stops, and `finish_reason` says why:
* ``"eos"``: the model chose an end-of-sequence token (<|im_end|>, <|endoftext|>), recorded as the
  last step but not included in `.text`. ``min_new_tokens=n`` forbids it for the first n tokens
  (HF's ``MinNewTokensLengthLogitsProcessor``; vLLM's ``min_tokens``).
* ``"stop"``: the text so far contains one of the ``stop`` strings (OpenAI's, vLLM's and
  llama.cpp's ``stop``; up to 4, as OpenAI allows), even one that straddles two tokens. `.text`
  ends just before it, as OpenAI returns it; `.stop_string` says which; `.token_ids` keeps every
  token drawn. (HF's ``stop_strings`` keeps the stop string in its output.)
* ``"max_new_tokens"``: the limit cut it off (OpenAI calls it ``"length"``).

Repetition dials: `repetition_penalty`, `frequency_penalty`, `presence_penalty`,
`no_repeat_ngram_size` (and `repeat_last_n` with `order="llama.cpp"`), `logit_bias` and
`allowed_token_ids` act on the raw logits before temperature and truncation, each step reading the
prompt's ids and the ids generated so far (`sampling.penalize_logits` has the rules).
`num_beams=k` with k > 1 runs beam search instead (`course_utils.beam_search`), as Hugging Face's
`generate(num_beams=k, do_sample=False)` does.

Structured output: `json_schema=` (a JSON schema) or `grammar=` (a Lark grammar, or
`{"syntax": "regex", "definition": ...}`) masks every step to the tokens the grammar allows
(`course_utils.structured`, built on llguidance), on the raw logits before everything else. The
result's `complete` says whether the text is a whole match: False when `max_new_tokens` cut it short.

Every step records its `margin`: how far (in logits) the choice was from going to another token
(`sampling.draw_next_token`). Two machines' logits differ in their last digits, so a text is the
same on every machine only if no step was a near-tie; with the environment variable
`COURSE_MIN_MARGIN=<logits>` set (the lesson tests set it), a step decided by less raises
`sampling.NearTieError` instead of printing a text that another machine would not reproduce.

Batches -- many sequences through the model at once
---------------------------------------------------
    gens = generate_batch(model, ["The cat", "In 1905, Einstein"], max_new_tokens=64,
                          temperature=1.0, top_p=0.95, seed=0)

`generate_batch(model, prompts, *, max_new_tokens, temperature, top_k, top_p, min_p, order,
min_tokens_to_keep, seed, chat, <the repetition dials>)` takes a list of prompts (strings, or lists of token ids) and
returns one `Generation` per prompt, in order. The prompts are left-padded into one array and
run through `LlamaModel.forward` together, each row masked from the others' padding, so a batch
of 8 costs far less than 8 single runs (see benchmarks/bench_model.py). Row `i` draws from its
own `np.random.default_rng(seed + i)` (or `default_rng(seed[i])` if `seed` is a list), so

    generate_batch(model, prompts, seed=s, ...)[i] == generate(model, prompts[i], seed=s + i, ...)

token for token: the batch never changes a result, only how fast it arrives.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from course_utils import checks, interface, speculative, structured
from course_utils.beam_search import BeamSearchResult, beam_search, check_max_new_tokens, encode_prompt
from course_utils.chain import GENERATION_SETTINGS, Chain, SamplingConfig, config_from, takes_settings
from course_utils.draw import Decision, decide
from course_utils.processors import History
from course_utils.sampling import log_softmax


@dataclass(frozen=True)
class GenerationStep:
    """One generated token and the distribution it was drawn from."""

    token_id: int
    token_text: str  # for display, whitespace made visible ('␣Paris')
    prob: float  # probability the token had in the final (post-truncation) distribution
    entropy: float  # entropy of that final distribution, in bits
    n_kept: int  # how many tokens survived truncation (had probability > 0)
    rank: int  # 0 if the token was the most likely of that distribution, 1 if the second, ...
    logprob: float  # natural log-probability under the model's own distribution (T=1, nothing cut)
    margin: float  # how much a logit must move to change this choice (sampling.Draw.margin)
    # Constrained generations only: the model's own probability (T = 1) of the tokens the grammar
    # allowed at this step; None without a constraint.
    allowed_prob: float | None = None
    # The fewest and the most tokens truncation could keep on another machine
    # (sampling.kept_count_range); (n_kept, n_kept) unless COURSE_MIN_MARGIN asks for a margin.
    kept_range: tuple[int, int] | None = None
    # With mirostat=2: its mu at this step, the surprise (bits) above which it cut; None without.
    mirostat_mu: float | None = None


@dataclass(frozen=True)
class Generation:
    """A prompt, what the model added to it, and one record per step."""

    prompt: str  # the prompt as given (token ids are decoded to text)
    prompt_ids: list[int]  # what the model read: chat template applied when chat=True
    token_ids: list[int]  # the new tokens, including a final end-of-sequence token if one came
    text: str  # the new text only, without the end-of-sequence token
    steps: list[GenerationStep]
    finish_reason: str  # "eos" (the model ended it), "stop" (a stop string) or "max_new_tokens" (we cut it off)
    settings: dict  # the sampling settings and seed used
    # Constrained generations only: True if the text is a whole match of the grammar (it parses),
    # False if max_new_tokens cut it short; None without a constraint.
    complete: bool | None = None
    stop_string: str | None = None  # the stop string that ended it (finish_reason "stop")
    # Speculative generations only: one `speculative.Verification` per check of a draft (what was
    # drafted, how much was accepted, where the rejection fell); None otherwise.
    verifications: tuple | None = None

    @property
    def full_text(self) -> str:
        """The prompt followed by the new text."""
        return self.prompt + self.text


@takes_settings(names=GENERATION_SETTINGS)
def generate(
    model,
    prompt: str | Sequence[int],
    *,
    max_new_tokens: int = 32,
    seed: int | Sequence[int] = 0,
    chat: bool = False,
    stop: str | Sequence[str] | None = None,
    json_schema: dict | str | None = None,
    grammar: str | dict | None = None,
    num_beams: int = 1,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    prompt_lookup_num_tokens: int | None = None,
    max_matching_ngram_size: int | None = None,
    assistant_early_exit: int | None = None,
    **settings,
) -> Generation | BeamSearchResult:
    """Continue `prompt` token by token; see the module docstring for the settings.

    `num_beams` > 1 runs `beam_search.beam_search` instead (Hugging Face's
    `generate(num_beams=k, do_sample=False)`): it takes no sampling, penalty or grammar settings,
    only `length_penalty` and `early_stopping`, and returns a `beam_search.BeamSearchResult`.

    Speculative decoding (`course_utils.speculative`; Hugging Face's names): a draft guesses tokens
    and one forward pass of the model checks them, the text still drawn from exactly the model's
    distribution. `prompt_lookup_num_tokens=g` drafts up to g tokens by continuing the text's last
    n-gram (up to `max_matching_ngram_size`, default 2) found earlier in it; `assistant_early_exit=k`
    drafts with the model's first k blocks. The result's `verifications` records every check.
    """
    interface.require(model, interface.LanguageModel, "generate()")
    draft = speculative.draft_from(model, prompt_lookup_num_tokens=prompt_lookup_num_tokens,
                                   max_matching_ngram_size=max_matching_ngram_size,
                                   assistant_early_exit=assistant_early_exit, num_beams=num_beams)
    if num_beams != 1:
        _check_beam_search_alone(settings, seed=seed, json_schema=json_schema, grammar=grammar, stop=stop)
        interface.require(model, interface.BatchModel, "beam search (num_beams > 1)")
        return beam_search(
            model, prompt, num_beams=num_beams, max_new_tokens=max_new_tokens, length_penalty=length_penalty,
            early_stopping=early_stopping, chat=chat,
        )
    if length_penalty != 1.0 or early_stopping is not False:
        raise ValueError(
            "length_penalty and early_stopping are beam search settings; they need num_beams > 1 "
            f"(got num_beams={num_beams!r})."
        )
    [row] = _rows(model, [prompt], settings, max_new_tokens, [_check_seed(seed)], chat, stop, json_schema, grammar,
                  names=["prompt"])
    if draft is not None:
        verifications = speculative.speculate(
            model, row, draft, lambda logits, decision: record_step(model, logits, decision, row.chain))
        return replace(row.result(), verifications=tuple(verifications))
    while not row.finished:
        row.take(next_step(model, model.next_token_logits(row.ids), rng=row.rng, chain=row.chain,
                           prompt_ids=row.prompt_ids, generated_ids=row.new_ids))
    return row.result()


def timed_generate(model, prompt, *, repeats: int = 1, **settings) -> tuple[Generation, float]:
    """`generate(model, prompt, **settings)` and the seconds it took on this machine (the best of
    `repeats` runs, which give the same text). What lesson 09 times plain and speculative
    decoding with; the seconds differ on every machine, the text does not."""
    repeats = checks.whole_number(repeats, "repeats", minimum=1, hint="It is how many runs to time, such as 3.")
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = generate(model, prompt, **settings)
        best = min(best, time.perf_counter() - started)
    return result, best


@takes_settings(names=GENERATION_SETTINGS)
def generate_batch(
    model,
    prompts: Sequence[str | Sequence[int]],
    *,
    max_new_tokens: int = 32,
    seed: int | Sequence = 0,
    chat: bool = False,
    stop: str | Sequence[str] | None = None,
    json_schema: dict | str | None = None,
    grammar: str | dict | None = None,
    **settings,
) -> list[Generation]:
    """`generate` for several prompts at once, through one batched forward pass per step.

    Row i uses `np.random.default_rng(seed + i)` (or `seed[i]` if `seed` is a list), so its result
    equals `generate(model, prompts[i], seed=seed + i, ...)`; each row stops on its own.

    It does not speculate (prompt_lookup_num_tokens, assistant_early_exit): each row would accept a
    different number of drafted tokens per check, and the batch's KV cache keeps one length for all
    its rows. Hugging Face refuses it too ("assisted generate is only supported for batch_size = 1").
    """
    speculative.refuse_in_batch(settings)
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise TypeError(
            f"prompts must be a non-empty list of prompts (strings or lists of token ids), got {prompts!r}. "
            "For a single prompt, use generate()."
        )
    names = [f"prompts[{i}]" for i in range(len(prompts))]
    seeds = _row_seeds(seed, len(prompts))
    interface.require(model, interface.BatchModel, "generate_batch()")
    rows = _rows(model, prompts, settings, max_new_tokens, seeds, chat, stop, json_schema, grammar, names=names)

    # Left padding lines up every row's last prompt token in the same column.
    batch, width = len(rows), max(len(row.prompt_ids) for row in rows)
    tokens = np.zeros((batch, width), dtype=np.int64)
    is_real = np.zeros((batch, width), dtype=bool)
    for i, row in enumerate(rows):
        tokens[i, width - len(row.prompt_ids) :] = row.prompt_ids
        is_real[i, width - len(row.prompt_ids) :] = True
    cache = model.new_cache(batch)
    logits = model.forward(tokens, cache, is_real)
    while True:
        chosen = np.zeros(batch, dtype=np.int64)
        for i, row in enumerate(rows):
            if not row.finished:
                row.take(next_step(model, logits[i], rng=row.rng, chain=row.chain,
                                   prompt_ids=row.prompt_ids, generated_ids=row.new_ids))
                chosen[i] = row.new_ids[-1]
        running = np.array([not row.finished for row in rows])
        if not running.any():
            return [row.result() for row in rows]
        # Finished rows go on as padding (masked, never attended to) so the batch keeps its shape.
        logits = model.forward(chosen[:, None], cache, running[:, None])


def next_step(
    model,
    logits,
    *,
    rng: np.random.Generator,
    chain: Chain,
    prompt_ids: Sequence[int],
    generated_ids: Sequence[int],
) -> GenerationStep:
    """The course's central step: apply the `chain` to `logits` once, draw one token, and record how
    it was chosen from that same computation.

    `prompt_ids` and `generated_ids` are what the model has read so far (the penalties count them).
    A grammar in the chain (a `structured.TokenConstraint` among its masks) masks the raw logits
    first, so everything after sees only the allowed tokens; the chosen token then moves every
    processor with state on.
    `generate`, `generate_batch` and the lesson 05 stepper all draw through this function.
    """
    x = np.asarray(logits)
    history = History(np.asarray(prompt_ids, dtype=np.int64), np.asarray(generated_ids, dtype=np.int64))
    return record_step(model, x, decide(chain, x, history, rng), chain)


def record_step(model, logits, decision: Decision, chain: Chain) -> GenerationStep:
    """The record of a decided token (`next_step`'s draw, or a speculative check's), from the
    decision's own computation; the token then moves every processor with state on."""
    model_logprobs = log_softmax(np.asarray(logits).astype(np.float64))
    token = decision.draw.token
    allowed = [mask.constraint.allowed() for mask in chain.masks]
    allowed_prob = float(np.exp(model_logprobs[np.logical_and.reduce(allowed)]).sum()) if allowed else None
    mirostat_mu = chain.mirostat_mu  # before the token moves it on
    chain.advance(token)
    return GenerationStep(
        token_id=token,
        token_text=model.token_text(token),
        prob=decision.prob,
        entropy=decision.entropy,
        n_kept=decision.n_kept,
        kept_range=decision.kept_range,
        rank=decision.rank,
        logprob=float(model_logprobs[token]),
        margin=decision.draw.margin,
        allowed_prob=allowed_prob,
        mirostat_mu=mirostat_mu,
    )


class _Row:
    """One generation in progress: its chain, its random numbers, what it has drawn, and whether
    (and why) it has finished."""

    def __init__(self, model, prompt_text: str, prompt_ids: list[int], chain: Chain, seed, max_new_tokens: int,
                 stop: tuple[str, ...], recorded: dict):
        self.model, self.prompt_text, self.prompt_ids, self.chain = model, prompt_text, prompt_ids, chain
        self.rng = np.random.default_rng(seed)
        self.max_new_tokens, self.stop, self.recorded = max_new_tokens, stop, recorded
        self.new_ids: list[int] = []
        self.steps: list[GenerationStep] = []
        self.finish_reason: str | None = None
        self.stopped_at: tuple[int, str] | None = None  # where in the text a stop string begins, and which

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + self.new_ids

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def take(self, step: GenerationStep) -> None:
        self.steps.append(step)
        self.new_ids.append(step.token_id)
        if step.token_id in self.model.eos_ids:
            self.finish_reason = "eos"
        elif self.stop and (found := first_stop(self.model.decode(self.new_ids), self.stop)):
            self.finish_reason, self.stopped_at = "stop", found
        elif len(self.new_ids) >= self.max_new_tokens:
            self.finish_reason = "max_new_tokens"

    def result(self) -> Generation:
        ended = self.finish_reason == "eos"
        text = self.model.decode(self.new_ids[:-1] if ended else self.new_ids)
        return Generation(
            prompt=self.prompt_text,
            prompt_ids=list(self.prompt_ids),
            token_ids=list(self.new_ids),
            text=text[: self.stopped_at[0]] if self.stopped_at else text,
            steps=list(self.steps),
            finish_reason=self.finish_reason or "max_new_tokens",
            settings=self.recorded,
            complete=all(mask.constraint.is_complete for mask in self.chain.masks) if self.chain.masks else None,
            stop_string=self.stopped_at[1] if self.stopped_at else None,
        )


def first_stop(text: str, stop: Sequence[str]) -> tuple[int, str] | None:
    """Where the first occurrence of any stop string begins in `text`, and which one (the first
    listed, of those that begin there); None if none occurs."""
    found = [(index, i) for i, s in enumerate(stop) if (index := text.find(s)) >= 0]
    if not found:
        return None
    index, i = min(found)
    return index, stop[i]


def _rows(model, prompts, settings, max_new_tokens, seeds, chat, stop, json_schema, grammar, *, names) -> list[_Row]:
    """Every setting checked once, before the model runs; one `_Row` per prompt, each with its own
    chain (a grammar's state is per row)."""
    config = config_from(settings, GENERATION_SETTINGS)
    check_max_new_tokens(max_new_tokens)
    stop = check_stop(stop)
    if json_schema is not None or grammar is not None:
        interface.require(model, interface.GrammarModel, "json_schema= and grammar=")
    recorded_constraint = _constraint_settings(json_schema, grammar)
    breakers = _dry_breakers(model, config)
    rows = []
    for prompt, name, seed in zip(prompts, names, seeds):
        prompt_text, ids = encode_prompt(model, prompt, chat, name=name)
        chain = Chain(config, masks=_constraint(model, json_schema, grammar), eos_ids=model.eos_ids,
                      breakers=breakers)
        chain.check_vocabulary(model.vocab_size)
        recorded = {**config.settings(), "seed": seed, "chat": chat, **({"stop": list(stop)} if stop else {}),
                    **recorded_constraint}
        rows.append(_Row(model, prompt_text, ids, chain, seed, max_new_tokens, stop, recorded))
    return rows


def _dry_breakers(model, config: SamplingConfig):
    """What DRY needs to turn its text breakers into ids, as llama-server does with its tokenizer:
    every token's text and the encoder (None when DRY is off)."""
    if config.dry_multiplier == 0:
        return None
    return _token_texts(model), model.encode


@functools.lru_cache(maxsize=4)
def _token_texts(model) -> tuple[str, ...]:
    """Every token's text, decoded once per model: a third of a second at 49,152 tokens, which a
    learner would otherwise wait for at every generate() with DRY on."""
    return tuple(model.decode([i]) for i in range(model.vocab_size))


def _constraint(model, json_schema, grammar) -> list[structured.TokenConstraint]:
    """The grammar's per-generation state, as the chain's masks (none when no constraint is given)."""
    if json_schema is None and grammar is None:
        return []
    return [structured.TokenConstraint(model.tokenizer, json_schema=json_schema, grammar=grammar)]


def _constraint_settings(json_schema, grammar) -> dict:
    """The constraint as the result's settings record it (nothing when there is none)."""
    return {name: value for name, value in (("json_schema", json_schema), ("grammar", grammar)) if value is not None}


# ---- checking what a learner passes in -------------------------------------------------------


#: OpenAI's limit ("Up to 4 sequences where the API will stop generating further tokens").
MAX_STOP_STRINGS = 4


def check_stop(stop) -> tuple[str, ...]:
    """`stop` as a tuple of non-empty strings (one string is a list of one), or a clear error."""
    if stop is None:
        return ()
    strings = [stop] if isinstance(stop, str) else stop
    if not isinstance(strings, Sequence) or isinstance(strings, bytes):
        raise TypeError(f"stop must be a string or a list of strings, such as stop=[\"\\n\\n\"], got {stop!r}.")
    for i, s in enumerate(strings):
        if not isinstance(s, str):
            raise TypeError(f"stop must hold strings, but stop[{i}] is {s!r}. Write it as text, such as {str(s)!r}.")
        if not s:
            raise ValueError("stop contains an empty string, which would stop before the first token. Remove it.")
    if len(strings) > MAX_STOP_STRINGS:
        raise ValueError(
            f"stop holds {len(strings)} strings; the course allows up to {MAX_STOP_STRINGS}, as OpenAI's API does. "
            "Keep the ones that matter."
        )
    return tuple(strings)


def _check_beam_search_alone(settings: dict, **others) -> None:
    """Beam search draws nothing and follows no grammar: refuse those settings rather than ignore them."""
    defaults = {**SamplingConfig().settings(), "seed": 0, "json_schema": None, "grammar": None, "stop": None}
    changed = [
        name for name, value in {**settings, **others}.items()
        if name not in defaults or not _is_default(value, defaults[name])
    ]
    if changed:
        raise ValueError(
            f"num_beams > 1 runs beam search, which is deterministic and takes no sampling or grammar settings, "
            f"but {', '.join(changed)} {'was' if len(changed) == 1 else 'were'} given. Use num_beams=1 to "
            "sample, or leave those settings at their defaults (as Hugging Face's do_sample=False)."
        )


def _is_default(value, default) -> bool:
    return value is None if default is None else (value is not None and value == default)


def _check_seed(seed):
    """A seed numpy's default_rng takes: a whole number >= 0, or a non-empty list of them."""
    hint = "The same seed gives the same generation; try seed=0."
    if isinstance(seed, Sequence) and not isinstance(seed, str) and seed:
        for i, s in enumerate(seed):
            checks.whole_number(s, f"seed[{i}]", minimum=0, hint=hint)
        return seed
    return checks.whole_number(seed, "seed", minimum=0, hint=hint)


def _row_seeds(seed, n_rows: int) -> list:
    if checks.is_whole(seed):
        return [_check_seed(seed) + i for i in range(n_rows)]
    if isinstance(seed, Sequence) and not isinstance(seed, str) and len(seed) == n_rows:
        return [_check_seed(s) for s in seed]
    raise ValueError(
        f"seed must be a whole number (row i then uses seed + i) or a list of {n_rows} seeds, one per prompt; "
        f"got {seed!r}."
    )
