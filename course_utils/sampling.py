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

Before either chain, the raw logits pass through the stage every library puts first (see
``ecosystem.PENALTIES``): ``allowed_token_ids`` (vLLM's whitelist), ``logit_bias`` (OpenAI's), the
repetition penalties and ``no_repeat_ngram_size`` (Hugging Face's n-gram blocking), in that order.
The penalties read the token ids seen so far, ``prompt_ids`` and ``generated_ids``:

* ``order="transformers"``: ``repetition_penalty`` is Hugging Face's ``RepetitionPenaltyLogitsProcessor``
  over prompt + generated ids; ``frequency_penalty`` and ``presence_penalty`` are OpenAI's (and
  vLLM's), counted over the generated ids only.
* ``order="llama.cpp"``: llama.cpp's penalties sampler: all three count the last ``repeat_last_n``
  ids of prompt + generated (64 by default, 0 turns them off).

Conventions: logits have shape ``(V,)`` or ``(..., V)`` (each row is independent);
``-inf`` marks a masked token (probability 0); probabilities are float64; entropy is in bits.
``temperature=0`` means greedy decoding, the T -> 0+ limit: all mass on the largest logit,
split evenly among exact ties.
"""

from __future__ import annotations

import contextlib
import inspect
import numbers
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np

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


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_temperature(temperature) -> float:
    if not _is_real(temperature):
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
    if not _is_whole(top_k):
        raise TypeError(f"top_k must be a whole number such as 50 (0 turns top-k off), got {top_k!r}.")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k!r}. Use 0 to turn top-k off.")
    return int(top_k)


def _check_fraction(value, name: str, off: str) -> float:
    if not _is_real(value):
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
    if not _is_whole(min_tokens_to_keep) or min_tokens_to_keep < 1:
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


def _check_repetition_penalty(value) -> float:
    if not _is_real(value):
        raise TypeError(f"repetition_penalty must be a number > 0 (such as 1.2; 1.0 is off), got {value!r}.")
    v = float(value)
    if not (v > 0 and np.isfinite(v)):  # also rejects NaN
        raise ValueError(
            f"repetition_penalty must be a finite number > 0, got {value!r}. 1.0 turns it off; above 1 "
            "makes tokens already in the text less likely (1.2 is a common choice), below 1 more likely."
        )
    return v


def _check_openai_penalty(value, name: str) -> float:
    if not _is_real(value):
        raise TypeError(f"{name} must be a number between -2 and 2 (0 is off), got {value!r}.")
    v = float(value)
    if not -2.0 <= v <= 2.0:  # also rejects NaN
        raise ValueError(
            f"{name} must be between -2 and 2 (OpenAI's range), got {value!r}. 0 turns it off; "
            "positive values make tokens already generated less likely."
        )
    return v


def _check_count(value, name: str, off: str) -> int:
    if not _is_whole(value):
        raise TypeError(f"{name} must be a whole number >= 0, got {value!r}. {off}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}. {off}")
    return int(value)


def _check_logit_bias(logit_bias) -> tuple[np.ndarray, np.ndarray] | None:
    """OpenAI's logit_bias: {token id: bias in -100..100}; returns (ids, biases) arrays."""
    if logit_bias is None:
        return None
    if not isinstance(logit_bias, Mapping):
        raise TypeError(
            f"logit_bias must be a dict from token id to bias, such as {{1234: -100}}, got {logit_bias!r}."
        )
    for token_id, bias in logit_bias.items():
        if not _is_whole(token_id):
            raise TypeError(f"logit_bias keys must be token ids (ints), got the key {token_id!r}.")
        if not _is_real(bias) or not -100.0 <= float(bias) <= 100.0:
            raise ValueError(
                f"logit_bias[{token_id}] = {bias!r}: a bias must be a number between -100 and 100 "
                "(OpenAI's range); -100 effectively bans the token, +100 effectively forces it."
            )
    if not logit_bias:
        return None
    ids = np.fromiter(logit_bias.keys(), dtype=np.int64, count=len(logit_bias))
    return ids, np.fromiter(logit_bias.values(), dtype=np.float64, count=len(logit_bias))


def _check_token_ids(ids, name: str) -> np.ndarray:
    """A sequence of token ids as an int64 array (the vocabulary bound is checked with the logits)."""
    if isinstance(ids, (str, bytes, Mapping)):
        raise TypeError(f"{name} must be a list of token ids (ints), got {ids!r}.")
    try:
        array = np.asarray(ids)
    except ValueError:
        array = np.asarray(ids, dtype=object)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        if array.ndim != 1:
            raise TypeError(f"{name} must be a flat list of token ids (ints), got {ids!r}.")
        bad = next((i for i in array if not _is_whole(i)), ids)
        raise TypeError(f"{name} must be a flat list of token ids (ints), but it holds {bad!r}.")
    return array.astype(np.int64, copy=False)


def _check_allowed_token_ids(allowed) -> np.ndarray | None:
    if allowed is None:
        return None
    ids = _check_token_ids(allowed, "allowed_token_ids")
    if ids.size == 0:
        raise ValueError(
            "allowed_token_ids is empty, which would forbid every token. Pass the ids that may be "
            "drawn, or None to allow them all."
        )
    return ids


class _Penalties(NamedTuple):
    """The settings of the stage before the chain: what it does to the raw logits."""

    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    no_repeat_ngram_size: int = 0
    repeat_last_n: int = 64
    logit_bias: tuple[np.ndarray, np.ndarray] | None = None
    allowed_token_ids: np.ndarray | None = None

    @property
    def active(self) -> bool:
        return (
            self.repetition_penalty != 1.0
            or self.frequency_penalty != 0.0
            or self.presence_penalty != 0.0
            or self.no_repeat_ngram_size > 0
            or self.logit_bias is not None
            or self.allowed_token_ids is not None
        )

    @property
    def slope(self) -> float:
        """The most a raw logit's change can be magnified by this stage (for draw margins).

        Dividing by the repetition penalty scales a logit by 1/p, multiplying by p; the additive
        penalties and the bias shift it, and a mask ignores it.
        """
        p = self.repetition_penalty
        return max(1.0, p, 1.0 / p)


class _Settings(NamedTuple):
    temperature: float
    top_k: int
    top_p: float
    min_p: float
    order: str
    min_tokens_to_keep: int
    penalties: _Penalties = _Penalties()


def _check_settings(
    temperature,
    top_k,
    top_p,
    min_p,
    order,
    min_tokens_to_keep,
    repetition_penalty=1.0,
    frequency_penalty=0.0,
    presence_penalty=0.0,
    no_repeat_ngram_size=0,
    repeat_last_n=64,
    logit_bias=None,
    allowed_token_ids=None,
) -> _Settings:
    order = _check_order(order)
    penalties = _Penalties(
        _check_repetition_penalty(repetition_penalty),
        _check_openai_penalty(frequency_penalty, "frequency_penalty"),
        _check_openai_penalty(presence_penalty, "presence_penalty"),
        _check_count(no_repeat_ngram_size, "no_repeat_ngram_size", "0 turns n-gram blocking off; 3 forbids repeating any 3 tokens in a row."),
        _check_count(repeat_last_n, "repeat_last_n", "It is how many of the last tokens llama.cpp's penalties look at (64 by default; 0 turns them off)."),
        _check_logit_bias(logit_bias),
        _check_allowed_token_ids(allowed_token_ids),
    )
    if order == "transformers" and repeat_last_n != 64:
        raise ValueError(
            f"repeat_last_n={repeat_last_n!r} is llama.cpp's window and only applies with order='llama.cpp'; "
            "with order='transformers' the repetition penalty counts the whole text, as Hugging Face does."
        )
    return _Settings(
        _check_temperature(temperature),
        _check_top_k(top_k),
        _check_top_p(top_p),
        _check_min_p(min_p),
        order,
        _check_min_tokens_to_keep(min_tokens_to_keep),
        penalties,
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
    return _check_settings(**{**SETTING_DEFAULTS, **settings})


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


# ---- the stage before the chain: whitelist, bias, penalties, n-gram blocking ------------------


class _History(NamedTuple):
    """The token ids one row of logits follows: the prompt, then what was generated."""

    prompt: np.ndarray
    generated: np.ndarray

    @property
    def all(self) -> np.ndarray:
        return np.concatenate([self.prompt, self.generated])


_NO_IDS = np.zeros(0, dtype=np.int64)


def _check_histories(prompt_ids, generated_ids, shape: tuple[int, ...]) -> list[_History]:
    """One _History per row of logits with `shape`; ids are checked against the vocabulary."""
    vocab, n_rows = shape[-1], int(np.prod(shape[:-1], dtype=np.int64))

    def per_row(ids, name: str) -> list[np.ndarray]:
        if ids is None:
            return [_NO_IDS] * n_rows
        if len(shape) == 1:
            rows = [_check_token_ids(ids, name)]
        else:
            if isinstance(ids, (str, bytes)) or not isinstance(ids, (Sequence, np.ndarray)) or len(ids) != n_rows:
                count = len(ids) if isinstance(ids, (Sequence, np.ndarray)) else "not a list"
                raise ValueError(
                    f"{name} must hold one list of token ids per row of logits: the logits have {n_rows} "
                    f"rows, {name} has {count}. For one row of logits, pass a flat list of ids."
                )
            flat = [i for i, row in enumerate(ids) if not isinstance(row, (Sequence, np.ndarray)) or isinstance(row, str)]
            if flat:
                raise ValueError(
                    f"{name} must hold one list of token ids per row of logits, but {name}[{flat[0]}] is "
                    f"{ids[flat[0]]!r}, not a list. With {n_rows} rows, pass {n_rows} lists such as [[1, 2], [3]]."
                )
            rows = [_check_token_ids(row, f"{name}[{i}]") for i, row in enumerate(ids)]
        for row in rows:
            _check_in_vocabulary(row, name, vocab)
        return rows

    return [_History(p, g) for p, g in zip(per_row(prompt_ids, "prompt_ids"), per_row(generated_ids, "generated_ids"))]


def _check_in_vocabulary(ids: np.ndarray, name: str, vocab: int) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        bad = int(ids[(ids < 0) | (ids >= vocab)][0])
        raise ValueError(f"{name} contains {bad}, which is not a token id: these logits have ids 0 to {vocab - 1}.")


def _penalize(x: np.ndarray, histories: list[_History], s: _Settings) -> np.ndarray:
    """The logits after the stage before the chain, one row per history; `x` is left unchanged."""
    p, vocab = s.penalties, x.shape[-1]
    if p.allowed_token_ids is not None:
        _check_in_vocabulary(p.allowed_token_ids, "allowed_token_ids", vocab)
    if p.logit_bias is not None:
        _check_in_vocabulary(p.logit_bias[0], "logit_bias", vocab)
    rows = x.reshape(-1, vocab).copy()
    for row, history in zip(rows, histories):
        _penalize_row(row, history, p, s.order)
    if np.isneginf(rows.max(axis=-1)).any():
        raise ValueError(
            "every entry of a row of logits is -inf after allowed_token_ids, logit_bias and the "
            f"penalties (no_repeat_ngram_size={p.no_repeat_ngram_size}), so every token is masked and no "
            "probability distribution exists. Allow more tokens or use a larger no_repeat_ngram_size."
        )
    return rows.reshape(x.shape)


def _penalize_row(x: np.ndarray, history: _History, p: _Penalties, order: str) -> None:
    """Apply the stage to one row in place, in the order vLLM and llama.cpp apply it (see ecosystem.PENALTIES)."""
    if p.allowed_token_ids is not None:
        banned = np.ones(x.shape, dtype=bool)
        banned[p.allowed_token_ids] = False
        x[banned] = -np.inf
    if p.logit_bias is not None:
        ids, biases = p.logit_bias
        x[ids] += biases
    if order == "transformers":
        if p.repetition_penalty != 1.0:
            seen = np.unique(history.all)
            x[seen] = _repetition(x[seen], p.repetition_penalty)
        if p.frequency_penalty or p.presence_penalty:
            ids, counts = np.unique(history.generated, return_counts=True)
            x[ids] -= counts * p.frequency_penalty + p.presence_penalty
    elif p.repeat_last_n and (p.repetition_penalty != 1.0 or p.frequency_penalty or p.presence_penalty):
        # llama.cpp's penalties sampler: one window of the last repeat_last_n ids, prompt included.
        ids, counts = np.unique(history.all[-p.repeat_last_n :], return_counts=True)
        x[ids] = _repetition(x[ids], p.repetition_penalty) - (counts * p.frequency_penalty + p.presence_penalty)
    if p.no_repeat_ngram_size:
        x[_ngram_bans(history.all, p.no_repeat_ngram_size)] = -np.inf


def _repetition(values: np.ndarray, penalty: float) -> np.ndarray:
    """Divide positive logits by the penalty, multiply negative ones: both move away from likely.

    (CTRL's paper only divided, which makes a negative logit *more* likely; every library fixed it so.)
    """
    return np.where(values < 0, values * penalty, values / penalty)


def _ngram_bans(ids: np.ndarray, n: int) -> np.ndarray:
    """Tokens that would complete an n-gram already present in `ids` (NoRepeatNGramLogitsProcessor)."""
    if len(ids) < n:
        return _NO_IDS
    windows = np.lib.stride_tricks.sliding_window_view(ids, n)
    prefix = ids[len(ids) - n + 1 :]
    return windows[(windows[:, :-1] == prefix).all(axis=1), -1]


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
    histories = _check_histories(prompt_ids, generated_ids, x.shape)
    if not s.penalties.active:
        return _stages(x, s)
    penalized = _penalize(x, histories, s)
    input_stage, *chain = _stages(penalized, s)
    return [Stage("input", "softmax of the logits (T = 1)", _softmax(x)),
            Stage("penalties", _penalty_label(s.penalties, s.order), input_stage.probs), *chain]


def _penalty_label(p: _Penalties, order: str) -> str:
    """For plot titles, e.g. "repetition 1.2, no-repeat 3-gram"."""
    parts = []
    if p.allowed_token_ids is not None:
        parts.append(f"{len(p.allowed_token_ids)} allowed ids")
    if p.logit_bias is not None:
        parts.append(f"logit_bias on {len(p.logit_bias[0])} ids")
    if p.repetition_penalty != 1.0:
        parts.append(f"repetition {p.repetition_penalty:g}")
    if p.frequency_penalty:
        parts.append(f"frequency {p.frequency_penalty:g}")
    if p.presence_penalty:
        parts.append(f"presence {p.presence_penalty:g}")
    if order == "llama.cpp" and (p.repetition_penalty != 1.0 or p.frequency_penalty or p.presence_penalty):
        parts.append(f"last {p.repeat_last_n} ids")
    if p.no_repeat_ngram_size:
        parts.append(f"no-repeat {p.no_repeat_ngram_size}-gram")
    return ", ".join(parts)


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
    return _penalize(x, _check_histories(prompt_ids, generated_ids, x.shape), s)


@takes_settings
def next_token_distribution(logits, *, prompt_ids=None, generated_ids=None, **settings) -> np.ndarray:
    """The final probabilities the next token is drawn from, after the whole chain.

    The penalty keywords act on the raw logits before the chain: see `penalize_logits`.
    """
    s = _check_settings_by_name(settings)
    x = _check_logits(logits)
    histories = _check_histories(prompt_ids, generated_ids, x.shape)
    if s.penalties.active:
        x = _penalize(x, histories, s)
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
    histories = _check_histories(prompt_ids, generated_ids, x.shape)
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
    [history] = _check_histories(prompt_ids, generated_ids, x.shape)
    return _draw_row(x, rng, s, history)


def _draw_row(x: np.ndarray, rng: np.random.Generator, s: _Settings, history: _History) -> Draw:
    if s.penalties.active:
        token, margin = _race(_penalize(x.astype(np.float64), [history], s), rng, s)
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
    if not _is_real(logits) or not 0 <= float(logits) < float("inf"):
        raise ValueError(f"logits must be a margin in logits, a number >= 0 (0 turns the check off); got {logits!r}.")
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
