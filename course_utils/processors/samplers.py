"""The samplers beyond top-p: typical, epsilon and eta (Hugging Face), top-nσ, XTC, DRY and
mirostat 2 (llama.cpp). One class per dial, each off at its default.

* `TypicalP`, `EpsilonCutoff`, `EtaCutoff`: Hugging Face's ``TypicalLogitsWarper``,
  ``EpsilonLogitsWarper`` and ``EtaLogitsWarper`` (transformers 5.24.0), ``min_tokens_to_keep``
  included; ``tests/test_samplers_reference.py`` compares them on 3,000 random cases each.
* `TopNSigma`, `XTC`, `DRY`, `Mirostat`: llama.cpp's ``top-n-sigma``, ``xtc``, ``dry`` and
  ``mirostat-v2`` samplers, as ``src/llama-sampling.cpp`` defines them (commit 0344068); every
  case of their tests in ``tests/test-sampling.cpp`` (commit f0817df) is replayed in
  ``tests/test_samplers.py``.

The truncation dials return a new array and work on any shape ``(..., V)``; removed tokens get
-inf, as in the other truncation dials. Each can also say how far its cut is from changing
(`cut_distance`), which the draw's margin counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from course_utils import checks
from course_utils.processors.base import History, Processor, check_count
from course_utils.processors.truncation import _Truncation, kth_largest, log_softmax

# llama.cpp's defaults (common/common.h, commit 001d906): the values that leave each dial off or
# that it uses once it is turned on.
DRY_BASE, DRY_ALLOWED_LENGTH, DRY_PENALTY_LAST_N = 1.75, 2, 64
DRY_SEQUENCE_BREAKERS = ("\n", ":", '"', "*")
XTC_THRESHOLD, MIROSTAT_TAU, MIROSTAT_ETA = 0.1, 5.0, 0.1
TOP_N_SIGMA_OFF = -1.0

# llama.cpp clamps DRY's exponent so that base ** exponent stays below float32's largest value.
_FLOAT32_MAX_LOG = 88.7228391
# llama.cpp shortens a breaker's text to 40 characters and its tokens after the first to 20.
_BREAKER_MAX_CHARS, _BREAKER_MAX_TAIL = 40, 20


# ---- checking the dials' values --------------------------------------------------------------


def _real(value, name: str, wanted: str) -> float:
    if not checks.is_real(value):
        raise TypeError(f"{name} must be {wanted}, got {value!r}.")
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"{name} must be {wanted}, got NaN.")
    return v


def check_typical_p(value) -> float:
    v = _real(value, "typical_p", "a number in (0, 1]")
    if not 0.0 < v <= 1.0:
        raise ValueError(
            f"typical_p must be greater than 0 and at most 1, got {value!r}. Use 1.0 to turn typical "
            "sampling off; 0.9 keeps the tokens closest to the entropy that hold 90% of the probability."
        )
    return v


def check_cutoff(value, name: str) -> float:
    """epsilon_cutoff and eta_cutoff: 0 turns them off; Hugging Face refuses 1 and above."""
    v = _real(value, name, "a number from 0 up to (not including) 1")
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}: it is a probability. Use 0.0 to turn it off; "
                         "Hugging Face suggests values from 3e-4 to 2e-3.")
    if v >= 1:
        raise ValueError(f"{name} must be below 1, got {value!r}: every token's probability is below 1, so "
                         "it would remove them all. Use 0.0 to turn it off; try 3e-4 to 2e-3.")
    return v


def check_top_n_sigma(value) -> float:
    v = _real(value, "top_n_sigma", "a number >= 0, or -1 to turn it off")
    if v < 0 and v != TOP_N_SIGMA_OFF:
        raise ValueError(
            f"top_n_sigma must be >= 0 (or -1, llama.cpp's value for off), got {value!r}. It keeps the tokens whose "
            "logit is within n standard deviations of the largest: 1.0 is a common start, -1 or 0 turns it off."
        )
    return v


def check_probability(value, name: str, off: str) -> float:
    v = _real(value, name, "a probability from 0 to 1")
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be from 0 to 1, got {value!r}. {off}")
    return v


def check_mirostat(value) -> int:
    if not checks.is_whole(value):
        raise TypeError(f"mirostat must be 0 (off) or 2 (mirostat 2.0), got {value!r}.")
    if value not in (0, 2):
        raise ValueError(
            f"mirostat must be 0 (off) or 2 (mirostat 2.0), got {value!r}. The course has llama.cpp's mirostat 2 "
            "only (mirostat=1, the first version, needs the vocabulary's Zipf fit and is not taught)."
        )
    return int(value)


def check_breakers(breakers) -> tuple:
    """Each breaker as a str (text: generate() tokenizes it) or a tuple of token ids."""
    if isinstance(breakers, (str, bytes)) or not isinstance(breakers, (Sequence, np.ndarray)):
        raise TypeError(
            f"dry_sequence_breakers must be a list of breakers (each a text such as '\\n' or a list of token ids), "
            f"got {breakers!r}. For one breaker, put it in a list: [{breakers!r}]."
        )
    return tuple(_check_breaker(b) for b in breakers)


def _check_breaker(breaker):
    if isinstance(breaker, str):
        if not breaker:
            raise ValueError("a DRY sequence breaker is the empty text '', which matches nothing; leave it out.")
        return breaker
    ok = isinstance(breaker, (Sequence, np.ndarray)) and not isinstance(breaker, bytes) and len(breaker) > 0
    if not ok or not all(checks.is_whole(i) and i >= 0 for i in breaker):
        raise TypeError(
            f"each DRY sequence breaker must be a text (such as '\\n') or a non-empty list of token ids, got "
            f"{breaker!r}. The raw-logits functions take ids, e.g. [[198]]; generate() also takes text."
        )
    return tuple(int(i) for i in breaker)


# ---- what the cuts share ---------------------------------------------------------------------


def _entropy(logp: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row (log-probabilities; masked tokens count 0), keepdims."""
    p = np.exp(logp)
    return -(p * np.where(p > 0, logp, 0.0)).sum(axis=-1, keepdims=True)


def _surprise_spread(logp: np.ndarray, entropy: np.ndarray) -> np.ndarray:
    """How fast the entropy can move, in nats per unit of change of every logit (to first order):
    dH = -sum p_j (log p_j + H) dx_j, so |dH| <= d * sum p_j |log p_j + H|."""
    p = np.exp(logp)
    return (p * np.abs(np.where(p > 0, logp, 0.0) + entropy)).sum(axis=-1, keepdims=True)


def _top_kept(x: np.ndarray, keep: int) -> np.ndarray:
    """The min_tokens_to_keep rule of Hugging Face's epsilon and eta: a token is never removed if
    its logit is at least the keep-th largest."""
    if keep == 1:
        return x >= x.max(axis=-1, keepdims=True)
    return x >= kth_largest(x, min(keep, x.shape[-1]))


def _distance(gap: np.ndarray, slope) -> np.ndarray:
    """Per token: how far (in logits) it is from a cut, when its quantity minus the threshold
    (`gap`) moves by up to `slope` per logit of change. A masked token (gap +-inf) never crosses."""
    return np.abs(gap) / slope


class _Cut(_Truncation):
    """A truncation dial whose cut the draw's margin measures (see `cut_distance`)."""

    def cut_distance(self, x: np.ndarray) -> np.ndarray:
        """For one row `x` (the logits this dial sees): per token, the smallest change of the logits
        (every one moving by at most that much) that could change whether the dial keeps it;
        inf where it cannot. A lower bound (first order where the cut depends on the entropy)."""
        raise NotImplementedError


# ---- Hugging Face's: typical, epsilon, eta ---------------------------------------------------


@dataclass(frozen=True)
class TypicalP(_Cut):
    """HF's ``TypicalLogitsWarper`` (Meister et al. 2022): rank tokens by how far their surprise
    -log p is from the entropy H, and keep the closest whose mass reaches ``typical_p``. The most
    likely token can be removed. 1.0 turns it off."""

    name = "typical_p"
    short = "typical"
    typical_p: float = 1.0
    min_tokens_to_keep: int = 1

    def __post_init__(self):
        object.__setattr__(self, "typical_p", check_typical_p(self.typical_p))
        self._keep()

    @property
    def active(self) -> bool:
        return self.typical_p < 1.0

    @property
    def label(self) -> str:
        return self._label(f"{self.typical_p:g}")

    def __call__(self, logits, histories=()):
        if not self.active:
            return logits
        if logits.ndim > 1:
            rows = logits.reshape(-1, logits.shape[-1])
            return np.stack([self(row) for row in rows]).reshape(logits.shape)
        return np.where(self._kept(logits)[0], logits, -np.inf)

    def _kept(self, x: np.ndarray):
        """For one row: the kept tokens, each token's distance from the entropy, the entropy and
        log-probabilities, the ranking (a prefix of it that holds the cut and the token after it),
        its cumulative mass, and the cut's place in it."""
        logp = log_softmax(x)
        entropy = _entropy(logp)
        shifted = np.abs(-logp - entropy)  # inf for a masked token
        order, mass = _typical_prefix(shifted, np.exp(logp), self.typical_p, self.min_tokens_to_keep)
        # As HF: the cut falls at the first token whose cumulative mass reaches typical_p, and every
        # token ranked as close to the entropy as that one stays.
        last = min(int(np.count_nonzero(mass < self.typical_p)), len(x) - 1)
        kept = shifted <= shifted[order[last]]
        kept[order[: self.min_tokens_to_keep]] = True
        return kept, shifted, entropy, logp, order, mass, last

    def cut_distance(self, x):
        kept, shifted, entropy, logp, order, mass, last = self._kept(x)
        # A score |-log p_i - H| moves by up to 2d (log p_i) plus how far H moves.
        slope = 2.0 + float(_surprise_spread(logp, entropy)[0])
        boundary = [float(shifted[order[last]])]
        if last + 1 < len(order) and np.isfinite(shifted[order[last + 1]]):
            boundary.append(float(shifted[order[last + 1]]))
        between = sum(boundary) / len(boundary)
        d = _distance(shifted - between, 2 * slope)  # two scores approach each other
        # The boundary tokens also change sides when the cumulative mass crosses typical_p: a mass's
        # log-odds moves by at most 2d.
        odds = _logit(self.typical_p)
        before = mass[last - 1] if last > 0 else 0.0
        d[order[last]] = min(d[order[last]], abs(_logit(before) - odds) / 2)
        if len(boundary) == 2:
            d[order[last + 1]] = min(d[order[last + 1]], abs(_logit(mass[last]) - odds) / 2)
        return d


def _logit(q: float) -> float:
    """log(q / (1 - q)); -inf at 0, inf at 1."""
    q = min(max(float(q), 0.0), 1.0)
    with np.errstate(divide="ignore"):
        return float(np.log(q) - np.log1p(-q))


class _ProbabilityCut(_Cut):
    """A cut on each token's probability: kept if log p_i >= `threshold`, or among the
    ``min_tokens_to_keep`` most likely (HF's rule for epsilon and eta)."""

    @property
    def active(self) -> bool:
        return self.cutoff > 0.0

    @property
    def label(self) -> str:
        return self._label(f"{self.cutoff:g}")

    def threshold(self, logp: np.ndarray) -> np.ndarray:
        """The log-probability a token needs (per row, keepdims)."""
        raise NotImplementedError

    def slope(self, logp: np.ndarray) -> float:
        """How fast log p_i - threshold can move per logit of change: log p_i by up to 2."""
        return 2.0

    def __call__(self, logits, histories=()):
        if not self.active:
            return logits
        logp = log_softmax(logits)
        kept = (logp >= self.threshold(logp)) | _top_kept(logits, self.min_tokens_to_keep)
        return np.where(kept, logits, -np.inf)

    def cut_distance(self, x):
        logp = log_softmax(x)
        by_cut = logp >= self.threshold(logp)
        d = _distance(logp - self.threshold(logp), self.slope(logp))
        return _with_keep(d, by_cut, x, self.min_tokens_to_keep)


def _typical_prefix(shifted: np.ndarray, p: np.ndarray, mass: float, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """The tokens of one row ranked by `shifted` (ties by index), as far as typical's cut needs
    them: past the first token whose cumulative mass reaches `mass`, one token more, and at least
    `keep`; and their cumulative mass. Sorting the vocabulary is the slow part, and the cut usually
    falls early, so a growing prefix is sorted: every token up to a bound (ties with it included),
    which is exactly the start of the full ranking, so its cumulative sums are the same numbers."""
    m, v = max(64, keep + 2), len(shifted)
    while m < v:
        bound = np.partition(shifted, m)[m]
        candidates = np.flatnonzero(shifted <= bound)
        order = candidates[np.argsort(shifted[candidates], kind="stable")]
        cumulative = np.cumsum(p[order])
        if cumulative[-2] >= mass and len(order) >= keep:
            return order, cumulative
        m *= 8
    order = np.argsort(shifted, kind="stable")
    return order, np.cumsum(p[order])


@dataclass(frozen=True)
class EpsilonCutoff(_ProbabilityCut):
    """HF's ``EpsilonLogitsWarper`` (Hewitt et al. 2022): remove tokens with probability below
    ``epsilon_cutoff``, keeping the ``min_tokens_to_keep`` most likely. 0 turns it off."""

    name = "epsilon_cutoff"
    short = "ε"
    epsilon_cutoff: float = 0.0
    min_tokens_to_keep: int = 1

    def __post_init__(self):
        object.__setattr__(self, "epsilon_cutoff", check_cutoff(self.epsilon_cutoff, "epsilon_cutoff"))
        self._keep()

    @property
    def cutoff(self) -> float:
        return self.epsilon_cutoff

    def threshold(self, logp):
        return np.full(logp.shape[:-1] + (1,), math.log(self.epsilon_cutoff))


@dataclass(frozen=True)
class EtaCutoff(_ProbabilityCut):
    """HF's ``EtaLogitsWarper`` (Hewitt et al. 2022): remove tokens with probability below
    eta = min(eta_cutoff, sqrt(eta_cutoff) * exp(-H)), H the entropy in nats, keeping the
    ``min_tokens_to_keep`` most likely. 0 turns it off."""

    name = "eta_cutoff"
    short = "η"
    eta_cutoff: float = 0.0
    min_tokens_to_keep: int = 1

    def __post_init__(self):
        object.__setattr__(self, "eta_cutoff", check_cutoff(self.eta_cutoff, "eta_cutoff"))
        self._keep()

    @property
    def cutoff(self) -> float:
        return self.eta_cutoff

    def threshold(self, logp):
        eps = self.eta_cutoff
        return np.minimum(math.log(eps), 0.5 * math.log(eps) - _entropy(logp))

    def slope(self, logp):
        # Where the entropy sets the threshold, it moves with H too (to first order).
        entropy = _entropy(logp)
        entropy_sets_it = 0.5 * math.log(self.eta_cutoff) - entropy < math.log(self.eta_cutoff)
        return 2.0 + float(np.where(entropy_sets_it, _surprise_spread(logp, entropy), 0.0).max())


def _with_keep(d: np.ndarray, by_cut: np.ndarray, x: np.ndarray, keep: int) -> np.ndarray:
    """Distances of a cut that also keeps the `keep` most likely tokens whatever their probability
    (`d`: from the cut alone): a token kept both ways must lose both; a removed one comes back
    either way; a token ranked in or out moves at half its gap to the rank's edge."""
    ranked = np.sort(x[np.isfinite(x)])[::-1]
    if len(ranked) <= keep:
        return np.full_like(d, np.inf)
    kth, next_one = ranked[keep - 1], ranked[keep]
    in_top = x >= kth
    rank_d = np.where(in_top, (x - next_one) / 2, (kth - x) / 2)
    return np.where(in_top, np.where(by_cut, np.maximum(d, rank_d), rank_d), np.minimum(d, rank_d))


# ---- llama.cpp's: top-nσ, XTC ----------------------------------------------------------------


@dataclass(frozen=True)
class TopNSigma(_Cut):
    """llama.cpp's top-nσ (Tang et al. 2024): keep the tokens whose logit is at least
    max - n * std, the standard deviation taken over the tokens still in (not -inf). Dividing the
    logits by T divides the max's distance and std alike, so the kept set is the same at every
    temperature. -1 (llama.cpp's default) or 0 turns it off (llama.cpp: n <= 0 is off)."""

    name = "top_n_sigma"
    short = "top-nσ"
    top_n_sigma: float = TOP_N_SIGMA_OFF

    def __post_init__(self):
        object.__setattr__(self, "top_n_sigma", check_top_n_sigma(self.top_n_sigma))

    @property
    def active(self) -> bool:
        return self.top_n_sigma > 0.0

    @property
    def label(self) -> str:
        return self._label(f"{self.top_n_sigma:g}")

    def _margin(self, x: np.ndarray) -> np.ndarray:
        """logit - (max - n std): >= 0 for a kept token."""
        finite = np.isfinite(x)
        count = finite.sum(axis=-1, keepdims=True)
        values = np.where(finite, x, 0.0)
        mean = values.sum(axis=-1, keepdims=True) / count
        std = np.sqrt((np.where(finite, x - mean, 0.0) ** 2).sum(axis=-1, keepdims=True) / count)
        return x - (x.max(axis=-1, keepdims=True) - self.top_n_sigma * std)

    def __call__(self, logits, histories=()):
        if not self.active or logits.shape[-1] <= 1:
            return logits
        return np.where(self._margin(logits) >= 0, logits, -np.inf)

    def cut_distance(self, x):
        margin = self._margin(x)
        # A change of at most d moves a logit and the max by d each, and the std by at most d.
        return _distance(margin, 2.0 + self.top_n_sigma)


@dataclass(frozen=True)
class XTC(_Cut):
    """llama.cpp's XTC, "exclude top choices": with probability ``xtc_probability`` (a coin drawn
    from the generation's rng each step), remove every token whose probability is at least
    ``xtc_threshold`` except the least likely of them. Nothing happens when fewer than two reach the
    threshold (so a threshold above 0.5 never acts: llama.cpp then skips it, coin and all), or when
    fewer than ``min_tokens_to_keep`` tokens would be left. 0 (the probability) turns it off.

    Called directly it applies the cut (the coin fell on "remove"); the chain passes ``applies``.
    """

    name = "xtc"
    short = "XTC"
    xtc_probability: float = 0.0
    xtc_threshold: float = XTC_THRESHOLD
    min_tokens_to_keep: int = 1

    def __post_init__(self):
        object.__setattr__(self, "xtc_probability", check_probability(
            self.xtc_probability, "xtc_probability",
            "It is the chance that XTC acts at a step: 0 turns it off, 0.5 acts at half the steps."))
        object.__setattr__(self, "xtc_threshold", check_probability(
            self.xtc_threshold, "xtc_threshold",
            "Tokens at least this likely are the 'top choices' (llama.cpp's default 0.1; above 0.5 it never acts)."))
        self._keep()

    @property
    def active(self) -> bool:
        return self.xtc_probability > 0.0 and self.xtc_threshold <= 0.5

    @property
    def label(self) -> str:
        return self._label(f"{self.xtc_probability:g} above {self.xtc_threshold:g}")

    def coin(self, rng: np.random.Generator) -> bool:
        """Whether XTC acts at this step: llama.cpp draws a uniform number and acts unless it is above
        the probability."""
        return bool(rng.random() <= self.xtc_probability)

    def _above(self, x):
        """Log-probabilities, and which tokens (of those still in) reach the threshold."""
        logp = log_softmax(x)
        with np.errstate(divide="ignore"):
            return logp, np.isfinite(x) & (logp >= np.log(self.xtc_threshold))

    def __call__(self, logits, histories=(), applies: bool = True):
        if not (self.active and applies):
            return logits
        _, above = self._above(logits)
        n_above = above.sum(axis=-1, keepdims=True)
        # The least likely of the top choices stays (ties: the last of them by index, as a stable
        # sort from most to least likely would leave it).
        masked = np.where(above, logits, np.inf)
        least = masked.shape[-1] - 1 - np.argmin(masked[..., ::-1], axis=-1)[..., None]
        removed = above & (np.arange(logits.shape[-1]) != least)
        left = np.isfinite(logits).sum(axis=-1, keepdims=True) - (n_above - 1)
        acts = (n_above >= 2) & (left >= self.min_tokens_to_keep)
        return np.where(removed & acts, -np.inf, logits)

    def cut_distance(self, x, applies: bool = True):
        if not (self.active and applies):
            return np.full(x.shape, np.inf)
        logp, above = self._above(x)
        with np.errstate(divide="ignore"):
            d = _distance(logp - np.log(self.xtc_threshold), 2.0)
        if above.sum() >= 2:
            # The least likely of the top choices is kept until another takes its place: a token
            # from below reaching the threshold, or one above falling under it.
            top = np.sort(x[above])
            least = int(np.flatnonzero(above & (x == top[0]))[-1])
            d[least] = min(d[~above & np.isfinite(x)].min(initial=np.inf), (top[1] - top[0]) / 2)
            others = above.copy()
            others[least] = False
            d[others] = np.minimum(d[others], (x[others] - top[0]) / 2)
        return d


# ---- llama.cpp's: mirostat 2 -----------------------------------------------------------------


class Mirostat(_Truncation):
    """llama.cpp's mirostat 2 (Basu et al. 2021), a feedback loop on surprise. Each step it keeps
    the tokens whose surprise -log2 p is at most mu (at least the most likely one), the token is
    drawn from them, and mu moves by ``mirostat_eta`` times the gap between that token's surprise
    (in the kept distribution) and the target ``mirostat_tau``: mu <- mu - eta (surprise - tau).
    mu starts at 2 tau.

    As in llama.cpp, mirostat replaces the chain: temperature, then mirostat draws; the other
    truncation samplers are not run (the course refuses them when mirostat is on, rather than
    ignoring them). mu is this processor's state: a generation builds a fresh one per row
    (`fresh`), moves it on with `learn`, and rolls it back with `state` / `restore`.
    """

    name = "mirostat"

    def __init__(self, mirostat: int = 0, mirostat_tau: float = MIROSTAT_TAU, mirostat_eta: float = MIROSTAT_ETA):
        self.mirostat = check_mirostat(mirostat)
        tau = _real(mirostat_tau, "mirostat_tau", "a number of bits > 0")
        if not 0 < tau < math.inf:
            raise ValueError(f"mirostat_tau must be a number of bits > 0, got {mirostat_tau!r}. It is the target "
                             "surprise per token: llama.cpp's default is 5.0; lower is more focused.")
        eta = _real(mirostat_eta, "mirostat_eta", "a learning rate >= 0")
        if not 0 <= eta < math.inf:
            raise ValueError(f"mirostat_eta must be a learning rate >= 0, got {mirostat_eta!r}. llama.cpp's default "
                             "is 0.1; 0 keeps mu where it starts (2 tau).")
        self.mirostat_tau, self.mirostat_eta = tau, eta
        self.mu = 2.0 * tau

    @property
    def active(self) -> bool:
        return self.mirostat == 2

    @property
    def label(self) -> str:
        return f"mirostat 2 (τ {self.mirostat_tau:g}, μ {self.mu:.3g})" if self.active else "mirostat off"

    def fresh(self) -> Mirostat:
        return Mirostat(self.mirostat, self.mirostat_tau, self.mirostat_eta)

    def _surprise_gap(self, x):
        """mu - surprise (in bits) of each token: >= 0 for a kept token."""
        return self.mu + log_softmax(x) / math.log(2)

    def __call__(self, logits, histories=()):
        gap = self._surprise_gap(logits)
        kept = gap >= 0
        none = ~kept.any(axis=-1, keepdims=True)
        first = np.arange(logits.shape[-1]) == np.argmax(logits, axis=-1)[..., None]
        return np.where(kept | (none & first), logits, -np.inf)

    def cut_distance(self, x):
        gap = self._surprise_gap(x) * math.log(2)  # in nats: log p moves by up to 2 per logit
        d = _distance(gap, 2.0)
        if not (gap >= 0).any():  # only the most likely is left, and it always stays
            d[int(np.argmax(x))] = np.inf
        return d

    def learn(self, surprise_bits: float) -> None:
        """The drawn token had this surprise in the kept distribution: move mu toward tau."""
        self.mu -= self.mirostat_eta * (surprise_bits - self.mirostat_tau)

    def state(self) -> float:
        return self.mu

    def restore(self, state) -> None:
        self.mu = float(state)


# ---- llama.cpp's: DRY ------------------------------------------------------------------------


@dataclass(frozen=True)
class DRY(Processor):
    """llama.cpp's DRY, "don't repeat yourself" (from koboldcpp): a token that would extend a
    sequence already seen in the last ``dry_penalty_last_n`` tokens (prompt included; -1: all of
    them) loses dry_multiplier * dry_base ** (length - dry_allowed_length) from its logit, where
    length is the longest such repeat it would continue, if at least ``dry_allowed_length``.
    A repeat stops at a sequence breaker (a newline, a colon, ...), and a token that is a breaker
    by itself is never penalised. 0 (the multiplier) turns it off.

    ``dry_sequence_breakers``: token-id sequences (the first id is the head, llama.cpp's test
    form), or texts that `resolve` turns into ids from a vocabulary, as llama.cpp does. None means
    llama.cpp's defaults ``["\\n", ":", "\\"", "*"]`` where a tokenizer is at hand (generate), and no
    breakers on raw logits.
    """

    name = "dry"
    dry_multiplier: float = 0.0
    dry_base: float = DRY_BASE
    dry_allowed_length: int = DRY_ALLOWED_LENGTH
    dry_penalty_last_n: int = DRY_PENALTY_LAST_N
    dry_sequence_breakers: Sequence | None = None
    # head id -> the ids that must follow it (empty: the head alone breaks)
    heads: Mapping[int, tuple[tuple[int, ...], ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        multiplier = _real(self.dry_multiplier, "dry_multiplier", "a number >= 0")
        if multiplier < 0 or math.isinf(multiplier):
            raise ValueError(f"dry_multiplier must be a finite number >= 0, got {self.dry_multiplier!r}. 0 turns DRY "
                             "off; 0.8 is the value its author suggests.")
        base = _real(self.dry_base, "dry_base", "a number > 1")
        if not 1 < base < math.inf:
            raise ValueError(f"dry_base must be greater than 1, got {self.dry_base!r}: the penalty grows as base ** "
                             "(length - allowed length), so a base of 1 or less never grows. llama.cpp's default is 1.75.")
        allowed = check_count(self.dry_allowed_length, "dry_allowed_length",
                              "It is the longest repeat left unpenalised (llama.cpp's default 2).")
        last_n = self.dry_penalty_last_n
        if not (checks.is_whole(last_n) and last_n == -1):
            last_n = check_count(last_n, "dry_penalty_last_n",
                                 "It is how many of the last tokens DRY scans (64 by default; -1: all of them; 0: off).")
        breakers = None if self.dry_sequence_breakers is None else check_breakers(self.dry_sequence_breakers)
        for name, value in (("dry_multiplier", multiplier), ("dry_base", base), ("dry_allowed_length", allowed),
                            ("dry_penalty_last_n", int(last_n)), ("dry_sequence_breakers", breakers)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "heads", _heads(b for b in breakers or () if not isinstance(b, str)))

    @property
    def active(self) -> bool:
        return self.dry_multiplier > 0 and self.dry_penalty_last_n != 0

    @property
    def label(self) -> str:
        return f"DRY {self.dry_multiplier:g} x {self.dry_base:g}^(n - {self.dry_allowed_length})"

    @property
    def texts(self) -> tuple[str, ...]:
        """The breakers given as text (to be turned into ids by `resolve`)."""
        if self.dry_sequence_breakers is None:
            return DRY_SEQUENCE_BREAKERS
        return tuple(b for b in self.dry_sequence_breakers if isinstance(b, str))

    def resolve(self, pieces: Sequence[str], encode: Callable[[str], list[int]]) -> DRY:
        """A copy whose text breakers are token ids, found as llama.cpp's
        ``get_overlapping_token_sequences`` finds them: every token whose text contains the breaker
        breaks by itself; a token whose text ends with the breaker's beginning is a head, followed
        by the rest of the breaker tokenized (at most 20 tokens). `pieces` is each token's text."""
        if not self.active:
            return self
        sequences = [b for b in self.dry_sequence_breakers or () if not isinstance(b, str)]
        for text in self.texts:
            sequences += breaker_sequences(text[:_BREAKER_MAX_CHARS], pieces, encode)
        resolved = DRY(self.dry_multiplier, self.dry_base, self.dry_allowed_length, self.dry_penalty_last_n,
                       tuple(sequences))
        return resolved

    def __call__(self, logits, histories: Sequence[History]):
        if not self.active:
            return logits
        if self.dry_sequence_breakers and any(isinstance(b, str) for b in self.dry_sequence_breakers):
            text = next(b for b in self.dry_sequence_breakers if isinstance(b, str))
            raise TypeError(
                f"dry_sequence_breakers holds the text {text!r}, but these functions see logits, not a tokenizer: "
                "pass each breaker as a list of token ids (e.g. [[198]] for the token 198), or use generate(), "
                "which turns text into ids with the model's tokenizer."
            )
        for row, history in zip(logits, histories):
            ids = history.all
            window = ids if self.dry_penalty_last_n == -1 else ids[len(ids) - min(len(ids), self.dry_penalty_last_n):]
            tokens, penalties = self.penalties(window)
            row[tokens] -= penalties
        return logits

    def penalties(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The tokens penalised after `window` (the last tokens, oldest first) and their penalties."""
        none = (np.zeros(0, dtype=np.int64), np.zeros(0))
        recent = np.asarray(window, dtype=np.int64)[::-1]  # recent[0] is the newest token
        if len(recent) <= self.dry_allowed_length:
            return none
        limit = self._repeat_limit(recent)
        if limit < self.dry_allowed_length:
            return none
        lengths = repeat_lengths(recent, limit)
        # lengths[k - 1]: the tokens before recent[k - 1] repeat the newest `length` tokens, so
        # recent[k - 1] would continue the repeat.
        long_enough = np.flatnonzero(lengths >= self.dry_allowed_length)
        if long_enough.size == 0:
            return none
        tokens, longest = _max_per_token(recent[long_enough], lengths[long_enough])
        alone = np.array([() in self.heads.get(int(t), ()) for t in tokens], dtype=bool)
        tokens, longest = tokens[~alone], longest[~alone]
        exponent = longest - self.dry_allowed_length
        max_exponent = int(_FLOAT32_MAX_LOG / math.log(self.dry_base)) if self.dry_base > 1.000001 else 0
        if max_exponent > 0:
            exponent = np.minimum(exponent, max_exponent)
        return tokens, self.dry_multiplier * self.dry_base ** exponent.astype(np.float64)

    def _repeat_limit(self, recent: np.ndarray) -> int:
        """How far back a repeat may reach: up to the newest sequence breaker (llama.cpp's step 1)."""
        if not self.heads:
            return len(recent)
        for i in np.flatnonzero(np.isin(recent, list(self.heads))):
            longest = -1
            for tail in self.heads[int(recent[i])]:
                # The tail follows the head, so it sits just after it: recent[i - 1], recent[i - 2], ...
                if longest < len(tail) <= i and all(recent[i - 1 - j] == t for j, t in enumerate(tail)):
                    longest = len(tail)
            if longest >= 0:
                return int(i) - longest
        return len(recent)


def _heads(sequences) -> dict[int, tuple[tuple[int, ...], ...]]:
    heads: dict[int, list[tuple[int, ...]]] = {}
    for seq in sequences:
        tails = heads.setdefault(seq[0], [])
        if tuple(seq[1:]) not in tails:
            tails.append(tuple(seq[1:]))
    return {h: tuple(t) for h, t in heads.items()}


def repeat_lengths(recent: np.ndarray, limit: int) -> np.ndarray:
    """For k = 1 .. N - 1: how many of the newest tokens (recent[0], recent[1], ...) the tokens from
    recent[k] on repeat, at most `limit` (llama.cpp computes the same with the Z-algorithm). All
    candidate positions advance together, one token per pass, while any still matches."""
    n = len(recent)
    lengths = np.zeros(max(n - 1, 0), dtype=np.int64)
    alive = np.arange(1, n)
    matched = 0
    while alive.size and matched < limit:
        alive = alive[alive + matched < n]
        alive = alive[recent[alive + matched] == recent[matched]]
        matched += 1
        lengths[alive - 1] = matched
    return lengths


def _max_per_token(tokens: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct token once, with its longest repeat."""
    order = np.lexsort((-lengths, tokens))
    tokens, lengths = tokens[order], lengths[order]
    first = np.concatenate([[True], tokens[1:] != tokens[:-1]])
    return tokens[first], lengths[first]


def breaker_sequences(text: str, pieces: Sequence[str], encode: Callable[[str], list[int]]) -> list[tuple[int, ...]]:
    """llama.cpp's ``get_overlapping_token_sequences`` for one breaker: the token-id sequences
    (head first) that spell `text` or begin it across a token's end."""
    found: dict[int, list[tuple[int, ...]]] = {}
    for token_id, word in enumerate(pieces):
        if text in word:
            found.setdefault(token_id, []).append(())
            continue
        # Every place where the token's text ends with a beginning of the breaker.
        for start in (i for i, c in enumerate(word) if c == text[0]):
            consumed = len(word) - start
            if text.startswith(word[start:]) and consumed < len(text):
                tail = tuple(encode(text[consumed:])[:_BREAKER_MAX_TAIL])
                if tail not in found.setdefault(token_id, []):
                    found[token_id].append(tail)
    return [(head, *tail) for head, tails in found.items() for tail in tails]
