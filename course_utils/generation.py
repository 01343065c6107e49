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
`np.random.default_rng(seed)`. `temperature=0` is greedy decoding. Generation stops after
`max_new_tokens` or at an end-of-sequence token (<|im_end|>, <|endoftext|>), which is recorded
as the last step but not included in `.text`.

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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from course_utils import checks, sampling, structured
from course_utils.beam_search import BeamSearchResult, beam_search, check_max_new_tokens, encode_prompt


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


@dataclass(frozen=True)
class Generation:
    """A prompt, what the model added to it, and one record per step."""

    prompt: str  # the prompt as given (token ids are decoded to text)
    prompt_ids: list[int]  # what the model read: chat template applied when chat=True
    token_ids: list[int]  # the new tokens, including a final end-of-sequence token if one came
    text: str  # the new text only, without the end-of-sequence token
    steps: list[GenerationStep]
    finish_reason: str  # "eos" (the model ended it) or "max_new_tokens" (we cut it off)
    settings: dict  # the sampling settings and seed used
    # Constrained generations only: True if the text is a whole match of the grammar (it parses),
    # False if max_new_tokens cut it short; None without a constraint.
    complete: bool | None = None

    @property
    def full_text(self) -> str:
        """The prompt followed by the new text."""
        return self.prompt + self.text


@sampling.takes_settings
def generate(
    model,
    prompt: str | Sequence[int],
    *,
    max_new_tokens: int = 32,
    seed: int | Sequence[int] = 0,
    chat: bool = False,
    json_schema: dict | str | None = None,
    grammar: str | dict | None = None,
    num_beams: int = 1,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    **settings,
) -> Generation | BeamSearchResult:
    """Continue `prompt` token by token; see the module docstring for the settings.

    `num_beams` > 1 runs `beam_search.beam_search` instead (Hugging Face's
    `generate(num_beams=k, do_sample=False)`): it takes no sampling, penalty or grammar settings,
    only `length_penalty` and `early_stopping`, and returns a `beam_search.BeamSearchResult`.
    """
    if num_beams != 1:
        _check_beam_search_alone(settings, seed=seed, json_schema=json_schema, grammar=grammar)
        return beam_search(
            model, prompt, num_beams=num_beams, max_new_tokens=max_new_tokens, length_penalty=length_penalty,
            early_stopping=early_stopping, chat=chat,
        )
    if length_penalty != 1.0 or early_stopping is not False:
        raise ValueError(
            "length_penalty and early_stopping are beam search settings; they need num_beams > 1 "
            f"(got num_beams={num_beams!r})."
        )
    settings = _sampling_settings(model, settings)
    check_max_new_tokens(max_new_tokens)
    prompt_text, ids = encode_prompt(model, prompt, chat, name="prompt")
    rng = np.random.default_rng(_check_seed(seed))
    constraint = _constraint(model, json_schema, grammar)
    eos_ids = model.eos_ids

    new_ids: list[int] = []
    steps: list[GenerationStep] = []
    for _ in range(max_new_tokens):
        logits = model.next_token_logits(ids + new_ids)
        step = next_step(
            model, logits, rng=rng, settings=settings, prompt_ids=ids, generated_ids=new_ids, constraint=constraint
        )
        steps.append(step)
        new_ids.append(step.token_id)
        if step.token_id in eos_ids:
            break
    recorded = {**settings, "seed": seed, "chat": chat, **_constraint_settings(json_schema, grammar)}
    return _record(model, prompt_text, ids, new_ids, steps, recorded, constraint)


@sampling.takes_settings
def generate_batch(
    model,
    prompts: Sequence[str | Sequence[int]],
    *,
    max_new_tokens: int = 32,
    seed: int | Sequence = 0,
    chat: bool = False,
    json_schema: dict | str | None = None,
    grammar: str | dict | None = None,
    **settings,
) -> list[Generation]:
    """`generate` for several prompts at once, through one batched forward pass per step.

    Row i uses `np.random.default_rng(seed + i)` (or `seed[i]` if `seed` is a list), so its result
    equals `generate(model, prompts[i], seed=seed + i, ...)`.
    """
    settings = _sampling_settings(model, settings)
    check_max_new_tokens(max_new_tokens)
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise TypeError(
            f"prompts must be a non-empty list of prompts (strings or lists of token ids), got {prompts!r}. "
            "For a single prompt, use generate()."
        )
    encoded = [encode_prompt(model, p, chat, name=f"prompts[{i}]") for i, p in enumerate(prompts)]
    seeds = _row_seeds(seed, len(prompts))
    rngs = [np.random.default_rng(s) for s in seeds]
    constraints = [_constraint(model, json_schema, grammar) for _ in prompts]  # each row its own state
    eos_ids = model.eos_ids

    # Left padding lines up every row's last prompt token in the same column.
    batch, width = len(encoded), max(len(ids) for _, ids in encoded)
    tokens = np.zeros((batch, width), dtype=np.int64)
    is_real = np.zeros((batch, width), dtype=bool)
    for row, (_, ids) in enumerate(encoded):
        tokens[row, width - len(ids) :] = ids
        is_real[row, width - len(ids) :] = True
    cache = model.new_cache(batch)
    logits = model.forward(tokens, cache, is_real)

    new_ids: list[list[int]] = [[] for _ in range(batch)]
    steps: list[list[GenerationStep]] = [[] for _ in range(batch)]
    running = np.ones(batch, dtype=bool)
    for step_index in range(max_new_tokens):
        chosen = np.zeros(batch, dtype=np.int64)
        for row in np.flatnonzero(running):
            step = next_step(
                model, logits[row], rng=rngs[row], settings=settings,
                prompt_ids=encoded[row][1], generated_ids=new_ids[row], constraint=constraints[row],
            )
            steps[row].append(step)
            new_ids[row].append(step.token_id)
            chosen[row] = step.token_id
            running[row] = step.token_id not in eos_ids
        if not running.any() or step_index == max_new_tokens - 1:
            break
        # Finished rows go on as padding (masked, never attended to) so the batch keeps its shape.
        logits = model.forward(chosen[:, None], cache, running[:, None])
    constraint_settings = _constraint_settings(json_schema, grammar)
    return [
        _record(model, text, ids, new_ids[row], steps[row],
                {**settings, "seed": seeds[row], "chat": chat, **constraint_settings}, constraints[row])
        for row, (text, ids) in enumerate(encoded)
    ]


def next_step(
    model,
    logits,
    *,
    rng: np.random.Generator,
    settings: dict,
    prompt_ids: Sequence[int],
    generated_ids: Sequence[int],
    constraint: structured.TokenConstraint | None = None,
) -> GenerationStep:
    """The course's central step: draw one token from the final distribution of `logits`, and
    record how it was chosen.

    `settings` are sampling keywords (temperature, top_k, ..., the penalties); `prompt_ids` and
    `generated_ids` are what the model has read so far (the penalties count them). With a
    `constraint`, the grammar's mask goes on the raw logits first, so everything after sees only
    the allowed tokens; the chosen token then moves the grammar on. `generate`, `generate_batch`
    and the lesson 05 stepper all draw through this function.
    """
    model_logprobs = sampling.log_softmax(logits)
    allowed_prob = None
    if constraint is not None:
        allowed = constraint.allowed()
        allowed_prob = float(np.exp(model_logprobs[allowed]).sum())
        logits = np.where(allowed, logits, -np.inf)
    final, draw, kept_range = sampling.distribution_and_draw(
        logits, rng=rng, prompt_ids=prompt_ids, generated_ids=generated_ids, **settings
    )
    token = draw.token
    if constraint is not None:
        constraint.advance(token)
    return GenerationStep(
        token_id=token,
        token_text=model.token_text(token),
        prob=float(final[token]),
        entropy=float(sampling.entropy(final)),
        n_kept=int(np.count_nonzero(final)),
        kept_range=kept_range,
        rank=int(np.count_nonzero(final > final[token])),
        logprob=float(model_logprobs[token]),
        margin=draw.margin,
        allowed_prob=allowed_prob,
    )


def _record(model, prompt_text, prompt_ids, new_ids, steps, settings, constraint=None) -> Generation:
    ended = bool(new_ids) and new_ids[-1] in model.eos_ids
    return Generation(
        prompt=prompt_text,
        prompt_ids=list(prompt_ids),
        token_ids=list(new_ids),
        text=model.decode(new_ids[:-1] if ended else new_ids),
        steps=list(steps),
        finish_reason="eos" if ended else "max_new_tokens",
        settings=settings,
        complete=None if constraint is None else constraint.is_complete,
    )


def _constraint(model, json_schema, grammar) -> structured.TokenConstraint | None:
    """The grammar's per-generation state, or None when neither constraint is given."""
    if json_schema is None and grammar is None:
        return None
    return structured.TokenConstraint(model.tokenizer, json_schema=json_schema, grammar=grammar)


def _constraint_settings(json_schema, grammar) -> dict:
    """The constraint as the result's settings record it (nothing when there is none)."""
    return {name: value for name, value in (("json_schema", json_schema), ("grammar", grammar)) if value is not None}


# ---- checking what a learner passes in -------------------------------------------------------


def _sampling_settings(model, settings: dict) -> dict:
    """Every sampling setting (defaults filled in), checked before the model runs, logit_bias and
    allowed_token_ids against the model's vocabulary."""
    return sampling.checked_settings(model.vocab_size, **settings)


def _check_beam_search_alone(settings: dict, **others) -> None:
    """Beam search draws nothing and follows no grammar: refuse those settings rather than ignore them."""
    defaults = {**sampling.SETTING_DEFAULTS, "seed": 0, "json_schema": None, "grammar": None}
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
