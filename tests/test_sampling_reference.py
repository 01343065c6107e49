"""Differential tests: course_utils.sampling against Hugging Face transformers' own warpers.

Needs the `reference` extra (torch CPU + transformers); CI always installs it.
"""

import itertools

import numpy as np
import pytest

from conftest import require_reference
from course_utils.sampling import next_token_distribution, top_k_filter, top_p_filter, min_p_filter

pytestmark = pytest.mark.reference

TEMPERATURES = [0.3, 0.7, 1.0, 1.6]
TOP_KS = [0, 1, 5, 40]
TOP_PS = [1.0, 0.95, 0.8, 0.3]
MIN_PS = [0.0, 0.05, 0.2]
KEEPS = [1, 3]


@pytest.fixture(scope="module")
def hf():
    require_reference()
    import torch
    from transformers.generation import logits_process as lp

    def chain(x, temperature, top_k, top_p, min_p, keep):
        # The warpers generate() builds for these settings, in its order.
        warpers = []
        if temperature != 1.0:
            warpers.append(lp.TemperatureLogitsWarper(temperature))
        if top_k:
            warpers.append(lp.TopKLogitsWarper(top_k, min_tokens_to_keep=keep))
        if top_p < 1.0:
            warpers.append(lp.TopPLogitsWarper(top_p, min_tokens_to_keep=keep))
        if min_p:
            warpers.append(lp.MinPLogitsWarper(min_p, min_tokens_to_keep=keep))
        scores = torch.from_numpy(x[None, :].copy())
        for warper in warpers:
            scores = warper(None, scores)
        return torch.softmax(scores.double(), dim=-1)[0].numpy()

    return chain


def random_logits(rng, n):
    """Float32 logits like a model's: a few strong candidates over a long tail."""
    vocab = int(rng.integers(2, 3000))
    x = rng.normal(0.0, rng.uniform(0.5, 4.0), size=vocab)
    x[rng.integers(0, vocab, size=min(5, vocab))] += rng.uniform(0, 8)
    return x.astype(np.float32)


SETTINGS = list(itertools.product(TEMPERATURES, TOP_KS, TOP_PS, MIN_PS, KEEPS))


def test_chain_matches_transformers_on_random_logits(hf):
    rng = np.random.default_rng(2024)
    compared = truncated = 0
    for i in range(300):
        x = random_logits(rng, i)
        for settings in [SETTINGS[j] for j in rng.choice(len(SETTINGS), size=8, replace=False)]:
            t, k, p, m, keep = settings
            ours = next_token_distribution(
                x, temperature=t, top_k=k, top_p=p, min_p=m, min_tokens_to_keep=keep
            )
            theirs = hf(x, t, k, p, m, keep)
            np.testing.assert_array_equal(ours > 0, theirs > 0, err_msg=f"kept sets differ for {settings}")
            np.testing.assert_allclose(ours, theirs, atol=1e-6, err_msg=str(settings))
            compared += 1
            truncated += (theirs == 0).any()
    assert compared == 2400
    assert truncated > 1500  # the comparison exercised the filters, not just softmax


@pytest.mark.parametrize(
    "ours, settings",
    [
        (lambda x: top_k_filter(x, 7), (1.0, 7, 1.0, 0.0, 1)),
        (lambda x: top_p_filter(x, 0.9), (1.0, 0, 0.9, 0.0, 1)),
        (lambda x: min_p_filter(x, 0.1), (1.0, 0, 1.0, 0.1, 1)),
    ],
)
def test_each_filter_matches_its_warper(hf, ours, settings):
    rng = np.random.default_rng(7)
    for i in range(100):
        x = random_logits(rng, i)
        np.testing.assert_array_equal(np.isfinite(ours(x)), hf(x, *settings) > 0)
