"""Numbers printed with few enough digits that every machine prints the same."""

import numpy as np
import pytest

from course_utils.display import significant


@pytest.mark.parametrize(
    "value, digits, text",
    [
        (21988.6, 2, "22,000"),
        (432.4, 2, "430"),
        (4.41, 2, "4.4"),
        (0.0645, 2, "0.065"),
        (0.7726, 3, "0.773"),
        (1.0, 2, "1.0"),
        (-1234.5, 3, "-1,230"),
        (0, 2, "0"),
        (np.float32(17.371), 3, "17.4"),
    ],
)
def test_significant_rounds_to_significant_digits_in_plain_notation(value, digits, text):
    assert significant(value, digits) == text


@pytest.mark.parametrize(
    "value, digits, error, words",
    [
        ("3", 2, TypeError, "value must be a number"),
        (True, 2, TypeError, "value must be a number"),
        (float("nan"), 2, ValueError, "finite"),
        (1.0, 0, ValueError, "digits"),
        (1.0, 2.5, TypeError, "digits"),
    ],
)
def test_bad_input_says_what_is_expected(value, digits, error, words):
    with pytest.raises(error, match=words):
        significant(value, digits)
