"""The dials before temperature: masks, ``logit_bias``, the repetition penalties, n-gram blocking.

Every library runs them on the raw logits, before temperature and truncation
(``ecosystem.PENALTIES`` records where each puts them, with sources). The penalties read the token
ids seen so far (a `History` per row of logits):

* HF's ``RepetitionPenaltyLogitsProcessor`` (`RepetitionPenalty`) counts prompt + generated ids;
  OpenAI's (and vLLM's) ``frequency_penalty`` and ``presence_penalty`` (`OpenAIPenalties`) count
  the generated ids only;
* llama.cpp's penalties sampler (`LlamaCppPenalties`) applies all three to the last
  ``repeat_last_n`` ids of prompt + generated (64 by default, 0 turns them off).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from course_utils import checks
from course_utils.processors.base import (
    NO_IDS, History, Processor, check_count, check_in_vocabulary, check_token_ids,
)


@dataclass(frozen=True)
class AllowedTokenIds(Processor):
    """vLLM's ``allowed_token_ids``: every other token gets -inf."""

    name = "allowed_token_ids"
    allowed_token_ids: Sequence[int] | None = None
    ids: np.ndarray | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        ids = None
        if self.allowed_token_ids is not None:
            ids = check_token_ids(self.allowed_token_ids, "allowed_token_ids")
            if ids.size == 0:
                raise ValueError(
                    "allowed_token_ids is empty, which would forbid every token. Pass the ids that may be "
                    "drawn, or None to allow them all."
                )
        object.__setattr__(self, "ids", ids)

    @property
    def active(self) -> bool:
        return self.ids is not None

    @property
    def label(self) -> str:
        return f"{len(self.ids)} allowed ids"

    def __call__(self, logits, histories):
        check_in_vocabulary(self.ids, "allowed_token_ids", logits.shape[-1])
        banned = np.ones(logits.shape[-1], dtype=bool)
        banned[self.ids] = False
        logits[:, banned] = -np.inf
        return logits


class ConstraintMask(Processor):
    """A constraint with state of its own as the chain's mask: a grammar's
    (`structured.TokenConstraint`), or any object with ``allowed()`` (a bool per token) and
    ``advance(token_id)``. The tokens it does not allow get -inf; the chosen token moves it on; it
    rolls back through the constraint's own ``state()`` / ``restore(state)``."""

    name = "grammar"

    def __init__(self, constraint):
        self.constraint = constraint

    @property
    def label(self) -> str:
        return "the grammar's allowed tokens"

    def __call__(self, logits, histories):
        logits[:, ~self.constraint.allowed()] = -np.inf
        return logits

    def advance(self, token_id: int) -> None:
        self.constraint.advance(token_id)

    def state(self):
        return self.constraint.state()

    def restore(self, state) -> None:
        self.constraint.restore(state)


@dataclass(frozen=True)
class LogitBias(Processor):
    """OpenAI's ``logit_bias``: {token id: bias in -100..100}, added to the logits."""

    name = "logit_bias"
    logit_bias: Mapping[int, float] | None = None
    ids: np.ndarray | None = field(init=False, repr=False, compare=False)
    biases: np.ndarray | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        ids = biases = None
        bias = self.logit_bias
        if bias is not None and not isinstance(bias, Mapping):
            raise TypeError(f"logit_bias must be a dict from token id to bias, such as {{1234: -100}}, got {bias!r}.")
        for token_id, value in (bias or {}).items():
            if not checks.is_whole(token_id):
                raise TypeError(f"logit_bias keys must be token ids (ints), got the key {token_id!r}.")
            if not checks.is_real(value) or not -100.0 <= float(value) <= 100.0:
                raise ValueError(
                    f"logit_bias[{token_id}] = {value!r}: a bias must be a number between -100 and 100 "
                    "(OpenAI's range); -100 effectively bans the token, +100 effectively forces it."
                )
        if bias:
            ids = np.fromiter(bias.keys(), dtype=np.int64, count=len(bias))
            biases = np.fromiter(bias.values(), dtype=np.float64, count=len(bias))
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "biases", biases)

    @property
    def active(self) -> bool:
        return self.ids is not None

    @property
    def label(self) -> str:
        return f"logit_bias on {len(self.ids)} ids"

    def __call__(self, logits, histories):
        check_in_vocabulary(self.ids, "logit_bias", logits.shape[-1])
        logits[:, self.ids] += self.biases
        return logits


def check_repetition_penalty(value) -> float:
    if not checks.is_real(value):
        raise TypeError(f"repetition_penalty must be a number > 0 (such as 1.2; 1.0 is off), got {value!r}.")
    v = float(value)
    if not (v > 0 and np.isfinite(v)):  # also rejects NaN
        raise ValueError(
            f"repetition_penalty must be a finite number > 0, got {value!r}. 1.0 turns it off; above 1 "
            "makes tokens already in the text less likely (1.2 is a common choice), below 1 more likely."
        )
    return v


def check_openai_penalty(value, name: str) -> float:
    if not checks.is_real(value):
        raise TypeError(f"{name} must be a number between -2 and 2 (0 is off), got {value!r}.")
    v = float(value)
    if not -2.0 <= v <= 2.0:  # also rejects NaN
        raise ValueError(
            f"{name} must be between -2 and 2 (OpenAI's range), got {value!r}. 0 turns it off; "
            "positive values make tokens already generated less likely."
        )
    return v


def repetition(values: np.ndarray, penalty: float) -> np.ndarray:
    """Divide positive logits by the penalty, multiply negative ones: both move away from likely.

    (CTRL's paper only divided, which makes a negative logit *more* likely; every library fixed it so.)
    """
    return np.where(values < 0, values * penalty, values / penalty)


def repetition_slope(penalty: float) -> float:
    """Dividing by the penalty scales a logit by 1/p, multiplying by p: the larger of the two."""
    return max(1.0, penalty, 1.0 / penalty)


@dataclass(frozen=True)
class RepetitionPenalty(Processor):
    """HF's ``RepetitionPenaltyLogitsProcessor``: every id of prompt + generated, once."""

    name = "repetition_penalty"
    repetition_penalty: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "repetition_penalty", check_repetition_penalty(self.repetition_penalty))

    @property
    def active(self) -> bool:
        return self.repetition_penalty != 1.0

    @property
    def label(self) -> str:
        return f"repetition {self.repetition_penalty:g}"

    @property
    def slope(self) -> float:
        return repetition_slope(self.repetition_penalty)

    def __call__(self, logits, histories):
        for row, history in zip(logits, histories):
            seen = np.unique(history.all)
            row[seen] = repetition(row[seen], self.repetition_penalty)
        return logits


@dataclass(frozen=True)
class OpenAIPenalties(Processor):
    """OpenAI's (and vLLM's) penalties: logit - count * frequency - presence, over the generated ids."""

    name = "frequency_presence"
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "frequency_penalty", check_openai_penalty(self.frequency_penalty, "frequency_penalty"))
        object.__setattr__(self, "presence_penalty", check_openai_penalty(self.presence_penalty, "presence_penalty"))

    @property
    def active(self) -> bool:
        return bool(self.frequency_penalty or self.presence_penalty)

    @property
    def label(self) -> str:
        return _penalty_words(1.0, self.frequency_penalty, self.presence_penalty)

    def __call__(self, logits, histories):
        for row, history in zip(logits, histories):
            ids, counts = np.unique(history.generated, return_counts=True)
            row[ids] -= counts * self.frequency_penalty + self.presence_penalty
        return logits


@dataclass(frozen=True)
class LlamaCppPenalties(Processor):
    """llama.cpp's penalties sampler: all three penalties over one window, the last ``repeat_last_n``
    ids of prompt + generated."""

    name = "penalties"
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repeat_last_n: int = 64

    def __post_init__(self):
        object.__setattr__(self, "repetition_penalty", check_repetition_penalty(self.repetition_penalty))
        object.__setattr__(self, "frequency_penalty", check_openai_penalty(self.frequency_penalty, "frequency_penalty"))
        object.__setattr__(self, "presence_penalty", check_openai_penalty(self.presence_penalty, "presence_penalty"))

    @property
    def active(self) -> bool:
        return bool(self.repeat_last_n) and bool(
            self.repetition_penalty != 1.0 or self.frequency_penalty or self.presence_penalty
        )

    @property
    def label(self) -> str:
        words = _penalty_words(self.repetition_penalty, self.frequency_penalty, self.presence_penalty)
        return f"{words}, last {self.repeat_last_n} ids"

    @property
    def slope(self) -> float:
        return repetition_slope(self.repetition_penalty)

    def __call__(self, logits, histories):
        for row, history in zip(logits, histories):
            ids, counts = np.unique(history.all[-self.repeat_last_n :], return_counts=True)
            row[ids] = repetition(row[ids], self.repetition_penalty) - (
                counts * self.frequency_penalty + self.presence_penalty
            )
        return logits


def _penalty_words(repetition: float, frequency: float, presence: float) -> str:
    """"repetition 1.2, frequency 0.5": the penalties that are on."""
    parts = [f"repetition {repetition:g}"] if repetition != 1.0 else []
    parts += [f"{name} {value:g}" for name, value in (("frequency", frequency), ("presence", presence)) if value]
    return ", ".join(parts)


@dataclass(frozen=True)
class NoRepeatNGram(Processor):
    """HF's ``NoRepeatNGramLogitsProcessor``: a token that would repeat an n-gram gets -inf."""

    name = "no_repeat_ngram_size"
    no_repeat_ngram_size: int = 0

    def __post_init__(self):
        object.__setattr__(self, "no_repeat_ngram_size", check_count(
            self.no_repeat_ngram_size, "no_repeat_ngram_size",
            "0 turns n-gram blocking off; 3 forbids repeating any 3 tokens in a row.",
        ))

    @property
    def active(self) -> bool:
        return self.no_repeat_ngram_size > 0

    @property
    def label(self) -> str:
        return f"no-repeat {self.no_repeat_ngram_size}-gram"

    def __call__(self, logits, histories):
        for row, history in zip(logits, histories):
            row[ngram_bans(history.all, self.no_repeat_ngram_size)] = -np.inf
        return logits


def ngram_bans(ids: np.ndarray, n: int) -> np.ndarray:
    """Tokens that would complete an n-gram already present in `ids` (NoRepeatNGramLogitsProcessor)."""
    if len(ids) < n:
        return NO_IDS
    windows = np.lib.stride_tricks.sliding_window_view(ids, n)
    prefix = ids[len(ids) - n + 1 :]
    return windows[(windows[:, :-1] == prefix).all(axis=1), -1]


@dataclass(frozen=True)
class MinNewTokens(Processor):
    """HF's ``MinNewTokensLengthLogitsProcessor``: the end-of-text tokens get -inf until
    ``min_new_tokens`` tokens have been generated (vLLM calls it ``min_tokens``)."""

    name = "min_new_tokens"
    min_new_tokens: int = 0
    eos_ids: frozenset[int] = frozenset()  # the model's, given by the generation that builds the chain

    def __post_init__(self):
        object.__setattr__(self, "min_new_tokens", check_count(
            self.min_new_tokens, "min_new_tokens",
            "It is how many tokens must be generated before the end-of-text token may be chosen (0: any time).",
        ))

    @property
    def active(self) -> bool:
        return self.min_new_tokens > 0

    @property
    def label(self) -> str:
        return f"no end before {self.min_new_tokens} tokens"

    def __call__(self, logits, histories: Sequence[History]):
        if not self.eos_ids:
            raise ValueError(
                "min_new_tokens needs the model's end-of-text tokens; it is a setting of generate(), "
                "which knows them."
            )
        eos = np.fromiter(self.eos_ids, dtype=np.int64)
        for row, history in zip(logits, histories):
            if len(history.generated) < self.min_new_tokens:
                row[eos] = -np.inf
        return logits
