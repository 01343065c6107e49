"""Temperature and the truncation dials: top-k, top-p, min-p, with the softmax they share.

Semantics are Hugging Face's warpers (``TemperatureLogitsWarper``, ``TopKLogitsWarper``,
``TopPLogitsWarper``, ``MinPLogitsWarper``), ``min_tokens_to_keep`` included; the differential
tests in ``tests/test_sampling_reference.py`` hold the course to them. Each works on the logits
(``-inf`` for a removed token) of any shape ``(..., V)`` and returns a new array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_utils import checks
from course_utils.processors.base import Processor

# How many groups the top-k candidate search splits a row into, per token it keeps (see `top_k_split`).
_GROUPS_PER_KEPT = 4


def scale(x: np.ndarray, t: float) -> np.ndarray:
    """(logits - max) / T: shifting by the max changes no probability and keeps exp() <= 1.

    T = 0 is the limit T -> 0+: the maximum (and exact ties with it) at 0, the rest at -inf.
    Huge and tiny T reach their limits without NaN, because the shifted logits are <= 0.
    """
    shifted = x - x.max(axis=-1, keepdims=True)
    if t == 0.0:
        return np.where(shifted == 0.0, 0.0, -np.inf)
    with np.errstate(over="ignore", under="ignore"):
        return shifted / t


def divide_by_temperature(x: np.ndarray, t: float) -> np.ndarray:
    """x / T, as TemperatureLogitsWarper does, so T = 1 leaves logits bit-for-bit unchanged.

    Where dividing would overflow (a tiny T), the max-shifted form of `scale` gives the limit.
    """
    if t == 0.0:
        return scale(x, t)
    try:
        with np.errstate(over="raise", under="ignore"):
            return x / t
    except FloatingPointError:
        return scale(x, t)


def softmax(x: np.ndarray, t: float = 1.0) -> np.ndarray:
    weights = np.exp(scale(x, t))
    return weights / weights.sum(axis=-1, keepdims=True)


def log_softmax(x: np.ndarray, t: float = 1.0) -> np.ndarray:
    z = scale(x, t)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# ---- the dials' values -----------------------------------------------------------------------


def check_temperature(temperature) -> float:
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


def check_top_k(top_k) -> int:
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


def check_min_tokens_to_keep(min_tokens_to_keep) -> int:
    if not checks.is_whole(min_tokens_to_keep) or min_tokens_to_keep < 1:
        raise ValueError(
            f"min_tokens_to_keep must be a whole number >= 1, got {min_tokens_to_keep!r}. "
            "It is the number of tokens a filter may never remove (1 keeps at least the top token)."
        )
    return int(min_tokens_to_keep)


# ---- the processors --------------------------------------------------------------------------


class _Truncation(Processor):
    """A dial after the stage of masks and penalties: reads no history, returns a new array."""

    before_temperature = False

    def _keep(self) -> None:
        object.__setattr__(self, "min_tokens_to_keep", check_min_tokens_to_keep(self.min_tokens_to_keep))

    def _label(self, text: str) -> str:
        return f"{self.short} {text}" if self.active else f"{self.short} off"


@dataclass(frozen=True)
class Temperature(_Truncation):
    """Divide the logits by T: below 1 sharpens, above 1 flattens, 0 is greedy (the T -> 0+ limit)."""

    name = "temperature"
    temperature: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "temperature", check_temperature(self.temperature))

    @property
    def active(self) -> bool:
        return self.temperature != 1.0

    @property
    def label(self) -> str:
        return "greedy (temperature 0)" if self.temperature == 0 else f"temperature {self.temperature:g}"

    @property
    def keeps_order(self) -> bool:
        # Dividing float64 logits by T in this range neither overflows, underflows nor merges two values.
        return 1e-3 <= self.temperature <= 1e3

    def __call__(self, logits, histories=()):
        return divide_by_temperature(logits, self.temperature)


@dataclass(frozen=True)
class TopK(_Truncation):
    """Keep the k largest logits (and any tied with the k-th); 0 turns it off."""

    name = "top_k"
    short = "top-k"
    top_k: int = 0
    min_tokens_to_keep: int = 1

    def __post_init__(self):
        object.__setattr__(self, "top_k", check_top_k(self.top_k))
        self._keep()

    @property
    def active(self) -> bool:
        return self.top_k > 0

    @property
    def label(self) -> str:
        return self._label(f"{self.top_k}")

    @property
    def k(self) -> int:
        """How many it keeps at least: top_k, raised to min_tokens_to_keep."""
        return max(self.top_k, self.min_tokens_to_keep)

    def __call__(self, logits, histories=()):
        if self.top_k == 0 or self.k >= logits.shape[-1]:
            return logits
        if logits.ndim == 1:  # one row: find the kept ids without partitioning the vocabulary
            kept = np.full_like(logits, -np.inf)
            ids, _ = self.split(logits)
            kept[ids] = logits[ids]
            return kept
        # Ties with the k-th largest value are kept, as TopKLogitsWarper does.
        return np.where(logits < kth_largest(logits, self.k), -np.inf, logits)

    def split(self, row: np.ndarray) -> tuple[np.ndarray | None, float]:
        """For one row: the ids it keeps, in increasing order (None: all of them), and the largest
        logit it removes; found without sorting the vocabulary (`top_k_split`)."""
        return top_k_split(row, self.k) if self.active else (None, -np.inf)


@dataclass(frozen=True)
class TopP(_Truncation):
    """Nucleus: keep the smallest set of most likely tokens whose probability reaches top_p."""

    name = "top_p"
    short = "top-p"
    top_p: float = 1.0
    min_tokens_to_keep: int = 1

    def __post_init__(self):
        object.__setattr__(self, "top_p", _check_fraction(
            self.top_p, "top_p", "Use 1.0 to turn top-p off; 0.9 keeps the tokens that make up 90% of the probability."
        ))
        self._keep()

    @property
    def active(self) -> bool:
        return self.top_p < 1.0

    @property
    def label(self) -> str:
        return self._label(f"{self.top_p:g}")

    def __call__(self, logits, histories=()):
        return logits if self.top_p >= 1.0 else _top_p(logits, self.top_p, self.min_tokens_to_keep)


@dataclass(frozen=True)
class MinP(_Truncation):
    """Keep tokens at least min_p times as likely as the most likely one; 0 turns it off."""

    name = "min_p"
    short = "min-p"
    min_p: float = 0.0
    min_tokens_to_keep: int = 1

    def __post_init__(self):
        object.__setattr__(self, "min_p", _check_fraction(
            self.min_p, "min_p", "Use 0.0 to turn min-p off; 0.05 keeps tokens at least 5% as likely as the top token."
        ))
        self._keep()

    @property
    def active(self) -> bool:
        return self.min_p > 0.0

    @property
    def label(self) -> str:
        return self._label(f"{self.min_p:g}")

    def __call__(self, logits, histories=()):
        if self.min_p == 0.0:
            return logits
        # p_i / p_max = exp(x_i - x_max), so no full softmax is needed.
        with np.errstate(under="ignore"):
            kept = np.exp(logits - logits.max(axis=-1, keepdims=True)) >= self.min_p
        if self.min_tokens_to_keep > 1:
            kept |= logits >= kth_largest(logits, min(self.min_tokens_to_keep, logits.shape[-1]))
        return np.where(kept, logits, -np.inf)


# ---- the math they share ---------------------------------------------------------------------


def kth_largest(x: np.ndarray, k: int) -> np.ndarray:
    v = x.shape[-1]
    return np.partition(x, v - k, axis=-1)[..., v - k : v - k + 1]


def _top_p(x: np.ndarray, p: float, keep: int) -> np.ndarray:
    if x.ndim > 1:
        rows = x.reshape(-1, x.shape[-1])
        return np.stack([_top_p(row, p, keep) for row in rows]).reshape(x.shape)
    probs = softmax(x)
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
        idx, _ = top_k_split(x, m)
        if idx is None:
            break
        # Masked tokens (-inf, e.g. a grammar's) hold no mass and stay masked whatever their rank:
        # leaving them out keeps a mostly masked row from sorting the whole vocabulary.
        idx = idx[x[idx] > -np.inf]
        # The margin makes sure rounding in this sum cannot claim mass the cumsum lacks.
        if len(idx) >= keep and probs[idx].sum() >= p + 1e-9:
            return idx[np.argsort(-x[idx], kind="stable")]
        m *= 8
    return np.argsort(-x, kind="stable")


def top_k_split(x: np.ndarray, k: int) -> tuple[np.ndarray | None, float]:
    """Indices of every logit of the row `x` >= the k-th largest (None if that is all of them), and
    the largest logit below those: what top-k's cut falls between.

    Split the row into groups and take each group's maximum: the (k+1)-th largest of those maxima is
    a lower bound for the (k+1)-th largest logit (k + 1 groups each hold a value at least that
    large). So one comparison pass leaves a short list that holds the k + 1 largest logits, and only
    that list is partitioned, not the vocabulary. The groups are strided (x[j], x[j + n], ...), which
    numpy reduces in one fast pass.
    """
    v = x.shape[-1]
    if k >= v:
        return None, -np.inf
    n = min(v, _GROUPS_PER_KEPT * (k + 1))
    full = (v // n) * n
    maxima = x[:full].reshape(-1, n).max(axis=0)
    if full < v:
        maxima = np.concatenate([maxima, x[full:]])  # the leftover logits, each a group of its own
    bound = np.partition(maxima, len(maxima) - k - 1)[len(maxima) - k - 1]
    # A mostly masked row (-inf) gives no bound; its finite logits are the short list then (with
    # fewer than k of them, the k-th largest is -inf and every token is kept).
    idx = np.flatnonzero(x >= bound) if bound > -np.inf else np.flatnonzero(x > -np.inf)
    if len(idx) < k:
        return np.arange(v), -np.inf
    values = x[idx]
    kth = np.partition(values, len(values) - k)[len(values) - k]
    inside = values >= kth
    below = values[~inside]
    if below.size:  # the largest logit under the cut is on the list: it holds the k + 1 largest
        return idx[inside], float(below.max())
    # Ties at the cut filled the list: the next logit is off it.
    return idx[inside], float(np.max(x, where=x < kth, initial=-np.inf))
