"""What every processor shares: the logits it is given, the token history it may read, its shape.

A *processor* is one dial of the chain (HF's ``LogitsProcessor`` is the anchor): constructed once
from the dial's value, which it checks with a learner-facing message; then called on the logits
of every step. Stateless processors are frozen dataclasses. A processor that keeps state from
step to step (a grammar's position today) is told which token was chosen through ``advance``,
and a generation can save and restore that state (``state`` / ``restore``) to roll back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, NamedTuple

import numpy as np

from course_utils import checks


class History(NamedTuple):
    """The token ids one row of logits follows: the prompt, then what was generated."""

    prompt: np.ndarray
    generated: np.ndarray

    @property
    def all(self) -> np.ndarray:
        return np.concatenate([self.prompt, self.generated])


NO_IDS = np.zeros(0, dtype=np.int64)
NO_HISTORY = History(NO_IDS, NO_IDS)


class Processor:
    """One dial: a transform of the logits (shape ``(rows, V)``, float64, one History per row).

    Processors before temperature (``before_temperature = True``) may change the rows in place:
    the chain hands them its own copy. The truncation processors return a new array.
    """

    name: ClassVar[str]
    before_temperature: ClassVar[bool] = True

    def __call__(self, logits: np.ndarray, histories: Sequence[History]) -> np.ndarray:
        raise NotImplementedError

    @property
    def active(self) -> bool:
        """False when the dial is at its "off" value and the processor would change nothing."""
        return True

    @property
    def label(self) -> str:
        """For plot titles, e.g. "top-p 0.9" or "repetition 1.2"."""
        raise NotImplementedError

    @property
    def keeps_order(self) -> bool:
        """True if it never changes which of two logits is larger (or makes them equal)."""
        return False

    @property
    def slope(self) -> float:
        """The most a change of an input logit can be magnified in its output (for draw margins)."""
        return 1.0

    def fresh(self) -> Processor:
        """This processor with its state as at the start (a generation builds one per row); a
        stateless processor is its own."""
        return self

    def advance(self, token_id: int) -> None:
        """The chain chose `token_id`: a stateful processor moves on (a stateless one ignores it)."""

    def state(self):
        """What `restore` needs to bring this processor back to now (None: it has no state)."""
        return None

    def restore(self, state) -> None:
        """Go back to a `state` this processor returned earlier."""


# ---- checking what a learner passes in -------------------------------------------------------


def check_logits(logits, name: str = "logits", axis: int = -1, keep_dtype: bool = False) -> np.ndarray:
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


def check_token_ids(ids, name: str) -> np.ndarray:
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


def check_in_vocabulary(ids: np.ndarray, name: str, vocab: int) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        bad = int(ids[(ids < 0) | (ids >= vocab)][0])
        raise ValueError(f"{name} contains {bad}, which is not a token id: these logits have ids 0 to {vocab - 1}.")


def check_histories(prompt_ids, generated_ids, shape: tuple[int, ...]) -> list[History]:
    """One History per row of logits with `shape`; ids are checked against the vocabulary."""
    vocab, n_rows = shape[-1], int(np.prod(shape[:-1], dtype=np.int64))

    def per_row(ids, name: str) -> list[np.ndarray]:
        if ids is None:
            return [NO_IDS] * n_rows
        if len(shape) == 1:
            rows = [check_token_ids(ids, name)]
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
            rows = [check_token_ids(row, f"{name}[{i}]") for i, row in enumerate(ids)]
        for row in rows:
            check_in_vocabulary(row, name, vocab)
        return rows

    return [History(p, g) for p, g in zip(per_row(prompt_ids, "prompt_ids"), per_row(generated_ids, "generated_ids"))]


def check_count(value, name: str, off: str) -> int:
    """A whole number >= 0 (a size or a window; 0 is "off"), or an error that says what it does."""
    if not checks.is_whole(value):
        raise TypeError(f"{name} must be a whole number >= 0, got {value!r}. {off}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}. {off}")
    return int(value)
