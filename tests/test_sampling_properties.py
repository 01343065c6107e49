"""Properties of course_utils.sampling that must hold for any logits (hypothesis)."""

import os

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from course_utils.sampling import (
    draw_next_token,
    entropy,
    min_p_filter,
    next_token_distribution,
    sample_next_token,
    sampling_stages,
    softmax,
    top_k_filter,
    top_p_filter,
)

settings.register_profile("course", deadline=None, max_examples=150, derandomize=True)
settings.register_profile("explore", deadline=None, max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))


@st.composite
def logit_vectors(draw, min_size=1, max_size=40):
    """Finite logits with some tokens masked by -inf, never all of them."""
    values = draw(
        arrays(np.float64, st.integers(min_size, max_size), elements=st.floats(-60, 60, allow_nan=False))
    )
    mask = draw(arrays(np.bool_, values.shape))
    mask[draw(st.integers(0, values.size - 1))] = False
    return np.where(mask, -np.inf, values)


temperatures = st.one_of(st.just(0.0), st.floats(1e-3, 100.0), st.sampled_from([1e-300, 1e300]))
fractions = st.floats(0.0, 1.0)


def chains_at(temperature):
    return st.fixed_dictionaries(
        {
            "temperature": temperature,
            "top_k": st.integers(0, 50),
            "top_p": fractions,
            "min_p": fractions,
            "order": st.sampled_from(["transformers", "llama.cpp"]),
            "min_tokens_to_keep": st.integers(1, 3),
        }
    )


chains = chains_at(temperatures)
# The temperatures a sampler is used at: at T = 1e300, a margin of 1e299 logits is no machine's.
sampled_chains = chains_at(st.floats(0.01, 100.0))


def is_distribution(p):
    return np.all(np.isfinite(p)) and np.all(p >= 0) and np.isclose(p.sum(), 1.0)


@given(logit_vectors(), temperatures)
def test_softmax_is_a_distribution(x, t):
    assert is_distribution(softmax(x, t))


@given(logit_vectors(), chains)
def test_every_stage_is_a_distribution_on_unmasked_tokens(x, chain):
    for stage in sampling_stages(x, **chain):
        assert is_distribution(stage.probs)
        assert np.all(stage.probs[np.isneginf(x)] == 0)


@given(logit_vectors(min_size=2), st.floats(0.05, 20), st.floats(0.05, 20))
def test_entropy_falls_as_temperature_falls(x, t1, t2):
    low, high = sorted([t1, t2])
    assert entropy(softmax(x, low)) <= entropy(softmax(x, high)) + 1e-9


@given(logit_vectors())
def test_zero_temperature_is_the_argmax(x):
    p = softmax(x, 0)
    top = x == x.max()
    np.testing.assert_allclose(p[top], 1 / top.sum())
    assert np.all(p[~top] == 0)
    assert sample_next_token(x, rng=np.random.default_rng(0), temperature=0) == int(np.argmax(x))


@given(logit_vectors())
def test_huge_temperature_is_uniform_over_unmasked_tokens(x):
    p = softmax(x, 1e300)
    unmasked = np.isfinite(x)
    np.testing.assert_allclose(p[unmasked], 1 / unmasked.sum())


def _filters(k, p, m):
    return {
        "top_k": lambda x: top_k_filter(x, k),
        "top_p": lambda x: top_p_filter(x, p),
        "min_p": lambda x: min_p_filter(x, m),
    }


@given(logit_vectors(), st.integers(0, 50), fractions, fractions)
def test_filters_only_remove_tokens(x, k, p, m):
    for apply in _filters(k, p, m).values():
        once = apply(x)
        kept = np.isfinite(once)
        assert kept.any()
        assert np.all(np.isfinite(x[kept]))
        np.testing.assert_array_equal(once[kept], x[kept])


@given(logit_vectors(), st.integers(0, 50), fractions)
def test_top_k_and_min_p_are_idempotent(x, k, m):
    for name, apply in _filters(k, 1.0, m).items():
        once = apply(x)
        np.testing.assert_array_equal(apply(once), once, err_msg=name)


@given(logit_vectors(), fractions)
def test_top_p_applied_again_keeps_a_subset(x, p):
    # Top-p is not idempotent (see the next test), but a second pass never brings a token back.
    once = top_p_filter(x, p)
    twice = top_p_filter(once, p)
    assert np.all(np.isfinite(once)[np.isfinite(twice)])


def test_top_p_is_not_idempotent_because_survivors_are_renormalised():
    # 0.4 + 0.35 reaches 0.5 after one pass; renormalised, 0.4 / 0.75 = 0.53 alone reaches it.
    # Hugging Face's TopPLogitsWarper behaves the same way.
    x = np.log([0.4, 0.35, 0.25])
    once = top_p_filter(x, 0.5)
    assert np.isfinite(once).sum() == 2
    assert np.isfinite(top_p_filter(once, 0.5)).sum() == 1


@given(logit_vectors(min_size=2), st.floats(0.01, 0.99))
def test_top_p_keeps_the_smallest_sufficient_set(x, p):
    probs = softmax(x)
    kept = np.isfinite(top_p_filter(x, p))
    kept_mass = probs[kept].sum()
    assert kept_mass >= p - 1e-9
    # the kept set is the most likely tokens ...
    assert probs[kept].min() >= probs[~kept].max(initial=0)
    # ... and dropping its least likely member would fall short of p
    assert kept_mass - probs[kept].min() < p + 1e-9


@given(st.lists(logit_vectors(min_size=6, max_size=6), min_size=1, max_size=4), chains)
def test_batch_rows_equal_single_rows(rows, chain):
    batch = np.stack(rows)
    np.testing.assert_allclose(
        next_token_distribution(batch, **chain), [next_token_distribution(r, **chain) for r in rows]
    )
    for name, apply in _filters(chain["top_k"], chain["top_p"], chain["min_p"]).items():
        np.testing.assert_array_equal(apply(batch), [apply(r) for r in rows], err_msg=name)


@given(logit_vectors(min_size=1, max_size=300), chains, st.integers(0, 2**32 - 1))
def test_sampler_draws_from_the_chains_distribution(x, chain, seed):
    # The sampler's shortcut (top-k candidates first) must pick exactly the token that an
    # exponential race over the full distribution's kept tokens picks with the same numbers.
    p = next_token_distribution(x, **chain)
    draw = draw_next_token(x, rng=np.random.default_rng(seed), **chain)
    assert p[draw.token] > 0
    assert sample_next_token(x, rng=np.random.default_rng(seed), **chain) == draw.token
    if chain["temperature"] > 0 and not chain["top_k"]:
        e = np.random.default_rng(seed).standard_exponential(len(p))
        with np.errstate(divide="ignore"):
            scores = np.log(p) - np.log(e)
        assume(draw.margin > 1e-9)  # a near-exact tie can round either way
        assert draw.token == int(np.argmax(scores))


@given(logit_vectors(min_size=2, max_size=50), chains, st.integers(0, 2**32 - 1))
def test_a_change_smaller_than_the_margin_never_changes_the_draw(x, chain, seed):
    draw = draw_next_token(x, rng=np.random.default_rng(seed), **chain)
    assume(np.isfinite(draw.margin) and draw.margin > 1e-6)
    # The margin holds while the kept set stays the same: push the winner down and every other
    # token up by just under the margin, the hardest change the margin allows.
    x = np.asarray(x, dtype=float)
    nudge = 0.9 * draw.margin
    pushed = np.where(np.arange(len(x)) == draw.token, x - nudge, x + nudge)
    assume(np.array_equal(next_token_distribution(pushed, **chain) > 0, next_token_distribution(x, **chain) > 0))
    assert draw_next_token(pushed, rng=np.random.default_rng(seed), **chain).token == draw.token


@given(logit_vectors(min_size=2, max_size=50), sampled_chains, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_no_change_of_the_logits_within_the_margin_changes_the_draw_even_across_a_cut(x, chain, seed, direction):
    # The margin covers the cuts of top-k, top-p and min-p too: another machine's logits may keep
    # a different set of tokens, but not one that changes the winner, unless they differ by more.
    draw = draw_next_token(x, rng=np.random.default_rng(seed), **chain)
    assume(np.isfinite(draw.margin) and draw.margin > 1e-6)
    x = np.asarray(x, dtype=float)
    change = np.random.default_rng(direction).uniform(-0.9, 0.9, len(x)) * draw.margin
    assert draw_next_token(x + change, rng=np.random.default_rng(seed), **chain).token == draw.token
    pushed = np.where(np.arange(len(x)) == draw.token, x - 0.9 * draw.margin, x + 0.9 * draw.margin)
    assert draw_next_token(pushed, rng=np.random.default_rng(seed), **chain).token == draw.token
