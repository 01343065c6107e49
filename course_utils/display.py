"""Numbers as the lessons print them: few enough digits that every machine prints the same.

The model's logits differ between machines in their 5th-6th significant digit (CPU and BLAS
kernels round differently), so a lesson never prints a model-derived number with more digits
than that noise leaves untouched. `significant` rounds to significant digits and prints the
result in plain notation, with thousands separators, as a reader would write it.
"""

from __future__ import annotations

import math

from course_utils import checks

__all__ = ["significant"]


def significant(value, digits: int = 2) -> str:
    """`value` rounded to `digits` significant digits, in plain notation: 21988.6 -> '22,000'.

    0.0645 -> '0.065', 432.4 -> '430', 4.41 -> '4.4', 0 -> '0'.
    """
    if not checks.is_real(value):
        raise TypeError(f"value must be a number, got {type(value).__name__}: {value!r}.")
    digits = checks.whole_number(digits, "digits", minimum=1)
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"value must be finite to be rounded, got {value!r}.")
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    decimals = digits - 1 - exponent
    rounded = round(value, decimals)
    return f"{rounded:,.{max(decimals, 0)}f}"
