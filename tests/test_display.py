"""Numbers printed with few enough digits that every machine prints the same."""

import numpy as np
import pytest

from course_utils.display import replication_table, significant, token_logprobs, tokens_only_in, top_tokens


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


def _results(paper_rows):
    metrics = {"repetition_pct": 50.0, "perplexity": 1.634, "distinct_2": 0.2912, "self_bleu_4": 0.1148}
    return {
        "paper": {"table1": {**paper_rows, "human": {"perplexity": 12.38}}},
        "methods": {"greedy": {"label": "Greedy", "metrics": metrics},
                    "min_p_0.1": {"label": "Min-p 0.1", "metrics": metrics}},
    }


def test_replication_table_puts_the_paper_beside_each_method_it_measured():
    lines = replication_table(_results({"greedy": {"repetition_pct": 73.66, "perplexity": 1.5}})).splitlines()
    assert lines[0].startswith("method") and lines[0].endswith("paper: loops %, perplexity")
    assert lines[1] == "Greedy                            50.0       1.63      0.291       0.115   73.66, 1.50"
    assert lines[2].endswith("   —")  # the paper has no min-p row
    assert lines[3].startswith("human text") and lines[3].endswith("—, 12.38")


def test_replication_table_names_the_file_it_wants():
    with pytest.raises(ValueError, match="replicate_holtzman.py"):
        replication_table({"methods": {}})


def test_tokens_only_in_lists_what_the_other_distribution_removed():
    names = ["a", "b", "c", "d"].__getitem__
    mine, other = [0.5, 0.3, 0.2, 0.0], [1.0, 0.0, 0.0, 0.0]
    assert tokens_only_in(mine, other, names) == "'b' 30.0%, 'c' 20.0%"
    assert tokens_only_in(mine, other, names, limit=1) == "'b' 30.0% ..."
    assert tokens_only_in(other, mine, names) == "(none)"
    with pytest.raises(ValueError, match="same vocabulary"):
        tokens_only_in(mine, other[:3], names)
    with pytest.raises(ValueError, match="limit"):
        tokens_only_in(mine, other, names, limit=0)


def test_top_tokens_lists_the_most_likely_with_two_significant_digits():
    probs = np.array([0.05, 0.7734, 0.0651, 0.1115])
    assert top_tokens(probs, lambda i: "abcd"[i], n=3) == "'b' 77%, 'd' 11%, 'c' 6.5%"
    with pytest.raises(ValueError, match="1-D"):
        top_tokens(np.ones((2, 2)), str)


def test_token_logprobs_rounds_to_one_decimal_without_a_negative_zero():
    assert token_logprobs(np.array([-1e-11, -2.74, -41.26]), [0, 1, 2], "abc".__getitem__) == "'a' 0.0, 'b' -2.7, 'c' -41.3"


def test_token_logprobs_leaves_out_a_masked_token():
    from course_utils.display import token_logprobs

    logprobs = np.array([-np.inf, np.log(0.75), np.log(0.25)])
    assert token_logprobs(logprobs, [1, 0, 2], lambda i: "abc"[i]) == "'b' -0.3, 'c' -1.4"


def test_a_chance_reads_as_a_learner_can_believe_it():
    from course_utils.display import chance

    assert chance(0.138) == "14%" and chance(0.029) == "2.9%" and chance(0.0) == "0%" and chance(1.0) == "100%"
    assert chance(4.2e-4) == "1 in 2,400"  # never a flat "0.0%" for a chance that is not zero
    assert chance(0.9996) == "over 99%"  # and never a rounded "100%" for one that is not certain
    assert chance(3e-9) == "under 1 in 10 million"
    with pytest.raises(ValueError, match="probability must be between 0 and 1"):
        chance(1.5)
