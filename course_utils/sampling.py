"""How a language model's logits become the next token: the functions the lessons call.

Pure numpy. Every plot, explorer, exercise and the generation loop get their numbers from here
and from the modules underneath, so a formula lives in exactly one place:

* `course_utils.processors`: one class per dial, the formulas learners are told to read;
* `course_utils.chain`: `SamplingConfig` (every dial checked once) and the `Chain` it builds;
* `course_utils.draw`: the draw, and how close it came to choosing another token.

Semantics follow Hugging Face transformers' logits processors unless a docstring says
otherwise; the differential tests in ``tests/test_sampling_reference.py`` hold us to that.
Where the libraries differ, ``order`` selects the chain (``"transformers"``: temperature first;
``"llama.cpp"``: temperature last). Before either chain, the raw logits pass through the stage
every library puts first (``allowed_token_ids``, ``logit_bias``, the repetition penalties,
``no_repeat_ngram_size``), which reads the token ids seen so far, ``prompt_ids`` and ``generated_ids``.

Conventions: logits have shape ``(V,)`` or ``(..., V)`` (each row is independent);
``-inf`` marks a masked token (probability 0); probabilities are float64; entropy is in bits.
``temperature=0`` means greedy decoding, the T -> 0+ limit: all mass on the largest logit,
split evenly among exact ties.
"""

from __future__ import annotations

import numpy as np

from course_utils import draw as _draw
from course_utils.chain import (  # noqa: F401  (the names lessons and older code import from here)
    ORDERS, PENALTY_SETTINGS, SETTING_DEFAULTS, Chain, SamplingConfig, Stage, config_from, takes_settings,
)
from course_utils.draw import Draw
from course_utils.processors import MinP, Temperature, TopK, TopP, check_histories, check_logits
from course_utils.processors import truncation as _math
from course_utils.reproducibility import (  # noqa: F401  (met where a draw is: the margin policy)
    MARGIN_VARIABLE, NearTieError, required, required_margin, same_count,
)


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy random Generator, got {rng!r}. "
            "Create one with a seed so results can be reproduced: rng = np.random.default_rng(0)."
        )
    return rng


def softmax(logits, temperature=1.0, axis=-1) -> np.ndarray:
    """Probabilities ``exp(z_i / T) / sum_j exp(z_j / T)``, computed without overflow."""
    x = check_logits(logits, axis=axis)
    return np.moveaxis(_math.softmax(x, Temperature(temperature).temperature), -1, axis)


def log_softmax(logits, temperature=1.0, axis=-1) -> np.ndarray:
    """Log-probabilities (natural log), what APIs return as ``logprobs``; masked tokens get -inf."""
    x = check_logits(logits, axis=axis)
    return np.moveaxis(_math.log_softmax(x, Temperature(temperature).temperature), -1, axis)


def entropy(probs, axis=-1):
    """Shannon entropy in bits, ``-sum p log2 p`` (with 0 log 0 = 0).

    2 ** entropy is the "effective number of choices": 1 for a certain outcome, V for a
    uniform distribution over V tokens.
    """
    p = check_logits(probs, name="probs", axis=axis)
    if (p < 0).any():
        raise ValueError(
            "probs must be non-negative probabilities, but some are negative. "
            "Did you pass logits? Turn them into probabilities first with softmax(logits)."
        )
    totals = p.sum(axis=-1)
    if not np.allclose(totals, 1.0, atol=1e-4):
        raise ValueError(
            f"probs must sum to 1 along the token axis, but a row sums to "
            f"{float(totals.flat[np.argmax(np.abs(totals - 1.0))]):.6g}. "
            "Did you pass logits? Turn them into probabilities first with softmax(logits)."
        )
    return _entropy(p)


def _entropy(p: np.ndarray):
    positive = np.where(p > 0, p, 1.0)
    h = -(p * np.log2(positive)).sum(axis=-1) + 0.0  # + 0.0 turns -0.0 into 0.0
    return float(h) if h.ndim == 0 else h


def top_k_filter(logits, top_k, min_tokens_to_keep=1) -> np.ndarray:
    """Keep the ``top_k`` largest logits (and any tied with the k-th), set the rest to -inf.

    ``top_k=0`` turns the filter off; a ``top_k`` larger than the vocabulary keeps everything.
    """
    x = check_logits(logits)
    return TopK(top_k, min_tokens_to_keep)(x).copy()


def top_p_filter(logits, top_p, min_tokens_to_keep=1) -> np.ndarray:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability reaches ``top_p``.

    ``top_p=1.0`` turns the filter off. Tokens with equal logits are ranked by index.
    """
    x = check_logits(logits)
    return TopP(top_p, min_tokens_to_keep)(x).copy()


def min_p_filter(logits, min_p, min_tokens_to_keep=1) -> np.ndarray:
    """Keep tokens whose probability is at least ``min_p`` times the top token's; ``0`` turns it off."""
    x = check_logits(logits)
    return MinP(min_p, min_tokens_to_keep)(x).copy()


def _rows(logits, prompt_ids, generated_ids, *, keep_dtype: bool = False):
    """Checked logits, the same as rows ``(n, V)``, and one History per row."""
    x = check_logits(logits, keep_dtype=keep_dtype)
    return x, x.reshape(-1, x.shape[-1]), check_histories(prompt_ids, generated_ids, x.shape)


@takes_settings
def sampling_stages(logits, *, prompt_ids=None, generated_ids=None, **settings) -> list[Stage]:
    """The distribution after each stage of the chain, in the order ``order`` applies them.

    The first stage is always the plain softmax of the logits (T = 1); the last is the
    distribution the next token is drawn from. Stages that are turned off still appear
    (their label says "off"), so a plot can keep one panel per stage. With any of
    `penalize_logits`'s dials set (repetition_penalty, ..., allowed_token_ids), a
    "penalties" stage follows the input: the softmax of the penalized logits (T = 1).
    """
    chain = Chain(config_from(settings))
    x, rows, histories = _rows(logits, prompt_ids, generated_ids)
    stages = [Stage("input", "softmax of the logits (T = 1)", _math.softmax(x))]
    if chain.before:
        x = chain.penalize(rows, histories).reshape(x.shape)
        stages.append(Stage("penalties", chain.penalty_label, _math.softmax(x)))
    return stages + chain.stages(x)


@takes_settings(names=PENALTY_SETTINGS)
def penalize_logits(logits, *, prompt_ids=None, generated_ids=None, **settings) -> np.ndarray:
    """The logits after the stage every library runs before temperature and truncation.

    In order: ``allowed_token_ids`` (every other token gets -inf), ``logit_bias`` (added),
    the repetition penalties, ``no_repeat_ngram_size`` (tokens that would repeat an n-gram get
    -inf). ``prompt_ids`` and ``generated_ids`` are the ids the logits follow: one list for one row
    of logits, one list per row for a batch. ``order`` chooses whose penalties (``"transformers"``:
    HF's repetition penalty over prompt + generated, OpenAI's frequency and presence penalties over
    the generated ids; ``"llama.cpp"``: all three over the last ``repeat_last_n`` ids); with nothing
    set the logits come back unchanged (as float64).
    """
    chain = Chain(config_from(settings, PENALTY_SETTINGS))
    x, rows, histories = _rows(logits, prompt_ids, generated_ids)
    return chain.penalize(rows, histories).reshape(x.shape)


@takes_settings
def next_token_distribution(logits, *, prompt_ids=None, generated_ids=None, rng=None, **settings) -> np.ndarray:
    """The final probabilities the next token is drawn from, after the whole chain.

    The penalty keywords act on the raw logits before the chain: see `penalize_logits`.

    XTC (``xtc_probability``) is random: at each step a coin decides whether it acts. Without an
    `rng` this returns the distribution the token is really drawn from, the mixture of the two
    outcomes, (1 - xtc_probability) * (XTC does not act) + xtc_probability * (XTC acts). With an
    `rng` it tosses the coin from it, as a generation step does, and returns that one outcome (the
    same rng then gives `sample_next_token` the next numbers). Mirostat starts from mu = 2 tau here,
    as at a generation's first step.
    """
    chain = Chain(config_from(settings))
    x, rows, histories = _rows(logits, prompt_ids, generated_ids)
    if chain.before:
        x = chain.penalize(rows, histories).reshape(x.shape)
    if chain.xtc is None:
        return _math.softmax(chain.final_logits(x))
    if rng is not None:
        return _math.softmax(chain.final_logits(x, xtc_applies=chain.xtc.coin(_check_rng(rng))))
    acts = chain.xtc.xtc_probability
    return ((1 - acts) * _math.softmax(chain.final_logits(x, xtc_applies=False))
            + acts * _math.softmax(chain.final_logits(x, xtc_applies=True)))


@takes_settings
def sample_next_token(logits, *, rng, prompt_ids=None, generated_ids=None, **settings):
    """Draw the next token's index from the chain's final distribution.

    Returns an ``int`` for one row of logits, an integer array (one index per row) for a
    batch; rows are drawn in order from the same ``rng``. With ``temperature=0`` it returns
    the argmax (the first index among exact ties) and draws nothing from ``rng``. How a token
    is drawn, and why that way: see `draw_next_token`; the penalty keywords: `penalize_logits`.
    """
    _check_rng(rng)
    chain = Chain(config_from(settings))
    x, rows, histories = _rows(logits, prompt_ids, generated_ids, keep_dtype=True)
    # Its tokens need no margin unless COURSE_MIN_MARGIN asks for one to be checked.
    measure = required() > 0
    picks = np.array([_draw.decide(chain, row, h, rng, measure=measure).draw.token
                      for row, h in zip(rows, histories)], dtype=np.int64)
    return int(picks[0]) if x.ndim == 1 else picks.reshape(x.shape[:-1])


def _one_row(logits, prompt_ids, generated_ids, settings: dict, name: str, batch_hint: str = ""):
    """The chain, one row of checked logits and its history, for a function that takes one row."""
    chain = Chain(config_from(settings))
    x = check_logits(logits, keep_dtype=True)
    if x.ndim != 1:
        raise ValueError(f"{name} takes one row of logits (shape (V,)), got shape {x.shape}{batch_hint}.")
    [history] = check_histories(prompt_ids, generated_ids, x.shape)
    return chain, x, history


@takes_settings
def draw_next_token(logits, *, rng, prompt_ids=None, generated_ids=None, **settings) -> Draw:
    """`sample_next_token` for one row of logits, with the draw's decision margin.

    ``settings`` are `sample_next_token`'s keywords (temperature, top_k, top_p, min_p, order,
    min_tokens_to_keep and the penalty keywords of `penalize_logits`), with the same defaults
    and checks. How the token is drawn (an exponential race, as vLLM draws) and what its margin
    measures: `course_utils.draw`. Greedy decoding (``temperature=0``) has the margin of its two
    best logits. With ``COURSE_MIN_MARGIN`` set, a draw decided by less raises `NearTieError`.
    """
    _check_rng(rng)
    chain, x, history = _one_row(logits, prompt_ids, generated_ids, settings, "draw_next_token",
                                 batch_hint="; use sample_next_token for a batch")
    return _draw.decide(chain, x, history, rng).draw


@takes_settings
def kept_count_range(logits, *, prompt_ids=None, generated_ids=None, **settings) -> tuple[int, int]:
    """The fewest and the most tokens the chain keeps for one row of logits when every logit may
    move by the margin ``COURSE_MIN_MARGIN`` requires: what another machine could count
    (`draw.kept_range`). Without a required margin, both are the count itself. With XTC on, the count
    is that of a step where its coin makes it act (as `sampling_stages` shows it)."""
    chain, x, history = _one_row(logits, prompt_ids, generated_ids, settings, "kept_count")
    penalized = chain.penalize(x[None], [history])[0]
    return _draw.kept_range(chain, penalized, _math.softmax(chain.final_logits(penalized)))


@takes_settings
def kept_count(logits, *, digits: int | None = None, prompt_ids=None, generated_ids=None, **settings) -> int:
    """How many tokens the chain keeps for one row of logits (probability > 0), as every machine
    counts them: rounded to `digits` significant digits if given.

    top-p and min-p decide the count by comparing the model's numbers with a cut, so another machine
    can count differently when a cut falls close to a token: under ``COURSE_MIN_MARGIN`` the
    (rounded) counts of `kept_count_range` must agree, or `NearTieError` says so.
    """
    fewest, most = kept_count_range(logits, prompt_ids=prompt_ids, generated_ids=generated_ids, **settings)
    return same_count(fewest, most, digits, "The number of tokens the chain keeps")
