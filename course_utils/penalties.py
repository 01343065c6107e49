"""The stage every library runs on the raw logits before temperature and truncation.

In order: ``allowed_token_ids`` (vLLM's whitelist), ``logit_bias`` (OpenAI's), the repetition
penalties, and ``no_repeat_ngram_size`` (Hugging Face's n-gram blocking); ``ecosystem.PENALTIES``
records where each library puts them, with sources. The penalties read the token ids seen so far
(a `History` per row of logits):

* ``order="transformers"``: ``repetition_penalty`` is Hugging Face's ``RepetitionPenaltyLogitsProcessor``
  over prompt + generated ids; ``frequency_penalty`` and ``presence_penalty`` are OpenAI's (and
  vLLM's), counted over the generated ids only;
* ``order="llama.cpp"``: llama.cpp's penalties sampler: all three count the last ``repeat_last_n``
  ids of prompt + generated (64 by default, 0 turns them off).

The public entry points are in `course_utils.sampling` (``penalize_logits`` and the ``**settings``
of every sampling function); this module holds the stage's checks and arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from course_utils import checks


def check_penalties(
    *, repetition_penalty, frequency_penalty, presence_penalty, no_repeat_ngram_size, repeat_last_n,
    logit_bias, allowed_token_ids, order: str,
) -> Penalties:
    """The stage's settings, each checked, for the chain ``order`` (an order `sampling` has checked)."""
    if order == "transformers" and repeat_last_n != 64:
        raise ValueError(
            f"repeat_last_n={repeat_last_n!r} is llama.cpp's window and only applies with order='llama.cpp'; "
            "with order='transformers' the repetition penalty counts the whole text, as Hugging Face does."
        )
    return Penalties(
        _check_repetition_penalty(repetition_penalty),
        _check_openai_penalty(frequency_penalty, "frequency_penalty"),
        _check_openai_penalty(presence_penalty, "presence_penalty"),
        _check_count(no_repeat_ngram_size, "no_repeat_ngram_size", "0 turns n-gram blocking off; 3 forbids repeating any 3 tokens in a row."),
        _check_count(repeat_last_n, "repeat_last_n", "It is how many of the last tokens llama.cpp's penalties look at (64 by default; 0 turns them off)."),
        _check_logit_bias(logit_bias),
        _check_allowed_token_ids(allowed_token_ids),
    )


def _check_repetition_penalty(value) -> float:
    if not checks.is_real(value):
        raise TypeError(f"repetition_penalty must be a number > 0 (such as 1.2; 1.0 is off), got {value!r}.")
    v = float(value)
    if not (v > 0 and np.isfinite(v)):  # also rejects NaN
        raise ValueError(
            f"repetition_penalty must be a finite number > 0, got {value!r}. 1.0 turns it off; above 1 "
            "makes tokens already in the text less likely (1.2 is a common choice), below 1 more likely."
        )
    return v


def _check_openai_penalty(value, name: str) -> float:
    if not checks.is_real(value):
        raise TypeError(f"{name} must be a number between -2 and 2 (0 is off), got {value!r}.")
    v = float(value)
    if not -2.0 <= v <= 2.0:  # also rejects NaN
        raise ValueError(
            f"{name} must be between -2 and 2 (OpenAI's range), got {value!r}. 0 turns it off; "
            "positive values make tokens already generated less likely."
        )
    return v


def _check_count(value, name: str, off: str) -> int:
    if not checks.is_whole(value):
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
        if not checks.is_whole(token_id):
            raise TypeError(f"logit_bias keys must be token ids (ints), got the key {token_id!r}.")
        if not checks.is_real(bias) or not -100.0 <= float(bias) <= 100.0:
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
        bad = next((i for i in array if not checks.is_whole(i)), ids)
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


class Penalties(NamedTuple):
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




# -- the stage, row by row ----------------------------------------------------------------------


class History(NamedTuple):
    """The token ids one row of logits follows: the prompt, then what was generated."""

    prompt: np.ndarray
    generated: np.ndarray

    @property
    def all(self) -> np.ndarray:
        return np.concatenate([self.prompt, self.generated])


_NO_IDS = np.zeros(0, dtype=np.int64)


def check_histories(prompt_ids, generated_ids, shape: tuple[int, ...]) -> list[History]:
    """One History per row of logits with `shape`; ids are checked against the vocabulary."""
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

    return [History(p, g) for p, g in zip(per_row(prompt_ids, "prompt_ids"), per_row(generated_ids, "generated_ids"))]


def _check_in_vocabulary(ids: np.ndarray, name: str, vocab: int) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        bad = int(ids[(ids < 0) | (ids >= vocab)][0])
        raise ValueError(f"{name} contains {bad}, which is not a token id: these logits have ids 0 to {vocab - 1}.")


def penalize(x: np.ndarray, histories: list[History], p: Penalties, order: str) -> np.ndarray:
    """The logits after the stage before the chain, one row per history; `x` is left unchanged."""
    vocab = x.shape[-1]
    if p.allowed_token_ids is not None:
        _check_in_vocabulary(p.allowed_token_ids, "allowed_token_ids", vocab)
    if p.logit_bias is not None:
        _check_in_vocabulary(p.logit_bias[0], "logit_bias", vocab)
    rows = x.reshape(-1, vocab).copy()
    for row, history in zip(rows, histories):
        _penalize_row(row, history, p, order)
    if np.isneginf(rows.max(axis=-1)).any():
        raise ValueError(
            "every entry of a row of logits is -inf after allowed_token_ids, logit_bias and the "
            f"penalties (no_repeat_ngram_size={p.no_repeat_ngram_size}), so every token is masked and no "
            "probability distribution exists. Allow more tokens or use a larger no_repeat_ngram_size."
        )
    return rows.reshape(x.shape)


def _penalize_row(x: np.ndarray, history: History, p: Penalties, order: str) -> None:
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



def penalty_label(p: Penalties, order: str) -> str:
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
