"""How a language model's logits become the next token: the course's one source of truth.

Pure numpy. Every plot, explorer, exercise and the generation loop get their numbers from the
functions here, so a formula lives in exactly one place.

Semantics follow Hugging Face transformers' logits warpers (``TemperatureLogitsWarper``,
``TopKLogitsWarper``, ``TopPLogitsWarper``, ``MinPLogitsWarper``) unless a docstring says
otherwise; the differential tests in ``tests/test_sampling_reference.py`` hold us to that.
Where the libraries differ, ``order`` selects the chain:

* ``"transformers"``: temperature -> top-k -> top-p -> min-p (the order ``generate()`` applies).
* ``"llama.cpp"``: top-k -> top-p -> min-p on the T = 1 distribution, then temperature is
  applied to the survivors (llama.cpp's default sampler chain puts temperature last).

Before either chain, the raw logits pass through the stage every library puts first
(`course_utils.penalties`: ``allowed_token_ids``, ``logit_bias``, the repetition penalties,
``no_repeat_ngram_size``), which reads the token ids seen so far, ``prompt_ids`` and ``generated_ids``.

Conventions: logits have shape ``(V,)`` or ``(..., V)`` (each row is independent);
``-inf`` marks a masked token (probability 0); probabilities are float64; entropy is in bits.
``temperature=0`` means greedy decoding, the T -> 0+ limit: all mass on the largest logit,
split evenly among exact ties.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from course_utils import checks
from course_utils.penalties import History, Penalties, check_histories, check_penalties, penalize, penalty_label

ORDERS = ("transformers", "llama.cpp")

# With this environment variable set to a number of logits (`make test` sets it for the lessons),
# a draw decided by a smaller margin raises NearTieError: see `draw_next_token`.
MARGIN_VARIABLE = "COURSE_MIN_MARGIN"


class NearTieError(RuntimeError):
    """A draw was decided by less than COURSE_MIN_MARGIN: another machine may draw another token."""

# Block size for the top-k candidate search in `sample_next_token` (see `_top_k_candidates`).
_BLOCK = 64


class Stage(NamedTuple):
    """The distribution after one step of the sampling chain."""

    name: str  # "input", "temperature", "top_k", "top_p" or "min_p"
    label: str  # for plot titles, e.g. "top-p 0.9" or "top-k off"
    probs: np.ndarray


# --------------------------------------------------------------------------------------------
# Checking what a learner passes in
# --------------------------------------------------------------------------------------------


def _check_logits(logits, name: str = "logits", axis: int = -1, keep_dtype: bool = False):
    """Return `logits` as a float array with the token axis last, or raise a clear error."""
    if isinstance(logits, (str, bytes)):
        raise TypeError(f"{name} must be numbers (a list or array of floats), got the text {logits!r}.")
    try:
        x = np.asarray(logits)
    except ValueError as err:  # ragged nested lists
        raise ValueError(
            f"{name} must be a rectangular list or array of numbers; rows of different lengths "
            f"cannot be turned into an array ({err})."
        ) from None
    if x.dtype.kind == "b" or x.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must contain numbers (ints or floats), got values of type {x.dtype} "
            f"such as {x.flat[0]!r}." if x.size else f"{name} must contain numbers, got dtype {x.dtype}."
        )
    if x.ndim == 0:
        raise ValueError(
            f"{name} must hold one score per token, got the single number {x.item()!r}. "
            f"Pass a list such as [{x.item()!r}, 0.0]."
        )
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis={axis} does not exist for {name} with {x.ndim} dimension(s).")
    x = np.moveaxis(x, axis, -1)
    if x.shape[-1] == 0 or x.size == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}); it needs at least one token's score.")
    if x.dtype.kind in "iu" or not keep_dtype:
        x = x.astype(np.float64)
    row_max = x.max(axis=-1)  # one pass finds NaN (max is NaN), +inf and all-masked rows
    if np.isnan(row_max).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(x))[0])
        raise ValueError(
            f"{name} contains NaN (at index {where}). A NaN logit has no meaning as a score; "
            "find where it came from (often 0/0 or inf - inf upstream) and fix it there."
        )
    if np.isposinf(row_max).any():
        where = tuple(int(i) for i in np.argwhere(np.isposinf(x))[0])
        raise ValueError(
            f"{name} contains +inf (at index {where}). Use large finite scores instead; "
            "-inf is allowed and means the token is masked out."
        )
    if np.isneginf(row_max).any():
        raise ValueError(
            f"every entry of a row of {name} is -inf, so every token is masked and no "
            "probability distribution exists. Leave at least one token unmasked."
        )
    return x


def _check_temperature(temperature) -> float:
    if not checks.is_real(temperature):
        raise TypeError(f"temperature must be a number >= 0 (such as 0.7), got {temperature!r}.")
    t = float(temperature)
    if np.isnan(t) or np.isinf(t) or t < 0:
        raise ValueError(
            f"temperature must be a finite number >= 0, got {temperature!r}. "
            "Use 0 for greedy decoding, 1 to leave the distribution unchanged, "
            "below 1 to sharpen it and above 1 to flatten it."
        )
    return t


def _check_top_k(top_k) -> int:
    if not checks.is_whole(top_k):
        raise TypeError(f"top_k must be a whole number such as 50 (0 turns top-k off), got {top_k!r}.")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k!r}. Use 0 to turn top-k off.")
    return int(top_k)


def _check_fraction(value, name: str, off: str) -> float:
    if not checks.is_real(value):
        raise TypeError(f"{name} must be a number between 0 and 1, got {value!r}.")
    v = float(value)
    if not 0.0 <= v <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}. {off}")
    return v


def _check_top_p(top_p) -> float:
    return _check_fraction(top_p, "top_p", "Use 1.0 to turn top-p off; 0.9 keeps the tokens that make up 90% of the probability.")


def _check_min_p(min_p) -> float:
    return _check_fraction(min_p, "min_p", "Use 0.0 to turn min-p off; 0.05 keeps tokens at least 5% as likely as the top token.")


def _check_min_tokens_to_keep(min_tokens_to_keep) -> int:
    if not checks.is_whole(min_tokens_to_keep) or min_tokens_to_keep < 1:
        raise ValueError(
            f"min_tokens_to_keep must be a whole number >= 1, got {min_tokens_to_keep!r}. "
            "It is the number of tokens a filter may never remove (1 keeps at least the top token)."
        )
    return int(min_tokens_to_keep)


def _check_order(order) -> str:
    if order not in ORDERS:
        raise ValueError(
            f"order must be one of {', '.join(repr(o) for o in ORDERS)}, got {order!r}. "
            "'transformers' applies temperature first; 'llama.cpp' applies it last."
        )
    return order


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy random Generator, got {rng!r}. "
            "Create one with a seed so results can be reproduced: rng = np.random.default_rng(0)."
        )
    return rng


class _Settings(NamedTuple):
    temperature: float
    top_k: int
    top_p: float
    min_p: float
    order: str
    min_tokens_to_keep: int
    penalties: Penalties = Penalties()


def _check_settings(settings: dict) -> _Settings:
    """Every setting checked, the defaults of `SETTING_DEFAULTS` filled in for the missing ones."""
    s = {**SETTING_DEFAULTS, **settings}
    order = _check_order(s["order"])
    return _Settings(
        _check_temperature(s["temperature"]),
        _check_top_k(s["top_k"]),
        _check_top_p(s["top_p"]),
        _check_min_p(s["min_p"]),
        order,
        _check_min_tokens_to_keep(s["min_tokens_to_keep"]),
        check_penalties(**{name: s[name] for name in PENALTY_SETTINGS}),
    )


# --------------------------------------------------------------------------------------------
# The math, on checked float arrays with the token axis last
# --------------------------------------------------------------------------------------------


#: Every sampling setting and its default: the one place the chain's keywords are spelled. The
#: public functions here (and generation's) receive them as ``**settings`` and show them in their
#: signatures through `takes_settings`.
SETTING_DEFAULTS = dict(
    temperature=1.0,
    top_k=0,
    top_p=1.0,
    min_p=0.0,
    order="transformers",
    min_tokens_to_keep=1,
    repetition_penalty=1.0,
    frequency_penalty=0.0,
    presence_penalty=0.0,
    no_repeat_ngram_size=0,
    repeat_last_n=64,
    logit_bias=None,
    allowed_token_ids=None,
)

#: The settings of the stage before temperature (`penalize_logits`), with ``order`` choosing whose rules.
PENALTY_SETTINGS = (
    "repetition_penalty", "frequency_penalty", "presence_penalty", "no_repeat_ngram_size", "repeat_last_n",
    "logit_bias", "allowed_token_ids", "order",
)


def takes_settings(function=None, *, names: Sequence[str] = tuple(SETTING_DEFAULTS)):
    """Decorator for a function that receives sampling settings as ``**settings``: its signature
    (what ``help()`` and JupyterLab's Shift-Tab show) lists each of ``names`` with its default
    from `SETTING_DEFAULTS`, so the keywords are written once and every function shows all of them."""
    if function is None:
        return lambda f: takes_settings(f, names=names)
    signature = inspect.signature(function)
    own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    dials = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=SETTING_DEFAULTS[name]) for name in names]
    function.__signature__ = signature.replace(parameters=own + dials)
    return function


def _check_settings_by_name(settings: dict, names: Sequence[str] = tuple(SETTING_DEFAULTS)) -> _Settings:
    """`_check_settings` for a dict of keywords, with the public functions' defaults."""
    unknown = sorted(set(settings) - set(names))
    if unknown:
        kind = "sampling setting" if len(names) == len(SETTING_DEFAULTS) else "setting here"
        raise TypeError(f"{unknown[0]!r} is not a {kind}; the settings are {', '.join(names)}.")
    return _check_settings(settings)


def _scale(x: np.ndarray, t: float) -> np.ndarray:
    """(logits - max) / T: shifting by the max changes no probability and keeps exp() <= 1.

    T = 0 is the limit T -> 0+: the maximum (and exact ties with it) at 0, the rest at -inf.
    Huge and tiny T reach their limits without NaN, because the shifted logits are <= 0.
    """
    shifted = x - x.max(axis=-1, keepdims=True)
    if t == 0.0:
        return np.where(shifted == 0.0, 0.0, -np.inf)
    with np.errstate(over="ignore", under="ignore"):
        return shifted / t


def _divide_by_temperature(x: np.ndarray, t: float) -> np.ndarray:
    """x / T, as TemperatureLogitsWarper does, so T = 1 leaves logits bit-for-bit unchanged.

    Where dividing would overflow (a tiny T), the max-shifted form of `_scale` gives the limit.
    """
    if t == 0.0:
        return _scale(x, t)
    try:
        with np.errstate(over="raise", under="ignore"):
            return x / t
    except FloatingPointError:
        return _scale(x, t)


def _softmax(x: np.ndarray, t: float = 1.0) -> np.ndarray:
    weights = np.exp(_scale(x, t))
    return weights / weights.sum(axis=-1, keepdims=True)


def _log_softmax(x: np.ndarray, t: float = 1.0) -> np.ndarray:
    z = _scale(x, t)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _kth_largest(x: np.ndarray, k: int) -> np.ndarray:
    v = x.shape[-1]
    return np.partition(x, v - k, axis=-1)[..., v - k : v - k + 1]


def _top_k(x: np.ndarray, k: int, keep: int) -> np.ndarray:
    if k == 0:
        return x
    k = max(k, keep)
    if k >= x.shape[-1]:
        return x
    # Ties with the k-th largest value are kept, as TopKLogitsWarper does.
    return np.where(x < _kth_largest(x, k), -np.inf, x)


def _top_p(x: np.ndarray, p: float, keep: int) -> np.ndarray:
    if p >= 1.0:
        return x
    if x.ndim > 1:
        rows = x.reshape(-1, x.shape[-1])
        return np.stack([_top_p(row, p, keep) for row in rows]).reshape(x.shape)
    probs = _softmax(x)
    ranked = _nucleus_candidates(x, probs, p, keep)
    sorted_probs = probs[ranked]
    # A token stays if the tokens ranked above it hold less than p: this keeps the smallest
    # set of most likely tokens whose mass reaches p.
    mass_above = np.cumsum(sorted_probs) - sorted_probs
    keep_sorted = mass_above < p
    keep_sorted[:keep] = True
    kept = ranked[keep_sorted]
    out = np.full_like(x, -np.inf)
    out[kept] = x[kept]
    return out


def _nucleus_candidates(x: np.ndarray, probs: np.ndarray, p: float, keep: int) -> np.ndarray:
    """Token indices, most likely first (ties by index), of a prefix that holds the nucleus.

    Sorting the whole vocabulary is the slow part of top-p; the nucleus is usually a few
    hundred tokens, so grow a candidate prefix until it holds mass p and sort only that.
    """
    m = 64
    while m < x.shape[-1]:
        idx = _top_k_candidates(x, m)
        # Masked tokens (-inf, e.g. a grammar's) hold no mass and stay masked whatever their rank:
        # leaving them out keeps a mostly masked row from sorting the whole vocabulary.
        idx = idx[x[idx] > -np.inf]
        # The margin makes sure rounding in this sum cannot claim mass the cumsum lacks.
        if len(idx) >= keep and probs[idx].sum() >= p + 1e-9:
            return idx[np.argsort(-x[idx], kind="stable")]
        m *= 8
    return np.argsort(-x, kind="stable")


def _min_p(x: np.ndarray, p: float, keep: int) -> np.ndarray:
    if p == 0.0:
        return x
    # p_i / p_max = exp(x_i - x_max), so no full softmax is needed.
    with np.errstate(under="ignore"):
        kept = np.exp(x - x.max(axis=-1, keepdims=True)) >= p
    if keep > 1:
        kept |= x >= _kth_largest(x, min(keep, x.shape[-1]))
    return np.where(kept, x, -np.inf)


def _chain(x: np.ndarray, s: _Settings):
    """Yield (name, label, logits, temperature) after each stage; softmax(logits, T) is its distribution."""

    def label(name, active, text):
        return f"{name} {text}" if active else f"{name} off"

    filters = [
        ("top_k", label("top-k", s.top_k > 0, f"{s.top_k}"), _top_k, s.top_k),
        ("top_p", label("top-p", s.top_p < 1.0, f"{s.top_p:g}"), _top_p, s.top_p),
        ("min_p", label("min-p", s.min_p > 0.0, f"{s.min_p:g}"), _min_p, s.min_p),
    ]
    temp_label = "greedy (temperature 0)" if s.temperature == 0 else f"temperature {s.temperature:g}"

    yield "input", "softmax of the logits (T = 1)", x, 1.0
    if s.order == "transformers":
        z = _divide_by_temperature(x, s.temperature)
        yield "temperature", temp_label, z, 1.0
        for name, text, apply, value in filters:
            z = apply(z, value, s.min_tokens_to_keep)
            yield name, text, z, 1.0
    else:
        z = x
        for name, text, apply, value in filters:
            z = apply(z, value, s.min_tokens_to_keep)
            yield name, text + " (at T = 1)", z, 1.0
        yield "temperature", temp_label, z, s.temperature


def _stages(x: np.ndarray, s: _Settings) -> list[Stage]:
    return [Stage(name, label, _softmax(z, t)) for name, label, z, t in _chain(x, s)]


def _final_distribution(x: np.ndarray, s: _Settings) -> np.ndarray:
    *_, (_, _, z, t) = _chain(x, s)
    return _softmax(z, t)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def softmax(logits, temperature=1.0, axis=-1) -> np.ndarray:
    """Probabilities ``exp(z_i / T) / sum_j exp(z_j / T)``, computed without overflow."""
    x = _check_logits(logits, axis=axis)
    return np.moveaxis(_softmax(x, _check_temperature(temperature)), -1, axis)


def log_softmax(logits, temperature=1.0, axis=-1) -> np.ndarray:
    """Log-probabilities (natural log), what APIs return as ``logprobs``; masked tokens get -inf."""
    x = _check_logits(logits, axis=axis)
    return np.moveaxis(_log_softmax(x, _check_temperature(temperature)), -1, axis)


def entropy(probs, axis=-1):
    """Shannon entropy in bits, ``-sum p log2 p`` (with 0 log 0 = 0).

    2 ** entropy is the "effective number of choices": 1 for a certain outcome, V for a
    uniform distribution over V tokens.
    """
    p = _check_logits(probs, name="probs", axis=axis)
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
    positive = np.where(p > 0, p, 1.0)
    h = -(p * np.log2(positive)).sum(axis=-1) + 0.0  # + 0.0 turns -0.0 into 0.0
    return float(h) if h.ndim == 0 else h


def top_k_filter(logits, top_k, min_tokens_to_keep=1) -> np.ndarray:
    """Keep the ``top_k`` largest logits (and any tied with the k-th), set the rest to -inf.

    ``top_k=0`` turns the filter off; a ``top_k`` larger than the vocabulary keeps everything.
    """
    x = _check_logits(logits)
    return _top_k(x, _check_top_k(top_k), _check_min_tokens_to_keep(min_tokens_to_keep)).copy()


def top_p_filter(logits, top_p, min_tokens_to_keep=1) -> np.ndarray:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability reaches ``top_p``.

    ``top_p=1.0`` turns the filter off. Tokens with equal logits are ranked by index.
    """
    x = _check_logits(logits)
    return _top_p(x, _check_top_p(top_p), _check_min_tokens_to_keep(min_tokens_to_keep)).copy()


def min_p_filter(logits, min_p, min_tokens_to_keep=1) -> np.ndarray:
    """Keep tokens whose probability is at least ``min_p`` times the top token's; ``0`` turns it off."""
    x = _check_logits(logits)
    return _min_p(x, _check_min_p(min_p), _check_min_tokens_to_keep(min_tokens_to_keep)).copy()


@takes_settings
def sampling_stages(logits, *, prompt_ids=None, generated_ids=None, **settings) -> list[Stage]:
    """The distribution after each stage of the chain, in the order ``order`` applies them.

    The first stage is always the plain softmax of the logits (T = 1); the last is the
    distribution the next token is drawn from. Stages that are turned off still appear
    (their label says "off"), so a plot can keep one panel per stage. With any of
    `penalize_logits`'s dials set (repetition_penalty, ..., allowed_token_ids), a
    "penalties" stage follows the input: the softmax of the penalized logits (T = 1).
    """
    s = _check_settings_by_name(settings)
    x = _check_logits(logits)
    histories = check_histories(prompt_ids, generated_ids, x.shape)
    if not s.penalties.active:
        return _stages(x, s)
    penalized = penalize(x, histories, s.penalties, s.order)
    input_stage, *chain = _stages(penalized, s)
    return [Stage("input", "softmax of the logits (T = 1)", _softmax(x)),
            Stage("penalties", penalty_label(s.penalties, s.order), input_stage.probs), *chain]


@takes_settings(names=PENALTY_SETTINGS)
def penalize_logits(logits, *, prompt_ids=None, generated_ids=None, **settings) -> np.ndarray:
    """The logits after the stage every library runs before temperature and truncation.

    In order: ``allowed_token_ids`` (every other token gets -inf), ``logit_bias`` (added),
    the repetition penalties, ``no_repeat_ngram_size`` (tokens that would repeat an n-gram get
    -inf). ``prompt_ids`` and ``generated_ids`` are the ids the logits follow: one list for one row
    of logits, one list per row for a batch. ``order`` chooses whose penalties (see the module
    docstring); with nothing set the logits come back unchanged (as float64).
    """
    s = _check_settings_by_name(settings, PENALTY_SETTINGS)
    x = _check_logits(logits)
    return penalize(x, check_histories(prompt_ids, generated_ids, x.shape), s.penalties, s.order)


@takes_settings
def next_token_distribution(logits, *, prompt_ids=None, generated_ids=None, **settings) -> np.ndarray:
    """The final probabilities the next token is drawn from, after the whole chain.

    The penalty keywords act on the raw logits before the chain: see `penalize_logits`.
    """
    s = _check_settings_by_name(settings)
    x = _check_logits(logits)
    histories = check_histories(prompt_ids, generated_ids, x.shape)
    if s.penalties.active:
        x = penalize(x, histories, s.penalties, s.order)
    return _final_distribution(x, s)


@takes_settings
def sample_next_token(logits, *, rng, prompt_ids=None, generated_ids=None, **settings):
    """Draw the next token's index from the chain's final distribution.

    Returns an ``int`` for one row of logits, an integer array (one index per row) for a
    batch; rows are drawn in order from the same ``rng``. With ``temperature=0`` it returns
    the argmax (the first index among exact ties) and draws nothing from ``rng``. How a token
    is drawn, and why that way: see `draw_next_token`; the penalty keywords: `penalize_logits`.
    """
    _check_rng(rng)
    s = _check_settings_by_name(settings)
    x = _check_logits(logits, keep_dtype=True)
    histories = check_histories(prompt_ids, generated_ids, x.shape)
    rows = x.reshape(-1, x.shape[-1])
    picks = np.array([_draw_row(row, rng, s, h).token for row, h in zip(rows, histories)], dtype=np.int64)
    return int(picks[0]) if x.ndim == 1 else picks.reshape(x.shape[:-1])


class Draw(NamedTuple):
    """One drawn token and how far the draw was from choosing another."""

    token: int
    # The smallest change of any logit (in logit units) that could make another token win,
    # for the same kept set: half the gap between the winner's score and the runner-up's.
    # float("inf") when only one token could be chosen.
    margin: float


@takes_settings
def draw_next_token(logits, *, rng, prompt_ids=None, generated_ids=None, **settings) -> Draw:
    """`sample_next_token` for one row of logits, with the draw's decision margin.

    ``settings`` are `sample_next_token`'s keywords (temperature, top_k, top_p, min_p, order,
    min_tokens_to_keep and the penalty keywords of `penalize_logits`), with the same defaults
    and checks.

    The draw is an exponential race (the Gumbel-max trick, as vLLM's sampler draws): every kept
    token i gets its own exponential random number e_i, and the token with the largest p_i / e_i
    wins, which happens with probability exactly p_i. Unlike inverting the cumulative
    distribution, the outcome then depends only on the gap between the two best scores
    log p_i - log e_i, so the last-digit differences between two machines' logits (about 3e-5)
    change a draw only when that gap is that small: `margin` says how far from that it was.
    Greedy decoding (``temperature=0``) has the margin of its two best logits. With
    ``COURSE_MIN_MARGIN`` set, a draw decided by less raises `NearTieError`. The margin is in
    units of the raw logits: a repetition penalty p scales a logit by up to max(p, 1/p), so
    the margin of the penalized logits is divided by that.
    """
    _check_rng(rng)
    s = _check_settings_by_name(settings)
    x = _check_logits(logits, keep_dtype=True)
    if x.ndim != 1:
        raise ValueError(f"draw_next_token takes one row of logits (shape (V,)), got shape {x.shape}; "
                         "use sample_next_token for a batch.")
    [history] = check_histories(prompt_ids, generated_ids, x.shape)
    return _draw_row(x, rng, s, history)


def _draw_row(x: np.ndarray, rng: np.random.Generator, s: _Settings, history: History) -> Draw:
    if s.penalties.active:
        token, margin = _race(penalize(x.astype(np.float64), [history], s.penalties, s.order), rng, s)
        draw = Draw(token, margin / s.penalties.slope)
    else:
        draw = _race(x, rng, s)
    _check_margin(draw)
    return draw


def _race(x: np.ndarray, rng: np.random.Generator, s: _Settings) -> Draw:
    if s.temperature == 0.0:
        return Draw(int(np.argmax(x)), _half_gap(x.astype(np.float64)))
    candidates = None
    if s.top_k:
        # Rank by the values top-k really sees: dividing by T can round distinct logits into ties.
        ranked = _divide_by_temperature(x.astype(np.float64), s.temperature) if s.order == "transformers" else x
        candidates = _top_k_candidates(ranked, max(s.top_k, s.min_tokens_to_keep))
    if candidates is None:
        probs = _final_distribution(x.astype(np.float64), s)
        candidates = np.arange(x.shape[-1])
    else:
        # Every stage after top-k only looks at top-k's survivors, so running the same chain
        # on a superset of them gives exactly the full chain's probabilities on that superset.
        probs = _final_distribution(x[candidates].astype(np.float64), s)
    with np.errstate(divide="ignore"):  # a removed token scores log 0 = -inf and never wins
        scores = np.log(probs) - np.log(rng.standard_exponential(len(probs)))
    # A score is log p_i + a constant: it moves with logit / T, so a logit change of d moves it by d / T.
    return Draw(int(candidates[np.argmax(scores)]), _half_gap(scores) * s.temperature)


def _check_margin(draw: Draw) -> None:
    """Refuse a near-tie when COURSE_MIN_MARGIN asks for a margin (the lesson tests do).

    Another machine's logits differ in their last digits (about 3e-5); a token chosen by less
    than that could be a different token there, and so would everything printed after it.
    """
    required = float(os.environ.get(MARGIN_VARIABLE) or 0)
    if draw.margin < required:
        raise NearTieError(
            f"Token {draw.token} was drawn by a margin of {draw.margin:.2g} logits, below "
            f"{MARGIN_VARIABLE}={required:g}: another machine's last-digit differences could draw "
            "another token. Choose another seed or prompt for a result that every machine reproduces."
        )


@contextlib.contextmanager
def required_margin(logits: float) -> Iterator[None]:
    """Inside the ``with`` block, draws need a margin of at least `logits` (0: no check at all).

    It sets ``COURSE_MIN_MARGIN`` for the block and restores it afterwards. For the one place that
    must draw without the check: lesson 07 plays "another machine" whose draws another machine
    would not reproduce either, next to a run that every machine does reproduce.
    """
    logits = checks.real_number(logits, "logits", minimum=0, hint="It is a margin in logits; 0 turns the check off.")
    before = os.environ.get(MARGIN_VARIABLE)
    os.environ[MARGIN_VARIABLE] = repr(float(logits))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MARGIN_VARIABLE, None)
        else:
            os.environ[MARGIN_VARIABLE] = before


def _half_gap(scores: np.ndarray) -> float:
    """Half the gap between the best and second-best finite score (inf if there is no second)."""
    finite = scores[np.isfinite(scores)]
    if finite.size < 2:
        return float("inf")
    second, best = np.partition(finite, finite.size - 2)[-2:]
    return float(best - second) / 2


def _top_k_candidates(x: np.ndarray, k: int) -> np.ndarray | None:
    """Indices of every logit >= the k-th largest, found without sorting the vocabulary.

    The k-th largest of the block maxima is a lower bound for the k-th largest logit (k blocks
    each hold a value at least that large), so one comparison pass leaves a short list that
    contains the whole top k; only that list is partitioned.
    """
    v = x.shape[-1]
    if k >= v:
        return None
    block = max(1, min(_BLOCK, v // k))
    full = (v // block) * block
    maxima = x[:full].reshape(-1, block).max(axis=1)
    if full < v:
        maxima = np.append(maxima, x[full:].max())
    bound = np.partition(maxima, len(maxima) - k)[len(maxima) - k]
    idx = np.flatnonzero(x >= bound)
    values = x[idx]
    kth = np.partition(values, len(values) - k)[len(values) - k]
    return idx[values >= kth]
