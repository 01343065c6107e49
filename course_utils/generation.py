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

Every step records its `margin`: how far (in logits) the choice was from going to another token
(`sampling.draw_next_token`). Two machines' logits differ in their last digits, so a text is the
same on every machine only if no step was a near-tie; with the environment variable
`COURSE_MIN_MARGIN=<logits>` set (the lesson tests set it), a step decided by less raises
`sampling.NearTieError` instead of printing a text that another machine would not reproduce.

Structured output -- only what a grammar allows
-----------------------------------------------
    person = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    g = generate(model, "Give me a JSON object describing a person called Alice who is 31", chat=True,
                 json_schema=person, temperature=0)
    g.text                      # '{\\n  "name": "Alice",\\n  "age": 31\\n}'
    g.complete                  # True: the text parses and validates against the schema

`json_schema=` (a JSON Schema, dict or JSON text) or `grammar=` (a Lark grammar, or
{"syntax": "regex", "definition": ...}) constrains every step: the tokens the grammar forbids get
-inf on the raw logits, before temperature, top-k, top-p and min-p (where vLLM and Hugging Face
put it, and llama.cpp whenever its first, unconstrained draw breaks the grammar: see
`ecosystem.STRUCTURED_OUTPUT`), and the token is drawn by `sampling.draw_next_token` as always.
When the grammar is complete the end-of-sequence tokens are allowed too; when nothing else can
follow, they are the only choice. See `course_utils.structured` for the formats and the errors.

A cut-short text is not valid: `Generation.complete` says whether the constrained text is a
whole match of the grammar (True) or was cut off by `max_new_tokens` first (False); it is None for
an unconstrained generation. `finish_reason` keeps its meaning: "eos" is OpenAI's "stop",
"max_new_tokens" OpenAI's "length" -- and, as OpenAI warns for "length", the JSON may then be
incomplete. Each step's `allowed_prob` is the probability the model itself (T = 1) gave to the
tokens the grammar allowed: 1 - allowed_prob is what the mask removed. `logprob` stays the model's
own, unmasked log-probability, so the sum of the logprobs is the model's log-probability of the
constrained text.

Batches -- many sequences through the model at once
---------------------------------------------------
    gens = generate_batch(model, ["The cat", "In 1905, Einstein"], max_new_tokens=64,
                          temperature=1.0, top_p=0.95, seed=0)

`generate_batch(model, prompts, *, max_new_tokens, temperature, top_k, top_p, min_p, order,
min_tokens_to_keep, seed, chat, json_schema, grammar)` takes a list of prompts (strings, or lists
of token ids) and returns one `Generation` per prompt, in order. The prompts are left-padded into
one array and run through `LlamaModel.forward` together, each row masked from the others'
padding, so a batch of 8 costs far less than 8 single runs (see benchmarks/bench_model.py).
Row `i` draws from its own `np.random.default_rng(seed + i)` (or `default_rng(seed[i])` if `seed`
is a list), and has its own grammar state when constrained, so

    generate_batch(model, prompts, seed=s, ...)[i] == generate(model, prompts[i], seed=s + i, ...)

token for token: the batch never changes a result, only how fast it arrives.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from course_utils import sampling, structured


@dataclass(frozen=True)
class GenerationStep:
    """One generated token and the distribution it was drawn from."""

    token_id: int
    token_text: str  # for display, whitespace made visible ('␣Paris')
    prob: float  # probability the token had in the final (post-truncation) distribution
    entropy: float  # entropy of that final distribution, in bits
    n_kept: int  # how many tokens survived truncation (had probability > 0)
    logprob: float  # natural log-probability under the model's own distribution (T=1, nothing cut)
    margin: float  # how much a logit must move to change this choice (sampling.Draw.margin)
    # Constrained generations only: the model's own probability (T = 1) of the tokens the grammar
    # allowed at this step; None without a constraint.
    allowed_prob: float | None = None


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


def generate(
    model,
    prompt: str | Sequence[int],
    *,
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    min_p: float = 0.0,
    order: str = "transformers",
    min_tokens_to_keep: int = 1,
    seed: int | Sequence[int] = 0,
    chat: bool = False,
    json_schema: dict | str | None = None,
    grammar: str | dict | None = None,
) -> Generation:
    """Continue `prompt` token by token; see the module docstring for the settings."""
    settings = _sampling_settings(temperature, top_k, top_p, min_p, order, min_tokens_to_keep)
    _check_max_new_tokens(max_new_tokens)
    prompt_text, ids = _prompt_ids(model, prompt, chat, name="prompt")
    rng = np.random.default_rng(_check_seed(seed))
    constraint = _constraint(model, json_schema, grammar)
    eos_ids = model.eos_ids

    new_ids: list[int] = []
    steps: list[GenerationStep] = []
    for _ in range(max_new_tokens):
        logits = model.next_token_logits(ids + new_ids)
        step = _choose(model, logits, rng, settings, constraint)
        steps.append(step)
        new_ids.append(step.token_id)
        if step.token_id in eos_ids:
            break
    recorded = {**settings, "seed": seed, "chat": chat, **_constraint_settings(json_schema, grammar)}
    return _record(model, prompt_text, ids, new_ids, steps, recorded, constraint)


def generate_batch(
    model,
    prompts: Sequence[str | Sequence[int]],
    *,
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    min_p: float = 0.0,
    order: str = "transformers",
    min_tokens_to_keep: int = 1,
    seed: int | Sequence = 0,
    chat: bool = False,
    json_schema: dict | str | None = None,
    grammar: str | dict | None = None,
) -> list[Generation]:
    """`generate` for several prompts at once, through one batched forward pass per step.

    Row i uses `np.random.default_rng(seed + i)` (or `seed[i]` if `seed` is a list), so its result
    equals `generate(model, prompts[i], seed=seed + i, ...)`.
    """
    settings = _sampling_settings(temperature, top_k, top_p, min_p, order, min_tokens_to_keep)
    _check_max_new_tokens(max_new_tokens)
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise TypeError(
            f"prompts must be a non-empty list of prompts (strings or lists of token ids), got {prompts!r}. "
            "For a single prompt, use generate()."
        )
    encoded = [_prompt_ids(model, p, chat, name=f"prompts[{i}]") for i, p in enumerate(prompts)]
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
            step = _choose(model, logits[row], rngs[row], settings, constraints[row])
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


def _choose(model, logits: np.ndarray, rng: np.random.Generator, settings: dict,
            constraint: structured.TokenConstraint | None = None) -> GenerationStep:
    """Draw one token from the final distribution of `logits` and record how it was chosen.

    With a constraint, the grammar's mask goes on the raw logits first, so temperature and
    truncation see only the allowed tokens; the chosen token then moves the grammar on.
    """
    model_logprobs = sampling.log_softmax(logits)
    allowed_prob = None
    if constraint is not None:
        allowed = constraint.allowed()
        allowed_prob = float(np.exp(model_logprobs[allowed]).sum())
        logits = np.where(allowed, logits, -np.inf)
    final = sampling.next_token_distribution(logits, **settings)
    draw = sampling.draw_next_token(logits, rng=rng, **settings)
    token = draw.token
    if constraint is not None:
        constraint.advance(token)
    return GenerationStep(
        token_id=token,
        token_text=model.token_text(token),
        prob=float(final[token]),
        entropy=float(sampling.entropy(final)),
        n_kept=int(np.count_nonzero(final)),
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


def _sampling_settings(temperature, top_k, top_p, min_p, order, min_tokens_to_keep) -> dict:
    settings = dict(
        temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, order=order, min_tokens_to_keep=min_tokens_to_keep
    )
    # Validate before the model runs: sampling's own checks, on a two-token stand-in.
    sampling.next_token_distribution(np.zeros(2), **settings)
    return settings


def _check_max_new_tokens(max_new_tokens) -> None:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) or max_new_tokens < 1:
        raise ValueError(
            f"max_new_tokens must be a whole number of at least 1, got {max_new_tokens!r}. "
            "It is how many tokens to generate at most, e.g. max_new_tokens=32."
        )


def _check_seed(seed):
    if isinstance(seed, bool) or not (
        isinstance(seed, numbers.Integral)
        or (isinstance(seed, Sequence) and seed and all(isinstance(s, numbers.Integral) for s in seed))
    ) or np.any(np.asarray(seed) < 0):
        raise ValueError(
            f"seed must be a non-negative whole number (or a list of them), got {seed!r}. "
            "The same seed gives the same generation; try seed=0."
        )
    return seed


def _row_seeds(seed, n_rows: int) -> list:
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return [_check_seed(seed) + i for i in range(n_rows)]
    if isinstance(seed, Sequence) and not isinstance(seed, str) and len(seed) == n_rows:
        return [_check_seed(s) for s in seed]
    raise ValueError(
        f"seed must be a whole number (row i then uses seed + i) or a list of {n_rows} seeds, one per prompt; "
        f"got {seed!r}."
    )


def _check_ids(ids, vocab_size: int, name: str) -> list[int]:
    checked = []
    for position, token_id in enumerate(ids):
        if isinstance(token_id, bool) or not isinstance(token_id, numbers.Integral):
            raise TypeError(f"{name}[{position}] = {token_id!r} is not a token id (an int).")
        if not 0 <= token_id < vocab_size:
            raise ValueError(f"{name}[{position}] = {token_id} is not a token id; ids go from 0 to {vocab_size - 1}.")
        checked.append(int(token_id))
    if not checked:
        raise ValueError(f"{name} is an empty list of token ids; the model needs at least one token.")
    return checked


def _prompt_ids(model, prompt, chat: bool, name: str) -> tuple[str, list[int]]:
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
        ids = _check_ids(prompt, model.vocab_size, name)
        return model.decode(ids), ids
    raise TypeError(f"{name} must be a string or a list of token ids, got {type(prompt).__name__}: {prompt!r}.")
