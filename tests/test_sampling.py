"""Hand-checked values, limits and error messages of course_utils.sampling."""

import os

import numpy as np
import pytest

from course_utils.sampling import (
    Draw,
    NearTieError,
    draw_next_token,
    entropy,
    log_softmax,
    min_p_filter,
    next_token_distribution,
    sample_next_token,
    sampling_stages,
    softmax,
    top_k_filter,
    top_p_filter,
)

SEED_LOGITS = [1.1, 0.5, 0.85, 0.97, 1.2, 0.3]
INF = np.inf


# --- published tables, to 2 decimals -------------------------------------------------------


@pytest.mark.parametrize(
    "logits, temperature, expected",
    [
        (SEED_LOGITS, 1.0, [0.21, 0.12, 0.16, 0.18, 0.23, 0.09]),
        (SEED_LOGITS, 1.95, [0.19, 0.14, 0.17, 0.18, 0.20, 0.13]),
        ([1.1, 0.7, 0.85, 0.9, 1.02], 0.2, [0.41, 0.06, 0.12, 0.15, 0.27]),
    ],
)
def test_published_tables(logits, temperature, expected):
    assert np.round(softmax(logits, temperature), 2).tolist() == expected


def test_worked_example_abc():
    # logits A=2.0, B=1.0, C=0.1: the values many tutorials get wrong.
    assert np.round(softmax([2.0, 1.0, 0.1]), 3).tolist() == [0.659, 0.242, 0.099]
    assert np.round(softmax([2.0, 1.0, 0.1], 0.5), 3).tolist() == [0.864, 0.117, 0.019]
    assert np.round(softmax([2.0, 1.0, 0.1], 2.0), 3).tolist() == [0.502, 0.304, 0.194]


# --- numerical stability --------------------------------------------------------------------


def test_softmax_large_logits_do_not_overflow():
    p = softmax([1000.0, 999.0])
    np.testing.assert_allclose(p, [0.7310585786, 0.2689414214], rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32])
def test_softmax_accepts_common_dtypes(dtype):
    p = softmax(np.array([3, 1, 0], dtype=dtype))
    np.testing.assert_allclose(p, softmax([3.0, 1.0, 0.0]), rtol=1e-3)
    assert p.dtype == np.float64


def test_masked_tokens_get_zero_probability_and_minus_inf_logprob():
    p = softmax([0.0, -INF, 1.0])
    assert p[1] == 0.0
    np.testing.assert_allclose(p.sum(), 1.0)
    lp = log_softmax([0.0, -INF, 1.0])
    assert lp[1] == -INF
    np.testing.assert_allclose(np.exp(lp), p)


def test_log_softmax_is_log_of_softmax_for_extreme_values():
    lp = log_softmax([1000.0, 0.0])
    np.testing.assert_allclose(lp, [0.0, -1000.0], atol=1e-12)


def test_axis_argument():
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(softmax(x, axis=0), softmax(x.T).T)
    np.testing.assert_allclose(softmax(x, axis=0).sum(axis=0), [1.0, 1.0])


# --- temperature limits -------------------------------------------------------------------


def test_temperature_zero_is_greedy_with_ties_split():
    assert softmax([1.0, 3.0, 2.0], 0).tolist() == [0.0, 1.0, 0.0]
    assert softmax([3.0, 1.0, 3.0], 0).tolist() == [0.5, 0.0, 0.5]


@pytest.mark.parametrize("temperature", [1e-300, 5e-324])
def test_tiny_temperature_reaches_the_greedy_limit(temperature):
    assert softmax([1.0, 3.0, 2.0], temperature).tolist() == [0.0, 1.0, 0.0]


def test_huge_temperature_reaches_uniform_over_unmasked():
    p = softmax([1.0, -INF, 50.0, -3.0], 1e300)
    np.testing.assert_allclose(p, [1 / 3, 0.0, 1 / 3, 1 / 3])


def test_greedy_sample_returns_first_argmax_without_drawing():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert sample_next_token([3.0, 5.0, 5.0], rng=rng, temperature=0) == 1
    assert rng.bit_generator.state == state


# --- entropy --------------------------------------------------------------------------------


def test_entropy_in_bits():
    assert entropy([0.5, 0.5]) == 1.0
    assert entropy([0.25] * 4) == 2.0
    assert entropy([1.0, 0.0, 0.0]) == 0.0
    np.testing.assert_allclose(entropy([[0.5, 0.5], [1.0, 0.0]]), [1.0, 0.0])


# --- filters --------------------------------------------------------------------------------


def test_top_k_keeps_ties_at_the_kth_value():
    out = top_k_filter([1.0, 3.0, 2.0, 2.0, 0.0], top_k=2)
    assert out.tolist() == [-INF, 3.0, 2.0, 2.0, -INF]


def test_top_k_zero_and_oversized_are_no_ops():
    x = [1.0, 3.0, 2.0]
    assert top_k_filter(x, 0).tolist() == x
    assert top_k_filter(x, 10).tolist() == x


def test_top_k_respects_min_tokens_to_keep():
    assert top_k_filter([1.0, 3.0, 2.0], 1, min_tokens_to_keep=2).tolist() == [-INF, 3.0, 2.0]


def test_top_p_keeps_smallest_set_reaching_p():
    logits = np.log([0.5, 0.3, 0.15, 0.05])
    kept = lambda p: np.isfinite(top_p_filter(logits, p)).tolist()  # noqa: E731
    assert kept(0.5) == [True, False, False, False]
    assert kept(0.6) == [True, True, False, False]
    assert kept(0.9) == [True, True, True, False]
    assert kept(0.99) == [True, True, True, True]
    assert kept(0.0) == [True, False, False, False]
    assert kept(1.0) == [True, True, True, True]


def test_top_p_min_tokens_to_keep():
    logits = np.log([0.7, 0.2, 0.1])
    assert np.isfinite(top_p_filter(logits, 0.5, min_tokens_to_keep=2)).tolist() == [True, True, False]


def test_min_p_threshold_is_relative_to_top_token():
    logits = np.log([0.5, 0.3, 0.15, 0.05])
    assert np.isfinite(min_p_filter(logits, 0.2)).tolist() == [True, True, True, False]
    assert np.isfinite(min_p_filter(logits, 0.5)).tolist() == [True, True, False, False]
    assert np.isfinite(min_p_filter(logits, 1.0)).tolist() == [True, False, False, False]
    assert np.isfinite(min_p_filter(logits, 1.0, min_tokens_to_keep=3)).tolist() == [True, True, True, False]


def test_filters_work_on_batches_row_by_row():
    x = np.array([[1.0, 3.0, 2.0], [5.0, 4.0, -1.0]])
    assert top_k_filter(x, 1).tolist() == [[-INF, 3.0, -INF], [5.0, -INF, -INF]]


# --- the chain ------------------------------------------------------------------------------


def test_stage_names_follow_each_order():
    hf = [s.name for s in sampling_stages([1.0, 2.0], temperature=0.5)]
    cpp = [s.name for s in sampling_stages([1.0, 2.0], temperature=0.5, order="llama.cpp")]
    assert hf == ["input", "temperature", "top_k", "top_p", "min_p"]
    assert cpp == ["input", "top_k", "top_p", "min_p", "temperature"]


def test_orders_differ_when_temperature_changes_the_nucleus():
    # At T = 1 the top two tokens hold 0.9, so llama.cpp's top-p 0.85 keeps two; heated to T = 3
    # the top two hold less than 0.85, so transformers' top-p keeps more.
    logits = np.log([0.6, 0.3, 0.06, 0.04])
    hf = next_token_distribution(logits, temperature=3.0, top_p=0.85)
    cpp = next_token_distribution(logits, temperature=3.0, top_p=0.85, order="llama.cpp")
    assert (hf > 0).sum() > (cpp > 0).sum() == 2


def test_chain_with_everything_off_is_softmax():
    x = [0.3, -1.0, 2.0]
    np.testing.assert_allclose(next_token_distribution(x), softmax(x))


def test_sampling_frequencies_match_the_distribution():
    logits = np.log([0.5, 0.3, 0.15, 0.05])
    rng = np.random.default_rng(1)
    draws = sample_next_token(np.tile(logits, (20000, 1)), rng=rng, top_p=0.9)
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, next_token_distribution(logits, top_p=0.9), atol=0.01)


def test_same_seed_same_tokens():
    x = np.random.default_rng(0).normal(size=1000)
    a = sample_next_token(np.tile(x, (5, 1)), rng=np.random.default_rng(7), temperature=1.3, top_k=40)
    b = sample_next_token(np.tile(x, (5, 1)), rng=np.random.default_rng(7), temperature=1.3, top_k=40)
    assert a.tolist() == b.tolist()


# --- bad input: every public function and parameter ---------------------------------------

GOOD = [1.0, 2.0, 3.0]
RNG = np.random.default_rng(0)

BAD_LOGITS = [
    ([], ValueError, "empty"),
    ([[]], ValueError, "empty"),
    ([1.0, np.nan], ValueError, "NaN"),
    ([1.0, INF], ValueError, r"\+inf"),
    ([-INF, -INF], ValueError, "masked"),
    ("1, 2, 3", TypeError, "text"),
    (["a", "b"], TypeError, "numbers"),
    ([True, False], TypeError, "numbers"),
    (3.0, ValueError, "single number"),
    ([[1.0, 2.0], [1.0]], ValueError, "rectangular"),
]

LOGIT_FUNCTIONS = {
    "softmax": lambda x: softmax(x),
    "log_softmax": lambda x: log_softmax(x),
    "top_k_filter": lambda x: top_k_filter(x, 2),
    "top_p_filter": lambda x: top_p_filter(x, 0.9),
    "min_p_filter": lambda x: min_p_filter(x, 0.1),
    "next_token_distribution": lambda x: next_token_distribution(x),
    "sampling_stages": lambda x: sampling_stages(x),
    "sample_next_token": lambda x: sample_next_token(x, rng=RNG),
}


@pytest.mark.parametrize("function", LOGIT_FUNCTIONS)
@pytest.mark.parametrize("logits, error, message", BAD_LOGITS)
def test_bad_logits_are_rejected_clearly(function, logits, error, message):
    with pytest.raises(error, match=message):
        LOGIT_FUNCTIONS[function](logits)


CHAIN_FUNCTIONS = {
    "next_token_distribution": lambda **kw: next_token_distribution(GOOD, **kw),
    "sampling_stages": lambda **kw: sampling_stages(GOOD, **kw),
    "sample_next_token": lambda **kw: sample_next_token(GOOD, rng=RNG, **kw),
}

BAD_SETTINGS = [
    ({"temperature": -0.5}, ValueError, "temperature.*-0.5"),
    ({"temperature": np.nan}, ValueError, "temperature.*nan"),
    ({"temperature": INF}, ValueError, "temperature.*inf"),
    ({"temperature": "hot"}, TypeError, "temperature.*'hot'"),
    ({"temperature": True}, TypeError, "temperature"),
    ({"top_k": -1}, ValueError, "top_k.*-1"),
    ({"top_k": 2.5}, TypeError, "top_k.*2.5"),
    ({"top_k": None}, TypeError, "top_k.*None"),
    ({"top_p": 1.5}, ValueError, "top_p.*1.5"),
    ({"top_p": -0.1}, ValueError, "top_p.*-0.1"),
    ({"top_p": np.nan}, ValueError, "top_p"),
    ({"top_p": "0.9"}, TypeError, "top_p.*'0.9'"),
    ({"min_p": 2}, ValueError, "min_p.*2"),
    ({"min_p": None}, TypeError, "min_p.*None"),
    ({"order": "vllm"}, ValueError, "order.*'transformers', 'llama.cpp'.*'vllm'"),
    ({"min_tokens_to_keep": 0}, ValueError, "min_tokens_to_keep.*0"),
    ({"min_tokens_to_keep": 1.5}, ValueError, "min_tokens_to_keep.*1.5"),
]


@pytest.mark.parametrize("function", CHAIN_FUNCTIONS)
@pytest.mark.parametrize("settings, error, message", BAD_SETTINGS)
def test_bad_settings_are_rejected_clearly(function, settings, error, message):
    with pytest.raises(error, match=message):
        CHAIN_FUNCTIONS[function](**settings)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: softmax(GOOD, temperature=-1), ValueError, "temperature.*-1"),
        (lambda: log_softmax(GOOD, temperature="x"), TypeError, "temperature"),
        (lambda: softmax(GOOD, axis=3), ValueError, "axis=3"),
        (lambda: top_k_filter(GOOD, -2), ValueError, "top_k.*-2"),
        (lambda: top_k_filter(GOOD, 1, min_tokens_to_keep=0), ValueError, "min_tokens_to_keep"),
        (lambda: top_p_filter(GOOD, 2.0), ValueError, "top_p.*2.0"),
        (lambda: top_p_filter(GOOD, 0.5, min_tokens_to_keep=-1), ValueError, "min_tokens_to_keep"),
        (lambda: min_p_filter(GOOD, -0.2), ValueError, "min_p.*-0.2"),
        (lambda: min_p_filter(GOOD, 0.1, min_tokens_to_keep=True), ValueError, "min_tokens_to_keep"),
        (lambda: sample_next_token(GOOD, rng=42), TypeError, "rng.*default_rng"),
        (lambda: sample_next_token(GOOD, rng=None), TypeError, "rng"),
        (lambda: entropy([2.0, 1.0]), ValueError, "sum to 1.*logits"),
        (lambda: entropy([1.5, -0.5]), ValueError, "non-negative"),
        (lambda: entropy([0.5, np.nan]), ValueError, "NaN"),
        (lambda: entropy([]), ValueError, "empty"),
        (lambda: entropy("abc"), TypeError, "text"),
    ],
)
def test_bad_parameters_of_each_function(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- decision margins: how far a draw was from choosing another token ---------------------


def test_greedy_margin_is_half_the_gap_between_the_two_best_logits():
    assert draw_next_token([1.0, 3.0, 2.5], rng=np.random.default_rng(0), temperature=0) == Draw(1, 0.25)
    assert draw_next_token([1.0, -INF], rng=np.random.default_rng(0), temperature=0).margin == float("inf")


def test_a_near_tie_is_refused_only_when_a_margin_is_required(monkeypatch):
    near_tie = [1.0, 1.05, -3.0]
    assert sample_next_token(near_tie, rng=np.random.default_rng(0), temperature=0) == 1
    monkeypatch.setenv("COURSE_MIN_MARGIN", "0.1")
    with pytest.raises(NearTieError, match=r"margin of 0.025 logits, below COURSE_MIN_MARGIN=0.1"):
        sample_next_token(near_tie, rng=np.random.default_rng(0), temperature=0)
    assert sample_next_token([1.0, 2.0], rng=np.random.default_rng(0), temperature=0) == 1


def test_every_sampling_function_shows_every_setting_in_its_signature():
    import inspect

    from course_utils import generation, sampling

    for function in (sampling.next_token_distribution, sampling.sample_next_token, sampling.draw_next_token,
                     sampling.sampling_stages, generation.generate, generation.generate_batch):
        parameters = inspect.signature(function).parameters
        assert {name: parameters[name].default for name in sampling.SETTING_DEFAULTS} == sampling.SETTING_DEFAULTS
    assert list(inspect.signature(sampling.penalize_logits).parameters)[3:] == list(sampling.PENALTY_SETTINGS)
    with pytest.raises(TypeError, match="'temperature' is not a setting here"):
        sampling.penalize_logits([1.0, 2.0], temperature=0.5)


def test_draw_next_token_takes_the_chains_settings_by_name():
    draw = draw_next_token([1.0, 2.0, 0.5], rng=np.random.default_rng(0), temperature=0.7, top_p=0.9)
    assert draw.token == sample_next_token([1.0, 2.0, 0.5], rng=np.random.default_rng(0), temperature=0.7, top_p=0.9)
    with pytest.raises(TypeError, match="'temprature' is not a sampling setting; the settings are temperature"):
        draw_next_token([1.0, 2.0], rng=np.random.default_rng(0), temprature=1.0)
    with pytest.raises(ValueError, match="one row of logits"):
        draw_next_token([[1.0, 2.0]], rng=np.random.default_rng(0))


def test_required_margin_sets_the_check_for_a_block_only(monkeypatch):
    from course_utils.sampling import required_margin

    monkeypatch.setenv("COURSE_MIN_MARGIN", "0.1")
    tie = np.array([1.0, 1.05])
    with required_margin(0):
        assert draw_next_token(tie, rng=np.random.default_rng(0), temperature=0).token == 1
    with pytest.raises(NearTieError):
        draw_next_token(tie, rng=np.random.default_rng(0), temperature=0)
    monkeypatch.delenv("COURSE_MIN_MARGIN")
    with required_margin(0.1), pytest.raises(NearTieError):
        draw_next_token(tie, rng=np.random.default_rng(0), temperature=0)
    assert "COURSE_MIN_MARGIN" not in os.environ
    with pytest.raises(ValueError, match="logits must be a finite number >= 0, got -1. It is a margin in logits"):
        with required_margin(-1):
            pass


@pytest.mark.parametrize("keep", [1, 3, 8])
def test_top_p_on_a_mostly_masked_row_keeps_what_a_full_sort_keeps(keep):
    # A grammar's mask leaves a handful of finite logits among 5,000; top-p must rank only those.
    rng = np.random.default_rng(keep)
    logits = np.full(5000, -np.inf)
    allowed = rng.choice(5000, size=5, replace=False)
    logits[allowed] = rng.normal(size=5)
    for p in (0.3, 0.6, 0.95):
        kept = np.isfinite(top_p_filter(logits, p, min_tokens_to_keep=keep))
        order = np.argsort(-logits, kind="stable")
        probs = softmax(logits)[order]
        expected = np.zeros(5000, dtype=bool)
        stays = (np.cumsum(probs) - probs) < p
        stays[:keep] = True
        expected[order[stays]] = True
        assert np.array_equal(kept, expected & np.isfinite(logits)), (keep, p)
