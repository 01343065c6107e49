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

import inspect
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from course_utils import checks
from course_utils.reproducibility import (
    MARGIN_VARIABLE, NearTieError, check_margin, required, required_margin, same_count,
)
from course_utils.penalties import History, Penalties, check_histories, check_penalties, penalize, penalty_label

ORDERS = ("transformers", "llama.cpp")

# MARGIN_VARIABLE, NearTieError and required_margin (imported above) are the reproducibility
# module's margin policy, named here too because the draw is where a learner meets it.

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


def _logit(q) -> np.ndarray:
    """log(q / (1 - q)), the log-odds of a probability; +-inf at 1 and 0."""
    q = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)  # a cumulative sum can round past 1
    with np.errstate(divide="ignore"):
        return np.log(q) - np.log1p(-q)


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
    p, keep = _check_top_p(top_p), _check_min_tokens_to_keep(min_tokens_to_keep)
    return _top_p(x, p, keep).copy()


def min_p_filter(logits, min_p, min_tokens_to_keep=1) -> np.ndarray:
    """Keep tokens whose probability is at least ``min_p`` times the top token's; ``0`` turns it off."""
    x = _check_logits(logits)
    p, keep = _check_min_p(min_p), _check_min_tokens_to_keep(min_tokens_to_keep)
    return _min_p(x, p, keep).copy()


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
    # Its tokens need no margin unless COURSE_MIN_MARGIN asks for one to be checked.
    checked = required() > 0
    picks = np.array([_draw_row(row, rng, s, h, checked).token for row, h in zip(rows, histories)], dtype=np.int64)
    return int(picks[0]) if x.ndim == 1 else picks.reshape(x.shape[:-1])


def _one_row(logits, prompt_ids, generated_ids, settings: dict, name: str, *, keep_dtype=False, batch_hint=""):
    """The checked settings, one row of checked logits and its history, for a function that takes one row."""
    s = _check_settings_by_name(settings)
    x = _check_logits(logits, keep_dtype=keep_dtype)
    if x.ndim != 1:
        raise ValueError(f"{name} takes one row of logits (shape (V,)), got shape {x.shape}{batch_hint}.")
    [history] = check_histories(prompt_ids, generated_ids, x.shape)
    return s, x, history


@takes_settings
def kept_count_range(logits, *, prompt_ids=None, generated_ids=None, **settings) -> tuple[int, int]:
    """The fewest and the most tokens the chain keeps for one row of logits when every logit may
    move by the margin ``COURSE_MIN_MARGIN`` requires: what another machine could count. Without a
    required margin, or without top-p and min-p (top-k keeps k, ties aside), both are the count itself.

    Moving every logit by up to d moves a mass's log-odds, and a probability ratio's log, by up to
    2d (2d / T behind temperature in the transformers order), so the count is taken again with
    top_p and min_p moved that far each way.
    """
    s, x, history = _one_row(logits, prompt_ids, generated_ids, settings, "kept_count")
    if s.penalties.active:
        x = penalize(x, [history], s.penalties, s.order)
    return _kept_range(x, s)


def _kept_range(x: np.ndarray, s: _Settings) -> tuple[int, int]:
    def count(s: _Settings) -> int:
        return int(np.count_nonzero(_final_distribution(x, s)))

    if required() == 0 or s.temperature == 0.0 or (s.top_p >= 1.0 and s.min_p == 0.0):
        return count(s), count(s)
    spread = 2 * required() * s.penalties.slope / _filter_unit(s)

    def moved(sign: float) -> _Settings:
        top_p = s.top_p if s.top_p >= 1.0 else float(1 / (1 + np.exp(-(_logit(s.top_p) + sign * spread))))
        return s._replace(top_p=top_p, min_p=s.min_p * float(np.exp(-sign * spread)))

    return count(moved(-1)), count(moved(+1))


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


@takes_settings
def checked_settings(vocab_size: int, **settings) -> dict:
    """Every sampling setting checked (token ids against a vocabulary of `vocab_size`), with the
    defaults of `SETTING_DEFAULTS` filled in: for a loop that checks its settings once, before it runs."""
    s = _check_settings_by_name(settings)
    if s.penalties.active:
        stand_in = np.zeros(checks.whole_number(vocab_size, "vocab_size", minimum=1))
        penalize(stand_in, check_histories(None, None, stand_in.shape), s.penalties, s.order)
    return {**SETTING_DEFAULTS, **settings}


@takes_settings
def distribution_and_draw(logits, *, rng, prompt_ids=None, generated_ids=None, **settings) -> tuple[np.ndarray, "Draw", tuple[int, int]]:
    """The generation loop's step: `next_token_distribution`, `draw_next_token` and
    `kept_count_range` for one row of logits, with the settings checked once.

    Each draw's margin covers the cuts too: a token that top-k, top-p or min-p nearly kept or nearly
    removed narrows the margin when it could change the winner (`kept_count` counts the kept tokens
    as every machine would).
    """
    _check_rng(rng)
    s, x, history = _one_row(logits, prompt_ids, generated_ids, settings, "distribution_and_draw", keep_dtype=True)
    penalized = _penalized(x, s, history)
    return _final_distribution(penalized, s), _draw_penalized(penalized, rng, s), _kept_range(penalized, s)


class Draw(NamedTuple):
    """One drawn token and how far the draw was from choosing another."""

    token: int
    # The smallest change of the logits (in logit units) that could make another token win: half
    # the gap between the winner's score and the runner-up's, or less when a cut of top-k, top-p or
    # min-p could remove the winner or bring back a token that would beat it. float("inf") when
    # only one token could be chosen; NaN where nothing asked for it (sample_next_token).
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
    Greedy decoding (``temperature=0``) has the margin of its two best logits. The margin covers
    the cuts too: another machine's top-p may keep one token more, which matters only if that
    token could win. With ``COURSE_MIN_MARGIN`` set, a draw decided by less raises
    `NearTieError`. The margin is in
    units of the raw logits: a repetition penalty p scales a logit by up to max(p, 1/p), so
    the margin of the penalized logits is divided by that.
    """
    _check_rng(rng)
    s, x, history = _one_row(logits, prompt_ids, generated_ids, settings, "draw_next_token", keep_dtype=True,
                             batch_hint="; use sample_next_token for a batch")
    return _draw_row(x, rng, s, history)


def _draw_row(x: np.ndarray, rng: np.random.Generator, s: _Settings, history: History, margin: bool = True) -> Draw:
    """One row's draw; without `margin` (when nothing will read or check it), the margin is NaN and
    the work of measuring it is skipped: the token is the same."""
    return _draw_penalized(_penalized(x, s, history), rng, s, margin)


def _penalized(x: np.ndarray, s: _Settings, history: History) -> np.ndarray:
    """The row after the stage before temperature (float64; the row itself when no dial is set)."""
    x = x.astype(np.float64)
    return penalize(x, [history], s.penalties, s.order) if s.penalties.active else x


def _draw_penalized(x: np.ndarray, rng: np.random.Generator, s: _Settings, margin: bool = True) -> Draw:
    """The draw from an already penalized row; its margin in raw logits (a penalty p moves a logit by
    up to max(p, 1/p) times as much), checked against COURSE_MIN_MARGIN."""
    token, distance = _race(x, rng, s, margin)
    draw = Draw(token, distance / s.penalties.slope if s.penalties.active else distance)
    if margin:
        _check_margin(draw)
    return draw


def _race(x: np.ndarray, rng: np.random.Generator, s: _Settings, margin: bool = True) -> Draw:
    if s.temperature == 0.0:
        return Draw(int(np.argmax(x)), _half_gap(x.astype(np.float64)) if margin else float("nan"))
    candidates, cut = None, float("inf")
    if s.top_k:
        # Rank by the values top-k really sees: dividing by T can round distinct logits into ties.
        ranked = _divide_by_temperature(x.astype(np.float64), s.temperature) if s.order == "transformers" else x
        k = max(s.top_k, s.min_tokens_to_keep)
        candidates, next_one = _top_k_split(ranked, k)
        # Which tokens enter the race (and so which exponential each gets) is decided at top-k's
        # cut: half the gap between the last token it keeps and the next (0 for a tie, which
        # top-k keeps whole, so that any change keeps one of them).
        if candidates is not None and margin:
            cut = (0.0 if len(candidates) > k else float(ranked[candidates].min() - next_one) / 2) * _filter_unit(s)
    # Every stage after top-k only looks at top-k's survivors, so running the same chain on a
    # superset of them gives exactly the full chain's probabilities on that superset.
    x = x.astype(np.float64) if candidates is None else x[candidates].astype(np.float64)
    stages = {name: z for name, _, z, _ in _chain(x, s)}
    kept = np.isfinite(stages["min_p"])  # the last cut in either order
    log_e = np.log(rng.standard_exponential(len(x)))
    # Each kept token's score log p_i - log e_i is logit / T - log e_i up to a constant shared by
    # all: the highest wins, and a logit change of d moves a score by d / T. (Written this way, a
    # score never underflows to -inf as log p_i can.)
    with np.errstate(over="ignore"):
        race = (stages["temperature"] if s.order == "transformers" else _divide_by_temperature(x, s.temperature)) - log_e
    entrants = np.flatnonzero(kept)  # a removed token has p = 0 and never wins
    winner = int(entrants[np.argmax(race[entrants])])
    token = int(winner if candidates is None else candidates[winner])
    if not margin:
        return Draw(token, float("nan"))
    distance = min(_half_gap(race[entrants]) * s.temperature, cut)
    return Draw(token, _top_p_min_p_cut(s, stages, kept, race, winner, distance))


def _filter_unit(s: _Settings) -> float:
    """Raw logits per unit of the logits the filters see: T in the transformers order (they see
    logits / T), 1 in llama.cpp's (they see the logits as they are)."""
    return s.temperature if s.order == "transformers" else 1.0


def _top_p_min_p_cut(s: _Settings, stages: dict, kept: np.ndarray, race: np.ndarray, winner: int,
                     bound: float) -> float:
    """How far (raw logits) top-p's and min-p's cuts are from changing who wins the race, when it
    is less than `bound` (the margin so far): `bound` otherwise.

    Two kinds of token matter. The winner, if a cut could remove it. And a removed token j that a
    change of the logits could both bring back across the cut and lift above the winner: that takes
    its distance from the cut, and at least half its score's gap below the winner's (`race`: the
    scores x_i / T - log e_i, so that is T (score_w - score_j) / 2 in logits). The distance from a
    cut is the smallest change d of the logits (the token's one way, every other token's the other
    way) that moves the token across it. Removed tokens are looked at nearest first, and only while
    they could still lower the margin.
    """
    if s.top_p >= 1.0 and s.min_p == 0.0:
        return bound
    unit = _filter_unit(s)
    before = stages["top_k"]  # what top-p sees (min-p sees what top-p keeps)
    q = _softmax(before) if s.top_p < 1.0 else None  # what top-p measures its masses in
    best, second = _largest(before, 2) if s.min_p > 0.0 else (None, None)
    # Both cuts keep the min_tokens_to_keep most likely whatever the rest: a top-k of their own.
    keep_cuts = [] if s.min_tokens_to_keep == 1 else [
        (kth - next_one) / 2 for kth, next_one in
        (_largest(stages[name], s.min_tokens_to_keep + 1)[-2:] for name in ("top_k", "top_p"))
        if np.isfinite(next_one)
    ]

    def distance_from_cut(token: int, kept: bool, limit: float) -> float:
        d = min([limit / unit, *keep_cuts])  # the cuts that keep the min_tokens_to_keep most likely
        if s.top_p < 1.0 and (kept or not np.isfinite(stages["top_p"][token])):
            move = _top_p_removal if kept else _top_p_inclusion
            d = min(d, move(before, q, s.top_p, token, s.min_tokens_to_keep, d))
        if s.min_p > 0.0 and np.isfinite(stages["top_p"][token]):
            # A token stays while it is within log(min_p) of the best of the others: of all those
            # top-k kept, since a change that brings one back past top-p's cut can make it the best.
            best_other = second if before[token] == best else best
            d = min(d, abs(stages["top_p"][token] - best_other - np.log(s.min_p)) / 2)
        return d * unit

    margin = distance_from_cut(winner, kept=True, limit=bound)
    # Removed tokens whose score is within 2 margin / T of the winner's: only they could beat it
    # within the margin.
    removed = np.flatnonzero((race > race[winner] - 2 * margin / s.temperature) & ~kept)
    behind = np.maximum(s.temperature * (race[winner] - race[removed]) / 2, 0.0)  # raw logits to catch up
    for token, lag in sorted(zip(removed.tolist(), behind.tolist()), key=lambda pair: pair[1]):
        if lag >= margin:
            break
        margin = min(margin, max(lag, distance_from_cut(token, kept=False, limit=margin)))
    return margin


def _largest(z: np.ndarray, n: int) -> np.ndarray:
    """The n largest values of z, largest first (padded with -inf)."""
    if n == 2:  # the common case, in two passes instead of a partition
        top = int(np.argmax(z))
        return np.array([z[top], max(z[:top].max(initial=-np.inf), z[top + 1 :].max(initial=-np.inf))])
    if len(z) < n:
        z = np.concatenate([z, np.full(n - len(z), -np.inf)])
    return -np.sort(-np.partition(z, len(z) - n)[-n:])


def _top_p_removal(z: np.ndarray, q: np.ndarray, p: float, token: int, keep: int, limit: float) -> float:
    """The smallest d below `limit` (else `limit`) such that moving the logits (`z`, probabilities
    `q`) by at most d makes top-p remove `token`: it goes down by d, the tokens ranked above it and
    those that overtake it (at d = half their gap) go up, the rest go down, until the mass ranked
    above it reaches p (with at least `keep` tokens above it: top-p never removes the `keep` most
    likely)."""
    above = z > z[token]
    base, n_above = q[above].sum(), int(np.count_nonzero(above))
    below_total = q[~above].sum()  # summed, not 1 - base: a mass near 1 would round away what is left
    # Only the tokens that could overtake it before `limit`.
    near = np.flatnonzero(~above & (z > z[token] - 2 * limit) & (q > 0))
    near = near[near != token]
    gaps = (z[token] - z[near]) / 2  # the d at which each overtakes this one
    order = np.argsort(gaps, kind="stable")
    at = np.concatenate([[0.0], gaps[order]])
    overtaken = np.concatenate([[0.0], np.cumsum(q[near][order])])
    rising = base + overtaken
    falling = np.maximum(below_total - overtaken, q[token])  # this token and those still below it
    # rising e^d / (rising e^d + falling e^-d) >= p  <=>  e^(2d) >= p falling / ((1 - p) rising)
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.maximum(0.5 * np.log(p * falling / ((1 - p) * rising)), 0.0)
    needed = np.where((rising > 0) & (n_above + np.arange(len(at)) >= keep), needed, np.inf)
    return float(min(limit, np.min(np.maximum(at, needed))))


def _top_p_inclusion(z: np.ndarray, q: np.ndarray, p: float, token: int, keep: int, limit: float) -> float:
    """The smallest d below `limit` (else `limit`) such that moving the logits (`z`, probabilities
    `q`) by at most d makes top-p keep `token`: it and the tokens below it go up by d, the tokens
    above it down (those it overtakes, at d = half their gap, stop counting as above) until the
    mass ranked above it falls below p, or it ranks among the `keep` most likely."""
    above = z > z[token]
    total_above, n_above = q[above].sum(), int(np.count_nonzero(above))
    rest = q[~above].sum()  # this token and those below it; summed: 1 - total_above could round to 0
    near = np.flatnonzero(above & (z < z[token] + 2 * limit))  # those it could overtake before `limit`
    gaps = (z[near] - z[token]) / 2
    order = np.argsort(gaps, kind="stable")
    at = np.concatenate([[0.0], gaps[order]])
    overtaken = np.concatenate([[0.0], np.cumsum(q[near][order])])
    still_above = total_above - overtaken
    # a e^-d / (a e^-d + o e^-d + r e^d) < p  <=>  e^(2d) > (a - p (a + o)) / (p r)
    excess = still_above - p * (still_above + overtaken)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        needed = np.where(excess > 0, np.maximum(0.5 * np.log(excess / (p * rest)), 0.0), 0.0)
    needed = np.where(n_above - np.arange(len(at)) < keep, 0.0, needed)
    return float(min(limit, np.min(np.maximum(at, needed))))


def _check_margin(draw: Draw) -> None:
    """Refuse a near-tie when COURSE_MIN_MARGIN asks for a margin (the lesson tests do)."""
    check_margin(draw.margin, f"Token {draw.token} was drawn")


def _half_gap(scores: np.ndarray) -> float:
    """Half the gap between the best and second-best finite score (inf if there is no second)."""
    finite = scores[np.isfinite(scores)]
    if finite.size < 2:
        return float("inf")
    second, best = np.partition(finite, finite.size - 2)[-2:]
    return float(best - second) / 2


def _top_k_candidates(x: np.ndarray, k: int) -> np.ndarray | None:
    """Indices of every logit >= the k-th largest, found without sorting the vocabulary."""
    return _top_k_split(x, k)[0]


def _top_k_split(x: np.ndarray, k: int) -> tuple[np.ndarray | None, float]:
    """Indices of every logit >= the k-th largest (None if that is all of them), and the largest
    logit below those: what top-k's cut falls between.

    The k-th largest of the block maxima is a lower bound for the k-th largest logit (k blocks
    each hold a value at least that large), so one comparison pass leaves a short list that
    contains the whole top k, and the next logit too when the list is longer than k; only that
    list is partitioned.
    """
    v = x.shape[-1]
    if k >= v:
        return None, -np.inf
    block = max(1, min(_BLOCK, v // k))
    full = (v // block) * block
    maxima = x[:full].reshape(-1, block).max(axis=1)
    if full < v:
        maxima = np.append(maxima, x[full:].max())
    bound = np.partition(maxima, len(maxima) - k)[len(maxima) - k]
    idx = np.flatnonzero(x >= bound)
    values = x[idx]
    kth = np.partition(values, len(values) - k)[len(values) - k]
    inside = values >= kth
    if inside.all():  # the short list is exactly the top k: the next logit is below `bound`
        return idx, float(np.max(x, where=x < bound, initial=-np.inf))
    return idx[inside], float(values[~inside].max())
