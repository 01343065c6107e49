"""Unit tests for course_utils.degeneration, with values checked by hand (worked in comments).

The BLEU implementation was also compared with NLTK 3.10's ``sentence_bleu`` with
``SmoothingFunction().method1`` on 2,000 random cases (max difference 1e-16); NLTK is not a
course dependency, so that comparison is not repeated here: the hand-worked cases below pin the
same behaviour (clipping, smoothing, brevity penalty).
"""

import math

import numpy as np
import pytest

from course_utils.degeneration import (
    PAPER_TABLE1,
    Loop,
    distinct_n,
    loop_at_end,
    ngrams,
    perplexity,
    repetition_rate,
    self_bleu,
    sentence_bleu,
)

# --- loop_at_end / repetition_rate ------------------------------------------------------------


def test_phrase_repeated_twice_is_a_loop():
    phrase = [10, 11, 12, 13, 14]
    assert loop_at_end([1, 2, 3] + phrase * 2) == Loop(period=5, span=10)


def test_loop_cut_off_part_way_through_a_period_still_counts():
    # 5-token unit, twice, then 2 tokens of a third repeat: periodic tail of 12 tokens.
    seq = [1, 2] + [10, 11, 12, 13, 14] * 2 + [10, 11]
    loop = loop_at_end(seq)
    assert loop == Loop(period=5, span=12)
    assert loop.repeats == pytest.approx(2.4)


def test_smallest_period_is_reported():
    # [7, 8] * 6 is also periodic with period 4 and 6; the unit is the pair.
    assert loop_at_end([1] + [7, 8] * 6) == Loop(period=2, span=12)


def test_short_echo_is_not_a_loop():
    assert loop_at_end([5, 6, 9, 9]) is None  # "very very": 2 tokens < min_span 8
    assert loop_at_end([1, 2, 3, 4, 5, 6, 7, 8]) is None


def test_min_span_boundary():
    assert loop_at_end([1] + [4] * 7) is None  # 7 repeats of one token
    assert loop_at_end([1] + [4] * 8) == Loop(period=1, span=8)
    assert loop_at_end([1] + [4] * 7, min_span=7) == Loop(period=1, span=7)


def test_repetition_in_the_middle_does_not_count():
    assert loop_at_end([3, 4, 5] * 4 + [1, 2, 6, 7, 8, 9]) is None


def test_loop_needs_two_full_periods():
    # A 6-token phrase appears 1.5 times at the end: not yet a loop.
    assert loop_at_end([1, 2, 3, 4, 5, 6, 1, 2, 3]) is None


def test_empty_and_tiny_sequences():
    assert loop_at_end([]) is None
    assert loop_at_end([4]) is None


def test_repetition_rate_is_a_percentage():
    looping = [1, 2] + [3] * 10
    clean = list(range(12))
    assert repetition_rate([looping, clean, clean, clean]) == 25.0
    assert repetition_rate([looping]) == 100.0


@pytest.mark.parametrize(
    "bad, exc",
    [("hello", TypeError), ([[1, 2], [3, 4]], ValueError), ([1.5, 2.0], TypeError)],
)
def test_loop_at_end_bad_input(bad, exc):
    with pytest.raises(exc, match="token_ids"):
        loop_at_end(bad)


def test_bad_min_span_and_empty_rate():
    with pytest.raises(ValueError, match="min_span"):
        loop_at_end([1, 2, 3], min_span=1)
    with pytest.raises(ValueError, match="empty"):
        repetition_rate([])


# --- distinct-n ----------------------------------------------------------------------------


def test_ngrams():
    assert ngrams([1, 2, 3], 2) == [(1, 2), (2, 3)]
    assert ngrams([1, 2], 3) == []


def test_distinct_2_hand_checked():
    # bigrams: (1,2) (2,1) (1,2) | (1,2) (2,3)  -> 5 bigrams, 3 distinct: (1,2) (2,1) (2,3)
    assert distinct_n([[1, 2, 1, 2], [1, 2, 3]], n=2) == pytest.approx(3 / 5)


def test_distinct_1_of_a_loop_and_of_fresh_text():
    assert distinct_n([[7] * 10], n=1) == pytest.approx(0.1)
    assert distinct_n([list(range(10))], n=1) == 1.0


def test_distinct_n_bad_input():
    with pytest.raises(ValueError, match="n=3"):
        distinct_n([[1, 2]], n=3)
    with pytest.raises(ValueError, match="n must be"):
        distinct_n([[1, 2]], n=0)


# --- BLEU / Self-BLEU ----------------------------------------------------------------------


def test_bleu_identical_is_one():
    assert sentence_bleu([1, 2, 3, 4, 5], [[1, 2, 3, 4, 5]]) == pytest.approx(1.0)


def test_bleu_one_token_changed():
    # p1 = 5/6, p2 = 4/5, p3 = 3/4, p4 = 2/3; product = 1/3; equal lengths so no penalty.
    assert sentence_bleu([1, 2, 3, 4, 5, 7], [[1, 2, 3, 4, 5, 6]]) == pytest.approx(
        (1 / 3) ** 0.25
    )


def test_bleu_short_hypothesis_smoothing_and_brevity():
    # p1 = p2 = p3 = 1; no 4-grams: smoothed to 0.1/1; brevity exp(1 - 5/3).
    expected = 0.1**0.25 * math.exp(1 - 5 / 3)
    assert sentence_bleu([1, 2, 3], [[1, 2, 3, 4, 5]]) == pytest.approx(expected)
    assert expected == pytest.approx(0.288716, abs=1e-6)


def test_bleu_clips_counts():
    # hyp [1,1,2,2] vs ref [1,1,1,1]: p1 = 2/4 (two 2s unmatched), p2 = 1/3 ((1,1) once),
    # p3 = 0 -> 0.1/2, p4 = 0 -> 0.1/1.
    expected = (0.5 * (1 / 3) * 0.05 * 0.1) ** 0.25
    assert sentence_bleu([1, 1, 2, 2], [[1, 1, 1, 1]]) == pytest.approx(expected)


def test_bleu_clips_to_the_best_reference_per_ngram():
    # hyp [5,5]: ref A has one 5, ref B has two -> clipped unigram count 2 (max over refs).
    # p1 = 1, p2: (5,5) in B -> 1; p3, p4 smoothed 0.1/1; length 2 == closest ref 2: no penalty.
    assert sentence_bleu([5, 5], [[5, 6], [5, 5]]) == pytest.approx((0.1 * 0.1) ** 0.25)


def test_bleu_no_unigram_match_is_zero():
    assert sentence_bleu([8, 9], [[1, 2, 3]]) == 0.0


def test_self_bleu():
    same = [1, 2, 3, 4, 5]
    assert self_bleu([same, same, same]) == pytest.approx(1.0)
    assert self_bleu([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]) == 0.0
    # Each of the two is the other's only reference: both scores are (1/3) ** 0.25.
    assert self_bleu([[1, 2, 3, 4, 5, 7], [1, 2, 3, 4, 5, 6]]) == pytest.approx((1 / 3) ** 0.25)


def test_self_bleu_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        self_bleu([[1, 2, 3]])
    with pytest.raises(ValueError, match="references"):
        sentence_bleu([1, 2], [])


# --- perplexity ----------------------------------------------------------------------------


def test_perplexity_of_a_uniform_choice_is_the_number_of_choices():
    assert perplexity(np.log([0.25, 0.25, 0.25])) == pytest.approx(4.0)


def test_perplexity_is_the_geometric_mean_inverse_probability():
    # probs 1/2 and 1/8: mean log = log(1/16)/2 -> perplexity 4.
    assert perplexity([math.log(0.5), math.log(0.125)]) == pytest.approx(4.0)
    assert perplexity([0.0, 0.0]) == 1.0


def test_perplexity_bad_input():
    with pytest.raises(ValueError, match="empty"):
        perplexity([])
    with pytest.raises(ValueError, match="probabilities instead"):
        perplexity([0.5, 0.25])
    with pytest.raises(ValueError, match="nan"):
        perplexity([float("nan")])


# --- reference data -----------------------------------------------------------------------


def test_paper_numbers():
    assert PAPER_TABLE1["greedy"] == {"repetition_pct": 73.66, "perplexity": 1.50}
    assert PAPER_TABLE1["pure_sampling"] == {"repetition_pct": 0.22, "perplexity": 22.73}
    assert PAPER_TABLE1["top_p_0.95"] == {"repetition_pct": 0.36, "perplexity": 13.13}
    assert PAPER_TABLE1["top_k_40"] == {"repetition_pct": 0.78, "perplexity": 6.88}
    assert PAPER_TABLE1["beam_search_16"] == {"repetition_pct": 28.94, "perplexity": 1.48}
    assert PAPER_TABLE1["human"] == {"perplexity": 12.38}
