"""The one rule for what a learner passes in: wrong kind -> TypeError, wrong range -> ValueError."""

import numpy as np
import pytest

from course_utils import checks


@pytest.mark.parametrize("value", [3, np.int64(3), np.int8(3), np.uint16(3)])
def test_numpy_integers_are_whole_numbers(value):
    assert checks.whole_number(value, "n", minimum=1) == 3
    assert type(checks.whole_number(value, "n")) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 3.0, np.float64(3.0), "3", None, [3]])
def test_anything_else_is_the_wrong_kind(value):
    with pytest.raises(TypeError, match=r"^n must be a whole number >= 1, got .*\. Try 3\.$"):
        checks.whole_number(value, "n", minimum=1, hint="Try 3.")


@pytest.mark.parametrize("value, words", [(0, "from 1 to 5"), (6, "from 1 to 5")])
def test_out_of_range_is_a_value_error_naming_the_range(value, words):
    with pytest.raises(ValueError, match=f"n must be a whole number {words}, got {value}"):
        checks.whole_number(value, "n", minimum=1, maximum=5)


@pytest.mark.parametrize("value", [0.5, np.float32(0.5), 1, np.int64(1)])
def test_real_numbers_include_numpy_and_ints(value):
    assert checks.real_number(value, "t", minimum=0) == float(value)


@pytest.mark.parametrize("value, error", [(True, TypeError), ("0.5", TypeError), (float("nan"), ValueError),
                                          (float("inf"), ValueError), (-0.1, ValueError)])
def test_real_number_refuses_bools_text_nan_inf_and_out_of_range(value, error):
    with pytest.raises(error, match="t must be a finite number >= 0"):
        checks.real_number(value, "t", minimum=0)


@pytest.mark.parametrize("value, error", [(1.5, ValueError), (float("nan"), ValueError), (False, TypeError)])
def test_fraction(value, error):
    assert checks.fraction(np.float32(0.25), "p") == 0.25
    with pytest.raises(error, match="p must be"):
        checks.fraction(value, "p")


def test_token_ids_name_the_position_and_the_range():
    assert checks.token_ids(np.array([1, 2]), 5, "ids") == [1, 2]
    assert checks.token_ids([], 5, "ids", allow_empty=True) == []
    with pytest.raises(ValueError, match=r"ids\[1\] = 5 is not a token id; ids go from 0 to 4"):
        checks.token_ids([0, 5], 5, "ids")
    with pytest.raises(TypeError, match=r"ids\[0\] = True is not a token id"):
        checks.token_ids([True], 5, "ids")
    with pytest.raises(TypeError, match="must be a list of token ids"):
        checks.token_ids("hello", 5, "ids")
    with pytest.raises(ValueError, match="empty"):
        checks.token_ids([], 5, "ids")
