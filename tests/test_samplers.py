"""The samplers beyond top-p (course_utils.processors.samplers): llama.cpp's own test cases, the
properties the lessons state, and the errors a learner gets.

The llama.cpp cases are transcribed from tests/test-sampling.cpp at commit
f0817df540977d3e3bd9038e7e108fa4f3b4bbde (https://github.com/ggml-org/llama.cpp/blob/
f0817df540977d3e3bd9038e7e108fa4f3b4bbde/tests/test-sampling.cpp): every case of test_typical,
test_xtc, test_dry and test_top_n_sigma (the file has no mirostat case). As there, each logit is
logf(p) of a float32 p, and a case passes within 1e-5. llama.cpp's sampler keeps its tokens in an
array it reorders; the course keeps one logit per token id, so where llama.cpp's array order is a
sort, the probabilities are compared sorted.
"""

import numpy as np
import pytest

from course_utils import sampling
from course_utils.chain import SamplingConfig
from course_utils.generation import generate
from course_utils.processors import DRY, XTC, EpsilonCutoff, EtaCutoff, History, Mirostat, TopNSigma, TypicalP
from course_utils.processors.truncation import softmax
from course_utils.reproducibility import NearTieError, required_margin


def logits_of(probs):
    return np.log(np.asarray(probs, dtype=np.float32)).astype(np.float64)


def history(ids):
    return [History(np.asarray(ids, dtype=np.int64), np.zeros(0, dtype=np.int64))]


# ---- llama.cpp's cases ------------------------------------------------------------------------

# test_xtc(probs, expected, p, t): XTC alone (min_keep 0, seed 0: its coin falls on "act" at 0.99);
# expected are the survivors' probabilities as they were (no renormalisation follows).
XTC_CASES = [
    ([0.4, 0.3, 0.2, 0.1], [0.1], 0.99, 0.09),
    ([0.4, 0.3, 0.2, 0.1], [0.2, 0.1], 0.99, 0.19),
    ([0.4, 0.3, 0.2, 0.1], [0.3, 0.2, 0.1], 0.99, 0.29),
    ([0.4, 0.3, 0.2, 0.1], [0.4, 0.3, 0.2, 0.1], 0.99, 0.39),  # "XTC should not"
]

# test_typical(probs, expected, p): typical alone (min_keep 0); survivors' probabilities as they were.
TYPICAL_CASES = [
    ([0.97, 0.01, 0.01, 0.01], [0.97], 0.5),
    ([0.4, 0.2, 0.2, 0.2], [0.2, 0.2, 0.2], 0.5),
]

# test_dry(probs, last_tokens, expected, multiplier, base, allowed_length, penalty_last_n, breakers),
# then dist: the renormalised probabilities, in token order.
DRY_CASES = [
    ([0.25] * 4, [0, 1], [0.25] * 4, 1.0, 1.1, 2, 4, []),
    ([0.25] * 4, [0, 1, 2, 0, 1], [0.296923, 0.296923, 0.109232, 0.296923], 1.0, 1.1, 2, 5, []),
    ([0.2] * 5, [0, 1, 3, 4, 0, 1], [0.2] * 5, 1.0, 1.1, 2, 6, [[3]]),
    ([0.2] * 5, [0, 1, 2, 0, 1], [0.241818, 0.241818, 0.032727, 0.241818, 0.241818], 2.0, 1.1, 2, 5, []),
    ([0.2] * 5, [0, 1, 2, 3, 4, 0, 1], [0.2] * 5, 1.0, 1.1, 4, 7, []),
]

# test_top_n_sigma(probs, expected, n), then dist: renormalised probabilities, zeros included.
TOP_N_SIGMA_CASES = [
    ([0.1, 0.2, 0.3, 0.4], [0.571429, 0.428571, 0.0, 0.0], 1.0),
    ([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], 0.0),  # n == 0 is a no-op (llama.cpp PR #13345)
    ([0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], 3.0),
]


def kept_probabilities(probs, out):
    """The input probabilities of the tokens a truncation kept, largest first."""
    return sorted((p for p, x in zip(probs, out) if np.isfinite(x)), reverse=True)


@pytest.mark.parametrize("probs, expected, p, t", XTC_CASES)
def test_xtc_passes_llama_cpps_cases(probs, expected, p, t):
    out = XTC(p, t, min_tokens_to_keep=1)(logits_of(probs), applies=True)
    assert kept_probabilities(probs, out) == pytest.approx(sorted(expected, reverse=True), abs=1e-5)


@pytest.mark.parametrize("probs, expected, p", TYPICAL_CASES)
def test_typical_passes_llama_cpps_cases(probs, expected, p):
    out = TypicalP(p)(logits_of(probs))
    assert kept_probabilities(probs, out) == pytest.approx(sorted(expected, reverse=True), abs=1e-5)


@pytest.mark.parametrize("probs, last, expected, multiplier, base, allowed, last_n, breakers", DRY_CASES)
def test_dry_passes_llama_cpps_cases(probs, last, expected, multiplier, base, allowed, last_n, breakers):
    dry = DRY(multiplier, base, allowed, last_n, breakers)
    out = dry(logits_of(probs)[None].copy(), history(last))[0]
    assert softmax(out) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("probs, expected, n", TOP_N_SIGMA_CASES)
def test_top_n_sigma_passes_llama_cpps_cases(probs, expected, n):
    out = softmax(TopNSigma(n)(logits_of(probs)))
    assert sorted(out, reverse=True) == pytest.approx(sorted(expected, reverse=True), abs=1e-5)


# ---- what the lessons say about them ---------------------------------------------------------


def test_top_n_sigma_keeps_the_same_set_at_every_temperature():
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = rng.normal(size=500) * rng.uniform(0.5, 5)
        n = rng.uniform(0.3, 3)
        kept = np.isfinite(TopNSigma(n)(x))
        for t in (0.3, 0.7, 1.5, 3.0):
            assert np.array_equal(np.isfinite(TopNSigma(n)(x / t)), kept)
        # So in either order, whatever the temperature, the chain keeps the same tokens.
        for order in ("transformers", "llama.cpp"):
            final = sampling.next_token_distribution(x, top_n_sigma=n, temperature=2.0, order=order)
            assert np.array_equal(final > 0, kept)


def test_typical_can_remove_the_most_likely_token():
    x = logits_of([0.4, 0.2, 0.2, 0.2])
    assert TypicalP(0.5)(x)[0] == -np.inf


def test_dry_penalty_is_multiplier_times_base_to_the_excess_length():
    # "1 2 3 4 5 | 1 2 3 4": token 5 would continue a repeat of length 4.
    ids = [1, 2, 3, 4, 5, 9, 1, 2, 3, 4]
    for multiplier, base, allowed in [(0.8, 1.75, 2), (1.0, 2.0, 1), (0.5, 1.3, 3)]:
        tokens, penalties = DRY(multiplier, base, allowed, -1).penalties(np.array(ids))
        assert dict(zip(tokens.tolist(), penalties.tolist())) == pytest.approx({5: multiplier * base ** (4 - allowed)})
    # Below the allowed length nothing is penalised; the window (dry_penalty_last_n) limits the scan.
    assert DRY(0.8, 1.75, 5, -1).penalties(np.array(ids))[0].size == 0
    assert np.count_nonzero(DRY(0.8, 1.75, 2, 5)(np.zeros((1, 12)), history(ids))) == 0
    assert np.count_nonzero(DRY(0.8, 1.75, 2, 10)(np.zeros((1, 12)), history(ids))) == 1


def test_dry_counts_the_prompt_and_stops_at_a_sequence_breaker():
    x = np.zeros((1, 12))
    prompt, generated = np.array([1, 2, 3, 7]), np.array([1, 2, 3])
    out = DRY(1.0, 2.0, 2, 64)(x.copy(), [History(prompt, generated)])[0]
    assert out[7] == -2.0 and np.count_nonzero(out) == 1  # the repeat "1 2 3" spans prompt and text
    # A breaker (token 2) inside the repeat limits it to what follows the breaker.
    out = DRY(1.0, 2.0, 2, 64, [[2]])(x.copy(), [History(prompt, generated)])[0]
    assert np.count_nonzero(out) == 0


def test_xtc_is_reproducible_with_the_seed_and_random_across_seeds():
    x = np.log([0.35, 0.3, 0.2, 0.1, 0.05])
    settings = dict(xtc_probability=0.5, xtc_threshold=0.1, temperature=1.0)
    draws = {seed: sampling.sample_next_token(np.tile(x, (200, 1)), rng=np.random.default_rng(seed), **settings)
             for seed in (0, 0, 1)}
    assert np.array_equal(draws[0], sampling.sample_next_token(np.tile(x, (200, 1)), rng=np.random.default_rng(0),
                                                               **settings))
    # Where XTC acts, only token 3 (the least likely above 0.1) and 4 remain, so 0-2 come from the other half.
    assert 0.3 < np.isin(draws[0], [0, 1, 2]).mean() < 0.7


def test_next_token_distribution_is_the_mixture_without_an_rng_and_one_outcome_with_one():
    x = np.log([0.35, 0.3, 0.2, 0.1, 0.05])
    settings = dict(xtc_probability=0.25, xtc_threshold=0.1)
    acts = softmax(XTC(1.0, 0.1)(x))
    mixture = sampling.next_token_distribution(x, **settings)
    assert mixture == pytest.approx(0.75 * softmax(x) + 0.25 * acts)
    outcomes = [sampling.next_token_distribution(x, rng=np.random.default_rng(seed), **settings) for seed in range(20)]
    assert all(o == pytest.approx(softmax(x)) or o == pytest.approx(acts) for o in outcomes)
    assert {o[0] > 0 for o in outcomes} == {True, False}


def test_mirostat_state_rolls_back_with_restore():
    config = SamplingConfig(mirostat=2, mirostat_tau=3.0, mirostat_eta=0.5)
    from course_utils.chain import Chain
    from course_utils.draw import decide

    chain, rng = Chain(config), np.random.default_rng(0)
    x = np.random.default_rng(1).normal(size=300) * 3
    assert chain.mirostat_mu == 6.0  # mu starts at 2 tau
    saved, saved_rng = chain.state(), rng.bit_generator.state
    tokens = []
    for _ in range(5):
        tokens.append(decide(chain, x, history([])[0], rng).draw.token)
        chain.advance(tokens[-1])
    moved = chain.mirostat_mu
    assert moved != 6.0
    chain.restore(saved)
    rng.bit_generator.state = saved_rng
    assert chain.mirostat_mu == 6.0
    again = []
    for _ in range(5):
        again.append(decide(chain, x, history([])[0], rng).draw.token)
        chain.advance(again[-1])
    assert again == tokens and chain.mirostat_mu == moved
    # Each chain has its own mu: the config's processor is never moved.
    assert Chain(config).mirostat_mu == 6.0


def test_mirostat_moves_mu_by_eta_times_the_surprise_error():
    m = Mirostat(2, mirostat_tau=5.0, mirostat_eta=0.1)
    m.learn(7.0)
    assert m.mu == pytest.approx(10.0 - 0.1 * 2.0)
    x = np.log([0.5, 0.25, 0.125, 0.125])
    m.restore(2.0)  # keeps tokens with surprise <= 2 bits
    assert np.isfinite(m(x)).tolist() == [True, True, False, False]
    m.restore(0.5)  # none that sure: the most likely stays
    assert np.isfinite(m(x)).tolist() == [True, False, False, False]


def test_the_dials_are_off_by_default_and_build_no_stage():
    config = SamplingConfig()
    assert [p.name for p in config.truncation] == ["temperature", "top_k", "top_p", "min_p"]
    assert config.before == ()
    assert [p.name for p in SamplingConfig(order="llama.cpp").truncation] == ["top_k", "top_p", "min_p", "temperature"]


def test_both_orders_place_the_new_dials():
    on = dict(typical_p=0.9, epsilon_cutoff=1e-4, eta_cutoff=1e-3, top_n_sigma=1.0, xtc_probability=0.5)
    assert [p.name for p in SamplingConfig(**on).truncation] == [
        "temperature", "top_n_sigma", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "xtc"]
    assert [p.name for p in SamplingConfig(order="llama.cpp", **on).truncation] == [
        "top_n_sigma", "top_k", "typical_p", "top_p", "min_p", "epsilon_cutoff", "eta_cutoff", "xtc", "temperature"]
    assert [p.name for p in SamplingConfig(mirostat=2).truncation] == ["temperature", "mirostat"]
    assert [p.name for p in SamplingConfig(dry_multiplier=0.8, repetition_penalty=1.1).before] == [
        "repetition_penalty", "dry"]


def test_every_sampling_function_and_generate_takes_the_new_dials():
    import inspect

    names = ["typical_p", "epsilon_cutoff", "eta_cutoff", "top_n_sigma", "xtc_probability", "xtc_threshold",
             "dry_multiplier", "dry_base", "dry_allowed_length", "dry_penalty_last_n", "dry_sequence_breakers",
             "mirostat", "mirostat_tau", "mirostat_eta"]
    for function in (sampling.sample_next_token, sampling.next_token_distribution, sampling.draw_next_token, generate):
        assert set(names) <= set(inspect.signature(function).parameters)
    assert {n for n in names if n.startswith("dry")} <= set(inspect.signature(sampling.penalize_logits).parameters)


def test_the_draw_counts_the_new_cuts_in_its_margin():
    x = np.array([2.0, 1.0, 0.0, -1.0])
    # top-nσ keeps tokens at least max - n std: std(x) = 1.118, so n = 1.7889 puts token 2 on the cut.
    std = np.std(x)
    n = (2.0 - 0.0) / std + 1e-6
    with required_margin(1e-3):
        with pytest.raises(NearTieError):
            sampling.draw_next_token(x, rng=np.random.default_rng(0), top_n_sigma=n, temperature=1.0)
        margin = sampling.draw_next_token(x, rng=np.random.default_rng(0), top_n_sigma=1.0, temperature=1.0).margin
    assert margin > 1e-3


def test_greedy_after_a_cut_that_removes_the_top_token_takes_the_best_kept():
    x = logits_of([0.4, 0.2, 0.2, 0.2])
    # llama.cpp's order: typical before temperature removes token 0; greedy takes the best survivor.
    assert sampling.sample_next_token(x, rng=np.random.default_rng(0), typical_p=0.5, temperature=0,
                                      order="llama.cpp") in (1, 2, 3)


def test_generate_turns_text_breakers_into_ids_and_records_mirostat(model):
    prompt = "One, two, three: one, two, three: one, two, three:"
    plain = generate(model, prompt, max_new_tokens=12, seed=0, temperature=0)
    dry = generate(model, prompt, max_new_tokens=12, seed=0, temperature=0, dry_multiplier=2.0, dry_allowed_length=2)
    assert dry.text != plain.text and dry.settings["dry_multiplier"] == 2.0
    miro = generate(model, prompt, max_new_tokens=8, seed=0, mirostat=2, mirostat_tau=3.0)
    mus = [s.mirostat_mu for s in miro.steps]
    assert mus[0] == 6.0 and len(set(mus)) > 1
    assert all(s.mirostat_mu is None for s in plain.steps)
    again = generate(model, prompt, max_new_tokens=8, seed=0, mirostat=2, mirostat_tau=3.0)
    assert again.token_ids == miro.token_ids
    xtc = [generate(model, prompt, max_new_tokens=8, seed=s, xtc_probability=0.5).token_ids for s in (4, 4)]
    assert xtc[0] == xtc[1]


def test_text_breakers_are_found_as_llama_cpp_finds_them():
    from course_utils.processors.samplers import breaker_sequences

    pieces = ["a", "\n", "b\n", "x:", "::", "y"]
    encode = {"\n": [1], ":": [7]}.get
    assert breaker_sequences("\n", pieces, encode) == [(1,), (2,)]  # tokens that contain it
    found = breaker_sequences("::", pieces, lambda text: encode(text) or [9])
    assert (4,) in found and (3, 7) in found  # "x:" ends with the breaker's start; ":" follows


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(typical_p=0.0), ValueError, ["typical_p", "0.0", "1.0 to turn"]),
    (dict(typical_p=1.5), ValueError, ["typical_p", "1.5"]),
    (dict(typical_p="0.9"), TypeError, ["typical_p"]),
    (dict(epsilon_cutoff=-1e-4), ValueError, ["epsilon_cutoff", "-0.0001", "0.0 to turn it off"]),
    (dict(epsilon_cutoff=1.0), ValueError, ["epsilon_cutoff", "below 1"]),
    (dict(eta_cutoff=-0.1), ValueError, ["eta_cutoff", "-0.1"]),
    (dict(top_n_sigma=-2.0), ValueError, ["top_n_sigma", "-2.0", "-1"]),
    (dict(xtc_probability=1.5), ValueError, ["xtc_probability", "1.5", "0 turns it off"]),
    (dict(xtc_probability=-0.1), ValueError, ["xtc_probability", "-0.1"]),
    (dict(xtc_threshold=2.0), ValueError, ["xtc_threshold", "2.0"]),
    (dict(dry_base=1.0), ValueError, ["dry_base", "1.0", "greater than 1"]),
    (dict(dry_base=0.5, dry_multiplier=0.8), ValueError, ["dry_base", "0.5"]),
    (dict(dry_multiplier=-1.0), ValueError, ["dry_multiplier", "-1.0"]),
    (dict(dry_penalty_last_n=-2), ValueError, ["dry_penalty_last_n", "-2"]),
    (dict(dry_sequence_breakers=[3.5]), TypeError, ["sequence breaker", "3.5", "token ids"]),
    (dict(dry_sequence_breakers=[["a", 1]]), TypeError, ["sequence breaker"]),
    (dict(dry_sequence_breakers="\n"), TypeError, ["dry_sequence_breakers", "in a list"]),
    (dict(mirostat=1), ValueError, ["mirostat", "0 (off) or 2"]),
    (dict(mirostat=2.0), TypeError, ["mirostat"]),
    (dict(mirostat=2, mirostat_tau=0.0), ValueError, ["mirostat_tau", "0.0", "> 0"]),
    (dict(mirostat=2, mirostat_tau=-1.0), ValueError, ["mirostat_tau"]),
    (dict(mirostat=2, mirostat_eta=-0.1), ValueError, ["mirostat_eta"]),
    (dict(mirostat=2, top_p=0.9), ValueError, ["top_p", "mirostat=2", "skipped"]),
    (dict(mirostat=2, repetition_penalty=1.1, order="llama.cpp"), ValueError, ["repetition_penalty", "DRY too"]),
])
def test_a_bad_sampler_setting_is_refused_with_its_name(kwargs, error, words):
    with pytest.raises(error) as info:
        sampling.next_token_distribution([1.0, 2.0, 3.0], **kwargs)
    for word in words:
        assert word in str(info.value)


def test_text_breakers_on_raw_logits_say_to_pass_ids():
    with pytest.raises(TypeError, match=r"token ids .* generate\(\)"):
        sampling.penalize_logits([0.0, 1.0, 2.0], prompt_ids=[0, 1, 0, 1], dry_multiplier=1.0,
                                 dry_sequence_breakers=["\n"])


def test_cut_processors_work_on_any_shape():
    x = np.random.default_rng(2).normal(size=(2, 3, 40)) * 2
    for processor in (TypicalP(0.8), EpsilonCutoff(0.02), EtaCutoff(0.02), TopNSigma(1.0), XTC(1.0, 0.05),
                      Mirostat(2, 3.0)):
        out = processor(x)
        assert out.shape == x.shape
        for i in range(2):
            for j in range(3):
                assert np.array_equal(processor(x[i, j]), out[i, j])


def test_a_path_that_draws_no_coin_refuses_xtc(model):
    with pytest.raises(ValueError, match=r"xtc_probability=0.5 cannot be combined with speculative decoding"):
        generate(model, "The cat", max_new_tokens=4, xtc_probability=0.5, prompt_lookup_num_tokens=3)
