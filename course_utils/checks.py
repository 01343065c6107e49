"""Checks of what a learner passes in: one rule for the whole of course_utils.

The rule, everywhere:

* a value of the wrong kind -- text where a number belongs, 2.5 where a whole number belongs,
  ``True`` where a count belongs -- raises ``TypeError``;
* a value of the right kind outside its range (a negative count, a NaN, a probability above 1)
  raises ``ValueError``;
* numpy numbers are numbers (``np.int64(3)`` is a whole number, ``np.float32(0.5)`` a real one),
  but a ``bool`` never is, although Python treats ``True`` as 1: passing ``True`` for a count is
  always a slip, and saying so is kinder than computing with it.

Every message names the parameter, shows the value it got and says what to pass instead; callers
add that last part as ``hint``, in the words of their lesson.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

__all__ = ["is_real", "is_whole", "whole_number", "real_number", "fraction", "token_ids"]


def is_real(value) -> bool:
    """True for ints, floats and numpy numbers; False for bools, text and everything else."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_whole(value) -> bool:
    """True for ints and numpy integers; False for bools, floats (even 3.0) and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _with_hint(message: str, hint: str) -> str:
    return f"{message} {hint}".rstrip() if hint else message


def _range_words(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f"from {minimum} to {maximum}"
    if minimum is not None:
        return f">= {minimum}"
    if maximum is not None:
        return f"<= {maximum}"
    return ""


def whole_number(value, name: str, *, minimum: int | None = None, maximum: int | None = None, hint: str = "") -> int:
    """``value`` as an int, if it is a whole number within [minimum, maximum]; else a clear error."""
    wanted = f"a whole number {_range_words(minimum, maximum)}".rstrip()
    if not is_whole(value):
        raise TypeError(_with_hint(f"{name} must be {wanted}, got {value!r}.", hint))
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(_with_hint(f"{name} must be {wanted}, got {value!r}.", hint))
    return int(value)


def real_number(value, name: str, *, minimum: float | None = None, maximum: float | None = None, hint: str = "") -> float:
    """``value`` as a float, if it is a finite number within [minimum, maximum]; else a clear error."""
    wanted = f"a finite number {_range_words(minimum, maximum)}".rstrip()
    if not is_real(value):
        raise TypeError(_with_hint(f"{name} must be {wanted}, got {value!r}.", hint))
    number = float(value)
    if not math.isfinite(number) or (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(_with_hint(f"{name} must be {wanted}, got {value!r}.", hint))
    return number


def fraction(value, name: str, *, hint: str = "") -> float:
    """``value`` as a float in [0, 1] (a probability or a share); else a clear error."""
    if not is_real(value):
        raise TypeError(_with_hint(f"{name} must be a number between 0 and 1, got {value!r}.", hint))
    number = float(value)
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise ValueError(_with_hint(f"{name} must be between 0 and 1, got {value!r}.", hint))
    return number


def token_ids(ids: Iterable, vocab_size: int, name: str, *, allow_empty: bool = False) -> list[int]:
    """``ids`` as a list of ints, each a token id in [0, vocab_size); else an error naming the position."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (Iterable, np.ndarray)):
        raise TypeError(f"{name} must be a list of token ids (ints), got {type(ids).__name__}: {ids!r}.")
    checked = []
    for position, token_id in enumerate(ids):
        if not is_whole(token_id):
            raise TypeError(f"{name}[{position}] = {token_id!r} is not a token id (an int).")
        if not 0 <= token_id < vocab_size:
            raise ValueError(f"{name}[{position}] = {token_id} is not a token id; ids go from 0 to {vocab_size - 1}.")
        checked.append(int(token_id))
    if not checked and not allow_empty:
        raise ValueError(f"{name} is an empty list of token ids; the model needs at least one token.")
    return checked
